//! Refunds of paid payments. Asking for one reserves its amount on the payment by a
//! compare-and-swap (`refunded_fen + amount <= amount_fen`), so concurrent refunds never
//! give back more than was paid; a refund the provider closes or fails gives its amount
//! back to the payment. Settling is a compare-and-swap on the refund's state, so a refund
//! notification twice, or one racing a query, settles once.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{payment, refund},
    new_id,
    payments::{PaymentState, RefundState, out_refund_no},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

/// Why a refund was not asked for.
#[derive(Debug)]
pub enum RefundError {
    /// The payment is not paid (or fully refunded already): its state.
    NotRefundable(String),
    /// More than what is left: how much is left to refund, in fen.
    TooMuch(i64),
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for RefundError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Asks for a refund of `amount_fen` of a paid payment: reserves the amount and writes the
/// refund (`processing`), with the request's `audit` entry (its object set to the refund).
pub async fn request(
    db: &DatabaseConnection,
    payment_id: Uuid,
    amount_fen: i64,
    reason: &str,
    requested_by: Uuid,
    now: DateTime<Utc>,
    audit: Option<&crate::audit::Entry>,
) -> Result<refund::Model, RefundError> {
    let txn = crate::begin_write(db).await?;
    let row = request_in(&txn, payment_id, amount_fen, reason, requested_by, now).await?;
    if let Some(entry) = audit {
        crate::audit::record(&txn, &entry.clone().object(row.id)).await?;
    }
    txn.commit().await?;
    Ok(row)
}

/// [`request`] in the caller's transaction (a cancelled booking's refund, written with
/// the cancellation).
pub async fn request_in(
    txn: &impl ConnectionTrait,
    payment_id: Uuid,
    amount_fen: i64,
    reason: &str,
    requested_by: Uuid,
    now: DateTime<Utc>,
) -> Result<refund::Model, RefundError> {
    let reserved = payment::Entity::update_many()
        .col_expr(
            payment::Column::RefundedFen,
            Expr::col(payment::Column::RefundedFen).add(amount_fen),
        )
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(payment_id))
        .filter(
            Condition::any()
                .add(payment::Column::State.is_in([
                    PaymentState::Succeeded.as_str(),
                    PaymentState::PartlyRefunded.as_str(),
                ]))
                // Money paid after the order was ended here goes back the same way.
                .add(payment::Column::StrayPaidAt.is_not_null()),
        )
        .filter(
            Expr::col(payment::Column::RefundedFen)
                .add(amount_fen)
                .lte(Expr::col(payment::Column::AmountFen)),
        )
        .exec(txn)
        .await?;
    if reserved.rows_affected == 0 {
        let row = payment::Entity::find_by_id(payment_id)
            .one(txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("payment {payment_id}")))?;
        let state = PaymentState::parse(&row.state).unwrap_or(PaymentState::Failed);
        return Err(if state.is_refundable() || row.stray_paid_at.is_some() {
            RefundError::TooMuch(row.amount_fen - row.refunded_fen)
        } else {
            RefundError::NotRefundable(row.state)
        });
    }
    let id = new_id();
    let row = refund::Model {
        id,
        payment_id,
        out_refund_no: out_refund_no(id),
        amount_fen,
        reason: reason.into(),
        state: RefundState::Processing.as_str().into(),
        refund_id: None,
        requested_by,
        error: None,
        created_at: now,
        updated_at: now,
        checked_at: None,
        succeeded_at: None,
    };
    refund::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(txn)
        .await?;
    Ok(row)
}

