//! Payments in the database: creating one for a household's open bills (each bill taken by
//! compare-and-swap, so it is in at most one open payment), closing one, and marking one
//! paid exactly once — its bills paid and its receipt numbered in the same transaction, so
//! numbers have no gaps and no repeats, whatever arrives twice or at the same moment.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{
        bill, bill_line, building, community, household, payment, payment_bill, receipt, unit,
    },
    fees::{LateFeePolicy, bills::BillState},
    jobs::PaymentReceived,
    new_id,
    payments::{PaymentMethod, PaymentState, late_fee_on, out_trade_no, receipt_number},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, Statement, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

/// A payment to create.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// The household's company (receipts are numbered per company).
    pub company_id: Uuid,
    /// The household's community.
    pub community_id: Uuid,
    /// The household whose bills are paid.
    pub household_id: Uuid,
    /// The bills, all open and the household's.
    pub bill_ids: Vec<Uuid>,
    /// How it is paid.
    pub method: PaymentMethod,
    /// `wechat_pay`, `dev` or `offline`.
    pub provider: &'static str,
    /// The resident paying online.
    pub payer_id: Option<Uuid>,
    /// The staff member recording an offline payment.
    pub recorded_by: Option<Uuid>,
    /// An offline payment's reference.
    pub reference: Option<String>,
    /// The community's late-fee rule.
    pub late_fee: LateFeePolicy,
    /// Today in the community's calendar (late fees count days to it).
    pub today: NaiveDate,
    /// When an online order stops taking payment.
    pub expires_at: Option<DateTime<Utc>>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Why a payment was not created.
#[derive(Debug)]
pub enum PayError {
    /// A bill is not the household's, or not open: (bill, its state or "not found").
    NotPayable(Uuid, String),
    /// Open payments hold some of the bills: close them first.
    Held(Vec<payment::Model>),
    /// Another payment took a bill at the same moment.
    Busy,
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for PayError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// The open (created or pending) payments holding any of `bill_ids`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    bill_ids: &[Uuid],
) -> Result<Vec<payment::Model>, DbErr> {
    let held: Vec<Uuid> = bill::Entity::find()
        .filter(bill::Column::Id.is_in(bill_ids.iter().copied()))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::PaymentId.is_not_null())
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|b| b.payment_id)
        .collect();
    if held.is_empty() {
        return Ok(Vec::new());
    }
    payment::Entity::find()
        .filter(payment::Column::Id.is_in(held))
        .filter(payment::Column::State.is_in(open_states()))
        .all(conn)
        .await
}

fn open_states() -> [&'static str; 2] {
    [
        PaymentState::Created.as_str(),
        PaymentState::Pending.as_str(),
    ]
}

/// Creates an online payment (state `created`): its bills taken, their late fees frozen;
/// with its `audit` entry (see [`record_audit`]) when staff create it.
pub async fn create(
    db: &DatabaseConnection,
    new: &NewPayment,
    audit: Option<&crate::audit::Entry>,
) -> Result<payment::Model, PayError> {
    let txn = crate::begin_write(db).await?;
    let row = create_in(&txn, new).await?;
    record_audit(&txn, audit, &row).await?;
    txn.commit().await?;
    Ok(row)
}

/// Records a payment's audit entry: its object set to the payment, the payment's bills
/// and amounts added to its details.
async fn record_audit(
    conn: &impl ConnectionTrait,
    audit: Option<&crate::audit::Entry>,
    row: &payment::Model,
) -> Result<(), DbErr> {
    let Some(entry) = audit else {
        return Ok(());
    };
    let mut entry = entry.clone().object(row.id);
    if let Some(details) = entry.details.as_object_mut() {
        details.insert("household_id".into(), json!(row.household_id));
        details.insert("method".into(), json!(row.method));
        details.insert("amount_fen".into(), json!(row.amount_fen));
        details.insert("principal_fen".into(), json!(row.principal_fen));
        details.insert("late_fee_fen".into(), json!(row.late_fee_fen));
    }
    crate::audit::record(conn, &entry).await
}

