//! Payments end to end: a WeChat Pay payment through prepay and a signed, encrypted
//! notification from the mock (which checks our request signatures); forged, stale, wrong
//! amount and unknown-order notifications refused; a notification twice and two at once
//! pay once with one receipt; a newer payment closes the older order; the dev provider;
//! offline payments; late fees frozen into the payment; receipt numbers without gaps under
//! 20 concurrent payments.

use chrono::Duration;
use courtyard_domain::{
    Clock,
    entities::{receipt, resident},
    settings::PaymentProviderKind,
};
use courtyard_providers::wechat_pay::{
    EventType,
    platform::{self, PlatformKey, SignedNotification},
    sign,
};
use courtyard_tests::{
    Reply, TestApp, Tokens,
    mocks::{
        fixture,
        wechat_pay::{API_V3_KEY, APPID, MCHID, MockWechatPay, NOTIFY_URL, PUBLIC_KEY_ID},
    },
    spawn_app, spawn_app_with_providers, test_start,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) struct Home {
    pub(crate) admin: Tokens,
    pub(crate) community: Uuid,
    pub(crate) unit: Uuid,
    pub(crate) household: Uuid,
    pub(crate) resident: Tokens,
}

const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

/// A community charging 物业费 per m², one 100 m² household with a resident whose WeChat
/// openid is known, and that household's bill of 2026-11 (¥235.00).
pub(crate) async fn home(app: &TestApp) -> (Home, Uuid) {
    let (_, admin) = app.bootstrap_admin("Pay Co").await;
    let token = admin.access.as_str();
    let community = app
        .create_community(token, &json!({ "name": "翠湖花园" }))
        .await
        .expect(201)
        .id();
    let building = app
        .create_building(token, community, &json!({ "name": "3栋" }))
        .await
        .expect(201)
        .id();
    let unit = app
        .create_unit(token, building, &json!({ "name": "1单元" }))
        .await
        .expect(201)
        .id();
    let household = app
        .create_household(
            token,
            unit,
            &json!({ "room_number": "1203", "floor_area_m2": 100 }),
        )
        .await
        .expect(201)
        .id();
    let resident_id = app
        .create_resident(
            token,
            &json!({
                "name": "王芳",
                "phone": "13800006666",
                "memberships": [{ "household_id": household, "role": "owner" }],
            }),
        )
        .await
        .expect(201)
        .id();
    let row = resident::Entity::find_by_id(resident_id)
        .one(&app.db)
        .await
        .expect("resident")
        .expect("found");
    let mut active = row.into_active_model();
    active.wechat_openid = Set(Some(OPENID.into()));
    active.update(&app.db).await.expect("openid");
    let resident = app.login_resident("13800006666").await;
    app.create_fee_item(
        token,
        community,
        &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
    )
    .await
    .expect(201);
    app.create_bill_run(token, community, &json!({ "period": "2026-11" }))
        .await
        .expect(202);
    let bill = app.wait_for_bill(household, "2026-11", token).await;
    (
        Home {
            admin,
            community,
            unit,
            household,
            resident,
        },
        bill,
    )
}

pub(crate) async fn spawn_with_wechat_pay() -> (TestApp, MockWechatPay) {
    let clock = courtyard_domain::ManualClock::new(test_start());
    let mock = MockWechatPay::start_with_clock(std::sync::Arc::new(clock.clone())).await;
    let settings = mock.settings();
    let app = spawn_app_with_providers(clock, move |s| {
        s.payments.provider = PaymentProviderKind::WechatPay;
        s.payments.notify_url = NOTIFY_URL.into();
        s.payments.wechat_pay = Some(settings);
    })
    .await;
    (app, mock)
}

