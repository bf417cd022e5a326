//! A mock FCM HTTP v1 with its OAuth2 token endpoint: `POST /token` verifies the service
//! account's RS256 assertion and issues access tokens; `POST
//! /v1/projects/{project}/messages:send` accepts only those tokens, checks the message as
//! the v1 API's proto JSON parser would, and answers with FCM's error JSON.

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
    web::{Data, Form, Path},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Arrival, Mode, Programme, Running, fixture, header_map, serve, system_clock};

/// The Firebase project of the test service account.
pub const PROJECT_ID: &str = "courtyard-test";
/// The test service account.
pub const CLIENT_EMAIL: &str = "push-sender@courtyard-test.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of the access tokens the mock issues (as Google's), seconds.
const ACCESS_TOKEN_LIFETIME: i64 = 3600;
const FCM_ERROR: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

/// A service-account JSON key for the test key pair, as Google's console hands out.
pub fn service_account_json(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": fixture("fcm-test-key.pem"),
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

/// One `messages:send` request the mock received, and what it answered.
#[derive(Debug, Clone)]
pub struct FcmRequest {
    /// Whether it came over HTTP/2.
    pub http2: bool,
    /// Headers, by lower-case name.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The `errorCode` (or `status` when none) answered, for errors.
    pub error: Option<String>,
}

#[derive(Default)]
struct State {
    grants: usize,
    /// Access tokens issued, with their expiry (unix seconds).
    issued: HashMap<String, i64>,
    requests: Vec<FcmRequest>,
    arrivals: Vec<Arrival>,
    failures: Programme<Failure>,
}

/// A programmed `errorCode` answer.
#[derive(Debug, Clone)]
struct Failure {
    error_code: String,
    retry_after: Option<u64>,
}

struct Shared {
    clock: Arc<dyn Clock>,
    mode: Mode,
    key: DecodingKey,
    token_uri: Mutex<String>,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token_uri(&self) -> String {
        self.token_uri
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A running mock FCM; stops when dropped.
pub struct MockFcm {
    shared: Arc<Shared>,
    running: Running,
}

impl MockFcm {
    /// Starts a mock that judges token lifetimes by the wall clock.
    pub async fn start() -> Self {
        Self::start_with_clock(system_clock()).await
    }

    /// Starts a mock that judges token lifetimes by `clock` (share the client's test clock).
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::start_with_mode(clock, Mode::Full).await
    }

    /// Starts a mock for load (see [`Mode::Bench`]) on the wall clock. Access tokens are
    /// looked up on every send in both modes; the assertion behind each is verified once.
    pub async fn start_bench() -> Self {
        Self::start_with_mode(system_clock(), Mode::Bench).await
    }

    /// Starts a mock in `mode`, judging token lifetimes by `clock`.
    pub async fn start_with_mode(clock: Arc<dyn Clock>, mode: Mode) -> Self {
        let key = DecodingKey::from_rsa_pem(fixture("fcm-test-key.pub.pem").as_bytes())
            .expect("FCM test public key");
        let shared = Arc::new(Shared {
            clock,
            mode,
            key,
            token_uri: Mutex::new(String::new()),
            state: Mutex::new(State::default()),
        });
        let running = serve(
            Route::new()
                .at("/token", poem::post(grant))
                .at("/v1/projects/*rest", send)
                .data(shared.clone()),
        )
        .await;
        *shared.token_uri.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("{}/token", running.base_url);
        Self { shared, running }
    }

    /// `http://127.0.0.1:PORT`, the FCM `base_url`.
    pub fn base_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// The OAuth2 token endpoint (the assertion's expected `aud`).
    pub fn token_uri(&self) -> String {
        self.shared.token_uri()
    }

    /// A service-account JSON pointing at this mock's token endpoint.
    pub fn service_account_json(&self) -> String {
        service_account_json(&self.token_uri())
    }

    /// How many access tokens were granted.
    pub fn grant_count(&self) -> usize {
        self.shared.state().grants
    }

    /// Every `messages:send` request, oldest first (none are kept in bench mode).
    pub fn requests(&self) -> Vec<FcmRequest> {
        self.shared.state().requests.clone()
    }

    /// How many sends were accepted (200).
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

    /// When each `messages:send` request arrived and what it was answered, oldest first (in
    /// every mode).
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.state().arrivals.clone()
    }

    /// An access token valid for an hour, as if granted at the token endpoint: for load
    /// tools (h2load) that cannot sign the assertion themselves.
    pub fn issue_access_token(&self) -> String {
        let access_token = format!("ya29.mock-{}", Uuid::new_v4().simple());
        let expires = self.shared.clock.now().timestamp() + ACCESS_TOKEN_LIFETIME;
        self.shared
            .state()
            .issued
            .insert(access_token.clone(), expires);
        access_token
    }

    /// Forgets every access token issued, as if Google had revoked them.
    pub fn revoke_access_tokens(&self) {
        self.shared.state().issued.clear();
    }

    /// Answers every later send to `token` (after the checks FCM makes itself) with FCM's
    /// error for `error_code` (`UNREGISTERED`, `QUOTA_EXCEEDED`, `UNAVAILABLE`, `INTERNAL`,
    /// `INVALID_ARGUMENT`, `SENDER_ID_MISMATCH`, `THIRD_PARTY_AUTH_ERROR`), plus
    /// `Retry-After` when given.
    pub fn fail_token(&self, token: &str, error_code: &str, retry_after: Option<u64>) {
        self.program(token, error_code, retry_after, None);
    }

    /// As [`fail_token`](Self::fail_token), for the next `times` sends only.
    pub fn fail_token_times(
        &self,
        token: &str,
        times: usize,
        error_code: &str,
        retry_after: Option<u64>,
    ) {
        self.program(token, error_code, retry_after, Some(times));
    }

    fn program(
        &self,
        token: &str,
        error_code: &str,
        retry_after: Option<u64>,
        times: Option<usize>,
    ) {
        assert!(
            status_of(error_code).is_some(),
            "unknown FCM errorCode {error_code}"
        );
        self.shared.state().failures.set(
            token,
            Failure {
                error_code: error_code.to_owned(),
                retry_after,
            },
            times,
        );
    }
}

/// HTTP status, canonical status and message FCM answers with for an `errorCode`.
fn status_of(error_code: &str) -> Option<(u16, &'static str, &'static str)> {
    Some(match error_code {
        "UNREGISTERED" => (404, "NOT_FOUND", "Requested entity was not found."),
        "INVALID_ARGUMENT" => (
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
        ),
        "SENDER_ID_MISMATCH" => (403, "PERMISSION_DENIED", "SenderId mismatch"),
        "QUOTA_EXCEEDED" => (
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Send requests' of service 'fcm.googleapis.com'.",
        ),
        "UNAVAILABLE" => (503, "UNAVAILABLE", "The service is currently unavailable."),
        "INTERNAL" => (500, "INTERNAL", "Internal error encountered."),
        "THIRD_PARTY_AUTH_ERROR" => (
            401,
            "UNAUTHENTICATED",
            "Auth error from APNS or Web Push Service",
        ),
        _ => return None,
    })
}

// ---- token endpoint ------------------------------------------------------------------------

#[derive(Deserialize)]
struct Assertion {
    iss: Option<String>,
    scope: Option<String>,
    aud: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
}

fn oauth_error(error: &str, description: &str) -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .content_type("application/json")
        .body(json!({ "error": error, "error_description": description }).to_string())
}

