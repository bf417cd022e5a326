//! The typed requests and answers of the operations, in WeChat Pay's field names.

use std::fmt;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use courtyard_domain::{money::Fen, people::InvalidValue};
use serde::{Deserialize, Serialize};

/// A merchant order number: 6 to 32 of `0-9 A-Z a-z _ - | *`, unique per merchant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OutTradeNo(String);

impl OutTradeNo {
    /// Parses an order number.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_number(raw, 6, 32, "_-|*").map(Self).map_err(|()| {
            InvalidValue(format!(
                "`{raw}` is not an out_trade_no: 6 to 32 of 0-9, A-Z, a-z, _, -, |, *"
            ))
        })
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutTradeNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A merchant refund number: 1 to 64 of `0-9 A-Z a-z _ - | * @`, unique per merchant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OutRefundNo(String);

impl OutRefundNo {
    /// Parses a refund number.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_number(raw, 1, 64, "_-|*@").map(Self).map_err(|()| {
            InvalidValue(format!(
                "`{raw}` is not an out_refund_no: 1 to 64 of 0-9, A-Z, a-z, _, -, |, *, @"
            ))
        })
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutRefundNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_number(raw: &str, min: usize, max: usize, extra: &str) -> Result<String, ()> {
    let ok = (min..=max).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok { Ok(raw.to_owned()) } else { Err(()) }
}

/// `2026-12-01T18:30:00+08:00`: API v3 wants RFC 3339 with the China offset.
pub fn china_time(at: DateTime<Utc>) -> String {
    let china = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    at.with_timezone(&china)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A JSAPI order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepayRequest {
    /// What the payer sees (at most 127 characters).
    pub description: String,
    /// Our order number.
    pub out_trade_no: OutTradeNo,
    /// When WeChat Pay stops accepting payment for it.
    pub time_expire: DateTime<Utc>,
    /// The amount.
    pub total: Fen,
    /// The payer's openid under the configured AppID.
    pub payer_openid: String,
    /// Echoed back in the query and notification (at most 128 characters).
    pub attach: Option<String>,
}

/// What `wx.requestPayment` takes, in its own field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestPaymentParams {
    /// The mini-program's AppID.
    pub app_id: String,
    /// Unix seconds, as a string.
    pub time_stamp: String,
    /// Random string.
    pub nonce_str: String,
    /// `prepay_id=...`.
    pub package: String,
    /// Always `RSA`.
    pub sign_type: String,
    /// Base64 SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`.
    pub pay_sign: String,
}

/// An order's state (`trade_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    /// Paid.
    Success,
    /// Paid, then (partly) refunded.
    Refund,
    /// Not paid yet.
    Notpay,
    /// Closed unpaid.
    Closed,
    /// Revoked (payment-code orders only).
    Revoked,
    /// The payer is still entering their password.
    Userpaying,
    /// Payment failed.
    Payerror,
}

impl TradeState {
    /// Whether money was taken: `SUCCESS`, or `REFUND` after it.
    pub fn is_paid(self) -> bool {
        matches!(self, Self::Success | Self::Refund)
    }
}

/// The amounts of an order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransactionAmount {
    /// The order's amount, fen.
    pub total: i64,
    /// What the payer paid after coupons, fen (once paid).
    pub payer_total: Option<i64>,
    /// `CNY`.
    pub currency: Option<String>,
    /// The payer's currency.
    pub payer_currency: Option<String>,
}

/// The payer of an order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payer {
    /// Their openid under the order's AppID (absent before payment).
    pub openid: Option<String>,
}

/// An order as the query answers it and `TRANSACTION.SUCCESS` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Transaction {
    /// Merchant id.
    pub mchid: String,
    /// AppID.
    pub appid: String,
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat Pay's transaction id (once paid).
    pub transaction_id: Option<String>,
    /// `JSAPI`, ...
    pub trade_type: Option<String>,
    /// The state.
    pub trade_state: TradeState,
    /// The state in words.
    #[serde(default)]
    pub trade_state_desc: String,
    /// The payer's bank (`OTHERS`, `CMC`, ...).
    pub bank_type: Option<String>,
    /// Our `attach`.
    pub attach: Option<String>,
    /// When it was paid.
    pub success_time: Option<DateTime<Utc>>,
    /// The payer.
    pub payer: Option<Payer>,
    /// The amounts.
    pub amount: TransactionAmount,
}

