//! Notices end to end: accepted with an outbox row, fanned out by the workers to inboxes and
//! devices, with preferences, quiet hours, the pest-control day-ahead rule, cancellation,
//! retries, dead letters and SMS fallback. The providers here are the recording deliverer;
//! the real clients are tested against mock providers in `push_providers` and
//! `sms_wechat_providers`.

use chrono::{Duration, TimeZone, Utc};
use courtyard_providers::SendOutcome;
use courtyard_tests::{ClockExt, TestApp, Tokens, spawn_app_with, world::World};
use serde_json::{Value, json};
use uuid::Uuid;

/// These tests move the clock by hours and days: tokens live long enough.
async fn spawn_app() -> TestApp {
    spawn_app_with(|s| s.auth.access_token_ttl_secs = 90 * 24 * 3600).await
}

async fn register_apns(app: &TestApp, resident: &Tokens, token: &str) -> Uuid {
    app.register_device(&resident.access, &json!({ "platform": "ios", "provider": "apns", "token": token, "topic": "com.courtyard.resident" }))
    .await
    .expect(201)
    .id()
}

fn apns_token(n: u32) -> String {
    format!("{n:0>64}")
}

async fn notice(app: &TestApp, token: &str, community: Uuid, body: Value) -> Uuid {
    let created = app.create_notice(token, community, &body).await.expect(201);
    // Sent now, it is going out; sent later, it waits.
    let send_at: chrono::DateTime<Utc> = created.str("send_at").parse().expect("send_at");
    let expected = if send_at <= app.clock.now_utc() {
        "sending"
    } else {
        "scheduled"
    };
    assert_eq!(created.body["status"], expected, "{}", created.text);
    created.id()
}

async fn add_resident(app: &TestApp, admin: &str, household: Uuid, phone: &str) -> Tokens {
    app.create_resident(admin, &json!({ "name": "邻居", "phone": phone, "memberships": [{ "household_id": household, "role": "family" }] }))
    .await
    .expect(201);
    app.login_resident(phone).await
}

#[tokio::test]
async fn an_outage_notice_reaches_inboxes_devices_and_sms_fallback() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let front = world.token("front_desk");
    // A neighbour with no app: SMS is the fallback for outages.
    let neighbour = add_resident(&app, &world.admin.access, world.a.household, "13900000777").await;
    let id = notice(
        &app,
        front,
        world.a.community,
        json!({
            "category": "power_outage",
            "title": "停电通知",
            "body": "1栋今晚检修。",
            "reason": "变压器检修",
            "starts_at": "2026-11-25T12:00:00Z",
            "restores_at": "2026-11-25T14:00:00Z",
        }),
    )
    .await;
    let settled = app.wait_for_notice(id, front).await;
    let counts = &settled.body["counts"];
    assert_eq!(counts["targeted"], 2, "{}", settled.text);
    assert_eq!(counts["sent"], 2, "one push, one SMS: {}", settled.text);
    assert_eq!(counts["failed"], 0);

    let push = app.sent.sends_to(&apns_token(101));
    let push: Vec<_> = push.iter().filter(|s| s.title == "停电通知").collect();
    assert_eq!(push.len(), 1);
    assert_eq!(push[0].channel, "apns");
    assert!(
        push[0].body.contains("原因：变压器检修"),
        "{}",
        push[0].body
    );
    assert!(
        push[0].body.contains("预计恢复时间：2026-11-25 22:00"),
        "{}",
        push[0].body
    );
    assert!(
        push[0].body.ends_with("不便之处请您见谅。"),
        "{}",
        push[0].body
    );
    let sms = app.sent.sends_to("13900000777");
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].channel, "sms");

    let inbox = app
        .list_messages(&neighbour.access, &[("unread", "true")])
        .await
        .expect(200);
    let message = &inbox.body["items"][0];
    assert_eq!(message["title"], "停电通知");
    assert_eq!(message["notice_id"], json!(id));
    let unread = app
        .count_unread_messages(&neighbour.access)
        .await
        .expect(200);
    assert_eq!(unread.body["unread"], 1);
    let read = app
        .mark_message_read(&neighbour.access, message["id"].as_str().expect("id"))
        .await
        .expect(200);
    assert!(read.body["read_at"].is_string());
    let after = app.get_notice(front, id).await.expect(200);
    assert_eq!(after.body["counts"]["read"], 1);

    let trail = app
        .list_notice_recipients(front, id, &[("resident_id", &world.a.resident.to_string())])
        .await
        .expect(200);
    let deliveries = trail.body["items"][0]["deliveries"]
        .as_array()
        .expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["channel"], "apns");
    assert_eq!(deliveries[0]["status"], "sent");
    assert!(
        deliveries[0]["provider_id"]
            .as_str()
            .is_some_and(|p| p.starts_with("rec-"))
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn outage_notices_must_say_why_and_until_when() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let reply = app
        .create_notice(
            world.token("admin"),
            world.a.community,
            &json!({ "category": "water_outage", "title": "停水", "body": "停水" }),
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "reason");
    let reply = app
        .create_notice(world.token("admin"), world.a.community, &json!({ "category": "water_outage", "title": "停水", "body": "停水", "reason": "检修" }))
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "restores_at");
    app.create_notice(
        world.token("admin"),
        world.a.community,
        &json!({ "category": "flood", "title": "x", "body": "x" }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    let reply = app
        .create_notice(world.token("admin"), world.a.community, &json!({ "category": "general", "title": "x", "body": "x", "audience": { "building_ids": [world.b.building] } }))
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "audience.building_ids");
}

