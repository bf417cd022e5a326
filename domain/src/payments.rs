//! Payments: their states and methods, the late fee each bill carries into a payment, order
//! numbers and receipt numbers. Pure; the store writes them and the API shows them.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::{
    fees::LateFeePolicy,
    people::{InvalidValue, string_enum},
};

string_enum! {
    /// Where a payment stands.
    PaymentState {
        /// Written, not yet placed with the provider.
        Created = "created",
        /// Placed with the provider; waiting for the payer.
        Pending = "pending",
        /// Paid: its bills are paid and it has a receipt.
        Succeeded = "succeeded",
        /// The provider refused it, or placing it failed.
        Failed = "failed",
        /// Closed unpaid: expired, or replaced by a newer payment of the same bills.
        Closed = "closed",
        /// Paid, then refunded in part.
        PartlyRefunded = "partly_refunded",
        /// Paid, then refunded in full.
        Refunded = "refunded",
    }
}

impl PaymentState {
    /// Whether it may still be paid (a notify or a query that says paid is taken).
    pub fn is_open(self) -> bool {
        matches!(self, PaymentState::Created | PaymentState::Pending)
    }
}

string_enum! {
    /// Where a refund stands.
    RefundState {
        /// Asked for; the provider has not said it is done.
        Processing = "processing",
        /// The money went back.
        Succeeded = "succeeded",
        /// Closed without a refund.
        Closed = "closed",
        /// Failed at the payer's bank or account; needs a person.
        Abnormal = "abnormal",
    }
}

impl PaymentState {
    /// Whether money was taken and some of it may still be refunded.
    pub fn is_refundable(self) -> bool {
        matches!(self, PaymentState::Succeeded | PaymentState::PartlyRefunded)
    }
}

/// A refund's number (`out_refund_no`): `R` and the refund id's 32 hex digits.
pub fn out_refund_no(refund_id: Uuid) -> String {
    format!("R{}", refund_id.simple())
}

string_enum! {
    /// How a payment was made.
    PaymentMethod {
        /// WeChat Pay in the mini-program (JSAPI).
        Wechat = "wechat",
        /// Cash at the front desk.
        Cash = "cash",
        /// A card on the front desk's POS terminal.
        Pos = "pos",
        /// A bank transfer.
        BankTransfer = "bank_transfer",
    }
}

impl PaymentMethod {
    /// Whether staff record it (rather than the payer paying online).
    pub fn is_offline(self) -> bool {
        self != PaymentMethod::Wechat
    }
}

/// The late fee a bill due `due_on` carries into a payment made on `today` (both in the
/// community's calendar): simple interest on its principal for the days past due, as
/// `policy` says. Frozen into the payment when it is created.
pub fn late_fee_on(
    policy: &LateFeePolicy,
    principal_fen: i64,
    due_on: NaiveDate,
    today: NaiveDate,
) -> i64 {
    let days = (today - due_on).num_days();
    if days <= 0 {
        return 0;
    }
    policy.late_fee(principal_fen, days)
}

/// A payment's order number (`out_trade_no`): the payment id's 32 hex digits, unique and
/// within WeChat Pay's 6–32 characters.
pub fn out_trade_no(payment_id: Uuid) -> String {
    payment_id.simple().to_string()
}

/// `2026-000123`: the receipt number of the `seq`th receipt of `year`.
pub fn receipt_number(year: i32, seq: i64) -> String {
    format!("{year}-{seq:06}")
}

/// Parses a reference an offline payment is recorded with (POS slip, transfer number).
pub fn reference(raw: &str) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > 100 {
        return Err(InvalidValue("a reference is at most 100 characters".into()));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn late_fees_count_the_days_past_the_due_date() {
        let policy = LateFeePolicy {
            enabled: true,
            daily_ppm: 300,
            grace_days: 0,
            cap_percent: 30,
        };
        let due = day(2026, 12, 15);
        assert_eq!(
            late_fee_on(&policy, 100_000, due, day(2026, 12, 15)),
            0,
            "on the day"
        );
        assert_eq!(
            late_fee_on(&policy, 100_000, due, day(2026, 12, 1)),
            0,
            "early"
        );
        // Ten days late: 100,000 × 0.0003 × 10 = 300 fen.
        assert_eq!(late_fee_on(&policy, 100_000, due, day(2026, 12, 25)), 300);
        assert_eq!(
            late_fee_on(&LateFeePolicy::default(), 100_000, due, day(2027, 6, 1)),
            0
        );
    }

    #[test]
    fn order_and_receipt_numbers_have_their_shapes() {
        let id = Uuid::nil();
        assert_eq!(
            out_trade_no(id).len(),
            32,
            "WeChat Pay takes 6 to 32 characters"
        );
        assert_eq!(receipt_number(2026, 123), "2026-000123");
        assert_eq!(receipt_number(2026, 1_234_567), "2026-1234567");
        assert!(PaymentState::Pending.is_open());
        assert!(!PaymentState::Succeeded.is_open());
        assert!(PaymentMethod::Cash.is_offline());
        assert!(!PaymentMethod::Wechat.is_offline());
    }
}
