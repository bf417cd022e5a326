//! Households (户) and their members.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{building, household, household_member, resident, unit},
    new_id,
    org::{FloorArea, RoomNumber},
    people::{MembershipRole, mask_phone},
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
    QueryOrder,
};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ALL_STAFF, BearerAuth, ROLL_KEEPERS},
    communities::{Deleted, load_unit},
    error::{ApiError, ApiResult, FieldContext, status::*, unique_violation},
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A household.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Household {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Building.
    pub building_id: Uuid,
    /// Unit.
    pub unit_id: Uuid,
    /// Room number (`1203`), unique within the unit.
    pub room_number: String,
    /// Floor.
    pub floor: Option<i32>,
    /// Floor area in m², two decimals.
    pub floor_area_m2: f64,
    /// Parking spaces the household pays a per-space fee for.
    pub parking_spaces: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A new household.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewHousehold {
    /// Room number: letters, digits and `-`.
    #[oai(validator(min_length = 1, max_length = 16))]
    pub room_number: String,
    /// Floor, -10 to 300.
    #[oai(validator(minimum(value = "-10"), maximum(value = "300")))]
    pub floor: Option<i32>,
    /// Floor area in m² (at most two decimals count).
    #[oai(validator(minimum(value = "0.01"), maximum(value = "100000")))]
    pub floor_area_m2: f64,
    /// Parking spaces the household pays a per-space fee for, 0–20 (default 0).
    #[oai(validator(minimum(value = "0"), maximum(value = "20")))]
    pub parking_spaces: Option<i32>,
}

impl Example for NewHousehold {
    fn example() -> Self {
        Self {
            room_number: "1203".into(),
            floor: Some(12),
            floor_area_m2: 89.5,
            parking_spaces: Some(1),
        }
    }
}

/// Changes to a household; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HouseholdPatch {
    /// Room number.
    #[oai(validator(min_length = 1, max_length = 16))]
    pub room_number: Option<String>,
    /// Floor; `null` clears it.
    #[oai(validator(minimum(value = "-10"), maximum(value = "300")))]
    pub floor: MaybeUndefined<i32>,
    /// Floor area in m².
    #[oai(validator(minimum(value = "0.01"), maximum(value = "100000")))]
    pub floor_area_m2: Option<f64>,
    /// Parking spaces, 0–20.
    #[oai(validator(minimum(value = "0"), maximum(value = "20")))]
    pub parking_spaces: Option<i32>,
}

/// A resident's membership of a household.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Member {
    /// Resident.
    pub resident_id: Uuid,
    /// Name.
    pub name: String,
    /// Phone, masked (`138****1234`); the office reveals it with `reveal_resident_phone`.
    pub phone: String,
    /// owner, tenant or family.
    pub role: Vocab<MembershipRole>,
}

/// The members of a household.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MemberList {
    /// Members, oldest membership first.
    pub items: Vec<Member>,
}

/// How a resident belongs to a household.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct MembershipBody {
    /// owner, tenant or family.
    pub role: Vocab<MembershipRole>,
}

impl Example for MembershipBody {
    fn example() -> Self {
        Self {
            role: MembershipRole::Owner.into(),
        }
    }
}

page_of!(HouseholdPage, Household);

/// A created household.
#[derive(ApiResponse)]
pub enum HouseholdCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Household>),
}