#[tokio::test]
async fn preferences_suppress_channels_and_quiet_hours_delay_non_urgent_notices() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let resident = &world.resident;
    let saved = app
        .put_preferences(&resident.access, &json!({ "channels": { "notice": ["wechat"] }, "quiet_hours": { "start": "22:00", "end": "07:00" } }))
        .await
        .expect(200);
    assert_eq!(saved.body["channels"]["notice"], json!(["wechat"]));
    app.put_preferences(
        &resident.access,
        &json!({ "channels": { "notice": ["fax"] } }),
    )
    .await
    .expect_problem(422, "/problems/validation");

    // Push is off for notices: the activity notice is suppressed on push, kept in the inbox.
    let activity = notice(
        &app,
        world.token("admin"),
        world.a.community,
        json!({ "category": "community_activity", "title": "中秋游园", "body": "欢迎参加" }),
    )
    .await;
    let settled = app.wait_for_notice(activity, world.token("admin")).await;
    assert_eq!(settled.body["counts"]["suppressed"], 1, "{}", settled.text);
    assert_eq!(settled.body["counts"]["sent"], 0, "{}", settled.text);

    // Quiet hours: 23:30 Shanghai. An emergency goes at once; a general notice waits.
    app.put_preferences(
        &resident.access,
        &json!({ "channels": {}, "quiet_hours": { "start": "22:00", "end": "07:00" } }),
    )
    .await
    .expect(200);
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0)
            .single()
            .expect("time"),
    );
    let emergency = notice(
        &app,
        world.token("admin"),
        world.a.community,
        json!({ "category": "emergency", "title": "燃气泄漏", "body": "请勿使用明火" }),
    )
    .await;
    let settled = app.wait_for_notice(emergency, world.token("admin")).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    let general = notice(
        &app,
        world.token("admin"),
        world.a.community,
        json!({ "category": "general", "title": "明日例会", "body": "x" }),
    )
    .await;
    app.wait_for("the general notice to fan out", 10, || async {
        app.get_notice(world.token("admin"), general).await.body["status"] == "sent"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let waiting = app
        .get_notice(world.token("admin"), general)
        .await
        .expect(200);
    assert_eq!(
        waiting.body["counts"]["pending"], 1,
        "held for quiet hours: {}",
        waiting.text
    );
    assert!(app.sent.sent().iter().all(|s| s.title != "明日例会"));
    // 07:00 Shanghai: released.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 25, 23, 0, 1)
            .single()
            .expect("time"),
    );
    let settled = app.wait_for_notice(general, world.token("admin")).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
}

