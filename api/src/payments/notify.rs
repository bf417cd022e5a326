//! WeChat Pay's payment notifications, and the order query that stands in for one that did
//! not come. Nothing is trusted before it is verified: the signature over the raw body with
//! the key its serial names, a timestamp within 300 s, then the decrypted resource's mchid,
//! appid, out_trade_no and amount against our payment. Paid is a compare-and-swap in the
//! store, so a notification delivered twice, two at once, or one racing a query pays once.

use courtyard_domain::{entities::payment, payments::PaymentState};
use courtyard_providers::wechat_pay::{
    NotifyError, NotifyResource, OutTradeNo, Refund, TradeState, Transaction,
};
use courtyard_store::{
    payments::{self as store, Settled, TakeError},
    refunds,
};
use poem::{
    Request, Response, handler,
    http::{HeaderMap, StatusCode},
    web::{Data, Json as PoemJson},
};
use sea_orm::EntityTrait as _;
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// Why a notification was refused: the status and message WeChat Pay is answered with (it
/// retries a refused notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 4xx for a notification that will never be good, 5xx for one to retry.
    pub status: StatusCode,
    /// What was wrong (no secret, no personal data).
    pub message: String,
}

fn refused(status: StatusCode, message: impl Into<String>) -> Refused {
    Refused {
        status,
        message: message.into(),
    }
}

/// `POST /v1/payments/wechat/notify`: WeChat Pay's notification. Answers 204 once it is
/// taken, or `{"code":"FAIL","message":…}` with a 4xx or 5xx.
#[handler]
pub async fn wechat_notify(req: &Request, body: poem::Body, state: Data<&AppState>) -> Response {
    let bytes = match body.into_bytes_limit(64 * 1024).await {
        Ok(bytes) => bytes,
        Err(_) => return fail(refused(StatusCode::BAD_REQUEST, "unreadable body")),
    };
    match handle(&state, req.headers(), &bytes).await {
        Ok(()) => Response::builder().status(StatusCode::NO_CONTENT).finish(),
        Err(r) => fail(r),
    }
}

fn fail(r: Refused) -> Response {
    let mut response = poem::IntoResponse::into_response(PoemJson(
        json!({ "code": "FAIL", "message": r.message }),
    ));
    response.set_status(r.status);
    response
}

/// Verifies a notification and takes what it says.
pub async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), Refused> {
    let now = state.clock.now();
    let notification = state
        .payments
        .verify_notification(headers, body, now)
        .map_err(|e| {
            tracing::warn!(error = %e, "WeChat Pay notification refused");
            match e {
                NotifyError::BadCiphertext
                | NotifyError::BadJson(_)
                | NotifyError::UnknownEvent(_) => refused(StatusCode::BAD_REQUEST, e.to_string()),
                _ => refused(StatusCode::UNAUTHORIZED, e.to_string()),
            }
        })?;
    state.payments.check_merchant(&notification).map_err(|e| {
        tracing::warn!(error = %e, "WeChat Pay notification for another merchant");
        refused(StatusCode::BAD_REQUEST, e.to_string())
    })?;
    match notification.resource {
        NotifyResource::Transaction(t) => take_transaction(state, &t).await,
        NotifyResource::Refund(r) => take_refund(state, &r).await,
    }
}

