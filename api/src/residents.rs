//! Residents (业主/住户) as staff keep them.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{household, household_member, resident},
    new_id,
    people::{Locale, MembershipRole, PersonName, PhoneNumber, StaffRole, mask_phone},
};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::{Example, MaybeUndefined},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, sea_query::Query as SqlQuery,
};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ALL_STAFF, BearerAuth, ROLL_KEEPERS, StaffPrincipal},
    communities::Deleted,
    error::{ApiError, ApiResult, FieldContext, status::*, unique_violation},
    households::upsert_membership,
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A resident as staff see them.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Resident {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Phone: full for roles that call residents back, masked (`138****1234`) otherwise.
    pub phone: String,
    /// Birthday, for greetings.
    pub birthday: Option<NaiveDate>,
    /// `zh-CN` or `en`.
    pub locale: Vocab<Locale>,
    /// Whether a WeChat account is bound.
    pub wechat_bound: bool,
    /// Households the resident belongs to (within the caller's communities).
    pub memberships: Vec<Membership>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A household the resident belongs to.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Membership {
    /// Household.
    pub household_id: Uuid,
    /// owner, tenant or family.
    pub role: Vocab<MembershipRole>,
}

impl Example for Membership {
    fn example() -> Self {
        Self {
            household_id: Uuid::nil(),
            role: MembershipRole::Owner.into(),
        }
    }
}

/// A new resident.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewResident {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Mainland mobile number; unique within the company.
    #[oai(validator(max_length = 32, pattern = r"^(\+86|0086)?[ -]?1[3-9]([ -]?[0-9]){9}$"))]
    pub phone: String,
    /// Birthday.
    pub birthday: Option<NaiveDate>,
    /// `zh-CN` (default) or `en`.
    pub locale: Option<Vocab<Locale>>,
    /// At least one household (admins may create residents without one).
    #[oai(validator(max_items = 50))]
    pub memberships: Vec<Membership>,
}

impl Example for NewResident {
    fn example() -> Self {
        Self {
            name: "张三".into(),
            phone: "13812341234".into(),
            birthday: NaiveDate::from_ymd_opt(1980, 5, 17),
            locale: Some(Locale::ZhCn.into()),
            memberships: vec![Membership::example()],
        }
    }
}

/// Changes to a resident; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ResidentPatch {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// Phone.
    #[oai(validator(max_length = 32, pattern = r"^(\+86|0086)?[ -]?1[3-9]([ -]?[0-9]){9}$"))]
    pub phone: Option<String>,
    /// Birthday; `null` clears it.
    pub birthday: MaybeUndefined<NaiveDate>,
    /// Locale.
    pub locale: Option<Vocab<Locale>>,
}

page_of!(ResidentPage, Resident);

/// A created resident.
#[derive(ApiResponse)]
pub enum ResidentCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Resident>),
}