async fn create_in(
    conn: &impl ConnectionTrait,
    new: &NewPayment,
) -> Result<payment::Model, PayError> {
    let bills = bill::Entity::find()
        .filter(bill::Column::Id.is_in(new.bill_ids.iter().copied()))
        .order_by_asc(bill::Column::Period)
        .all(conn)
        .await?;
    for id in &new.bill_ids {
        match bills.iter().find(|b| b.id == *id) {
            Some(b) if b.household_id != new.household_id => {
                return Err(PayError::NotPayable(*id, "not found".into()));
            }
            Some(b) if b.state != BillState::Open.as_str() => {
                return Err(PayError::NotPayable(*id, b.state.clone()));
            }
            Some(_) => {}
            None => return Err(PayError::NotPayable(*id, "not found".into())),
        }
    }
    let held = holders(conn, &new.bill_ids).await?;
    if !held.is_empty() {
        return Err(PayError::Held(held));
    }
    let id = new_id();
    let taken = bill::Entity::update_many()
        .col_expr(bill::Column::PaymentId, Expr::value(id))
        .col_expr(bill::Column::UpdatedAt, Expr::value(new.now))
        .filter(bill::Column::Id.is_in(new.bill_ids.iter().copied()))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::PaymentId.is_null())
        .exec(conn)
        .await?;
    if taken.rows_affected != new.bill_ids.len() as u64 {
        return Err(PayError::Busy);
    }
    // Read them again now that they are ours: a late-fee waiver that committed after the
    // first read counts.
    let bills = bill::Entity::find()
        .filter(bill::Column::Id.is_in(new.bill_ids.iter().copied()))
        .order_by_asc(bill::Column::Period)
        .all(conn)
        .await?;
    let mut lines: HashMap<Uuid, Vec<bill_line::Model>> = HashMap::new();
    for line in bill_line::Entity::find()
        .filter(bill_line::Column::BillId.is_in(new.bill_ids.iter().copied()))
        .order_by_asc(bill_line::Column::Position)
        .all(conn)
        .await?
    {
        lines.entry(line.bill_id).or_default().push(line);
    }
    let mut frozen_bills = Vec::with_capacity(bills.len());
    let mut covered = Vec::with_capacity(bills.len());
    let (mut principal, mut late) = (0, 0);
    for b in &bills {
        let late_fee = if b.late_fee_waived_at.is_some() {
            0
        } else {
            late_fee_on(&new.late_fee, b.amount_fen, b.due_on, new.today)
        };
        principal += b.amount_fen;
        late += late_fee;
        covered.push(payment_bill::ActiveModel {
            payment_id: Set(id),
            bill_id: Set(b.id),
            principal_fen: Set(b.amount_fen),
            late_fee_fen: Set(late_fee),
        });
        let bill_lines: Vec<_> = lines
            .remove(&b.id)
            .unwrap_or_default()
            .into_iter()
            .map(|l| {
                json!({
                    "name": l.name, "band": l.band, "unit": l.unit,
                    "quantity_milli": l.quantity_milli,
                    "unit_price_centi_fen": l.unit_price_centi_fen,
                    "amount_fen": l.amount_fen,
                })
            })
            .collect();
        frozen_bills.push(json!({
            "bill_id": b.id, "period": b.period, "due_on": b.due_on,
            "amount_fen": b.amount_fen, "late_fee_fen": late_fee, "lines": bill_lines,
        }));
    }
    let row = payment::Model {
        id,
        company_id: new.company_id,
        community_id: new.community_id,
        household_id: new.household_id,
        payer_id: new.payer_id,
        method: new.method.as_str().into(),
        provider: new.provider.into(),
        state: PaymentState::Created.as_str().into(),
        amount_fen: principal + late,
        principal_fen: principal,
        late_fee_fen: late,
        refunded_fen: 0,
        out_trade_no: out_trade_no(id),
        prepay_id: None,
        transaction_id: None,
        reference: new.reference.clone(),
        recorded_by: new.recorded_by,
        frozen: json!({ "bills": frozen_bills }),
        error: None,
        expires_at: new.expires_at,
        paid_at: None,
        checked_at: None,
        stray_paid_at: None,
        created_at: new.now,
        updated_at: new.now,
    };
    payment::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row.clone()))
        .exec_without_returning(conn)
        .await?;
    payment_bill::Entity::insert_many(covered)
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// Records that the provider placed the order.
pub async fn placed(
    db: &DatabaseConnection,
    id: Uuid,
    prepay_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    payment::Entity::update_many()
        .col_expr(
            payment::Column::State,
            Expr::value(PaymentState::Pending.as_str()),
        )
        .col_expr(payment::Column::PrepayId, Expr::value(prepay_id))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::State.eq(PaymentState::Created.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends an open payment unpaid (`failed` or `closed`) and lets go of its bills; false when
/// it was no longer open (paid in the meantime, or closed by someone else).
pub async fn end_unpaid(
    db: &DatabaseConnection,
    id: Uuid,
    to: PaymentState,
    why: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = crate::begin_write(db).await?;
    let ended = payment::Entity::update_many()
        .col_expr(payment::Column::State, Expr::value(to.as_str()))
        .col_expr(payment::Column::Error, Expr::value(why))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::State.is_in(open_states()))
        .exec(&txn)
        .await?;
    if ended.rows_affected == 1 {
        bill::Entity::update_many()
            .col_expr(bill::Column::PaymentId, Expr::value(Option::<Uuid>::None))
            .col_expr(bill::Column::UpdatedAt, Expr::value(now))
            .filter(bill::Column::PaymentId.eq(id))
            .filter(bill::Column::State.eq(BillState::Open.as_str()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(ended.rows_affected == 1)
}

/// What [`succeed`] found.
#[derive(Debug, Clone)]
pub enum Settled {
    /// Paid now: its bills are paid and this is its receipt.
    Now(payment::Model, receipt::Model),
    /// It had been paid before (a repeated or concurrent confirmation): nothing changed.
    Already(payment::Model),
    /// It had been ended here (closed or failed) and its bills were paid or taken by
    /// another payment since: the money is recorded as stray (`stray_paid_at`) and listed
    /// for staff to refund.
    Stray(payment::Model),
}

/// Why a provider's word that an order was paid was not taken.
#[derive(Debug)]
pub enum TakeError {
    /// It was paid another amount than the payment's: (paid, ours), fen.
    Amount(i64, i64),
    /// The database failed (a unique violation: the transaction id is another payment's).
    Db(DbErr),
}

impl From<DbErr> for TakeError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Takes a provider's word (a notification or an order query) that `row`'s order was paid
/// `total_fen` at `paid_at`: refused when the amount is not the payment's, else
/// [`succeed`].
pub async fn take_paid(
    db: &DatabaseConnection,
    row: &payment::Model,
    transaction_id: Option<&str>,
    total_fen: i64,
    paid_at: DateTime<Utc>,
) -> Result<Settled, TakeError> {
    if total_fen != row.amount_fen {
        return Err(TakeError::Amount(total_fen, row.amount_fen));
    }
    Ok(succeed(db, row.id, transaction_id, paid_at).await?)
}

/// Marks a payment paid, once: a compare-and-swap on its state, then its bills paid and
/// its receipt numbered (in the paid day's year in its community's calendar), in one
/// transaction.
pub async fn succeed(
    db: &DatabaseConnection,
    id: Uuid,
    transaction_id: Option<&str>,
    paid_at: DateTime<Utc>,
) -> Result<Settled, DbErr> {
    let txn = crate::begin_write(db).await?;
    let settled = succeed_in(&txn, id, transaction_id, paid_at).await?;
    txn.commit().await?;
    Ok(settled)
}

async fn succeed_in(
    conn: &impl ConnectionTrait,
    id: Uuid,
    transaction_id: Option<&str>,
    paid_at: DateTime<Utc>,
) -> Result<Settled, DbErr> {
    let mut paid = payment::Entity::update_many()
        .col_expr(
            payment::Column::State,
            Expr::value(PaymentState::Succeeded.as_str()),
        )
        .col_expr(payment::Column::PaidAt, Expr::value(paid_at))
        .col_expr(payment::Column::UpdatedAt, Expr::value(paid_at))
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::State.is_in(open_states()));
    if let Some(tx) = transaction_id {
        paid = paid.col_expr(payment::Column::TransactionId, Expr::value(tx));
    }
    let done = paid.exec(conn).await?;
    let row = payment::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("payment {id}")))?;
    if done.rows_affected == 0 {
        let state = PaymentState::parse(&row.state).unwrap_or(PaymentState::Failed);
        match state {
            PaymentState::Succeeded | PaymentState::PartlyRefunded | PaymentState::Refunded => {
                return Ok(Settled::Already(row));
            }
            _ if row.stray_paid_at.is_some() => return Ok(Settled::Already(row)),
            _ => {
                if !revive(conn, &row, transaction_id, paid_at).await? {
                    return Ok(Settled::Stray(
                        stray(conn, &row, transaction_id, paid_at).await?,
                    ));
                }
            }
        }
    }
    let row = payment::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("payment {id}")))?;
    bill::Entity::update_many()
        .col_expr(bill::Column::State, Expr::value(BillState::Paid.as_str()))
        .col_expr(bill::Column::ClosedAt, Expr::value(paid_at))
        .col_expr(bill::Column::UpdatedAt, Expr::value(paid_at))
        .filter(bill::Column::PaymentId.eq(id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .exec(conn)
        .await?;
    let year = receipt_year(conn, row.community_id, paid_at).await?;
    let seq = next_receipt_seq(conn, row.company_id, year).await?;
    let receipt = receipt::Model {
        id: new_id(),
        company_id: row.company_id,
        payment_id: row.id,
        year,
        seq,
        number: receipt_number(year, seq),
        content: receipt_content(conn, &row).await?,
        issued_at: paid_at,
    };
    receipt::Entity::insert(sea_orm::IntoActiveModel::into_active_model(receipt.clone()))
        .exec_without_returning(conn)
        .await?;
    crate::outbox::enqueue(
        conn,
        &PaymentReceived {
            payment_id: row.id,
            outbox_id: None,
        },
        paid_at,
        paid_at,
    )
    .await?;
    Ok(Settled::Now(row, receipt))
}

/// Money came in for a payment ended here (closed or failed): when every bill it covered
/// is still open and free, it takes them back and succeeds after all (true); else nothing
/// changes (false).
async fn revive(
    conn: &impl ConnectionTrait,
    row: &payment::Model,
    transaction_id: Option<&str>,
    paid_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let covered: Vec<Uuid> = payment_bill::Entity::find()
        .filter(payment_bill::Column::PaymentId.eq(row.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| c.bill_id)
        .collect();
    let taken = bill::Entity::update_many()
        .col_expr(bill::Column::PaymentId, Expr::value(row.id))
        .filter(bill::Column::Id.is_in(covered.iter().copied()))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::PaymentId.is_null())
        .exec(conn)
        .await?;
    let mut revived = payment::Entity::update_many()
        .col_expr(
            payment::Column::State,
            Expr::value(PaymentState::Succeeded.as_str()),
        )
        .col_expr(payment::Column::PaidAt, Expr::value(paid_at))
        .col_expr(payment::Column::Error, Expr::value(Option::<String>::None))
        .col_expr(payment::Column::UpdatedAt, Expr::value(paid_at))
        .filter(payment::Column::Id.eq(row.id))
        .filter(payment::Column::State.eq(row.state.as_str()));
    if let Some(tx) = transaction_id {
        revived = revived.col_expr(payment::Column::TransactionId, Expr::value(tx));
    }
    if !covered.is_empty()
        && taken.rows_affected == covered.len() as u64
        && revived.exec(conn).await?.rows_affected == 1
    {
        return Ok(true);
    }
    // Give back what was taken: once ended, a payment holds no open bill.
    bill::Entity::update_many()
        .col_expr(bill::Column::PaymentId, Expr::value(Option::<Uuid>::None))
        .filter(bill::Column::PaymentId.eq(row.id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .exec(conn)
        .await?;
    Ok(false)
}

/// Records money paid for an ended payment whose bills are settled otherwise, once.
async fn stray(
    conn: &impl ConnectionTrait,
    row: &payment::Model,
    transaction_id: Option<&str>,
    paid_at: DateTime<Utc>,
) -> Result<payment::Model, DbErr> {
    let mut marked = payment::Entity::update_many()
        .col_expr(payment::Column::StrayPaidAt, Expr::value(paid_at))
        .col_expr(payment::Column::UpdatedAt, Expr::value(paid_at))
        .filter(payment::Column::Id.eq(row.id))
        .filter(payment::Column::StrayPaidAt.is_null());
    if let Some(tx) = transaction_id {
        marked = marked.col_expr(payment::Column::TransactionId, Expr::value(tx));
    }
    marked.exec(conn).await?;
    payment::Entity::find_by_id(row.id)
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("payment {}", row.id)))
}

/// The next receipt number of a company's year: one upsert that bumps the counter row,
/// which stays locked until the transaction ends (so numbers are taken in commit order and
/// a rolled-back payment leaves no gap).
async fn next_receipt_seq(
    conn: &impl ConnectionTrait,
    company_id: Uuid,
    year: i32,
) -> Result<i64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO receipt_counters (company_id, year, last) VALUES ($1, $2, 1) \
             ON CONFLICT (company_id, year) DO UPDATE SET last = receipt_counters.last + 1 \
             RETURNING last"
        }
        _ => {
            "INSERT INTO receipt_counters (company_id, year, last) VALUES (?, ?, 1) \
             ON CONFLICT (company_id, year) DO UPDATE SET last = receipt_counters.last + 1 \
             RETURNING last"
        }
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [company_id.into(), year.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("receipt counter".into()))?;
    row.try_get::<i64>("", "last")
}