async fn take_refund(state: &AppState, r: &Refund) -> Result<(), Refused> {
    let unavailable = |e: sea_orm::DbErr| {
        tracing::error!(error = %e, "taking a refund notification");
        refused(StatusCode::SERVICE_UNAVAILABLE, "try again")
    };
    let Some(row) = refunds::by_out_refund_no(&state.db, &r.out_refund_no)
        .await
        .map_err(unavailable)?
    else {
        tracing::warn!(out_refund_no = %r.out_refund_no, "a notification for a refund we do not know");
        return Err(refused(StatusCode::NOT_FOUND, "unknown out_refund_no"));
    };
    let paid = payment::Entity::find_by_id(row.payment_id)
        .one(&state.db)
        .await
        .map_err(unavailable)?;
    if paid.as_ref().map(|p| p.out_trade_no.as_str()) != Some(r.out_trade_no.as_str())
        || r.amount.refund != row.amount_fen
    {
        tracing::error!(refund = %row.id, "a refund notification that does not match the refund");
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "out_trade_no or amount does not match",
        ));
    }
    let Some(to) = r.status.settled() else {
        return Ok(());
    };
    let at = r.success_time.unwrap_or_else(|| state.clock.now());
    refunds::settle(&state.db, row.id, to, Some(&r.refund_id), None, at)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn take_transaction(state: &AppState, t: &Transaction) -> Result<(), Refused> {
    let Some(row) = store::by_out_trade_no(&state.db, &t.out_trade_no)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "looking up a notified payment");
            refused(StatusCode::SERVICE_UNAVAILABLE, "try again")
        })?
    else {
        tracing::warn!(out_trade_no = %t.out_trade_no, "a notification for an order we do not know");
        return Err(refused(StatusCode::NOT_FOUND, "unknown out_trade_no"));
    };
    if !t.trade_state.is_paid() {
        // Nothing to take: it is not paid (a query-only state).
        return Ok(());
    }
    settle(state, &row, t).await
}

/// Marks `row` paid as `t` says; Ok once it is paid (now or before).
async fn settle(state: &AppState, row: &payment::Model, t: &Transaction) -> Result<(), Refused> {
    let paid_at = t.success_time.unwrap_or_else(|| state.clock.now());
    match store::take_paid(
        &state.db,
        row,
        t.transaction_id.as_deref(),
        t.amount.total,
        paid_at,
    )
    .await
    {
        Ok(Settled::Now(paid, receipt)) => {
            tracing::info!(payment = %paid.id, receipt = %receipt.number, "payment succeeded");
            Ok(())
        }
        Ok(Settled::Already(paid)) => {
            if paid.transaction_id.as_deref() != t.transaction_id.as_deref() {
                tracing::error!(payment = %paid.id, "a second transaction for a paid order");
            }
            Ok(())
        }
        Ok(Settled::Stray(stray)) => {
            // Money came in for an order we had ended, and its bills are settled otherwise:
            // the notification is answered (it says nothing new), and the payment is listed
            // for staff to refund.
            tracing::warn!(payment = %stray.id, state = %stray.state, transaction = ?t.transaction_id, "paid after it was closed: listed for a refund");
            Ok(())
        }
        Err(TakeError::Amount(paid, ours)) => {
            tracing::error!(payment = %row.id, paid, ours, "the provider says another amount was paid");
            Err(refused(
                StatusCode::BAD_REQUEST,
                "amount does not match the order",
            ))
        }
        Err(TakeError::Db(e)) if courtyard_store::is_unique_violation(&e) => {
            tracing::error!(payment = %row.id, "the transaction id belongs to another payment");
            Err(refused(
                StatusCode::BAD_REQUEST,
                "transaction_id already used",
            ))
        }
        Err(TakeError::Db(e)) => {
            tracing::error!(error = %e, payment = %row.id, "settling a payment");
            Err(refused(StatusCode::SERVICE_UNAVAILABLE, "try again"))
        }
    }
}

/// Asks the provider about an open payment and takes what it says: paid → paid; closed
/// or expired unpaid → closed. The dev provider keeps no orders, so nothing changes.
pub async fn reconcile(state: &AppState, row: &payment::Model) -> Result<(), ApiError> {
    let Ok(no) = OutTradeNo::parse(&row.out_trade_no) else {
        return Ok(());
    };
    let Some(t) = state
        .payments
        .query(&no)
        .await
        .map_err(|e| ApiError::Unavailable(format!("querying the order: {e}")))?
    else {
        return Ok(());
    };
    if t.trade_state.is_paid() {
        return settle(state, row, &t)
            .await
            .map_err(|r| ApiError::Unavailable(r.message));
    }
    if matches!(
        t.trade_state,
        TradeState::Closed | TradeState::Revoked | TradeState::Payerror
    ) {
        store::end_unpaid(
            &state.db,
            row.id,
            PaymentState::Closed,
            "closed at the provider",
            state.clock.now(),
        )
        .await?;
    }
    Ok(())
}
