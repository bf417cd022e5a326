//! A laundry order's round trip: picked up at the door with every item counted and its
//! condition recorded (the assignee's arrival), at the vendor with a return date, returned
//! and checked item by item (a missing or damaged item becomes a claim), delivered (the
//! booking completes, `flow::complete`). Claims on any booking, and their settlement.

use courtyard_domain::{
    entities::{booking, booking_claim, laundry_item, ticket},
    new_id,
    services::{
        ServiceCategory,
        laundry::{self, Checked, ClaimKind, ClaimState, CountedItem, LaundryStage, StageError},
    },
    tickets::{Action, EventAction, TicketState},
};
use courtyard_store::{
    bookings::{self as store, Change, laundry::Settlement},
    tickets::Transition,
};
use sea_orm::{ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use super::{
    dto::*,
    flow::{Loaded, Step, apply, load, step_entry, view},
};
use crate::{
    authz::Principal,
    error::ApiError,
    state::AppState,
    tickets::{self as tickets_api, actor_of, refusal},
};

/// A booking row's laundry step, if any.
pub(super) fn stage_of(b: &booking::Model) -> Option<LaundryStage> {
    b.laundry_stage
        .as_deref()
        .and_then(|s| LaundryStage::parse(s).ok())
}

/// A step out of order, as a problem.
pub(super) fn out_of_order(e: StageError) -> ApiError {
    ApiError::Conflict {
        kind: "laundry-step-out-of-order",
        detail: e.to_string(),
    }
}

fn photos(links: Option<&Vec<String>>) -> serde_json::Value {
    json!(links.cloned().unwrap_or_default())
}

/// Records a laundry order's next step.
pub(super) async fn step(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    body: &LaundryStep,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    // The team and the office record steps; refused before anything else is said.
    if !loaded.parties.iter().any(|p| {
        matches!(
            p,
            courtyard_domain::tickets::Party::Assignee
                | courtyard_domain::tickets::Party::Desk
                | courtyard_domain::tickets::Party::Manager
        )
    }) {
        return Err(ApiError::Forbidden(
            "only the team and the office record a laundry order's steps".into(),
        ));
    }
    if loaded.ticket.category != ServiceCategory::Laundry.as_str() {
        return Err(ApiError::Conflict {
            kind: "not-laundry",
            detail: "this booking is not a laundry order".into(),
        });
    }
    let stage = body.stage.get("stage")?;
    let b = loaded.booking.clone();
    match stage {
        LaundryStage::PickedUp => pick_up(state, principal, loaded, body).await,
        LaundryStage::AtVendor | LaundryStage::Returned => {
            let from = tickets_api::state_of(&loaded.ticket)?;
            laundry::may_step(stage, from, &loaded.parties).map_err(refusal)?;
            stage.follows(stage_of(&b)).map_err(out_of_order)?;
            let now = state.clock.now();
            let mut row = b.clone().into_active_model();
            row.laundry_stage = Set(Some(stage.as_str().into()));
            let mut change = Change::default();
            let data = if stage == LaundryStage::AtVendor {
                let today = now
                    .with_timezone(&crate::tickets::rules_of(&community(state, &b).await?)?.2)
                    .date_naive();
                let back = body.return_on.ok_or_else(|| {
                    ApiError::invalid("return_on", "say when the vendor returns it")
                })?;
                laundry::check_return_on(back, today)
                    .map_err(|e| ApiError::invalid("return_on", e.0))?;
                row.return_on = Set(Some(back));
                json!({ "stage": stage, "return_on": back })
            } else {
                let claims = check_return(state, principal, &b, body, &mut change, now).await?;
                json!({ "stage": stage, "items": claims })
            };
            change.booking = Some(row);
            let event = if stage == LaundryStage::AtVendor {
                EventAction::AtVendor
            } else {
                EventAction::Returned
            };
            let audit = principal
                .staff_audit("record_laundry_step", "booking")
                .map(|entry| step_entry(entry, &loaded.ticket, from, from, Some(&data)));
            let (ticket, booking, _) = store::apply(
                &state.db,
                Transition {
                    note: body.note.clone(),
                    data: Some(data),
                    audit,
                    ..same_state(&loaded.ticket, principal, from, event, now)
                },
                change,
                now,
            )
            .await
            .map_err(super::flow::book_error)?;
            view(state, &ticket, booking).await
        }
        LaundryStage::Delivered => Err(ApiError::invalid(
            "stage",
            "a laundry order is delivered by completing the booking (POST /v1/bookings/{id}/complete)",
        )),
    }
}

async fn community(
    state: &AppState,
    b: &booking::Model,
) -> Result<courtyard_domain::entities::community::Model, ApiError> {
    state
        .communities
        .get(&state.db, b.community_id)
        .await?
        .ok_or(ApiError::NotFound("community"))
}

/// The pickup: the assignee at the door (`arrive`), every item counted.
async fn pick_up(
    state: &AppState,
    principal: &Principal,
    loaded: Loaded,
    body: &LaundryStep,
) -> Result<Booking, ApiError> {
    tickets_api::check(state, &loaded.ticket, Action::Arrive, &loaded.parties).await?;
    let b = loaded.booking.clone();
    LaundryStage::PickedUp
        .follows(stage_of(&b))
        .map_err(out_of_order)?;
    let given = body.items.as_deref().unwrap_or_default();
    let counted: Vec<CountedItem> = given
        .iter()
        .map(|i| CountedItem {
            name: i.name.trim().into(),
            condition: i.condition.clone().unwrap_or_default().trim().into(),
        })
        .collect();
    laundry::check_items(&counted).map_err(|(f, e)| ApiError::invalid(f, e.0))?;
    let items: Vec<laundry_item::Model> = counted
        .into_iter()
        .zip(given)
        .enumerate()
        .map(|(n, (c, i))| laundry_item::Model {
            id: new_id(),
            booking_id: b.ticket_id,
            position: n as i32 + 1,
            name: c.name,
            condition_in: c.condition,
            photos_in: photos(i.photos.as_ref()),
            returned: None,
            damaged: None,
            condition_out: None,
            photos_out: None,
        })
        .collect();
    let count = items.len();
    let mut row = b.into_active_model();
    row.laundry_stage = Set(Some(LaundryStage::PickedUp.as_str().into()));
    let (ticket, booking, _) = apply(
        state,
        principal,
        loaded,
        Step {
            operation: "record_laundry_step",
            action: Action::Arrive,
            event: EventAction::PickedUp,
            note: body.note.clone(),
            data: Some(json!({ "stage": LaundryStage::PickedUp, "items": count })),
            meets: Some(courtyard_domain::tickets::ClockKind::Arrive),
            starts: None,
        },
        |t, now| t.arrived_at = Set(Some(now)),
        Change {
            booking: Some(row),
            items,
            ..Change::default()
        },
    )
    .await?;
    view(state, &ticket, booking).await
}

/// The return: every item checked; a missing or damaged one is recorded as a claim.
/// Returns how many claims it makes.
async fn check_return(
    state: &AppState,
    principal: &Principal,
    b: &booking::Model,
    body: &LaundryStep,
    change: &mut Change,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, ApiError> {
    let items = store::laundry::items(&state.db, b.ticket_id).await?;
    let checks = body.checks.as_deref().unwrap_or_default();
    for check in checks {
        if !items.iter().any(|i| i.id == check.item_id) {
            return Err(ApiError::invalid(
                "checks",
                format!("{} is not an item of this order", check.item_id),
            ));
        }
    }
    let unchecked: Vec<u32> = items
        .iter()
        .filter(|i| !checks.iter().any(|c| c.item_id == i.id))
        .map(|i| i.position as u32)
        .collect();
    if !unchecked.is_empty() {
        return Err(ApiError::invalid(
            "checks",
            format!("check every item; not checked: item {unchecked:?}"),
        ));
    }
    let actor = actor_of(principal);
    for check in checks {
        let item = items
            .iter()
            .find(|i| i.id == check.item_id)
            .expect("checked above");
        let mut active = item.clone().into_active_model();
        active.returned = Set(Some(check.returned));
        active.damaged = Set(Some(check.returned && check.damaged));
        active.condition_out = Set(check.condition.as_ref().map(|c| c.trim().to_owned()));
        active.photos_out = Set(Some(photos(check.photos.as_ref())));
        change.checks.push(active);
        let checked = Checked {
            present: check.returned,
            damaged: check.damaged,
        };
        if let Some(kind) = laundry::claim_of(checked) {
            let note = match (kind, &check.condition) {
                (ClaimKind::Missing, _) => {
                    format!("第 {} 件「{}」未随单返回", item.position, item.name)
                }
                (ClaimKind::Damaged, Some(c)) if !c.trim().is_empty() => {
                    format!(
                        "第 {} 件「{}」返回时损坏：{}",
                        item.position,
                        item.name,
                        c.trim()
                    )
                }
                (ClaimKind::Damaged, _) => {
                    format!("第 {} 件「{}」返回时损坏", item.position, item.name)
                }
            };
            change.claims.push(booking_claim::Model {
                id: new_id(),
                booking_id: b.ticket_id,
                item_id: Some(item.id),
                kind: kind.as_str().into(),
                note,
                photos: photos(check.photos.as_ref()),
                state: ClaimState::Open.as_str().into(),
                compensation_fen: None,
                resolution: None,
                raised_by_kind: actor.kind.as_str().into(),
                raised_by: actor.id,
                settled_by: None,
                created_at: now,
                settled_at: None,
            });
        }
    }
    Ok(change.claims.len())
}

/// Records a claim on a booking.
pub(super) async fn claim(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    body: &NewClaim,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    let from = tickets_api::state_of(&loaded.ticket)?;
    laundry::may_claim(from, &loaded.parties).map_err(refusal)?;
    let kind = body.kind.get("kind")?;
    if let Some(item) = body.item_id {
        let items = store::laundry::items(&state.db, id).await?;
        if !items.iter().any(|i| i.id == item) {
            return Err(ApiError::invalid("item_id", "not an item of this order"));
        }
        let claimed = store::laundry::claims(&state.db, id).await?;
        if claimed.iter().any(|c| c.item_id == Some(item)) {
            return Err(ApiError::Conflict {
                kind: "already-claimed",
                detail: "a claim on this item is recorded already".into(),
            });
        }
    }
    let now = state.clock.now();
    let actor = actor_of(principal);
    let claim = booking_claim::Model {
        id: new_id(),
        booking_id: id,
        item_id: body.item_id,
        kind: kind.as_str().into(),
        note: body.note.trim().into(),
        photos: photos(body.photos.as_ref()),
        state: ClaimState::Open.as_str().into(),
        compensation_fen: None,
        resolution: None,
        raised_by_kind: actor.kind.as_str().into(),
        raised_by: actor.id,
        settled_by: None,
        created_at: now,
        settled_at: None,
    };
    let event = same_state(
        &loaded.ticket,
        principal,
        from,
        EventAction::ClaimRecorded,
        now,
    );
    let audit = principal
        .staff_audit("create_booking_claim", "booking_claim")
        .map(|entry| {
            tickets_api::ticket_entry(entry, &loaded.ticket)
                .object(claim.id)
                .details(json!({
                    "booking_id": id,
                    "kind": kind,
                    "item_id": claim.item_id,
                }))
        });
    let (ticket, booking, _) = store::apply(
        &state.db,
        Transition {
            note: Some(claim.note.clone()),
            data: Some(json!({ "claim_id": claim.id, "kind": kind, "items": 1 })),
            audit,
            ..event
        },
        Change {
            claims: vec![claim],
            ..Change::default()
        },
        now,
    )
    .await
    .map_err(super::flow::book_error)?;
    view(state, &ticket, booking).await
}

/// An event that records something on the ticket without moving it.
fn same_state(
    row: &ticket::Model,
    principal: &Principal,
    state: TicketState,
    event: EventAction,
    now: chrono::DateTime<chrono::Utc>,
) -> Transition {
    let mut active = row.clone().into_active_model();
    active.updated_at = Set(now);
    Transition {
        row: row.clone(),
        active,
        actor: actor_of(principal),
        event,
        event_to: state,
        follow: None,
        from: state,
        to: state,
        note: None,
        data: None,
        meets: None,
        starts: None,
        audit: None,
    }
}

/// The office settles or rejects an open claim; the resident is told.
pub(super) async fn settle(
    state: &AppState,
    principal: &Principal,
    claim_id: Uuid,
    body: &ClaimSettlement,
) -> Result<BookingClaim, ApiError> {
    let staff = principal.staff(crate::authz::ROLL_KEEPERS)?;
    let claim = booking_claim::Entity::find_by_id(claim_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("claim"))?;
    // Scoped as its booking: 404 outside the caller's communities.
    let loaded = load(state, principal, claim.booking_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("claim"),
            other => other,
        })?;
    let to = body.state.get("state")?;
    if to == ClaimState::Open {
        return Err(ApiError::invalid(
            "state",
            "settle a claim as `settled` or `rejected`",
        ));
    }
    let now = state.clock.now();
    let from = tickets_api::state_of(&loaded.ticket)?;
    let txn = courtyard_store::begin_write(&state.db).await?;
    let settled = store::laundry::settle(
        &txn,
        claim.id,
        Settlement {
            state: to,
            compensation_fen: body.compensation_fen.filter(|_| to == ClaimState::Settled),
            resolution: body.resolution.trim(),
            by: staff.id,
        },
        now,
    )
    .await?;
    if !settled {
        return Err(ApiError::Conflict {
            kind: "claim-settled",
            detail: "this claim is settled already".into(),
        });
    }
    courtyard_store::tickets::record_event(
        &txn,
        courtyard_store::tickets::NewEvent {
            ticket_id: loaded.ticket.id,
            actor: actor_of(principal),
            action: EventAction::ClaimSettled,
            from: Some(from),
            to: Some(from),
            note: Some(body.resolution.trim().into()),
            data: Some(json!({
                "claim_id": claim.id,
                "state": to,
                "compensation_fen": body.compensation_fen,
            })),
        },
        now,
    )
    .await?;
    let entry = tickets_api::ticket_entry(
        staff.audit("settle_booking_claim", "booking_claim"),
        &loaded.ticket,
    )
    .object(claim.id)
    .details(json!({
        "booking_id": claim.booking_id,
        "state": to,
        "compensation_fen": body.compensation_fen.filter(|_| to == ClaimState::Settled),
    }));
    courtyard_store::audit::record(&txn, &entry).await?;
    txn.commit().await?;
    let saved = booking_claim::Entity::find_by_id(claim.id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("claim"))?;
    Ok(claim_dto(saved))
}
