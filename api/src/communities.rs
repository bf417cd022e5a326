//! Communities (小区), their buildings (楼栋) and units (单元).

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{building, community, household, unit},
    new_id,
    org::{Label, Timezone, WorkingHours},
};
use courtyard_store::audit::{self, Entry};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::{Example, MaybeUndefined},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ADMINS, ALL_STAFF, BearerAuth, ROLL_KEEPERS, StaffPrincipal},
    error::{ApiError, ApiResult, FieldContext, fk_violation, status::*, unique_violation},
    page_of,
    pagination::fetch_page,
    state::AppState,
};

/// A community.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Community {
    /// Id.
    pub id: Uuid,
    /// Name, unique within the company.
    pub name: String,
    /// Street address.
    pub address: Option<String>,
    /// IANA time zone; dates of this community are in it.
    pub timezone: String,
    /// Office hours, for SLA clocks counted in working time.
    pub working_hours: WorkingHoursDto,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Office hours of a community.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WorkingHoursDto {
    /// Opening time, `HH:MM`.
    #[oai(validator(pattern = r"^\d{2}:\d{2}$"))]
    pub start: String,
    /// Closing time, `HH:MM`.
    #[oai(validator(pattern = r"^\d{2}:\d{2}$"))]
    pub end: String,
    /// Working weekdays, 1 (Monday) to 7.
    #[oai(validator(
        max_items = 7,
        unique_items,
        minimum(value = "1"),
        maximum(value = "7")
    ))]
    pub days: Vec<u8>,
    /// Public holidays, ISO dates.
    #[oai(validator(max_items = 366))]
    pub holidays: Vec<String>,
}

impl Default for WorkingHoursDto {
    fn default() -> Self {
        Self {
            start: "09:00".into(),
            end: "18:00".into(),
            days: vec![1, 2, 3, 4, 5, 6, 7],
            holidays: Vec::new(),
        }
    }
}

/// A new community.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewCommunity {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Street address.
    #[oai(validator(max_length = 256))]
    pub address: Option<String>,
    /// IANA time zone; `Asia/Shanghai` when absent.
    #[oai(validator(max_length = 64))]
    pub timezone: Option<String>,
    /// Office hours; 09:00–18:00 every day when absent.
    pub working_hours: Option<WorkingHoursDto>,
}

impl Example for NewCommunity {
    fn example() -> Self {
        Self {
            name: "翠湖花园".into(),
            address: Some("上海市浦东新区翠湖路 88 号".into()),
            timezone: Some("Asia/Shanghai".into()),
            working_hours: Some(WorkingHoursDto {
                holidays: vec!["2026-10-01".into()],
                ..WorkingHoursDto::default()
            }),
        }
    }
}

/// Changes to a community; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CommunityPatch {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// Street address; `null` clears it.
    #[oai(validator(max_length = 256))]
    pub address: MaybeUndefined<String>,
    /// IANA time zone.
    #[oai(validator(max_length = 64))]
    pub timezone: Option<String>,
    /// Office hours.
    pub working_hours: Option<WorkingHoursDto>,
}

/// A building.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Building {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Name (`3栋`), unique within the community.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A unit of a building.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Unit {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Building.
    pub building_id: Uuid,
    /// Name (`1单元`), unique within the building.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A name for a new or renamed building or unit.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NameBody {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
}

impl Example for NameBody {
    fn example() -> Self {
        Self {
            name: "3栋".into()
        }
    }
}

page_of!(CommunityPage, Community);
page_of!(BuildingPage, Building);
page_of!(UnitPage, Unit);

/// A created community.
#[derive(ApiResponse)]
pub enum CommunityCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Community>),
}

/// A created building.
#[derive(ApiResponse)]
pub enum BuildingCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Building>),
}

/// A created unit.
#[derive(ApiResponse)]
pub enum UnitCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Unit>),
}

/// Deleted.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Done,
}

