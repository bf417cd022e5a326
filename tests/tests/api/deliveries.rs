//! Deliveries under the races and failures between a fan-out and its sends: a device that
//! goes away before its push is sent, sends the queue lost, dead letters of every kind.

use chrono::Duration;
use courtyard_domain::{entities::delivery, settings::Settings};
use courtyard_providers::SendOutcome;
use courtyard_tests::{ClockExt, TestApp, backend, redis_url, spawn_app_with, world::World};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

/// The app with `configure` applied, over Redis Streams when on PostgreSQL.
async fn app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        if backend() == "postgres" {
            s.redis.url = Some(secrecy::SecretString::from(redis_url()));
        }
        configure(s);
    })
    .await
}

/// Removes every device the token's owner has, so a test counts only its own.
async fn without_devices(app: &TestApp, token: &str) {
    let listed = app.list_devices(token).await.expect(200);
    for d in listed.body["items"].as_array().expect("items") {
        app.delete_device(token, d["id"].as_str().expect("id"))
            .await
            .expect(204);
    }
}

/// Registers an Android phone; returns its device id.
async fn phone(app: &TestApp, token: &str, push_token: &str) -> Uuid {
    app.register_device(
        token,
        &json!({ "platform": "android", "provider": "fcm", "token": push_token, "locale": "zh-CN" }),
    )
    .await
    .expect(201)
    .id()
}

/// A notice's delivery to one device.
async fn delivery_to(app: &TestApp, notice: Uuid, device: Uuid) -> delivery::Model {
    delivery::Entity::find()
        .filter(delivery::Column::NoticeId.eq(notice))
        .filter(delivery::Column::DeviceId.eq(device))
        .one(&app.db)
        .await
        .expect("deliveries")
        .expect("a delivery to the device")
}

/// Puts deliveries back to `pending`, due `ago` in the past: a send the queue lost (Redis
/// restarted without persistence), for the sweeper to find.
async fn lose(app: &TestApp, ids: &[Uuid], ago: Duration) {
    for (i, id) in ids.iter().enumerate() {
        let due = app.clock.now_utc() - ago + Duration::minutes(i as i64);
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value("pending"))
            .col_expr(delivery::Column::DueAt, Expr::value(due))
            .filter(delivery::Column::Id.eq(*id))
            .exec(&app.db)
            .await
            .expect("lose a send");
    }
}

/// The SMS of the notice titled `title` sent to `number`.
fn sms_of(app: &TestApp, number: &str, title: &str) -> usize {
    app.sent
        .sends_to(number)
        .into_iter()
        .filter(|s| s.channel == "sms" && s.title == title)
        .count()
}

#[tokio::test]
async fn a_push_whose_device_went_away_before_its_send_settles_and_falls_back_to_sms() {
    // Two lost sends a sweep: the removed devices' rows must not crowd out the one that
    // can still be sent.
    let app = app(|s| s.notifications.sweep_batch = 2).await;
    let world = World::build(&app).await;
    let resident = world.resident.access.clone();
    without_devices(&app, &resident).await;
    let tokens = [
        "fcm-going-away-0001",
        "fcm-going-away-0002",
        "fcm-staying-0003",
    ];
    let mut devices = Vec::new();
    for token in tokens {
        devices.push(phone(&app, &resident, token).await);
    }
    let title = "3号楼今晚停水";
    let notice = app
        .create_notice(world.token("admin"), world.a.community, &json!({ "category": "water_outage", "title": title, "body": "今晚停水。", "reason": "管道抢修", "restores_at": "2026-11-25T14:00:00Z" }))
        .await
        .expect(201)
        .id();
    app.wait_for_notice(notice, world.token("admin")).await;
    for token in tokens {
        assert_eq!(app.sent.sends_to(token).len(), 1, "{token}");
    }
    let mut rows = Vec::new();
    for device in &devices {
        rows.push(delivery_to(&app, notice, *device).await.id);
    }

    // The queue loses the three sends, and two of the phones are removed (logged out)
    // before the sweeper finds them: those settle, the third is sent again.
    lose(&app, &rows, Duration::days(1)).await;
    for device in &devices[..2] {
        app.delete_device(&resident, device).await.expect(204);
    }
    app.wait_for("the removed phones' sends settled", 20, || async {
        let mut settled = true;
        for device in &devices[..2] {
            let d = delivery_to(&app, notice, *device).await;
            settled &=
                d.status == "suppressed" && d.last_error.as_deref() == Some("device removed");
        }
        settled && app.sent.sends_to(tokens[2]).len() == 2
    })
    .await;
    assert_eq!(
        app.sent.sends_to(tokens[0]).len(),
        1,
        "no send to a removed phone"
    );
    // A push of the message is still alive on the third phone: no SMS in its place.
    assert_eq!(sms_of(&app, &world.a.resident_phone, title), 0);

    // The last phone goes too before its lost send is retried: now the outage goes by SMS.
    lose(&app, &rows[2..], Duration::days(1)).await;
    app.delete_device(&resident, devices[2]).await.expect(204);
    app.wait_for("the SMS in the last push's place", 20, || async {
        sms_of(&app, &world.a.resident_phone, title) == 1
    })
    .await;
    let last = delivery_to(&app, notice, devices[2]).await;
    assert_eq!(
        (last.status.as_str(), last.last_error.as_deref()),
        ("suppressed", Some("device removed"))
    );
    app.assert_no_jobs_left().await;
    assert_eq!(sms_of(&app, &world.a.resident_phone, title), 1, "one SMS");
}

