//! Load benchmark: residents report repairs (`POST /v1/repairs`) and read their repair
//! list (`GET /v1/tickets`), then the front desk reads tickets' details
//! (`GET /v1/tickets/{id}`, each read recorded in the audit trail) through the real API (as `courtyard serve --no-workers` runs it;
//! the workers' share of each report waits in the outbox), on PostgreSQL (`COURTYARD_TEST_DB=postgres`, as the issue
//! asks) or SQLite. Prints throughput and latency percentiles of each phase.
//!
//!     COURTYARD_TEST_DB=postgres cargo bench -p courtyard-tests --bench ticket_load
//!     COURTYARD_BENCH_SECONDS=1 cargo test -p courtyard-tests --bench ticket_load   # smoke
//!
//! Knobs: COURTYARD_BENCH_SECONDS (per phase, default 10), COURTYARD_BENCH_CONCURRENCY
//! (connections, default 32), COURTYARD_BENCH_RESIDENTS (default 1,000, each with their own
//! household: after the report phase each has ~20 repairs, which the list phase reads).
//!
//! The load comes from `wrk` (2 threads, one Lua-scripted request per resident in turn)
//! when it is installed, so the measuring client costs the 2-core machine little; without
//! it (or with COURTYARD_BENCH_CLIENT=reqwest) from an in-process reqwest client.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use courtyard_tests::{Tokens, backend, spawn_api_only};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

// glibc's allocator spends a third of a busy API's CPU in malloc/free (measured with perf
// under the ticket load benchmark); mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Runs `wrk` against the app with a Lua script; `None` when wrk is not installed.
fn run_wrk(
    name: &'static str,
    address: &str,
    seconds: u64,
    concurrency: usize,
    script: &str,
) -> Option<()> {
    if std::env::var("COURTYARD_BENCH_CLIENT").as_deref() == Ok("reqwest") {
        return None;
    }
    let path = std::env::temp_dir().join(format!("courtyard-{name}-{}.lua", Uuid::new_v4()));
    std::fs::write(&path, script).expect("write the wrk script");
    let output = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{concurrency}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&path)
        .arg(address)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
            .unwrap_or_default()
    };
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let errors = field("Non-2xx or 3xx responses:");
    println!(
        "ticket_load backend={} client=wrk phase={name} requests={requests} errors={} rate={}/s p50={} p99={} max={}",
        backend(),
        if errors.is_empty() { "0" } else { &errors },
        field("Requests/sec:"),
        field("50%"),
        field("99%"),
        text.lines()
            .find(|l| l.trim_start().starts_with("Latency"))
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap_or("?"),
    );
    assert!(errors.is_empty(), "{name}: some requests failed: {text}");
    Some(())
}

/// Lets the database settle after the burst of reports, as autovacuum would between a
/// morning's reports and the evening's reads: freshly inserted rows carry no hint bits and
/// visibility information yet, and the first reads would pay for setting them.
async fn settle(app: &courtyard_tests::TestApp) {
    use sea_orm::ConnectionTrait;
    if backend() == "postgres" {
        app.db
            .execute_unprepared("VACUUM ANALYZE tickets, ticket_clocks")
            .await
            .expect("vacuum");
    }
}

/// A Lua table of strings.
fn lua_list(items: impl Iterator<Item = String>) -> String {
    let quoted: Vec<String> = items.map(|i| format!("\"{i}\"")).collect();
    format!("{{{}}}", quoted.join(","))
}