/// The communities endpoints.
pub struct CommunitiesApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Communities")]
impl CommunitiesApi {
    /// Create a community
    ///
    /// Admins only.
    #[oai(
        path = "/communities",
        method = "post",
        operation_id = "create_community"
    )]
    async fn create_community(
        &self,
        auth: BearerAuth,
        body: Json<NewCommunity>,
    ) -> ApiResult<CommunityCreated, { AUTHED | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let name = Label::parse(&body.name).field("name")?;
        let timezone = Timezone::parse(body.timezone.as_deref().unwrap_or("Asia/Shanghai"))
            .field("timezone")?;
        let hours = body.working_hours.clone().unwrap_or_default();
        parse_hours(&hours)?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = community::ActiveModel {
            id: Set(new_id()),
            company_id: Set(staff.company_id),
            name: Set(name.as_str().into()),
            address: Set(body.address.as_ref().map(|a| a.trim().to_owned())),
            timezone: Set(timezone.name().into()),
            work_start: Set(hours.start.clone()),
            work_end: Set(hours.end.clone()),
            work_days: Set(json!(hours.days)),
            holidays: Set(json!(hours.holidays)),
            ticket_policy: Set(None),
            fee_policy: Set(None),
            reminder_policy: Set(None),
            service_policy: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a community with this name already exists",
            )
        })?;
        audit::record(
            &txn,
            &staff
                .audit("create_community", "community")
                .object(row.id)
                .community(row.id),
        )
        .await?;
        txn.commit().await?;
        Ok(CommunityCreated::Created(Json(community_dto(row))))
    }

    /// List communities
    ///
    /// Staff see the communities they work in; admins see every community of the company.
    #[oai(
        path = "/communities",
        method = "get",
        operation_id = "list_communities"
    )]
    async fn list_communities(
        &self,
        auth: BearerAuth,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CommunityPage>, { AUTHED | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let mut select =
            community::Entity::find().filter(community::Column::CompanyId.eq(staff.company_id));
        if let Some(ids) = staff.community_filter() {
            select = select.filter(community::Column::Id.is_in(ids.iter().copied()));
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            community::Column::Id,
            cursor.as_deref(),
            *limit,
            |c| c.id,
        )
        .await?;
        Ok(Json(CommunityPage {
            items: rows.into_iter().map(community_dto).collect(),
            next_cursor,
        }))
    }

    /// Get a community
    #[oai(
        path = "/communities/:community_id",
        method = "get",
        operation_id = "get_community"
    )]
    async fn get_community(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
    ) -> ApiResult<Json<Community>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        Ok(Json(community_dto(
            staff.community(&self.state, *community_id).await?,
        )))
    }

    /// Update a community
    ///
    /// Admins only.
    #[oai(
        path = "/communities/:community_id",
        method = "patch",
        operation_id = "update_community"
    )]
    async fn update_community(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<CommunityPatch>,
    ) -> ApiResult<Json<Community>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let row = staff.community(&self.state, *community_id).await?;
        let mut active = row.into_active_model();
        if let Some(name) = &body.name {
            active.name = Set(Label::parse(name).field("name")?.as_str().into());
        }
        match &body.address {
            MaybeUndefined::Value(address) => active.address = Set(Some(address.trim().to_owned())),
            MaybeUndefined::Null => active.address = Set(None),
            MaybeUndefined::Undefined => {}
        }
        if let Some(timezone) = &body.timezone {
            active.timezone = Set(Timezone::parse(timezone).field("timezone")?.name().into());
        }
        if let Some(hours) = &body.working_hours {
            parse_hours(hours)?;
            active.work_start = Set(hours.start.clone());
            active.work_end = Set(hours.end.clone());
            active.work_days = Set(json!(hours.days));
            active.holidays = Set(json!(hours.holidays));
        }
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a community with this name already exists",
            )
        })?;
        audit::record(
            &txn,
            &staff
                .audit("update_community", "community")
                .object(row.id)
                .community(row.id),
        )
        .await?;
        txn.commit().await?;
        self.state.communities.forget(row.id);
        Ok(Json(community_dto(row)))
    }

    /// Delete an empty community
    ///
    /// Admins only; a community that still has buildings answers 409.
    #[oai(
        path = "/communities/:community_id",
        method = "delete",
        operation_id = "delete_community"
    )]
    async fn delete_community(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(ADMINS)?;
        let row = staff.community(&self.state, *community_id).await?;
        let buildings = building::Entity::find()
            .filter(building::Column::CommunityId.eq(row.id))
            .count(&self.state.db)
            .await?;
        if buildings > 0 {
            return Err(ApiError::Conflict {
                kind: "in-use",
                detail: "the community still has buildings".into(),
            }
            .into());
        }
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        community::Entity::delete_by_id(row.id)
            .exec(&txn)
            .await
            .map_err(|e| {
                fk_violation(e, "the community is still referenced (staff, assignments)")
            })?;
        audit::record(
            &txn,
            &staff
                .audit("delete_community", "community")
                .object(row.id)
                .details(json!({ "name": row.name })),
        )
        .await?;
        txn.commit().await?;
        self.state.communities.forget(row.id);
        Ok(Deleted::Done)
    }

    /// Add a building
    #[oai(
        path = "/communities/:community_id/buildings",
        method = "post",
        operation_id = "create_building"
    )]
    async fn create_building(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<NameBody>,
    ) -> ApiResult<BuildingCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let name = Label::parse(&body.name).field("name")?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = building::ActiveModel {
            id: Set(new_id()),
            community_id: Set(community.id),
            name: Set(name.as_str().into()),
            created_at: Set(self.state.clock.now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a building with this name already exists",
            )
        })?;
        audit::record(
            &txn,
            &staff
                .audit("create_building", "building")
                .object(row.id)
                .community(row.community_id),
        )
        .await?;
        txn.commit().await?;
        Ok(BuildingCreated::Created(Json(building_dto(row))))
    }

    /// List a community's buildings
    #[oai(
        path = "/communities/:community_id/buildings",
        method = "get",
        operation_id = "list_buildings"
    )]
    async fn list_buildings(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<BuildingPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let community = staff.community(&self.state, *community_id).await?;
        let select =
            building::Entity::find().filter(building::Column::CommunityId.eq(community.id));
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            building::Column::Id,
            cursor.as_deref(),
            *limit,
            |b| b.id,
        )
        .await?;
        Ok(Json(BuildingPage {
            items: rows.into_iter().map(building_dto).collect(),
            next_cursor,
        }))
    }

    /// Rename a building
    #[oai(
        path = "/buildings/:building_id",
        method = "patch",
        operation_id = "update_building"
    )]
    async fn update_building(
        &self,
        auth: BearerAuth,
        building_id: Path<Uuid>,
        body: Json<NameBody>,
    ) -> ApiResult<Json<Building>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_building(&self.state, staff, *building_id).await?;
        let mut active = row.into_active_model();
        active.name = Set(Label::parse(&body.name).field("name")?.as_str().into());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a building with this name already exists",
            )
        })?;
        audit::record(
            &txn,
            &staff
                .audit("update_building", "building")
                .object(row.id)
                .community(row.community_id),
        )
        .await?;
        txn.commit().await?;
        Ok(Json(building_dto(row)))
    }

    /// Delete an empty building
    #[oai(
        path = "/buildings/:building_id",
        method = "delete",
        operation_id = "delete_building"
    )]
    async fn delete_building(
        &self,
        auth: BearerAuth,
        building_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_building(&self.state, staff, *building_id).await?;
        let units = unit::Entity::find()
            .filter(unit::Column::BuildingId.eq(row.id))
            .count(&self.state.db)
            .await?;
        if units > 0 {
            return Err(ApiError::Conflict {
                kind: "in-use",
                detail: "the building still has units".into(),
            }
            .into());
        }
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        building::Entity::delete_by_id(row.id)
            .exec(&txn)
            .await
            .map_err(|e| fk_violation(e, "the building is still referenced"))?;
        audit::record(
            &txn,
            &staff
                .audit("delete_building", "building")
                .object(row.id)
                .community(row.community_id)
                .details(json!({ "name": row.name })),
        )
        .await?;
        txn.commit().await?;
        Ok(Deleted::Done)
    }

    /// Add a unit to a building
    #[oai(
        path = "/buildings/:building_id/units",
        method = "post",
        operation_id = "create_unit"
    )]
    async fn create_unit(
        &self,
        auth: BearerAuth,
        building_id: Path<Uuid>,
        body: Json<NameBody>,
    ) -> ApiResult<UnitCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let building = load_building(&self.state, staff, *building_id).await?;
        let name = Label::parse(&body.name).field("name")?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = unit::ActiveModel {
            id: Set(new_id()),
            community_id: Set(building.community_id),
            building_id: Set(building.id),
            name: Set(name.as_str().into()),
            created_at: Set(self.state.clock.now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a unit with this name already exists in the building",
            )
        })?;
        audit::record(
            &txn,
            &staff
                .audit("create_unit", "unit")
                .object(row.id)
                .community(row.community_id),
        )
        .await?;
        txn.commit().await?;
        Ok(UnitCreated::Created(Json(unit_dto(row))))
    }

    /// List a building's units
    #[oai(
        path = "/buildings/:building_id/units",
        method = "get",
        operation_id = "list_units"
    )]
    async fn list_units(
        &self,
        auth: BearerAuth,
        building_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<UnitPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let building = load_building(&self.state, staff, *building_id).await?;
        let select = unit::Entity::find().filter(unit::Column::BuildingId.eq(building.id));
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            unit::Column::Id,
            cursor.as_deref(),
            *limit,
            |u| u.id,
        )
        .await?;
        Ok(Json(UnitPage {
            items: rows.into_iter().map(unit_dto).collect(),
            next_cursor,
        }))
    }

    /// Rename a unit
    #[oai(
        path = "/units/:unit_id",
        method = "patch",
        operation_id = "update_unit"
    )]
    async fn update_unit(
        &self,
        auth: BearerAuth,
        unit_id: Path<Uuid>,
        body: Json<NameBody>,
    ) -> ApiResult<Json<Unit>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_unit(&self.state, staff, *unit_id).await?;
        let mut active = row.into_active_model();
        active.name = Set(Label::parse(&body.name).field("name")?.as_str().into());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a unit with this name already exists in the building",
            )
        })?;
        audit::record(
            &txn,
            &staff
                .audit("update_unit", "unit")
                .object(row.id)
                .community(row.community_id),
        )
        .await?;
        txn.commit().await?;
        Ok(Json(unit_dto(row)))
    }

    /// Delete an empty unit
    #[oai(
        path = "/units/:unit_id",
        method = "delete",
        operation_id = "delete_unit"
    )]
    async fn delete_unit(
        &self,
        auth: BearerAuth,
        unit_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_unit(&self.state, staff, *unit_id).await?;
        let households = household::Entity::find()
            .filter(household::Column::UnitId.eq(row.id))
            .count(&self.state.db)
            .await?;
        if households > 0 {
            return Err(ApiError::Conflict {
                kind: "in-use",
                detail: "the unit still has households".into(),
            }
            .into());
        }
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        unit::Entity::delete_by_id(row.id)
            .exec(&txn)
            .await
            .map_err(|e| fk_violation(e, "the unit is still referenced"))?;
        audit::record(
            &txn,
            &staff
                .audit("delete_unit", "unit")
                .object(row.id)
                .community(row.community_id)
                .details(json!({ "name": row.name })),
        )
        .await?;
        txn.commit().await?;
        Ok(Deleted::Done)
    }
}