pub(crate) async fn post_notify(app: &TestApp, signed: &SignedNotification) -> Reply {
    let mut req = app
        .client
        .post(format!("{}/v1/payments/wechat/notify", app.address))
        .body(signed.body.clone());
    for (name, value) in &signed.headers {
        req = req.header(*name, value);
    }
    let res = req.send().await.expect("notify");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// A TRANSACTION.SUCCESS notification for `out_trade_no`, signed with `key`.
fn crafted(
    key: &PlatformKey,
    out_trade_no: &str,
    total: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> SignedNotification {
    crafted_as(key, out_trade_no, "4200000000000000000000000001", total, at)
}

/// [`crafted`] with its own transaction id.
pub(crate) fn crafted_as(
    key: &PlatformKey,
    out_trade_no: &str,
    transaction_id: &str,
    total: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> SignedNotification {
    let resource = json!({
        "mchid": MCHID, "appid": APPID, "out_trade_no": out_trade_no,
        "transaction_id": transaction_id, "trade_type": "JSAPI",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "success_time": "2026-11-25T10:05:00+08:00",
        "payer": { "openid": OPENID },
        "amount": { "total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY" },
    });
    platform::notification(
        key,
        API_V3_KEY.as_bytes(),
        EventType::TransactionSuccess,
        &resource,
        at,
    )
    .expect("signed")
}

pub(crate) fn platform_key() -> PlatformKey {
    PlatformKey::from_pem(PUBLIC_KEY_ID, &fixture("wechat_pay/platform-test-key.pem")).expect("key")
}

#[tokio::test]
async fn a_wechat_payment_is_placed_verified_and_paid_exactly_once() {
    let (app, mock) = spawn_with_wechat_pay().await;
    let (h, bill) = home(&app).await;
    let reply = app
        .request_with_headers(
            reqwest::Method::POST,
            "/v1/payments",
            Some(&h.resident.access),
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
            &[("Idempotency-Key", "pay-1")],
        )
        .await
        .expect(201);
    let payment = reply.body.clone();
    let id = reply.id();
    assert_eq!(reply.header("location"), format!("/v1/payments/{id}"));
    assert_eq!(payment["state"], "pending");
    assert_eq!(
        payment["amount_fen"], 23_500,
        "100 m² × 2.35, computed on the server"
    );
    assert_eq!(payment["late_fee_fen"], 0);
    assert_eq!(payment["bills"][0]["period"], "2026-11");
    let out_trade_no = payment["out_trade_no"]
        .as_str()
        .expect("out_trade_no")
        .to_owned();

    // The order reached the mock (which checked our signature) with the server's amount.
    let order = mock.order(&out_trade_no).expect("the order was placed");
    assert_eq!(order.request["amount"]["total"], 23_500);
    assert_eq!(order.request["payer"]["openid"], OPENID);
    assert_eq!(order.request["mchid"], MCHID);
    // What wx.requestPayment needs, signed with the merchant key.
    let rp = &payment["request_payment"];
    assert_eq!(rp["appId"], APPID);
    assert_eq!(rp["signType"], "RSA");
    assert_eq!(rp["package"], format!("prepay_id={}", order.prepay_id));
    let message = sign::pay_sign_message(
        APPID,
        rp["timeStamp"].as_str().expect("timeStamp"),
        rp["nonceStr"].as_str().expect("nonceStr"),
        rp["package"].as_str().expect("package"),
    );
    let merchant_public =
        sign::parse_public_key("merchant", &fixture("wechat_pay/merchant-test-key.pub.pem"))
            .expect("merchant public key");
    assert!(
        sign::verify(
            &merchant_public,
            message.as_bytes(),
            rp["paySign"].as_str().expect("paySign")
        ),
        "paySign verifies with the merchant's public key"
    );

    // A retry with the same key is the same payment, and places no second order.
    let again = app
        .request_with_headers(
            reqwest::Method::POST,
            "/v1/payments",
            Some(&h.resident.access),
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
            &[("Idempotency-Key", "pay-1")],
        )
        .await
        .expect(201);
    assert_eq!(again.id(), id);
    let prepays = mock
        .requests()
        .iter()
        .filter(|r| r.url.ends_with("/jsapi"))
        .count();
    assert_eq!(prepays, 1);

    // Notifications that are not WeChat Pay's, not fresh, not for this amount or for no
    // order of ours are refused, and change nothing.
    let now = app.clock.now();
    let stranger =
        PlatformKey::from_pem(PUBLIC_KEY_ID, &fixture("wechat_pay/stranger-test-key.pem"))
            .expect("stranger");
    for (what, signed, status) in [
        (
            "forged",
            crafted(&stranger, &out_trade_no, 23_500, now),
            401,
        ),
        (
            "stale",
            crafted(
                &platform_key(),
                &out_trade_no,
                23_500,
                now - Duration::seconds(301),
            ),
            401,
        ),
        (
            "wrong amount",
            crafted(&platform_key(), &out_trade_no, 1, now),
            400,
        ),
        (
            "unknown order",
            crafted(
                &platform_key(),
                "0000000000000000000000000000dead",
                23_500,
                now,
            ),
            404,
        ),
    ] {
        let reply = post_notify(&app, &signed).await;
        assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text);
        assert_eq!(reply.body["code"], "FAIL", "{what}");
        assert!(reply.body["message"].is_string(), "{what}");
    }
    let still = app
        .get_payment(&h.resident.access, id)
        .await
        .expect(200)
        .body;
    assert_eq!(still["state"], "pending");
    // A tampered body under a good signature is refused too.
    let mut tampered = crafted(&platform_key(), &out_trade_no, 23_500, now);
    tampered.body = tampered
        .body
        .replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS ");
    assert_eq!(post_notify(&app, &tampered).await.status.as_u16(), 401);

    // The payer pays: the notification arrives twice at once, and once more later.
    let signed = mock.pay(&out_trade_no);
    let (a, b) = tokio::join!(post_notify(&app, &signed), post_notify(&app, &signed));
    assert_eq!(a.status.as_u16(), 204, "{}", a.text);
    assert_eq!(b.status.as_u16(), 204, "{}", b.text);
    assert_eq!(post_notify(&app, &signed).await.status.as_u16(), 204);
    let paid = app
        .get_payment(&h.resident.access, id)
        .await
        .expect(200)
        .body;
    assert_eq!(paid["state"], "succeeded");
    assert_eq!(
        paid["transaction_id"],
        mock.order(&out_trade_no)
            .and_then(|o| o.transaction_id)
            .expect("tx")
    );
    assert_eq!(paid["receipt_number"], "2026-000001");
    let receipts = receipt::Entity::find()
        .filter(receipt::Column::PaymentId.eq(id))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(receipts, 1, "paid once, one receipt");
    let bill_now = app
        .get_bill(&h.resident.access, bill)
        .await
        .expect(200)
        .body;
    assert_eq!(bill_now["state"], "paid");
    let shown = app
        .get_receipt(&h.resident.access, id)
        .await
        .expect(200)
        .body;
    assert_eq!(shown["number"], "2026-000001");
    assert_eq!(shown["total_fen"], 23_500);
    assert_eq!(shown["address"], "3栋1单元1203");
    assert_eq!(shown["method"], "wechat");
    assert_eq!(shown["lines"][0]["name"], "物业费");
    assert_eq!(shown["lines"][0]["quantity"], "100.000");
    assert_eq!(shown["lines"][0]["amount_fen"], 23_500);
    // A paid bill cannot be paid again, waived or reissued.
    app.create_payment(
        &h.resident.access,
        &json!({ "household_id": h.household, "bill_ids": [bill] }),
    )
    .await
    .expect_problem(409, "/problems/bill-not-open");
    app.waive_bill(&h.admin.access, bill, &json!({ "reason": "x" }))
        .await
        .expect_problem(409, "/problems/bill-not-open");
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_newer_payment_of_the_same_bill_closes_the_older_order() {
    let (app, mock) = spawn_with_wechat_pay().await;
    let (h, bill) = home(&app).await;
    let body = json!({ "household_id": h.household, "bill_ids": [bill] });
    let first = app
        .create_payment(&h.resident.access, &body)
        .await
        .expect(201);
    let second = app
        .create_payment(&h.resident.access, &body)
        .await
        .expect(201);
    assert_ne!(first.id(), second.id());
    let older = app
        .get_payment(&h.resident.access, first.id())
        .await
        .expect(200)
        .body;
    assert_eq!(older["state"], "closed");
    let first_no = first.body["out_trade_no"].as_str().expect("no");
    assert_eq!(mock.order(first_no).map(|o| o.trade_state), Some("CLOSED"));
    // Paid at WeChat Pay in the meantime: the close answers ORDERPAID, the older payment
    // is taken as paid, and the bill is not paid twice.
    let second_no = second.body["out_trade_no"].as_str().expect("no").to_owned();
    let _ = mock.pay(&second_no);
    app.create_payment(&h.resident.access, &body)
        .await
        .expect_problem(409, "/problems/bill-not-open");
    let settled = app
        .get_payment(&h.resident.access, second.id())
        .await
        .expect(200)
        .body;
    assert_eq!(
        settled["state"], "succeeded",
        "reconciled by the order query"
    );
    assert_eq!(settled["receipt_number"], "2026-000001");
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn the_dev_provider_pays_through_the_same_signed_notification_path() {
    let app = spawn_app().await;
    let (h, bill) = home(&app).await;
    let created = app
        .create_payment(
            &h.resident.access,
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
        )
        .await
        .expect(201);
    assert_eq!(created.body["provider"], "dev");
    assert!(
        created.body["request_payment"]["paySign"].is_string(),
        "{}",
        created.text
    );
    let id = created.id();
    let paid = app
        .dev_confirm_payment(&h.resident.access, id)
        .await
        .expect(200)
        .body;
    assert_eq!(paid["state"], "succeeded");
    assert_eq!(paid["receipt_number"], "2026-000001");
    assert!(paid["transaction_id"].is_string());
    app.dev_confirm_payment(&h.resident.access, id)
        .await
        .expect_problem(409, "/problems/payment-not-pending");
    // The payer is told, with the receipt's number.
    app.wait_for("the payment-received message", 20, || async {
        app.list_messages(&h.resident.access, &[]).await.body["items"]
            .as_array()
            .is_some_and(|items| {
                items.iter().any(|m| {
                    m["title"] == "缴费成功"
                        && m["body"]
                            .as_str()
                            .is_some_and(|b| b.contains("2026-000001"))
                })
            })
    })
    .await;
    let receipt = app
        .get_receipt(&h.resident.access, id)
        .await
        .expect(200)
        .body;
    assert_eq!(receipt["total_fen"], 23_500);
    // The PDF reads back with its Chinese item, the number and the amount.
    let pdf = app.get_receipt_pdf(&h.resident.access, id).await;
    assert_eq!(pdf.status.as_u16(), 200);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    let text = pdf_text(&pdf.bytes);
    for wanted in [
        "物业费",
        "2026-000001",
        "翠湖花园",
        "3栋1单元1203",
        "235.00",
        "人民币贰佰叁拾伍元整",
        "微信支付",
    ] {
        assert!(
            text.contains(wanted),
            "{wanted} not in the PDF's text:\n{text}"
        );
    }
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn late_fees_are_computed_when_the_payment_is_created_and_frozen_into_it() {
    let app = spawn_app().await;
    let (h, bill) = home(&app).await;
    let token = h.admin.access.as_str();
    app.put_fee_policy(
        token,
        h.community,
        &json!({ "due_day": 15, "late_fee": { "enabled": true, "daily_rate_ppm": 300, "grace_days": 5, "cap_percent": 30 } }),
    )
    .await
    .expect(200);
    // Due 2026-12-15; paid on 2027-01-14: 30 days late, 25 after grace.
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2027-01-14T02:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc),
    );
    let resident = app.login_resident("13800006666").await;
    let created = app
        .create_payment(
            &resident.access,
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
        )
        .await
        .expect(201)
        .body;
    // 23,500 × 0.0003 × 25 = 176.25 → 176 fen.
    assert_eq!(created["late_fee_fen"], 176);
    assert_eq!(created["bills"][0]["late_fee_fen"], 176);
    assert_eq!(created["amount_fen"], 23_676);
    // Years later the fee is capped at 30 %: 7,050 fen.
    app.clock.advance(Duration::days(2_000));
    let resident = app.login_resident("13800006666").await;
    let capped = app
        .create_payment(
            &resident.access,
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(capped["late_fee_fen"], 7_050);
    let id = Uuid::parse_str(capped["id"].as_str().expect("id")).expect("uuid");
    let paid = app
        .dev_confirm_payment(&resident.access, id)
        .await
        .expect(200)
        .body;
    assert_eq!(paid["amount_fen"], 30_550);
    let receipt = app.get_receipt(&resident.access, id).await.expect(200).body;
    let late = receipt["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["name"] == "滞纳金")
        .cloned()
        .expect("a late-fee line");
    assert_eq!(late["amount_fen"], 7_050);
    assert_eq!(
        receipt["number"], "2032-000001",
        "numbered in the year it was paid"
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn offline_payments_get_receipts_numbered_without_gaps_under_concurrency() {
    let app = spawn_app().await;
    let (h, first_bill) = home(&app).await;
    let token = h.admin.access.as_str();
    let mut households = vec![(h.household, first_bill)];
    for n in 0..19 {
        let household = app
            .create_household(
                token,
                h.unit,
                &json!({ "room_number": format!("3{n:02}"), "floor_area_m2": 50 }),
            )
            .await
            .expect(201)
            .id();
        households.push((household, Uuid::nil()));
    }
    app.create_bill_run(token, h.community, &json!({ "period": "2026-12" }))
        .await
        .expect(202);
    for (household, bill) in households.iter_mut() {
        *bill = app.wait_for_bill(*household, "2026-12", token).await;
    }
    // A POS payment needs its reference; a resident cannot record one.
    app.record_offline_payment(
        token,
        h.household,
        &json!({ "bill_ids": [first_bill], "method": "pos" }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    app.record_offline_payment(
        &h.resident.access,
        h.household,
        &json!({ "bill_ids": [first_bill], "method": "cash" }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    let paid = futures::future::join_all(households.iter().enumerate().map(|(i, (household, bill))| {
        let body = if i % 2 == 0 {
            json!({ "bill_ids": [bill], "method": "cash" })
        } else {
            json!({ "bill_ids": [bill], "method": "bank_transfer", "reference": format!("TRF{i:04}") })
        };
        let app = &app;
        async move { app.record_offline_payment(token, *household, &body).await }
    }))
    .await;
    let mut numbers: Vec<String> = paid
        .into_iter()
        .map(|r| {
            let r = r.expect(201);
            assert_eq!(r.body["state"], "succeeded");
            r.body["receipt_number"]
                .as_str()
                .expect("number")
                .to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(numbers, expected, "no gaps, no repeats");
    // A refused payment takes no number: the next one is 21.
    let december = households[0].1;
    app.record_offline_payment(
        token,
        h.household,
        &json!({ "bill_ids": [december], "method": "cash" }),
    )
    .await
    .expect_problem(409, "/problems/bill-not-open");
    let next = app
        .record_offline_payment(
            token,
            h.household,
            &json!({ "bill_ids": [first_bill], "method": "cash" }),
        )
        .await
        .expect(201);
    assert_eq!(next.body["receipt_number"], "2026-000021");
    let receipt = app.get_receipt(token, next.id()).await.expect(200).body;
    assert_eq!(receipt["method"], "cash");
    assert_eq!(receipt["transaction_id"], Value::Null);
    let listed = app
        .list_household_payments(&h.resident.access, h.household, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn without_a_notification_the_order_query_settles_it_and_expired_orders_close() {
    let (app, mock) = spawn_with_wechat_pay().await;
    let (h, bill) = home(&app).await;
    let body = json!({ "household_id": h.household, "bill_ids": [bill] });
    let paid = app
        .create_payment(&h.resident.access, &body)
        .await
        .expect(201);
    let no = paid.body["out_trade_no"].as_str().expect("no").to_owned();
    // The payer pays; the notification is lost. A minute later the query finds it paid.
    let lost = mock.pay(&no);
    app.clock.advance(Duration::seconds(61));
    let resident = app.login_resident("13800006666").await;
    app.wait_for("the reconciliation to settle the payment", 20, || async {
        app.get_payment(&resident.access, paid.id()).await.body["state"] == "succeeded"
    })
    .await;
    let queried = mock
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.url.contains(&format!("/out-trade-no/{no}")));
    assert!(queried, "asked WeChat Pay by out_trade_no");
    let shown = app.get_payment(&resident.access, paid.id()).await.body;
    assert_eq!(shown["receipt_number"], "2026-000001");
    // The notification arriving after all is taken and changes nothing.
    assert_eq!(post_notify(&app, &lost).await.status.as_u16(), 204);
    let receipts = receipt::Entity::find()
        .filter(receipt::Column::PaymentId.eq(paid.id()))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(receipts, 1);

    // An order nobody pays is closed at WeChat Pay once it expires, and its bill is free.
    app.create_bill_run(
        &h.admin.access,
        h.community,
        &json!({ "period": "2026-12" }),
    )
    .await
    .expect(202);
    let december = app
        .wait_for_bill(h.household, "2026-12", &h.admin.access)
        .await;
    let unpaid = app
        .create_payment(
            &resident.access,
            &json!({ "household_id": h.household, "bill_ids": [december] }),
        )
        .await
        .expect(201);
    let unpaid_no = unpaid.body["out_trade_no"].as_str().expect("no").to_owned();
    app.clock.advance(Duration::minutes(31));
    let resident = app.login_resident("13800006666").await;
    app.wait_for("the expired order to close", 20, || async {
        app.get_payment(&resident.access, unpaid.id()).await.body["state"] == "closed"
    })
    .await;
    assert_eq!(
        mock.order(&unpaid_no).map(|o| o.trade_state),
        Some("CLOSED")
    );
    let bill = app
        .get_bill(&resident.access, december)
        .await
        .expect(200)
        .body;
    assert_eq!(bill["state"], "open", "free to be paid again");
    app.create_payment(
        &resident.access,
        &json!({ "household_id": h.household, "bill_ids": [december] }),
    )
    .await
    .expect(201);
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn refunds_go_back_in_part_then_in_full_and_never_beyond_what_was_paid() {
    let (app, mock) = spawn_with_wechat_pay().await;
    let (h, bill) = home(&app).await;
    let admin = h.admin.access.as_str();
    let created = app
        .create_payment(
            &h.resident.access,
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
        )
        .await
        .expect(201);
    let id = created.id();
    let no = created.body["out_trade_no"]
        .as_str()
        .expect("no")
        .to_owned();
    assert_eq!(post_notify(&app, &mock.pay(&no)).await.status.as_u16(), 204);

    // Not before it is paid, not by a resident, not more than was paid.
    app.create_refund(
        &h.resident.access,
        id,
        &json!({ "amount_fen": 100, "reason": "x" }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    app.create_refund(
        admin,
        id,
        &json!({ "amount_fen": 23_501, "reason": "多缴" }),
    )
    .await
    .expect_problem(422, "/problems/validation");

    let partial = app
        .create_refund(
            admin,
            id,
            &json!({ "amount_fen": 10_000, "reason": "面积核减" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(partial["state"], "processing");
    let out_refund_no = partial["out_refund_no"].as_str().expect("no").to_owned();
    let asked = mock
        .requests()
        .into_iter()
        .find(|r| r.url == "/v3/refund/domestic/refunds")
        .expect("the refund was asked for");
    let asked: Value = serde_json::from_str(&asked.body).expect("json");
    assert_eq!(asked["amount"]["refund"], 10_000);
    assert_eq!(asked["amount"]["total"], 23_500);
    assert_eq!(asked["out_refund_no"], out_refund_no.as_str());
    // The rest is reserved while it runs: 13,500 left.
    app.create_refund(
        admin,
        id,
        &json!({ "amount_fen": 13_501, "reason": "多缴" }),
    )
    .await
    .expect_problem(422, "/problems/validation");

    let done = mock.complete_refund(&out_refund_no, EventType::RefundSuccess);
    assert_eq!(post_notify(&app, &done).await.status.as_u16(), 204);
    assert_eq!(
        post_notify(&app, &done).await.status.as_u16(),
        204,
        "twice, settled once"
    );
    let payment = app.get_payment(admin, id).await.expect(200).body;
    assert_eq!(payment["state"], "partly_refunded");
    assert_eq!(payment["refunded_fen"], 10_000);

    let rest = app
        .create_refund(
            admin,
            id,
            &json!({ "amount_fen": 13_500, "reason": "退还余款" }),
        )
        .await
        .expect(201)
        .body;
    let rest_no = rest["out_refund_no"].as_str().expect("no").to_owned();
    let done = mock.complete_refund(&rest_no, EventType::RefundSuccess);
    assert_eq!(post_notify(&app, &done).await.status.as_u16(), 204);
    let payment = app.get_payment(admin, id).await.expect(200).body;
    assert_eq!(payment["state"], "refunded");
    assert_eq!(payment["refunded_fen"], 23_500);
    app.create_refund(admin, id, &json!({ "amount_fen": 1, "reason": "x" }))
        .await
        .expect_problem(409, "/problems/payment-not-refundable");
    let listed = app
        .list_refunds(&h.resident.access, id)
        .await
        .expect(200)
        .body;
    let states: Vec<&Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| &r["state"])
        .collect();
    assert_eq!(states, vec!["succeeded", "succeeded"]);
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn offline_and_dev_payments_are_refunded_at_once() {
    let app = spawn_app().await;
    let (h, bill) = home(&app).await;
    let admin = h.admin.access.as_str();
    let cash = app
        .record_offline_payment(
            admin,
            h.household,
            &json!({ "bill_ids": [bill], "method": "cash" }),
        )
        .await
        .expect(201);
    let refund = app
        .create_refund(
            admin,
            cash.id(),
            &json!({ "amount_fen": 500, "reason": "找零" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(refund["state"], "succeeded", "handed back at the desk");
    app.create_bill_run(admin, h.community, &json!({ "period": "2026-12" }))
        .await
        .expect(202);
    let december = app.wait_for_bill(h.household, "2026-12", admin).await;
    let online = app
        .create_payment(
            &h.resident.access,
            &json!({ "household_id": h.household, "bill_ids": [december] }),
        )
        .await
        .expect(201);
    app.dev_confirm_payment(&h.resident.access, online.id())
        .await
        .expect(200);
    let refund = app
        .create_refund(
            admin,
            online.id(),
            &json!({ "amount_fen": 23_500, "reason": "重复缴费" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        refund["state"], "succeeded",
        "through the dev refund notification"
    );
    let payment = app.get_payment(admin, online.id()).await.expect(200).body;
    assert_eq!(payment["state"], "refunded");
    app.assert_no_jobs_left().await;
}

/// The text of a PDF, as `pdftotext -layout` reads it (poppler-utils; `.ci/run` installs it).
fn pdf_text(bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("courtyard-receipt-{}.pdf", Uuid::new_v4()));
    std::fs::write(&path, bytes).expect("write the PDF");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 text")
}