#[tokio::main]
async fn main() {
    let seconds = knob("COURTYARD_BENCH_SECONDS", 10);
    let concurrency = knob("COURTYARD_BENCH_CONCURRENCY", 32) as usize;
    let residents = knob("COURTYARD_BENCH_RESIDENTS", 1_000) as usize;
    // The API alone, as production runs it (`serve --no-workers`): what the workers do
    // with each report (tell the butler) waits in the outbox.
    let app = spawn_api_only(|s| {
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
    let tokens = lua_list(people.iter().map(|(t, _)| t.access.clone()));
    let households = lua_list(people.iter().map(|(_, h)| h.to_string()));
    let create_script = format!(
        r#"local tokens = {tokens}
local households = {households}
local n = 0
request = function()
  n = n + 1
  local k = n % #tokens + 1
  return wrk.format("POST", "/v1/repairs", {{["Authorization"] = "Bearer " .. tokens[k], ["Content-Type"] = "application/json"}},
    '{{"household_id":"' .. households[k] .. '","category":"water","urgency":"ordinary","description":"卫生间水龙头漏水"}}')
end
"#
    );
    let list_script = format!(
        r#"local tokens = {tokens}
local n = 0
request = function()
  n = n + 1
  local k = n % #tokens + 1
  return wrk.format("GET", "/v1/tickets?kind=repair&limit=20", {{["Authorization"] = "Bearer " .. tokens[k]}})
end
"#
    );
    if run_wrk(
        "create_repair",
        &app.address,
        seconds,
        concurrency,
        &create_script,
    )
    .is_some()
    {
        settle(&app).await;
        run_wrk(
            "list_repairs",
            &app.address,
            seconds,
            concurrency,
            &list_script,
        )
        .expect("wrk ran once");
        let (desk, tickets) = desk_and_tickets(&app, &admin.access, community).await;
        let detail_script = format!(
            r#"local tickets = {}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/tickets/" .. tickets[n % #tickets + 1], {{["Authorization"] = "Bearer {desk}"}})
end
"#,
            lua_list(tickets.iter().map(Uuid::to_string))
        );
        run_wrk(
            "staff_ticket_reads",
            &app.address,
            seconds,
            concurrency,
            &detail_script,
        )
        .expect("wrk ran once");
        audited(&app).await;
        return;
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
    settle(&app).await;

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

    let (desk, tickets) = desk_and_tickets(&app, &admin.access, community).await;
    let tickets = Arc::new(tickets);
    let desk = Arc::new(desk);
    let details = run(
        "staff_ticket_reads",
        seconds,
        concurrency,
        move |worker, n| {
            let (tickets, desk, client, address) = (
                tickets.clone(),
                desk.clone(),
                client.clone(),
                address.clone(),
            );
            async move {
                let id = tickets[(worker * 7919 + n) % tickets.len()];
                match client
                    .get(format!("{address}/v1/tickets/{id}"))
                    .bearer_auth(desk.as_str())
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        },
    )
    .await;
    details.report();
    audited(&app).await;
}

/// A front-desk login of the community and up to 1,000 of its tickets, for the staff phase.
async fn desk_and_tickets(
    app: &courtyard_tests::TestApp,
    admin: &str,
    community: Uuid,
) -> (String, Vec<Uuid>) {
    use courtyard_domain::entities::ticket;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    app.post(
        "/v1/staff",
        Some(admin),
        json!({
            "name": "前台",
            "username": "load-desk",
            "password": "load-desk-password",
            "role": "front_desk",
            "community_ids": [community],
        }),
    )
    .await
    .expect(201);
    let desk = app.login_staff("load-desk", "load-desk-password").await;
    let tickets = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(ticket::Column::CommunityId.eq(community))
        .limit(1_000)
        .into_tuple::<Uuid>()
        .all(&app.db)
        .await
        .expect("tickets");
    assert!(!tickets.is_empty(), "the report phase made no tickets");
    (desk.access, tickets)
}

/// Every staff read of the last phase reached the audit trail (reads are batched).
async fn audited(app: &courtyard_tests::TestApp) {
    use courtyard_domain::entities::audit_entry;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rows = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("get_ticket"))
        .count(&app.db)
        .await
        .expect("audit rows");
    println!(
        "ticket_load backend={} audited_staff_reads={rows}",
        backend()
    );
    assert!(rows > 0, "the staff reads left no audit rows");
}
