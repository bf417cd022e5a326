//! A mock APNs: `POST /3/device/{token}` over HTTP/2, token (JWT) authentication verified
//! with the test key's public half, Apple's header and payload rules, Apple's error bodies
//! (`{"reason": "..."}`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use courtyard_domain::Clock;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use poem::{
    EndpointExt, Request, Response, Route, handler,
    http::{StatusCode, Version},
    web::Data,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Arrival, Mode, Programme, Running, fixture, header_map, serve, system_clock};

/// The key id the mock expects in the JWT `kid` (Apple's are 10 characters).
pub const KEY_ID: &str = "CY7TESTKEY";
/// The team id the mock expects in the JWT `iss`.
pub const TEAM_ID: &str = "CY7TESTTEAM";
/// Apple's limit on a payload, in bytes.
const MAX_PAYLOAD: usize = 4096;
/// Apple refuses provider tokens older than this (seconds).
const TOKEN_MAX_AGE: i64 = 3600;
/// Apple answers `TooManyProviderTokenUpdates` when tokens change faster than this (seconds).
const TOKEN_MIN_INTERVAL: i64 = 20 * 60;
const PUSH_TYPES: &[&str] = &[
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
    "widgets",
    "controls",
];

/// One request the mock received, and what it answered.
#[derive(Debug, Clone)]
pub struct ApnsRequest {
    /// The device token from the path.
    pub device_token: String,
    /// Whether it came over HTTP/2 (APNs speaks nothing else).
    pub http2: bool,
    /// Headers, by lower-case name.
    pub headers: BTreeMap<String, String>,
    /// The payload as JSON (`Null` when it was not JSON).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The `reason` answered, for errors.
    pub reason: Option<String>,
}

impl ApnsRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The provider token (JWT) sent.
    pub fn provider_token(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        value
            .strip_prefix("bearer ")
            .or_else(|| value.strip_prefix("Bearer "))
    }
}

/// A programmed error answer.
#[derive(Debug, Clone)]
struct Failure {
    status: u16,
    reason: String,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct State {
    requests: Vec<ApnsRequest>,
    arrivals: Vec<Arrival>,
    failures: Programme<Failure>,
    /// An answer for every request, whatever its token (a provider-wide outage).
    outage: Option<Failure>,
    /// Bench mode: provider tokens whose signature was verified, with their `iat`.
    verified: HashMap<String, i64>,
    /// Every provider token accepted, in the order first seen.
    provider_tokens: Vec<String>,
    /// The token in use and its `iat`.
    current: Option<(String, i64)>,
}

struct Shared {
    clock: Arc<dyn Clock>,
    mode: Mode,
    key: DecodingKey,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running mock APNs; stops when dropped.
pub struct MockApns {
    shared: Arc<Shared>,
    running: Running,
}

impl MockApns {
    /// Starts a mock that judges token ages by the wall clock.
    pub async fn start() -> Self {
        Self::start_with_clock(system_clock()).await
    }

    /// Starts a mock that judges token ages by `clock` (share the client's test clock).
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::start_with_mode(clock, Mode::Full).await
    }

    /// Starts a mock for load (see [`Mode::Bench`]) on the wall clock.
    pub async fn start_bench() -> Self {
        Self::start_with_mode(system_clock(), Mode::Bench).await
    }

    /// Starts a mock in `mode`, judging token ages by `clock`.
    pub async fn start_with_mode(clock: Arc<dyn Clock>, mode: Mode) -> Self {
        let key = DecodingKey::from_ec_pem(fixture("apns-test-key.pub.pem").as_bytes())
            .expect("APNs test public key");
        let shared = Arc::new(Shared {
            clock,
            mode,
            key,
            state: Mutex::new(State::default()),
        });
        let running = serve(Route::new().at("/*path", answer).data(shared.clone())).await;
        Self { shared, running }
    }

    /// `http://127.0.0.1:PORT`, for both `base_url` and `sandbox_base_url`.
    pub fn base_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// The `.p8` private key the mock's public key verifies.
    pub fn private_key_pem() -> String {
        fixture("apns-test-key.p8")
    }

    /// Every request received, oldest first (none are kept in bench mode).
    pub fn requests(&self) -> Vec<ApnsRequest> {
        self.shared.state().requests.clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.shared.state().arrivals.len()
    }

