//! Benchmark: one notice to N devices (60 % FCM, 40 % APNs) on PostgreSQL + Redis, through
//! the real APNs and FCM clients, against the local HTTP/2 mock providers (bench mode: every
//! request's headers and payload checked, each distinct credential verified once).
//!
//! The API runs in this process; the workers run in a child process (this binary again,
//! started as `courtyard-workers` starts: `Pipeline::from_settings`, `Workers`, the
//! scheduler lease), so their peak RSS is theirs alone. The run seeds a fresh database
//! directly (multi-row INSERTs), posts one notice through the HTTP API, and reports:
//! accept → all delivered (deliveries/s), time to first delivery at the mock, accept →
//! provider latency percentiles, when every delivery was recorded as sent, the workers'
//! peak RSS (VmHWM), CPU seconds per process during the run, and then the mocks' own
//! ceiling measured with `h2load` (127.0.0.1, bounded request count) in the same run.
//!
//!     cargo bench -p courtyard-tests --bench notice_fanout                        # 100,000
//!     COURTYARD_BENCH_DEVICES=500 cargo test -p courtyard-tests --bench notice_fanout  # smoke
//!
//! Environment:
//! - `COURTYARD_BENCH_DEVICES`: devices (= residents), default 100,000.
//! - `COURTYARD_BENCH_H2LOAD_REQUESTS`: requests per h2load run (default: devices, at
//!   least 2,000, at most 100,000); `0` skips h2load. Without `h2load` installed
//!   (`apt-get install nghttp2-client`) the ceiling is reported as skipped.
//! - `COURTYARD_BENCH_SEND_BATCH`, `_SEND_LANES`, `_SEND_CONCURRENCY`, `_FANOUT_CONCURRENCY`,
//!   `_FCM_CONNECTIONS`, `_DB_CONNECTIONS`: override the workers' defaults, for experiments.
//! - `COURTYARD_BENCH_KEEP_DB=1`: keep the database afterwards (it is dropped otherwise).
//! - `COURTYARD_TEST_PG_URL`, `COURTYARD_TEST_REDIS_URL`: as for the tests.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::Utc;
use courtyard::{Application, Dependencies};
use courtyard_domain::{
    Settings, SystemClock,
    auth::Password,
    entities::{company, staff},
    new_id,
    people::StaffRole,
    settings::{ApnsSettings, FcmSettings, LogFormat},
};
use courtyard_tests::{
    mocks::{
        Arrival,
        apns::{self, MockApns},
        fcm::{self, MockFcm},
    },
    redis_url,
};
use courtyard_workers::{Pipeline, Workers, lease::RedisLease};
use futures::StreamExt;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    Statement,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

// glibc's allocator spends a third of a busy API's CPU in malloc/free (measured with perf
// under the ticket load benchmark); mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in the child: the path of the settings it runs the workers with.
const CHILD_SETTINGS: &str = "COURTYARD_BENCH_WORKERS_SETTINGS";
/// Rows per seeding INSERT.
const SEED_ROWS: usize = 1_000;
const TOPIC: &str = "com.courtyard.resident";

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    match std::env::var_os(CHILD_SETTINGS) {
        Some(path) => runtime.block_on(run_workers(PathBuf::from(path))),
        None => runtime.block_on(bench()),
    }
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---- the workers' process ------------------------------------------------------------------

