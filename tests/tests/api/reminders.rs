//! Overdue-fee reminders end to end on a moved clock: nothing before the window opens, the
//! day-1 step at 09:00, a night that waits for the morning, catch-up that sends only the
//! latest step, SMS from the 15-day step, one reminder naming two overdue bills, a reminder
//! dropped at send time because the bills were paid in the meantime, an offline payment
//! that stops the schedule, a re-run that sends no step twice, the butler's follow-up after
//! the last step, the record and its CSV, and staff contacts on the same record.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use courtyard_domain::entities::scheduled_run;
use courtyard_tests::{TestApp, spawn_app_with};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("time")
        - chrono::Duration::hours(8)
}

struct Estate {
    admin: String,
    community: Uuid,
    /// 3栋1单元1203 (89.51 m²): 王芳, who has an iPhone.
    first: Uuid,
    /// 3栋1单元1204 (120 m²): 李雷, whose quiet hours run 08:00–12:00.
    second: Uuid,
    butler: Uuid,
    butler_token: String,
    resident: String,
}

async fn estate(app: &TestApp) -> Estate {
    let (_, admin) = app.bootstrap_admin("Reminder Co").await;
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
    let mut households = Vec::new();
    for (room, area) in [("1203", 89.51), ("1204", 120.0)] {
        households.push(
            app.create_household(
                token,
                unit,
                &json!({ "room_number": room, "floor_area_m2": area }),
            )
            .await
            .expect(201)
            .id(),
        );
    }
    for (name, phone, household) in [
        ("王芳", "13800007771", households[0]),
        ("李雷", "13800007772", households[1]),
    ] {
        app.create_resident(
            token,
            &json!({ "name": name, "phone": phone,
                     "memberships": [{ "household_id": household, "role": "owner" }] }),
        )
        .await
        .expect(201);
    }
    let resident = app.login_resident("13800007771").await;
    app.register_device(
        &resident.access,
        &json!({ "platform": "ios", "provider": "apns", "token": "ab".repeat(32), "topic": "com.courtyard.resident" }),
    )
    .await
    .expect(201);
    let other = app.login_resident("13800007772").await;
    app.register_device(
        &other.access,
        &json!({ "platform": "android", "provider": "fcm", "token": "fcm-token-li-lei" }),
    )
    .await
    .expect(201);
    app.put_preferences(
        &other.access,
        &json!({ "channels": {}, "quiet_hours": { "start": "08:00", "end": "12:00" } }),
    )
    .await
    .expect(200);
    let butler = app
        .create_staff(
            token,
            &json!({ "name": "管家小陈", "username": "butler-chen", "password": "butler-password",
                     "role": "butler", "community_ids": [community] }),
        )
        .await
        .expect(201)
        .id();
    app.put_butler_assignments(
        token,
        butler,
        &json!({ "building_ids": [building], "household_ids": [] }),
    )
    .await
    .expect(200);
    let butler_token = app.login_staff("butler-chen", "butler-password").await;
    app.create_fee_item(
        token,
        community,
        &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
    )
    .await
    .expect(201);
    Estate {
        admin: admin.access.clone(),
        community,
        first: households[0],
        second: households[1],
        butler,
        butler_token: butler_token.access,
        resident: resident.access,
    }
}

