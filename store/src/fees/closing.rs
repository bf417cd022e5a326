//! Closing a bill by hand: an admin waives it with a reason, or cancels it and issues it
//! again from today's items, readings and charges (a corrected reading, a changed area).
//! Only an open bill is closed; a paid bill is refunded instead.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{bill, community, household, household_charge},
    fees::bills::{BillState, Period},
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

use super::bill_run::Plan;

/// Why a bill was not closed.
#[derive(Debug)]
pub enum CloseError {
    /// It is not open (paid, waived or cancelled already): its state.
    NotOpen(String),
    /// Its late fee was waived already.
    LateFeeWaived,
    /// The database failed.
    Db(DbErr),
    /// A stored row could not be read.
    Unreadable(anyhow::Error),
}

impl From<DbErr> for CloseError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Who closes the bill, and why.
#[derive(Debug, Clone)]
pub struct Closing<'a> {
    /// The admin.
    pub by: Uuid,
    /// The reason kept with the bill.
    pub reason: &'a str,
    /// When.
    pub now: DateTime<Utc>,
    /// The audit entry of the admin's action, recorded in the closing's transaction.
    pub audit: Option<&'a crate::audit::Entry>,
}

async fn record(conn: &impl sea_orm::ConnectionTrait, closing: &Closing<'_>) -> Result<(), DbErr> {
    match closing.audit {
        Some(entry) => crate::audit::record(conn, entry).await,
        None => Ok(()),
    }
}

/// Moves an open bill to `to` (compare-and-swap on its state).
async fn close(
    conn: &impl sea_orm::ConnectionTrait,
    bill: &bill::Model,
    to: BillState,
    closing: &Closing<'_>,
) -> Result<(), CloseError> {
    let done = bill::Entity::update_many()
        .col_expr(bill::Column::State, Expr::value(to.as_str()))
        .col_expr(bill::Column::ClosedAt, Expr::value(closing.now))
        .col_expr(bill::Column::ClosedBy, Expr::value(closing.by))
        .col_expr(bill::Column::CloseReason, Expr::value(closing.reason))
        .col_expr(bill::Column::UpdatedAt, Expr::value(closing.now))
        .filter(bill::Column::Id.eq(bill.id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::PaymentId.is_null())
        .exec(conn)
        .await?;
    if done.rows_affected == 0 {
        let state = match bill::Entity::find_by_id(bill.id).one(conn).await? {
            None => "gone".to_owned(),
            Some(b) if b.state == BillState::Open.as_str() => "in a pending payment".to_owned(),
            Some(b) => b.state,
        };
        return Err(CloseError::NotOpen(state));
    }
    Ok(())
}

/// Waives an open bill.
pub async fn waive(
    db: &DatabaseConnection,
    bill: &bill::Model,
    closing: &Closing<'_>,
) -> Result<bill::Model, CloseError> {
    let txn = crate::begin_write(db).await?;
    close(&txn, bill, BillState::Waived, closing).await?;
    record(&txn, closing).await?;
    txn.commit().await?;
    reload(db, bill.id).await
}

/// Waives an open bill's late fee: payments made after it carry none for the bill. Refused
/// while a pending payment holds the bill (its late fee is frozen into that order) and
/// when the fee was waived already.
pub async fn waive_late_fee(
    db: &DatabaseConnection,
    bill: &bill::Model,
    closing: &Closing<'_>,
) -> Result<bill::Model, CloseError> {
    let txn = crate::begin_write(db).await?;
    let done = bill::Entity::update_many()
        .col_expr(bill::Column::LateFeeWaivedAt, Expr::value(closing.now))
        .col_expr(bill::Column::LateFeeWaivedBy, Expr::value(closing.by))
        .col_expr(
            bill::Column::LateFeeWaiveReason,
            Expr::value(closing.reason),
        )
        .col_expr(bill::Column::UpdatedAt, Expr::value(closing.now))
        .filter(bill::Column::Id.eq(bill.id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::PaymentId.is_null())
        .filter(bill::Column::LateFeeWaivedAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected == 1 {
        record(&txn, closing).await?;
    }
    txn.commit().await?;
    let now = reload(db, bill.id).await?;
    if done.rows_affected == 0 {
        return Err(if now.state != BillState::Open.as_str() {
            CloseError::NotOpen(now.state)
        } else if now.payment_id.is_some() {
            CloseError::NotOpen("in a pending payment".to_owned())
        } else {
            CloseError::LateFeeWaived
        });
    }
    Ok(now)
}

/// Cancels an open bill and issues its household's bill for the month again, in one
/// transaction; the one-off charges it carried go on the new bill. Returns the cancelled
/// bill and the new one (none when nothing is left to bill).
pub async fn reissue(
    db: &DatabaseConnection,
    bill: &bill::Model,
    closing: &Closing<'_>,
) -> Result<(bill::Model, Option<bill::Model>), CloseError> {
    let period =
        Period::parse(&bill.period).map_err(|e| CloseError::Unreadable(anyhow::anyhow!(e.0)))?;
    let txn = crate::begin_write(db).await?;
    close(&txn, bill, BillState::Cancelled, closing).await?;
    household_charge::Entity::update_many()
        .col_expr(
            household_charge::Column::BillId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(household_charge::Column::BillId.eq(bill.id))
        .exec(&txn)
        .await?;
    let community = community::Entity::find_by_id(bill.community_id)
        .one(&txn)
        .await?
        .ok_or_else(|| CloseError::Unreadable(anyhow::anyhow!("the bill's community is gone")))?;
    let household = household::Entity::find_by_id(bill.household_id)
        .one(&txn)
        .await?
        .ok_or_else(|| CloseError::Unreadable(anyhow::anyhow!("the bill's household is gone")))?;
    let plan = Plan::load(&txn, &community, period, Some(household.id))
        .await
        .map_err(CloseError::Unreadable)?;
    let rows = plan.build(
        std::slice::from_ref(&household),
        &HashSet::new(),
        None,
        Some(bill.id),
        closing.now,
    );
    let ids = rows.write(&txn, closing.now).await?;
    if let Some(entry) = closing.audit {
        // The new bill's id is known only now.
        let mut entry = entry.clone();
        if let Some(details) = entry.details.as_object_mut() {
            details.insert("reissued_id".into(), serde_json::json!(ids.first()));
        }
        crate::audit::record(&txn, &entry).await?;
    }
    txn.commit().await?;
    let cancelled = reload(db, bill.id).await?;
    let new = match ids.first() {
        Some(id) => Some(reload(db, *id).await?),
        None => None,
    };
    Ok((cancelled, new))
}

async fn reload(db: &DatabaseConnection, id: Uuid) -> Result<bill::Model, CloseError> {
    bill::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| CloseError::Unreadable(anyhow::anyhow!("bill {id} vanished")))
}
