//! The payments area's bodies. Amounts are integer fen, computed on the server: a client
//! names the bills, never an amount.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{payment, payment_bill, receipt},
    fees::{Quantity, price_text},
    payments::{PaymentMethod, PaymentState},
};
use courtyard_providers::wechat_pay::RequestPaymentParams;
use poem_openapi::{ApiResponse, Object, payload::Json, types::Example};
use uuid::Uuid;

use crate::{page_of, vocab::Vocab};

/// A payment to create: the household and which of its open bills.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPayment {
    /// The household whose bills are paid.
    pub household_id: Uuid,
    /// Its open bills to pay, 1–24.
    #[oai(validator(min_items = 1, max_items = 24, unique_items))]
    pub bill_ids: Vec<Uuid>,
}

impl Example for NewPayment {
    fn example() -> Self {
        Self {
            household_id: Uuid::nil(),
            bill_ids: vec![Uuid::nil()],
        }
    }
}

/// A payment staff record at the front desk.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewOfflinePayment {
    /// The household's open bills paid, 1–24.
    #[oai(validator(min_items = 1, max_items = 24, unique_items))]
    pub bill_ids: Vec<Uuid>,
    /// `cash`, `pos` or `bank_transfer`.
    pub method: Vocab<PaymentMethod>,
    /// The POS slip or transfer number; what identifies the money.
    #[oai(validator(max_length = 100))]
    pub reference: Option<String>,
}

impl Example for NewOfflinePayment {
    fn example() -> Self {
        Self {
            bill_ids: vec![Uuid::nil()],
            method: PaymentMethod::Pos.into(),
            reference: Some("POS 000123 卡号尾号 8848".into()),
        }
    }
}

/// What the mini-program passes to `wx.requestPayment`, in its field names.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct RequestPayment {
    /// The mini-program's AppID.
    pub app_id: String,
    /// Unix seconds, as a string.
    pub time_stamp: String,
    /// Random string.
    pub nonce_str: String,
    /// `prepay_id=...`.
    pub package: String,
    /// `RSA`.
    pub sign_type: String,
    /// The merchant's signature over the four fields above.
    pub pay_sign: String,
}

impl From<RequestPaymentParams> for RequestPayment {
    fn from(p: RequestPaymentParams) -> Self {
        Self {
            app_id: p.app_id,
            time_stamp: p.time_stamp,
            nonce_str: p.nonce_str,
            package: p.package,
            sign_type: p.sign_type,
            pay_sign: p.pay_sign,
        }
    }
}

/// One bill a payment covers.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PaidBill {
    /// The bill.
    pub bill_id: Uuid,
    /// Its month, `YYYY-MM`.
    pub period: String,
    /// Its amount, fen.
    pub principal_fen: i64,
    /// The late fee it carried when the payment was created, fen.
    pub late_fee_fen: i64,
}

/// A payment.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Payment {
    /// Id.
    pub id: Uuid,
    /// Household.
    pub household_id: Uuid,
    /// Where it stands.
    pub state: Vocab<PaymentState>,
    /// How it is paid.
    pub method: Vocab<PaymentMethod>,
    /// `wechat_pay`, `dev` or `offline`.
    pub provider: String,
    /// What is paid, fen: principal plus late fees.
    pub amount_fen: i64,
    /// The bills' amounts, fen.
    pub principal_fen: i64,
    /// Late fees, fen.
    pub late_fee_fen: i64,
    /// Refunded so far, fen.
    pub refunded_fen: i64,
    /// Our order number at the provider.
    pub out_trade_no: String,
    /// The provider's transaction id, once paid online.
    #[oai(skip_serializing_if_is_none)]
    pub transaction_id: Option<String>,
    /// An offline payment's reference.
    #[oai(skip_serializing_if_is_none)]
    pub reference: Option<String>,
    /// The bills it covers.
    pub bills: Vec<PaidBill>,
    /// For a pending WeChat payment: what to pass to `wx.requestPayment`.
    #[oai(skip_serializing_if_is_none)]
    pub request_payment: Option<RequestPayment>,
    /// The receipt's number, once paid.
    #[oai(skip_serializing_if_is_none)]
    pub receipt_number: Option<String>,
    /// When an unpaid order closes.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was paid.
    #[oai(skip_serializing_if_is_none)]
    pub paid_at: Option<DateTime<Utc>>,
    /// When the provider took the money for it after it had been ended here (closed or
    /// failed) and its bills were settled otherwise: the money is to be refunded.
    #[oai(skip_serializing_if_is_none)]
    pub stray_paid_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The API form of a payment row.
