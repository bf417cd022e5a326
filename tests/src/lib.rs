//! The black-box test harness: [`spawn_app`] starts the real server on port 0 over a fresh
//! database (a SQLite file, or a new PostgreSQL database when `COURTYARD_TEST_DB=postgres`)
//! with its own Redis key prefix, and [`TestApp`] has one helper per endpoint.
//!
//! Environment:
//! - `COURTYARD_TEST_DB`: `sqlite` (default) or `postgres`.
//! - `COURTYARD_TEST_PG_URL`: admin URL of the PostgreSQL server
//!   (default `postgres://postgres@127.0.0.1:5432/test`).
//! - `COURTYARD_TEST_REDIS_URL`: Redis for the tests that use it
//!   (default `redis://127.0.0.1:6379`).
//! - `COURTYARD_TEST_DB_PREFIX`: the prefix of the PostgreSQL test databases
//!   (default `courtyard_t_`; `.ci/test` sets one per run and drops them afterwards).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use courtyard::{Application, Dependencies};
use courtyard_domain::{
    ManualClock, Settings,
    auth::Password,
    entities::{company, staff},
    new_id,
    people::{PhoneNumber, StaffRole},
};
use courtyard_providers::login_codes::CodeSender;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

pub mod endpoints;
pub mod mocks;
pub mod recording;
pub mod rolls;
pub mod world;

/// The prefix of this run's PostgreSQL test databases: `COURTYARD_TEST_DB_PREFIX` (set per
/// run by `.ci/test`, which drops the databases with it when the run ends), else `courtyard_t_`.
fn test_database_prefix() -> String {
    let prefix =
        std::env::var("COURTYARD_TEST_DB_PREFIX").unwrap_or_else(|_| "courtyard_t_".into());
    // Interpolated unquoted into CREATE DATABASE; prefix + 32 hex must fit PostgreSQL's 63 bytes.
    assert!(
        prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && prefix.len() <= 31,
        "COURTYARD_TEST_DB_PREFIX must be a-z, 0-9 or _, start with a letter, at most 31 bytes: {prefix:?}"
    );
    prefix
}

/// Which database the suite runs on.
pub fn backend() -> &'static str {
    match std::env::var("COURTYARD_TEST_DB").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("COURTYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Captures login codes instead of sending them.
#[derive(Default)]
pub struct CapturedCodes(Mutex<Vec<(String, String)>>);

impl CapturedCodes {
    /// The last code sent to `phone`.
    pub fn last_for(&self, phone: &str) -> Option<String> {
        let sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sent.iter()
            .rev()
            .find(|(p, _)| p == phone)
            .map(|(_, c)| c.clone())
    }

    /// How many codes were sent in all.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[async_trait]
impl CodeSender for CapturedCodes {
    async fn send_login_code(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((phone.as_str().to_owned(), code.to_owned()));
        Ok(())
    }

    fn delivers(&self) -> bool {
        true
    }
}

/// A running application and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The app's database.
    pub db: DatabaseConnection,
    /// The app's clock.
    pub clock: ManualClock,
    /// Codes "sent" by SMS.
    pub codes: Arc<CapturedCodes>,
    /// Notifications "sent" by the workers.
    pub sent: Arc<recording::RecordingDeliverer>,
    /// The settings the app runs with.
    pub settings: Settings,
    /// The in-process workers (their queue, for tests that look at what is left in it).
    pub workers: Option<courtyard_workers::Workers>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    cleanup: Cleanup,
    /// The per-test photo directory, removed with the app that made it.
    photo_dir: Option<std::path::PathBuf>,
}

enum Cleanup {
    File(std::path::PathBuf),
    /// Test databases are dropped by `.ci/test` after its run (the ones with its prefix);
    /// dropping one here would race the server's pool, which closes asynchronously.
    Postgres,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres => {}
        }
        if let Some(dir) = &self.photo_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts the app with test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with test settings adjusted by `configure`; notifications go to the
/// recording deliverer.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(configure, false, None).await
}

