//! Benchmark: a day's overdue-fee reminders for N households (default 5,000) with overdue
//! bills, each with a resident and a push device, on PostgreSQL + Redis with
//! `COURTYARD_TEST_DB=postgres` (Redis at `COURTYARD_TEST_REDIS_URL`; SQLite and the
//! in-process queue otherwise). Times one
//! scheduler tick of the reminder job (`workers::jobs::reminders::run_once`), from the tick
//! to every reminder recorded: the plan, the reminder rows and their bills, one inbox
//! message and one push delivery per resident, and the send jobs queued. Then the same tick
//! again after its run was forgotten (a run killed before it finished): nothing new.
//!
//!     COURTYARD_TEST_DB=postgres cargo bench -p courtyard-tests --bench reminder_run
//!     COURTYARD_BENCH_HOUSEHOLDS=300 cargo test -p courtyard-tests --bench reminder_run  # smoke

use std::{sync::Arc, time::Instant};

use chrono::TimeZone;
use courtyard_domain::{
    Clock,
    entities::{delivery, device, fee_reminder, household_member, message, scheduled_run},
    fees::bills::Period,
    new_id,
};
use courtyard_store::fees::bill_run;
use courtyard_tests::{backend, redis_url, spawn_api_only};
use courtyard_workers::pipeline::Pipeline;
use reqwest::Method;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let households: usize = std::env::var("COURTYARD_BENCH_HOUSEHOLDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    // No workers: the tick is timed here, not raced by the app's own scheduler.
    let app = spawn_api_only(|s| {
        s.notifications.fee_reminders = true;
        if backend() == "postgres" {
            s.redis.url = Some(secrecy::SecretString::from(redis_url()));
        }
    })
    .await;
    // 2026-11-16 08:00 Shanghai: October's bills fell due yesterday.
    app.clock.set(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 16, 0, 0, 0)
            .single()
            .expect("time"),
    );
    let (_, admin) = app.bootstrap_admin("Bench Co").await;
    let token = admin.access.as_str();
    let community = app
        .create_community(token, &json!({ "name": "Bench" }))
        .await
        .expect(201)
        .id();
    app.request_raw(
        Method::POST,
        &format!("/v1/communities/{community}/roll-imports"),
        Some(token),
        "text/csv",
        courtyard_tests::rolls::roll(households).into_bytes(),
    )
    .await
    .expect(200);
    app.create_fee_item(
        token,
        community,
        &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
    )
    .await
    .expect(201);
    let admin_id = app.get_me(token).await.expect(200).id();
    let run = bill_run::start(
        &app.db,
        community,
        Period::parse("2026-10").expect("period"),
        admin_id,
        app.clock.now(),
        None,
    )
    .await
    .expect("start");
    bill_run::run(&app.db, run.id, &app.clock)
        .await
        .expect("bill run");
    // One iPhone per resident, written straight in.
    let residents: Vec<uuid::Uuid> = household_member::Entity::find()
        .filter(household_member::Column::CommunityId.eq(community))
        .all(&app.db)
        .await
        .expect("members")
        .into_iter()
        .map(|m| m.resident_id)
        .collect();
    let now = app.clock.now();
    let devices: Vec<device::ActiveModel> = residents
        .iter()
        .enumerate()
        .map(|(i, r)| device::ActiveModel {
            id: Set(new_id()),
            owner_kind: Set("resident".into()),
            owner_id: Set(*r),
            platform: Set("ios".into()),
            provider: Set("apns".into()),
            token: Set(format!("{i:064x}")),
            topic: Set(Some("com.courtyard.resident".into())),
            sandbox: Set(false),
            locale: Set("zh-CN".into()),
            active: Set(true),
            last_seen_at: Set(now),
            invalidated_at: Set(None),
            invalid_reason: Set(None),
            created_at: Set(now),
        })
        .collect();
    for chunk in devices.chunks(1_000) {
        device::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .expect("devices");
    }

    let mut settings = app.settings.clone();
    settings.notifications.fee_reminders = true;
    let pipeline = Pipeline::from_settings(&settings, Arc::new(app.clock.clone()))
        .await
        .expect("pipeline");
    // 09:00 Shanghai: the window opens.
    app.clock.set(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 16, 1, 0, 0)
            .single()
            .expect("time"),
    );
    let started = Instant::now();
    let planned = courtyard_workers::jobs::reminders::run_once(&pipeline)
        .await
        .expect("reminder run");
    let first = started.elapsed();
    assert_eq!(planned, households);
    let count = |n: u64| n as usize;
    let reminders = count(
        fee_reminder::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
    );
    let messages = count(
        message::Entity::find()
            .filter(message::Column::Category.eq("fee_reminder"))
            .count(&app.db)
            .await
            .expect("count"),
    );
    let deliveries = count(
        delivery::Entity::find()
            .filter(delivery::Column::Channel.eq("apns"))
            .count(&app.db)
            .await
            .expect("count"),
    );
    assert_eq!(
        (reminders, messages, deliveries),
        (households, households, households)
    );

    // Forgotten (a run killed before its end): the tick runs it again and adds nothing.
    scheduled_run::Entity::delete_many()
        .exec(&app.db)
        .await
        .expect("forget");
    let started = Instant::now();
    courtyard_workers::jobs::reminders::run_once(&pipeline)
        .await
        .expect("second run");
    let again = started.elapsed();
    let after = count(
        delivery::Entity::find()
            .filter(delivery::Column::Channel.eq("apns"))
            .count(&app.db)
            .await
            .expect("count"),
    );
    assert_eq!(after, households, "nothing twice");
    let queue = if backend() == "postgres" {
        "redis"
    } else {
        "in-process"
    };
    println!(
        "reminder_run backend={} queue={queue} households={households}: first tick {:.2} s (reminders, messages, deliveries: {households} each), rerun {:.2} s",
        backend(),
        first.as_secs_f64(),
        again.as_secs_f64(),
    );
}
