//! A booking's steps: book a slot, confirm the time (or propose another slot and have the
//! resident answer), complete and charge, cancel with the policy's fee and the refund of the
//! rest. Each checks the ticket state machine and writes through `store::bookings` in one
//! transaction; the other steps (accept, arrive, quote, rate, callback) are the tickets
//! area's, as for repairs.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{bill, booking, community, service, service_slot, service_team, ticket},
    services::{PayWhen, Price, Pricing, ServiceCategory, TimeStatus},
    tickets::{
        Action, Clock, ClockKind, EventAction, Party, TicketKind, TicketPolicy, TicketState,
        transition,
    },
};
use courtyard_store::{
    bookings::{self as store, BookError, Change, NewBill},
    idempotency::Claim,
    tickets::{NewTicket, Transition},
};
use sea_orm::{ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use super::dto::*;
use crate::{
    authz::Principal,
    error::{ApiError, FieldContext},
    idempotency,
    services::{policy_of, service_for},
    state::AppState,
    tickets::{self as tickets_api, Reporter, actor_of, butler_of, refusal, rules_of},
    vocab::Vocab,
};

/// A booking as loaded for a step: its ticket, the caller's capacities, its row.
pub(super) struct Loaded {
    pub(super) ticket: ticket::Model,
    pub(super) parties: Vec<Party>,
    pub(super) booking: booking::Model,
}

/// Loads a booking the caller may see (as its ticket: 404 outside their scope).
pub(super) async fn load(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Loaded, ApiError> {
    let (ticket, parties) = tickets_api::load(state, principal, id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("booking"),
            other => other,
        })?;
    let booking = booking::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("booking"))?;
    Ok(Loaded {
        ticket,
        parties,
        booking,
    })
}

/// The API form of a loaded booking: its bill's state and a proposed slot's times.
pub(super) async fn view(
    state: &AppState,
    ticket: &ticket::Model,
    booking: booking::Model,
) -> Result<Booking, ApiError> {
    let paid = match booking.bill_id {
        Some(id) => bill::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .is_some_and(|b| b.state == "paid"),
        None => false,
    };
    let proposed = match booking.proposed_slot_id {
        Some(id) => service_slot::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|s| (s.starts_at, s.ends_at)),
        None => None,
    };
    let laundry = (ticket.category == ServiceCategory::Laundry.as_str()).then(|| {
        (
            booking.laundry_stage.as_deref().map(Vocab::stored),
            booking.return_on,
        )
    });
    let id = booking.ticket_id;
    let mut dto = booking_dto(booking, ticket, paid, proposed);
    if let Some((stage, return_on)) = laundry {
        dto.laundry = Some(LaundryOrder {
            stage,
            return_on,
            items: store::laundry::items(&state.db, id)
                .await?
                .into_iter()
                .map(laundry_item_dto)
                .collect(),
        });
    }
    dto.claims = store::laundry::claims(&state.db, id)
        .await?
        .into_iter()
        .map(claim_dto)
        .collect();
    Ok(dto)
}

pub(crate) fn book_error(e: BookError) -> ApiError {
    match e {
        BookError::SlotFull => ApiError::Conflict {
            kind: "slot-full",
            detail: "this slot has no place left; choose another".into(),
        },
        BookError::Changed => ApiError::Conflict {
            kind: "changed-meanwhile",
            detail: "the booking changed while you were acting on it; reload and try again".into(),
        },
        BookError::PaymentInProgress => ApiError::Conflict {
            kind: "payment-in-progress",
            detail: "a payment of this booking is in progress; finish it or try again when it has expired"
                .into(),
        },
        BookError::Refund(e) => ApiError::Conflict {
            kind: "payment-not-refundable",
            detail: format!("the booking's payment cannot be refunded: {e:?}"),
        },
        BookError::Db(e) => e.into(),
    }
}

/// The community's rules a booking step needs.
pub(super) struct Rules {
    pub(super) community: community::Model,
    pub(super) tickets: TicketPolicy,
    pub(super) hours: courtyard_domain::org::WorkingHours,
    pub(super) tz: chrono_tz::Tz,
}

