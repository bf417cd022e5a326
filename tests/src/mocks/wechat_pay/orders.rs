//! The WeChat Pay mock's orders and refunds: prepay (idempotent per out_trade_no, a
//! conflicting reuse refused), and refunds (idempotent per out_refund_no, never more than
//! was paid).

use chrono::DateTime;
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::{
    MockOrder, MockRefund, State, lock,
    wire::{Failure, china, fail, number, param_error, positive, text},
};

impl State {
    pub(super) fn prepay(&self, body: Value) -> Result<(StatusCode, Option<Value>), Failure> {
        let appid = text(&body, "/appid", 32)?;
        let mchid = text(&body, "/mchid", 32)?;
        text(&body, "/description", 127)?;
        let out_trade_no = text(&body, "/out_trade_no", 32)?;
        if !number(out_trade_no, 6, 32, "_-|*") {
            return Err(param_error(
                "out_trade_no must be 6 to 32 of 0-9 A-Z a-z _ - | *",
            ));
        }
        let notify_url = text(&body, "/notify_url", 255)?;
        if !notify_url.starts_with("https://") || notify_url.contains('?') {
            return Err(param_error("notify_url must be HTTPS without a query"));
        }
        if let Some(expire) = body.get("time_expire") {
            let at = expire
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or_else(|| param_error("time_expire is not yyyy-MM-DDTHH:mm:ss+TIMEZONE"))?;
            if at <= self.clock.now() {
                return Err(param_error("time_expire has passed"));
            }
        }
        positive(&body, "/amount/total")?;
        if body["amount"].get("currency").is_some_and(|c| c != "CNY") {
            return Err(param_error("amount.currency must be CNY"));
        }
        text(&body, "/payer/openid", 128)?;
        if mchid != self.mchid {
            return Err(param_error("mchid is not the caller's"));
        }
        if appid != self.appid {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "APPID_MCHID_NOT_MATCH",
                "appid和mch_id不匹配",
            ));
        }
        let mut book = lock(&self.book);
        if let Some(order) = book.orders.get(out_trade_no) {
            return match order.trade_state {
                _ if order.request != body => Err(fail(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "201 商户订单号重复",
                )),
                "NOTPAY" => Ok((
                    StatusCode::OK,
                    Some(json!({ "prepay_id": order.prepay_id })),
                )),
                "CLOSED" => Err(fail(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
                _ => Err(fail(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付")),
            };
        }
        book.serial += 1;
        let prepay_id = format!(
            "wx{}{:016}",
            self.clock.now().format("%d%H%M%S"),
            book.serial
        );
        book.orders.insert(
            out_trade_no.to_owned(),
            MockOrder {
                request: body.clone(),
                prepay_id: prepay_id.clone(),
                trade_state: "NOTPAY",
                transaction_id: None,
                success_time: None,
            },
        );
        Ok((StatusCode::OK, Some(json!({ "prepay_id": prepay_id }))))
    }

    pub(super) fn refund(&self, body: Value) -> Result<(StatusCode, Option<Value>), Failure> {
        let out_trade_no = text(&body, "/out_trade_no", 32)?;
        let out_refund_no = text(&body, "/out_refund_no", 64)?;
        if !number(out_refund_no, 1, 64, "_-|*@") {
            return Err(param_error(
                "out_refund_no must be 1 to 64 of 0-9 A-Z a-z _ - | * @",
            ));
        }
        if body.get("reason").is_some() {
            text(&body, "/reason", 80)?;
        }
        let https = |u: &str| u.starts_with("https://") && !u.contains('?');
        if body
            .get("notify_url")
            .is_some_and(|url| !url.as_str().is_some_and(https))
        {
            return Err(param_error("notify_url must be HTTPS without a query"));
        }
        let refund = positive(&body, "/amount/refund")?;
        let total = positive(&body, "/amount/total")?;
        if body["amount"]["currency"] != "CNY" {
            return Err(param_error("amount.currency must be CNY"));
        }
        let mut book = lock(&self.book);
        if let Some(existing) = book.refunds.get(out_refund_no) {
            if existing.request != body {
                return Err(fail(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "退款单号重复，参数不一致",
                ));
            }
            return Ok((
                StatusCode::OK,
                Some(book.refund_answer(out_refund_no, existing)),
            ));
        }
        let order = book
            .orders
            .get(out_trade_no)
            .ok_or_else(|| fail(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
        if !matches!(order.trade_state, "SUCCESS" | "REFUND") {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "订单未支付",
            ));
        }
        if order.request["amount"]["total"].as_i64() != Some(total) {
            return Err(param_error("amount.total is not the order's amount"));
        }
        let refunded: i64 = book
            .refunds
            .values()
            .filter(|r| {
                r.out_trade_no == out_trade_no && matches!(r.status, "PROCESSING" | "SUCCESS")
            })
            .map(|r| r.refund)
            .sum();
        if refunded + refund > total {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "申请退款金额超过订单可退金额",
            ));
        }
        book.serial += 1;
        let record = MockRefund {
            request: body.clone(),
            refund_id: format!("50{:027}", book.serial),
            out_trade_no: out_trade_no.to_owned(),
            status: "PROCESSING",
            refund,
            total,
            create_time: china(self.clock.now()),
            success_time: None,
        };
        if let Some(order) = book.orders.get_mut(out_trade_no) {
            order.trade_state = "REFUND";
        }
        let answer = book.refund_answer(out_refund_no, &record);
        book.refunds.insert(out_refund_no.to_owned(), record);
        Ok((StatusCode::OK, Some(answer)))
    }
}
