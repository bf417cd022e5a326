//! The payment endpoints.

use chrono::Duration;
use courtyard_domain::money::Fen;
use courtyard_domain::{
    entities::{community, company, payment, payment_bill, receipt, resident},
    org::Timezone,
    payments::{PaymentMethod, PaymentState},
};
use courtyard_providers::wechat_pay::{OutTradeNo, PrepayRequest, WechatPayError};
use courtyard_store::{
    fees::policy_of,
    idempotency as store_idempotency,
    payments::{self as store, NewPayment as StorePayment, PayError},
};
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
    types::ToJSON,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{dto::*, notify, pdf};
use crate::{
    ApiTags,
    authz::{BearerAuth, Principal},
    error::{ApiError, ApiResult, status::*},
    fees::{BILL_READERS, FEE_KEEPERS, household_for},
    idempotency::{self, Start},
    pagination::fetch_page,
    state::AppState,
};

/// The payment endpoints.
pub struct PaymentsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Payments")]
impl PaymentsApi {
    /// Pay bills
    ///
    /// Residents pay one or more open bills of one of their households. The server
    /// computes the amount from the bills and the late fees due today (frozen into the
    /// payment) and places a WeChat Pay order; pass `request_payment` to
    /// `wx.requestPayment`. A bill already in a pending payment has that order closed
    /// first. Send an `Idempotency-Key` to make retries safe.
    #[oai(path = "/payments", method = "post", operation_id = "create_payment")]
    async fn create_payment(
        &self,
        auth: BearerAuth,
        body: Json<NewPayment>,
        /// Makes a retried request return the first one's payment instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<PaymentCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION | UNAVAILABLE }>
    {
        let resident = auth.0.resident()?;
        let claim = match idempotency::start::<Payment>(
            &self.state,
            &auth.0,
            "POST /v1/payments",
            "create_payment",
            idempotency_key.0.as_deref(),
            &body.0.to_json_string(),
        )
        .await?
        {
            Start::Replay(saved) => {
                let location = format!("/v1/payments/{}", saved.id);
                return Ok(PaymentCreated::Created(Json(saved), location));
            }
            Start::Proceed(claim) => claim,
        };
        let created = self.pay_online(&auth.0, resident.id, &body).await;
        let created = idempotency::finish(&self.state, claim.as_ref(), created).await?;
        if let Some(claim) = &claim {
            let saved = idempotency::saved(201, &created);
            store_idempotency::complete(&self.state.db, claim, &saved, self.state.clock.now())
                .await
                .map_err(ApiError::from)?;
        }
        let location = format!("/v1/payments/{}", created.id);
        Ok(PaymentCreated::Created(Json(created), location))
    }

    /// Get a payment
    ///
    /// The household's residents, and staff who read its bills. A pending WeChat payment
    /// carries fresh `request_payment` parameters for its payer.
    #[oai(
        path = "/payments/:payment_id",
        method = "get",
        operation_id = "get_payment"
    )]
    async fn get_payment(
        &self,
        auth: BearerAuth,
        payment_id: Path<Uuid>,
    ) -> ApiResult<Json<Payment>, { AUTHED | NOT_FOUND }> {
        let row = self.visible(&auth.0, *payment_id).await?;
        let request_payment = match (&auth.0, &row.prepay_id) {
            (Principal::Resident(r), Some(prepay))
                if Some(r.id) == row.payer_id && row.state == PaymentState::Pending.as_str() =>
            {
                self.state
                    .payments
                    .request_payment_params(prepay)
                    .ok()
                    .map(RequestPayment::from)
            }
            _ => None,
        };
        self.read_by_staff(&auth.0, "get_payment", &row).await;
        Ok(Json(self.dto(row, request_payment).await?))
    }

    /// List a household's payments
    #[oai(
        path = "/households/:household_id/payments",
        method = "get",
        operation_id = "list_household_payments"
    )]
    async fn list_household_payments(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<PaymentPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, BILL_READERS, true).await?;
        if let Some(staff) = auth.0.as_staff() {
            let entry = staff
                .audit("list_household_payments", "household")
                .object(household.id)
                .community(household.community_id);
            self.state.reads.record(entry).await;
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            payment::Entity::find().filter(payment::Column::HouseholdId.eq(household.id)),
            payment::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        // The page's covered bills and receipts in two queries, not two a payment.
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut covered = super::covered_of(&self.state, &ids).await?;
        let receipts: std::collections::HashMap<Uuid, receipt::Model> = receipt::Entity::find()
            .filter(receipt::Column::PaymentId.is_in(ids))
            .all(&self.state.db)
            .await?
            .into_iter()
            .map(|r| (r.payment_id, r))
            .collect();
        let items = rows
            .into_iter()
            .map(|row| {
                let bills = covered.remove(&row.id).unwrap_or_default();
                let receipt = receipts.get(&row.id);
                payment_dto(row, bills, None, receipt)
            })
            .collect();
        Ok(Json(PaymentPage { items, next_cursor }))
    }

    /// Record an offline payment
    ///
    /// Front desk, supervisors and admins record cash, POS card and bank transfer payments
    /// of a household's open bills, with a reference; it is paid at once, with its receipt,
    /// and who recorded it is kept. A pending online order of the same bills is closed first.
    #[oai(
        path = "/households/:household_id/offline-payments",
        method = "post",
        operation_id = "record_offline_payment"
    )]
    async fn record_offline_payment(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        body: Json<NewOfflinePayment>,
    ) -> ApiResult<PaymentCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION | UNAVAILABLE }>
    {
        let household =
            household_for(&self.state, &auth.0, *household_id, FEE_KEEPERS, false).await?;
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let method = body.method.get("method")?;
        if !method.is_offline() {
            return Err(ApiError::invalid(
                "method",
                "an offline payment is cash, pos or bank_transfer",
            )
            .into());
        }
        let reference = body
            .reference
            .as_deref()
            .map(courtyard_domain::payments::reference)
            .transpose()
            .map_err(|e| ApiError::invalid("reference", e.0))?
            .filter(|r| !r.is_empty());
        if method != PaymentMethod::Cash && reference.is_none() {
            return Err(ApiError::invalid(
                "reference",
                "a POS or bank transfer payment is recorded with its reference",
            )
            .into());
        }
        let community = self.community(household.community_id).await?;
        self.close_holders(&body.bill_ids).await?;
        let (_, today) = self.today(&community)?;
        let now = self.state.clock.now();
        let new = StorePayment {
            company_id: community.company_id,
            community_id: community.id,
            household_id: household.id,
            bill_ids: body.bill_ids.clone(),
            method,
            provider: "offline",
            payer_id: None,
            recorded_by: Some(staff.id),
            reference,
            late_fee: policy_of(&community).late_fee,
            today,
            expires_at: None,
            now,
        };
        let entry = staff
            .audit("record_offline_payment", "payment")
            .community(community.id)
            .details(serde_json::json!({ "bills": body.bill_ids }));
        let (row, _) = store::record_offline(&self.state.db, &new, Some(&entry))
            .await
            .map_err(pay_error)?;
        let id = row.id;
        let dto = self.dto(row, None).await?;
        Ok(PaymentCreated::Created(
            Json(dto),
            format!("/v1/payments/{id}"),
        ))
    }

    /// Get a payment's receipt
    ///
    /// The receipt (收据) of a succeeded payment: its number, household, method,
    /// transaction id and the lines paid.
    #[oai(
        path = "/payments/:payment_id/receipt",
        method = "get",
        operation_id = "get_receipt"
    )]
    async fn get_receipt(
        &self,
        auth: BearerAuth,
        payment_id: Path<Uuid>,
    ) -> ApiResult<Json<Receipt>, { AUTHED | NOT_FOUND }> {
        let row = self.visible(&auth.0, *payment_id).await?;
        let receipt = receipt::Entity::find()
            .filter(receipt::Column::PaymentId.eq(row.id))
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("receipt"))?;
        self.read_by_staff(&auth.0, "get_receipt", &row).await;
        Ok(Json(receipt_dto(&receipt, &row)))
    }

    /// Download a payment's receipt as PDF
    ///
    /// The same receipt as a printable PDF (A4, Chinese), with the amount in figures and in
    /// capitals (大写).
    #[oai(
        path = "/payments/:payment_id/receipt.pdf",
        method = "get",
        operation_id = "get_receipt_pdf"
    )]
    async fn get_receipt_pdf(
        &self,
        auth: BearerAuth,
        payment_id: Path<Uuid>,
    ) -> ApiResult<ReceiptPdfFile, { AUTHED | NOT_FOUND }> {
        let row = self.visible(&auth.0, *payment_id).await?;
        let receipt = receipt::Entity::find()
            .filter(receipt::Column::PaymentId.eq(row.id))
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("receipt"))?;
        self.read_by_staff(&auth.0, "get_receipt_pdf", &row).await;
        let community = self.community(row.community_id).await?;
        let (tz, _) = self.today(&community)?;
        let company = company::Entity::find_by_id(row.company_id)
            .one(&self.state.db)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        let payer = match row.payer_id {
            Some(id) => resident::Entity::find_by_id(id)
                .one(&self.state.db)
                .await?
                .map(|r| r.name),
            None => None,
        };
        let shown = receipt_dto(&receipt, &row);
        let units: Vec<&str> = shown.lines.iter().map(|l| unit_label(&l.unit)).collect();
        let lines: Vec<pdf::ReceiptPdfLine<'_>> = shown
            .lines
            .iter()
            .zip(&units)
            .map(|(l, unit)| pdf::ReceiptPdfLine {
                period: &l.period,
                name: &l.name,
                quantity: &l.quantity,
                unit,
                unit_price: &l.unit_price,
                amount_fen: l.amount_fen,
            })
            .collect();
        let paid_at = receipt
            .issued_at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string();
        let bytes = pdf::render(&pdf::ReceiptPdf {
            company: &company,
            number: &receipt.number,
            community: &shown.community,
            address: &shown.address,
            payer: payer.as_deref(),
            method: method_label(&row.method),
            transaction_id: row.transaction_id.as_deref(),
            reference: row.reference.as_deref(),
            paid_at: &paid_at,
            lines: &lines,
            total_fen: row.amount_fen,
        })
        .map_err(|e| anyhow::anyhow!("rendering receipt {}: {e}", receipt.number))?;
        let disposition = format!("inline; filename=\"receipt-{}.pdf\"", receipt.number);
        Ok(ReceiptPdfFile::Ok(Binary(bytes), disposition))
    }

    /// Confirm a payment with the dev provider
    ///
    /// Only with the dev provider of the embedded default (404 otherwise): the payer's
    /// pending payment is confirmed by the notification WeChat Pay would send, signed and
    /// encrypted with the dev keys, through the same verification as WeChat Pay's own.
    #[oai(
        path = "/payments/:payment_id/dev-confirm",
        method = "post",
        operation_id = "dev_confirm_payment"
    )]
    async fn dev_confirm_payment(
        &self,
        auth: BearerAuth,
        payment_id: Path<Uuid>,
    ) -> ApiResult<Json<Payment>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let resident = auth.0.resident()?;
        let Some(dev) = self.state.payments.dev() else {
            return Err(ApiError::NotFound("dev payment provider").into());
        };
        let row = self.visible(&auth.0, *payment_id).await?;
        if row.state != PaymentState::Pending.as_str() {
            return Err(ApiError::Conflict {
                kind: "payment-not-pending",
                detail: format!("the payment is {}", row.state),
            }
            .into());
        }
        let out_trade_no = OutTradeNo::parse(&row.out_trade_no)
            .map_err(|e| anyhow::anyhow!("stored out_trade_no: {}", e.0))?;
        let total = Fen::parse(row.amount_fen).map_err(|e| anyhow::anyhow!(e.0))?;
        let openid = format!("dev-{}", resident.id.simple());
        let signed = dev
            .payment_notification(&out_trade_no, total, &openid, self.state.clock.now())
            .map_err(|e| anyhow::anyhow!("dev notification: {e}"))?;
        notify::handle(&self.state, &signed.header_map(), signed.body.as_bytes())
            .await
            .map_err(|refused| anyhow::anyhow!("the dev notification was refused: {refused:?}"))?;
        let row = self.visible(&auth.0, *payment_id).await?;
        Ok(Json(self.dto(row, None).await?))
    }
}