#[handler]
fn grant(Form(form): Form<HashMap<String, String>>, Data(shared): Data<&Arc<Shared>>) -> Response {
    if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
        return oauth_error("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    let signature = || oauth_error("invalid_grant", "Invalid JWT Signature.");
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return signature();
    };
    if header.alg != Algorithm::RS256 {
        return signature();
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let Ok(claims) = jsonwebtoken::decode::<Assertion>(assertion, &shared.key, &validation)
        .map(|data| data.claims)
    else {
        return signature();
    };
    if claims.iss.as_deref() != Some(CLIENT_EMAIL) {
        return oauth_error("invalid_grant", "Invalid email or User ID");
    }
    if claims.aud.as_deref() != Some(shared.token_uri().as_str()) {
        return oauth_error("invalid_grant", "Invalid JWT: Failed audience check.");
    }
    if !claims
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|s| s == SCOPE))
    {
        return oauth_error(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let now = shared.clock.now().timestamp();
    let timely = match (claims.iat, claims.exp) {
        (Some(iat), Some(exp)) => {
            iat <= now + 60 && exp > now && exp > iat && exp - iat <= ACCESS_TOKEN_LIFETIME
        }
        _ => false,
    };
    if !timely {
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let access_token = format!("ya29.mock-{}", Uuid::new_v4().simple());
    {
        let mut state = shared.state();
        state.grants += 1;
        state
            .issued
            .insert(access_token.clone(), now + ACCESS_TOKEN_LIFETIME);
    }
    Response::builder().content_type("application/json").body(
        json!({
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "token_type": "Bearer",
        })
        .to_string(),
    )
}

// ---- messages:send -------------------------------------------------------------------------

/// An FCM refusal.
struct Refusal {
    status: u16,
    canonical: &'static str,
    message: String,
    error_code: Option<String>,
    retry_after: Option<u64>,
}

fn invalid_argument(message: impl Into<String>) -> Refusal {
    Refusal {
        status: 400,
        canonical: "INVALID_ARGUMENT",
        message: message.into(),
        error_code: Some("INVALID_ARGUMENT".into()),
        retry_after: None,
    }
}

/// An `Unknown name` error, as the proto JSON parser gives for a field the API lacks.
fn unknown_field(object: &Value, allowed: &[&str], at: &str) -> Result<(), Refusal> {
    if let Some(map) = object.as_object()
        && let Some(name) = map.keys().find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(invalid_argument(format!(
            "Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."
        )));
    }
    Ok(())
}

#[handler]
fn send(
    req: &Request,
    Path(rest): Path<String>,
    body: Vec<u8>,
    Data(shared): Data<&Arc<Shared>>,
) -> Response {
    let at = Instant::now();
    let json_body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let outcome = check(req, &rest, &json_body, shared).and_then(|token| {
        match shared.state().failures.take(&token) {
            Some(f) => {
                let (status, canonical, message) =
                    status_of(&f.error_code).unwrap_or((500, "INTERNAL", "Internal error."));
                Err(Refusal {
                    status,
                    canonical,
                    message: message.to_owned(),
                    error_code: Some(f.error_code),
                    retry_after: f.retry_after,
                })
            }
            None => Ok(()),
        }
    });
    let (status, error, response) = match outcome {
        Ok(()) => {
            let name = format!(
                "projects/{PROJECT_ID}/messages/0:{}",
                Uuid::new_v4().simple()
            );
            let response = Response::builder()
                .content_type("application/json")
                .body(json!({ "name": name }).to_string());
            (200, None, response)
        }
        Err(refusal) => {
            let mut details = Vec::new();
            if let Some(code) = &refusal.error_code {
                details.push(json!({ "@type": FCM_ERROR, "errorCode": code }));
            }
            let body = json!({ "error": {
                "code": refusal.status,
                "message": refusal.message,
                "status": refusal.canonical,
                "details": details,
            }});
            let mut builder = Response::builder()
                .status(
                    StatusCode::from_u16(refusal.status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                )
                .content_type("application/json");
            if let Some(secs) = refusal.retry_after {
                builder = builder.header("retry-after", secs.to_string());
            }
            let error = refusal
                .error_code
                .unwrap_or_else(|| refusal.canonical.to_owned());
            (refusal.status, Some(error), builder.body(body.to_string()))
        }
    };
    let request = (shared.mode == Mode::Full).then(|| FcmRequest {
        http2: req.version() == Version::HTTP_2,
        headers: header_map(req.headers()),
        body: json_body,
        status,
        error,
    });
    let mut state = shared.state();
    state.arrivals.push(Arrival { at, status });
    state.requests.extend(request);
    drop(state);
    response
}

/// The checks FCM makes; the message's target token when they pass.
fn check(req: &Request, rest: &str, body: &Value, shared: &Shared) -> Result<String, Refusal> {
    let not_found = || Refusal {
        status: 404,
        canonical: "NOT_FOUND",
        message: "Requested entity was not found.".into(),
        error_code: None,
        retry_after: None,
    };
    if req.method() != poem::http::Method::POST {
        return Err(not_found());
    }
    let project = rest.strip_suffix("/messages:send").ok_or_else(not_found)?;
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let now = shared.clock.now().timestamp();
    let authenticated = bearer.is_some_and(|token| {
        shared
            .state()
            .issued
            .get(token)
            .is_some_and(|expires| now < *expires)
    });
    if !authenticated {
        return Err(Refusal {
            status: 401,
            canonical: "UNAUTHENTICATED",
            message: "Request had invalid authentication credentials. Expected OAuth 2 access \
                      token, login cookie or other valid authentication credential."
                .into(),
            error_code: None,
            retry_after: None,
        });
    }
    if project != PROJECT_ID {
        return Err(Refusal {
            status: 403,
            canonical: "PERMISSION_DENIED",
            message: format!(
                "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}'"
            ),
            error_code: None,
            retry_after: None,
        });
    }
    if !body.is_object() {
        return Err(invalid_argument("Invalid JSON payload received."));
    }
    unknown_field(body, &["message", "validate_only", "validateOnly"], "")?;
    let message = &body["message"];
    if !message.is_object() {
        return Err(invalid_argument("Request contains an invalid argument."));
    }
    unknown_field(
        message,
        &[
            "name",
            "data",
            "notification",
            "android",
            "webpush",
            "apns",
            "fcm_options",
            "fcmOptions",
            "token",
            "topic",
            "condition",
        ],
        "message",
    )?;
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| message.get(**k).is_some())
        .count();
    if targets != 1 {
        return Err(invalid_argument("Recipient of the message is not set."));
    }
    let token = message["token"]
        .as_str()
        .filter(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b))
        })
        .ok_or_else(|| {
            invalid_argument("The registration token is not a valid FCM registration token")
        })?;
    if let Some(notification) = message.get("notification") {
        unknown_field(
            notification,
            &["title", "body", "image"],
            "message.notification",
        )?;
        if notification
            .as_object()
            .is_none_or(|n| n.values().any(|v| !v.is_string()))
        {
            return Err(invalid_argument(
                "Invalid value at 'message.notification' (type.googleapis.com/google.firebase.fcm.v1.Notification)",
            ));
        }
    }
    if let Some(data) = message.get("data") {
        let map = data.as_object().ok_or_else(|| {
            invalid_argument("Invalid value at 'message.data' (map<string, string>)")
        })?;
        for (i, (key, value)) in map.iter().enumerate() {
            if !value.is_string() {
                return Err(invalid_argument(format!(
                    "Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value}"
                )));
            }
            let reserved = matches!(key.as_str(), "from" | "message_type" | "notification")
                || key.starts_with("google")
                || key.starts_with("gcm");
            if reserved {
                return Err(invalid_argument(format!("Invalid data payload key: {key}")));
            }
        }
    }
    if let Some(android) = message.get("android") {
        unknown_field(
            android,
            &[
                "collapse_key",
                "collapseKey",
                "priority",
                "ttl",
                "restricted_package_name",
                "restrictedPackageName",
                "data",
                "notification",
                "fcm_options",
                "fcmOptions",
                "direct_boot_ok",
                "directBootOk",
            ],
            "message.android",
        )?;
        if let Some(priority) = android.get("priority")
            && !matches!(priority.as_str(), Some("HIGH" | "NORMAL"))
        {
            return Err(invalid_argument(format!(
                "Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), {priority}"
            )));
        }
        if let Some(ttl) = android.get("ttl")
            && !ttl.as_str().is_some_and(is_duration)
        {
            return Err(invalid_argument(format!(
                "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {ttl}"
            )));
        }
        if let Some(key) = android.get("collapse_key")
            && !key.is_string()
        {
            return Err(invalid_argument(
                "Invalid value at 'message.android.collapse_key' (TYPE_STRING)",
            ));
        }
    }
    Ok(token.to_owned())
}

/// A protobuf JSON `Duration`: seconds with up to nine decimals and an `s`.
fn is_duration(s: &str) -> bool {
    let Some(number) = s.strip_suffix('s') else {
        return false;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && (1..=9).contains(&fraction.len())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}
