//! Household services (有偿服务): the teams that do them, the public price list residents
//! read before they book, the slots a team's day is cut into, and the community's booking
//! policy. Bookings themselves are in `bookings`.

use chrono::NaiveDate;
use courtyard_domain::{
    entities::{
        community, household_member, service, service_slot, service_team, service_team_member,
        staff, staff_community,
    },
    new_id,
    services::{PayWhen, Price, Pricing, ServicePolicy, SlotPlan},
    tickets::Department,
};
use courtyard_store::audit::{self, Entry};
use courtyard_store::bookings::slots;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ADMINS, ALL_STAFF, BearerAuth, MANAGERS, Principal},
    error::{ApiError, ApiResult, status::*, unique_violation},
    pagination::fetch_page,
    state::AppState,
    tickets::rules_of,
};

mod dto;
mod reports;

pub use dto::*;
pub use reports::ServiceReportsApi;

/// A created team.
#[derive(ApiResponse)]
pub enum TeamCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Team>),
}

/// A created price-list entry.
#[derive(ApiResponse)]
pub enum ServiceCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Service>),
}

/// The services endpoints.
pub struct ServicesApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Services")]
impl ServicesApi {
    /// Get the booking policy
    ///
    /// When a booking's time is to be confirmed, the arrival and completion clocks, the
    /// free-cancellation notice and the late fee, the booking window and payment windows.
    /// A community that set none has the defaults.
    #[oai(
        path = "/communities/:community_id/service-policy",
        method = "get",
        operation_id = "get_service_policy"
    )]
    async fn get_service_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
    ) -> ApiResult<Json<ServicePolicyDto>, { AUTHED | NOT_FOUND }> {
        let community = community_for(&self.state, &auth.0, *community_id).await?;
        Ok(Json(policy_dto(&policy_of(&community))))
    }

    /// Change the booking policy
    ///
    /// Admins only; applies to bookings made and steps taken from now on.
    #[oai(
        path = "/communities/:community_id/service-policy",
        method = "put",
        operation_id = "put_service_policy"
    )]
    async fn put_service_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<ServicePolicyDto>,
    ) -> ApiResult<Json<ServicePolicyDto>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let policy = parse_policy(&body)?;
        crate::communities::store_policy(
            &self.state,
            community.id,
            community::Column::ServicePolicy,
            &policy,
            staff.audit("put_service_policy", "community"),
        )
        .await?;
        Ok(Json(policy_dto(&policy)))
    }

    /// Add a service team
    ///
    /// Admins only. The leader gets every work order of the team's services; the size is
    /// how many bookings one slot takes. Members are staff of the community in the
    /// department's role (cleaners for cleaning, gardeners for greenery, engineers).
    #[oai(
        path = "/communities/:community_id/service-teams",
        method = "post",
        operation_id = "create_service_team"
    )]
    async fn create_service_team(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<NewTeam>,
    ) -> ApiResult<TeamCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let department = body.department.get("department")?;
        let name = trimmed(&body.name, "name")?;
        let plan = SlotPlan::new(body.slot_minutes.unwrap_or(120), body.size)
            .map_err(|(f, e)| ApiError::invalid(f, e.0))?;
        let members = members_of(
            &self.state,
            community.id,
            department,
            body.leader_id,
            &body.member_ids,
        )
        .await?;
        let now = self.state.clock.now();
        let row = service_team::Model {
            id: new_id(),
            community_id: community.id,
            name,
            department: department.as_str().into(),
            leader_id: body.leader_id,
            size: plan.capacity as i32,
            slot_minutes: plan.minutes as i32,
            active: true,
            created_at: now,
            updated_at: now,
        };
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        row.clone()
            .into_active_model()
            .insert(&txn)
            .await
            .map_err(|e| {
                unique_violation(e, "duplicate-name", "a team with this name already exists")
            })?;
        write_members(&txn, row.id, &members).await?;
        audit::record(
            &txn,
            &team_entry(
                staff.audit("create_service_team", "service_team"),
                &row,
                &members,
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(TeamCreated::Created(Json(team_dto(row, members))))
    }

    /// List service teams
    #[oai(
        path = "/communities/:community_id/service-teams",
        method = "get",
        operation_id = "list_service_teams"
    )]
    async fn list_service_teams(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<TeamPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            service_team::Entity::find().filter(service_team::Column::CommunityId.eq(community.id)),
            service_team::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        let members = service_team_member::Entity::find()
            .filter(service_team_member::Column::TeamId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(service_team_member::Column::StaffId)
            .all(&self.state.db)
            .await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let ids = members
                    .iter()
                    .filter(|m| m.team_id == row.id)
                    .map(|m| m.staff_id)
                    .collect();
                team_dto(row, ids)
            })
            .collect();
        Ok(Json(TeamPage { items, next_cursor }))
    }

    /// Change a service team
    ///
    /// Admins only. A new size applies to slots not yet written (a slot is written the
    /// first time its day is asked for); change a written slot's capacity on the slot.
    #[oai(
        path = "/service-teams/:team_id",
        method = "patch",
        operation_id = "update_service_team"
    )]
    async fn update_service_team(
        &self,
        auth: BearerAuth,
        team_id: Path<Uuid>,
        body: Json<TeamPatch>,
    ) -> ApiResult<Json<Team>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let row = team_in_scope(&self.state, &auth.0, *team_id).await?;
        staff.community(&self.state, row.community_id).await?;
        let department = Department::parse(&row.department).map_err(|e| anyhow::anyhow!(e))?;
        let plan = SlotPlan::new(
            body.slot_minutes.unwrap_or(row.slot_minutes as u32),
            body.size.unwrap_or(row.size as u32),
        )
        .map_err(|(f, e)| ApiError::invalid(f, e.0))?;
        let leader = body.leader_id.unwrap_or(row.leader_id);
        let current: Vec<Uuid> = member_ids(&self.state, row.id).await?;
        let members = members_of(
            &self.state,
            row.community_id,
            department,
            leader,
            body.member_ids.as_deref().unwrap_or(&current),
        )
        .await?;
        let mut active = row.clone().into_active_model();
        if let Some(name) = &body.name {
            active.name = Set(trimmed(name, "name")?);
        }
        active.leader_id = Set(leader);
        active.size = Set(plan.capacity as i32);
        active.slot_minutes = Set(plan.minutes as i32);
        if let Some(on) = body.active {
            active.active = Set(on);
        }
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let saved = active.update(&txn).await.map_err(|e| {
            unique_violation(e, "duplicate-name", "a team with this name already exists")
        })?;
        service_team_member::Entity::delete_many()
            .filter(service_team_member::Column::TeamId.eq(row.id))
            .exec(&txn)
            .await?;
        write_members(&txn, row.id, &members).await?;
        audit::record(
            &txn,
            &team_entry(
                staff.audit("update_service_team", "service_team"),
                &saved,
                &members,
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(Json(team_dto(saved, members)))
    }

    /// Add a service to the price list
    ///
    /// Admins only. `fixed` states one price for the job (paid at booking by default),
    /// `per_hour` a price per hour with a minimum of hours, `per_item` a price per item
    /// (laundry), `quoted` no price: staff quote on site and the resident accepts before
    /// work starts, `package` a price a month for `visits_per_month` visits (包月, paid
    /// ahead; residents subscribe with `POST /v1/packages`). Only a fixed price or a
    /// package can be paid at booking.
    #[oai(
        path = "/communities/:community_id/services",
        method = "post",
        operation_id = "create_service"
    )]
    async fn create_service(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<NewService>,
    ) -> ApiResult<ServiceCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let team = service_team::Entity::find_by_id(body.team_id)
            .one(&self.state.db)
            .await?
            .filter(|t| t.community_id == community.id)
            .ok_or_else(|| ApiError::invalid("team_id", "no team with this id in the community"))?;
        let category = body.category.get("category")?;
        let pricing = body.pricing.get("pricing")?;
        let price = Price::new(pricing, body.price_fen, body.min_quantity)
            .map_err(|(f, e)| ApiError::invalid(f, e.0))?;
        let pay = match &body.pay {
            Some(p) => p.get("pay")?,
            None => pricing.default_pay(),
        };
        if pay == PayWhen::Before && !pricing.can_prepay() {
            return Err(ApiError::invalid(
                "pay",
                "only a fixed price is known at booking; this service is paid after the work",
            )
            .into());
        }
        if !pricing.can_pay_after() && pay == PayWhen::After {
            return Err(
                ApiError::invalid("pay", "a monthly package is paid ahead, by the month").into(),
            );
        }
        let visits = match pricing {
            Pricing::Package => Some(
                courtyard_domain::services::packages::check_visits(body.visits_per_month)
                    .map_err(|(f, e)| ApiError::invalid(f, e.0))?,
            ),
            _ if body.visits_per_month.is_some() => {
                return Err(ApiError::invalid(
                    "visits_per_month",
                    "only a monthly package has visits a month",
                )
                .into());
            }
            _ => None,
        };
        let duration = body.duration_minutes.unwrap_or(team.slot_minutes as u32);
        if duration > team.slot_minutes as u32 {
            return Err(ApiError::invalid(
                "duration_minutes",
                format!(
                    "a job fits one slot of its team ({} minutes)",
                    team.slot_minutes
                ),
            )
            .into());
        }
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = service::ActiveModel {
            id: Set(new_id()),
            community_id: Set(community.id),
            team_id: Set(team.id),
            category: Set(category.as_str().into()),
            name: Set(trimmed(&body.name, "name")?),
            description: Set(body.description.clone().unwrap_or_default().trim().into()),
            pricing: Set(pricing.as_str().into()),
            price_fen: Set(price.unit_fen),
            min_quantity: Set(price.min_quantity as i32),
            duration_minutes: Set(duration as i32),
            pay: Set(pay.as_str().into()),
            photos: Set(serde_json::json!(body.photos.clone().unwrap_or_default())),
            active: Set(true),
            visits_per_month: Set(visits.map(|v| v as i32)),
            position: Set(body.position.unwrap_or(0) as i32),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a service with this name already exists",
            )
        })?;
        audit::record(
            &txn,
            &service_entry(staff.audit("create_service", "service"), &row),
        )
        .await?;
        txn.commit().await?;
        Ok(ServiceCreated::Created(Json(service_dto(row))))
    }

    /// The price list
    ///
    /// A community's services with their prices, public to its residents before they
    /// book (服务收费标准). Residents see active services only; staff may ask for all.
    #[oai(
        path = "/communities/:community_id/services",
        method = "get",
        operation_id = "list_services"
    )]
    async fn list_services(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Staff: include services no longer offered.
        include_inactive: Query<Option<bool>>,
    ) -> ApiResult<Json<ServicePage>, { AUTHED | NOT_FOUND }> {
        let community = community_for(&self.state, &auth.0, *community_id).await?;
        let mut select = service::Entity::find()
            .filter(service::Column::CommunityId.eq(community.id))
            .order_by_asc(service::Column::Position)
            .order_by_asc(service::Column::Name);
        if !(include_inactive.unwrap_or(false) && matches!(auth.0, Principal::Staff(_))) {
            select = select.filter(service::Column::Active.eq(true));
        }
        let rows = select.limit(500).all(&self.state.db).await?;
        Ok(Json(ServicePage {
            items: rows.into_iter().map(service_dto).collect(),
            next_cursor: None,
        }))
    }

    /// Get a service
    #[oai(
        path = "/services/:service_id",
        method = "get",
        operation_id = "get_service"
    )]
    async fn get_service(
        &self,
        auth: BearerAuth,
        service_id: Path<Uuid>,
    ) -> ApiResult<Json<Service>, { AUTHED | NOT_FOUND }> {
        let row = service_for(&self.state, &auth.0, *service_id).await?;
        Ok(Json(service_dto(row)))
    }

    /// Change a service
    ///
    /// Admins only. Bookings already made (and package months subscribed) keep the price
    /// they were booked at.
    #[oai(
        path = "/services/:service_id",
        method = "patch",
        operation_id = "update_service"
    )]
    async fn update_service(
        &self,
        auth: BearerAuth,
        service_id: Path<Uuid>,
        body: Json<ServicePatch>,
    ) -> ApiResult<Json<Service>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let row = service_for(&self.state, &auth.0, *service_id).await?;
        let pricing = Pricing::parse(&row.pricing).map_err(|e| anyhow::anyhow!(e))?;
        let price = Price::new(
            pricing,
            body.price_fen.or(row.price_fen),
            Some(body.min_quantity.unwrap_or(row.min_quantity as u32)),
        )
        .map_err(|(f, e)| ApiError::invalid(f, e.0))?;
        let mut active = row.into_active_model();
        if let Some(name) = &body.name {
            active.name = Set(trimmed(name, "name")?);
        }
        if let Some(d) = &body.description {
            active.description = Set(d.trim().into());
        }
        active.price_fen = Set(price.unit_fen);
        active.min_quantity = Set(price.min_quantity as i32);
        if let Some(photos) = &body.photos {
            active.photos = Set(serde_json::json!(photos));
        }
        if let Some(p) = body.position {
            active.position = Set(p as i32);
        }
        if let Some(on) = body.active {
            active.active = Set(on);
        }
        if body.visits_per_month.is_some() {
            if pricing != Pricing::Package {
                return Err(ApiError::invalid(
                    "visits_per_month",
                    "only a monthly package has visits a month",
                )
                .into());
            }
            let visits = courtyard_domain::services::packages::check_visits(body.visits_per_month)
                .map_err(|(f, e)| ApiError::invalid(f, e.0))?;
            active.visits_per_month = Set(Some(visits as i32));
        }
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let saved = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a service with this name already exists",
            )
        })?;
        audit::record(
            &txn,
            &service_entry(staff.audit("update_service", "service"), &saved),
        )
        .await?;
        txn.commit().await?;
        Ok(Json(service_dto(saved)))
    }

    /// A service's slots on a day
    ///
    /// The slots of the service's team on `date` (the community's calendar day), cut from
    /// the community's working hours, each with its capacity (the team's size) and places
    /// left. `bookable` says whether it can be booked now: a free place, inside the
    /// booking window (not sooner than the lead time, not past the horizon).
    #[oai(
        path = "/services/:service_id/slots",
        method = "get",
        operation_id = "list_service_slots"
    )]
    async fn list_service_slots(
        &self,
        auth: BearerAuth,
        service_id: Path<Uuid>,
        /// The day, `YYYY-MM-DD` (default: today in the community).
        date: Query<Option<NaiveDate>>,
    ) -> ApiResult<Json<Vec<Slot>>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let service = service_for(&self.state, &auth.0, *service_id).await?;
        let team = service_team::Entity::find_by_id(service.team_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("service team"))?;
        let community = self
            .state
            .communities
            .get(&self.state.db, service.community_id)
            .await?
            .ok_or(ApiError::NotFound("community"))?;
        let date = match *date {
            Some(day) => day,
            None => {
                let (_, _, tz) = rules_of(&community)?;
                self.state.clock.now().with_timezone(&tz).date_naive()
            }
        };
        let rows = day_slots(&self.state, &community, &team, date).await?;
        let policy = policy_of(&community);
        let now = self.state.clock.now();
        let open = service.active && team.active;
        Ok(Json(
            rows.into_iter()
                .map(|s| {
                    let ok = open && policy.bookable(s.starts_at, now).is_ok();
                    slot_dto(s, ok)
                })
                .collect(),
        ))
    }

    /// Change a slot's capacity
    ///
    /// The office closes a slot (0) or changes how many bookings it takes; never fewer
    /// than it holds (409).
    #[oai(
        path = "/service-slots/:slot_id",
        method = "patch",
        operation_id = "update_service_slot"
    )]
    async fn update_service_slot(
        &self,
        auth: BearerAuth,
        slot_id: Path<Uuid>,
        body: Json<SlotPatch>,
    ) -> ApiResult<Json<Slot>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(MANAGERS)?;
        let slot = service_slot::Entity::find_by_id(*slot_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("slot"))?;
        let team = team_in_scope(&self.state, &auth.0, slot.team_id)
            .await
            .map_err(|_| ApiError::NotFound("slot"))?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        if !slots::set_capacity(&txn, slot.id, body.capacity as i32).await? {
            return Err(ApiError::Conflict {
                kind: "slot-holds-more",
                detail: format!(
                    "the slot holds {} bookings; cancel or move some before lowering it",
                    slot.booked
                ),
            }
            .into());
        }
        let entry = staff
            .audit("update_service_slot", "service_slot")
            .object(slot.id)
            .community(team.community_id)
            .details(serde_json::json!({
                "team_id": team.id,
                "starts_at": slot.starts_at,
                "from": slot.capacity,
                "to": body.capacity,
            }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        let saved = service_slot::Entity::find_by_id(slot.id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("slot"))?;
        Ok(Json(slot_dto(saved, true)))
    }
}