    /// How many were accepted (200).
    pub fn delivered_count(&self) -> usize {
        self.shared
            .state()
            .arrivals
            .iter()
            .filter(|a| a.status == 200)
            .count()
    }

    /// How many requests have arrived so far (cheap enough to poll).
    pub fn arrival_count(&self) -> usize {
        self.shared.state().arrivals.len()
    }

    /// When each request arrived and what it was answered, oldest first (in every mode).
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.state().arrivals.clone()
    }

    /// The distinct provider tokens accepted, in the order first seen.
    pub fn provider_tokens(&self) -> Vec<String> {
        self.shared.state().provider_tokens.clone()
    }

    /// Answers every later request for `token` (after the checks APNs makes itself) with
    /// `status` and `{"reason": reason}`, plus `Retry-After` when given.
    pub fn fail_token(&self, token: &str, status: u16, reason: &str, retry_after: Option<u64>) {
        self.program(token, status, reason, retry_after, None);
    }

    /// Answers every request, whatever its token, with `status` and `{"reason": reason}`
    /// (after Apple's own checks) until [`heal`](Self::heal): APNs down as a whole.
    pub fn fail_all(&self, status: u16, reason: &str) {
        self.shared.state().outage = Some(Failure {
            status,
            reason: reason.to_owned(),
            retry_after: None,
        });
    }

    /// Ends a [`fail_all`](Self::fail_all).
    pub fn heal(&self) {
        self.shared.state().outage = None;
    }

    /// As [`fail_token`](Self::fail_token), for the next `times` requests only.
    pub fn fail_token_times(
        &self,
        token: &str,
        times: usize,
        status: u16,
        reason: &str,
        retry_after: Option<u64>,
    ) {
        self.program(token, status, reason, retry_after, Some(times));
    }

    fn program(
        &self,
        token: &str,
        status: u16,
        reason: &str,
        retry_after: Option<u64>,
        times: Option<usize>,
    ) {
        self.shared.state().failures.set(
            token,
            Failure {
                status,
                reason: reason.to_owned(),
                retry_after,
            },
            times,
        );
    }
}

/// An APNs refusal: status, `reason`, `Retry-After`.
struct Refusal {
    status: u16,
    reason: String,
    retry_after: Option<u64>,
}

fn refuse(status: u16, reason: &str) -> Refusal {
    Refusal {
        status,
        reason: reason.to_owned(),
        retry_after: None,
    }
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: Option<String>,
    iat: Option<i64>,
}

