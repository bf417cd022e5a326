//! Payment reconciliation, run by the scheduler every tick: a payment still pending a minute
//! after it was placed is asked about at the provider (by `out_trade_no`, at most once a
//! minute each), in case its notification never came. Paid → marked paid (the same
//! compare-and-swap as a notification, so the two racing pay once); closed at the provider →
//! closed here; past its expiry and still unpaid → closed at the provider, then here (a
//! close answered ORDERPAID is paid, and taken as such on the next look). The dev provider
//! keeps no orders: its expired payments are closed here only. Refunds still processing a
//! minute after they were asked for are asked about the same way.

use anyhow::Context;
use chrono::Duration;
use courtyard_domain::{entities::payment, payments::PaymentState};
use courtyard_providers::wechat_pay::{OutTradeNo, RefundRequest, TradeState, WechatPayError};
use courtyard_store::{
    payments::{self as store, Settled, TakeError},
    refunds as store_refunds,
};
use sea_orm::EntityTrait;

use crate::pipeline::Pipeline;

/// The job's name in logs.
pub const NAME: &str = "payments_reconcile";
/// How long a pending payment waits for its notification before it is asked about, and how
/// long between two questions about the same payment.
pub const QUIET: Duration = Duration::seconds(60);
/// Payments asked about per tick.
const BATCH: u64 = 50;

/// Asks about the pending payments that are due; returns how many it settled or closed.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let due = store::to_reconcile(&p.db, now, QUIET, BATCH)
        .await
        .context("loading pending payments")?;
    let mut changed = refunds(p).await?;
    for row in due {
        store::checked(&p.db, row.id, now).await?;
        match reconcile(p, &row).await {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(payment = %row.id, error = ?e, "reconciling a payment"),
        }
    }
    Ok(changed)
}

async fn reconcile(p: &Pipeline, row: &payment::Model) -> anyhow::Result<bool> {
    let now = p.clock.now();
    let no = OutTradeNo::parse(&row.out_trade_no).map_err(|e| anyhow::anyhow!(e.0))?;
    let expired = row.expires_at.is_some_and(|at| at <= now);
    match p.payments.query(&no).await {
        Ok(Some(t)) if t.trade_state.is_paid() => {
            let paid_at = t.success_time.unwrap_or(now);
            let settled = match store::take_paid(
                &p.db,
                row,
                t.transaction_id.as_deref(),
                t.amount.total,
                paid_at,
            )
            .await
            {
                Ok(settled) => settled,
                Err(TakeError::Amount(paid, ours)) => {
                    anyhow::bail!("order {} was paid {paid} fen, not {ours}", row.out_trade_no)
                }
                Err(TakeError::Db(e)) => return Err(e.into()),
            };
            if let Settled::Now(_, receipt) = &settled {
                tracing::info!(payment = %row.id, receipt = %receipt.number, "payment reconciled as paid");
            }
            Ok(matches!(settled, Settled::Now(..)))
        }
        Ok(Some(t))
            if matches!(
                t.trade_state,
                TradeState::Closed | TradeState::Revoked | TradeState::Payerror
            ) =>
        {
            close_here(p, row, "closed at the provider").await
        }
        Ok(_) if expired => match p.payments.close(&no).await {
            Ok(()) => close_here(p, row, "expired unpaid").await,
            // Paid at the last moment: the next look finds it paid.
            Err(WechatPayError::OrderPaid) => Ok(false),
            Err(e) => Err(e.into()),
        },
        Ok(_) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Asks about processing refunds; one the provider does not know (the ask never arrived)
/// is asked for again with the same `out_refund_no`.
async fn refunds(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let mut settled = 0;
    for row in store_refunds::to_reconcile(&p.db, now, QUIET, BATCH).await? {
        let Some(paid) = payment::Entity::find_by_id(row.payment_id)
            .one(&p.db)
            .await?
        else {
            continue;
        };
        let request = RefundRequest::of(
            &paid.out_trade_no,
            &row.out_refund_no,
            &row.reason,
            row.amount_fen,
            paid.amount_fen,
        )
        .map_err(|e| anyhow::anyhow!(e.0))?;
        let answer = match p.payments.query_refund(&request.out_refund_no).await {
            Ok(answer) => answer,
            Err(WechatPayError::Api { status: 404, .. }) => {
                Some(p.payments.refund(&request).await?)
            }
            Err(e) => {
                tracing::warn!(refund = %row.id, error = %e, "asking about a refund");
                continue;
            }
        };
        if let Some(answer) = answer
            && let Some(to) = answer.status.settled()
        {
            let at = answer.success_time.unwrap_or(now);
            if store_refunds::settle(&p.db, row.id, to, Some(&answer.refund_id), None, at)
                .await?
                .is_some()
            {
                settled += 1;
            }
        }
    }
    Ok(settled)
}

async fn close_here(p: &Pipeline, row: &payment::Model, why: &str) -> anyhow::Result<bool> {
    let closed = store::end_unpaid(&p.db, row.id, PaymentState::Closed, why, p.clock.now()).await?;
    if closed {
        tracing::info!(payment = %row.id, why, "payment closed");
    }
    Ok(closed)
}
