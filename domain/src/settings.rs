//! One `Settings` for API and workers, layered: built-in defaults → optional TOML file →
//! `COURTYARD_*` environment (nested keys joined by `__`, e.g. `COURTYARD_SERVER__PORT`),
//! plus the conventional `DATABASE_URL` and `REDIS_URL`. The defaults are the embedded mode:
//! a SQLite file in the working directory, the in-process queue and providers that log.

use std::{collections::BTreeMap, path::Path};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything the API and the workers are configured with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// HTTP listener.
    pub server: ServerSettings,
    /// The database: SQLite (embedded default) or PostgreSQL.
    pub database: DatabaseSettings,
    /// Redis; without a URL the in-process queue is used.
    pub redis: RedisSettings,
    /// Tokens, login codes and their limits.
    pub auth: AuthSettings,
    /// WeChat mini-program login.
    pub wechat: WechatSettings,
    /// Notification pipeline.
    pub notifications: NotificationSettings,
    /// Where uploaded files (ticket photos) are kept.
    pub storage: StorageSettings,
    /// Online payments: the dev provider (default) or WeChat Pay.
    pub payments: PaymentSettings,
    /// Log output: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// How long records are kept before housekeeping removes them.
    pub retention: RetentionSettings,
}

/// How long each kind of record is kept; housekeeping removes older ones in bounded
/// batches every ten minutes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Login codes, after they were issued (days).
    pub login_codes_days: i64,
    /// Refresh tokens, after they expired (days).
    pub refresh_tokens_days: i64,
    /// Settled deliveries (sent, failed, suppressed, dead, invalid token), after they
    /// settled (days): the per-recipient trail of old notices goes with them.
    pub deliveries_days: i64,
    /// Audit rows (days; the Cybersecurity Law asks for at least 180).
    pub audit_days: i64,
    /// Rows one statement removes.
    pub batch: u64,
    /// Batches of each kind one run removes at most (the rest waits for the next run).
    pub max_batches: u32,
    /// How long a resident's data export can be downloaded once built (hours).
    pub export_hours: i64,
    /// How long after a resident asks to close their account it is erased, while they can
    /// still cancel (days).
    pub erasure_cooling_off_days: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            login_codes_days: 1,
            refresh_tokens_days: 7,
            deliveries_days: 365,
            audit_days: 3 * 365,
            batch: 5_000,
            max_batches: 20,
            export_hours: 24,
            erasure_cooling_off_days: 7,
        }
    }
}