impl PaymentsApi {
    /// Creates the payment, closes what held its bills, places the order.
    async fn pay_online(
        &self,
        principal: &Principal,
        resident_id: Uuid,
        body: &NewPayment,
    ) -> Result<Payment, ApiError> {
        let household = household_for(
            &self.state,
            principal,
            body.household_id,
            BILL_READERS,
            true,
        )
        .await?;
        let community = self.community(household.community_id).await?;
        let payer = resident::Entity::find_by_id(resident_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("resident"))?;
        let openid = match (&payer.wechat_openid, self.state.payments.dev()) {
            (Some(openid), _) => openid.clone(),
            (None, Some(_)) => format!("dev-{}", payer.id.simple()),
            (None, None) => {
                return Err(ApiError::Conflict {
                    kind: "no-wechat-openid",
                    detail: "log in through the WeChat mini-program once to pay by WeChat Pay"
                        .into(),
                });
            }
        };
        self.close_holders(&body.bill_ids).await?;
        let (_, today) = self.today(&community)?;
        let now = self.state.clock.now();
        let expires_at = now + Duration::minutes(self.state.settings.payments.order_ttl_minutes);
        let new = StorePayment {
            company_id: community.company_id,
            community_id: community.id,
            household_id: household.id,
            bill_ids: body.bill_ids.clone(),
            method: PaymentMethod::Wechat,
            provider: self.state.payments.provider(),
            payer_id: Some(payer.id),
            recorded_by: None,
            reference: None,
            late_fee: policy_of(&community).late_fee,
            today,
            expires_at: Some(expires_at),
            now,
        };
        // Residents pay their own bills: only staff making a payment leave an audit row.
        let entry = principal.staff_audit("create_payment", "payment").map(|e| {
            e.community(community.id)
                .details(serde_json::json!({ "bills": body.bill_ids }))
        });
        let row = store::create(&self.state.db, &new, entry.as_ref())
            .await
            .map_err(pay_error)?;
        let out_trade_no = OutTradeNo::parse(&row.out_trade_no)
            .map_err(|e| anyhow::anyhow!("out_trade_no: {}", e.0))?;
        let total = Fen::parse(row.amount_fen).map_err(|e| {
            ApiError::invalid(
                "bill_ids",
                format!("the bills' total cannot be paid: {}", e.0),
            )
        });
        let total = match total {
            Ok(total) => total,
            Err(e) => {
                store::end_unpaid(
                    &self.state.db,
                    row.id,
                    PaymentState::Failed,
                    "no amount",
                    now,
                )
                .await?;
                return Err(e);
            }
        };
        let order = PrepayRequest {
            description: format!("{} 物业缴费", community.name)
                .chars()
                .take(127)
                .collect(),
            out_trade_no,
            time_expire: expires_at,
            total,
            payer_openid: openid,
            attach: None,
        };
        let prepay_id = match self.state.payments.prepay(&order).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(payment = %row.id, error = %e, "prepay failed");
                store::end_unpaid(
                    &self.state.db,
                    row.id,
                    PaymentState::Failed,
                    &e.to_string(),
                    now,
                )
                .await?;
                return Err(ApiError::Unavailable(
                    "the payment provider did not take the order; try again".into(),
                ));
            }
        };
        store::placed(&self.state.db, row.id, &prepay_id, now).await?;
        let params = self
            .state
            .payments
            .request_payment_params(&prepay_id)
            .map_err(|e| anyhow::anyhow!("signing requestPayment: {e}"))?;
        let row = payment::Entity::find_by_id(row.id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("payment"))?;
        self.dto(row, Some(params.into())).await
    }

    /// Closes the open payments holding any of `bill_ids`, at the provider first; a holder
    /// the provider says was paid is settled as paid (and its bills are then not open).
    async fn close_holders(&self, bill_ids: &[Uuid]) -> Result<(), ApiError> {
        for holder in store::holders(&self.state.db, bill_ids).await? {
            let now = self.state.clock.now();
            let Ok(no) = OutTradeNo::parse(&holder.out_trade_no) else {
                continue;
            };
            let closed = if holder.provider == "offline" {
                Ok(())
            } else {
                self.state.payments.close(&no).await
            };
            match closed {
                Ok(()) => {
                    store::end_unpaid(
                        &self.state.db,
                        holder.id,
                        PaymentState::Closed,
                        "replaced by a newer payment of the same bills",
                        now,
                    )
                    .await?;
                }
                Err(WechatPayError::OrderPaid) => {
                    notify::reconcile(&self.state, &holder).await?;
                }
                Err(e) => {
                    tracing::warn!(payment = %holder.id, error = %e, "closing an order failed");
                    return Err(ApiError::Unavailable(
                        "a pending payment of these bills could not be closed; try again".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn community(&self, id: Uuid) -> Result<community::Model, ApiError> {
        community::Entity::find_by_id(id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("community"))
    }

    fn today(
        &self,
        community: &community::Model,
    ) -> Result<(chrono_tz::Tz, chrono::NaiveDate), ApiError> {
        let tz = Timezone::parse(&community.timezone)
            .map_err(|e| anyhow::anyhow!(e.0))?
            .tz();
        Ok((tz, self.state.clock.now().with_timezone(&tz).date_naive()))
    }

    /// A staff member's reading of a payment (or its receipt), on the audit trail; the
    /// payer, when known, is the resident concerned.
    async fn read_by_staff(
        &self,
        principal: &Principal,
        operation: &'static str,
        row: &payment::Model,
    ) {
        if let Some(staff) = principal.as_staff() {
            let mut entry = staff
                .audit(operation, "payment")
                .object(row.id)
                .community(row.community_id)
                .details(serde_json::json!({ "household_id": row.household_id }));
            if let Some(payer) = row.payer_id {
                entry = entry.resident(payer);
            }
            self.state.reads.record(entry).await;
        }
    }

    /// A payment the caller may see, or 404.
    async fn visible(&self, principal: &Principal, id: Uuid) -> Result<payment::Model, ApiError> {
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

    async fn dto(
        &self,
        row: payment::Model,
        request_payment: Option<RequestPayment>,
    ) -> Result<Payment, ApiError> {
        let covered = payment_bill::Entity::find()
            .filter(payment_bill::Column::PaymentId.eq(row.id))
            .all(&self.state.db)
            .await?;
        let receipt = receipt::Entity::find()
            .filter(receipt::Column::PaymentId.eq(row.id))
            .one(&self.state.db)
            .await?;
        Ok(payment_dto(row, covered, request_payment, receipt.as_ref()))
    }
}

/// A receipt as PDF.
#[derive(poem_openapi::ApiResponse)]
pub enum ReceiptPdfFile {
    /// The PDF.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

/// How a unit reads on a Chinese receipt.
fn unit_label(unit: &str) -> &'static str {
    match unit {
        "m2" => "m²",
        "ton" => "吨",
        "kwh" => "千瓦时",
        "m3" => "立方米",
        "month" => "月",
        "space" => "个",
        "hour" => "小时",
        _ => "项",
    }
}

/// How a payment method reads on a Chinese receipt.
fn method_label(method: &str) -> &'static str {
    match PaymentMethod::parse(method) {
        Ok(PaymentMethod::Wechat) => "微信支付",
        Ok(PaymentMethod::Cash) => "现金",
        Ok(PaymentMethod::Pos) => "POS 刷卡",
        Ok(PaymentMethod::BankTransfer) => "银行转账",
        Err(_) => "其他",
    }
}

fn pay_error(e: PayError) -> ApiError {
    match e {
        PayError::NotPayable(bill, state) if state == "not found" => ApiError::invalid(
            "bill_ids",
            format!("bill {bill} is not one of the household's"),
        ),
        PayError::NotPayable(bill, state) => ApiError::Conflict {
            kind: "bill-not-open",
            detail: format!("bill {bill} is {state}"),
        },
        PayError::Held(_) | PayError::Busy => ApiError::Conflict {
            kind: "bill-in-payment",
            detail: "another payment of these bills is being made right now; try again".into(),
        },
        PayError::Db(e) => e.into(),
    }
}