#[tokio::test]
async fn pest_control_goes_out_the_day_before_at_ten() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    // Now: 2026-11-25 10:00 Shanghai. Treatment 2026-11-28 09:00 Shanghai.
    let created = app
        .create_notice(admin, world.a.community, &json!({ "category": "pest_control", "title": "灭鼠通知", "body": "请收好食物", "event_at": "2026-11-28T01:00:00Z" }))
        .await
        .expect(201);
    let send_at: chrono::DateTime<Utc> = created.str("send_at").parse().expect("time");
    assert_eq!(
        send_at,
        Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0)
            .single()
            .expect("time")
    );
    assert_eq!(created.body["status"], "scheduled");
    let id = created.id();
    // Less than a day ahead is refused unless urgent.
    let soon = (app.clock.now_utc() + Duration::hours(20)).to_rfc3339();
    let reply = app
        .create_notice(
            admin,
            world.a.community,
            &json!({ "category": "pest_control", "title": "灭鼠", "body": "x", "event_at": soon }),
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert!(
        reply.str("detail").contains("a day ahead"),
        "{}",
        reply.text
    );
    let urgent = app
        .create_notice(admin, world.a.community, &json!({ "category": "pest_control", "title": "紧急灭鼠", "body": "x", "event_at": soon, "urgent": true }))
        .await
        .expect(201);
    app.wait_for_notice(urgent.id(), admin).await;

    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let still = app.get_notice(admin, id).await.expect(200);
    assert_eq!(still.body["status"], "scheduled", "not before its time");
    // The day before, 10:00 community time: it goes.
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0)
            .single()
            .expect("time"),
    );
    let settled = app.wait_for_notice(id, admin).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    assert_eq!(
        app.sent
            .sent()
            .iter()
            .filter(|s| s.title == "灭鼠通知")
            .count(),
        1
    );
}

#[tokio::test]
async fn scheduled_notices_can_be_cancelled_until_they_go() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    let later = (app.clock.now_utc() + Duration::hours(2)).to_rfc3339();
    let id = notice(
        &app,
        admin,
        world.a.community,
        json!({ "category": "general", "title": "取消我", "body": "x", "send_at": later }),
    )
    .await;
    let cancelled = app.cancel_notice(admin, id).await.expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    app.clock.advance(Duration::hours(3));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let after = app.get_notice(admin, id).await.expect(200);
    assert_eq!(after.body["counts"]["targeted"], 0, "{}", after.text);
    assert!(app.sent.sent().iter().all(|s| s.title != "取消我"));
    let conflict = app
        .cancel_notice(admin, world.a.notice)
        .await
        .expect_problem(409, "/problems/wrong-state");
    assert!(conflict.str("detail").contains("sent"), "{}", conflict.text);
}

#[tokio::test]
async fn invalid_tokens_deactivate_the_device_and_fall_back_to_sms() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let token = apns_token(101);
    app.sent.script(
        &token,
        vec![SendOutcome::InvalidRecipient {
            reason: "Unregistered".into(),
        }],
    );
    let id = notice(
        &app,
        world.token("admin"),
        world.a.community,
        json!({ "category": "emergency", "title": "紧急", "body": "x" }),
    )
    .await;
    // The SMS fallback follows the invalid-token answer: wait for it too.
    let settled = app
        .wait_for_counts(id, world.token("admin"), |c| {
            c["sent"] == 1 && c["pending"] == 0
        })
        .await;
    assert_eq!(
        settled.body["counts"]["invalid_token"], 1,
        "{}",
        settled.text
    );
    assert_eq!(
        settled.body["counts"]["sent"], 1,
        "the SMS fallback: {}",
        settled.text
    );
    assert_eq!(app.sent.sends_to(&world.a.resident_phone).len(), 1);
    let devices = app.list_devices(&world.resident.access).await.expect(200);
    let device = &devices.body["items"][0];
    assert_eq!(device["active"], false);
    assert_eq!(device["invalid_reason"], "Unregistered");
    // The phone registers its token again: active again.
    let again = app
        .register_device(&world.resident.access, &json!({ "platform": "ios", "provider": "apns", "token": token, "topic": "com.courtyard.resident" }))
        .await
        .expect(200);
    assert_eq!(again.body["active"], true);
}

