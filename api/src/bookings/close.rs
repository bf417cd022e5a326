//! A booking's end: completed and charged (hours worked, items counted, the accepted
//! quote, the fixed price; billed when paid after), or cancelled with the policy's fee and
//! the refund of the rest. Both write through `store::bookings` in one transaction.

use courtyard_domain::{
    entities::{bill, payment, service},
    services::{
        PayWhen, Price, Pricing, ServiceCategory, TimeStatus, Worked, laundry::LaundryStage,
    },
    tickets::{Action, ClockKind, EventAction, TicketKind, callback_clock},
};
use courtyard_store::bookings::{self as store, Change, NewBill};
use sea_orm::{ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use super::{
    dto::*,
    flow::{Step, apply, load, rules, view},
};
use crate::{
    authz::Principal,
    error::{ApiError, FieldContext},
    services::policy_of,
    state::AppState,
    tickets::{self as tickets_api, actor_of},
};

/// The assignee completes the work: it is charged (hours worked, items counted, the
/// accepted quote, the fixed price) and, when paid after, billed; the callback clock starts.
pub(super) async fn complete(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    body: &Completion,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    // Refuse early (the wrong person, the wrong state, a quote not accepted).
    tickets_api::check(state, &loaded.ticket, Action::Complete, &loaded.parties).await?;
    let b = loaded.booking.clone();
    // Rework after an unsatisfied rating is not charged again: the first completion was.
    if b.amount_fen.is_some() {
        return complete_rework(state, principal, loaded, body).await;
    }
    // A laundry order is delivered once it is back and checked; it is charged for the
    // items that came back unless the assignee says otherwise.
    let laundry = loaded.ticket.category == ServiceCategory::Laundry.as_str();
    let mut returned_items = None;
    if laundry {
        LaundryStage::Delivered
            .follows(super::laundry::stage_of(&b))
            .map_err(super::laundry::out_of_order)?;
        let items = store::laundry::items(&state.db, b.ticket_id).await?;
        returned_items = Some(items.iter().filter(|i| i.returned == Some(true)).count() as u32);
    }
    let pricing = Pricing::parse(&b.pricing).map_err(|e| anyhow::anyhow!(e))?;
    // Charged at the price booked, with the service's minimum of hours.
    let min_quantity = service::Entity::find_by_id(b.service_id)
        .one(&state.db)
        .await?
        .map_or(1, |s| s.min_quantity.max(1) as u32);
    let price = Price {
        pricing,
        unit_fen: b.unit_fen,
        min_quantity,
    };
    let worked = match pricing {
        Pricing::Fixed | Pricing::Package => Worked::Job,
        Pricing::PerHour => Worked::Hours(body.hours.unwrap_or(b.quantity as u32)),
        Pricing::PerItem => Worked::Items(
            body.items
                .or(returned_items)
                .ok_or_else(|| ApiError::invalid("items", "say how many items there were"))?,
        ),
        Pricing::Quoted => Worked::Quote(loaded.ticket.price_fen.unwrap_or_default()),
    };
    let field = if pricing == Pricing::PerItem {
        "items"
    } else {
        "hours"
    };
    let amount = price.amount(worked).field(field)?;
    let quantity = match worked {
        Worked::Hours(h) => h.max(min_quantity),
        Worked::Items(n) => n,
        _ => 1,
    };
    let rules = rules(state, b.community_id).await?;
    let now = state.clock.now();
    let pay = PayWhen::parse(&b.pay).map_err(|e| anyhow::anyhow!(e))?;
    let bill = (pay == PayWhen::After).then(|| {
        let today = now.with_timezone(&rules.tz).date_naive();
        let due =
            today + chrono::Duration::days(i64::from(policy_of(&rules.community).pay_after_days));
        NewBill::new(
            &b,
            &b.service_name,
            pricing.unit(),
            i64::from(quantity),
            amount,
            &today.format("%Y-%m").to_string(),
            due,
            now,
        )
    });
    let mut row = b.clone().into_active_model();
    row.worked_quantity = Set(Some(quantity as i32));
    row.amount_fen = Set(Some(amount));
    if laundry {
        row.laundry_stage = Set(Some(LaundryStage::Delivered.as_str().into()));
    }
    let callback = callback_clock(
        TicketKind::ServiceBooking,
        now,
        &rules.tickets,
        &rules.hours,
        rules.tz,
    );
    let round = loaded.ticket.rework_count;
    let (ticket, booking, _) = apply(
        state,
        principal,
        loaded,
        Step {
            operation: "complete_booking",
            action: Action::Complete,
            event: EventAction::Completed,
            note: body.note.clone(),
            data: Some(json!({ "amount_fen": amount, "quantity": quantity })),
            meets: Some(ClockKind::Resolve),
            starts: Some((round, vec![callback])),
        },
        |t, now| t.completed_at = Set(Some(now)),
        Change {
            booking: Some(row),
            bill,
            ..Change::default()
        },
    )
    .await?;
    view(state, &ticket, booking).await
}

/// Completes the rework of a booking reopened after an unsatisfied rating: the callback
/// clock starts again; nothing more is charged.
async fn complete_rework(
    state: &AppState,
    principal: &Principal,
    loaded: super::flow::Loaded,
    body: &Completion,
) -> Result<Booking, ApiError> {
    let rules = rules(state, loaded.booking.community_id).await?;
    let now = state.clock.now();
    let callback = callback_clock(
        TicketKind::ServiceBooking,
        now,
        &rules.tickets,
        &rules.hours,
        rules.tz,
    );
    let round = loaded.ticket.rework_count;
    let (ticket, booking, _) = apply(
        state,
        principal,
        loaded,
        Step {
            operation: "complete_booking",
            action: Action::Complete,
            event: EventAction::Completed,
            note: body.note.clone(),
            data: Some(json!({ "rework": round })),
            meets: Some(ClockKind::Resolve),
            starts: Some((round, vec![callback])),
        },
        |t, now| t.completed_at = Set(Some(now)),
        Change::default(),
    )
    .await?;
    view(state, &ticket, booking).await
}

/// Cancels a booking: its slot places are given back; a resident cancelling a confirmed
/// booking after the free-cancellation notice pays the policy's fee (kept from a paid
/// booking's refund, or billed); a paid booking is refunded the rest through the payment's
/// refund path; an unpaid bill is cancelled.
pub(super) async fn cancel(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    note: Option<String>,
) -> Result<Booking, ApiError> {
    let loaded = load(state, principal, id).await?;
    tickets_api::check(state, &loaded.ticket, Action::Cancel, &loaded.parties).await?;
    let b = loaded.booking.clone();
    let rules = rules(state, b.community_id).await?;
    let policy = policy_of(&rules.community);
    let now = state.clock.now();
    let by_staff = matches!(principal, Principal::Staff(_));
    let confirmed = b.time_status == TimeStatus::Confirmed.as_str();
    let price = b.estimate_fen.or(loaded.ticket.price_fen);
    // A package's visit is skipped free of charge (it lapses, or carries over, by policy).
    let free = by_staff || !confirmed || b.package_id.is_some();
    let terms = policy.cancellation(b.starts_at, now, free, price);
    let bill = match b.bill_id {
        Some(id) => bill::Entity::find_by_id(id).one(&state.db).await?,
        None => None,
    };
    let actor = actor_of(principal).id;
    let reason = note.clone().unwrap_or_else(|| "预约已取消".into());
    let mut change = Change {
        release: std::iter::once(b.slot_id)
            .chain(b.proposed_slot_id)
            .collect(),
        ..Change::default()
    };
    let mut paid_by: Option<payment::Model> = None;
    match bill {
        Some(bill) if bill.state == "paid" => {
            let payment = match bill.payment_id {
                Some(p) => payment::Entity::find_by_id(p).one(&state.db).await?,
                None => None,
            }
            .ok_or_else(|| anyhow::anyhow!("paid bill {} has no payment", bill.id))?;
            let back = bill.amount_fen - terms.fee_fen;
            if back > 0 {
                change.refund = Some((
                    payment.id,
                    back,
                    if terms.fee_fen > 0 {
                        format!(
                            "预约取消退款（扣除取消费 {}）",
                            courtyard_domain::money::yuan(terms.fee_fen)
                        )
                    } else {
                        "预约取消退款".into()
                    },
                    actor.unwrap_or_default(),
                ));
            }
            paid_by = Some(payment);
        }
        Some(bill) if bill.state == "open" => {
            change.cancel_bill = Some((bill.id, actor, reason.clone()));
        }
        _ if terms.fee_fen > 0 => {
            // Paid after the work: the late cancellation's fee is billed.
            let today = now.with_timezone(&rules.tz).date_naive();
            change.bill = Some(NewBill::new(
                &b,
                &format!("{}（逾时取消费）", b.service_name),
                "item",
                1,
                terms.fee_fen,
                &today.format("%Y-%m").to_string(),
                today + chrono::Duration::days(i64::from(policy.pay_after_days)),
                now,
            ));
        }
        _ => {}
    }
    let mut row = b.clone().into_active_model();
    if terms.fee_fen > 0 {
        row.cancel_fee_fen = Set(Some(terms.fee_fen));
    }
    change.booking = Some(row);
    let (ticket, booking, refund) = apply(
        state,
        principal,
        loaded,
        Step {
            operation: "cancel_booking",
            action: Action::Cancel,
            event: EventAction::Cancelled,
            note,
            data: Some(json!({ "late": terms.late, "fee_fen": terms.fee_fen })),
            meets: None,
            starts: None,
        },
        |t, now| t.cancelled_at = Set(Some(now)),
        change,
    )
    .await?;
    if let (Some(refund), Some(payment)) = (refund, paid_by) {
        // Committed with the cancellation; the provider is asked now, and the
        // reconciliation job asks again with the same refund number if it cannot be reached.
        crate::payments::refunds::send(state, &payment, refund).await?;
    }
    view(state, &ticket, booking).await
}