/// The reminders sent so far: (target, channel, title, body, step).
fn reminders(app: &TestApp) -> Vec<(String, String, String, String, String)> {
    app.sent
        .sent()
        .into_iter()
        .filter(|s| s.category == "fee_reminder")
        .map(|s| {
            (
                s.target.clone(),
                s.channel.clone(),
                s.title.clone(),
                s.body.clone(),
                s.data.get("step").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn steps_to(app: &TestApp, channel: &str) -> Vec<String> {
    reminders(app)
        .into_iter()
        .filter(|r| r.1 == channel)
        .map(|r| r.4)
        .collect()
}

async fn run_month(app: &TestApp, e: &Estate, period: &str) {
    let run = app
        .create_bill_run(&e.admin, e.community, &json!({ "period": period }))
        .await
        .expect(202)
        .id();
    app.wait_for_bill_run(run, &e.admin).await;
}

async fn settle(app: &TestApp) {
    // A few scheduler ticks (200 ms each) and the senders.
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.wait_for_idle().await;
}

fn record_steps(record: &Value) -> Vec<String> {
    record["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            r["step"]
                .as_str()
                .or(r["channel"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn overdue_reminders_follow_the_schedule_in_daytime_and_stop_on_payment() {
    let app = spawn_app_with(|s| {
        s.auth.access_token_ttl_secs = 400 * 24 * 3600;
        s.notifications.fee_reminders = true;
    })
    .await;
    // 16 November, 07:00 Shanghai: October's bills fell due yesterday.
    app.clock.set(shanghai(2026, 11, 16, 7, 0));
    let e = estate(&app).await;
    run_month(&app, &e, "2026-10").await;
    settle(&app).await;
    assert!(reminders(&app).is_empty(), "not before 09:00");

    // 09:00: the day-1 step, push and inbox, no SMS. 李雷's quiet hours hold his until
    // 12:00; his household pays at the desk at 10:00, so it is dropped when it comes due.
    app.clock.set(shanghai(2026, 11, 16, 9, 0));
    app.wait_for("the day-1 reminder", 10, || async {
        !reminders(&app).is_empty()
    })
    .await;
    settle(&app).await;
    let sent = reminders(&app);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (target, channel, title, body, step) = &sent[0];
    assert_eq!((channel.as_str(), step.as_str()), ("apns", "overdue_1"));
    assert_eq!(target, &"ab".repeat(32));
    assert_eq!(title, "缴费提醒");
    assert!(body.contains("翠湖花园3栋1单元1203"), "{body}");
    assert!(
        body.contains("1笔账单已逾期（2026年10月 物业费 ¥210.35）"),
        "{body}"
    );
    let inbox = app.list_messages(&e.resident, &[]).await.expect(200).body;
    assert!(
        inbox["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["category"] == "fee_reminder" && m["title"] == "缴费提醒"),
        "{inbox}"
    );
    app.clock.set(shanghai(2026, 11, 16, 10, 0));
    let second_bill = app
        .list_household_bills(&e.admin, e.second, &[("period", "2026-10")])
        .await
        .expect(200)
        .body["items"][0]["id"]
        .clone();
    app.record_offline_payment(
        &e.admin,
        e.second,
        &json!({ "bill_ids": [second_bill], "method": "cash" }),
    )
    .await
    .expect(201);
    app.clock.set(shanghai(2026, 11, 16, 12, 0));
    settle(&app).await;
    assert!(
        reminders(&app).iter().all(|r| r.1 != "fcm"),
        "paid before it went: {:?}",
        reminders(&app)
    );
    let record = app
        .list_household_reminders(&e.admin, e.second, &[])
        .await
        .expect(200)
        .body;
    let delivery = &record["items"][0]["deliveries"][0];
    assert_eq!(
        (
            &delivery["channel"],
            &delivery["status"],
            &delivery["reason"]
        ),
        (&json!("fcm"), &json!("suppressed"), &json!("paid")),
        "{record}"
    );

    // A run that died before it was recorded runs again: nothing is sent twice.
    scheduled_run::Entity::delete_many()
        .filter(scheduled_run::Column::Job.eq("fee_reminders"))
        .exec(&app.db)
        .await
        .expect("forget today's run");
    app.clock.set(shanghai(2026, 11, 16, 15, 0));
    settle(&app).await;
    assert_eq!(reminders(&app).len(), 1, "{:?}", reminders(&app));

    // November's bills are issued; then the scheduler is down from the 20th until the
    // night of 12 December: at 22:00 nothing goes, at 09:00 the next morning only the
    // latest due step (day 15, with SMS) and the due-soon notice of November's bill.
    run_month(&app, &e, "2026-11").await;
    app.clock.set(shanghai(2026, 12, 12, 22, 0));
    settle(&app).await;
    assert_eq!(reminders(&app).len(), 1, "not at night");
    app.clock.set(shanghai(2026, 12, 13, 9, 0));
    app.wait_for("the morning's reminders", 10, || async {
        reminders(&app).len() >= 4
    })
    .await;
    settle(&app).await;
    let apns: std::collections::BTreeSet<String> = steps_to(&app, "apns").into_iter().collect();
    assert_eq!(
        apns,
        ["due_soon", "overdue_1", "overdue_15"]
            .map(String::from)
            .into(),
        "day 7 was skipped: only the latest due step"
    );
    assert_eq!(steps_to(&app, "sms"), ["overdue_15"], "SMS from day 15 on");
    let sms = reminders(&app)
        .into_iter()
        .find(|r| r.1 == "sms")
        .expect("sms");
    assert_eq!(sms.0, "13800007771");
    // 李雷's household paid October at the desk: its schedule for October stopped; only
    // November's own due-soon notice is on its record.
    let second = app
        .list_household_reminders(&e.admin, e.second, &[])
        .await
        .expect(200)
        .body;
    let mut anchors: Vec<(String, String)> = second["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["anchor_period"].as_str().unwrap_or_default().to_owned(),
                r["step"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    anchors.sort();
    assert_eq!(
        anchors,
        [("2026-10", "overdue_1"), ("2026-11", "due_soon")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // 16 December: November's bill is overdue too; day 31 of October's is the last step,
    // one reminder naming both bills, and a follow-up for the butler.
    app.clock.set(shanghai(2026, 12, 16, 9, 30));
    app.wait_for("the last step", 10, || async {
        steps_to(&app, "apns").contains(&"overdue_30".to_owned())
    })
    .await;
    settle(&app).await;
    let last = reminders(&app)
        .into_iter()
        .find(|r| r.1 == "apns" && r.4 == "overdue_30")
        .expect("the last step");
    assert!(
        last.3.contains(
            "2笔账单已逾期（2026年10月 物业费 ¥210.35、2026年11月 物业费 ¥210.35），合计 ¥420.70"
        ),
        "{}",
        last.3
    );
    let tasks = app
        .list_follow_ups(&e.butler_token, e.community, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(tasks["items"].as_array().map(Vec::len), Some(1), "{tasks}");
    assert_eq!(tasks["items"][0]["household_id"], json!(e.first));
    assert_eq!(tasks["items"][0]["butler_id"], json!(e.butler));
    assert_eq!(tasks["items"][0]["address"], "3栋1单元1203");
    let task = Uuid::parse_str(tasks["items"][0]["id"].as_str().expect("id")).expect("uuid");

    // The butler calls and records it; the record has every step and the call.
    app.record_reminder_contact(
        &e.butler_token,
        e.first,
        &json!({ "channel": "phone", "note": "业主承诺月底前缴清", "promised_on": "2026-12-31" }),
    )
    .await
    .expect(201);
    app.record_reminder_contact(
        &e.butler_token,
        e.first,
        &json!({ "channel": "auto", "note": "x" }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    app.complete_follow_up(&e.butler_token, task, &json!({ "note": "已电话联系" }))
        .await
        .expect(200);
    app.complete_follow_up(&e.butler_token, task, &json!({ "note": "again" }))
        .await
        .expect_problem(409, "/problems/follow-up-done");
    let record = app
        .list_household_reminders(&e.admin, e.first, &[])
        .await
        .expect(200)
        .body;
    let mut steps = record_steps(&record);
    steps.sort();
    assert_eq!(
        steps,
        ["due_soon", "overdue_1", "overdue_15", "overdue_30", "phone"].map(String::from)
    );
    let call = record["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["channel"] == "phone")
        .expect("the call");
    assert_eq!(call["promised_on"], "2026-12-31");
    assert_eq!(call["owed_fen"], 42_070);
    let october = app
        .list_household_bills(&e.admin, e.first, &[("period", "2026-10")])
        .await
        .expect(200)
        .body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let per_bill = app
        .list_bill_reminders(&e.admin, &october)
        .await
        .expect(200)
        .body;
    assert_eq!(
        per_bill["items"].as_array().map(Vec::len),
        Some(4),
        "{per_bill}"
    );
    let arrears = app
        .list_arrears(&e.admin, e.community, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(arrears["items"][0]["last_reminder"], "phone", "{arrears}");
    let csv = app
        .export_reminders(
            &e.admin,
            e.community,
            &[
                ("from", "2026-11-01T00:00:00Z"),
                ("to", "2027-01-01T00:00:00Z"),
            ],
        )
        .await
        .expect(200);
    let text = csv.text.strip_prefix('\u{feff}').expect("a BOM");
    assert_eq!(
        text.lines().count(),
        1 + 5 + 3,
        "header, 5 for 1203; for 1204 October's day 1, November's due-soon and day 1: {text}"
    );
    assert!(
        text.contains(",auto,overdue_15,2026-10,21035,210.35,"),
        "{text}"
    );
    assert!(
        text.contains(",phone,,2026-10 2026-11,42070,420.70,"),
        "{text}"
    );
    // Residents see their inbox, not the office's record.
    app.list_household_reminders(&e.resident, e.first, &[])
        .await
        .expect_problem(403, "/problems/forbidden");
    // 李雷's November reminders, held by his quiet hours, go at 12:00.
    app.clock.set(shanghai(2026, 12, 16, 12, 0));
    app.wait_for("李雷's reminders", 10, || async {
        steps_to(&app, "fcm").len() == 2
    })
    .await;
    let mut his = steps_to(&app, "fcm");
    his.sort();
    assert_eq!(his, ["due_soon", "overdue_1"]);
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn the_schedule_is_the_communitys_and_checked() {
    let app = spawn_app_with(|_| {}).await;
    let e = estate(&app).await;
    let policy = app
        .get_reminder_policy(&e.admin, e.community)
        .await
        .expect(200)
        .body;
    assert_eq!(policy["overdue_days"], json!([1, 7, 15, 30]));
    assert_eq!(policy["window_from"], "09:00");
    let mut changed = policy.clone();
    changed["overdue_days"] = json!([3, 10]);
    changed["sms_from_day"] = json!(10);
    let saved = app
        .put_reminder_policy(&e.admin, e.community, &changed)
        .await
        .expect(200)
        .body;
    assert_eq!(saved["overdue_days"], json!([3, 10]));
    let mut backwards = policy.clone();
    backwards["overdue_days"] = json!([10, 3]);
    let refused = app
        .put_reminder_policy(&e.admin, e.community, &backwards)
        .await
        .expect_problem(422, "/problems/validation")
        .body;
    assert_eq!(refused["errors"][0]["field"], "overdue_days");
    let mut night = policy.clone();
    night["window_from"] = json!("21:00");
    night["window_to"] = json!("08:00");
    app.put_reminder_policy(&e.admin, e.community, &night)
        .await
        .expect_problem(422, "/problems/validation");
    app.put_reminder_policy(&e.butler_token, e.community, &policy)
        .await
        .expect_problem(403, "/problems/forbidden");
    assert_eq!(
        app.get_reminder_policy(&e.admin, e.community)
            .await
            .expect(200)
            .body["overdue_days"],
        json!([3, 10])
    );
}

#[tokio::test]
async fn wechat_reminders_go_only_while_a_consent_is_unused() {
    use courtyard_domain::entities::{resident, wechat_consent};
    use sea_orm::sea_query::Expr;
    let app = spawn_app_with(|s| {
        s.auth.access_token_ttl_secs = 400 * 24 * 3600;
        s.notifications.fee_reminders = true;
    })
    .await;
    app.clock.set(shanghai(2026, 11, 16, 7, 0));
    let e = estate(&app).await;
    resident::Entity::update_many()
        .col_expr(
            resident::Column::WechatOpenid,
            Expr::value("oWangFang-openid"),
        )
        .filter(resident::Column::Phone.eq("13800007771"))
        .exec(&app.db)
        .await
        .expect("bind WeChat");
    let granted = app
        .record_wechat_consent(
            &e.resident,
            &json!({ "category": "fee_reminder", "accepted": 1 }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(granted["remaining"], 1);
    app.record_wechat_consent(
        &e.admin,
        &json!({ "category": "fee_reminder", "accepted": 1 }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    // The schema bounds the count to 1–50: 422 naming it.
    let reply = app
        .record_wechat_consent(
            &e.resident,
            &json!({ "category": "fee_reminder", "accepted": 0 }),
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "accepted");
    app.record_wechat_consent(&e.resident, &json!({ "category": "fax", "accepted": 1 }))
        .await
        .expect_problem(422, "/problems/validation");
    run_month(&app, &e, "2026-10").await;

    // Day 1: push and WeChat, the consent taken.
    app.clock.set(shanghai(2026, 11, 16, 9, 0));
    app.wait_for("the WeChat reminder", 10, || async {
        !steps_to(&app, "wechat").is_empty()
    })
    .await;
    settle(&app).await;
    assert_eq!(steps_to(&app, "wechat"), ["overdue_1"]);
    let wechat = reminders(&app)
        .into_iter()
        .find(|r| r.1 == "wechat")
        .expect("wechat");
    assert_eq!(wechat.0, "oWangFang-openid");
    let left = wechat_consent::Entity::find()
        .all(&app.db)
        .await
        .expect("consents");
    assert_eq!(
        left.iter().map(|c| c.remaining).sum::<i32>(),
        0,
        "one consent, one message"
    );

    // Day 7: no consent left, so push only.
    app.clock.set(shanghai(2026, 11, 22, 9, 0));
    app.wait_for("the day-7 push", 10, || async {
        steps_to(&app, "apns").contains(&"overdue_7".to_owned())
    })
    .await;
    settle(&app).await;
    assert_eq!(
        steps_to(&app, "wechat"),
        ["overdue_1"],
        "no WeChat without a consent"
    );
    // 李雷's, held by his quiet hours until 12:00.
    app.clock.set(shanghai(2026, 11, 22, 12, 0));
    app.wait_for("李雷's day-7 push", 10, || async {
        steps_to(&app, "fcm").contains(&"overdue_7".to_owned())
    })
    .await;
    app.assert_no_jobs_left().await;
}
