//! Monthly packages in the database: a subscription takes every visit's slot place, writes
//! its month, its visits and its bill in one transaction (one full slot writes nothing); a
//! visit is issued as a booking of its own by the workers a few days ahead, exactly once
//! (a conditional update claims it); a cancellation gives back the places of the visits not
//! issued, and cancels the bill or refunds their share.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{bill, booking, package_visit, refund, service_package, service_team, ticket},
    fees::bills::BillState,
    services::{
        TimeStatus,
        packages::{PackageState, VisitStatus, visit_status},
    },
    tickets::{Clock, EventAction, TicketKind, TicketState},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::{BookError, NewBill, slots, write_bill};
use crate::{
    idempotency::{Claim, Saved},
    tickets::{self, Actor, NewTicket},
};

/// A package month to write: the row, its visits (each with the slot whose place it takes)
/// and its bill.
pub struct NewPackage<'a> {
    /// The month.
    pub package: &'a service_package::Model,
    /// Its visits.
    pub visits: &'a [package_visit::Model],
    /// Its bill.
    pub bill: &'a NewBill,
    /// The idempotency claim and the response to save under it.
    pub key: Option<(&'a Claim, &'a Saved)>,
    /// The month it renews: pointed at this one (a month renewed already refuses).
    pub renews: Option<Uuid>,
    /// The audit entry when staff subscribe or renew for the resident.
    pub audit: Option<&'a crate::audit::Entry>,
}

/// Why a package write did not happen.
#[derive(Debug)]
pub enum PackageError {
    /// The slot of the visit on this day has no place left.
    VisitFull(NaiveDate),
    /// The month renewed is renewed already, or no longer active.
    Renewed,
    /// The household has this package for this month already.
    Duplicate,
    /// A booking-level failure (refund, payment in progress, database).
    Book(BookError),
}

impl From<DbErr> for PackageError {
    fn from(e: DbErr) -> Self {
        Self::Book(BookError::Db(e))
    }
}

