//! The wire shapes of the WeChat Pay mock: answers as WeChat Pay writes them, and the
//! field checks that answer `PARAM_ERROR`.

use chrono::{DateTime, FixedOffset, Utc};
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::{MockOrder, MockRefund};

/// An error answer: status, `code`, `message`.
pub(super) type Failure = (StatusCode, String, String);

/// RFC 3339 in China time, as WeChat Pay writes every time.
pub(super) fn china(at: DateTime<Utc>) -> String {
    let china = FixedOffset::east_opt(8 * 3600).expect("+08:00");
    at.with_timezone(&china)
        .format("%Y-%m-%dT%H:%M:%S+08:00")
        .to_string()
}

/// An order as the query answers it and `TRANSACTION.SUCCESS` carries it.
pub(super) fn transaction_json(order: &MockOrder) -> Value {
    let request = &order.request;
    let paid = order.transaction_id.is_some();
    let mut answer = json!({
        "appid": request["appid"], "mchid": request["mchid"],
        "out_trade_no": request["out_trade_no"], "attach": request.get("attach").unwrap_or(&json!("")),
        "trade_state": order.trade_state,
        "trade_state_desc": match order.trade_state {
            "NOTPAY" => "订单未支付", "CLOSED" => "订单已关闭", "REFUND" => "转入退款", _ => "支付成功",
        },
        "payer": {},
        "amount": { "total": request["amount"]["total"], "payer_currency": "CNY" },
        "promotion_detail": [],
    });
    if paid {
        answer["transaction_id"] = json!(order.transaction_id);
        answer["trade_type"] = json!("JSAPI");
        answer["bank_type"] = json!("OTHERS");
        answer["success_time"] = json!(order.success_time);
        answer["payer"] = json!({ "openid": request["payer"]["openid"] });
        answer["amount"]["payer_total"] = request["amount"]["total"].clone();
        answer["amount"]["currency"] = json!("CNY");
    }
    answer
}

/// A refund as the refund calls answer it (`transaction_id`: its order's, once paid).
pub(super) fn refund_json(
    out_refund_no: &str,
    refund: &MockRefund,
    transaction_id: Option<String>,
) -> Value {
    let mut answer = json!({
        "refund_id": refund.refund_id, "out_refund_no": out_refund_no,
        "transaction_id": transaction_id, "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
        "create_time": refund.create_time, "status": refund.status, "funds_account": "AVAILABLE",
        "amount": {
            "total": refund.total, "refund": refund.refund, "payer_total": refund.total,
            "payer_refund": refund.refund, "settlement_total": refund.total,
            "settlement_refund": refund.refund, "discount_refund": 0, "currency": "CNY", "from": [],
        },
        "promotion_detail": [],
    });
    if let Some(at) = &refund.success_time {
        answer["success_time"] = json!(at);
    }
    answer
}

pub(super) fn fail(status: StatusCode, code: &str, message: impl Into<String>) -> Failure {
    (status, code.to_owned(), message.into())
}

pub(super) fn param_error(message: impl Into<String>) -> Failure {
    fail(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
}

/// A string field, present and non-empty, at most `max` characters.
pub(super) fn text<'a>(body: &'a Value, pointer: &str, max: usize) -> Result<&'a str, Failure> {
    match body.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        Some(_) => Err(param_error(format!(
            "{pointer} is empty or longer than {max}"
        ))),
        None => Err(param_error(format!("{pointer} is missing or not a string"))),
    }
}

/// A positive JSON integer (`1.0`, `"100"` and `0` are refused, as WeChat Pay does).
pub(super) fn positive(body: &Value, pointer: &str) -> Result<i64, Failure> {
    match body.pointer(pointer) {
        Some(Value::Number(n)) if n.is_i64() && n.as_i64().is_some_and(|v| v > 0) => {
            Ok(n.as_i64().unwrap_or_default())
        }
        _ => Err(param_error(format!(
            "{pointer} must be a positive integer (fen)"
        ))),
    }
}

/// Whether `raw` is `min..=max` of ASCII letters, digits and `extra`.
pub(super) fn number(raw: &str, min: usize, max: usize, extra: &str) -> bool {
    (min..=max).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// A path segment, percent-decoded.
pub(super) fn segment(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// The order-level 404.
pub(super) fn not_found() -> Failure {
    fail(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")
}