pub fn payment_dto(
    row: payment::Model,
    covered: Vec<payment_bill::Model>,
    request_payment: Option<RequestPayment>,
    receipt: Option<&receipt::Model>,
) -> Payment {
    let periods: std::collections::HashMap<String, String> = row.frozen["bills"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            Some((
                b["bill_id"].as_str()?.to_owned(),
                b["period"].as_str()?.to_owned(),
            ))
        })
        .collect();
    Payment {
        id: row.id,
        household_id: row.household_id,
        state: Vocab::stored(&row.state),
        method: Vocab::stored(&row.method),
        provider: row.provider,
        amount_fen: row.amount_fen,
        principal_fen: row.principal_fen,
        late_fee_fen: row.late_fee_fen,
        refunded_fen: row.refunded_fen,
        out_trade_no: row.out_trade_no,
        transaction_id: row.transaction_id,
        reference: row.reference,
        bills: covered
            .into_iter()
            .map(|c| PaidBill {
                period: periods
                    .get(&c.bill_id.to_string())
                    .cloned()
                    .unwrap_or_default(),
                bill_id: c.bill_id,
                principal_fen: c.principal_fen,
                late_fee_fen: c.late_fee_fen,
            })
            .collect(),
        request_payment,
        receipt_number: receipt.map(|r| r.number.clone()),
        expires_at: row.expires_at,
        paid_at: row.paid_at,
        stray_paid_at: row.stray_paid_at,
        created_at: row.created_at,
    }
}

/// A created payment.
#[derive(ApiResponse)]
pub enum PaymentCreated {
    /// Created (or, with a repeated `Idempotency-Key`, the payment the first request created).
    #[oai(status = 201)]
    Created(Json<Payment>, #[oai(header = "Location")] String),
}

/// One line of a receipt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReceiptLine {
    /// The bill.
    pub bill_id: Uuid,
    /// Its month.
    pub period: String,
    /// Item name, charge description, or 滞纳金 for a late fee.
    pub name: String,
    /// Quantity, three decimals.
    pub quantity: String,
    /// What the quantity counts (`m2`, `ton`, ..., `item`).
    pub unit: String,
    /// Unit price in yuan, four decimals.
    pub unit_price: String,
    /// Amount, fen.
    pub amount_fen: i64,
}

/// A receipt (收据): what a succeeded payment paid for.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Receipt {
    /// `2026-000123`: numbered per company and year, without gaps.
    pub number: String,
    /// The payment.
    pub payment_id: Uuid,
    /// The household.
    pub household_id: Uuid,
    /// The community's name.
    pub community: String,
    /// The household's address (`3栋1单元1203`).
    pub address: String,
    /// How it was paid.
    pub method: Vocab<PaymentMethod>,
    /// The provider's transaction id (online payments).
    #[oai(skip_serializing_if_is_none)]
    pub transaction_id: Option<String>,
    /// An offline payment's reference.
    #[oai(skip_serializing_if_is_none)]
    pub reference: Option<String>,
    /// The lines.
    pub lines: Vec<ReceiptLine>,
    /// Total, fen.
    pub total_fen: i64,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
}

/// The API form of a receipt.
pub fn receipt_dto(row: &receipt::Model, payment: &payment::Model) -> Receipt {
    let mut lines = Vec::new();
    for b in payment.frozen["bills"].as_array().into_iter().flatten() {
        let bill_id = b["bill_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_default();
        let period = b["period"].as_str().unwrap_or_default().to_owned();
        for l in b["lines"].as_array().into_iter().flatten() {
            lines.push(ReceiptLine {
                bill_id,
                period: period.clone(),
                name: l["name"].as_str().unwrap_or_default().to_owned(),
                quantity: Quantity::from_milli(l["quantity_milli"].as_i64().unwrap_or_default())
                    .map(Quantity::display)
                    .unwrap_or_default(),
                unit: l["unit"].as_str().unwrap_or_default().to_owned(),
                unit_price: price_text(l["unit_price_centi_fen"].as_i64().unwrap_or_default()),
                amount_fen: l["amount_fen"].as_i64().unwrap_or_default(),
            });
        }
        let late = b["late_fee_fen"].as_i64().unwrap_or_default();
        if late > 0 {
            lines.push(ReceiptLine {
                bill_id,
                period,
                name: "滞纳金".into(),
                quantity: "1.000".into(),
                unit: "item".into(),
                unit_price: price_text(late * 100),
                amount_fen: late,
            });
        }
    }
    Receipt {
        number: row.number.clone(),
        payment_id: payment.id,
        household_id: payment.household_id,
        community: row.content["community"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        address: row.content["address"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        method: Vocab::stored(&payment.method),
        transaction_id: payment.transaction_id.clone(),
        reference: payment.reference.clone(),
        total_fen: payment.amount_fen,
        lines,
        paid_at: row.issued_at,
    }
}

page_of!(PaymentPage, Payment);
