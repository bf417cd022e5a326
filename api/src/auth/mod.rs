//! Logging in and out: SMS codes and WeChat for residents, passwords for staff, refresh-token
//! rotation for everyone.

pub mod tokens;
mod wechat;

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use courtyard_domain::{
    auth::{dummy_password_hash, hash_login_code, is_login_code, new_login_code, verify_password},
    entities::{login_code, resident, staff},
    new_id,
    people::{PhoneNumber, StaffRole},
};
use courtyard_store::audit::{self, ActorKind, Entry, Origin};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use self::tokens::{SubjectKind, TokenPair};
use crate::{
    ApiTags,
    error::{ApiError, ApiResult, FieldContext, status::*},
    state::AppState,
};

/// The auth endpoints.
pub struct AuthApi {
    /// Shared state.
    pub state: AppState,
}

/// Ask for a login code.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CodeRequest {
    /// Mainland mobile number; `+86` and separators are accepted.
    #[oai(validator(max_length = 32, pattern = r"^(\+86|0086)?[ -]?1[3-9]([ -]?[0-9]){9}$"))]
    pub phone: String,
}

impl Example for CodeRequest {
    fn example() -> Self {
        Self {
            phone: "13812341234".into(),
        }
    }
}

/// A login code is on its way (if the number belongs to a resident).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CodeSent {
    /// Seconds the code stays valid.
    pub expires_in: i64,
    /// Seconds before another code may be requested for this number.
    pub resend_after: i64,
}

/// Outcome of asking for a code.
#[derive(ApiResponse)]
pub enum CodeResponse {
    /// Accepted. The answer is the same whether or not the number is registered, so it
    /// cannot be used to discover residents.
    #[oai(status = 202)]
    Accepted(Json<CodeSent>),
}

/// Log in with a phone and the code sent to it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SmsLogin {
    /// The phone the code was sent to.
    #[oai(validator(max_length = 32, pattern = r"^(\+86|0086)?[ -]?1[3-9]([ -]?[0-9]){9}$"))]
    pub phone: String,
    /// The six-digit code.
    #[oai(validator(max_length = 16))]
    pub code: String,
    /// Needed only when the phone is registered with more than one property company.
    pub company_id: Option<Uuid>,
    /// The privacy policy version the resident accepted on the login screen (`2026-12`):
    /// recorded with the time and address when it is new for them.
    #[oai(validator(min_length = 1, max_length = 32, pattern = r"^[0-9A-Za-z._-]+$"))]
    pub privacy_policy_version: Option<String>,
}

impl Example for SmsLogin {
    fn example() -> Self {
        Self {
            phone: "13812341234".into(),
            code: "123456".into(),
            company_id: None,
            privacy_policy_version: Some("2026-12".into()),
        }
    }
}

/// Log in from the WeChat mini-program.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct WechatLogin {
    /// The `code` from `wx.login()`.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub code: String,
    /// To bind a WeChat account on first use: the resident's phone...
    #[oai(validator(max_length = 32, pattern = r"^(\+86|0086)?[ -]?1[3-9]([ -]?[0-9]){9}$"))]
    pub phone: Option<String>,
    /// ...and the SMS code sent to it.
    #[oai(validator(max_length = 16))]
    pub sms_code: Option<String>,
    /// The privacy policy version the resident accepted in the mini-program (`2026-12`).
    #[oai(validator(min_length = 1, max_length = 32, pattern = r"^[0-9A-Za-z._-]+$"))]
    pub privacy_policy_version: Option<String>,
}

impl Example for WechatLogin {
    fn example() -> Self {
        Self {
            code: "0a3Xyz000abc".into(),
            phone: None,
            sms_code: None,
            privacy_policy_version: Some("2026-12".into()),
        }
    }
}

/// Staff login.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct StaffLogin {
    /// Login name.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub username: String,
    /// Password.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub password: String,
}

impl Example for StaffLogin {
    fn example() -> Self {
        Self {
            username: "admin".into(),
            password: "courtyard-admin".into(),
        }
    }
}

/// A refresh token, to rotate or revoke.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub refresh_token: String,
}

