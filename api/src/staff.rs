//! Staff accounts, their roles and community scopes, and butler assignments.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    auth::Password,
    entities::{building, butler_assignment, household, staff, staff_community},
    new_id,
    people::{PersonName, PhoneNumber, StaffRole},
};
use courtyard_store::audit;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    sea_query::Query as SqlQuery,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth, MANAGERS, StaffPrincipal},
    communities::Deleted,
    error::{ApiError, ApiResult, FieldContext, status::*, unique_violation},
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A staff member.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Staff {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// Work phone.
    pub phone: Option<String>,
    /// admin, supervisor, front_desk, butler, engineer, cleaner or gardener.
    pub role: Vocab<StaffRole>,
    /// Communities they work in (admins: every community of the company).
    pub community_ids: Vec<Uuid>,
    /// Whether they can log in.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A new staff member.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewStaff {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Login name: letters, digits, `.`, `_`, `-`.
    #[oai(validator(pattern = r"^[A-Za-z0-9._-]{3,64}$"))]
    pub username: String,
    /// Initial password, 8–128 characters.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub password: String,
    /// Work phone.
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
    /// Role.
    pub role: Vocab<StaffRole>,
    /// Communities they work in; ignored for admins.
    #[oai(validator(max_items = 1000))]
    pub community_ids: Vec<Uuid>,
}

impl Example for NewStaff {
    fn example() -> Self {
        Self {
            name: "王管家".into(),
            username: "butler.wang".into(),
            password: "change-me-please".into(),
            phone: Some("13900001111".into()),
            role: StaffRole::Butler.into(),
            community_ids: vec![Uuid::nil()],
        }
    }
}

/// Changes to a staff member; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffPatch {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// New password.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub password: Option<String>,
    /// Role.
    pub role: Option<Vocab<StaffRole>>,
    /// Communities (replaces the list).
    #[oai(validator(max_items = 1000))]
    pub community_ids: Option<Vec<Uuid>>,
    /// Whether they can log in.
    pub active: Option<bool>,
}

/// The buildings and households a butler cares for.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Assignments {
    /// Whole buildings.
    #[oai(validator(max_items = 1000))]
    pub building_ids: Vec<Uuid>,
    /// Single households.
    #[oai(validator(max_items = 10000))]
    pub household_ids: Vec<Uuid>,
}

impl Example for Assignments {
    fn example() -> Self {
        Self {
            building_ids: vec![Uuid::nil()],
            household_ids: Vec::new(),
        }
    }
}

page_of!(StaffPage, Staff);

/// A created staff member.
#[derive(ApiResponse)]
pub enum StaffCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Staff>),
}