/// The households endpoints.
pub struct HouseholdsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Households")]
impl HouseholdsApi {
    /// Add a household to a unit
    #[oai(
        path = "/units/:unit_id/households",
        method = "post",
        operation_id = "create_household"
    )]
    async fn create_household(
        &self,
        auth: BearerAuth,
        unit_id: Path<Uuid>,
        body: Json<NewHousehold>,
    ) -> ApiResult<HouseholdCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let unit = load_unit(&self.state, staff, *unit_id).await?;
        let room = RoomNumber::parse(&body.room_number).field("room_number")?;
        let area = FloorArea::from_m2(body.floor_area_m2).field("floor_area_m2")?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = household::ActiveModel {
            id: Set(new_id()),
            community_id: Set(unit.community_id),
            building_id: Set(unit.building_id),
            unit_id: Set(unit.id),
            room_number: Set(room.as_str().into()),
            floor: Set(body.floor),
            floor_area_centi_m2: Set(area.centi_m2()),
            parking_spaces: Set(body.parking_spaces.unwrap_or(0)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-room",
                "this room number already exists in the unit",
            )
        })?;
        let entry = staff
            .audit("create_household", "household")
            .object(row.id)
            .community(row.community_id);
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(HouseholdCreated::Created(Json(household_dto(row))))
    }

    /// List a community's households
    #[oai(
        path = "/communities/:community_id/households",
        method = "get",
        operation_id = "list_households"
    )]
    async fn list_households(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Only this building.
        building_id: Query<Option<Uuid>>,
        /// Only this unit.
        unit_id: Query<Option<Uuid>>,
        /// Only this room number.
        room_number: Query<Option<String>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<HouseholdPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let community = staff.community(&self.state, *community_id).await?;
        let mut select =
            household::Entity::find().filter(household::Column::CommunityId.eq(community.id));
        if let Some(id) = *building_id {
            select = select.filter(household::Column::BuildingId.eq(id));
        }
        if let Some(id) = *unit_id {
            select = select.filter(household::Column::UnitId.eq(id));
        }
        if let Some(room) = room_number.as_deref() {
            select =
                select.filter(household::Column::RoomNumber.eq(room.trim().to_ascii_uppercase()));
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            household::Column::Id,
            cursor.as_deref(),
            *limit,
            |h| h.id,
        )
        .await?;
        Ok(Json(HouseholdPage {
            items: rows.into_iter().map(household_dto).collect(),
            next_cursor,
        }))
    }

    /// Get a household
    ///
    /// Staff of its community, or a resident who belongs to it.
    #[oai(
        path = "/households/:household_id",
        method = "get",
        operation_id = "get_household"
    )]
    async fn get_household(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
    ) -> ApiResult<Json<Household>, { AUTHED | NOT_FOUND }> {
        Ok(Json(household_dto(
            auth.0.household(&self.state, *household_id).await?,
        )))
    }

    /// Update a household
    #[oai(
        path = "/households/:household_id",
        method = "patch",
        operation_id = "update_household"
    )]
    async fn update_household(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        body: Json<HouseholdPatch>,
    ) -> ApiResult<Json<Household>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = auth.0.household(&self.state, *household_id).await?;
        let entry = staff
            .audit("update_household", "household")
            .object(row.id)
            .community(row.community_id);
        let mut active = row.into_active_model();
        if let Some(room) = &body.room_number {
            active.room_number = Set(RoomNumber::parse(room)
                .field("room_number")?
                .as_str()
                .into());
        }
        match body.floor {
            MaybeUndefined::Value(floor) => active.floor = Set(Some(floor)),
            MaybeUndefined::Null => active.floor = Set(None),
            MaybeUndefined::Undefined => {}
        }
        if let Some(area) = body.floor_area_m2 {
            active.floor_area_centi_m2 =
                Set(FloorArea::from_m2(area).field("floor_area_m2")?.centi_m2());
        }
        if let Some(spaces) = body.parking_spaces {
            active.parking_spaces = Set(spaces);
        }
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-room",
                "this room number already exists in the unit",
            )
        })?;
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Json(household_dto(row)))
    }

    /// Delete a household
    ///
    /// Its memberships go with it; the residents stay.
    #[oai(
        path = "/households/:household_id",
        method = "delete",
        operation_id = "delete_household"
    )]
    async fn delete_household(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = auth.0.household(&self.state, *household_id).await?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        household::Entity::delete_by_id(row.id)
            .exec(&txn)
            .await
            .map_err(|e| crate::error::fk_violation(e, "the household is still referenced"))?;
        let entry = staff
            .audit("delete_household", "household")
            .object(row.id)
            .community(row.community_id)
            .details(serde_json::json!({ "room_number": row.room_number }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Deleted::Done)
    }

    /// List a household's members
    ///
    /// Staff of its community, or a resident who belongs to it.
    #[oai(
        path = "/households/:household_id/members",
        method = "get",
        operation_id = "list_household_members"
    )]
    async fn list_members(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
    ) -> ApiResult<Json<MemberList>, { AUTHED | NOT_FOUND }> {
        let row = auth.0.household(&self.state, *household_id).await?;
        let members = household_member::Entity::find()
            .filter(household_member::Column::HouseholdId.eq(row.id))
            .order_by_asc(household_member::Column::CreatedAt)
            .find_also_related_manual(&self.state.db)
            .await?;
        if let Some(staff) = auth.0.as_staff() {
            for (m, _) in &members {
                let entry = staff
                    .audit("list_household_members", "household")
                    .object(row.id)
                    .community(row.community_id)
                    .resident(m.resident_id);
                self.state.reads.record(entry).await;
            }
        }
        let items = members
            .into_iter()
            .map(|(m, r)| Member {
                resident_id: m.resident_id,
                name: r.name,
                phone: mask_phone(&r.phone),
                role: Vocab::stored(&m.role),
            })
            .collect();
        Ok(Json(MemberList { items }))
    }

    /// Add a resident to a household, or change their role in it
    #[oai(
        path = "/households/:household_id/members/:resident_id",
        method = "put",
        operation_id = "put_household_member"
    )]
    async fn put_member(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        resident_id: Path<Uuid>,
        body: Json<MembershipBody>,
    ) -> ApiResult<Json<Member>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let household = auth.0.household(&self.state, *household_id).await?;
        let role = body.role.get("role")?;
        let resident = resident::Entity::find_by_id(*resident_id)
            .one(&self.state.db)
            .await?
            .filter(|r| r.company_id == staff.company_id)
            .ok_or(ApiError::NotFound("resident"))?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        upsert_membership(&txn, &household, resident.id, role, self.state.clock.now()).await?;
        let entry = staff
            .audit("put_household_member", "household")
            .object(household.id)
            .community(household.community_id)
            .resident(resident.id)
            .details(serde_json::json!({ "role": role.as_str() }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Json(Member {
            resident_id: resident.id,
            name: resident.name,
            phone: mask_phone(&resident.phone),
            role: role.into(),
        }))
    }

    /// Remove a resident from a household
    #[oai(
        path = "/households/:household_id/members/:resident_id",
        method = "delete",
        operation_id = "delete_household_member"
    )]
    async fn delete_member(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        resident_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let household = auth.0.household(&self.state, *household_id).await?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let deleted = household_member::Entity::delete_by_id((household.id, *resident_id))
            .exec(&txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(ApiError::NotFound("membership").into());
        }
        let entry = staff
            .audit("delete_household_member", "household")
            .object(household.id)
            .community(household.community_id)
            .resident(*resident_id);
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Deleted::Done)
    }
}