/// A team's audit entry: the team, its community, its leader, size and members.
fn team_entry(entry: Entry, row: &service_team::Model, members: &[Uuid]) -> Entry {
    entry
        .object(row.id)
        .community(row.community_id)
        .details(serde_json::json!({
            "name": row.name,
            "department": row.department,
            "leader_id": row.leader_id,
            "size": row.size,
            "slot_minutes": row.slot_minutes,
            "active": row.active,
            "member_ids": members,
        }))
}

/// A service's audit entry: the service, its community, its price.
fn service_entry(entry: Entry, row: &service::Model) -> Entry {
    entry
        .object(row.id)
        .community(row.community_id)
        .details(serde_json::json!({
            "name": row.name,
            "team_id": row.team_id,
            "pricing": row.pricing,
            "price_fen": row.price_fen,
            "min_quantity": row.min_quantity,
            "pay": row.pay,
            "visits_per_month": row.visits_per_month,
            "active": row.active,
        }))
}

/// A community's booking policy.
pub fn policy_of(community: &community::Model) -> ServicePolicy {
    ServicePolicy::from_stored(community.service_policy.as_ref())
}

/// A community the caller may read the price list of: staff in scope, or a resident of
/// one of its households.
pub async fn community_for(
    state: &AppState,
    principal: &Principal,
    community_id: Uuid,
) -> Result<community::Model, ApiError> {
    match principal {
        Principal::Staff(s) => s.community(state, community_id).await,
        Principal::Resident(r) => {
            let lives_there = household_member::Entity::find()
                .filter(household_member::Column::ResidentId.eq(r.id))
                .filter(household_member::Column::CommunityId.eq(community_id))
                .one(&state.db)
                .await?
                .is_some();
            if !lives_there {
                return Err(ApiError::NotFound("community"));
            }
            state
                .communities
                .get(&state.db, community_id)
                .await?
                .ok_or(ApiError::NotFound("community"))
        }
    }
}