/// The residents endpoints.
pub struct ResidentsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Residents")]
impl ResidentsApi {
    /// Register a resident
    #[oai(path = "/residents", method = "post", operation_id = "create_resident")]
    async fn create_resident(
        &self,
        auth: BearerAuth,
        body: Json<NewResident>,
    ) -> ApiResult<ResidentCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let name = PersonName::parse(&body.name).field("name")?;
        let phone = PhoneNumber::parse(&body.phone).field("phone")?;
        let locale = match &body.locale {
            Some(locale) => locale.get("locale")?,
            None => Locale::ZhCn,
        };
        if body.memberships.is_empty() && staff.role != StaffRole::Admin {
            return Err(ApiError::invalid("memberships", "name at least one household").into());
        }
        let mut households = Vec::new();
        for (i, m) in body.memberships.iter().enumerate() {
            let role = m.role.get(&format!("memberships[{i}].role"))?;
            let household = auth.0.household(&self.state, m.household_id).await?;
            households.push((household, role));
        }
        let now = self.state.clock.now();
        let row = resident::ActiveModel {
            id: Set(new_id()),
            company_id: Set(staff.company_id),
            name: Set(name.as_str().into()),
            phone: Set(phone.as_str().into()),
            birthday: Set(body.birthday),
            locale: Set(locale.as_str().into()),
            wechat_openid: Set(None),
            quiet_start: Set(None),
            quiet_end: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.state.db)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-phone",
                "a resident with this phone already exists",
            )
        })?;
        for (household, role) in &households {
            upsert_membership(&self.state, household, row.id, *role).await?;
        }
        let dto = resident_dto(&self.state, staff, row).await?;
        Ok(ResidentCreated::Created(Json(dto)))
    }

    /// List a community's residents
    #[oai(
        path = "/communities/:community_id/residents",
        method = "get",
        operation_id = "list_residents"
    )]
    async fn list_residents(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Only residents whose name contains this.
        #[oai(validator(max_length = 64))]
        q: Query<Option<String>>,
        /// Only the resident with this phone.
        #[oai(validator(max_length = 32, pattern = r"^(\+86|0086)?[ -]?1[3-9]([ -]?[0-9]){9}$"))]
        phone: Query<Option<String>>,
        /// Only members of this household.
        household_id: Query<Option<Uuid>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ResidentPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let community = staff.community(&self.state, *community_id).await?;
        let mut members = SqlQuery::select();
        members
            .column(household_member::Column::ResidentId)
            .from(household_member::Entity)
            .and_where(household_member::Column::CommunityId.eq(community.id));
        if let Some(id) = *household_id {
            members.and_where(household_member::Column::HouseholdId.eq(id));
        }
        let mut select =
            resident::Entity::find().filter(resident::Column::Id.in_subquery(members.take()));
        if let Some(q) = q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            select = select.filter(resident::Column::Name.contains(q));
        }
        if let Some(raw) = phone.as_deref() {
            let phone = PhoneNumber::parse(raw).field("phone")?;
            select = select.filter(resident::Column::Phone.eq(phone.as_str()));
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            resident::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(resident_dto(&self.state, staff, row).await?);
        }
        Ok(Json(ResidentPage { items, next_cursor }))
    }

    /// Get a resident
    #[oai(
        path = "/residents/:resident_id",
        method = "get",
        operation_id = "get_resident"
    )]
    async fn get_resident(
        &self,
        auth: BearerAuth,
        resident_id: Path<Uuid>,
    ) -> ApiResult<Json<Resident>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let row = load_resident(&self.state, staff, *resident_id).await?;
        Ok(Json(resident_dto(&self.state, staff, row).await?))
    }

    /// Update a resident
    #[oai(
        path = "/residents/:resident_id",
        method = "patch",
        operation_id = "update_resident"
    )]
    async fn update_resident(
        &self,
        auth: BearerAuth,
        resident_id: Path<Uuid>,
        body: Json<ResidentPatch>,
    ) -> ApiResult<Json<Resident>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_resident(&self.state, staff, *resident_id).await?;
        let mut active = row.into_active_model();
        if let Some(name) = &body.name {
            active.name = Set(PersonName::parse(name).field("name")?.as_str().into());
        }
        if let Some(phone) = &body.phone {
            active.phone = Set(PhoneNumber::parse(phone).field("phone")?.as_str().into());
        }
        match body.birthday {
            MaybeUndefined::Value(date) => active.birthday = Set(Some(date)),
            MaybeUndefined::Null => active.birthday = Set(None),
            MaybeUndefined::Undefined => {}
        }
        if let Some(locale) = &body.locale {
            active.locale = Set(locale.get("locale")?.as_str().into());
        }
        active.updated_at = Set(self.state.clock.now());
        let row = active.update(&self.state.db).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-phone",
                "a resident with this phone already exists",
            )
        })?;
        Ok(Json(resident_dto(&self.state, staff, row).await?))
    }

    /// Delete a resident
    ///
    /// Admins only: removes the resident and their memberships.
    #[oai(
        path = "/residents/:resident_id",
        method = "delete",
        operation_id = "delete_resident"
    )]
    async fn delete_resident(
        &self,
        auth: BearerAuth,
        resident_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(&[StaffRole::Admin])?;
        let row = load_resident(&self.state, staff, *resident_id).await?;
        resident::Entity::delete_by_id(row.id)
            .exec(&self.state.db)
            .await
            .map_err(|e| crate::error::fk_violation(e, "the resident is still referenced"))?;
        Ok(Deleted::Done)
    }
}

/// A resident the caller may see: admins any of the company's; others those who belong to a
/// household in their communities.
pub async fn load_resident(
    state: &AppState,
    staff: &StaffPrincipal,
    id: Uuid,
) -> Result<resident::Model, ApiError> {
    let row = resident::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|r| r.company_id == staff.company_id)
        .ok_or(ApiError::NotFound("resident"))?;
    if let Some(communities) = staff.community_filter() {
        let visible = household_member::Entity::find()
            .filter(household_member::Column::ResidentId.eq(row.id))
            .filter(household_member::Column::CommunityId.is_in(communities.iter().copied()))
            .limit(1)
            .one(&state.db)
            .await?
            .is_some();
        if !visible {
            return Err(ApiError::NotFound("resident"));
        }
    }
    Ok(row)
}

async fn resident_dto(
    state: &AppState,
    staff: &StaffPrincipal,
    row: resident::Model,
) -> Result<Resident, ApiError> {
    let mut members =
        household_member::Entity::find().filter(household_member::Column::ResidentId.eq(row.id));
    if let Some(communities) = staff.community_filter() {
        members = members
            .filter(household_member::Column::CommunityId.is_in(communities.iter().copied()));
    }
    let memberships = members
        .all(&state.db)
        .await?
        .into_iter()
        .map(|m| Membership {
            household_id: m.household_id,
            role: Vocab::stored(&m.role),
        })
        .collect();
    Ok(Resident {
        id: row.id,
        name: row.name,
        phone: if staff.role.sees_full_phone() {
            row.phone
        } else {
            mask_phone(&row.phone)
        },
        birthday: row.birthday,
        locale: Vocab::stored(&row.locale),
        wechat_bound: row.wechat_openid.is_some(),
        memberships,
        created_at: row.created_at,
    })
}

/// Households of a resident, for their own view.
pub async fn households_of(
    state: &AppState,
    resident_id: Uuid,
) -> Result<Vec<(household::Model, String)>, ApiError> {
    let members = household_member::Entity::find()
        .filter(household_member::Column::ResidentId.eq(resident_id))
        .all(&state.db)
        .await?;
    let ids: Vec<Uuid> = members.iter().map(|m| m.household_id).collect();
    let households = household::Entity::find()
        .filter(household::Column::Id.is_in(ids))
        .all(&state.db)
        .await?;
    Ok(households
        .into_iter()
        .filter_map(|h| {
            members
                .iter()
                .find(|m| m.household_id == h.id)
                .map(|m| (h, m.role.clone()))
        })
        .collect())
}