pub(super) async fn rules(state: &AppState, community_id: Uuid) -> Result<Rules, ApiError> {
    let community = state
        .communities
        .get(&state.db, community_id)
        .await?
        .ok_or(ApiError::NotFound("community"))?;
    let (tickets, hours, tz) = rules_of(&community)?;
    Ok(Rules {
        community,
        tickets,
        hours,
        tz,
    })
}

/// Books a slot (the work behind `create_booking`, after its key is claimed).
pub(super) async fn book(
    state: &AppState,
    principal: &Principal,
    body: &NewBooking,
    claim: Option<&Claim>,
) -> Result<Booking, ApiError> {
    let reporter = Reporter::resolve(
        state,
        principal,
        Some(body.household_id),
        None,
        body.resident_id,
        None,
    )
    .await?;
    let household = reporter
        .household
        .as_ref()
        .ok_or(ApiError::NotFound("household"))?;
    let service: service::Model = service_for(state, principal, body.service_id)
        .await
        .map_err(|_| {
            ApiError::invalid("service_id", "no such service in the household's community")
        })?;
    if service.community_id != household.community_id {
        return Err(ApiError::invalid(
            "service_id",
            "no such service in the household's community",
        ));
    }
    let team = service_team::Entity::find_by_id(service.team_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("service team"))?;
    if !service.active || !team.active {
        return Err(ApiError::invalid(
            "service_id",
            "this service is not offered now",
        ));
    }
    let slot = service_slot::Entity::find_by_id(body.slot_id)
        .one(&state.db)
        .await?
        .filter(|s| s.team_id == team.id)
        .ok_or_else(|| ApiError::invalid("slot_id", "not one of this service's slots"))?;
    let rules = rules(state, household.community_id).await?;
    let policy = policy_of(&rules.community);
    let now = state.clock.now();
    policy
        .bookable(slot.starts_at, now)
        .map_err(|e| ApiError::invalid("slot_id", e))?;
    let pricing = Pricing::parse(&service.pricing).map_err(|e| anyhow::anyhow!(e))?;
    if pricing == Pricing::Package {
        return Err(ApiError::invalid(
            "service_id",
            "a monthly package is subscribed to with POST /v1/packages, not booked visit by visit",
        ));
    }
    let price = Price::new(
        pricing,
        service.price_fen,
        Some(service.min_quantity as u32),
    )
    .map_err(|(_, e)| anyhow::anyhow!("service {}: {}", service.id, e.0))?;
    let quantity = price.quantity(body.hours).field("hours")?;
    let pay = PayWhen::parse(&service.pay).map_err(|e| anyhow::anyhow!(e))?;
    let estimate = price.estimate(quantity);

    let notes = body.notes.as_deref().unwrap_or_default();
    let mut row = reporter.new_ticket(TicketKind::ServiceBooking, &service.category, notes, now);
    row.department = Some(team.department.clone());
    row.preferred_from = Some(slot.starts_at);
    row.preferred_to = Some(slot.ends_at);
    row.butler_id = butler_of(state, household).await?;
    let confirm = policy.confirm_clock(now, &rules.hours, rules.tz);
    let clocks = [Clock::spanning(
        confirm.kind,
        confirm.started_at,
        confirm.due_at,
        &rules.tickets,
    )];
    row.next_due_at = Some(confirm.due_at);
    let booked = booking::Model {
        ticket_id: row.id,
        community_id: household.community_id,
        household_id: household.id,
        service_id: service.id,
        service_name: service.name.clone(),
        team_id: team.id,
        slot_id: slot.id,
        starts_at: slot.starts_at,
        ends_at: slot.ends_at,
        proposed_slot_id: None,
        time_status: TimeStatus::Requested.as_str().into(),
        confirmed_at: None,
        pricing: pricing.as_str().into(),
        unit_fen: price.unit_fen,
        quantity: quantity as i32,
        pay: pay.as_str().into(),
        estimate_fen: estimate,
        worked_quantity: None,
        amount_fen: None,
        bill_id: None,
        cancel_fee_fen: None,
        refund_id: None,
        package_id: None,
        laundry_stage: None,
        return_on: None,
        created_at: now,
        updated_at: now,
    };
    // Paid at booking: its bill is due today; the time is confirmed once it is paid.
    let bill = match (pay, estimate) {
        (PayWhen::Before, Some(amount)) => {
            let today = now.with_timezone(&rules.tz).date_naive();
            Some(NewBill::new(
                &booked,
                &service.name,
                pricing.unit(),
                i64::from(quantity),
                amount,
                &slot
                    .starts_at
                    .with_timezone(&rules.tz)
                    .format("%Y-%m")
                    .to_string(),
                today,
                now,
            ))
        }
        _ => None,
    };
    let mut saved_row = booked.clone();
    saved_row.bill_id = bill.as_ref().map(|b| b.bill.id);
    let dto = booking_dto(saved_row, &row, false, None);
    let saved = claim.map(|_| idempotency::saved(201, &dto));
    let key = claim.zip(saved.as_ref());
    let data = reporter
        .registered_by
        .map(|by| json!({ "registered_by": by }));
    // The front desk booking for a resident; a resident's own booking is in its history.
    let audit = principal
        .staff_audit("create_booking", "booking")
        .map(|entry| {
            tickets_api::ticket_entry(entry, &row).details(json!({
                "household_id": household.id,
                "service_id": service.id,
                "slot_id": slot.id,
                "starts_at": slot.starts_at,
                "estimate_fen": estimate,
                "bill_id": bill.as_ref().map(|b| b.bill.id),
            }))
        });
    store::create(
        &state.db,
        store::NewBooking {
            ticket: NewTicket {
                row: &row,
                actor: actor_of(principal),
                events: &[(EventAction::Reported, None, TicketState::Submitted)],
                data,
                clocks: &clocks,
                key,
                audit: audit.as_ref(),
            },
            booking: &booked,
            bill: bill.as_ref(),
        },
    )
    .await
    .map_err(book_error)?;
    tracing::info!(booking = %row.id, service = %service.id, slot = %slot.id, "service booked");
    Ok(dto)
}

