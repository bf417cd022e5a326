//! Service bookings in the database: a booking is a ticket (kind `service_booking`) with a
//! `bookings` row, a place in a slot and, when it is paid for, a bill of its own. Each step
//! writes the ticket's transition (`tickets::apply_in`), the slot places it takes or gives
//! back, the booking's columns and its bill in one transaction, so a full slot, a changed
//! ticket or a failed write leaves nothing half done.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{bill, bill_line, booking, booking_claim, laundry_item, refund, ticket},
    fees::bills::BillState,
    new_id,
    services::{PayWhen, Pricing, TimeStatus},
    tickets::{BookingFacts, Facts, TicketKind},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use crate::tickets::{self, NewTicket, Transition};

pub mod laundry;
pub mod packages;
pub mod slots;

/// Why a booking write did not happen.
#[derive(Debug)]
pub enum BookError {
    /// The slot has no place left.
    SlotFull,
    /// The ticket changed since it was checked.
    Changed,
    /// The booking's bill is held by a payment in progress.
    PaymentInProgress,
    /// The refund could not be reserved on the payment (refunded already).
    Refund(crate::refunds::RefundError),
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for BookError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// A ticket read as the state machine's facts; a booking's with its time, pricing and
/// whether a booking paid before is still unpaid.
pub async fn facts(conn: &impl ConnectionTrait, row: &ticket::Model) -> Result<Facts, DbErr> {
    let mut facts = tickets::facts_of(row).map_err(|e| DbErr::Custom(e.0))?;
    if facts.kind == TicketKind::ServiceBooking {
        let b = booking::Entity::find_by_id(row.id)
            .one(conn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("booking {}", row.id)))?;
        let bill_state = match b.bill_id {
            Some(id) => bill::Entity::find_by_id(id)
                .one(conn)
                .await?
                .map(|b| b.state),
            None => None,
        };
        facts.booking =
            Some(booking_facts(&b, bill_state.as_deref()).map_err(|e| DbErr::Custom(e.0))?);
    }
    Ok(facts)
}

/// A booking row (and its bill's state) as the state machine's facts.
pub fn booking_facts(
    b: &booking::Model,
    bill_state: Option<&str>,
) -> Result<BookingFacts, courtyard_domain::people::InvalidValue> {
    Ok(BookingFacts {
        time: TimeStatus::parse(&b.time_status)?,
        quoted: Pricing::parse(&b.pricing)? == Pricing::Quoted,
        // A package's visit is paid with its month, before it is issued.
        unpaid: PayWhen::parse(&b.pay)? == PayWhen::Before
            && b.package_id.is_none()
            && bill_state != Some(BillState::Paid.as_str()),
    })
}

/// A booking's bill: one line for the service, due on `due_on`, in the month `period`.
#[derive(Debug, Clone)]
pub struct NewBill {
    /// The bill.
    pub bill: bill::Model,
    /// Its one line.
    pub line: bill_line::Model,
}

impl NewBill {
    /// The bill of `amount_fen` for `name` (`quantity` of `unit` at `unit_fen` each, or
    /// one item), for a booking's household.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &booking::Model,
        name: &str,
        unit: &str,
        quantity: i64,
        amount_fen: i64,
        period: &str,
        due_on: NaiveDate,
        now: DateTime<Utc>,
    ) -> Self {
        Self::for_household(
            (b.community_id, b.household_id),
            name,
            unit,
            quantity,
            amount_fen,
            period,
            due_on,
            now,
        )
    }

    /// The same, for a household given by its community and id (a package month's bill).
    #[allow(clippy::too_many_arguments)]
    pub fn for_household(
        (community_id, household_id): (Uuid, Uuid),
        name: &str,
        unit: &str,
        quantity: i64,
        amount_fen: i64,
        period: &str,
        due_on: NaiveDate,
        now: DateTime<Utc>,
    ) -> Self {
        let id = new_id();
        let unit_price = if quantity > 0 {
            amount_fen * 100 / quantity
        } else {
            amount_fen * 100
        };
        Self {
            bill: bill::Model {
                id,
                community_id,
                household_id,
                period: period.into(),
                kind: bill::KIND_SERVICE.into(),
                state: BillState::Open.as_str().into(),
                amount_fen,
                due_on,
                run_id: None,
                replaces_id: None,
                issued_at: now,
                closed_at: None,
                closed_by: None,
                close_reason: None,
                payment_id: None,
                late_fee_waived_at: None,
                late_fee_waived_by: None,
                late_fee_waive_reason: None,
                updated_at: now,
            },
            line: bill_line::Model {
                id: new_id(),
                bill_id: id,
                position: 1,
                fee_item_id: None,
                charge_id: None,
                name: name.into(),
                band: None,
                unit: unit.into(),
                quantity_milli: quantity * 1_000,
                unit_price_centi_fen: unit_price,
                amount_fen,
            },
        }
    }
}

