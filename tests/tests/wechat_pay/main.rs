//! The WeChat Pay client against the local mock, which checks request signatures with the
//! merchant's public key as WeChat Pay does and signs every answer with its own key.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use courtyard_domain::{Clock, ManualClock, money::Fen};
use courtyard_providers::wechat_pay::{
    EventType, NotifyResource, OutRefundNo, OutTradeNo, PrepayRequest, RefundRequest, RefundStatus,
    TradeState, VerifyError, WechatPayClient, WechatPayError, sign,
};
use courtyard_tests::mocks::{
    MockWechatPay, fixture,
    wechat_pay::{MCHID, MERCHANT_SERIAL_NO},
};
use secrecy::SecretString;
use serde_json::{Value, json};

const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

/// 2026-12-01 10:00 in Beijing.
fn clock() -> ManualClock {
    ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0)
            .single()
            .expect("valid time"),
    )
}

struct Setup {
    clock: ManualClock,
    mock: MockWechatPay,
    client: WechatPayClient,
}

async fn setup() -> Setup {
    let clock = clock();
    let mock = MockWechatPay::start_with_clock(Arc::new(clock.clone())).await;
    let client =
        WechatPayClient::new(mock.client_config(), Arc::new(clock.clone())).expect("client");
    Setup {
        clock,
        mock,
        client,
    }
}

fn order_no(raw: &str) -> OutTradeNo {
    OutTradeNo::parse(raw).expect("order number")
}

fn fen(raw: i64) -> Fen {
    Fen::parse(raw).expect("fen")
}

fn prepay_request(clock: &ManualClock, no: &str, total: i64) -> PrepayRequest {
    PrepayRequest {
        description: "幸福里物业-2026年12月物业费".into(),
        out_trade_no: order_no(no),
        time_expire: clock.now() + Duration::minutes(30),
        total: fen(total),
        payer_openid: OPENID.into(),
        attach: None,
    }
}

fn refund_request(no: &str, refund_no: &str, refund: i64, total: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: order_no(no),
        out_refund_no: OutRefundNo::parse(refund_no).expect("refund number"),
        reason: Some("多缴退费".into()),
        refund: fen(refund),
        total: fen(total),
    }
}