#[handler]
fn answer(req: &Request, body: Vec<u8>, Data(shared): Data<&Arc<Shared>>) -> Response {
    let at = Instant::now();
    let device_token = req
        .uri()
        .path()
        .strip_prefix("/3/device/")
        .unwrap_or_default()
        .to_owned();
    let http2 = req.version() == Version::HTTP_2;
    let record = |status: u16, reason: Option<String>| {
        let request = (shared.mode == Mode::Full).then(|| ApnsRequest {
            device_token: device_token.clone(),
            http2,
            headers: header_map(req.headers()),
            body: serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            status,
            reason,
        });
        let mut state = shared.state();
        state.arrivals.push(Arrival { at, status });
        state.requests.extend(request);
    };
    if !http2 {
        // Apple's servers speak HTTP/2 only; an HTTP/1.1 client never gets an answer there.
        record(505, None);
        return Response::builder()
            .status(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
            .finish();
    }
    let outcome = check(req, &body, &device_token, shared).and_then(|()| {
        // Programmed answers come after Apple's own checks, as a real refusal would.
        let mut state = shared.state();
        let failure = match state.outage.clone() {
            Some(outage) => Some(outage),
            None => state.failures.take(&device_token),
        };
        match failure {
            Some(f) => Err(Refusal {
                status: f.status,
                reason: f.reason,
                retry_after: f.retry_after,
            }),
            None => Ok(()),
        }
    });
    match outcome {
        Ok(()) => {
            let apns_id = req
                .headers()
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| Uuid::new_v4().to_string().to_uppercase(), str::to_owned);
            record(200, None);
            Response::builder()
                .status(StatusCode::OK)
                .header("apns-id", apns_id)
                .finish()
        }
        Err(refusal) => {
            record(refusal.status, Some(refusal.reason.clone()));
            let mut body = json!({ "reason": refusal.reason });
            if refusal.status == 410 {
                body["timestamp"] = json!(shared.clock.now().timestamp_millis());
            }
            let mut builder = Response::builder()
                .status(
                    StatusCode::from_u16(refusal.status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                )
                .content_type("application/json");
            if let Some(secs) = refusal.retry_after {
                builder = builder.header("retry-after", secs.to_string());
            }
            builder.body(body.to_string())
        }
    }
}

/// The checks APNs makes, in roughly its order, with its reason names.
fn check(req: &Request, body: &[u8], device_token: &str, shared: &Shared) -> Result<(), Refusal> {
    if req.method() != poem::http::Method::POST {
        return Err(refuse(405, "MethodNotAllowed"));
    }
    if !req.uri().path().starts_with("/3/device/") {
        return Err(refuse(404, "BadPath"));
    }
    check_provider_token(req, shared)?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("apns-topic").is_none_or(str::is_empty) {
        return Err(refuse(400, "MissingTopic"));
    }
    if !header("apns-push-type").is_some_and(|t| PUSH_TYPES.contains(&t)) {
        return Err(refuse(400, "InvalidPushType"));
    }
    if header("apns-priority").is_some_and(|p| !matches!(p, "1" | "5" | "10")) {
        return Err(refuse(400, "BadPriority"));
    }
    if header("apns-expiration").is_some_and(|e| e.parse::<u64>().is_err()) {
        return Err(refuse(400, "BadExpirationDate"));
    }
    if header("apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return Err(refuse(400, "BadCollapseId"));
    }
    if header("apns-id").is_some_and(|id| Uuid::parse_str(id).is_err()) {
        return Err(refuse(400, "BadMessageId"));
    }
    if device_token.len() != 64 || !device_token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse(400, "BadDeviceToken"));
    }
    if body.is_empty() {
        return Err(refuse(400, "PayloadEmpty"));
    }
    if body.len() > MAX_PAYLOAD {
        return Err(refuse(413, "PayloadTooLarge"));
    }
    // Apple documents no reason of its own for a payload that is not a JSON dictionary with
    // an `aps` dictionary; it refuses it as it refuses an empty one.
    let payload: Value = serde_json::from_slice(body).map_err(|_| refuse(400, "PayloadEmpty"))?;
    if !payload.get("aps").is_some_and(Value::is_object) {
        return Err(refuse(400, "PayloadEmpty"));
    }
    Ok(())
}

/// Verifies the `authorization: bearer <JWT>` provider token as APNs does.
fn check_provider_token(req: &Request, shared: &Shared) -> Result<(), Refusal> {
    let value = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse(403, "MissingProviderToken"))?;
    let jwt = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, jwt)| jwt.trim())
        .ok_or_else(|| refuse(403, "MissingProviderToken"))?;
    let invalid = || refuse(403, "InvalidProviderToken");
    // In bench mode a token's signature is verified the first time it is seen; its age and
    // the update rule below are checked on every request in both modes.
    let verified = match shared.mode {
        Mode::Bench => shared.state().verified.get(jwt).copied(),
        Mode::Full => None,
    };
    let iat = match verified {
        Some(iat) => iat,
        None => {
            let iat = verify_provider_token(jwt, shared).ok_or_else(invalid)?;
            if shared.mode == Mode::Bench {
                shared.state().verified.insert(jwt.to_owned(), iat);
            }
            iat
        }
    };
    let now = shared.clock.now().timestamp();
    if iat > now + 60 {
        return Err(invalid());
    }
    if now - iat > TOKEN_MAX_AGE {
        return Err(refuse(403, "ExpiredProviderToken"));
    }
    let mut state = shared.state();
    match state.current.clone() {
        Some((current, _)) if current == jwt => {}
        Some((_, current_iat)) if iat < current_iat + TOKEN_MIN_INTERVAL => {
            return Err(refuse(429, "TooManyProviderTokenUpdates"));
        }
        _ => {
            state.current = Some((jwt.to_owned(), iat));
            state.provider_tokens.push(jwt.to_owned());
        }
    }
    Ok(())
}

/// The `iat` of a provider token signed by the test key for the test team, if it is one.
fn verify_provider_token(jwt: &str, shared: &Shared) -> Option<i64> {
    let header = jsonwebtoken::decode_header(jwt).ok()?;
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(KEY_ID) {
        return None;
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<ProviderClaims>(jwt, &shared.key, &validation)
        .ok()?
        .claims;
    if claims.iss.as_deref() != Some(TEAM_ID) {
        return None;
    }
    claims.iat
}