/// Starts the app with the real provider clients the settings configure (point them at the
/// mock providers in `configure`).
pub async fn spawn_app_with_providers(
    clock: ManualClock,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn(configure, true, Some(clock)).await
}

/// The time every test starts at: 2026-11-25 10:00 in Shanghai.
pub fn test_start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
        .single()
        .expect("valid time")
}

/// An app on a manual clock from [`test_start`] whose iOS pushes go to a mock APNs that
/// judges token ages by that clock; access tokens outlive the days tests move the clock over.
pub async fn spawn_app_with_apns() -> (TestApp, mocks::apns::MockApns) {
    use mocks::apns::{self, MockApns};
    let clock = ManualClock::new(test_start());
    let mock = MockApns::start_with_clock(Arc::new(clock.clone())).await;
    let url = mock.base_url();
    let app = spawn_app_with_providers(clock, |s| {
        s.notifications.apns = Some(courtyard_domain::settings::ApnsSettings {
            key_id: apns::KEY_ID.into(),
            team_id: apns::TEAM_ID.into(),
            private_key_pem: SecretString::from(MockApns::private_key_pem()),
            base_url: url.clone(),
            sandbox_base_url: url,
        });
        s.auth.access_token_ttl_secs = 60 * 24 * 3600;
    })
    .await;
    (app, mock)
}

/// The API alone, as `courtyard serve --no-workers` runs it (benchmarks of the API; the
/// outbox keeps what the workers would do).
pub async fn spawn_api_only(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with_workers(configure, true, None, false).await
}

async fn spawn(
    configure: impl FnOnce(&mut Settings),
    real_providers: bool,
    clock: Option<ManualClock>,
) -> TestApp {
    spawn_with_workers(configure, real_providers, clock, true).await
}

async fn spawn_with_workers(
    configure: impl FnOnce(&mut Settings),
    real_providers: bool,
    clock: Option<ManualClock>,
    workers: bool,
) -> TestApp {
    // `COURTYARD_TEST_LOG=1` shows the apps' logs (filtered by `RUST_LOG`) with `--nocapture`.
    if std::env::var_os("COURTYARD_TEST_LOG").is_some() {
        courtyard_api::telemetry::init(courtyard_domain::settings::LogFormat::Pretty);
    }
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.public_rate_limit_per_minute = 100_000;
    settings.auth.jwt_secret = Some(SecretString::from("test-secret-test-secret-test-secret"));
    settings.auth.codes_per_ip_hour = 100_000;
    settings.redis.key_prefix = format!("test:{}:", Uuid::new_v4().simple());
    settings.database.max_connections = 5;
    // Crashed workers' jobs come back within seconds, the sweeper runs often.
    settings.notifications.lease_ms = 2_000;
    settings.notifications.sweep_interval_ms = 200;
    // Fee reminders would remind every test's overdue bills; their tests turn them on.
    settings.notifications.fee_reminders = false;
    let id = Uuid::new_v4().simple().to_string();
    let cleanup = match backend() {
        "postgres" => {
            let admin_url = std::env::var("COURTYARD_TEST_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let database = format!("{}{id}", test_database_prefix());
            let admin = Database::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {database}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(base, _)| base);
            settings.database.url = SecretString::from(format!("{base}/{database}"));
            Cleanup::Postgres
        }
        _ => {
            let dir = std::env::temp_dir().join("courtyard-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join(format!("{id}.db"));
            settings.database.url =
                SecretString::from(format!("sqlite://{}?mode=rwc", path.display()));
            Cleanup::File(path)
        }
    };
    // Each test's photos in a directory of its own, so tests can look at what was stored.
    let photo_dir = std::env::temp_dir()
        .join("courtyard-tests")
        .join(format!("{id}-photos"));
    settings.storage.photo_dir = photo_dir.display().to_string();
    configure(&mut settings);
    let mut app = start(settings, real_providers, clock, cleanup, workers).await;
    app.photo_dir = Some(photo_dir);
    app
}

async fn start(
    settings: Settings,
    real_providers: bool,
    clock: Option<ManualClock>,
    cleanup: Cleanup,
    workers: bool,
) -> TestApp {
    let clock = clock.unwrap_or_else(|| ManualClock::new(test_start()));
    let codes = Arc::new(CapturedCodes::default());
    let sent = recording::RecordingDeliverer::new();
    let deps = Dependencies {
        clock: Arc::new(clock.clone()),
        code_sender: Some(codes.clone()),
        deliverer: if real_providers {
            None
        } else {
            Some(sent.clone())
        },
        workers,
        ..Dependencies::default()
    };
    let app = Application::build(settings.clone(), deps)
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let workers_handle = app.workers().cloned();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        db,
        clock,
        codes,
        sent,
        settings,
        workers: workers_handle,
        shutdown: Some(tx),
        running: Some(running),
        cleanup,
        photo_dir: None,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// Body as text.
    pub text: String,
}

impl Reply {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a problem+json error with the given status and `type`.
    #[track_caller]
    pub fn expect_problem(self, status: u16, kind: &str) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(
            content_type, "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.body["type"], json!(kind), "body: {}", self.text);
        assert_eq!(self.body["status"], json!(status));
        self
    }

    /// A string field of the body.
    #[track_caller]
    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string `{field}` in {}", self.text))
            .to_owned()
    }

    /// A uuid field of the body.
    #[track_caller]
    pub fn id(&self) -> Uuid {
        self.str("id").parse().expect("uuid")
    }
}

