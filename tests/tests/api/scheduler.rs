//! Scheduled sends: birthday greetings at 09:00 community time, once per resident per year,
//! caught up after downtime; and the Redis lease that keeps one scheduler active.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use courtyard_tests::{ClockExt, redis_url, spawn_app_with, world::World};
use courtyard_workers::lease::{Lease, RedisLease};
use serde_json::json;

fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("time")
        - chrono::Duration::hours(8)
}

#[tokio::test]
async fn birthdays_are_greeted_at_nine_once_a_year() {
    let app = spawn_app_with(|s| s.auth.access_token_ttl_secs = 800 * 24 * 3600).await;
    // 2026-11-26 08:00 Shanghai: the world's residents, one of them born on 26 November.
    app.clock.set(shanghai(2026, 11, 26, 8, 0));
    let world = World::build(&app).await;
    app.update_resident(
        world.token("admin"),
        world.a.resident,
        &json!({ "birthday": "1990-11-26" }),
    )
    .await
    .expect(200);
    app.update_resident(
        world.token("admin"),
        world.b.resident,
        &json!({ "birthday": "1990-11-27" }),
    )
    .await
    .expect(200);
    let greetings = |app: &courtyard_tests::TestApp| {
        app.sent
            .sent()
            .into_iter()
            .filter(|s| s.title == "生日快乐")
            .collect::<Vec<_>>()
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(greetings(&app).is_empty(), "not before 09:00");

    app.clock.set(shanghai(2026, 11, 26, 9, 0));
    app.wait_for("the greeting", 10, || async { !greetings(&app).is_empty() })
        .await;
    let sent = greetings(&app);
    assert_eq!(sent.len(), 1, "only the resident born today");
    assert_eq!(sent[0].channel, "apns");
    assert!(sent[0].body.contains("生日快乐"), "{}", sent[0].body);
    let inbox = app
        .list_messages(&world.resident.access, &[])
        .await
        .expect(200);
    assert!(
        inbox.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["category"] == "greeting")
    );

    // Later the same day, and after a restart: nothing more.
    app.clock.set(shanghai(2026, 11, 26, 15, 0));
    let again = app.start_another().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        greetings(&app).len() + greetings(&again).len(),
        1,
        "once per resident per year"
    );
    drop(again);

    // A year later, again; the scheduler was down at 09:00 and catches up at 11:30.
    app.clock.set(shanghai(2027, 11, 26, 11, 30));
    app.wait_for("next year's greeting", 10, || async {
        greetings(&app).len() == 2
    })
    .await;
    assert_eq!(app.clock.now_utc().format("%Y").to_string(), "2027");
}

#[tokio::test]
async fn one_scheduler_holds_the_lease_at_a_time() {
    let key = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let client = || redis::Client::open(redis_url()).expect("redis url");
    let first = RedisLease::connect(client(), &key, "scheduler", "worker-1")
        .await
        .expect("lease");
    let second = RedisLease::connect(client(), &key, "scheduler", "worker-2")
        .await
        .expect("lease");
    let ttl = Duration::from_millis(300);
    assert!(first.hold(ttl).await.expect("hold"));
    assert!(!second.hold(ttl).await.expect("hold"), "held by the first");
    assert!(first.hold(ttl).await.expect("renew"), "the holder renews");
    // The first dies: the lease expires and the second takes over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(second.hold(ttl).await.expect("hold"));
    assert!(
        !first.hold(ttl).await.expect("hold"),
        "now held by the second"
    );
}
