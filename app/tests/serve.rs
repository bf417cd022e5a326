//! `courtyard serve` as an operator runs it: the real binary, configured through the
//! environment, its log read back. Login codes go to the configured SMS provider (the
//! Aliyun and Tencent mocks check the request signatures) and never into the log; `serve`
//! refuses to start without a JWT secret.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::Utc;
use courtyard_domain::{
    entities::{company, resident},
    new_id,
};
use courtyard_tests::mocks::sms::{MockAliyun, MockTencent};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, Database};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_courtyard");
const PHONE: &str = "13900001111";

/// A scratch directory with a migrated SQLite database holding one resident.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("courtyard-serve-{}", new_id().simple()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let scratch = Self { dir };
        let migrate = Command::new(BIN)
            .arg("migrate")
            .envs(scratch.base_env())
            .output()
            .expect("run courtyard migrate");
        assert!(migrate.status.success(), "migrate failed: {migrate:?}");
        let db = Database::connect(scratch.database_url())
            .await
            .expect("open the database");
        let now = Utc::now();
        let company_id = new_id();
        company::ActiveModel {
            id: Set(company_id),
            name: Set("庭院物业".into()),
            created_at: Set(now),
        }
        .insert(&db)
        .await
        .expect("company");
        resident::ActiveModel {
            id: Set(new_id()),
            company_id: Set(company_id),
            name: Set("王芳".into()),
            phone: Set(PHONE.into()),
            birthday: Set(None),
            locale: Set("zh-CN".into()),
            wechat_openid: Set(None),
            quiet_start: Set(None),
            quiet_end: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            erased_at: Set(None),
        }
        .insert(&db)
        .await
        .expect("resident");
        db.close().await.expect("close");
        scratch
    }

    fn database_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.dir.join("courtyard.db").display()
        )
    }

    fn base_env(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".into(), self.database_url()),
            (
                "COURTYARD_STORAGE__PHOTO_DIR".into(),
                self.dir.join("photos").display().to_string(),
            ),
            ("RUST_LOG".into(), "info".into()),
            // No WeChat Pay merchant here: the dev provider, allowed explicitly.
            ("COURTYARD_PAYMENTS__ALLOW_DEV".into(), "true".into()),
        ]
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("serve.log")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `courtyard serve --no-workers`, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn_serve(scratch: &Scratch, env: &[(&str, String)]) -> (Child, u16) {
    let port = free_port();
    let log = std::fs::File::create(scratch.log_path()).expect("log file");
    let child = Command::new(BIN)
        .args(["serve", "--no-workers"])
        .envs(scratch.base_env())
        .env("COURTYARD_SERVER__PORT", port.to_string())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start courtyard serve");
    (child, port)
}

async fn serve(scratch: &Scratch, env: &[(&str, String)]) -> Served {
    let (child, port) = spawn_serve(scratch, env);
    let served = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{}/healthz", served.base)).send().await
            && r.status().is_success()
        {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not answer: {}", read(&scratch.log_path()));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn sms_env(provider: &str, base_url: String) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "COURTYARD_AUTH__JWT_SECRET",
            "serve-test-secret-serve-test-secret".to_owned(),
        ),
        (
            "COURTYARD_NOTIFICATIONS__SMS__PROVIDER",
            provider.to_owned(),
        ),
        ("COURTYARD_NOTIFICATIONS__SMS__BASE_URL", base_url),
        (
            "COURTYARD_NOTIFICATIONS__SMS__ACCESS_KEY_ID",
            "serve-key-id".to_owned(),
        ),
        (
            "COURTYARD_NOTIFICATIONS__SMS__ACCESS_KEY_SECRET",
            "serve-key-secret".to_owned(),
        ),
        (
            "COURTYARD_NOTIFICATIONS__SMS__SIGN_NAME",
            "庭院物业".to_owned(),
        ),
        (
            "COURTYARD_NOTIFICATIONS__SMS__TEMPLATES__LOGIN_CODE",
            "SMS_LOGIN_01".to_owned(),
        ),
    ];
    if provider == "tencent" {
        env.push((
            "COURTYARD_NOTIFICATIONS__SMS__SDK_APP_ID",
            "1400000001".to_owned(),
        ));
    }
    env
}

