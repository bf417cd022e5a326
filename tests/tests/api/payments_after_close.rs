//! Money that arrives for an order already ended here (closed when it expired, or by a
//! newer payment of its bills): it pays its bills after all when they are still free, and
//! otherwise is kept as a stray payment that staff see and refund.

use chrono::Duration;
use courtyard_domain::{Clock, entities::receipt};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use super::payments::{crafted_as, home, platform_key, post_notify, spawn_with_wechat_pay};

#[tokio::test]
async fn money_for_a_closed_order_pays_its_free_bills_or_waits_for_a_refund() {
    let (app, _mock) = spawn_with_wechat_pay().await;
    let (h, bill) = home(&app).await;
    let key = platform_key();
    // Staff tokens live 15 minutes; the clock moves on 31: what needs the admin comes first.
    let (admin_id, username) = h_admin(&app, &h).await;
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

    // The order expires and is closed; then WeChat Pay says it was paid after all.
    let expired = app
        .create_payment(
            &h.resident.access,
            &json!({ "household_id": h.household, "bill_ids": [bill] }),
        )
        .await
        .expect(201);
    let no = expired.body["out_trade_no"]
        .as_str()
        .expect("no")
        .to_owned();
    app.clock.advance(Duration::minutes(31));
    let resident = app.login_resident("13800006666").await;
    app.wait_for("the expired order to close", 20, || async {
        app.get_payment(&resident.access, expired.id()).await.body["state"] == "closed"
    })
    .await;
    let late = crafted_as(
        &key,
        &no,
        "4200000000000000000000000011",
        23_500,
        app.clock.now(),
    );
    assert_eq!(post_notify(&app, &late).await.status.as_u16(), 204);
    let revived = app
        .get_payment(&resident.access, expired.id())
        .await
        .expect(200)
        .body;
    assert_eq!(revived["state"], "succeeded", "its bill was still free");
    assert_eq!(revived["receipt_number"], "2026-000001");
    assert_eq!(revived["transaction_id"], "4200000000000000000000000011");
    assert!(revived.get("stray_paid_at").is_none());
    let paid = app.get_bill(&resident.access, bill).await.expect(200).body;
    assert_eq!(paid["state"], "paid");
    // Told twice, it pays once.
    assert_eq!(post_notify(&app, &late).await.status.as_u16(), 204);
    let receipts = receipt::Entity::find()
        .filter(receipt::Column::PaymentId.eq(expired.id()))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(receipts, 1);

    // A newer payment of December's bill closes the older order; money then arrives for
    // the older one: the bill is the newer order's, so the money is stray.
    let body = json!({ "household_id": h.household, "bill_ids": [december] });
    let older = app
        .create_payment(&resident.access, &body)
        .await
        .expect(201);
    let newer = app
        .create_payment(&resident.access, &body)
        .await
        .expect(201);
    let older_no = older.body["out_trade_no"].as_str().expect("no").to_owned();
    let stray = crafted_as(
        &key,
        &older_no,
        "4200000000000000000000000012",
        23_500,
        app.clock.now(),
    );
    assert_eq!(post_notify(&app, &stray).await.status.as_u16(), 204);
    let shown = app
        .get_payment(&resident.access, older.id())
        .await
        .expect(200)
        .body;
    assert_eq!(shown["state"], "closed");
    assert!(shown["stray_paid_at"].is_string(), "{shown}");
    assert_eq!(shown["transaction_id"], "4200000000000000000000000012");
    assert!(
        shown.get("receipt_number").is_none(),
        "a stray payment has no receipt"
    );
    let still = app
        .get_payment(&resident.access, newer.id())
        .await
        .expect(200)
        .body;
    assert_eq!(still["state"], "pending", "the newer order keeps the bill");
    let open = app
        .get_bill(&resident.access, december)
        .await
        .expect(200)
        .body;
    assert_eq!(open["state"], "open");
    assert_eq!(post_notify(&app, &stray).await.status.as_u16(), 204);

    let admin = app.login_staff(&username, "admin-password").await;
    let listed = app
        .list_stray_payments(&admin.access, h.community, &[])
        .await
        .expect(200)
        .body;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, vec![older.id().to_string()]);
    app.list_stray_payments(&resident.access, h.community, &[])
        .await
        .expect_problem(403, "/problems/forbidden");

    // Refunded in full, it leaves the list; the payment stays closed (it paid no bill).
    let reserved = courtyard_store::refunds::request(
        &app.db,
        older.id(),
        23_500,
        "订单已关闭后到账，原路退回",
        admin_id,
        app.clock.now(),
        None,
    )
    .await
    .expect("a stray payment is refundable");
    assert_eq!(reserved.amount_fen, 23_500);
    let admin = app.login_staff(&username, "admin-password").await;
    let listed = app
        .list_stray_payments(&admin.access, h.community, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"], json!([]));
    app.assert_no_jobs_left().await;
}

/// The admin's staff id (from `/v1/me`) and username.
async fn h_admin(
    app: &courtyard_tests::TestApp,
    h: &super::payments::Home,
) -> (uuid::Uuid, String) {
    let me = app.get_me(&h.admin.access).await.expect(200).body;
    let id = uuid::Uuid::parse_str(me["id"].as_str().expect("id")).expect("uuid");
    let row = courtyard_domain::entities::staff::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("staff")
        .expect("found");
    (id, row.username)
}