/// Settles a processing refund as `to` (once); the refund as it now is, or `None` when it
/// had been settled before. A succeeded refund moves the payment to `partly_refunded` or
/// `refunded`; a closed or abnormal one gives its amount back to the payment.
pub async fn settle(
    db: &DatabaseConnection,
    id: Uuid,
    to: RefundState,
    refund_id: Option<&str>,
    why: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Option<refund::Model>, DbErr> {
    let txn = crate::begin_write(db).await?;
    let mut update = refund::Entity::update_many()
        .col_expr(refund::Column::State, Expr::value(to.as_str()))
        .col_expr(refund::Column::UpdatedAt, Expr::value(at))
        .filter(refund::Column::Id.eq(id))
        .filter(refund::Column::State.eq(RefundState::Processing.as_str()));
    if let Some(rid) = refund_id {
        update = update.col_expr(refund::Column::RefundId, Expr::value(rid));
    }
    if let Some(why) = why {
        update = update.col_expr(refund::Column::Error, Expr::value(why));
    }
    if to == RefundState::Succeeded {
        update = update.col_expr(refund::Column::SucceededAt, Expr::value(at));
    }
    if update.exec(&txn).await?.rows_affected == 0 {
        txn.commit().await?;
        return Ok(None);
    }
    let row = refund::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("refund {id}")))?;
    match to {
        RefundState::Succeeded => {
            // A payment has a handful of refunds: summed here, not as SUM() (NUMERIC on
            // PostgreSQL).
            let refunded: i64 = refund::Entity::find()
                .select_only()
                .column(refund::Column::AmountFen)
                .filter(refund::Column::PaymentId.eq(row.payment_id))
                .filter(refund::Column::State.eq(RefundState::Succeeded.as_str()))
                .into_tuple::<i64>()
                .all(&txn)
                .await?
                .into_iter()
                .sum();
            let paid = payment::Entity::find_by_id(row.payment_id)
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("payment {}", row.payment_id)))?;
            let state = if refunded >= paid.amount_fen {
                PaymentState::Refunded
            } else {
                PaymentState::PartlyRefunded
            };
            // A stray payment keeps its state (it paid no bill); its refunded_fen tells.
            payment::Entity::update_many()
                .col_expr(payment::Column::State, Expr::value(state.as_str()))
                .col_expr(payment::Column::UpdatedAt, Expr::value(at))
                .filter(payment::Column::Id.eq(row.payment_id))
                .filter(payment::Column::StrayPaidAt.is_null())
                .exec(&txn)
                .await?;
        }
        RefundState::Closed | RefundState::Abnormal => {
            payment::Entity::update_many()
                .col_expr(
                    payment::Column::RefundedFen,
                    Expr::col(payment::Column::RefundedFen).sub(row.amount_fen),
                )
                .col_expr(payment::Column::UpdatedAt, Expr::value(at))
                .filter(payment::Column::Id.eq(row.payment_id))
                .exec(&txn)
                .await?;
        }
        RefundState::Processing => {}
    }
    txn.commit().await?;
    Ok(Some(row))
}

/// The refund with this number.
pub async fn by_out_refund_no(
    conn: &impl ConnectionTrait,
    out_refund_no: &str,
) -> Result<Option<refund::Model>, DbErr> {
    refund::Entity::find()
        .filter(refund::Column::OutRefundNo.eq(out_refund_no))
        .one(conn)
        .await
}

/// A payment's refunds, oldest first.
pub async fn of_payment(
    conn: &impl ConnectionTrait,
    payment_id: Uuid,
) -> Result<Vec<refund::Model>, DbErr> {
    refund::Entity::find()
        .filter(refund::Column::PaymentId.eq(payment_id))
        .order_by_asc(refund::Column::CreatedAt)
        .all(conn)
        .await
}

/// Processing refunds asked for more than `quiet` ago and not asked about since, oldest
/// first: what the reconciliation job asks the provider about (and notes as asked).
pub async fn to_reconcile(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    quiet: chrono::Duration,
    limit: u64,
) -> Result<Vec<refund::Model>, DbErr> {
    use sea_orm::Condition;
    let due = refund::Entity::find()
        .filter(refund::Column::State.eq(RefundState::Processing.as_str()))
        .filter(refund::Column::CreatedAt.lt(now - quiet))
        .filter(
            Condition::any()
                .add(refund::Column::CheckedAt.is_null())
                .add(refund::Column::CheckedAt.lt(now - quiet)),
        )
        .order_by_asc(refund::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await?;
    if !due.is_empty() {
        refund::Entity::update_many()
            .col_expr(refund::Column::CheckedAt, Expr::value(now))
            .filter(refund::Column::Id.is_in(due.iter().map(|r| r.id)))
            .exec(conn)
            .await?;
    }
    Ok(due)
}
