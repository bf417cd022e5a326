//! The caller's own profile: `GET/PATCH /v1/me`.

use chrono::NaiveDate;
use courtyard_domain::{
    entities::{resident, staff},
    notifications::Category,
    people::{Locale, MembershipRole, PersonName, StaffRole},
};
use courtyard_store::audit;
use poem_openapi::{Object, OpenApi, payload::Json, types::MaybeUndefined};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, Principal},
    error::{ApiError, ApiResult, FieldContext, status::*},
    households::{HouseholdAddress, addresses},
    residents::households_of,
    state::AppState,
    vocab::Vocab,
};

/// The caller.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Me {
    /// `resident` or `staff`.
    pub kind: String,
    /// Id.
    pub id: Uuid,
    /// Company.
    pub company_id: Uuid,
    /// Name.
    pub name: String,
    /// Own phone, in full.
    pub phone: Option<String>,
    /// Residents: birthday.
    pub birthday: Option<NaiveDate>,
    /// Residents: `zh-CN` or `en`.
    pub locale: Option<Vocab<Locale>>,
    /// Residents: whether WeChat is bound.
    pub wechat_bound: Option<bool>,
    /// Staff: role.
    pub role: Option<Vocab<StaffRole>>,
    /// Staff: communities they work in (empty for admins, who work in all).
    pub community_ids: Vec<Uuid>,
    /// Residents: their households.
    pub households: Vec<MyHousehold>,
}

/// A household of the calling resident.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MyHousehold {
    /// Where it is.
    #[oai(flatten)]
    pub address: HouseholdAddress,
    /// owner, tenant or family.
    pub role: Vocab<MembershipRole>,
}

/// Changes to one's own profile; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MePatch {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// Residents: `zh-CN` or `en`.
    pub locale: Option<Vocab<Locale>>,
    /// Residents: birthday; `null` clears it.
    pub birthday: MaybeUndefined<NaiveDate>,
}

/// The `/v1/me` endpoints.
pub struct MeApi {
    /// Shared state.
    pub state: AppState,
}

/// WeChat subscription consents a resident just gave in the mini-program.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewWechatConsent {
    /// The category the accepted template is for (`fee_reminder`).
    pub category: Vocab<Category>,
    /// How many one-time consents were accepted (each allows one message), 1–50.
    #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
    pub accepted: i32,
}

impl poem_openapi::types::Example for NewWechatConsent {
    fn example() -> Self {
        Self {
            category: Category::FeeReminder.into(),
            accepted: 1,
        }
    }
}

/// A resident's unused consents of one category.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WechatConsent {
    /// The category.
    pub category: Vocab<Category>,
    /// Messages they still allow.
    pub remaining: i32,
}

