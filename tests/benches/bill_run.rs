//! Benchmark: a month's bills for N households (default 5,000) with four fee items — 物业费
//! per m², tiered water and flat power from meter readings, a fixed refuse fee — on SQLite,
//! or on PostgreSQL with `COURTYARD_TEST_DB=postgres`. Times the bill run job's work
//! (`store::fees::bill_run::run`: plan, lines, bills, lines and residents' notification jobs
//! written in batches), then a second run of the same month (which bills nothing new).
//!
//!     cargo bench -p courtyard-tests --bench bill_run                        # SQLite, 5,000
//!     COURTYARD_TEST_DB=postgres cargo bench -p courtyard-tests --bench bill_run
//!     COURTYARD_BENCH_HOUSEHOLDS=300 cargo test -p courtyard-tests --bench bill_run  # smoke

use std::time::Instant;

use courtyard_domain::{
    Clock,
    entities::{bill, bill_line, household, meter_reading},
    fees::bills::Period,
    new_id,
};
use courtyard_store::fees::bill_run;
use courtyard_tests::{backend, spawn_api_only};
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
    // No workers: the run is timed here, not raced by the app's own worker.
    let app = spawn_api_only(|_| {}).await;
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
    for item in [
        json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
        json!({ "name": "水费", "kind": "metered", "meter": "water", "tiers": [
            { "up_to": "18", "unit_price": "3.45" }, { "unit_price": "4.83" }
        ] }),
        json!({ "name": "电费", "kind": "metered", "meter": "power", "unit_price": "0.5283" }),
        json!({ "name": "垃圾清运费", "kind": "fixed", "unit_price": "10" }),
    ] {
        app.create_fee_item(token, community, &item)
            .await
            .expect(201);
    }
    // Two months of water and power readings for every household, written straight in.
    let ids: Vec<uuid::Uuid> = household::Entity::find()
        .filter(household::Column::CommunityId.eq(community))
        .all(&app.db)
        .await
        .expect("households")
        .into_iter()
        .map(|h| h.id)
        .collect();
    let now = app.clock.now();
    let mut readings = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let i = i as i64;
        for (meter, used) in [
            ("water", 8_000 + i % 30 * 1_000),
            ("power", 150_000 + i % 200 * 1_500),
        ] {
            for (period, value) in [("2026-10", 1_000_000), ("2026-11", 1_000_000 + used)] {
                readings.push(meter_reading::ActiveModel {
                    id: Set(new_id()),
                    community_id: Set(community),
                    household_id: Set(*id),
                    meter: Set(meter.into()),
                    period: Set(period.into()),
                    value_milli: Set(value),
                    initial_milli: Set(None),
                    source: Set("import".into()),
                    entered_by: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
        }
    }
    for chunk in readings.chunks(1_000) {
        meter_reading::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .expect("readings");
    }
    let admin_id = app.get_me(token).await.expect(200).id();
    let period = Period::parse("2026-11").expect("period");

    let run = bill_run::start(&app.db, community, period, admin_id, now, None)
        .await
        .expect("start");
    let started = Instant::now();
    let outcome = bill_run::run(&app.db, run.id, &app.clock)
        .await
        .expect("run");
    let first = started.elapsed();
    assert_eq!(outcome, bill_run::Outcome::Finished);
    let bills = bill::Entity::find()
        .filter(bill::Column::CommunityId.eq(community))
        .count(&app.db)
        .await
        .expect("bills");
    assert_eq!(bills as usize, households);
    let lines = bill_line::Entity::find()
        .count(&app.db)
        .await
        .expect("lines");

    let again = bill_run::start(&app.db, community, period, admin_id, now, None)
        .await
        .expect("start");
    let started = Instant::now();
    bill_run::run(&app.db, again.id, &app.clock)
        .await
        .expect("rerun");
    let rerun = started.elapsed();
    let after = bill::Entity::find()
        .filter(bill::Column::CommunityId.eq(community))
        .count(&app.db)
        .await
        .expect("bills");
    assert_eq!(after, bills, "a second run bills nothing new");

    println!(
        "bill_run backend={} households={households} fee_items=4 bills={bills} lines={lines} first_run={:.2}s ({:.0} households/s) rerun={:.2}s",
        backend(),
        first.as_secs_f64(),
        households as f64 / first.as_secs_f64(),
        rerun.as_secs_f64(),
    );
}