/// One booking step: the state machine's check, then the ticket's transition and the
/// booking's change in one transaction.
pub(super) struct Step {
    /// The operation taking it, as the audit trail names a staff member's step.
    pub(super) operation: &'static str,
    pub(super) action: Action,
    pub(super) event: EventAction,
    pub(super) note: Option<String>,
    pub(super) data: Option<serde_json::Value>,
    pub(super) meets: Option<ClockKind>,
    pub(super) starts: Option<(i32, Vec<Clock>)>,
}

pub(super) async fn apply(
    state: &AppState,
    principal: &Principal,
    loaded: Loaded,
    step: Step,
    ticket_change: impl FnOnce(&mut ticket::ActiveModel, DateTime<Utc>),
    change: Change,
) -> Result<
    (
        ticket::Model,
        booking::Model,
        Option<courtyard_domain::entities::refund::Model>,
    ),
    ApiError,
> {
    let Loaded {
        ticket, parties, ..
    } = loaded;
    let from = tickets_api::state_of(&ticket)?;
    let facts = tickets_api::facts(state, &ticket).await?;
    let to = transition(from, step.action, &parties, facts).map_err(refusal)?;
    let now = state.clock.now();
    let mut active = ticket.clone().into_active_model();
    active.state = Set(to.as_str().into());
    active.updated_at = Set(now);
    ticket_change(&mut active, now);
    let id = ticket.id;
    let audit = principal
        .staff_audit(step.operation, "booking")
        .map(|entry| step_entry(entry, &ticket, from, to, step.data.as_ref()));
    let saved = store::apply(
        &state.db,
        Transition {
            row: ticket,
            active,
            actor: actor_of(principal),
            event: step.event,
            event_to: to,
            follow: None,
            from,
            to,
            note: step.note,
            data: step.data,
            meets: step.meets,
            starts: step.starts,
            audit,
        },
        change,
        now,
    )
    .await
    .map_err(book_error)?;
    tracing::info!(booking = %id, action = step.action.name(), from = %from, to = %to, "booking step");
    Ok(saved)
}