impl Transaction {
    /// The payer's openid, when known.
    pub fn payer_openid(&self) -> Option<&str> {
        self.payer.as_ref().and_then(|p| p.openid.as_deref())
    }
}

/// A refund to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The paid order.
    pub out_trade_no: OutTradeNo,
    /// Our refund number; reuse it on retry (WeChat Pay answers the same refund).
    pub out_refund_no: OutRefundNo,
    /// Shown to the payer (at most 80 characters).
    pub reason: Option<String>,
    /// How much to give back.
    pub refund: Fen,
    /// The order's amount, as paid.
    pub total: Fen,
}

impl RefundRequest {
    /// The request for refunding `refund_fen` of the order `out_trade_no` (paid
    /// `total_fen`) under `out_refund_no`, from stored values; the reason is cut to WeChat
    /// Pay's 80 characters. The same on every retry.
    pub fn of(
        out_trade_no: &str,
        out_refund_no: &str,
        reason: &str,
        refund_fen: i64,
        total_fen: i64,
    ) -> Result<Self, InvalidValue> {
        Ok(Self {
            out_trade_no: OutTradeNo::parse(out_trade_no)?,
            out_refund_no: OutRefundNo::parse(out_refund_no)?,
            reason: Some(reason.chars().take(80).collect()),
            refund: Fen::parse(refund_fen)?,
            total: Fen::parse(total_fen)?,
        })
    }
}

/// A refund's state (`status`, or `refund_status` in a notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// Money returned.
    Success,
    /// Closed without a refund.
    Closed,
    /// Under way.
    Processing,
    /// Failed (the payer's card or account); needs a person or a retry elsewhere.
    Abnormal,
}

impl RefundStatus {
    /// The state this status settles a refund in; none while it is processing.
    pub fn settled(self) -> Option<courtyard_domain::payments::RefundState> {
        use courtyard_domain::payments::RefundState;
        match self {
            RefundStatus::Success => Some(RefundState::Succeeded),
            RefundStatus::Closed => Some(RefundState::Closed),
            RefundStatus::Abnormal => Some(RefundState::Abnormal),
            RefundStatus::Processing => None,
        }
    }
}

/// The amounts of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundAmount {
    /// The order's amount, fen.
    pub total: i64,
    /// This refund, fen.
    pub refund: i64,
    /// What the payer paid, fen.
    pub payer_total: Option<i64>,
    /// What the payer gets back, fen.
    pub payer_refund: Option<i64>,
    /// `CNY`.
    pub currency: Option<String>,
}