#[tokio::test]
async fn dead_letters_of_every_kind_are_listed_and_replayed() {
    let app = app(|_| {}).await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    let engineer = world.staff["engineer"].0;
    let engineer_phone = "fcm-engineer-dead-0001";
    phone(&app, world.token("engineer"), engineer_phone).await;
    let retry = || SendOutcome::Retry {
        reason: "Unavailable".into(),
        retry_after: None,
    };
    // Every push to the engineer's phone fails until their work order has dead-lettered (other
    // messages to them, such as SLA reminders, fail alongside it).
    app.sent
        .script(engineer_phone, (0..200).map(|_| retry()).collect());
    // A repair dispatched to the engineer: their work order's push fails five times.
    let repair = app
        .create_repair(
            &world.resident.access,
            &json!({ "household_id": world.a.household, "category": "water", "urgency": "emergency", "description": "厨房水管漏水" }),
            None,
        )
        .await
        .expect(201)
        .id();
    app.dispatch_ticket(
        world.token("front_desk"),
        repair,
        &json!({ "assignee_id": engineer }),
    )
    .await
    .expect(200);
    let work_order = || async {
        app.sent
            .sends_to(engineer_phone)
            .into_iter()
            .find(|s| s.title == "新工单")
            .map(|s| s.delivery_id)
    };
    app.wait_for("the work order's first push", 10, || async {
        work_order().await.is_some()
    })
    .await;
    let id = work_order().await.expect("the work order's push");
    let row = || async {
        delivery::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .expect("delivery")
            .expect("exists")
    };
    for _ in 0..40 {
        if row().await.status == "dead" {
            break;
        }
        app.clock.advance(Duration::seconds(10));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        row().await.status,
        "dead",
        "the work order's push dead-lettered"
    );
    app.sent.script(engineer_phone, vec![]);
    let tries = || {
        app.sent
            .sends_to(engineer_phone)
            .iter()
            .filter(|s| s.delivery_id == id)
            .count()
    };
    assert_eq!(tries(), 5);

    // Listed with what it was, for the admin; filtered by kind and category.
    let listed = app.list_dead_letters(admin, &[]).await.expect(200);
    let item = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["id"] == id.to_string())
        .unwrap_or_else(|| panic!("not listed: {}", listed.text))
        .clone();
    assert_eq!(item["recipient_kind"], "staff");
    assert_eq!(item["recipient_id"], engineer.to_string());
    assert_eq!(item["category"], "ticket_update");
    assert_eq!(item["ticket_id"], repair.to_string());
    assert_eq!(item["title"], "新工单");
    assert_eq!(item["attempts"], 5);
    assert!(item.get("notice_id").is_none(), "{item}");
    let residents_only = app
        .list_dead_letters(admin, &[("recipient_kind", "resident")])
        .await
        .expect(200);
    assert!(
        !residents_only.text.contains(&id.to_string()),
        "{}",
        residents_only.text
    );
    let outages = app
        .list_dead_letters(admin, &[("category", "outage")])
        .await
        .expect(200);
    assert!(!outages.text.contains(&id.to_string()), "{}", outages.text);
    // Another company's admin sees none of it, and cannot replay it.
    let other = &world.admin2.access;
    let theirs = app.list_dead_letters(other, &[]).await.expect(200);
    assert!(!theirs.text.contains(&id.to_string()), "{}", theirs.text);
    app.replay_dead_letter(other, id)
        .await
        .expect_problem(404, "/problems/not-found");

    // Replayed: sent at the next attempt, and nothing left behind in the queue.
    let replayed = app.replay_dead_letter(admin, id).await.expect(202);
    assert_eq!(
        replayed.body["recipient_kind"], "staff",
        "{}",
        replayed.text
    );
    app.wait_for("the replayed work order", 10, || async { tries() == 6 })
        .await;
    app.assert_no_jobs_left().await;
    assert_eq!(row().await.status, "sent");
}