/// Outcome of logout.
#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Signed out: every token of this login is revoked.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Send a login code by SMS
    ///
    /// Limits per phone: 1 a minute, 5 an hour, 10 a day; and per client IP. In the
    /// embedded mode the code is written to the log instead of sent.
    #[oai(path = "/sms-codes", method = "post", operation_id = "send_login_code")]
    async fn send_code(
        &self,
        req: &Request,
        body: Json<CodeRequest>,
    ) -> ApiResult<CodeResponse, { BAD_REQUEST | VALIDATION | TOO_MANY | UNAVAILABLE }> {
        let state = &self.state;
        let ip = client_ip(state, req);
        let now = state.clock.now();
        public_limit(state, ip, now).await?;
        let phone = PhoneNumber::parse(&body.phone).field("phone")?;
        check_code_limits(state, &phone, ip, now).await?;

        let known = resident::Entity::find()
            .filter(resident::Column::Phone.eq(phone.as_str()))
            .count(&state.db)
            .await?
            > 0;
        let id = new_id();
        let code = new_login_code();
        let ttl = state.settings.auth.login_code_ttl_secs;
        // A row is written for unknown numbers too, so the limits treat every number alike.
        login_code::ActiveModel {
            id: Set(id),
            phone: Set(phone.as_str().into()),
            code_hash: Set(if known {
                hash_login_code(&id, phone.as_str(), &code)
            } else {
                "-".into()
            }),
            ip: Set(ip.to_string()),
            attempts: Set(0),
            created_at: Set(now),
            expires_at: Set(now + Duration::seconds(ttl)),
            consumed_at: Set(None),
        }
        .insert(&state.db)
        .await?;
        if known && let Err(e) = state.code_sender.send_login_code(&phone, &code).await {
            tracing::warn!(error = ?e, phone = %phone, "login code not sent");
            login_code::Entity::update_many()
                .col_expr(login_code::Column::ConsumedAt, Expr::value(now))
                .filter(login_code::Column::Id.eq(id))
                .exec(&state.db)
                .await?;
            return Err(ApiError::Unavailable(
                "the SMS service is unavailable; try again shortly".into(),
            )
            .into());
        }
        Ok(CodeResponse::Accepted(Json(CodeSent {
            expires_in: ttl,
            resend_after: 60,
        })))
    }

    /// Log in with phone and SMS code
    ///
    /// Five wrong codes burn the code; a new one must be requested.
    #[oai(path = "/sms-login", method = "post", operation_id = "sms_login")]
    async fn sms_login(
        &self,
        req: &Request,
        body: Json<SmsLogin>,
    ) -> ApiResult<Json<TokenPair>, { BAD_REQUEST | UNAUTHORIZED | CONFLICT | VALIDATION | TOO_MANY }>
    {
        let state = &self.state;
        let now = state.clock.now();
        public_limit(state, client_ip(state, req), now).await?;
        let phone = PhoneNumber::parse(&body.phone).field("phone")?;
        let origin = crate::audit::origin_of(&state.proxies, req, now);
        let checked = async {
            consume_code(state, &phone, &body.code, now).await?;
            resident_by_phone(state, &phone, body.company_id).await
        }
        .await;
        let resident = match checked {
            Ok(resident) => resident,
            Err(e) => {
                let entry = failed_login(state, "sms_login_failed", &origin, &phone, &e).await?;
                audit::record(&state.db, &entry).await?;
                return Err(e.into());
            }
        };
        let entry = resident_login("sms_login", &resident, origin);
        Ok(Json(
            issue_audited(
                state,
                SubjectKind::Resident,
                resident.id,
                resident.company_id,
                &entry,
                body.privacy_policy_version.as_deref(),
            )
            .await?,
        ))
    }

    /// Log in from the WeChat mini-program
    ///
    /// Exchanges the `wx.login()` code with WeChat (`code2session`). A WeChat account seen
    /// for the first time must be bound once with `phone` and `sms_code`; until then the
    /// answer is 409 `/problems/wechat-not-bound`.
    #[oai(path = "/wechat-login", method = "post", operation_id = "wechat_login")]
    async fn wechat_login(
        &self,
        req: &Request,
        body: Json<WechatLogin>,
    ) -> ApiResult<
        Json<TokenPair>,
        { BAD_REQUEST | UNAUTHORIZED | CONFLICT | VALIDATION | TOO_MANY | UNAVAILABLE },
    > {
        let state = &self.state;
        let now = state.clock.now();
        public_limit(state, client_ip(state, req), now).await?;
        let origin = crate::audit::origin_of(&state.proxies, req, now);
        let openid = wechat::code_to_openid(state, &body.code).await?;
        let bound = resident::Entity::find()
            .filter(resident::Column::WechatOpenid.eq(openid.as_str()))
            .one(&state.db)
            .await?;
        let resident = match (bound, &body.phone, &body.sms_code) {
            (Some(resident), _, _) => resident,
            (None, Some(phone), Some(code)) => {
                let phone = PhoneNumber::parse(phone).field("phone")?;
                let checked = async {
                    consume_code(state, &phone, code, now).await?;
                    resident_by_phone(state, &phone, None).await
                }
                .await;
                let resident = match checked {
                    Ok(resident) => resident,
                    Err(e) => {
                        let entry =
                            failed_login(state, "wechat_login_failed", &origin, &phone, &e).await?;
                        audit::record(&state.db, &entry).await?;
                        return Err(e.into());
                    }
                };
                let mut active = resident.into_active_model();
                active.wechat_openid = Set(Some(openid));
                active.updated_at = Set(now);
                active.update(&state.db).await?
            }
            (None, _, _) => {
                return Err(ApiError::Conflict {
                    kind: "wechat-not-bound",
                    detail: "this WeChat account is not bound yet: send phone and sms_code once to bind it".into(),
                }
                .into());
            }
        };
        let entry = resident_login("wechat_login", &resident, origin);
        Ok(Json(
            issue_audited(
                state,
                SubjectKind::Resident,
                resident.id,
                resident.company_id,
                &entry,
                body.privacy_policy_version.as_deref(),
            )
            .await?,
        ))
    }

    /// Staff login with username and password
    #[oai(path = "/staff-login", method = "post", operation_id = "staff_login")]
    async fn staff_login(
        &self,
        req: &Request,
        body: Json<StaffLogin>,
    ) -> ApiResult<Json<TokenPair>, { BAD_REQUEST | UNAUTHORIZED | TOO_MANY }> {
        let state = &self.state;
        let now = state.clock.now();
        public_limit(state, client_ip(state, req), now).await?;
        let member = staff::Entity::find()
            .filter(staff::Column::Username.eq(body.username.trim()))
            .one(&state.db)
            .await?;
        let hash = member
            .as_ref()
            .map_or(dummy_password_hash(), |m| m.password_hash.as_str())
            .to_owned();
        let password = body.password.clone();
        // argon2 is deliberately slow: keep it off the async workers.
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| anyhow::anyhow!("password check panicked: {e}"))?;
        let origin = crate::audit::origin_of(&state.proxies, req, now);
        let member = match member {
            Some(member) if matches && member.active => member,
            known => {
                let mut entry = Entry::new(
                    ActorKind::Anonymous,
                    None,
                    None,
                    "staff_login_failed",
                    "staff",
                    origin,
                );
                entry = match &known {
                    Some(m) => {
                        entry.actor_kind = ActorKind::Staff;
                        entry.actor_id = Some(m.id);
                        entry.company_id = Some(m.company_id);
                        entry.object(m.id).details(serde_json::json!({
                            "reason": if m.active { "wrong password" } else { "deactivated" },
                        }))
                    }
                    None => entry.details(serde_json::json!({
                        "reason": "unknown username",
                        "username": body.username.trim().chars().take(64).collect::<String>(),
                    })),
                };
                audit::record(&state.db, &entry).await?;
                return Err(ApiError::Unauthorized("wrong username or password".into()).into());
            }
        };
        let mut entry = Entry::new(
            ActorKind::Staff,
            Some(member.id),
            Some(member.company_id),
            "staff_login",
            "staff",
            origin,
        )
        .object(member.id);
        entry.actor_role = StaffRole::parse(&member.role).ok().map(StaffRole::as_str);
        Ok(Json(
            issue_audited(
                state,
                SubjectKind::Staff,
                member.id,
                member.company_id,
                &entry,
                None,
            )
            .await?,
        ))
    }

    /// Rotate a refresh token
    ///
    /// Returns a new pair; the presented token becomes unusable. Presenting a token a
    /// second time revokes every token of that login.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh_tokens")]
    async fn refresh(
        &self,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> ApiResult<Json<TokenPair>, { BAD_REQUEST | UNAUTHORIZED | TOO_MANY }> {
        let state = &self.state;
        let now = state.clock.now();
        public_limit(state, client_ip(state, req), now).await?;
        let origin = crate::audit::origin_of(&state.proxies, req, now);
        let pair = state
            .tokens
            .rotate(
                &state.db,
                &body.refresh_token,
                now,
                &origin,
                async |kind, id| company_of(state, kind, id).await,
            )
            .await?;
        Ok(Json(pair))
    }

    /// Log out
    ///
    /// Revokes the refresh token and every token rotated from the same login. Idempotent.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        body: Json<RefreshRequest>,
    ) -> ApiResult<LogoutResponse, { BAD_REQUEST }> {
        tokens::revoke(&self.state.db, &body.refresh_token, self.state.clock.now()).await?;
        Ok(LogoutResponse::Done)
    }
}