/// One file of a `multipart/form-data` request.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The form field.
    pub field: String,
    /// The file name sent.
    pub file_name: String,
    /// The declared content type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl FilePart {
    /// A part.
    pub fn new(field: &str, file_name: &str, content_type: &str, bytes: &[u8]) -> Self {
        Self {
            field: field.into(),
            file_name: file_name.into(),
            content_type: content_type.into(),
            bytes: bytes.to_vec(),
        }
    }
}

/// A response whose body is kept as bytes.
#[derive(Debug)]
pub struct Download {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub bytes: Vec<u8>,
}

impl Download {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A pair of tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

impl TestApp {
    /// Sends a request; `body` is JSON when given.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Sends JSON with extra headers (`Idempotency-Key`).
    pub async fn request_with_headers(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Sends raw bytes with a content type.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// POSTs `multipart/form-data` with the given file parts.
    pub async fn post_multipart(
        &self,
        path: &str,
        token: Option<&str>,
        parts: &[FilePart],
    ) -> Reply {
        let boundary = format!("courtyard-test-{}", Uuid::new_v4().simple());
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; \
                     filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                    part.field, part.file_name, part.content_type
                )
                .as_bytes(),
            );
            body.extend_from_slice(&part.bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.request_raw(
            Method::POST,
            path,
            token,
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
        .await
    }

    /// `POST /v1/tickets/{id}/photos`: each of `photos` as a `photos` file part declared
    /// `image/jpeg` (the server goes by the bytes).
    pub async fn upload_ticket_photos(&self, ticket: Uuid, token: &str, photos: &[&[u8]]) -> Reply {
        let parts: Vec<FilePart> = photos
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                FilePart::new("photos", &format!("photo-{i}.jpg"), "image/jpeg", bytes)
            })
            .collect();
        self.post_multipart(&format!("/v1/tickets/{ticket}/photos"), Some(token), &parts)
            .await
    }

    /// GET, keeping the body as bytes (files).
    pub async fn download(&self, path: &str, token: &str) -> Download {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        Download {
            status: response.status(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.expect("body").to_vec(),
        }
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(&body)).await
    }