/// Adds or updates a membership.
pub async fn upsert_membership(
    conn: &impl sea_orm::ConnectionTrait,
    household: &household::Model,
    resident_id: Uuid,
    role: MembershipRole,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let existing = household_member::Entity::find_by_id((household.id, resident_id))
        .one(conn)
        .await?;
    match existing {
        Some(member) => {
            let mut active = member.into_active_model();
            active.role = Set(role.as_str().into());
            active.update(conn).await?;
        }
        None => {
            household_member::ActiveModel {
                household_id: Set(household.id),
                resident_id: Set(resident_id),
                community_id: Set(household.community_id),
                role: Set(role.as_str().into()),
                created_at: Set(now),
            }
            .insert(conn)
            .await?;
        }
    }
    Ok(())
}

/// Where a household is, in words: building, unit, room.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HouseholdAddress {
    /// Household id.
    pub household_id: Uuid,
    /// Community id.
    pub community_id: Uuid,
    /// Building name.
    pub building: String,
    /// Unit name.
    pub unit: String,
    /// Room number.
    pub room_number: String,
}

/// Names the buildings and units of `households`.
pub async fn addresses(
    state: &AppState,
    households: &[household::Model],
) -> Result<Vec<HouseholdAddress>, ApiError> {
    let building_ids: Vec<Uuid> = households.iter().map(|h| h.building_id).collect();
    let unit_ids: Vec<Uuid> = households.iter().map(|h| h.unit_id).collect();
    let buildings = building::Entity::find()
        .filter(building::Column::Id.is_in(building_ids))
        .all(&state.db)
        .await?;
    let units = unit::Entity::find()
        .filter(unit::Column::Id.is_in(unit_ids))
        .all(&state.db)
        .await?;
    Ok(households
        .iter()
        .map(|h| HouseholdAddress {
            household_id: h.id,
            community_id: h.community_id,
            building: buildings
                .iter()
                .find(|b| b.id == h.building_id)
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            unit: units
                .iter()
                .find(|u| u.id == h.unit_id)
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            room_number: h.room_number.clone(),
        })
        .collect())
}

/// The API form of a household row.
pub fn household_dto(row: household::Model) -> Household {
    Household {
        id: row.id,
        community_id: row.community_id,
        building_id: row.building_id,
        unit_id: row.unit_id,
        room_number: row.room_number,
        floor: row.floor,
        floor_area_m2: row.floor_area_centi_m2 as f64 / 100.0,
        parking_spaces: row.parking_spaces,
        created_at: row.created_at,
    }
}

/// Joins memberships to their residents without ORM relations.
trait FindMembersWithResidents {
    async fn find_also_related_manual(
        self,
        db: &sea_orm::DatabaseConnection,
    ) -> Result<Vec<(household_member::Model, resident::Model)>, sea_orm::DbErr>;
}

impl FindMembersWithResidents for sea_orm::Select<household_member::Entity> {
    async fn find_also_related_manual(
        self,
        db: &sea_orm::DatabaseConnection,
    ) -> Result<Vec<(household_member::Model, resident::Model)>, sea_orm::DbErr> {
        let members = self.all(db).await?;
        let ids: Vec<Uuid> = members.iter().map(|m| m.resident_id).collect();
        let residents = resident::Entity::find()
            .filter(resident::Column::Id.is_in(ids))
            .all(db)
            .await?;
        Ok(members
            .into_iter()
            .filter_map(|m| {
                residents
                    .iter()
                    .find(|r| r.id == m.resident_id)
                    .cloned()
                    .map(|r| (m, r))
            })
            .collect())
    }
}