/// The staff endpoints.
pub struct StaffApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Staff")]
impl StaffApi {
    /// Create a staff account
    ///
    /// Admins only.
    #[oai(path = "/staff", method = "post", operation_id = "create_staff")]
    async fn create_staff(
        &self,
        auth: BearerAuth,
        body: Json<NewStaff>,
    ) -> ApiResult<StaffCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let admin = auth.0.staff(ADMINS)?;
        let name = PersonName::parse(&body.name).field("name")?;
        let role = body.role.get("role")?;
        let password = Password::parse(&body.password).field("password")?;
        let phone = body
            .phone
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .field("phone")?;
        let communities =
            checked_communities(&self.state, admin, role, &body.community_ids).await?;
        let hash = tokio::task::spawn_blocking(move || password.hash())
            .await
            .map_err(|e| anyhow::anyhow!("password hashing panicked: {e}"))??;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = staff::ActiveModel {
            id: Set(new_id()),
            company_id: Set(admin.company_id),
            name: Set(name.as_str().into()),
            username: Set(body.username.clone()),
            phone: Set(phone.map(String::from)),
            password_hash: Set(hash),
            role: Set(role.as_str().into()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| unique_violation(e, "duplicate-username", "this username is taken"))?;
        set_communities(&txn, row.id, &communities).await?;
        let entry = admin
            .audit("create_staff", "staff")
            .object(row.id)
            .details(json!({ "role": role.as_str(), "communities": &communities }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(StaffCreated::Created(Json(staff_dto(row, communities))))
    }

    /// List staff
    ///
    /// Admins see everyone; supervisors the staff of their communities.
    #[oai(path = "/staff", method = "get", operation_id = "list_staff")]
    async fn list_staff(
        &self,
        auth: BearerAuth,
        /// Only this role.
        role: Query<Option<Vocab<StaffRole>>>,
        /// Only staff of this community.
        community_id: Query<Option<Uuid>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<StaffPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let caller = auth.0.staff(MANAGERS)?;
        let mut select =
            staff::Entity::find().filter(staff::Column::CompanyId.eq(caller.company_id));
        if let Some(role) = role.as_ref() {
            select = select.filter(staff::Column::Role.eq(role.get("role")?.as_str()));
        }
        let scope: Option<Vec<Uuid>> = match (*community_id, caller.community_filter()) {
            (Some(id), _) => {
                caller.community(&self.state, id).await?;
                Some(vec![id])
            }
            (None, Some(ids)) => Some(ids.to_vec()),
            (None, None) => None,
        };
        if let Some(ids) = scope {
            let mut members = SqlQuery::select();
            members
                .column(staff_community::Column::StaffId)
                .from(staff_community::Entity)
                .and_where(staff_community::Column::CommunityId.is_in(ids));
            select = select.filter(staff::Column::Id.in_subquery(members.take()));
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            staff::Column::Id,
            cursor.as_deref(),
            *limit,
            |s| s.id,
        )
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let communities = communities_of(&self.state, row.id).await?;
            items.push(staff_dto(row, communities));
        }
        Ok(Json(StaffPage { items, next_cursor }))
    }

    /// Get a staff member
    #[oai(path = "/staff/:staff_id", method = "get", operation_id = "get_staff")]
    async fn get_staff(
        &self,
        auth: BearerAuth,
        staff_id: Path<Uuid>,
    ) -> ApiResult<Json<Staff>, { AUTHED | NOT_FOUND }> {
        let caller = auth.0.staff(MANAGERS)?;
        let (row, communities) = load_staff(&self.state, caller, *staff_id).await?;
        Ok(Json(staff_dto(row, communities)))
    }

    /// Update a staff member
    ///
    /// Admins only.
    #[oai(
        path = "/staff/:staff_id",
        method = "patch",
        operation_id = "update_staff"
    )]
    async fn update_staff(
        &self,
        auth: BearerAuth,
        staff_id: Path<Uuid>,
        body: Json<StaffPatch>,
    ) -> ApiResult<Json<Staff>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let admin = auth.0.staff(ADMINS)?;
        let (row, communities) = load_staff(&self.state, admin, *staff_id).await?;
        let role = match &body.role {
            Some(role) => role.get("role")?,
            None => StaffRole::parse(&row.role).field("role")?,
        };
        if row.id == admin.id && (role != StaffRole::Admin || body.active == Some(false)) {
            return Err(ApiError::Conflict {
                kind: "self-demotion",
                detail: "admins cannot demote or deactivate themselves".into(),
            }
            .into());
        }
        let new_communities = match &body.community_ids {
            Some(ids) => checked_communities(&self.state, admin, role, ids).await?,
            None => communities.clone(),
        };
        let entry = admin
            .audit("update_staff", "staff")
            .object(row.id)
            .details(json!({
                "role": { "from": &row.role, "to": role.as_str() },
                "communities": { "from": &communities, "to": &new_communities },
                "password_changed": body.password.is_some(),
                "active": body.active,
            }));
        let communities = new_communities;
        let mut active = row.into_active_model();
        if let Some(name) = &body.name {
            active.name = Set(PersonName::parse(name).field("name")?.as_str().into());
        }
        if let Some(password) = &body.password {
            let password = Password::parse(password).field("password")?;
            let hash = tokio::task::spawn_blocking(move || password.hash())
                .await
                .map_err(|e| anyhow::anyhow!("password hashing panicked: {e}"))??;
            active.password_hash = Set(hash);
        }
        active.role = Set(role.as_str().into());
        if let Some(flag) = body.active {
            active.active = Set(flag);
        }
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await?;
        set_communities(&txn, row.id, &communities).await?;
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Json(staff_dto(row, communities)))
    }

    /// Deactivate a staff member
    ///
    /// Admins only. The account stays for the record but can no longer log in.
    #[oai(
        path = "/staff/:staff_id",
        method = "delete",
        operation_id = "deactivate_staff"
    )]
    async fn deactivate_staff(
        &self,
        auth: BearerAuth,
        staff_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND | CONFLICT }> {
        let admin = auth.0.staff(ADMINS)?;
        let (row, _) = load_staff(&self.state, admin, *staff_id).await?;
        if row.id == admin.id {
            return Err(ApiError::Conflict {
                kind: "self-demotion",
                detail: "admins cannot deactivate themselves".into(),
            }
            .into());
        }
        let entry = admin.audit("deactivate_staff", "staff").object(row.id);
        let mut active = row.into_active_model();
        active.active = Set(false);
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        active.update(&txn).await?;
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Deleted::Done)
    }

    /// Get a butler's assignments
    #[oai(
        path = "/staff/:staff_id/assignments",
        method = "get",
        operation_id = "get_butler_assignments"
    )]
    async fn get_assignments(
        &self,
        auth: BearerAuth,
        staff_id: Path<Uuid>,
    ) -> ApiResult<Json<Assignments>, { AUTHED | NOT_FOUND }> {
        let caller = auth.0.staff(MANAGERS)?;
        let (row, _) = load_staff(&self.state, caller, *staff_id).await?;
        Ok(Json(assignments_of(&self.state, caller, row.id).await?))
    }

    /// Replace a butler's assignments
    ///
    /// The buildings and households must be in the butler's communities (and the caller's).
    #[oai(
        path = "/staff/:staff_id/assignments",
        method = "put",
        operation_id = "put_butler_assignments"
    )]
    async fn put_assignments(
        &self,
        auth: BearerAuth,
        staff_id: Path<Uuid>,
        body: Json<Assignments>,
    ) -> ApiResult<Json<Assignments>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let caller = auth.0.staff(MANAGERS)?;
        let (row, communities) = load_staff(&self.state, caller, *staff_id).await?;
        if row.role != StaffRole::Butler.as_str() {
            return Err(ApiError::invalid("staff_id", "only butlers have assignments").into());
        }
        let building_ids: BTreeSet<Uuid> = body.building_ids.iter().copied().collect();
        let household_ids: BTreeSet<Uuid> = body.household_ids.iter().copied().collect();
        let buildings = building::Entity::find()
            .filter(building::Column::Id.is_in(building_ids.iter().copied()))
            .all(&self.state.db)
            .await?;
        let households = household::Entity::find()
            .filter(household::Column::Id.is_in(household_ids.iter().copied()))
            .all(&self.state.db)
            .await?;
        let allowed =
            |community: Uuid| caller.in_scope(community) && communities.contains(&community);
        if buildings.len() != building_ids.len()
            || buildings.iter().any(|b| !allowed(b.community_id))
        {
            return Err(ApiError::invalid(
                "building_ids",
                "every building must exist in the butler's communities",
            )
            .into());
        }
        if households.len() != household_ids.len()
            || households.iter().any(|h| !allowed(h.community_id))
        {
            return Err(ApiError::invalid(
                "household_ids",
                "every household must exist in the butler's communities",
            )
            .into());
        }
        let now = self.state.clock.now();
        let entry = caller
            .audit("put_butler_assignments", "staff")
            .object(row.id)
            .details(json!({ "building_ids": &building_ids, "household_ids": &household_ids }));
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        butler_assignment::Entity::delete_many()
            .filter(butler_assignment::Column::StaffId.eq(row.id))
            .exec(&txn)
            .await?;
        let rows = buildings
            .iter()
            .map(|b| (b.community_id, Some(b.id), None))
            .chain(
                households
                    .iter()
                    .map(|h| (h.community_id, None, Some(h.id))),
            )
            .map(
                |(community_id, building_id, household_id)| butler_assignment::ActiveModel {
                    id: Set(new_id()),
                    staff_id: Set(row.id),
                    community_id: Set(community_id),
                    building_id: Set(building_id),
                    household_id: Set(household_id),
                    created_at: Set(now),
                },
            )
            .collect::<Vec<_>>();
        if !rows.is_empty() {
            butler_assignment::Entity::insert_many(rows)
                .exec(&txn)
                .await?;
        }
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Json(assignments_of(&self.state, caller, row.id).await?))
    }
}