/// The child: the workers exactly as `courtyard-workers` runs them, until stdin closes.
async fn run_workers(settings_path: PathBuf) -> anyhow::Result<()> {
    let settings: Settings = serde_json::from_str(
        &std::fs::read_to_string(&settings_path).context("reading the workers' settings")?,
    )
    .context("parsing the workers' settings")?;
    courtyard_api::telemetry::init(LogFormat::Pretty);
    let pipeline = Pipeline::from_settings(&settings, Arc::new(SystemClock)).await?;
    let mut workers = Workers::new(pipeline);
    if let Some(url) = &settings.redis.url {
        let client = redis::Client::open(url.expose_secret()).context("Redis URL")?;
        let lease = RedisLease::connect(
            client,
            &settings.redis.key_prefix,
            "scheduler",
            workers.consumer(),
        )
        .await?;
        workers = workers.with_lease(Arc::new(lease));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(workers.run(stopped));
    println!("ready");
    std::io::stdout().flush().context("stdout")?;
    // The parent closes our stdin to stop us (or dies, which closes it too).
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
    })
    .await
    .context("waiting for stdin to close")?;
    let _ = stop.send(true);
    running.await.context("joining the workers")?;
    Ok(())
}

/// The workers' child process; killed if still running when dropped.
struct WorkersProcess {
    child: Child,
}

impl WorkersProcess {
    fn start(settings: &Settings, dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("workers-settings.json");
        std::fs::write(&path, serde_json::to_vec(settings)?).context("writing settings")?;
        let mut child = Command::new(std::env::current_exe().context("current exe")?)
            .env(CHILD_SETTINGS, &path)
            // As the README advises for `courtyard-workers`: mimalloc hands freed pages back
            // at once instead of after 10 ms, which keeps the peak RSS down a third under a
            // big fan-out for a few per cent more CPU.
            .env("MIMALLOC_PURGE_DELAY", "0")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the workers")?;
        let mut stdout = BufReader::new(child.stdout.take().context("workers' stdout")?);
        let mut ready = String::new();
        stdout
            .read_line(&mut ready)
            .context("waiting for the workers")?;
        anyhow::ensure!(ready.trim() == "ready", "the workers did not start");
        // Their logs (stdout) go to our stderr, apart from the report.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                eprintln!("[workers] {line}");
            }
        });
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin and waits for a graceful stop (killing after 20 s).
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("workers did not stop in 20 s; killing them");
    }
}

impl Drop for WorkersProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- /proc -----------------------------------------------------------------------------------

/// A `kB` field of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// User + system CPU seconds of a process (clock ticks of 1/100 s, as on Linux x86_64).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of every process whose name is `comm`, by pid.
fn cpu_by_name(comm: &str) -> HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter_map(|pid| Some((pid, cpu_seconds(pid)?)))
        .collect()
}

/// Busy and total jiffies of all CPUs, from `/proc/stat`.
fn system_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}

/// CPU seconds used since `before` by the processes in `after`.
fn cpu_used(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, t)| t - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

// ---- the benchmark ---------------------------------------------------------------------------