/// A staff member's booking step on the audit trail: the booking, its community and
/// resident, the states it moved between and the step's data.
pub(super) fn step_entry(
    entry: courtyard_store::audit::Entry,
    ticket: &ticket::Model,
    from: TicketState,
    to: TicketState,
    data: Option<&serde_json::Value>,
) -> courtyard_store::audit::Entry {
    tickets_api::ticket_entry(entry, ticket).details(json!({
        "from": from.as_str(),
        "to": to.as_str(),
        "step": data,
    }))
}

/// The clocks a confirmed time starts: at the door, done.
fn work_clocks(
    rules: &Rules,
    at: DateTime<Utc>,
    slot: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<Clock> {
    policy_of(&rules.community)
        .work_clocks(at, slot, &rules.hours, rules.tz)
        .iter()
        .map(|c| Clock::spanning(c.kind, c.started_at, c.due_at, &rules.tickets))
        .collect()
}

/// Staff confirm the time asked for: the order goes to the team's leader.
pub(super) async fn confirm(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    note: Option<String>,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    let b = loaded.booking.clone();
    let team = team_of(state, &b).await?;
    let rules = rules(state, b.community_id).await?;
    let now = state.clock.now();
    let leader = team.leader_id;
    let mut row = b.clone().into_active_model();
    confirmed(&mut row, now);
    let (ticket, booking, _) = apply(
        state,
        principal,
        loaded,
        Step {
            operation: "confirm_booking",
            action: Action::ConfirmTime,
            event: EventAction::Confirmed,
            note,
            data: Some(
                json!({ "assignee_id": leader, "slot_id": b.slot_id, "starts_at": b.starts_at }),
            ),
            meets: Some(ClockKind::Confirm),
            starts: Some((0, work_clocks(&rules, now, (b.starts_at, b.ends_at)))),
        },
        issue_to(&team, None),
        Change {
            booking: Some(row),
            ..Change::default()
        },
    )
    .await?;
    view(state, &ticket, booking).await
}

/// Staff propose another slot of the same team; it holds a place until the resident
/// answers (a slot proposed before gives its place back).
pub(super) async fn propose(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    body: &Proposal,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    let b = loaded.booking.clone();
    // Refuse early, before looking at the slot, when the step is not allowed.
    tickets_api::check(state, &loaded.ticket, Action::ProposeTime, &loaded.parties).await?;
    let slot = service_slot::Entity::find_by_id(body.slot_id)
        .one(&state.db)
        .await?
        .filter(|s| s.team_id == b.team_id)
        .ok_or_else(|| ApiError::invalid("slot_id", "not a slot of the booking's team"))?;
    if slot.id == b.slot_id || Some(slot.id) == b.proposed_slot_id {
        return Err(ApiError::invalid(
            "slot_id",
            "propose a slot other than the one held",
        ));
    }
    let community = rules(state, b.community_id).await?.community;
    policy_of(&community)
        .bookable(slot.starts_at, state.clock.now())
        .map_err(|e| ApiError::invalid("slot_id", e))?;
    let mut row = b.clone().into_active_model();
    row.proposed_slot_id = Set(Some(slot.id));
    row.time_status = Set(TimeStatus::Proposed.as_str().into());
    let (ticket, booking, _) = apply(
        state,
        principal,
        loaded,
        Step {
            operation: "propose_booking_slot",
            action: Action::ProposeTime,
            event: EventAction::TimeProposed,
            note: body.note.clone(),
            data: Some(json!({ "slot_id": slot.id, "starts_at": slot.starts_at, "from_slot_id": b.slot_id })),
            meets: Some(ClockKind::Confirm),
            starts: None,
        },
        |_, _| {},
        Change {
            reserve: Some(slot.id),
            release: b.proposed_slot_id.into_iter().collect(),
            booking: Some(row),
            ..Change::default()
        },
    )
    .await?;
    view(state, &ticket, booking).await
}

/// The resident takes the proposed slot (the first gives its place back, the order goes to
/// the team's leader) or declines it (the proposed slot gives its place back, and the
/// time is to be confirmed again).
pub(super) async fn answer(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    body: &ProposalAnswer,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    let b = loaded.booking.clone();
    let rules = rules(state, b.community_id).await?;
    let now = state.clock.now();
    let proposed = match b.proposed_slot_id {
        Some(slot) => {
            service_slot::Entity::find_by_id(slot)
                .one(&state.db)
                .await?
        }
        None => None,
    };
    let action = Action::AnswerTime {
        accept: body.accept,
    };
    let Some(proposed) = proposed else {
        // Nothing proposed: the state machine names why.
        tickets_api::check(state, &loaded.ticket, action, &loaded.parties).await?;
        return Err(refusal(
            courtyard_domain::tickets::TransitionError::NoTimeToAnswer,
        ));
    };
    let mut row = b.clone().into_active_model();
    row.proposed_slot_id = Set(None);
    let (ticket, booking, _) = if body.accept {
        let team = team_of(state, &b).await?;
        let leader = team.leader_id;
        row.slot_id = Set(proposed.id);
        row.starts_at = Set(proposed.starts_at);
        row.ends_at = Set(proposed.ends_at);
        confirmed(&mut row, now);
        let slot = (proposed.starts_at, proposed.ends_at);
        apply(
            state,
            principal,
            loaded,
            Step {
                operation: "answer_booking_proposal",
                action,
                event: EventAction::TimeAccepted,
                note: body.note.clone(),
                data: Some(json!({ "assignee_id": leader, "slot_id": proposed.id, "starts_at": proposed.starts_at })),
                meets: None,
                starts: Some((0, work_clocks(&rules, now, slot))),
            },
            issue_to(&team, Some(slot)),
            Change {
                release: vec![b.slot_id],
                booking: Some(row),
                ..Change::default()
            },
        )
        .await?
    } else {
        row.time_status = Set(TimeStatus::Requested.as_str().into());
        let confirm = policy_of(&rules.community).confirm_clock(now, &rules.hours, rules.tz);
        apply(
            state,
            principal,
            loaded,
            Step {
                operation: "answer_booking_proposal",
                action,
                event: EventAction::TimeDeclined,
                note: body.note.clone(),
                data: Some(json!({ "slot_id": proposed.id })),
                meets: None,
                starts: Some((
                    0,
                    vec![Clock::spanning(
                        confirm.kind,
                        confirm.started_at,
                        confirm.due_at,
                        &rules.tickets,
                    )],
                )),
            },
            |_, _| {},
            Change {
                release: vec![proposed.id],
                booking: Some(row),
                ..Change::default()
            },
        )
        .await?
    };
    view(state, &ticket, booking).await
}

/// A booking row's time, confirmed at `now`.
fn confirmed(row: &mut booking::ActiveModel, now: DateTime<Utc>) {
    row.time_status = Set(TimeStatus::Confirmed.as_str().into());
    row.confirmed_at = Set(Some(now));
}

/// The ticket's change when its work order is issued to the team's leader (at the slot
/// given when it moved).
fn issue_to(
    team: &service_team::Model,
    slot: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> impl FnOnce(&mut ticket::ActiveModel, DateTime<Utc>) + use<> {
    let (leader, department) = (team.leader_id, team.department.clone());
    move |t, now| {
        t.assignee_id = Set(Some(leader));
        t.department = Set(Some(department));
        t.dispatched_at = Set(Some(now));
        if let Some((from, to)) = slot {
            t.preferred_from = Set(Some(from));
            t.preferred_to = Set(Some(to));
        }
    }
}

async fn team_of(state: &AppState, b: &booking::Model) -> Result<service_team::Model, ApiError> {
    service_team::Entity::find_by_id(b.team_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("service team"))
}