/// A refund as the refund calls answer it and `REFUND.*` notifications carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    /// Merchant id (notifications only).
    pub mchid: Option<String>,
    /// WeChat Pay's refund id.
    pub refund_id: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// WeChat Pay's transaction id of the order.
    pub transaction_id: Option<String>,
    /// Our order number.
    pub out_trade_no: String,
    /// The state.
    #[serde(alias = "refund_status")]
    pub status: RefundStatus,
    /// Where the money went (`招商银行信用卡0403`, `支付用户零钱`).
    pub user_received_account: Option<String>,
    /// When it was asked for.
    pub create_time: Option<DateTime<Utc>>,
    /// When the money was returned.
    pub success_time: Option<DateTime<Utc>>,
    /// The amounts.
    pub amount: RefundAmount,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn out_trade_no_is_6_to_32_of_the_allowed_characters() {
        for good in ["123456", "A_b-c|d*e", &"x".repeat(32)] {
            assert!(OutTradeNo::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "12345",
            &"x".repeat(33),
            "1234567 ",
            "订单号123456",
            "12345/6",
            "",
        ] {
            assert!(OutTradeNo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn out_refund_no_is_1_to_64_and_may_have_an_at() {
        assert!(OutRefundNo::parse("r").is_ok());
        assert!(OutRefundNo::parse("r@1").is_ok());
        assert!(OutRefundNo::parse(&"r".repeat(64)).is_ok());
        assert!(OutRefundNo::parse(&"r".repeat(65)).is_err());
        assert!(OutRefundNo::parse("").is_err());
        assert!(OutRefundNo::parse("r#1").is_err());
    }

    #[test]
    fn china_time_has_the_plus_eight_offset() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 1, 16, 30, 5)
            .single()
            .expect("time");
        assert_eq!(china_time(at), "2026-12-02T00:30:05+08:00");
    }

    #[test]
    fn a_query_answer_parses() {
        let answer = r#"{"amount":{"currency":"CNY","payer_currency":"CNY","payer_total":1,
            "total":1},"appid":"wxdace645e0bc2cXXX","attach":"","bank_type":"OTHERS",
            "mchid":"1900006XXX","out_trade_no":"44_2126281063_5504",
            "payer":{"openid":"o4GgauJP_mgWEWictzA1ofW_ZXXX"},"promotion_detail":[],
            "success_time":"2021-03-22T10:29:05+08:00","trade_state":"SUCCESS",
            "trade_state_desc":"支付成功","trade_type":"JSAPI",
            "transaction_id":"4200000891202103228088184743"}"#;
        let order: Transaction = serde_json::from_str(answer).expect("parse");
        assert_eq!(order.trade_state, TradeState::Success);
        assert_eq!(order.amount.total, 1);
        assert_eq!(order.payer_openid(), Some("o4GgauJP_mgWEWictzA1ofW_ZXXX"));
        assert_eq!(
            order.success_time,
            Utc.with_ymd_and_hms(2021, 3, 22, 2, 29, 5).single()
        );
        let unpaid = r#"{"amount":{"payer_currency":"CNY","total":100},"appid":"wx1",
            "mchid":"19","out_trade_no":"1217752501201407033233368018","payer":{},
            "promotion_detail":[],"trade_state":"NOTPAY","trade_state_desc":"订单未支付"}"#;
        let order: Transaction = serde_json::from_str(unpaid).expect("parse");
        assert_eq!(order.trade_state, TradeState::Notpay);
        assert_eq!(order.transaction_id, None);
        assert_eq!(order.payer_openid(), None);
    }

    #[test]
    fn a_refund_parses_from_the_answer_and_the_notification() {
        let answer = r#"{"refund_id":"50000000382019052709732678859","out_refund_no":"R1",
            "transaction_id":"1217752501201407033233368018","out_trade_no":"O123456",
            "channel":"ORIGINAL","user_received_account":"招商银行信用卡0403",
            "create_time":"2020-12-01T16:18:12+08:00","status":"PROCESSING",
            "amount":{"total":100,"refund":60,"payer_total":100,"payer_refund":60,
            "settlement_refund":60,"settlement_total":100,"discount_refund":0,
            "currency":"CNY","from":[]}}"#;
        let refund: Refund = serde_json::from_str(answer).expect("parse");
        assert_eq!(refund.status, RefundStatus::Processing);
        assert_eq!(refund.amount.refund, 60);
        let notified = r#"{"mchid":"1900000100","transaction_id":"1008450740201411110005820873",
            "out_trade_no":"20150806125346","refund_id":"50200207182018070300011301001",
            "out_refund_no":"7752501201407033233368018","refund_status":"SUCCESS",
            "success_time":"2018-06-08T10:34:56+08:00","user_received_account":"支付用户零钱",
            "amount":{"total":999,"refund":999,"payer_total":999,"payer_refund":999}}"#;
        let refund: Refund = serde_json::from_str(notified).expect("parse");
        assert_eq!(refund.status, RefundStatus::Success);
        assert_eq!(refund.mchid.as_deref(), Some("1900000100"));
    }
}