async fn checked_communities(
    state: &AppState,
    admin: &StaffPrincipal,
    role: StaffRole,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, ApiError> {
    if role == StaffRole::Admin {
        return Ok(Vec::new());
    }
    let ids: BTreeSet<Uuid> = ids.iter().copied().collect();
    for id in &ids {
        admin.community(state, *id).await.map_err(|_| {
            ApiError::invalid("community_ids", format!("{id} is not a community of yours"))
        })?;
    }
    Ok(ids.into_iter().collect())
}

async fn set_communities<C: sea_orm::ConnectionTrait>(
    db: &C,
    staff_id: Uuid,
    communities: &[Uuid],
) -> Result<(), ApiError> {
    staff_community::Entity::delete_many()
        .filter(staff_community::Column::StaffId.eq(staff_id))
        .exec(db)
        .await?;
    if !communities.is_empty() {
        staff_community::Entity::insert_many(communities.iter().map(|&community_id| {
            staff_community::ActiveModel {
                staff_id: Set(staff_id),
                community_id: Set(community_id),
            }
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

async fn communities_of(state: &AppState, staff_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    Ok(staff_community::Entity::find()
        .filter(staff_community::Column::StaffId.eq(staff_id))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| s.community_id)
        .collect())
}

/// A staff member the caller may manage: same company and, for supervisors, sharing a community.
async fn load_staff(
    state: &AppState,
    caller: &StaffPrincipal,
    id: Uuid,
) -> Result<(staff::Model, Vec<Uuid>), ApiError> {
    let row = staff::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|s| s.company_id == caller.company_id)
        .ok_or(ApiError::NotFound("staff member"))?;
    let communities = communities_of(state, row.id).await?;
    if let Some(mine) = caller.community_filter()
        && !communities.iter().any(|c| mine.contains(c))
    {
        return Err(ApiError::NotFound("staff member"));
    }
    Ok((row, communities))
}

async fn assignments_of(
    state: &AppState,
    caller: &StaffPrincipal,
    staff_id: Uuid,
) -> Result<Assignments, ApiError> {
    let rows = butler_assignment::Entity::find()
        .filter(butler_assignment::Column::StaffId.eq(staff_id))
        .all(&state.db)
        .await?;
    let visible = rows.iter().filter(|a| caller.in_scope(a.community_id));
    Ok(Assignments {
        building_ids: visible.clone().filter_map(|a| a.building_id).collect(),
        household_ids: visible.filter_map(|a| a.household_id).collect(),
    })
}

fn staff_dto(row: staff::Model, community_ids: Vec<Uuid>) -> Staff {
    Staff {
        id: row.id,
        name: row.name,
        username: row.username,
        phone: row.phone,
        role: Vocab::stored(&row.role),
        community_ids,
        active: row.active,
        created_at: row.created_at,
    }
}