/// What a receipt shows besides the payment's frozen bills: where, and whose.
async fn receipt_content(
    conn: &impl ConnectionTrait,
    payment: &payment::Model,
) -> Result<serde_json::Value, DbErr> {
    let household = household::Entity::find_by_id(payment.household_id)
        .one(conn)
        .await?;
    let community = community::Entity::find_by_id(payment.community_id)
        .one(conn)
        .await?;
    let mut address = String::new();
    if let Some(h) = &household {
        let b = building::Entity::find_by_id(h.building_id)
            .one(conn)
            .await?;
        let u = unit::Entity::find_by_id(h.unit_id).one(conn).await?;
        address = format!(
            "{}{}{}",
            b.map(|b| b.name).unwrap_or_default(),
            u.map(|u| u.name).unwrap_or_default(),
            h.room_number
        );
    }
    Ok(json!({
        "community": community.map(|c| c.name).unwrap_or_default(),
        "address": address,
    }))
}

/// Records an offline payment (cash, POS, bank transfer) at the front desk: created and
/// paid in one transaction, with its receipt and its `audit` entry (see [`record_audit`]).
pub async fn record_offline(
    db: &DatabaseConnection,
    new: &NewPayment,
    audit: Option<&crate::audit::Entry>,
) -> Result<(payment::Model, receipt::Model), PayError> {
    let txn = crate::begin_write(db).await?;
    let row = create_in(&txn, new).await?;
    match succeed_in(&txn, row.id, None, new.now).await? {
        Settled::Now(row, receipt) => {
            record_audit(&txn, audit, &row).await?;
            txn.commit().await?;
            Ok((row, receipt))
        }
        _ => Err(PayError::Busy),
    }
}