/// Notification pipeline settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// Attempts per delivery before it is dead-lettered.
    pub max_attempts: i32,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay in seconds.
    pub retry_max_secs: u64,
    /// Pest-control notices go out the day before at this community time.
    pub pest_control_send_time: String,
    /// Birthday greetings go out at this community time.
    pub birthday_time: String,
    /// Whether the overdue-fee reminder job runs (each community's schedule says when and
    /// how); off while, say, a company's bill history is being imported.
    pub fee_reminders: bool,
    /// Sends a channel's sender has in flight at most (claimed, not yet recorded): what a
    /// crash may repeat. Its lanes share it; each lane's batch is claimed with one
    /// statement and recorded with one per kind of outcome, in one transaction.
    pub send_batch: usize,
    /// Concurrent provider calls per lane.
    pub send_concurrency: usize,
    /// Batches each channel's sender works on at once, so the database work of some
    /// overlaps the provider calls of others.
    pub send_lanes: usize,
    /// Batches of residents a notice fan-out writes at once.
    pub fanout_concurrency: usize,
    /// HTTP/2 connections to FCM, each with its own access token; sends take them in turn
    /// (one connection's frames are handled by one task at each end).
    pub fcm_connections: usize,
    /// How long a job or a claimed delivery is protected before another worker may take it
    /// over (a crashed worker's jobs come back after this long).
    pub lease_ms: u64,
    /// How often the sweeper looks for deliveries the queue lost.
    pub sweep_interval_ms: u64,
    /// How long past due a delivery may wait before the sweeper counts it as lost.
    pub sweep_grace_secs: i64,
    /// Lost deliveries the sweeper re-enqueues a tick, oldest first.
    pub sweep_batch: u64,
    /// Consecutive provider-wide failures (TLS, credentials refused, 5xx, a quota's 429,
    /// connection refused) that open a channel's circuit: its sends wait, attempts unused.
    pub circuit_failures: u32,
    /// How long an open circuit waits before one probe send; doubles after each failed probe.
    pub circuit_cooldown_ms: u64,
    /// The longest wait between probes, in seconds.
    pub circuit_max_cooldown_secs: u64,
    /// Sends per minute each channel's provider may be sent (`apns`, `fcm`, `sms`,
    /// `wechat`), across every worker sharing the Redis (per process without it); 0 or
    /// absent means no limit. Senders wait for their turn, never drop, and send at most a
    /// second's worth at once.
    pub rate_limits: BTreeMap<String, u32>,
    /// Notification SMS one phone number may be sent per minute (carriers and the SMS
    /// providers refuse more); one over a limit is deferred until the window allows,
    /// without counting as an attempt. 0 means no limit. Login codes have their own
    /// limits (`auth.codes_per_phone_*`).
    pub sms_per_number_minute: u32,
    /// See `sms_per_number_minute`.
    pub sms_per_number_hour: u32,
    /// See `sms_per_number_minute` (a rolling day).
    pub sms_per_number_day: u32,
    /// APNs (token auth); none sends iOS pushes to the log.
    pub apns: Option<ApnsSettings>,
    /// FCM HTTP v1; none sends Android pushes to the log.
    pub fcm: Option<FcmSettings>,
    /// SMS provider; none sends SMS to the log.
    pub sms: Option<SmsSettings>,
    /// WeChat subscription template id per category (`outage`, `notice`, ...); the app id
    /// and secret are `wechat.*`.
    pub wechat_templates: BTreeMap<String, String>,
}

/// APNs token-auth credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApnsSettings {
    /// Key id of the `.p8` key.
    pub key_id: String,
    /// Apple developer team id.
    pub team_id: String,
    /// The `.p8` key (PEM).
    #[serde(serialize_with = "serialize_secret")]
    pub private_key_pem: SecretString,
    /// Production host.
    #[serde(default = "apns_base_url")]
    pub base_url: String,
    /// Sandbox host.
    #[serde(default = "apns_sandbox_base_url")]
    pub sandbox_base_url: String,
}

fn apns_base_url() -> String {
    "https://api.push.apple.com".into()
}

fn apns_sandbox_base_url() -> String {
    "https://api.sandbox.push.apple.com".into()
}

/// FCM HTTP v1 credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FcmSettings {
    /// The Google service-account JSON.
    #[serde(serialize_with = "serialize_secret")]
    pub service_account_json: SecretString,
    /// FCM host.
    #[serde(default = "fcm_base_url")]
    pub base_url: String,
}

fn fcm_base_url() -> String {
    "https://fcm.googleapis.com".into()
}

/// SMS provider settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SmsSettings {
    /// `aliyun` or `tencent`.
    pub provider: String,
    /// Endpoint override (tests); the provider's real endpoint when absent.
    pub base_url: Option<String>,
    /// Aliyun AccessKey id or Tencent SecretId.
    #[serde(deserialize_with = "digits::string")]
    pub access_key_id: String,
    /// Aliyun AccessKey secret or Tencent SecretKey.
    #[serde(serialize_with = "serialize_secret")]
    pub access_key_secret: SecretString,
    /// Tencent `SmsSdkAppId` (digits: `1400000001`).
    #[serde(default, deserialize_with = "digits::opt_string")]
    pub sdk_app_id: Option<String>,
    /// Tencent region.
    pub region: Option<String>,
    /// Approved signature (签名).
    #[serde(deserialize_with = "digits::string")]
    pub sign_name: String,
    /// Approved template code per category (`outage`, `emergency`, `fee_reminder`,
    /// `login_code`, ...); Tencent's are digits.
    #[serde(default, deserialize_with = "digits::string_map")]
    pub templates: BTreeMap<String, String>,
}

