//! Residents (业主/住户) as staff keep them.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{erasure_request, household, household_member, resident},
    new_id,
    people::{Locale, MembershipRole, PersonName, PhoneNumber, StaffRole, mask_phone},
};
use courtyard_store::audit;
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
    /// Phone, masked (`138****1234`): the roles that call residents back reveal it with
    /// `POST /v1/residents/{resident_id}/phone-reveal`, which is audited.
    pub phone: String,
    /// Birthday, for greetings: shown to butlers and admins only.
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

/// A resident's full phone number, revealed.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RevealedPhone {
    /// The resident.
    pub resident_id: Uuid,
    /// Their full phone number (normalised, `13812341234`).
    pub phone: String,
}

impl Example for RevealedPhone {
    fn example() -> Self {
        Self {
            resident_id: Uuid::nil(),
            phone: "13812341234".into(),
        }
    }
}

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
        let txn = courtyard_store::begin_write(&self.state.db).await?;
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
            erased_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-phone",
                "a resident with this phone already exists",
            )
        })?;
        for (household, role) in &households {
            upsert_membership(&txn, household, row.id, *role, now).await?;
        }
        let mut entry = staff
            .audit("create_resident", "resident")
            .object(row.id)
            .resident(row.id);
        if let Some((household, _)) = households.first() {
            entry = entry.community(household.community_id);
        }
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        let dto = resident_dto(&self.state, staff, row).await?;
        Ok(ResidentCreated::Created(Json(dto.view)))
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
        /// Only the resident with this phone (not for field staff: engineers, cleaners and
        /// gardeners cannot look a number up).
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
        let mut searched = None;
        if let Some(raw) = phone.as_deref() {
            if staff.role.is_field_staff() {
                return Err(ApiError::Forbidden(
                    "field staff cannot search residents by phone".into(),
                )
                .into());
            }
            let phone = PhoneNumber::parse(raw).field("phone")?;
            select = select.filter(resident::Column::Phone.eq(phone.as_str()));
            searched = Some(mask_phone(phone.as_str()));
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
        // One entry per resident seen, so "who looked at this resident" finds list reads too.
        let details = serde_json::json!({ "phone": searched, "household_id": *household_id });
        for row in &rows {
            let entry = staff
                .audit("list_residents", "resident")
                .object(row.id)
                .resident(row.id)
                .community(community.id)
                .details(details.clone());
            self.state.reads.record(entry).await;
        }
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(resident_dto(&self.state, staff, row).await?.view);
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
        let dto = resident_dto(&self.state, staff, row).await?;
        let mut entry = staff
            .audit("get_resident", "resident")
            .object(dto.id)
            .resident(dto.id);
        if let Some(community) = dto.community_id {
            entry = entry.community(community);
        }
        self.state.reads.record(entry).await;
        Ok(Json(dto.view))
    }

    /// Reveal a resident's phone number
    ///
    /// For the roles that call residents back (front desk, butler, supervisor, admin): the
    /// full number, which every other view masks. Each reveal is recorded in the audit
    /// trail with who asked, when and from where.
    #[oai(
        path = "/residents/:resident_id/phone-reveal",
        method = "post",
        operation_id = "reveal_resident_phone"
    )]
    async fn reveal_phone(
        &self,
        auth: BearerAuth,
        resident_id: Path<Uuid>,
    ) -> ApiResult<Json<RevealedPhone>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(StaffRole::PHONE_REVEALERS)?;
        let row = load_resident(&self.state, staff, *resident_id).await?;
        let community = visible_community(&self.state, staff, row.id).await?;
        let mut entry = staff
            .audit("reveal_resident_phone", "resident")
            .object(row.id)
            .resident(row.id);
        if let Some(community) = community {
            entry = entry.community(community);
        }
        audit::record(&self.state.db, &entry).await?;
        Ok(Json(RevealedPhone {
            resident_id: row.id,
            phone: row.phone,
        }))
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
        let community = visible_community(&self.state, staff, *resident_id).await?;
        let changed: Vec<&str> = [
            body.name.as_ref().map(|_| "name"),
            body.phone.as_ref().map(|_| "phone"),
            (!body.birthday.is_undefined()).then_some("birthday"),
            body.locale.as_ref().map(|_| "locale"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-phone",
                "a resident with this phone already exists",
            )
        })?;
        let mut entry = staff
            .audit("update_resident", "resident")
            .object(row.id)
            .resident(row.id)
            .details(serde_json::json!({ "changed": changed }));
        if let Some(community) = community {
            entry = entry.community(community);
        }
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Json(resident_dto(&self.state, staff, row).await?.view))
    }

    /// Delete a resident
    ///
    /// Admins only, at once: the same erasure a resident's own closing request leads to
    /// (name, phone, birthday and WeChat binding anonymised; devices, sessions, memberships,
    /// preferences and consents deleted; tickets, bills and payments kept, detached from the
    /// person). Recorded in the audit trail.
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
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let erased = courtyard_store::privacy::erase(&txn, row.id, now).await?;
        erasure_request::ActiveModel {
            id: Set(new_id()),
            company_id: Set(row.company_id),
            resident_id: Set(row.id),
            requested_by_kind: Set("staff".into()),
            requested_by: Set(staff.id),
            requested_at: Set(now),
            due_at: Set(now),
            status: Set("done".into()),
            cancelled_at: Set(None),
            carried_out_at: Set(Some(now)),
        }
        .insert(&txn)
        .await?;
        let entry = staff
            .audit("delete_resident", "resident")
            .object(row.id)
            .resident(row.id)
            .details(serde_json::json!({
                "devices": erased.devices,
                "refresh_tokens": erased.refresh_tokens,
                "memberships": erased.memberships,
                "tickets_detached": erased.tickets_detached,
                "payments_detached": erased.payments_detached,
            }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
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
        .filter(|r| r.company_id == staff.company_id && r.erased_at.is_none())
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

/// A resident as the caller may see them, and the first of their communities in the
/// caller's sight (for the audit trail).
struct Seen {
    view: Resident,
    id: Uuid,
    community_id: Option<Uuid>,
}

/// The first community of the caller's where the resident lives.
async fn visible_community(
    state: &AppState,
    staff: &StaffPrincipal,
    resident_id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    let mut members = household_member::Entity::find()
        .select_only()
        .column(household_member::Column::CommunityId)
        .filter(household_member::Column::ResidentId.eq(resident_id));
    if let Some(communities) = staff.community_filter() {
        members = members
            .filter(household_member::Column::CommunityId.is_in(communities.iter().copied()));
    }
    Ok(members.into_tuple::<Uuid>().one(&state.db).await?)
}

async fn resident_dto(
    state: &AppState,
    staff: &StaffPrincipal,
    row: resident::Model,
) -> Result<Seen, ApiError> {
    let mut members =
        household_member::Entity::find().filter(household_member::Column::ResidentId.eq(row.id));
    if let Some(communities) = staff.community_filter() {
        members = members
            .filter(household_member::Column::CommunityId.is_in(communities.iter().copied()));
    }
    let members = members.all(&state.db).await?;
    let community_id = members.first().map(|m| m.community_id);
    let memberships = members
        .into_iter()
        .map(|m| Membership {
            household_id: m.household_id,
            role: Vocab::stored(&m.role),
        })
        .collect();
    Ok(Seen {
        id: row.id,
        community_id,
        view: Resident {
            id: row.id,
            name: row.name,
            phone: mask_phone(&row.phone),
            birthday: row.birthday.filter(|_| staff.role.sees_birthdays()),
            locale: Vocab::stored(&row.locale),
            wechat_bound: row.wechat_openid.is_some(),
            memberships,
            created_at: row.created_at,
        },
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