/// The client's IP: the peer, or behind a trusted proxy the address it forwarded.
pub fn client_ip(state: &AppState, req: &Request) -> IpAddr {
    state.proxies.client_of(req)
}

/// Counts a request from `ip` to a public endpoint: in Redis when configured (one count
/// for every API process), else in this process; a Redis that does not answer falls back
/// to this process's count.
async fn public_limit(state: &AppState, ip: IpAddr, now: DateTime<Utc>) -> Result<(), ApiError> {
    let limit = state.settings.server.public_rate_limit_per_minute;
    let too_many = |retry_after| ApiError::TooManyRequests {
        detail: "too many requests from this address".into(),
        retry_after,
    };
    if let Some(conn) = &state.redis {
        let window = now.timestamp().div_euclid(60);
        let key = format!("{}public:{ip}:{window}", state.settings.redis.key_prefix);
        let mut conn = conn.clone();
        let counted: Result<(u64,), _> = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, 120)
            .ignore()
            .query_async(&mut conn)
            .await;
        match counted {
            Ok((hits,)) if hits > u64::from(limit) => {
                let reset = (window + 1) * 60 - now.timestamp();
                return Err(too_many(reset.max(1) as u64));
            }
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "public limiter: Redis unavailable; counting in this process")
            }
        }
    }
    state.public_limiter.hit(&ip, now).map_err(too_many)
}