/// The year a payment made at `paid_at` is receipted in: the paid day's year in its
/// community's calendar (Asia/Shanghai when the community cannot be read).
async fn receipt_year(
    conn: &impl ConnectionTrait,
    community_id: Uuid,
    paid_at: DateTime<Utc>,
) -> Result<i32, DbErr> {
    use chrono::Datelike;
    let tz = community::Entity::find_by_id(community_id)
        .one(conn)
        .await?
        .and_then(|c| courtyard_domain::org::Timezone::parse(&c.timezone).ok())
        .map(|t| t.tz())
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Ok(paid_at.with_timezone(&tz).year())
}

/// Open payments placed online more than `quiet` ago and not asked about since `quiet` ago,
/// oldest first: what the reconciliation job asks the provider about.
pub async fn to_reconcile(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    quiet: chrono::Duration,
    limit: u64,
) -> Result<Vec<payment::Model>, DbErr> {
    use sea_orm::{Condition, QuerySelect};
    payment::Entity::find()
        .filter(payment::Column::State.eq(PaymentState::Pending.as_str()))
        .filter(payment::Column::CreatedAt.lt(now - quiet))
        .filter(
            Condition::any()
                .add(payment::Column::CheckedAt.is_null())
                .add(payment::Column::CheckedAt.lt(now - quiet)),
        )
        .order_by_asc(payment::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Notes that the provider was asked about a payment now.
pub async fn checked(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    payment::Entity::update_many()
        .col_expr(payment::Column::CheckedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The payment with this order number.
pub async fn by_out_trade_no(
    conn: &impl ConnectionTrait,
    out_trade_no: &str,
) -> Result<Option<payment::Model>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::OutTradeNo.eq(out_trade_no))
        .one(conn)
        .await
}