/// Unused consents kept at most, per category.
const MAX_CONSENTS: i32 = 50;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Me")]
impl MeApi {
    /// Who am I
    ///
    /// Residents get their households; staff their role and communities.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, auth: BearerAuth) -> ApiResult<Json<Me>, { UNAUTHORIZED }> {
        Ok(Json(me(&self.state, &auth.0).await?))
    }

    /// Record WeChat subscription consents
    ///
    /// Residents only, right after `wx.requestSubscribeMessage` answered `accept` for a
    /// template: each accepted one-time subscription allows one WeChat message of the
    /// category (fee reminders go by WeChat only while one is unused; each takes one).
    #[oai(
        path = "/me/wechat-consents",
        method = "post",
        operation_id = "record_wechat_consent"
    )]
    async fn record_wechat_consent(
        &self,
        auth: BearerAuth,
        body: Json<NewWechatConsent>,
    ) -> ApiResult<Json<WechatConsent>, { AUTHED | VALIDATION }> {
        let resident = auth.0.resident()?;
        let category = body.category.get("category")?;
        let now = self.state.clock.now();
        let remaining = courtyard_store::consents::grant(
            &self.state.db,
            resident.id,
            category.as_str(),
            body.accepted,
            MAX_CONSENTS,
            now,
        )
        .await?;
        Ok(Json(WechatConsent {
            category: category.into(),
            remaining,
        }))
    }

    /// Update my profile
    #[oai(path = "/me", method = "patch", operation_id = "update_me")]
    async fn update_me(
        &self,
        auth: BearerAuth,
        body: Json<MePatch>,
    ) -> ApiResult<Json<Me>, { BAD_REQUEST | UNAUTHORIZED | VALIDATION }> {
        let now = self.state.clock.now();
        match &auth.0 {
            Principal::Resident(caller) => {
                let row = resident::Entity::find_by_id(caller.id)
                    .one(&self.state.db)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthorized("this account no longer exists".into())
                    })?;
                let mut active = row.into_active_model();
                if let Some(name) = &body.name {
                    active.name = Set(PersonName::parse(name).field("name")?.as_str().into());
                }
                if let Some(locale) = &body.locale {
                    active.locale = Set(locale.get("locale")?.as_str().into());
                }
                match body.birthday {
                    MaybeUndefined::Value(date) => active.birthday = Set(Some(date)),
                    MaybeUndefined::Null => active.birthday = Set(None),
                    MaybeUndefined::Undefined => {}
                }
                active.updated_at = Set(now);
                active.update(&self.state.db).await?;
            }
            Principal::Staff(caller) => {
                if body.locale.is_some() || !body.birthday.is_undefined() {
                    return Err(
                        ApiError::invalid("locale", "staff profiles have only a name").into(),
                    );
                }
                let row = staff::Entity::find_by_id(caller.id)
                    .one(&self.state.db)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthorized("this account no longer exists".into())
                    })?;
                let mut active = row.into_active_model();
                if let Some(name) = &body.name {
                    active.name = Set(PersonName::parse(name).field("name")?.as_str().into());
                }
                active.updated_at = Set(now);
                let txn = courtyard_store::begin_write(&self.state.db).await?;
                active.update(&txn).await?;
                let entry = caller.audit("update_me", "staff").object(caller.id);
                audit::record(&txn, &entry).await?;
                txn.commit().await?;
            }
        }
        Ok(Json(me(&self.state, &auth.0).await?))
    }
}

async fn me(state: &AppState, principal: &Principal) -> Result<Me, ApiError> {
    let gone = || ApiError::Unauthorized("this account no longer exists".into());
    match principal {
        Principal::Resident(caller) => {
            let row = resident::Entity::find_by_id(caller.id)
                .one(&state.db)
                .await?
                .ok_or_else(gone)?;
            let memberships = households_of(state, row.id).await?;
            let rows: Vec<_> = memberships.iter().map(|(h, _)| h.clone()).collect();
            let households = addresses(state, &rows)
                .await?
                .into_iter()
                .zip(memberships.into_iter().map(|(_, role)| role))
                .map(|(address, role)| MyHousehold {
                    address,
                    role: Vocab::stored(&role),
                })
                .collect();
            Ok(Me {
                kind: "resident".into(),
                id: row.id,
                company_id: row.company_id,
                name: row.name,
                phone: Some(row.phone),
                birthday: row.birthday,
                locale: Some(Vocab::stored(&row.locale)),
                wechat_bound: Some(row.wechat_openid.is_some()),
                role: None,
                community_ids: Vec::new(),
                households,
            })
        }
        Principal::Staff(caller) => {
            let row = staff::Entity::find_by_id(caller.id)
                .one(&state.db)
                .await?
                .ok_or_else(gone)?;
            Ok(Me {
                kind: "staff".into(),
                id: row.id,
                company_id: row.company_id,
                name: row.name,
                phone: row.phone,
                birthday: None,
                locale: None,
                wechat_bound: None,
                role: Some(Vocab::stored(&row.role)),
                community_ids: caller.communities.clone(),
                households: Vec::new(),
            })
        }
    }
}