/// A building the caller works in, or 404.
pub async fn load_building(
    state: &AppState,
    staff: &StaffPrincipal,
    id: Uuid,
) -> Result<building::Model, ApiError> {
    let row = building::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("building"))?;
    staff
        .community(state, row.community_id)
        .await
        .map_err(|_| ApiError::NotFound("building"))?;
    Ok(row)
}

/// A unit the caller works in, or 404.
pub async fn load_unit(
    state: &AppState,
    staff: &StaffPrincipal,
    id: Uuid,
) -> Result<unit::Model, ApiError> {
    let row = unit::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("unit"))?;
    staff
        .community(state, row.community_id)
        .await
        .map_err(|_| ApiError::NotFound("unit"))?;
    Ok(row)
}

fn parse_hours(hours: &WorkingHoursDto) -> Result<WorkingHours, ApiError> {
    WorkingHours::parse(&hours.start, &hours.end, &hours.days, &hours.holidays)
        .field("working_hours")
}

/// The API form of a community row.
pub fn community_dto(row: community::Model) -> Community {
    Community {
        id: row.id,
        name: row.name,
        address: row.address,
        timezone: row.timezone,
        working_hours: WorkingHoursDto {
            start: row.work_start,
            end: row.work_end,
            days: serde_json::from_value(row.work_days).unwrap_or_default(),
            holidays: serde_json::from_value(row.holidays).unwrap_or_default(),
        },
        created_at: row.created_at,
    }
}