    /// PATCH JSON.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(&body))
            .await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(&body))
            .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /v1/auth/sms-codes`.
    pub async fn send_code(&self, phone: &str) -> Reply {
        self.post("/v1/auth/sms-codes", None, json!({ "phone": phone }))
            .await
    }

    /// `POST /v1/auth/sms-login`.
    pub async fn sms_login(&self, phone: &str, code: &str) -> Reply {
        self.post(
            "/v1/auth/sms-login",
            None,
            json!({ "phone": phone, "code": code }),
        )
        .await
    }

    /// Requests a code and logs in with it.
    pub async fn login_resident(&self, phone: &str) -> Tokens {
        self.send_code(phone).await.expect(202);
        let code = self.codes.last_for(phone).expect("a code was sent");
        // Let the per-minute limit pass for the next login of the same phone.
        self.clock.advance(chrono::Duration::seconds(61));
        tokens(self.sms_login(phone, &code).await.expect(200))
    }

    /// `POST /v1/auth/staff-login`.
    pub async fn staff_login(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/v1/auth/staff-login",
            None,
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Logs a staff member in.
    pub async fn login_staff(&self, username: &str, password: &str) -> Tokens {
        tokens(self.staff_login(username, password).await.expect(200))
    }

    /// `POST /v1/auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// Creates a company and its admin straight in the database (as `courtyard create-admin`
    /// does) and logs the admin in.
    pub async fn bootstrap_admin(&self, company_name: &str) -> (Uuid, Tokens) {
        let now = self.clock.now_utc();
        let company_id = new_id();
        company::ActiveModel {
            id: Set(company_id),
            name: Set(company_name.into()),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .expect("company");
        let username = format!("admin-{}", &Uuid::new_v4().simple().to_string()[..8]);
        staff::ActiveModel {
            id: Set(new_id()),
            company_id: Set(company_id),
            name: Set("Admin".into()),
            username: Set(username.clone()),
            phone: Set(None),
            password_hash: Set(Password::parse("admin-password")
                .expect("password")
                .hash()
                .expect("hash")),
            role: Set(StaffRole::Admin.as_str().into()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .expect("admin");
        (
            company_id,
            self.login_staff(&username, "admin-password").await,
        )
    }
}

impl TestApp {
    /// Polls `check` every 50 ms until it holds, failing after `seconds`.
    pub async fn wait_for<F, Fut>(&self, what: &str, seconds: u64, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while !check().await {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until a notice's counts satisfy `done` (e.g. an SMS fallback has been sent too).
    pub async fn wait_for_counts(
        &self,
        notice: Uuid,
        token: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> Reply {
        let path = format!("/v1/notices/{notice}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let reply = self.get(&path, token).await.expect(200);
            if done(&reply.body["counts"]) {
                return reply;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "counts never matched: {}",
                reply.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits for a bill run to finish (done or failed) and returns it.
    pub async fn wait_for_bill_run(&self, run: Uuid, token: &str) -> Reply {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let reply = self.get_bill_run(token, run).await.expect(200);
            if reply.body["state"] == "done" || reply.body["state"] == "failed" {
                return reply;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bill run never finished: {}",
                reply.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until `household` has a live bill for `period`; returns its id.
    pub async fn wait_for_bill(&self, household: Uuid, period: &str, token: &str) -> Uuid {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let reply = self
                .list_household_bills(token, household, &[("period", period)])
                .await
                .expect(200);
            let live = reply.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["state"] != "cancelled");
            if let Some(bill) = live {
                return bill["id"].as_str().expect("bill id").parse().expect("uuid");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no bill of {period} for {household}: {}",
                reply.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until a notice is fanned out and none of its deliveries is pending or in flight.
    pub async fn wait_for_notice(&self, notice: Uuid, token: &str) -> Reply {
        let path = format!("/v1/notices/{notice}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let reply = self.get(&path, token).await.expect(200);
            if reply.body["status"] == "sent" && reply.body["counts"]["pending"] == 0 {
                return reply;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "notice never settled: {}",
                reply.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Reads the tokens out of a login reply.
#[track_caller]
pub fn tokens(reply: Reply) -> Tokens {
    Tokens {
        access: reply.str("access_token"),
        refresh: reply.str("refresh_token"),
    }
}

async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Extension: read a [`ManualClock`] without the `Clock` trait in scope.
pub trait ClockExt {
    /// The clock's time.
    fn now_utc(&self) -> chrono::DateTime<Utc>;
}

impl ClockExt for ManualClock {
    fn now_utc(&self) -> chrono::DateTime<Utc> {
        courtyard_domain::Clock::now(self)
    }
}

impl TestApp {
    /// Kills the app at once, mid-request and mid-batch, as a crash would: no graceful
    /// shutdown, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
        self.shutdown.take();
    }

    /// Starts a second app on this app's database, Redis prefix and clock (a restart, or a
    /// second process of the same deployment), with a fresh recorder. The database stays
    /// this app's to clean up.
    pub async fn start_another(&self) -> TestApp {
        start(
            self.settings.clone(),
            false,
            Some(self.clock.clone()),
            Cleanup::Postgres,
            true,
        )
        .await
    }

    /// As [`TestApp::start_another`], but the API alone (`serve --no-workers`): what it
    /// accepts waits in the outbox for a later app's workers.
    pub async fn start_another_api_only(&self) -> TestApp {
        start(
            self.settings.clone(),
            false,
            Some(self.clock.clone()),
            Cleanup::Postgres,
            false,
        )
        .await
    }
}

impl TestApp {
    /// Waits until the workers have nothing left to do now: every outbox row that is due
    /// relayed (a ticket notification's settled by its job), and no delivery that is due
    /// pending, in flight or waiting to retry. A test that has the world make notifications
    /// waits here, so that those sends do not land among the ones it counts.
    pub async fn wait_for_idle(&self) {
        use courtyard_domain::entities::{delivery, outbox_entry};
        use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};
        self.wait_for("the workers to go idle", 20, || async {
            let now = self.clock.now_utc();
            let outbox = outbox_entry::Entity::find()
                .filter(outbox_entry::Column::RelayedAt.is_null())
                .filter(
                    Condition::any()
                        .add(outbox_entry::Column::AvailableAt.lte(now))
                        .add(
                            outbox_entry::Column::Kind
                                .is_in(courtyard_domain::jobs::SETTLED_BY_THE_JOB.iter().copied()),
                        ),
                )
                .count(&self.db)
                .await
                .expect("outbox");
            let busy = delivery::Entity::find()
                .filter(
                    Condition::any()
                        .add(delivery::Column::Status.eq("sending"))
                        .add(
                            Condition::all()
                                .add(delivery::Column::Status.is_in(["pending", "retrying"]))
                                .add(delivery::Column::DueAt.lte(now)),
                        ),
                )
                .count(&self.db)
                .await
                .expect("deliveries");
            outbox == 0 && busy == 0
        })
        .await;
    }

    /// Fails unless the workers finish everything: the database idle (as
    /// [`TestApp::wait_for_idle`]), then no job left in any stream (waiting, leased or
    /// parked for later) and none in the dead letters. A test ends with this so work it
    /// caused cannot be lost or stuck unnoticed.
    pub async fn assert_no_jobs_left(&self) {
        use courtyard_workers::{CHANNELS, queue::streams};
        self.wait_for_idle().await;
        let queue = self
            .workers
            .as_ref()
            .expect("the app runs its workers in-process")
            .pipeline()
            .queue
            .clone();
        let mut stream_names = vec![streams::FANOUT.to_owned()];
        stream_names.extend(CHANNELS.iter().map(|c| streams::send(c)));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let mut left = Vec::new();
            for stream in &stream_names {
                let n = queue.backlog(stream).await.expect("backlog");
                if n > 0 {
                    left.push(format!("{stream}: {n}"));
                }
            }
            if left.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "jobs left in the queue: {left:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let dead = queue.dead_letters(10).await.expect("dead letters");
        assert!(
            dead.is_empty(),
            "dead letters left: {:?}",
            dead.iter()
                .map(|d| (&d.stream, &d.job.kind, &d.reason))
                .collect::<Vec<_>>()
        );
    }
}