/// A service the caller may read (its community's residents and staff).
pub async fn service_for(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<service::Model, ApiError> {
    let row = service::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("service"))?;
    community_for(state, principal, row.community_id)
        .await
        .map_err(|_| ApiError::NotFound("service"))?;
    Ok(row)
}

async fn team_in_scope(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<service_team::Model, ApiError> {
    let staff = principal.staff(ALL_STAFF)?;
    let row = service_team::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("service team"))?;
    // The community's company and the caller's scope, both.
    staff
        .community(state, row.community_id)
        .await
        .map_err(|_| ApiError::NotFound("service team"))?;
    Ok(row)
}

/// A team's slots of one day, written when first asked for.
pub async fn day_slots(
    state: &AppState,
    community: &community::Model,
    team: &service_team::Model,
    date: NaiveDate,
) -> Result<Vec<service_slot::Model>, ApiError> {
    let (_, hours, tz) = rules_of(community)?;
    let plan = SlotPlan::new(team.slot_minutes as u32, team.size as u32)
        .map_err(|(_, e)| anyhow::anyhow!("team {}: {}", team.id, e.0))?;
    let cut = plan.day(date, &hours, tz);
    Ok(slots::day(&state.db, team.id, &cut, team.size, state.clock.now()).await?)
}

fn trimmed(raw: &str, field: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(ApiError::invalid(field, "must not be blank"));
    }
    Ok(t.to_owned())
}