async fn check_code_limits(
    state: &AppState,
    phone: &PhoneNumber,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let limits = &state.settings.auth;
    let windows = [
        (
            Duration::minutes(1),
            limits.codes_per_phone_minute,
            "a minute",
        ),
        (Duration::hours(1), limits.codes_per_phone_hour, "an hour"),
        (Duration::days(1), limits.codes_per_phone_day, "a day"),
    ];
    for (window, limit, name) in windows {
        let since = now - window;
        let sent = login_code::Entity::find()
            .filter(login_code::Column::Phone.eq(phone.as_str()))
            .filter(login_code::Column::CreatedAt.gt(since))
            .order_by_asc(login_code::Column::CreatedAt)
            .all(&state.db)
            .await?;
        if sent.len() as u64 >= limit {
            let oldest = sent.first().map_or(now, |c| c.created_at);
            let retry_after = (oldest + window - now).num_seconds().max(1) as u64;
            return Err(ApiError::TooManyRequests {
                detail: format!("at most {limit} codes {name} may be sent to one number"),
                retry_after,
            });
        }
    }
    let from_ip = login_code::Entity::find()
        .filter(login_code::Column::Ip.eq(ip.to_string()))
        .filter(login_code::Column::CreatedAt.gt(now - Duration::hours(1)))
        .count(&state.db)
        .await?;
    if from_ip >= limits.codes_per_ip_hour {
        return Err(ApiError::TooManyRequests {
            detail: "too many codes requested from this address; try again later".into(),
            retry_after: 3600,
        });
    }
    Ok(())
}