#[track_caller]
fn assert_api_error(result: Result<impl std::fmt::Debug, WechatPayError>, status: u16, code: &str) {
    match result {
        Err(WechatPayError::Api {
            status: got_status,
            code: got_code,
            ..
        }) => assert_eq!((got_status, got_code.as_str()), (status, code)),
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn prepay_pay_and_the_notification_verifies_and_decrypts() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    let prepay_id = client
        .prepay(&prepay_request(&clock, "BILL202612000001", 12_550))
        .await
        .expect("prepay");
    assert!(prepay_id.starts_with("wx"), "{prepay_id}");

    let sent = &mock.requests()[0];
    assert_eq!(sent.url, "/v3/pay/transactions/jsapi");
    assert!(sent.headers["authorization"].starts_with("WECHATPAY2-SHA256-RSA2048 mchid="));
    assert_eq!(sent.headers["accept"], "application/json");
    let body: Value = serde_json::from_str(&sent.body).expect("json");
    assert_eq!(
        body["amount"],
        json!({ "total": 12_550, "currency": "CNY" })
    );
    assert_eq!(body["time_expire"], "2026-12-01T10:30:00+08:00");
    assert_eq!(body["payer"]["openid"], OPENID);

    let params = client.request_payment_params(&prepay_id).expect("params");
    assert_eq!(params.package, format!("prepay_id={prepay_id}"));
    let merchant_public =
        sign::parse_public_key("merchant", &fixture("wechat_pay/merchant-test-key.pub.pem"))
            .expect("key");
    let signed = sign::pay_sign_message(
        &params.app_id,
        &params.time_stamp,
        &params.nonce_str,
        &params.package,
    );
    assert!(sign::verify(
        &merchant_public,
        signed.as_bytes(),
        &params.pay_sign
    ));

    clock.advance(Duration::seconds(60));
    let notification = mock.pay("BILL202612000001");
    let got = client
        .verify_notification(
            &notification.header_map(),
            notification.body.as_bytes(),
            clock.now(),
        )
        .expect("verified");
    client.check_merchant(&got).expect("our merchant");
    assert_eq!(got.event_type, EventType::TransactionSuccess);
    let NotifyResource::Transaction(paid) = got.resource else {
        panic!("not a transaction");
    };
    assert_eq!(paid.out_trade_no, "BILL202612000001");
    assert_eq!(paid.trade_state, TradeState::Success);
    assert_eq!(paid.amount.total, 12_550);
    assert_eq!(paid.amount.payer_total, Some(12_550));
    assert_eq!(paid.payer_openid(), Some(OPENID));
    assert_eq!(paid.success_time, Some(clock.now()));

    // The same notification, arriving late (a replay), is refused.
    clock.advance(Duration::seconds(301));
    assert!(
        client
            .verify_notification(
                &notification.header_map(),
                notification.body.as_bytes(),
                clock.now()
            )
            .is_err()
    );
}

#[tokio::test]
async fn the_query_follows_the_order() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    let no = order_no("BILL202612000002");
    assert_api_error(client.query_order(&no).await, 404, "ORDER_NOT_EXIST");
    client
        .prepay(&prepay_request(&clock, no.as_str(), 9_900))
        .await
        .expect("prepay");
    let unpaid = client.query_order(&no).await.expect("query");
    assert_eq!(unpaid.trade_state, TradeState::Notpay);
    assert_eq!(unpaid.transaction_id, None);
    assert_eq!(unpaid.amount.total, 9_900);
    assert_eq!(
        mock.requests().last().map(|r| r.url.clone()),
        Some(format!(
            "/v3/pay/transactions/out-trade-no/{no}?mchid={MCHID}"
        ))
    );

    mock.pay(no.as_str());
    let paid = client.query_order(&no).await.expect("query");
    assert_eq!(paid.trade_state, TradeState::Success);
    assert!(paid.trade_state.is_paid());
    assert_eq!(
        paid.transaction_id,
        mock.order(no.as_str()).and_then(|o| o.transaction_id)
    );
}

#[tokio::test]
async fn an_order_number_with_punctuation_is_signed_as_sent() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    let no = order_no("BILL|2026*12_0001-A");
    client
        .prepay(&prepay_request(&clock, no.as_str(), 100))
        .await
        .expect("prepay");
    let order = client.query_order(&no).await.expect("query");
    assert_eq!(order.out_trade_no, "BILL|2026*12_0001-A");
    client.close_order(&no).await.expect("close");
    assert_eq!(
        mock.order(no.as_str()).map(|o| o.trade_state),
        Some("CLOSED")
    );
}

#[tokio::test]
async fn prepay_is_idempotent_and_a_reused_number_is_refused() {
    let Setup {
        clock,
        mock: _mock,
        client,
    } = setup().await;
    let request = prepay_request(&clock, "BILL202612000003", 5_000);
    let first = client.prepay(&request).await.expect("prepay");
    let again = client.prepay(&request).await.expect("prepay again");
    assert_eq!(first, again);
    let other_amount = PrepayRequest {
        total: fen(5_001),
        ..request.clone()
    };
    assert_api_error(client.prepay(&other_amount).await, 400, "INVALID_REQUEST");
}