async fn member_ids(state: &AppState, team_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    Ok(service_team_member::Entity::find()
        .select_only()
        .column(service_team_member::Column::StaffId)
        .filter(service_team_member::Column::TeamId.eq(team_id))
        .order_by_asc(service_team_member::Column::StaffId)
        .into_tuple()
        .all(&state.db)
        .await?)
}

/// Checks a team's members: active staff of the community in the department's role, the
/// leader among them (added when missing); sorted, without repeats.
async fn members_of(
    state: &AppState,
    community_id: Uuid,
    department: Department,
    leader: Uuid,
    given: &[Uuid],
) -> Result<Vec<Uuid>, ApiError> {
    let mut ids: Vec<Uuid> = given.to_vec();
    ids.push(leader);
    ids.sort();
    ids.dedup();
    let working_there = sea_orm::sea_query::Query::select()
        .column(staff_community::Column::StaffId)
        .from(staff_community::Entity)
        .and_where(staff_community::Column::CommunityId.eq(community_id))
        .to_owned();
    let found: Vec<staff::Model> = staff::Entity::find()
        .filter(staff::Column::Id.is_in(ids.clone()))
        .filter(staff::Column::Active.eq(true))
        .filter(staff::Column::Id.in_subquery(working_there))
        .all(&state.db)
        .await?;
    let role = department.role();
    for id in &ids {
        let field = if *id == leader {
            "leader_id"
        } else {
            "member_ids"
        };
        match found.iter().find(|s| s.id == *id) {
            None => {
                return Err(ApiError::invalid(
                    field,
                    format!("{id}: no active staff member with this id works in the community"),
                ));
            }
            Some(s) if s.role != role.as_str() => {
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "{}: a {} team's members are {}s",
                        s.name,
                        department.as_str(),
                        role.as_str()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(ids)
}

async fn write_members(
    txn: &impl sea_orm::ConnectionTrait,
    team_id: Uuid,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    service_team_member::Entity::insert_many(ids.iter().map(|&staff_id| {
        service_team_member::ActiveModel {
            team_id: Set(team_id),
            staff_id: Set(staff_id),
        }
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(())
}