impl NotificationSettings {
    /// The circuit breakers' policy.
    pub fn circuit_policy(&self) -> crate::circuits::Policy {
        crate::circuits::Policy {
            failures: self.circuit_failures.max(1),
            cooldown: std::time::Duration::from_millis(self.circuit_cooldown_ms),
            max_cooldown: std::time::Duration::from_secs(self.circuit_max_cooldown_secs)
                .max(std::time::Duration::from_millis(self.circuit_cooldown_ms)),
            probe_timeout: std::time::Duration::from_millis(self.lease_ms),
        }
    }
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_base_ms: 2_000,
            retry_max_secs: 3_600,
            pest_control_send_time: "10:00".into(),
            birthday_time: "09:00".into(),
            fee_reminders: true,
            send_batch: 600,
            send_concurrency: 256,
            send_lanes: 3,
            fanout_concurrency: 3,
            fcm_connections: 2,
            lease_ms: 60_000,
            sweep_interval_ms: 30_000,
            sweep_grace_secs: 120,
            sweep_batch: 5_000,
            circuit_failures: 20,
            circuit_cooldown_ms: 5_000,
            circuit_max_cooldown_secs: 300,
            rate_limits: BTreeMap::from([
                // Apple publishes no quota; this only keeps a runaway loop in bounds.
                ("apns".into(), 3_000_000),
                // FCM HTTP v1's default quota per project.
                ("fcm".into(), 600_000),
                ("sms".into(), 6_000),
                ("wechat".into(), 60_000),
            ]),
            sms_per_number_minute: 1,
            sms_per_number_hour: 5,
            sms_per_number_day: 10,
            apns: None,
            fcm: None,
            sms: None,
            wechat_templates: BTreeMap::new(),
        }
    }
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Interface to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Requests per minute one client IP may make to public (unauthenticated) endpoints;
    /// counted in Redis when it is configured, so the limit holds across API processes.
    pub public_rate_limit_per_minute: u32,
    /// The load balancers and proxies in front of the API (addresses or CIDR blocks, e.g.
    /// `10.0.0.0/8`): from a peer among them the client's address is read from
    /// `X-Forwarded-For` (the nearest address not itself trusted); from any other peer the
    /// header is ignored, so a client cannot choose its own address. From the environment:
    /// comma-separated.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; may carry a password, so it is a secret.
    #[serde(serialize_with = "serialize_secret")]
    pub url: SecretString,
    /// Connection pool size.
    pub max_connections: u32,
}

/// Redis settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `redis://...`; none means the in-process queue.
    #[serde(serialize_with = "serialize_opt_secret")]
    pub url: Option<SecretString>,
    /// Prefix of every key, so deployments (and tests) can share one Redis.
    pub key_prefix: String,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// HMAC secret of access tokens; none generates a random one per process (dev only).
    #[serde(serialize_with = "serialize_opt_secret")]
    pub jwt_secret: Option<SecretString>,
    /// Access-token lifetime in seconds.
    pub access_token_ttl_secs: i64,
    /// Refresh-token lifetime in days.
    pub refresh_token_ttl_days: i64,
    /// Login-code lifetime in seconds.
    pub login_code_ttl_secs: i64,
    /// Wrong tries that burn a login code.
    pub login_code_max_attempts: i32,
    /// Codes one phone may be sent per minute / hour / day.
    pub codes_per_phone_minute: u64,
    /// See `codes_per_phone_minute`.
    pub codes_per_phone_hour: u64,
    /// See `codes_per_phone_minute`.
    pub codes_per_phone_day: u64,
    /// Codes one client IP may request per hour.
    pub codes_per_ip_hour: u64,
}

