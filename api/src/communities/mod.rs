//! Communities (小区), their buildings (楼栋) and units (单元).

use courtyard_domain::{
    entities::{building, community, household, unit},
    new_id,
    org::{Label, Timezone},
};
use courtyard_store::audit::{self, Entry};
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
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
    pagination::fetch_page,
    state::AppState,
};

mod dto;

pub use dto::*;
use dto::{building_dto, parse_hours, unit_dto};

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
