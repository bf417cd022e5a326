//! Benchmark: import a roll of N households (one resident each) through the real API into a
//! fresh database, then import it again (the update path). Runs on SQLite, or on PostgreSQL
//! with `COURTYARD_TEST_DB=postgres`.
//!
//!     cargo bench -p courtyard-tests --bench roll_import                        # SQLite, 5,000
//!     COURTYARD_TEST_DB=postgres cargo bench -p courtyard-tests --bench roll_import
//!     COURTYARD_BENCH_HOUSEHOLDS=300 cargo test -p courtyard-tests --bench roll_import  # smoke

use std::time::Instant;

use courtyard_tests::{backend, spawn_app};
use reqwest::Method;
use serde_json::json;

// glibc's allocator spends a third of a busy API's CPU in malloc/free (measured with perf
// under the ticket load benchmark); mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn roll(households: usize) -> String {
    let mut csv = String::from("building,unit,room,floor,area_m2,name,phone,role,birthday\n");
    for i in 0..households {
        let building = i / 400 + 1;
        let unit = (i / 100) % 4 + 1;
        let floor = (i % 100) / 4 + 1;
        let room = floor * 100 + i % 4 + 1;
        csv.push_str(&format!(
            "{building}栋,{unit}单元,{room},{floor},{}.{:02},住户{i},139{i:08},owner,1980-01-{:02}\n",
            60 + i % 90,
            i % 100,
            i % 28 + 1
        ));
    }
    csv
}

#[tokio::main]
async fn main() {
    let households: usize = std::env::var("COURTYARD_BENCH_HOUSEHOLDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Bench Co").await;
    let community = app
        .post(
            "/v1/communities",
            Some(&admin.access),
            json!({ "name": "Bench" }),
        )
        .await
        .expect(201)
        .id();
    let body = roll(households).into_bytes();
    let path = format!("/v1/communities/{community}/roll-imports");

    let started = Instant::now();
    let first = app
        .request_raw(
            Method::POST,
            &path,
            Some(&admin.access),
            "text/csv",
            body.clone(),
        )
        .await
        .expect(200);
    let create = started.elapsed();
    assert_eq!(first.body["households_created"], households);
    assert_eq!(first.body["residents_created"], households);

    let started = Instant::now();
    let again = app
        .request_raw(Method::POST, &path, Some(&admin.access), "text/csv", body)
        .await
        .expect(200);
    let reimport = started.elapsed();
    assert_eq!(again.body["households_created"], 0);

    println!(
        "roll_import backend={} households={households} bytes={} first_import={:.2}s ({:.0} households/s) reimport={:.2}s",
        backend(),
        roll(households).len(),
        create.as_secs_f64(),
        households as f64 / create.as_secs_f64(),
        reimport.as_secs_f64(),
    );
}