/// WeChat mini-program settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct WechatSettings {
    /// Base URL of the WeChat API (tests point it at a mock).
    pub base_url: String,
    /// Mini-program app id.
    pub app_id: Option<String>,
    /// Mini-program app secret.
    #[serde(serialize_with = "serialize_opt_secret")]
    pub app_secret: Option<SecretString>,
}

/// Which provider takes online payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentProviderKind {
    /// The local dev provider: orders are confirmed through `POST
    /// /v1/payments/{id}/dev-confirm`, whose notification is signed and encrypted with keys
    /// made at start-up and goes through the same verification as WeChat Pay's.
    Dev,
    /// WeChat Pay API v3, with `payments.wechat_pay`.
    WechatPay,
}

/// Online payment settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PaymentSettings {
    /// `dev` (default) or `wechat_pay`.
    pub provider: PaymentProviderKind,
    /// Lets `courtyard serve` (not only `demo`) run the dev provider, for staging.
    pub allow_dev: bool,
    /// Minutes an unpaid order stays open before it is closed (default 30).
    pub order_ttl_minutes: i64,
    /// The notification URL WeChat Pay posts to: this server's public
    /// `/v1/payments/wechat/notify` (HTTPS in production).
    pub notify_url: String,
    /// WeChat Pay credentials (with `provider = "wechat_pay"`).
    pub wechat_pay: Option<WechatPaySettings>,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            provider: PaymentProviderKind::Dev,
            allow_dev: false,
            order_ttl_minutes: 30,
            notify_url: "http://127.0.0.1:8080/v1/payments/wechat/notify".into(),
            wechat_pay: None,
        }
    }
}

/// A WeChat Pay merchant's credentials. Every key is a secret and never logged.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WechatPaySettings {
    /// Endpoint (tests point it at a mock).
    #[serde(default = "wechat_pay_base_url")]
    pub base_url: String,
    /// Merchant id (商户号).
    #[serde(deserialize_with = "digits::string")]
    pub mchid: String,
    /// The mini-program's AppID.
    pub appid: String,
    /// Serial number of the merchant API certificate.
    pub merchant_serial_no: String,
    /// The merchant API private key, PEM.
    #[serde(serialize_with = "serialize_secret")]
    pub merchant_private_key_pem: SecretString,
    /// The APIv3 key (32 characters).
    #[serde(serialize_with = "serialize_secret")]
    pub api_v3_key: SecretString,
    /// The WeChat Pay public key's id (`PUB_KEY_ID_...`); empty with platform certificates
    /// only.
    #[serde(default)]
    pub public_key_id: String,
    /// The WeChat Pay public key, PEM.
    #[serde(default)]
    pub public_key_pem: String,
    /// Platform certificates still trusted during a migration: serial → the certificate's
    /// public key PEM.
    #[serde(default)]
    pub platform_certificates: BTreeMap<String, String>,
}

fn wechat_pay_base_url() -> String {
    "https://api.mch.weixin.qq.com".into()
}

/// File storage settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct StorageSettings {
    /// Directory ticket photos are written under; relative paths are from the working
    /// directory, like the default SQLite file's.
    pub photo_dir: String,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            photo_dir: "courtyard-photos".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            redis: RedisSettings::default(),
            auth: AuthSettings::default(),
            wechat: WechatSettings::default(),
            notifications: NotificationSettings::default(),
            storage: StorageSettings::default(),
            payments: PaymentSettings::default(),
            log_format: LogFormat::Json,
            retention: RetentionSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            public_rate_limit_per_minute: 120,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://courtyard.db?mode=rwc"),
            max_connections: 16,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "courtyard:".into(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            login_code_ttl_secs: 5 * 60,
            login_code_max_attempts: 5,
            codes_per_phone_minute: 1,
            codes_per_phone_hour: 5,
            codes_per_phone_day: 10,
            codes_per_ip_hour: 30,
        }
    }
}