/// Logs in with `code` and checks the tokens come back; then checks the log.
async fn log_in_and_check_log(scratch: &Scratch, served: &Served, code: &str) {
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "a six-digit code reached the provider: {code:?}"
    );
    let (status, tokens) = post(
        &served.base,
        "/v1/auth/sms-login",
        json!({ "phone": PHONE, "code": code }),
    )
    .await;
    assert_eq!(status, 200, "login with the SMS'd code: {tokens}");
    assert!(
        tokens["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let log = read(&scratch.log_path());
    assert!(
        log.contains("login code sent by SMS"),
        "the send is logged: {log}"
    );
    assert!(
        !log.contains(code),
        "the code must not be in the log: {log}"
    );
    assert!(
        !log.contains(PHONE),
        "only the masked phone is in the log: {log}"
    );
    assert!(
        !log.contains("serve-key-secret"),
        "secrets stay out of the log"
    );
}

#[tokio::test]
async fn login_code_goes_out_through_aliyun_and_not_into_the_log() {
    let scratch = Scratch::new().await;
    let aliyun = MockAliyun::start("serve-key-id", "serve-key-secret").await;
    let served = serve(&scratch, &sms_env("aliyun", aliyun.base_url())).await;

    let (status, body) = post(
        &served.base,
        "/v1/auth/sms-codes",
        json!({ "phone": PHONE }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let sends = aliyun.sends();
    assert_eq!(sends.len(), 1, "one SMS: {sends:?}");
    let sent = &sends[0];
    assert_eq!(sent.phone_numbers, PHONE);
    assert_eq!(sent.template_code, "SMS_LOGIN_01");
    assert_eq!(sent.sign_name, "庭院物业");
    let code = sent
        .template_param
        .as_ref()
        .and_then(|p| p["code"].as_str())
        .expect("the code is the template's `code` parameter")
        .to_owned();
    log_in_and_check_log(&scratch, &served, &code).await;
}

#[tokio::test]
async fn login_code_goes_out_through_tencent_and_not_into_the_log() {
    let scratch = Scratch::new().await;
    let tencent = MockTencent::start("serve-key-id", "serve-key-secret").await;
    let served = serve(&scratch, &sms_env("tencent", tencent.base_url())).await;

    let (status, body) = post(
        &served.base,
        "/v1/auth/sms-codes",
        json!({ "phone": PHONE }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let sends = tencent.sends();
    assert_eq!(sends.len(), 1, "one SMS: {sends:?}");
    let sent = &sends[0];
    assert_eq!(sent.phone_numbers, vec![format!("+86{PHONE}")]);
    assert_eq!(sent.template_id, "SMS_LOGIN_01");
    assert_eq!(sent.sdk_app_id, "1400000001");
    assert_eq!(sent.template_params.len(), 1, "{sent:?}");
    let code = sent.template_params[0].clone();
    log_in_and_check_log(&scratch, &served, &code).await;
}

#[tokio::test]
async fn a_refused_sms_answers_503_with_the_reason_in_the_log() {
    let scratch = Scratch::new().await;
    let aliyun = MockAliyun::start("serve-key-id", "serve-key-secret").await;
    aliyun.fail_phone(PHONE, "isv.BUSINESS_LIMIT_CONTROL");
    let served = serve(&scratch, &sms_env("aliyun", aliyun.base_url())).await;

    let (status, body) = post(
        &served.base,
        "/v1/auth/sms-codes",
        json!({ "phone": PHONE }),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "/problems/unavailable", "{body}");
    assert!(aliyun.sends().is_empty(), "the provider refused it");
    let log = read(&scratch.log_path());
    assert!(
        log.contains("isv.BUSINESS_LIMIT_CONTROL"),
        "the reason is logged: {log}"
    );
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_jwt_secret() {
    let scratch = Scratch::new().await;
    let (mut child, _) = spawn_serve(&scratch, &[]);
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("serve kept running without a JWT secret");
    };
    assert!(!status.success());
    let log = read(&scratch.log_path());
    assert!(
        log.contains("auth.jwt_secret"),
        "says what is missing: {log}"
    );
}

#[tokio::test]
async fn serve_without_an_sms_provider_warns_and_logs_codes() {
    let scratch = Scratch::new().await;
    let served = serve(
        &scratch,
        &[(
            "COURTYARD_AUTH__JWT_SECRET",
            "serve-test-secret-serve-test-secret".to_owned(),
        )],
    )
    .await;
    let (status, _) = post(
        &served.base,
        "/v1/auth/sms-codes",
        json!({ "phone": PHONE }),
    )
    .await;
    assert_eq!(status, 202);
    let log = read(&scratch.log_path());
    assert!(
        log.contains("no SMS provider configured"),
        "warns at start-up: {log}"
    );
    assert!(
        log.contains("log provider"),
        "the code went to the log: {log}"
    );
}