fn building_dto(row: building::Model) -> Building {
    Building {
        id: row.id,
        community_id: row.community_id,
        name: row.name,
        created_at: row.created_at,
    }
}

fn unit_dto(row: unit::Model) -> Unit {
    Unit {
        id: row.id,
        community_id: row.community_id,
        building_id: row.building_id,
        name: row.name,
        created_at: row.created_at,
    }
}

/// Stores one of a community's policies (its JSON `column`) with its audit entry, in one
/// transaction, and forgets the cached row; the new policy goes in the entry's details.
pub(crate) async fn store_policy(
    state: &AppState,
    id: Uuid,
    column: community::Column,
    policy: &impl serde::Serialize,
    entry: Entry,
) -> Result<(), ApiError> {
    let value = serde_json::to_value(policy).map_err(|e| anyhow::anyhow!(e))?;
    let txn = courtyard_store::begin_write(&state.db).await?;
    community::Entity::update_many()
        .col_expr(column, sea_orm::sea_query::Expr::value(value.clone()))
        .col_expr(
            community::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(state.clock.now()),
        )
        .filter(community::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let entry = entry
        .object(id)
        .community(id)
        .details(serde_json::json!({ "policy": value }));
    audit::record(&txn, &entry).await?;
    txn.commit().await?;
    state.communities.forget(id);
    Ok(())
}
