//! Refunds: admins give back part or all of a paid payment, with a reason. Online payments
//! are refunded through the provider (`out_refund_no` reused on every retry; the refund
//! notification or the reconciliation job's query settles it); offline payments are handed
//! back at the desk and settled at once.

use courtyard_domain::{
    entities::{payment, refund},
    payments::RefundState,
};
use courtyard_providers::wechat_pay::{EventType, RefundRequest};
use courtyard_store::refunds::{self as store, RefundError};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use super::{
    dto::{PaymentPage, payment_dto},
    notify,
};
use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth},
    error::{ApiError, ApiResult, status::*},
    fees::{BILL_READERS, FEE_KEEPERS, household_for},
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A refund to give.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewRefund {
    /// How much to give back, fen; at most what is left of the payment.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000000")))]
    pub amount_fen: i64,
    /// Why, shown to the payer (at most 80 characters).
    #[oai(validator(min_length = 1, max_length = 80))]
    pub reason: String,
}

impl Example for NewRefund {
    fn example() -> Self {
        Self {
            amount_fen: 1_000,
            reason: "重复缴费退款".into(),
        }
    }
}

/// A refund.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Refund {
    /// Id.
    pub id: Uuid,
    /// The payment.
    pub payment_id: Uuid,
    /// Our refund number at the provider.
    pub out_refund_no: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Why.
    pub reason: String,
    /// Where it stands.
    pub state: Vocab<RefundState>,
    /// The provider's refund id.
    #[oai(skip_serializing_if_is_none)]
    pub refund_id: Option<String>,
    /// What went wrong, for a closed or abnormal refund.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// Asked for.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the money went back.
    #[oai(skip_serializing_if_is_none)]
    pub succeeded_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn refund_dto(row: refund::Model) -> Refund {
    Refund {
        id: row.id,
        payment_id: row.payment_id,
        out_refund_no: row.out_refund_no,
        amount_fen: row.amount_fen,
        reason: row.reason,
        state: Vocab::stored(&row.state),
        refund_id: row.refund_id,
        error: row.error,
        created_at: row.created_at,
        succeeded_at: row.succeeded_at,
    }
}

page_of!(RefundPage, Refund);

/// A refund asked for.
#[derive(ApiResponse)]
pub enum RefundCreated {
    /// Asked for: `succeeded` at once for an offline payment, else `processing` until the
    /// provider confirms.
    #[oai(status = 201)]
    Created(Json<Refund>),
}

/// The refund endpoints.
pub struct RefundsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Payments")]
impl RefundsApi {
    /// Refund a payment
    ///
    /// Admins only: part or all of what is left of a paid payment goes back, with a reason.
    /// Refunds asked for at the same moment never give back more than was paid.
    #[oai(
        path = "/payments/:payment_id/refunds",
        method = "post",
        operation_id = "create_refund"
    )]
    async fn create_refund(
        &self,
        auth: BearerAuth,
        payment_id: Path<Uuid>,
        body: Json<NewRefund>,
    ) -> ApiResult<RefundCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let paid = self.visible(&auth.0, *payment_id).await?;
        let reason = body.reason.trim();
        if reason.is_empty() {
            return Err(ApiError::invalid("reason", "say why").into());
        }
        let now = self.state.clock.now();
        let mut entry = staff
            .audit("create_refund", "refund")
            .community(paid.community_id)
            .details(serde_json::json!({
                "payment_id": paid.id,
                "household_id": paid.household_id,
                "amount_fen": body.amount_fen,
                "reason": reason,
            }));
        if let Some(payer) = paid.payer_id {
            entry = entry.resident(payer);
        }
        let row = store::request(
            &self.state.db,
            paid.id,
            body.amount_fen,
            reason,
            staff.id,
            now,
            Some(&entry),
        )
        .await
        .map_err(|e| match e {
            RefundError::NotRefundable(state) => ApiError::Conflict {
                kind: "payment-not-refundable",
                detail: format!("the payment is {state}; only a paid payment is refunded"),
            },
            RefundError::TooMuch(left) => ApiError::invalid(
                "amount_fen",
                format!("at most {left} fen of this payment is left to refund"),
            ),
            RefundError::Db(e) => e.into(),
        })?;
        let row = send(&self.state, &paid, row).await?;
        Ok(RefundCreated::Created(Json(refund_dto(row))))
    }

    /// List payments to refund
    ///
    /// The fee keepers' list of money taken for orders that had been ended here, whose
    /// bills were paid or taken by another payment in the meantime (a resident who paid a
    /// closed order): oldest first, until refunded in full.
    #[oai(
        path = "/communities/:community_id/stray-payments",
        method = "get",
        operation_id = "list_stray_payments"
    )]
    async fn list_stray_payments(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<PaymentPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, sea_query::Expr};
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let select = payment::Entity::find()
            .filter(payment::Column::CommunityId.eq(community.id))
            .filter(payment::Column::StrayPaidAt.is_not_null())
            .filter(
                Expr::col(payment::Column::RefundedFen).lt(Expr::col(payment::Column::AmountFen)),
            );
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            payment::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut covered = super::covered_of(&self.state, &ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let bills = covered.remove(&row.id).unwrap_or_default();
                payment_dto(row, bills, None, None)
            })
            .collect();
        Ok(Json(PaymentPage { items, next_cursor }))
    }

    /// List a payment's refunds
    #[oai(
        path = "/payments/:payment_id/refunds",
        method = "get",
        operation_id = "list_refunds"
    )]
    async fn list_refunds(
        &self,
        auth: BearerAuth,
        payment_id: Path<Uuid>,
    ) -> ApiResult<Json<RefundPage>, { AUTHED | NOT_FOUND }> {
        let paid = self.visible(&auth.0, *payment_id).await?;
        let rows = store::of_payment(&self.state.db, paid.id).await?;
        Ok(Json(RefundPage {
            items: rows.into_iter().map(refund_dto).collect(),
            next_cursor: None,
        }))
    }
}