async fn write_bill(conn: &impl ConnectionTrait, new: &NewBill) -> Result<(), DbErr> {
    bill::Entity::insert(new.bill.clone().into_active_model())
        .exec_without_returning(conn)
        .await?;
    crate::fees::insert::lines(conn, std::slice::from_ref(&new.line)).await
}

/// A new booking: its ticket, its row, and its bill when it is paid at booking.
pub struct NewBooking<'a> {
    /// The ticket, its `reported` event, its confirmation clock and the idempotency claim.
    pub ticket: NewTicket<'a>,
    /// The booking row.
    pub booking: &'a booking::Model,
    /// The bill to pay now, for a booking paid before.
    pub bill: Option<&'a NewBill>,
}

/// Writes a new booking in one transaction, taking its slot's place first: a full slot
/// writes nothing.
pub async fn create(db: &DatabaseConnection, new: NewBooking<'_>) -> Result<(), BookError> {
    let txn = crate::begin_write(db).await?;
    if !slots::reserve(&txn, new.booking.slot_id).await? {
        return Err(BookError::SlotFull);
    }
    if let Some(bill) = new.bill {
        write_bill(&txn, bill).await?;
    }
    tickets::create_in(&txn, new.ticket).await?;
    let mut row = new.booking.clone();
    row.bill_id = new.bill.map(|b| b.bill.id);
    row.into_active_model().insert(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// What a booking step writes besides the ticket's transition.
#[derive(Debug, Default)]
pub struct Change {
    /// A slot whose place to take (a proposed slot); a full one refuses the step.
    pub reserve: Option<Uuid>,
    /// Slots whose places to give back.
    pub release: Vec<Uuid>,
    /// The booking's columns that change (`updated_at` is set here).
    pub booking: Option<booking::ActiveModel>,
    /// A bill to issue (the amount due after the work, a late cancellation's fee); the
    /// booking is pointed at it.
    pub bill: Option<NewBill>,
    /// An open bill to cancel (an unpaid booking cancelled), by whom and why.
    pub cancel_bill: Option<(Uuid, Option<Uuid>, String)>,
    /// A refund to ask for (a paid booking cancelled): the payment, the amount, why, and
    /// who asked; the booking is pointed at it.
    pub refund: Option<(Uuid, i64, String, Uuid)>,
    /// Laundry items counted (at pickup).
    pub items: Vec<laundry_item::Model>,
    /// Laundry items' changes (checked on return).
    pub checks: Vec<laundry_item::ActiveModel>,
    /// Claims recorded (an item missing or damaged).
    pub claims: Vec<booking_claim::Model>,
}

/// Applies a booking step in one transaction: the ticket's transition over the state that
/// was checked, then the slot places, the bill and the booking row.
pub async fn apply(
    db: &DatabaseConnection,
    t: Transition,
    change: Change,
    now: DateTime<Utc>,
) -> Result<(ticket::Model, booking::Model, Option<refund::Model>), BookError> {
    let id = t.row.id;
    let txn = crate::begin_write(db).await?;
    let saved = tickets::apply_in(&txn, t, now)
        .await?
        .ok_or(BookError::Changed)?;
    if let Some(slot) = change.reserve
        && !slots::reserve(&txn, slot).await?
    {
        return Err(BookError::SlotFull);
    }
    for slot in &change.release {
        slots::release(&txn, *slot).await?;
    }
    if let Some((bill_id, by, reason)) = &change.cancel_bill
        && !cancel_open_bill(&txn, *bill_id, *by, reason, now).await?
    {
        return Err(BookError::PaymentInProgress);
    }
    if !change.items.is_empty() {
        laundry_item::Entity::insert_many(change.items.into_iter().map(|i| i.into_active_model()))
            .exec_without_returning(&txn)
            .await?;
    }
    for check in change.checks {
        check.update(&txn).await?;
    }
    if !change.claims.is_empty() {
        booking_claim::Entity::insert_many(
            change.claims.into_iter().map(|c| c.into_active_model()),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    let mut active = change.booking.unwrap_or_else(|| booking::ActiveModel {
        ticket_id: sea_orm::ActiveValue::Unchanged(id),
        ..Default::default()
    });
    if let Some(bill) = &change.bill {
        write_bill(&txn, bill).await?;
        active.bill_id = sea_orm::ActiveValue::Set(Some(bill.bill.id));
    }
    let refunded = match &change.refund {
        Some((payment_id, amount, reason, by)) => {
            let row = crate::refunds::request_in(&txn, *payment_id, *amount, reason, *by, now)
                .await
                .map_err(|e| match e {
                    crate::refunds::RefundError::Db(e) => BookError::Db(e),
                    other => BookError::Refund(other),
                })?;
            active.refund_id = sea_orm::ActiveValue::Set(Some(row.id));
            Some(row)
        }
        None => None,
    };
    active.ticket_id = sea_orm::ActiveValue::Unchanged(id);
    active.updated_at = sea_orm::ActiveValue::Set(now);
    let booking = active.update(&txn).await?;
    txn.commit().await?;
    Ok((saved, booking, refunded))
}

/// Cancels a service bill that is open and held by no payment; false when it is not (paid,
/// or a payment of it in progress).
pub(crate) async fn cancel_open_bill(
    conn: &impl ConnectionTrait,
    bill_id: Uuid,
    by: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = bill::Entity::update_many()
        .col_expr(
            bill::Column::State,
            Expr::value(BillState::Cancelled.as_str()),
        )
        .col_expr(bill::Column::ClosedAt, Expr::value(now))
        .col_expr(bill::Column::ClosedBy, Expr::value(by))
        .col_expr(bill::Column::CloseReason, Expr::value(reason))
        .col_expr(bill::Column::UpdatedAt, Expr::value(now))
        .filter(bill::Column::Id.eq(bill_id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::PaymentId.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The ids of service bills still open and held by no payment, as a subquery.
pub(crate) fn open_service_bills() -> sea_orm::sea_query::SelectStatement {
    use sea_orm::QuerySelect;
    sea_orm::QueryTrait::into_query(
        bill::Entity::find()
            .select_only()
            .column(bill::Column::Id)
            .filter(bill::Column::State.eq(BillState::Open.as_str()))
            .filter(bill::Column::PaymentId.is_null())
            .filter(bill::Column::Kind.eq(bill::KIND_SERVICE)),
    )
}

/// Bookings paid at booking whose bill is still open and unpaid, made before `before`,
/// their time not yet confirmed: the candidates to expire (oldest first, at most `limit`).
pub async fn unpaid_before(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<booking::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    booking::Entity::find()
        .filter(booking::Column::Pay.eq(PayWhen::Before.as_str()))
        .filter(booking::Column::TimeStatus.ne(TimeStatus::Confirmed.as_str()))
        .filter(booking::Column::CreatedAt.lt(before))
        .filter(booking::Column::BillId.in_subquery(open_service_bills()))
        .order_by_asc(booking::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Cancels a booking left unpaid past its payment window, as the workers: its slot places
/// back, its bill cancelled, the resident and the office told. `false` when there was
/// nothing to do (paid, cancelled or being paid meanwhile).
pub async fn expire_unpaid(
    db: &DatabaseConnection,
    b: &booking::Model,
    note: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use courtyard_domain::tickets::{Action, EventAction, Party, transition};
    let Some(row) = ticket::Entity::find_by_id(b.ticket_id).one(db).await? else {
        return Ok(false);
    };
    let from = tickets::state_of(&row).map_err(|e| DbErr::Custom(e.0))?;
    let facts = facts(db, &row).await?;
    let Ok(to) = transition(from, Action::Cancel, &[Party::System], facts) else {
        return Ok(false);
    };
    let Some(bill_id) = b.bill_id else {
        return Ok(false);
    };
    let mut active = row.clone().into_active_model();
    active.state = sea_orm::ActiveValue::Set(to.as_str().into());
    active.updated_at = sea_orm::ActiveValue::Set(now);
    active.cancelled_at = sea_orm::ActiveValue::Set(Some(now));
    let change = Change {
        release: std::iter::once(b.slot_id)
            .chain(b.proposed_slot_id)
            .collect(),
        cancel_bill: Some((bill_id, None, note.to_owned())),
        ..Change::default()
    };
    let t = Transition {
        row,
        active,
        actor: tickets::Actor::SYSTEM,
        event: EventAction::Cancelled,
        event_to: to,
        follow: None,
        from,
        to,
        note: Some(note.to_owned()),
        data: Some(serde_json::json!({ "reason": "unpaid" })),
        meets: None,
        starts: None,
        audit: None,
    };
    match apply(db, t, change, now).await {
        Ok(_) => Ok(true),
        Err(BookError::Db(e)) => Err(e),
        // Changed, paid or being paid meanwhile: nothing to expire now.
        Err(_) => Ok(false),
    }
}