#[tokio::test]
async fn temporary_failures_retry_with_backoff_then_dead_letter_and_replay() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    let token = apns_token(101);
    let retry = |secs| SendOutcome::Retry {
        reason: "TooManyRequests".into(),
        retry_after: Some(std::time::Duration::from_secs(secs)),
    };
    app.sent.script(&token, vec![retry(30)]);
    let id = notice(
        &app,
        admin,
        world.a.community,
        json!({ "category": "general", "title": "重试", "body": "x" }),
    )
    .await;
    app.wait_for("the first attempt", 10, || async {
        !app.sent.sends_to(&token).iter().all(|s| s.title != "重试")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.sent
            .sends_to(&token)
            .iter()
            .filter(|s| s.title == "重试")
            .count(),
        1,
        "Retry-After is honoured"
    );
    app.clock.advance(Duration::seconds(31));
    let settled = app.wait_for_notice(id, admin).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    let trail = app.list_notice_recipients(admin, id, &[]).await.expect(200);
    assert_eq!(trail.body["items"][0]["deliveries"][0]["attempts"], 2);

    // Five temporary failures: dead letter. (Notices are outages-free here, so no SMS.)
    app.sent.script(&token, (0..5).map(|_| retry(0)).collect());
    let id = notice(
        &app,
        admin,
        world.a.community,
        json!({ "category": "general", "title": "死信", "body": "x" }),
    )
    .await;
    for _ in 0..5 {
        app.clock.advance(Duration::hours(1));
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    let settled = app.wait_for_notice(id, admin).await;
    assert_eq!(settled.body["counts"]["failed"], 1, "{}", settled.text);
    let dead = app.list_dead_letters(admin, &[]).await.expect(200);
    let items = dead.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", dead.text);
    assert_eq!(items[0]["attempts"], 5);
    assert!(
        items[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("TooManyRequests"))
    );
    let delivery = items[0]["id"].as_str().expect("id").to_owned();
    app.replay_dead_letter(admin, &delivery).await.expect(202);
    let settled = app.wait_for_notice(id, admin).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    app.replay_dead_letter(admin, &delivery)
        .await
        .expect_problem(409, "/problems/wrong-state");
    assert_eq!(
        app.sent
            .sends_to(&token)
            .iter()
            .filter(|s| s.title == "死信")
            .count(),
        6
    );
}

#[tokio::test]
async fn devices_belong_to_one_owner() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let token = apns_token(4242);
    let first = register_apns(&app, &world.resident, &token).await;
    // The same phone, now logged in as a butler: the token moves.
    let moved = app
        .register_device(world.token("butler"), &json!({ "platform": "ios", "provider": "apns", "token": token, "topic": "com.courtyard.staff" }))
        .await
        .expect(200);
    assert_eq!(moved.id(), first);
    let mine = app.list_devices(&world.resident.access).await.expect(200);
    assert!(
        mine.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|d| d["id"] != json!(first))
    );
    app.delete_device(&world.resident.access, first)
        .await
        .expect_problem(404, "/problems/not-found");
    app.delete_device(world.token("butler"), first)
        .await
        .expect(204);
    let reply = app
        .register_device(
            &world.resident.access,
            &json!({ "platform": "ios", "provider": "apns", "token": "short" }),
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "token");
    app.register_device(
        &world.resident.access,
        &json!({ "platform": "ios", "provider": "apns", "token": "z".repeat(64), "topic": "x" }),
    )
    .await
    .expect_problem(422, "/problems/validation");
}