/// Subscribes (or renews): takes each visit's slot place, then writes the bill, the month
/// and its visits, all in one transaction.
pub async fn subscribe(db: &DatabaseConnection, new: NewPackage<'_>) -> Result<(), PackageError> {
    let txn = crate::begin_write(db).await?;
    if let Some((claim, saved)) = new.key {
        crate::idempotency::complete(&txn, claim, saved, new.package.created_at).await?;
    }
    for v in new.visits {
        if !slots::reserve(&txn, v.slot_id).await? {
            return Err(PackageError::VisitFull(v.visit_on));
        }
    }
    write_bill(&txn, new.bill).await?;
    let mut row = new.package.clone();
    row.bill_id = Some(new.bill.bill.id);
    if let Err(e) = row.into_active_model().insert(&txn).await {
        return Err(if crate::is_unique_violation(&e) {
            PackageError::Duplicate
        } else {
            e.into()
        });
    }
    package_visit::Entity::insert_many(new.visits.iter().cloned().map(|v| v.into_active_model()))
        .exec_without_returning(&txn)
        .await?;
    if let Some(previous) = new.renews {
        let done = service_package::Entity::update_many()
            .col_expr(
                service_package::Column::RenewedById,
                Expr::value(new.package.id),
            )
            .col_expr(
                service_package::Column::UpdatedAt,
                Expr::value(new.package.created_at),
            )
            .filter(service_package::Column::Id.eq(previous))
            .filter(service_package::Column::RenewedById.is_null())
            .filter(service_package::Column::State.ne(PackageState::Cancelled.as_str()))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            return Err(PackageError::Renewed);
        }
    }
    if let Some(entry) = new.audit {
        crate::audit::record(&txn, entry).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A package month's visits, in order.
pub async fn visits(
    conn: &impl ConnectionTrait,
    package_id: Uuid,
) -> Result<Vec<package_visit::Model>, DbErr> {
    package_visit::Entity::find()
        .filter(package_visit::Column::PackageId.eq(package_id))
        .order_by_asc(package_visit::Column::Position)
        .all(conn)
        .await
}

/// Each visit with where it stands (its booking's ticket state once issued).
pub async fn visit_statuses(
    conn: &impl ConnectionTrait,
    package: &service_package::Model,
    visits: &[package_visit::Model],
    now: DateTime<Utc>,
) -> Result<Vec<VisitStatus>, DbErr> {
    let ids: Vec<Uuid> = visits.iter().filter_map(|v| v.booking_id).collect();
    let states: Vec<(Uuid, String)> = if ids.is_empty() {
        Vec::new()
    } else {
        ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .column(ticket::Column::State)
            .filter(ticket::Column::Id.is_in(ids))
            .into_tuple()
            .all(conn)
            .await?
    };
    let open = package.state == PackageState::Active.as_str();
    Ok(visits
        .iter()
        .map(|v| {
            let state = v.booking_id.and_then(|id| {
                states
                    .iter()
                    .find(|(t, _)| *t == id)
                    .and_then(|(_, s)| TicketState::parse(s).ok())
            });
            visit_status(state, open, v.starts_at <= now)
        })
        .collect())
}

/// Visits whose booking is due to be issued: not issued, starting after `after` (a visit
/// whose time passed unissued lapses) and before `until`, of an active package (soonest
/// first, at most `limit`).
pub async fn due_visits(
    conn: &impl ConnectionTrait,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<package_visit::Model>, DbErr> {
    let active = service_package::Entity::find()
        .select_only()
        .column(service_package::Column::Id)
        .filter(service_package::Column::State.eq(PackageState::Active.as_str()));
    package_visit::Entity::find()
        .filter(package_visit::Column::BookingId.is_null())
        .filter(package_visit::Column::StartsAt.gt(after))
        .filter(package_visit::Column::StartsAt.lt(until))
        .filter(
            package_visit::Column::PackageId.in_subquery(sea_orm::QueryTrait::into_query(active)),
        )
        .order_by_asc(package_visit::Column::StartsAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Whether a package month's bill is paid.
pub async fn paid(conn: &impl ConnectionTrait, p: &service_package::Model) -> Result<bool, DbErr> {
    Ok(match p.bill_id {
        Some(id) => bill::Entity::find_by_id(id)
            .one(conn)
            .await?
            .is_some_and(|b| b.state == BillState::Paid.as_str()),
        None => false,
    })
}

/// A visit's booking: a ticket issued to the team's leader at once (its time is the
/// package's weekly slot, confirmed when subscribed), with its work clocks.
pub struct Visit<'a> {
    /// The month.
    pub package: &'a service_package::Model,
    /// The visit.
    pub visit: &'a package_visit::Model,
    /// The team doing it.
    pub team: &'a service_team::Model,
    /// The category (the service's).
    pub category: &'a str,
    /// When its slot ends.
    pub ends_at: DateTime<Utc>,
    /// The arrival and completion clocks.
    pub clocks: &'a [Clock],
}

/// Issues a visit's booking, once: the visit is claimed by a conditional update, then its
/// ticket (one `confirmed` event: the resident and the team leader are told) and booking
/// are written, in one transaction. `None` when it was issued meanwhile.
pub async fn issue(
    db: &DatabaseConnection,
    v: Visit<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let p = v.package;
    let id = courtyard_domain::new_id();
    let txn = crate::begin_write(db).await?;
    let claimed = package_visit::Entity::update_many()
        .col_expr(package_visit::Column::BookingId, Expr::value(id))
        .col_expr(package_visit::Column::IssuedAt, Expr::value(now))
        .filter(package_visit::Column::Id.eq(v.visit.id))
        .filter(package_visit::Column::BookingId.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(None);
    }
    let next_due = v.clocks.iter().map(|c| c.due_at).min();
    let row = ticket::Model {
        id,
        company_id: p.company_id,
        community_id: p.community_id,
        kind: TicketKind::ServiceBooking.as_str().into(),
        household_id: Some(p.household_id),
        resident_id: p.resident_id,
        registered_by: p.registered_by,
        source: p.source.clone(),
        category: v.category.into(),
        urgency: None,
        severity: None,
        location: None,
        description: format!(
            "{}：{} 月第 {} 次上门",
            p.service_name, p.period, v.visit.position
        ),
        preferred_from: Some(v.visit.starts_at),
        preferred_to: Some(v.ends_at),
        state: TicketState::Dispatched.as_str().into(),
        department: Some(v.team.department.clone()),
        assignee_id: Some(v.team.leader_id),
        butler_id: p.butler_id,
        price_fen: None,
        price_status: None,
        price_note: None,
        rework_count: 0,
        rating: None,
        satisfied: None,
        rating_comment: None,
        rated_via: None,
        rated_at: None,
        created_at: now,
        updated_at: now,
        dispatched_at: Some(now),
        answered_at: None,
        arrived_at: None,
        completed_at: None,
        closed_at: None,
        cancelled_at: None,
        next_due_at: next_due,
        breached: false,
    };
    tickets::create_in(
        &txn,
        NewTicket {
            row: &row,
            actor: Actor::SYSTEM,
            events: &[(EventAction::Confirmed, None, TicketState::Dispatched)],
            data: Some(serde_json::json!({
                "package_id": p.id,
                "visit": v.visit.position,
                "assignee_id": v.team.leader_id,
                "slot_id": v.visit.slot_id,
                "starts_at": v.visit.starts_at,
            })),
            clocks: v.clocks,
            key: None,
            audit: None,
        },
    )
    .await?;
    booking::Model {
        ticket_id: id,
        community_id: p.community_id,
        household_id: p.household_id,
        service_id: p.service_id,
        service_name: p.service_name.clone(),
        team_id: p.team_id,
        slot_id: v.visit.slot_id,
        starts_at: v.visit.starts_at,
        ends_at: v.ends_at,
        proposed_slot_id: None,
        time_status: TimeStatus::Confirmed.as_str().into(),
        confirmed_at: Some(now),
        pricing: courtyard_domain::services::Pricing::Package.as_str().into(),
        unit_fen: None,
        quantity: 1,
        pay: courtyard_domain::services::PayWhen::Before.as_str().into(),
        estimate_fen: None,
        worked_quantity: None,
        amount_fen: None,
        bill_id: None,
        cancel_fee_fen: None,
        refund_id: None,
        package_id: Some(p.id),
        laundry_stage: None,
        return_on: None,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(id))
}

/// What cancelling a package month writes besides its state.
pub struct PackageCancel {
    /// Cancel the open bill (by whom, why).
    pub cancel_bill: Option<(Uuid, Option<Uuid>, String)>,
    /// Refund this much of the paid bill's payment (payment, amount, why, who asked).
    pub refund: Option<(Uuid, i64, String, Uuid)>,
    /// The audit entry when staff cancel (`None` for the workers' and residents' own).
    pub audit: Option<crate::audit::Entry>,
}

/// Cancels an active package month: its state (conditional on it being active), the places
/// of the visits not issued given back, the bill cancelled or the refund reserved. `None`
/// when it was not active any more.
pub async fn cancel(
    db: &DatabaseConnection,
    p: &service_package::Model,
    change: PackageCancel,
    now: DateTime<Utc>,
) -> Result<Option<(service_package::Model, Option<refund::Model>)>, PackageError> {
    let txn = crate::begin_write(db).await?;
    let done = service_package::Entity::update_many()
        .col_expr(
            service_package::Column::State,
            Expr::value(PackageState::Cancelled.as_str()),
        )
        .col_expr(service_package::Column::CancelledAt, Expr::value(now))
        .col_expr(service_package::Column::UpdatedAt, Expr::value(now))
        .filter(service_package::Column::Id.eq(p.id))
        .filter(service_package::Column::State.eq(PackageState::Active.as_str()))
        .exec(&txn)
        .await?;
    if done.rows_affected == 0 {
        return Ok(None);
    }
    // The visits not issued: marked so the workers never issue them, their places back.
    let open: Vec<package_visit::Model> = package_visit::Entity::find()
        .filter(package_visit::Column::PackageId.eq(p.id))
        .filter(package_visit::Column::BookingId.is_null())
        .all(&txn)
        .await?;
    for v in &open {
        slots::release(&txn, v.slot_id).await?;
    }
    if let Some((bill_id, by, reason)) = &change.cancel_bill
        && !super::cancel_open_bill(&txn, *bill_id, *by, reason, now).await?
    {
        return Err(PackageError::Book(BookError::PaymentInProgress));
    }
    let refunded = match &change.refund {
        Some((payment_id, amount, reason, by)) => Some(
            crate::refunds::request_in(&txn, *payment_id, *amount, reason, *by, now)
                .await
                .map_err(|e| match e {
                    crate::refunds::RefundError::Db(e) => PackageError::from(e),
                    other => PackageError::Book(BookError::Refund(other)),
                })?,
        ),
        None => None,
    };
    // The state was set by the conditional update above; only the refund is left to point at.
    if let Some(r) = &refunded {
        service_package::Entity::update_many()
            .col_expr(service_package::Column::RefundId, Expr::value(r.id))
            .filter(service_package::Column::Id.eq(p.id))
            .exec(&txn)
            .await?;
    }
    let saved = service_package::Model {
        state: PackageState::Cancelled.as_str().into(),
        cancelled_at: Some(now),
        updated_at: now,
        refund_id: refunded.as_ref().map(|r| r.id).or(p.refund_id),
        ..p.clone()
    };
    if let Some(entry) = &change.audit {
        crate::audit::record(&txn, entry).await?;
    }
    txn.commit().await?;
    Ok(Some((saved, refunded)))
}

/// Active package months whose bill is still open and unpaid, made before `before`: the
/// candidates to cancel for want of payment (oldest first, at most `limit`).
pub async fn unpaid_before(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<service_package::Model>, DbErr> {
    service_package::Entity::find()
        .filter(service_package::Column::State.eq(PackageState::Active.as_str()))
        .filter(service_package::Column::CreatedAt.lt(before))
        .filter(service_package::Column::BillId.in_subquery(super::open_service_bills()))
        .order_by_asc(service_package::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Ends the active package months of periods before `period` (`YYYY-MM` sorts as text):
/// their visits not issued lapse. Returns how many.
pub async fn end_before(
    conn: &impl ConnectionTrait,
    period: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let done = service_package::Entity::update_many()
        .col_expr(
            service_package::Column::State,
            Expr::value(PackageState::Ended.as_str()),
        )
        .col_expr(service_package::Column::UpdatedAt, Expr::value(now))
        .filter(service_package::Column::State.eq(PackageState::Active.as_str()))
        .filter(service_package::Column::Period.lt(period))
        .exec(conn)
        .await?;
    Ok(done.rows_affected)
}
