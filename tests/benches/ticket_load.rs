//! Load benchmark: residents report repairs (`POST /v1/repairs`) and read their repair
//! list (`GET /v1/tickets`) through the real API and the whole system (workers on, telling
//! the butler of every report), on PostgreSQL (`COURTYARD_TEST_DB=postgres`, as the issue
//! asks) or SQLite. Prints throughput and latency percentiles of each phase.
//!
//!     COURTYARD_TEST_DB=postgres cargo bench -p courtyard-tests --bench ticket_load
//!     COURTYARD_BENCH_SECONDS=1 cargo test -p courtyard-tests --bench ticket_load   # smoke
//!
//! Knobs: COURTYARD_BENCH_SECONDS (per phase, default 10), COURTYARD_BENCH_CONCURRENCY
//! (requests in flight, default 64), COURTYARD_BENCH_RESIDENTS (default 200).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use courtyard_tests::{Tokens, backend, spawn_app_with};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn roll(households: usize) -> String {
    let mut csv = String::from("building,unit,room,area_m2,name,phone,role\n");
    for i in 0..households {
        csv.push_str(&format!(
            "{}栋,1单元,{},80,住户{i},137{i:08},owner\n",
            i / 100 + 1,
            1000 + i
        ));
    }
    csv
}

/// Latency percentiles of a phase, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

struct Phase {
    name: &'static str,
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn report(mut self) {
        self.latencies.sort();
        println!(
            "ticket_load backend={} phase={} requests={} errors={} rate={:.0}/s p50={:.1}ms p99={:.1}ms max={:.1}ms",
            backend(),
            self.name,
            self.requests,
            self.errors,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
            percentile(&self.latencies, 1.0),
        );
        assert_eq!(self.errors, 0, "{} had errors", self.name);
    }
}

/// Runs `concurrency` loops of `request` for `seconds`.
async fn run<F, Fut>(name: &'static str, seconds: u64, concurrency: usize, request: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut n) = (Vec::new(), 0, 0);
            while Instant::now() < deadline {
                let at = Instant::now();
                if !request(worker, n).await {
                    errors += 1;
                }
                latencies.push(at.elapsed());
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.expect("load task");
        latencies.extend(l);
        errors += e;
    }
    Phase {
        name,
        requests: latencies.len(),
        errors,
        elapsed: started.elapsed(),
        latencies,
    }
}

#[tokio::main]
async fn main() {
    let seconds = knob("COURTYARD_BENCH_SECONDS", 10);
    let concurrency = knob("COURTYARD_BENCH_CONCURRENCY", 64) as usize;
    let residents = knob("COURTYARD_BENCH_RESIDENTS", 200) as usize;
    let app = spawn_app_with(|s| {
        s.database.max_connections = 32;
        s.auth.access_token_ttl_secs = 24 * 3600;
    })
    .await;
    let (_, admin) = app.bootstrap_admin("Load Co").await;
    let community = app
        .post(
            "/v1/communities",
            Some(&admin.access),
            json!({ "name": "Load" }),
        )
        .await
        .expect(201)
        .id();
    app.request_raw(
        Method::POST,
        &format!("/v1/communities/{community}/roll-imports"),
        Some(&admin.access),
        "text/csv",
        roll(residents).into_bytes(),
    )
    .await
    .expect(200);
    let mut people: Vec<(Tokens, Uuid)> = Vec::with_capacity(residents);
    for i in 0..residents {
        let tokens = app.login_resident(&format!("137{i:08}")).await;
        let me = app.get("/v1/me", &tokens.access).await.expect(200);
        let household = me.body["households"][0]["household_id"]
            .as_str()
            .expect("a household")
            .parse()
            .expect("uuid");
        people.push((tokens, household));
    }
    let people = Arc::new(people);
    let (client, address) = (app.client.clone(), app.address.clone());

    let creates = {
        let (people, client, address) = (people.clone(), client.clone(), address.clone());
        run("create_repair", seconds, concurrency, move |worker, n| {
            let (people, client, address) = (people.clone(), client.clone(), address.clone());
            async move {
                let (tokens, household) = &people[(worker * 7919 + n) % people.len()];
                client
                    .post(format!("{address}/v1/repairs"))
                    .bearer_auth(&tokens.access)
                    .json(&json!({
                        "household_id": household,
                        "category": "water",
                        "urgency": "ordinary",
                        "description": "卫生间水龙头漏水",
                    }))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 201)
            }
        })
        .await
    };
    creates.report();

    let reads = {
        let (people, client, address) = (people.clone(), client.clone(), address.clone());
        run("list_repairs", seconds, concurrency, move |worker, n| {
            let (people, client, address) = (people.clone(), client.clone(), address.clone());
            async move {
                let (tokens, _) = &people[(worker * 7919 + n) % people.len()];
                match client
                    .get(format!("{address}/v1/tickets?kind=repair&limit=20"))
                    .bearer_auth(&tokens.access)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await
    };
    reads.report();
}