#[tokio::test]
async fn close_closes_an_unpaid_order_and_says_when_it_was_paid() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    let unpaid = order_no("BILL202612000004");
    client
        .prepay(&prepay_request(&clock, unpaid.as_str(), 100))
        .await
        .expect("prepay");
    client.close_order(&unpaid).await.expect("close");
    let closed = client.query_order(&unpaid).await.expect("query");
    assert_eq!(closed.trade_state, TradeState::Closed);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.requests()[1].status, 204);

    let paid = order_no("BILL202612000005");
    client
        .prepay(&prepay_request(&clock, paid.as_str(), 100))
        .await
        .expect("prepay");
    mock.pay(paid.as_str());
    assert!(matches!(
        client.close_order(&paid).await,
        Err(WechatPayError::OrderPaid)
    ));
}

#[tokio::test]
async fn refunds_partial_then_full_and_never_more_than_paid() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    let no = "BILL202612000006";
    client
        .prepay(&prepay_request(&clock, no, 10_000))
        .await
        .expect("prepay");
    assert_api_error(
        client
            .refund(&refund_request(no, "R1", 3_000, 10_000))
            .await,
        400,
        "INVALID_REQUEST",
    );
    mock.pay(no);

    let partial = client
        .refund(&refund_request(no, "R2", 3_000, 10_000))
        .await
        .expect("partial refund");
    assert_eq!(partial.status, RefundStatus::Processing);
    assert_eq!(partial.amount.refund, 3_000);
    let retried = client
        .refund(&refund_request(no, "R2", 3_000, 10_000))
        .await
        .expect("the same refund again");
    assert_eq!(retried.refund_id, partial.refund_id);
    assert_api_error(
        client
            .refund(&refund_request(no, "R2", 2_000, 10_000))
            .await,
        400,
        "INVALID_REQUEST",
    );
    assert_api_error(
        client
            .refund(&refund_request(no, "R3", 7_001, 10_000))
            .await,
        400,
        "INVALID_REQUEST",
    );
    let rest = client
        .refund(&refund_request(no, "R3", 7_000, 10_000))
        .await
        .expect("the rest");
    assert_eq!(rest.amount.refund, 7_000);
    assert_api_error(
        client.refund(&refund_request(no, "R4", 1, 10_000)).await,
        400,
        "INVALID_REQUEST",
    );

    let notification = mock.complete_refund("R2", EventType::RefundSuccess);
    let got = client
        .verify_notification(
            &notification.header_map(),
            notification.body.as_bytes(),
            clock.now(),
        )
        .expect("verified");
    client.check_merchant(&got).expect("our merchant");
    assert_eq!(got.event_type, EventType::RefundSuccess);
    let NotifyResource::Refund(refund) = got.resource else {
        panic!("not a refund");
    };
    assert_eq!(refund.refund_id, partial.refund_id);
    assert_eq!(refund.status, RefundStatus::Success);
    assert_eq!((refund.amount.refund, refund.amount.total), (3_000, 10_000));

    let queried = client
        .query_refund(&OutRefundNo::parse("R2").expect("refund number"))
        .await
        .expect("query refund");
    assert_eq!(queried.status, RefundStatus::Success);
    assert_api_error(
        client
            .query_refund(&OutRefundNo::parse("R9").expect("refund number"))
            .await,
        404,
        "RESOURCE_NOT_EXISTS",
    );
    let order = client.query_order(&order_no(no)).await.expect("query");
    assert_eq!(order.trade_state, TradeState::Refund);
}

#[tokio::test]
async fn a_request_signed_with_another_key_or_too_late_is_refused() {
    let Setup { clock, mock, .. } = setup().await;
    let mut wrong_key = mock.client_config();
    wrong_key.merchant_private_key_pem =
        SecretString::from(fixture("wechat_pay/stranger-test-key.pem"));
    let stranger = WechatPayClient::new(wrong_key, Arc::new(clock.clone())).expect("client");
    let no = order_no("BILL202612000007");
    assert_api_error(stranger.query_order(&no).await, 401, "SIGN_ERROR");

    let mut wrong_serial = mock.client_config();
    wrong_serial.merchant_serial_no = "0000000000000000".into();
    let client = WechatPayClient::new(wrong_serial, Arc::new(clock.clone())).expect("client");
    assert_api_error(client.query_order(&no).await, 401, "SIGN_ERROR");

    let slow_clock = ManualClock::new(clock.now() - Duration::seconds(301));
    let late = WechatPayClient::new(mock.client_config(), Arc::new(slow_clock)).expect("client");
    assert!(matches!(
        late.query_order(&no).await,
        // Our clock is off too, so the signed answer looks stale to us as well.
        Err(WechatPayError::Verify(VerifyError::StaleTimestamp { .. }))
    ));
    assert_eq!(mock.requests()[2].code.as_deref(), Some("SIGN_ERROR"));
}