impl RefundsApi {
    async fn visible(
        &self,
        principal: &crate::authz::Principal,
        id: Uuid,
    ) -> Result<payment::Model, ApiError> {
        use sea_orm::EntityTrait;
        let row = payment::Entity::find_by_id(id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("payment"))?;
        household_for(&self.state, principal, row.household_id, BILL_READERS, true)
            .await
            .map_err(|e| match e {
                ApiError::NotFound(_) => ApiError::NotFound("payment"),
                other => other,
            })?;
        Ok(row)
    }
}

/// Sends a refund asked for: an offline payment's is handed back at the desk and settled
/// at once; an online one's goes to the provider.
pub(crate) async fn send(
    state: &AppState,
    paid: &payment::Model,
    row: refund::Model,
) -> Result<refund::Model, ApiError> {
    if paid.provider == "offline" {
        return Ok(store::settle(
            &state.db,
            row.id,
            RefundState::Succeeded,
            None,
            None,
            state.clock.now(),
        )
        .await?
        .unwrap_or(row));
    }
    ask_provider(state, paid, row).await
}

/// Asks the provider for the refund; what it says now settles it, else the refund
/// notification (or the reconciliation job) will. A provider that cannot be reached
/// leaves it processing, for the job to ask again with the same `out_refund_no`.
async fn ask_provider(
    state: &AppState,
    paid: &payment::Model,
    row: refund::Model,
) -> Result<refund::Model, ApiError> {
    let request = refund_request(paid, &row)?;
    match state.payments.refund(&request).await {
        Ok(answer) => {
            if let Some(dev) = state.payments.dev() {
                let signed = dev
                    .refund_notification(&request, EventType::RefundSuccess, state.clock.now())
                    .map_err(|e| anyhow::anyhow!("dev refund notification: {e}"))?;
                notify::handle(state, &signed.header_map(), signed.body.as_bytes())
                    .await
                    .map_err(|r| {
                        anyhow::anyhow!("the dev refund notification was refused: {r:?}")
                    })?;
            } else if let Some(to) = answer.status.settled() {
                store::settle(
                    &state.db,
                    row.id,
                    to,
                    Some(&answer.refund_id),
                    None,
                    answer.success_time.unwrap_or_else(|| state.clock.now()),
                )
                .await?;
            }
        }
        Err(e) => {
            tracing::warn!(refund = %row.id, error = %e, "asking for a refund failed; the reconciliation job retries");
        }
    }
    Ok(store::by_out_refund_no(&state.db, &row.out_refund_no)
        .await?
        .unwrap_or(row))
}

/// The provider request of a refund (the same on every retry).
fn refund_request(paid: &payment::Model, row: &refund::Model) -> Result<RefundRequest, ApiError> {
    RefundRequest::of(
        &paid.out_trade_no,
        &row.out_refund_no,
        &row.reason,
        row.amount_fen,
        paid.amount_fen,
    )
    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e.0)))
}