impl Default for WechatSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.weixin.qq.com".into(),
            app_id: None,
            app_secret: None,
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given (or `courtyard.toml` if present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file("courtyard.toml")),
        }
        figment
            .merge(Env::prefixed("COURTYARD_").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL", "REDIS_URL"])
                    .map(|key| match key.as_str() {
                        "DATABASE_URL" => "database.url".into(),
                        _ => "redis.url".into(),
                    }),
            )
            .extract()
            .map_err(Box::new)
    }

    /// True when the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        let url = self.database.url.expose_secret();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }
}

/// Strings that may be all digits: the environment provider reads `1400000001` as a
/// number, but a Tencent SdkAppId or template id is an identifier, not a quantity.
mod digits {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Str(String),
        Unsigned(u64),
        Signed(i64),
    }

    impl From<Text> for String {
        fn from(t: Text) -> Self {
            match t {
                Text::Str(s) => s,
                Text::Unsigned(n) => n.to_string(),
                Text::Signed(n) => n.to_string(),
            }
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Text::deserialize(d).map(String::from)
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Text>::deserialize(d)?.map(String::from))
    }

    pub fn string_map<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        Ok(BTreeMap::<String, Text>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect())
    }
}

/// A list, or (from the environment) one string of comma-separated entries.
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entries {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Entries::deserialize(d)? {
        Entries::List(list) => list,
        Entries::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

fn serialize_secret<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn serialize_opt_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_mode() {
        let settings = Settings::default();
        assert!(!settings.is_postgres());
        assert!(settings.redis.url.is_none());
        assert_eq!(settings.auth.access_token_ttl_secs, 900);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut settings = Settings::default();
        settings.database.url = SecretString::from("postgres://u:hunter2@db/courtyard");
        settings.auth.jwt_secret = Some(SecretString::from("very-secret"));
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type.
    fn environment_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("COURTYARD_SERVER__PORT", "9999");
            jail.set_env("COURTYARD_STORAGE__PHOTO_DIR", "/var/lib/courtyard/photos");
            jail.set_env("DATABASE_URL", "postgres://127.0.0.1/test");
            jail.set_env("COURTYARD_SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(settings.server.port, 9999);
            assert_eq!(settings.server.trusted_proxies, ["10.0.0.0/8", "192.0.2.7"]);
            assert_eq!(settings.storage.photo_dir, "/var/lib/courtyard/photos");
            assert!(settings.is_postgres());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type.
    fn digit_only_identifiers_from_the_environment_stay_text() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("COURTYARD_NOTIFICATIONS__SMS__PROVIDER", "tencent");
            jail.set_env("COURTYARD_NOTIFICATIONS__SMS__ACCESS_KEY_ID", "AKID01");
            jail.set_env("COURTYARD_NOTIFICATIONS__SMS__ACCESS_KEY_SECRET", "s3cret");
            jail.set_env("COURTYARD_NOTIFICATIONS__SMS__SDK_APP_ID", "1400000001");
            jail.set_env("COURTYARD_NOTIFICATIONS__SMS__SIGN_NAME", "庭院物业");
            jail.set_env(
                "COURTYARD_NOTIFICATIONS__SMS__TEMPLATES__LOGIN_CODE",
                "2233445",
            );
            let settings = Settings::load(None).map_err(|e| *e)?;
            let sms = settings.notifications.sms.expect("sms configured");
            assert_eq!(sms.sdk_app_id.as_deref(), Some("1400000001"));
            assert_eq!(
                sms.templates.get("login_code").map(String::as_str),
                Some("2233445")
            );
            assert_eq!(sms.access_key_id, "AKID01");
            Ok(())
        });
    }
}