/// Checks and spends the newest live code of `phone`; a wrong guess counts toward burning it.
async fn consume_code(
    state: &AppState,
    phone: &PhoneNumber,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let rejected = || ApiError::Unauthorized("the code is wrong or has expired".into());
    let Some(live) = login_code::Entity::find()
        .filter(login_code::Column::Phone.eq(phone.as_str()))
        .filter(login_code::Column::ConsumedAt.is_null())
        .filter(login_code::Column::ExpiresAt.gt(now))
        .order_by_desc(login_code::Column::CreatedAt)
        .one(&state.db)
        .await?
    else {
        return Err(rejected());
    };
    if !is_login_code(code) || hash_login_code(&live.id, phone.as_str(), code) != live.code_hash {
        let attempts = live.attempts + 1;
        let burn = attempts >= state.settings.auth.login_code_max_attempts;
        login_code::Entity::update_many()
            .col_expr(login_code::Column::Attempts, Expr::value(attempts))
            .col_expr(
                login_code::Column::ConsumedAt,
                Expr::value(burn.then_some(now)),
            )
            .filter(login_code::Column::Id.eq(live.id))
            .exec(&state.db)
            .await?;
        return Err(rejected());
    }
    // Spend it atomically: of two simultaneous logins with one code, one wins.
    let spent = login_code::Entity::update_many()
        .col_expr(login_code::Column::ConsumedAt, Expr::value(now))
        .filter(login_code::Column::Id.eq(live.id))
        .filter(login_code::Column::ConsumedAt.is_null())
        .exec(&state.db)
        .await?
        .rows_affected;
    if spent == 0 {
        return Err(rejected());
    }
    Ok(())
}

async fn resident_by_phone(
    state: &AppState,
    phone: &PhoneNumber,
    company: Option<Uuid>,
) -> Result<resident::Model, ApiError> {
    let mut query = resident::Entity::find().filter(resident::Column::Phone.eq(phone.as_str()));
    if let Some(company) = company {
        query = query.filter(resident::Column::CompanyId.eq(company));
    }
    let mut found = query.all(&state.db).await?;
    match found.len() {
        0 => Err(ApiError::Unauthorized(
            "the code is wrong or has expired".into(),
        )),
        1 => Ok(found.remove(0)),
        _ => Err(ApiError::Conflict {
            kind: "company-required",
            detail: "this phone is registered with several property companies: send company_id"
                .into(),
        }),
    }
}

/// Issues a login's token pair and records its audit entry (and the privacy policy version
/// a resident accepted), in one transaction.
async fn issue_audited(
    state: &AppState,
    kind: SubjectKind,
    subject: Uuid,
    company: Uuid,
    entry: &Entry,
    privacy_policy: Option<&str>,
) -> Result<TokenPair, ApiError> {
    let txn = courtyard_store::begin_write(&state.db).await?;
    let pair = state
        .tokens
        .issue(&txn, kind, subject, company, entry.origin.at)
        .await?;
    audit::record(&txn, entry).await?;
    if let Some(version) = privacy_policy {
        crate::consents::accept_privacy_policy(&txn, subject, version, &entry.origin).await?;
    }
    txn.commit().await?;
    Ok(pair)
}

/// A resident's successful login.
fn resident_login(action: &'static str, resident: &resident::Model, origin: Origin) -> Entry {
    Entry::new(
        ActorKind::Resident,
        Some(resident.id),
        Some(resident.company_id),
        action,
        "resident",
        origin,
    )
    .object(resident.id)
    .resident(resident.id)
}

/// A refused resident login: attributed to the resident when the phone names exactly one,
/// anonymous otherwise; the phone is kept masked.
async fn failed_login(
    state: &AppState,
    action: &'static str,
    origin: &Origin,
    phone: &PhoneNumber,
    error: &ApiError,
) -> Result<Entry, ApiError> {
    let known = resident::Entity::find()
        .filter(resident::Column::Phone.eq(phone.as_str()))
        .limit(2)
        .all(&state.db)
        .await?;
    let mut entry = Entry::new(
        ActorKind::Anonymous,
        None,
        None,
        action,
        "resident",
        origin.clone(),
    )
    .details(serde_json::json!({
        "phone": phone.masked(),
        "reason": error.to_string(),
    }));
    if let [resident] = known.as_slice() {
        entry.actor_kind = ActorKind::Resident;
        entry.actor_id = Some(resident.id);
        entry.company_id = Some(resident.company_id);
        entry = entry.object(resident.id).resident(resident.id);
    }
    Ok(entry)
}

async fn company_of(state: &AppState, kind: SubjectKind, id: Uuid) -> Result<Uuid, ApiError> {
    let gone = || ApiError::Unauthorized("this account no longer exists".into());
    match kind {
        SubjectKind::Resident => Ok(resident::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .ok_or_else(gone)?
            .company_id),
        SubjectKind::Staff => Ok(staff::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .filter(|s| s.active)
            .ok_or_else(gone)?
            .company_id),
    }
}