#[tokio::test]
async fn a_forged_answer_is_refused_and_the_next_one_accepted() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    let request = prepay_request(&clock, "BILL202612000008", 100);
    mock.forge_next_reply();
    assert!(matches!(
        client.prepay(&request).await,
        Err(WechatPayError::Verify(VerifyError::BadSignature))
    ));
    client.prepay(&request).await.expect("a genuine answer");
}

#[tokio::test]
async fn a_programmed_failure_comes_back_typed() {
    let Setup {
        clock,
        mock,
        client,
    } = setup().await;
    mock.fail_next(500, "SYSTEM_ERROR", "系统错误");
    let failed = client
        .prepay(&prepay_request(&clock, "BILL202612000009", 100))
        .await;
    assert!(failed.as_ref().is_err_and(WechatPayError::is_retryable));
    assert_api_error(failed, 500, "SYSTEM_ERROR");
}

/// Sends a signed request the client would never build, to see the mock refuse its shape.
async fn raw_prepay(mock: &MockWechatPay, clock: &ManualClock, body: &Value) -> (u16, Value) {
    let key = sign::parse_private_key(&fixture("wechat_pay/merchant-test-key.pem")).expect("key");
    let body = body.to_string();
    let timestamp = clock.now().timestamp();
    let nonce = sign::nonce();
    let message = sign::request_message(
        "POST",
        "/v3/pay/transactions/jsapi",
        timestamp,
        &nonce,
        &body,
    );
    let signature = sign::sign(&key, message.as_bytes()).expect("sign");
    let response = reqwest::Client::new()
        .post(format!("{}/v3/pay/transactions/jsapi", mock.base_url()))
        .header(
            "Authorization",
            sign::authorization(MCHID, &nonce, timestamp, MERCHANT_SERIAL_NO, &signature),
        )
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("User-Agent", "courtyard-tests")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn the_mock_refuses_a_bad_payload_as_wechat_pay_does() {
    let Setup { clock, mock, .. } = setup().await;
    let good = json!({
        "appid": "wxd678efh567hg6787", "mchid": MCHID, "description": "物业费",
        "out_trade_no": "BILL202612000010", "time_expire": "2026-12-01T10:30:00+08:00",
        "notify_url": "https://courtyard.example/notify",
        "amount": { "total": 100, "currency": "CNY" }, "payer": { "openid": OPENID },
    });
    assert_eq!(raw_prepay(&mock, &clock, &good).await.0, 200);
    let mut cases = Vec::new();
    for (pointer, value) in [
        ("/out_trade_no", json!("12345")),
        ("/out_trade_no", json!("x".repeat(33))),
        ("/amount/total", json!(1.5)),
        ("/amount/total", json!(0)),
        ("/amount/total", json!("100")),
        ("/notify_url", json!("http://courtyard.example/notify")),
        ("/time_expire", json!("2026-12-01 10:30:00")),
    ] {
        let mut body = good.clone();
        *body.pointer_mut(pointer).expect("field") = value.clone();
        cases.push((format!("{pointer}={value}"), body));
    }
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("payer");
    cases.push(("no payer".into(), missing));
    for (case, body) in cases {
        let (status, answer) = raw_prepay(&mock, &clock, &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("PARAM_ERROR")),
            "{case}"
        );
    }
}