async fn bench() -> anyhow::Result<()> {
    let devices = env_number("COURTYARD_BENCH_DEVICES")
        .unwrap_or(100_000)
        .max(1);
    let run_id = Uuid::new_v4().simple().to_string();
    let admin_url = std::env::var("COURTYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let database = format!("courtyard_bench_{run_id}");
    let admin = Database::connect(&admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await
        .context("creating the bench database")?;
    // The bench database on the same server, with the same options (`?sslmode=...`).
    let (server, options) = admin_url
        .split_once('?')
        .map_or((admin_url.as_str(), None), |(s, o)| (s, Some(o)));
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    let database_url = match options {
        Some(options) => format!("{base}/{database}?{options}"),
        None => format!("{base}/{database}"),
    };
    let prefix = format!("bench:{run_id}:");
    let dir = std::env::temp_dir().join(format!("courtyard-bench-{run_id}"));
    std::fs::create_dir_all(&dir)?;

    let outcome = run(devices, &database_url, &prefix, &dir).await;

    if std::env::var("COURTYARD_BENCH_KEEP_DB").is_ok_and(|v| v == "1") {
        println!("kept database {database}");
    } else if let Err(e) = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await
    {
        eprintln!("could not drop {database}: {e}");
    }
    if let Err(e) = delete_redis_keys(&prefix).await {
        eprintln!("could not delete Redis keys {prefix}*: {e:#}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn run(devices: usize, database_url: &str, prefix: &str, dir: &Path) -> anyhow::Result<()> {
    let apns_mock = MockApns::start_bench().await;
    let fcm_mock = MockFcm::start_bench().await;
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.public_rate_limit_per_minute = 100_000;
    settings.auth.jwt_secret = Some(SecretString::from("bench-secret-bench-secret-bench-secret"));
    settings.database.url = SecretString::from(database_url.to_owned());
    settings.redis.url = Some(SecretString::from(redis_url()));
    settings.redis.key_prefix = prefix.to_owned();
    let n = &mut settings.notifications;
    n.apns = Some(ApnsSettings {
        key_id: apns::KEY_ID.into(),
        team_id: apns::TEAM_ID.into(),
        private_key_pem: SecretString::from(MockApns::private_key_pem()),
        base_url: apns_mock.base_url(),
        sandbox_base_url: apns_mock.base_url(),
    });
    n.fcm = Some(FcmSettings {
        service_account_json: SecretString::from(fcm_mock.service_account_json()),
        base_url: fcm_mock.base_url(),
    });
    if let Some(v) = env_number("COURTYARD_BENCH_SEND_BATCH") {
        n.send_batch = v;
    }
    if let Some(v) = env_number("COURTYARD_BENCH_SEND_LANES") {
        n.send_lanes = v;
    }
    if let Some(v) = env_number("COURTYARD_BENCH_SEND_CONCURRENCY") {
        n.send_concurrency = v;
    }
    if let Some(v) = env_number("COURTYARD_BENCH_FANOUT_CONCURRENCY") {
        n.fanout_concurrency = v;
    }
    if let Some(v) = env_number("COURTYARD_BENCH_FCM_CONNECTIONS") {
        n.fcm_connections = v;
    }
    if let Some(v) = env_number("COURTYARD_BENCH_DB_CONNECTIONS") {
        settings.database.max_connections = v as u32;
    }

    // The API in this process (it migrates the database), without workers.
    let app = Application::build(
        settings.clone(),
        Dependencies {
            workers: false,
            ..Dependencies::default()
        },
    )
    .await
    .context("building the API")?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(app.run_until(async move {
        let _ = api_stopped.await;
    }));
    let client = reqwest::Client::new();

    let seeding = Instant::now();
    let (admin_token, community) = seed(&db, &client, &address, devices).await?;
    let seeded_in = seeding.elapsed();

    let workers = WorkersProcess::start(&settings, dir)?;
    let workers_pid = workers.pid();
    let rss_idle = status_mib(workers_pid, "VmRSS").unwrap_or(f64::NAN);

    let system_before = system_cpu();
    let cpu_before = (
        cpu_seconds(workers_pid).unwrap_or(0.0),
        cpu_seconds(std::process::id()).unwrap_or(0.0),
        cpu_by_name("postgres"),
        cpu_by_name("redis-server"),
    );
    let restores_at = (Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    let posted = Instant::now();
    let response = client
        .post(format!("{address}/v1/communities/{community}/notices"))
        .bearer_auth(&admin_token)
        .json(&json!({
            "category": "water_outage",
            "title": "停水通知",
            "body": "因二次供水管道检修，今晚22:00至明早6:00停水，请提前储水。",
            "reason": "二次供水管道检修",
            "restores_at": restores_at,
        }))
        .send()
        .await?;
    let accepted = Instant::now();
    anyhow::ensure!(
        response.status().as_u16() == 201,
        "notice refused: {}",
        response.text().await?
    );
    let notice: Uuid = response.json::<Value>().await?["id"]
        .as_str()
        .context("notice id")?
        .parse()?;

    // Wait for every device's push at the mocks, then for every delivery to be recorded.
    let timeout = Duration::from_secs(120 + devices as u64 / 200);
    let mut fanned_out = None;
    let mut last_status_check = Instant::now();
    // Per second: pushes that arrived, and how busy the machine's CPUs were.
    let mut timeline = Vec::new();
    let mut last_tick = (Instant::now(), (0, 0), system_cpu());
    loop {
        let (apns_now, fcm_now) = (apns_mock.arrival_count(), fcm_mock.arrival_count());
        let arrived = apns_now + fcm_now;
        if last_tick.0.elapsed() >= Duration::from_secs(1) || arrived >= devices {
            let cpu = system_cpu();
            let busy = match (last_tick.2, cpu) {
                (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
                _ => f64::NAN,
            };
            let span = last_tick.0.elapsed().as_secs_f64() * 1000.0;
            timeline.push(format!(
                "{:.1}+{:.1}k/s {:.0}%",
                (apns_now - last_tick.1.0) as f64 / span,
                (fcm_now - last_tick.1.1) as f64 / span,
                busy * 100.0
            ));
            last_tick = (Instant::now(), (apns_now, fcm_now), cpu);
        }
        if arrived >= devices {
            break;
        }
        if fanned_out.is_none() && last_status_check.elapsed() >= Duration::from_millis(50) {
            last_status_check = Instant::now();
            if notice_status(&db, notice).await? == "sent" {
                fanned_out = Some(accepted.elapsed());
            }
        }
        anyhow::ensure!(
            accepted.elapsed() < timeout,
            "only {arrived} of {devices} pushes arrived in {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut counts;
    loop {
        counts = delivery_counts(&db, notice).await?;
        if counts.get("sent").copied().unwrap_or(0) >= devices as i64 {
            break;
        }
        anyhow::ensure!(
            accepted.elapsed() < timeout,
            "deliveries never all recorded: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = accepted.elapsed();
    let fanned_out = match fanned_out {
        Some(t) => t,
        None => {
            while notice_status(&db, notice).await? != "sent" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            accepted.elapsed()
        }
    };
    let cpu = (
        cpu_seconds(workers_pid).unwrap_or(0.0) - cpu_before.0,
        cpu_seconds(std::process::id()).unwrap_or(0.0) - cpu_before.1,
        cpu_used(&cpu_before.2, &cpu_by_name("postgres")),
        cpu_used(&cpu_before.3, &cpu_by_name("redis-server")),
    );
    // Everything else that ran meanwhile (another build on the machine skews the numbers).
    let other = match (system_before, system_cpu()) {
        (Some((b0, _)), Some((b1, _))) => {
            (b1 - b0) as f64 / 100.0 - (cpu.0 + cpu.1 + cpu.2 + cpu.3)
        }
        _ => f64::NAN,
    };
    let rss_peak = status_mib(workers_pid, "VmHWM").unwrap_or(f64::NAN);
    let rss_end = status_mib(workers_pid, "VmRSS").unwrap_or(f64::NAN);
    workers.stop();

    let apns_arrivals = apns_mock.arrivals();
    let fcm_arrivals = fcm_mock.arrivals();
    let refused: Vec<u16> = apns_arrivals
        .iter()
        .chain(&fcm_arrivals)
        .filter(|a| a.status != 200)
        .map(|a| a.status)
        .collect();
    anyhow::ensure!(
        refused.is_empty(),
        "{} pushes refused, statuses {:?}",
        refused.len(),
        &refused[..refused.len().min(10)]
    );
    let mut latencies: Vec<Duration> = apns_arrivals
        .iter()
        .chain(&fcm_arrivals)
        .map(|a: &Arrival| a.at.saturating_duration_since(accepted))
        .collect();
    latencies.sort();
    let first = latencies[0];
    let last = latencies[latencies.len() - 1];
    let pct = |q: f64| {
        let i = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i]
    };
    let secs = |d: Duration| d.as_secs_f64();

    println!(
        "notice_fanout: one notice, {devices} devices on PostgreSQL + Redis, real APNs/FCM clients → local HTTP/2 mocks"
    );
    println!(
        "  devices                  {} apns, {} fcm (seeded in {:.1} s)",
        apns_arrivals.len(),
        fcm_arrivals.len(),
        secs(seeded_in)
    );
    println!(
        "  POST accepted in         {:.1} ms",
        (accepted - posted).as_secs_f64() * 1000.0
    );
    println!(
        "  accept → all delivered   {:.2} s  ({:.0} deliveries/s)",
        secs(last),
        devices as f64 / secs(last)
    );
    println!("  time to first delivery   {:.0} ms", secs(first) * 1000.0);
    println!(
        "  accept → provider        p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s",
        secs(pct(0.50)),
        secs(pct(0.90)),
        secs(pct(0.99)),
        secs(last)
    );
    println!("  fan-out finished         {:.2} s", secs(fanned_out));
    println!(
        "  per second: APNs+FCM pushes/s, CPU busy  {}",
        timeline.join(" | ")
    );
    println!(
        "  all recorded as sent     {:.2} s  {counts:?}",
        secs(recorded)
    );
    println!(
        "  workers' RSS             peak (VmHWM) {rss_peak:.1} MiB, idle before {rss_idle:.1} MiB, at end {rss_end:.1} MiB"
    );
    println!(
        "  CPU seconds in the run   workers {:.2}, bench (API + mocks) {:.2}, postgres {:.2}, redis {:.2}, anything else {:.2}",
        cpu.0, cpu.1, cpu.2, cpu.3, other
    );
    println!(
        "  settings                 send_batch {}, send_lanes {}, send_concurrency {}, fanout_concurrency {}, fcm_connections {}, db pool {}",
        settings.notifications.send_batch,
        settings.notifications.send_lanes,
        settings.notifications.send_concurrency,
        settings.notifications.fanout_concurrency,
        settings.notifications.fcm_connections,
        settings.database.max_connections
    );

    // The mocks' own ceiling, same process, same server code, nothing else running.
    let requests = env_number("COURTYARD_BENCH_H2LOAD_REQUESTS")
        .unwrap_or_else(|| devices.clamp(2_000, 100_000));
    if requests > 0 {
        ceiling(&apns_mock, &fcm_mock, requests, dir).await;
    }

    let _ = stop_api.send(());
    let _ = tokio::time::timeout(Duration::from_secs(35), api).await;
    db.close().await.ok();
    Ok(())
}

async fn notice_status(db: &DatabaseConnection, notice: Uuid) -> anyhow::Result<String> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT status FROM notices WHERE id = $1",
            [notice.into()],
        ))
        .await?
        .context("notice row")?;
    Ok(row.try_get("", "status")?)
}

async fn delivery_counts(
    db: &DatabaseConnection,
    notice: Uuid,
) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT status, count(*) AS n FROM deliveries WHERE notice_id = $1 GROUP BY status",
            [notice.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "status")?, r.try_get("", "n")?)))
        .collect()
}

// ---- seeding ---------------------------------------------------------------------------------

/// A company, its admin (logged in through the API), a community (created through the API)
/// and `devices` households of one resident with one device each, inserted directly.
async fn seed(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    address: &str,
    devices: usize,
) -> anyhow::Result<(String, Uuid)> {
    let now = Utc::now();
    let company_id = new_id();
    company::ActiveModel {
        id: Set(company_id),
        name: Set("Bench Property Co".into()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    let password = "bench-admin-password";
    staff::ActiveModel {
        id: Set(new_id()),
        company_id: Set(company_id),
        name: Set("Admin".into()),
        username: Set("bench-admin".into()),
        phone: Set(None),
        password_hash: Set(Password::parse(password)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .hash()
            .map_err(|e| anyhow::anyhow!("{e}"))?),
        role: Set(StaffRole::Admin.as_str().into()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    let login: Value = client
        .post(format!("{address}/v1/auth/staff-login"))
        .json(&json!({ "username": "bench-admin", "password": password }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .with_context(|| format!("staff login: {login}"))?
        .to_owned();
    let created: Value = client
        .post(format!("{address}/v1/communities"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Bench Gardens" }))
        .send()
        .await?
        .json()
        .await?;
    let community: Uuid = created["id"]
        .as_str()
        .with_context(|| format!("community: {created}"))?
        .parse()?;

    // 10 units of 100 households per building.
    let ts = format!("'{}'", now.to_rfc3339());
    let buildings = devices.div_ceil(1_000);
    let mut building_rows = Vec::new();
    let mut unit_ids = Vec::new();
    let mut unit_rows = Vec::new();
    for b in 0..buildings {
        let building = new_id();
        building_rows.push(format!(
            "('{building}', '{community}', '{}栋', {ts})",
            b + 1
        ));
        for u in 0..10 {
            let unit = new_id();
            unit_ids.push((building, unit));
            unit_rows.push(format!(
                "('{unit}', '{community}', '{building}', '{}单元', {ts})",
                u + 1
            ));
        }
    }
    db.execute_unprepared(&format!(
        "INSERT INTO buildings (id, community_id, name, created_at) VALUES {}",
        building_rows.join(", ")
    ))
    .await?;
    db.execute_unprepared(&format!(
        "INSERT INTO units (id, community_id, building_id, name, created_at) VALUES {}",
        unit_rows.join(", ")
    ))
    .await?;

    let chunks: Vec<(usize, usize)> = (0..devices)
        .step_by(SEED_ROWS)
        .map(|start| (start, (start + SEED_ROWS).min(devices)))
        .collect();
    let mut inserts = futures::stream::iter(chunks)
        .map(|(start, end)| {
            let (ts, unit_ids) = (&ts, &unit_ids);
            async move {
                let (mut households, mut residents, mut members, mut devs) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for i in start..end {
                    let (building, unit) = unit_ids[i / 100];
                    let floor = (i % 100) / 4 + 1;
                    let room = format!("{floor}{:02}", i % 4 + 1);
                    let (household, resident, device) = (new_id(), new_id(), new_id());
                    households.push(format!(
                        "('{household}', '{community}', '{building}', '{unit}', '{room}', {floor}, 8900, {ts}, {ts})"
                    ));
                    residents.push(format!(
                        "('{resident}', '{company_id}', '住户{i}', '139{i:08}', NULL, 'zh-CN', NULL, {ts}, {ts})"
                    ));
                    members.push(format!(
                        "('{household}', '{resident}', '{community}', 'owner', {ts})"
                    ));
                    // 60 % FCM, 40 % APNs.
                    let (platform, provider, token, topic) = if i % 5 < 3 {
                        (
                            "android",
                            "fcm",
                            format!("bench-{i:08}:APA91bH{:040x}", i),
                            "NULL".to_owned(),
                        )
                    } else {
                        ("ios", "apns", format!("{i:064x}"), format!("'{TOPIC}'"))
                    };
                    devs.push(format!(
                        "('{device}', 'resident', '{resident}', '{platform}', '{provider}', '{token}', {topic}, false, 'zh-CN', true, {ts}, {ts})"
                    ));
                }
                db.execute_unprepared(&format!(
                    "INSERT INTO households (id, community_id, building_id, unit_id, room_number, floor, floor_area_centi_m2, created_at, updated_at) VALUES {}",
                    households.join(", ")
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO residents (id, company_id, name, phone, birthday, locale, wechat_openid, created_at, updated_at) VALUES {}",
                    residents.join(", ")
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO household_members (household_id, resident_id, community_id, role, created_at) VALUES {}",
                    members.join(", ")
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO devices (id, owner_kind, owner_id, platform, provider, token, topic, sandbox, locale, active, last_seen_at, created_at) VALUES {}",
                    devs.join(", ")
                ))
                .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(4);
    while let Some(done) = inserts.next().await {
        done.context("seeding")?;
    }
    db.execute_unprepared(
        "ANALYZE households; ANALYZE residents; ANALYZE household_members; ANALYZE devices",
    )
    .await?;
    // Start the measured run with the seeding's WAL flushed, so a checkpoint it forced does
    // not land in the middle of the run (needs superuser; skipped otherwise).
    if let Err(e) = db.execute_unprepared("CHECKPOINT").await {
        eprintln!("no CHECKPOINT before the run: {e}");
    }
    Ok((token, community))
}

// ---- h2load ----------------------------------------------------------------------------------

/// Runs `h2load` against both mocks, one connection (as the workers use) and four.
async fn ceiling(apns_mock: &MockApns, fcm_mock: &MockFcm, requests: usize, dir: &Path) {
    if Command::new("h2load").arg("--version").output().is_err() {
        println!(
            "  mock ceiling (h2load)    skipped: h2load not installed (apt-get install nghttp2-client)"
        );
        return;
    }
    let Some(jwt) = apns_mock.provider_tokens().last().cloned() else {
        println!("  mock ceiling (h2load)    skipped: no APNs provider token seen");
        return;
    };
    let apns_body = dir.join("apns.json");
    let fcm_body = dir.join("fcm.json");
    let written = std::fs::write(
        &apns_body,
        json!({ "aps": { "alert": { "title": "停水通知", "body": "因二次供水管道检修，今晚停水。" }, "sound": "default" }, "notice_id": "x" }).to_string(),
    )
    .and_then(|()| {
        std::fs::write(
            &fcm_body,
            json!({ "message": {
                "token": "bench-h2load:APA91bHexample",
                "notification": { "title": "停水通知", "body": "因二次供水管道检修，今晚停水。" },
                "data": { "notice_id": "x" },
                "android": { "collapse_key": "x", "priority": "HIGH" },
            }})
            .to_string(),
        )
    });
    if let Err(e) = written {
        println!("  mock ceiling (h2load)    skipped: {e}");
        return;
    }
    let access = fcm_mock.issue_access_token();
    let apns_url = format!("{}/3/device/{:064x}", apns_mock.base_url(), 7);
    let fcm_url = format!(
        "{}/v1/projects/{}/messages:send",
        fcm_mock.base_url(),
        fcm::PROJECT_ID
    );
    let apns_headers = [
        format!("authorization: bearer {jwt}"),
        format!("apns-topic: {TOPIC}"),
        "apns-push-type: alert".to_owned(),
        "apns-priority: 10".to_owned(),
        "content-type: application/json".to_owned(),
    ];
    let fcm_headers = [
        format!("authorization: Bearer {access}"),
        "content-type: application/json".to_owned(),
    ];
    for (name, url, headers, body) in [
        ("APNs", &apns_url, &apns_headers[..], &apns_body),
        ("FCM", &fcm_url, &fcm_headers[..], &fcm_body),
    ] {
        for connections in [1, 4] {
            let mut command = tokio::process::Command::new("h2load");
            command
                .arg("-n")
                .arg(requests.to_string())
                .arg("-c")
                .arg(connections.to_string())
                .arg("-m")
                .arg("100")
                .arg("-t")
                .arg("1")
                .arg("-d")
                .arg(body);
            for header in headers {
                command.arg("-H").arg(header);
            }
            command.arg(url.as_str());
            match command.output().await {
                Ok(out) => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    let rate = text
                        .lines()
                        .find(|l| l.starts_with("finished in"))
                        .and_then(|l| l.split(", ").nth(1))
                        .unwrap_or("?");
                    let codes = text
                        .lines()
                        .find(|l| l.starts_with("status codes:"))
                        .map_or("?", |l| l.trim_start_matches("status codes: "));
                    println!(
                        "  mock ceiling (h2load)    {name:<4} {connections} conn × 100 streams, {requests} requests: {rate} ({codes})"
                    );
                }
                Err(e) => println!("  mock ceiling (h2load)    {name}: {e}"),
            }
        }
    }
}

// ---- cleanup ---------------------------------------------------------------------------------

async fn delete_redis_keys(prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
