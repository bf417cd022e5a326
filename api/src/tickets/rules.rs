//! Who acts, the community's rules, and who gets the work: butlers, staff in a
//! community, the least busy member of a department.

use super::*;

/// Who is acting, for the history.
pub(crate) fn actor_of(principal: &Principal) -> Actor {
    match principal {
        Principal::Resident(r) => Actor {
            kind: ActorKind::Resident,
            id: Some(r.id),
        },
        Principal::Staff(s) => Actor {
            kind: ActorKind::Staff,
            id: Some(s.id),
        },
    }
}

/// A community's policy, working hours and time zone.
pub fn rules_of(
    community: &community::Model,
) -> Result<(TicketPolicy, WorkingHours, chrono_tz::Tz), ApiError> {
    Ok(courtyard_domain::tickets::rules_of(community).map_err(|e| anyhow::anyhow!(e.0))?)
}

pub(super) async fn policy_of(
    state: &AppState,
    community_id: Uuid,
) -> Result<TicketPolicy, ApiError> {
    let community = community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("community"))?;
    Ok(rules_of(&community)?.0)
}

/// The butler of a household: assigned to it, else to its building.
pub async fn butler_of(
    state: &AppState,
    household: &household::Model,
) -> Result<Option<Uuid>, ApiError> {
    let active = staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .filter(staff::Column::Active.eq(true));
    // One statement: the assignments whose butler is active.
    let assignments = butler_assignment::Entity::find()
        .filter(
            Condition::any()
                .add(butler_assignment::Column::HouseholdId.eq(household.id))
                .add(butler_assignment::Column::BuildingId.eq(household.building_id)),
        )
        .filter(
            butler_assignment::Column::StaffId.in_subquery(sea_orm::QueryTrait::into_query(active)),
        )
        .order_by_asc(butler_assignment::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let pick = |household_level: bool| {
        assignments
            .iter()
            .filter(|a| a.household_id.is_some() == household_level)
            .map(|a| a.staff_id)
            .next()
    };
    Ok(pick(true).or_else(|| pick(false)))
}

/// An active staff member working in `community_id`.
pub(super) async fn staff_in(
    state: &AppState,
    community_id: Uuid,
    id: Uuid,
) -> Result<Option<staff::Model>, ApiError> {
    let Some(member) = staff::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|s| s.active)
    else {
        return Ok(None);
    };
    let works_there = staff_community::Entity::find_by_id((member.id, community_id))
        .one(&state.db)
        .await?
        .is_some();
    Ok(works_there.then_some(member))
}

/// The active staff member of `role` in a community with the fewest open tickets.
pub(super) async fn least_busy(
    state: &AppState,
    community_id: Uuid,
    role: StaffRole,
) -> Result<Option<Uuid>, ApiError> {
    let members: Vec<Uuid> = staff_community::Entity::find()
        .select_only()
        .column(staff_community::Column::StaffId)
        .filter(staff_community::Column::CommunityId.eq(community_id))
        .into_tuple()
        .all(&state.db)
        .await?;
    let candidates: Vec<Uuid> = staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .filter(staff::Column::Id.is_in(members))
        .filter(staff::Column::Role.eq(role.as_str()))
        .filter(staff::Column::Active.eq(true))
        .order_by_asc(staff::Column::Id)
        .into_tuple()
        .all(&state.db)
        .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    // Everyone's open work in one grouped query.
    let load: HashMap<Uuid, i64> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::AssigneeId)
        .column_as(ticket::Column::Id.count(), "open")
        .filter(ticket::Column::AssigneeId.is_in(candidates.clone()))
        .filter(ticket::Column::State.is_in(TicketState::IN_WORK.map(TicketState::as_str)))
        .group_by(ticket::Column::AssigneeId)
        .into_tuple::<(Uuid, i64)>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    // Fewest open tickets; ties go to the lowest id (candidates are in id order).
    Ok(candidates
        .into_iter()
        .min_by_key(|id| load.get(id).copied().unwrap_or(0)))
}
