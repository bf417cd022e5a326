//! What each resident agreed to, and when: the privacy policy version they accepted at
//! login, their consent to service notices by SMS, and their unused WeChat subscription
//! consents. Each grant or withdrawal is a row of its own (`resident_consents`), so the
//! history is the proof.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{notification_preference, resident_consent, wechat_consent},
    new_id,
    notifications::{Category, Channel},
};
use courtyard_store::audit::Origin;
use poem_openapi::{Object, OpenApi, payload::Json, types::Example};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::BearerAuth,
    error::{ApiError, ApiResult, status::*},
    state::AppState,
    vocab::Vocab,
};

/// The kind of a privacy-policy acceptance.
pub const PRIVACY_POLICY: &str = "privacy_policy";
/// The kind of the consent to service notices by SMS.
pub const SMS_NOTICES: &str = "sms_notices";

/// Records that resident `id` accepted privacy policy `version` (at login), unless that
/// version is already the one they last accepted.
pub async fn accept_privacy_policy(
    conn: &impl ConnectionTrait,
    id: Uuid,
    version: &str,
    origin: &Origin,
) -> Result<(), DbErr> {
    let last = latest(conn, id, PRIVACY_POLICY).await?;
    if last.is_some_and(|l| l.version.as_deref() == Some(version)) {
        return Ok(());
    }
    record(conn, id, PRIVACY_POLICY, Some(version), true, origin).await
}

async fn latest(
    conn: &impl ConnectionTrait,
    id: Uuid,
    kind: &str,
) -> Result<Option<resident_consent::Model>, DbErr> {
    resident_consent::Entity::find()
        .filter(resident_consent::Column::ResidentId.eq(id))
        .filter(resident_consent::Column::Kind.eq(kind))
        .order_by_desc(resident_consent::Column::CreatedAt)
        .order_by_desc(resident_consent::Column::Id)
        .one(conn)
        .await
}

async fn record(
    conn: &impl ConnectionTrait,
    id: Uuid,
    kind: &str,
    version: Option<&str>,
    granted: bool,
    origin: &Origin,
) -> Result<(), DbErr> {
    resident_consent::Entity::insert(resident_consent::ActiveModel {
        id: Set(new_id()),
        resident_id: Set(id),
        kind: Set(kind.into()),
        version: Set(version.map(Into::into)),
        granted: Set(granted),
        client_ip: Set(origin.client_ip.clone()),
        created_at: Set(origin.at),
    })
    .exec_without_returning(conn)
    .await
    .map(drop)
}

/// One consent as last given.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ConsentState {
    /// Whether it is given.
    pub granted: bool,
    /// The version accepted (privacy policy).
    pub version: Option<String>,
    /// When it was last given or withdrawn.
    pub at: DateTime<Utc>,
}

/// Unused WeChat subscription consents of one category.
#[derive(Debug, Object)]
pub struct WechatConsentCount {
    /// The category.
    pub category: Vocab<Category>,
    /// Messages they still allow.
    pub remaining: i32,
}

/// What the resident agreed to.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Consents {
    /// The privacy policy version last accepted (at login); absent if none was reported.
    pub privacy_policy: Option<ConsentState>,
    /// Service notices by SMS; absent until the resident chose (SMS follows the
    /// notification preferences meanwhile).
    pub sms_notices: Option<ConsentState>,
    /// Unused WeChat one-time subscription consents, by category.
    pub wechat: Vec<WechatConsentCount>,
}

/// Consent to, or withdrawal from, service notices by SMS.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SmsConsent {
    /// `false` withdraws it: SMS leaves every category of the notification preferences
    /// (login codes still go by SMS); `true` gives it back to the categories saved.
    pub granted: bool,
}

impl Example for SmsConsent {
    fn example() -> Self {
        Self { granted: false }
    }
}

/// The consent endpoints of `/v1/me`.
pub struct ConsentsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Me")]
impl ConsentsApi {
    /// What I agreed to
    ///
    /// Residents only: the privacy policy version last accepted, the consent to service
    /// notices by SMS, and the unused WeChat subscription consents.
    #[oai(path = "/me/consents", method = "get", operation_id = "get_consents")]
    async fn get_consents(&self, auth: BearerAuth) -> ApiResult<Json<Consents>, { AUTHED }> {
        let resident = auth.0.resident()?;
        Ok(Json(consents(&self.state, resident.id).await?))
    }

    /// Give or withdraw consent to service notices by SMS
    ///
    /// Residents only. Recorded with the time and the client's address.
    #[oai(
        path = "/me/consents/sms-notices",
        method = "put",
        operation_id = "put_sms_consent"
    )]
    async fn put_sms_consent(
        &self,
        auth: BearerAuth,
        body: Json<SmsConsent>,
    ) -> ApiResult<Json<Consents>, { AUTHED | VALIDATION }> {
        let resident = auth.0.resident()?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        record(
            &txn,
            resident.id,
            SMS_NOTICES,
            None,
            body.granted,
            &resident.origin,
        )
        .await?;
        let saved = notification_preference::Entity::find()
            .filter(notification_preference::Column::ResidentId.eq(resident.id))
            .all(&txn)
            .await?;
        let now = resident.origin.at;
        for category in Category::ALL {
            let current: Vec<String> = match saved.iter().find(|p| p.category == category.as_str())
            {
                Some(p) => serde_json::from_value(p.channels.clone()).unwrap_or_default(),
                None if body.granted => continue,
                None => Channel::ALL.iter().map(|c| c.as_str().to_owned()).collect(),
            };
            let mut channels: Vec<String> = current
                .into_iter()
                .filter(|c| c != Channel::Sms.as_str())
                .collect();
            if body.granted {
                channels.push(Channel::Sms.as_str().to_owned());
            }
            channels.sort();
            channels.dedup();
            notification_preference::Entity::delete_many()
                .filter(notification_preference::Column::ResidentId.eq(resident.id))
                .filter(notification_preference::Column::Category.eq(category.as_str()))
                .exec(&txn)
                .await?;
            notification_preference::Entity::insert(notification_preference::ActiveModel {
                resident_id: Set(resident.id),
                category: Set(category.as_str().into()),
                channels: Set(json!(channels)),
                updated_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(Json(consents(&self.state, resident.id).await?))
    }
}

async fn consents(state: &AppState, id: Uuid) -> Result<Consents, ApiError> {
    let state_of = |row: Option<resident_consent::Model>| {
        row.map(|r| ConsentState {
            granted: r.granted,
            version: r.version,
            at: r.created_at,
        })
    };
    let wechat = wechat_consent::Entity::find()
        .filter(wechat_consent::Column::ResidentId.eq(id))
        .filter(wechat_consent::Column::Remaining.gt(0))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| WechatConsentCount {
            category: Vocab::stored(&c.category),
            remaining: c.remaining,
        })
        .collect();
    Ok(Consents {
        privacy_policy: state_of(latest(&state.db, id, PRIVACY_POLICY).await?),
        sms_notices: state_of(latest(&state.db, id, SMS_NOTICES).await?),
        wechat,
    })
}
