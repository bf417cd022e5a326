//! A local WeChat API for subscription messages: `stable_token` checks the AppID and
//! AppSecret, counts grants and issues tokens that expire on the given clock (and, like the
//! real one, hands out the same token again while it is still valid); `subscribe/send`
//! checks the token (41001 missing, 40001 unknown or revoked, 42001 expired) and the
//! payload shape, records the send, and answers programmed errcodes per openid.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use super::{Programme, Running, serve, sms::lock, system_clock};
use chrono::{DateTime, Utc};
use courtyard_domain::Clock;
use poem::{Request, Response, Route, endpoint::make, http::StatusCode};
use serde_json::{Value, json};

/// How long a grant takes; long enough that concurrent callers would overlap.
const GRANT_DELAY: Duration = Duration::from_millis(20);

/// One subscription message the mock accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct WechatSend {
    /// The access token it came with.
    pub access_token: String,
    /// `touser`.
    pub touser: String,
    /// `template_id`.
    pub template_id: String,
    /// `page`.
    pub page: Option<String>,
    /// `data`, flattened to field → value.
    pub data: BTreeMap<String, String>,
    /// `miniprogram_state`.
    pub miniprogram_state: Option<String>,
    /// `lang`.
    pub lang: Option<String>,
    /// The `msgid` answered.
    pub msgid: u64,
}

/// A local `api.weixin.qq.com`.
pub struct MockWechat {
    state: Arc<WechatState>,
    running: Running,
}

struct Token {
    value: String,
    expires_at: DateTime<Utc>,
}

struct WechatState {
    app_id: String,
    secret: String,
    clock: Arc<dyn Clock>,
    ttl_secs: Mutex<i64>,
    grants: AtomicUsize,
    current: Mutex<Option<Token>>,
    /// Every token ever issued (so an old one is "expired", not "unknown").
    issued: Mutex<Vec<(String, DateTime<Utc>)>>,
    revoked: Mutex<Vec<String>>,
    sends: Mutex<Vec<WechatSend>>,
    answers: Mutex<Vec<i64>>,
    failures: Mutex<Programme<i64>>,
}

impl MockWechat {
    /// Starts a mock for one mini-program whose tokens expire by the wall clock.
    pub async fn start(app_id: &str, secret: &str) -> Self {
        Self::start_with_clock(app_id, secret, system_clock()).await
    }

    /// Starts a mock whose tokens expire by `clock` (share the client's test clock).
    pub async fn start_with_clock(app_id: &str, secret: &str, clock: Arc<dyn Clock>) -> Self {
        let state = Arc::new(WechatState {
            app_id: app_id.into(),
            secret: secret.into(),
            clock,
            ttl_secs: Mutex::new(7200),
            grants: AtomicUsize::new(0),
            current: Mutex::default(),
            issued: Mutex::default(),
            revoked: Mutex::default(),
            sends: Mutex::default(),
            answers: Mutex::default(),
            failures: Mutex::default(),
        });
        let token_state = state.clone();
        let send_state = state.clone();
        let route = Route::new()
            .at(
                "/cgi-bin/stable_token",
                make(move |req| {
                    let state = token_state.clone();
                    async move { state.stable_token(req).await }
                }),
            )
            .at(
                "/cgi-bin/message/subscribe/send",
                make(move |req| {
                    let state = send_state.clone();
                    async move { state.subscribe_send(req).await }
                }),
            );
        let running = serve(route).await;
        Self { state, running }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// How many tokens `stable_token` handed out (WeChat counts these per day).
    pub fn grant_count(&self) -> usize {
        self.state.grants.load(Ordering::SeqCst)
    }

    /// Lifetime of tokens issued from now on (7200 s by default).
    pub fn set_token_ttl(&self, secs: i64) {
        *lock(&self.state.ttl_secs) = secs;
    }

    /// Makes every token issued so far invalid (errcode 40001), as a rotated AppSecret or a
    /// forced refresh elsewhere would.
    pub fn revoke_access_tokens(&self) {
        let issued: Vec<String> = lock(&self.state.issued)
            .iter()
            .map(|(t, _)| t.clone())
            .collect();
        lock(&self.state.revoked).extend(issued);
        *lock(&self.state.current) = None;
    }

    /// Answers every later message to `openid` (after the token and shape checks) with
    /// `errcode`.
    pub fn fail_openid(&self, openid: &str, errcode: i64) {
        lock(&self.state.failures).set(openid, errcode, None);
    }

    /// As [`fail_openid`](Self::fail_openid), for the next `times` messages only.
    pub fn fail_openid_times(&self, openid: &str, times: usize, errcode: i64) {
        lock(&self.state.failures).set(openid, errcode, Some(times));
    }

    /// How many `subscribe/send` requests arrived.
    pub fn request_count(&self) -> usize {
        lock(&self.state.answers).len()
    }

    /// The messages accepted, oldest first.
    pub fn sends(&self) -> Vec<WechatSend> {
        lock(&self.state.sends).clone()
    }

    /// The errcode of every `subscribe/send` answer, oldest first.
    pub fn answers(&self) -> Vec<i64> {
        lock(&self.state.answers).clone()
    }
}

fn errcode(code: i64, message: &str) -> Response {
    body(json!({ "errcode": code, "errmsg": message }))
}

fn body(value: Value) -> Response {
    // WeChat answers 200 with an errcode whatever happened.
    Response::builder()
        .status(StatusCode::OK)
        .content_type("application/json; encoding=utf-8")
        .body(value.to_string())
}

impl WechatState {
    async fn stable_token(&self, req: Request) -> Response {
        if req.method() != poem::http::Method::POST {
            return errcode(43002, "require POST method");
        }
        let raw = req.into_body().into_bytes().await.unwrap_or_default();
        let Ok(payload) = serde_json::from_slice::<Value>(&raw) else {
            return errcode(47001, "data format error");
        };
        if payload["grant_type"] != "client_credential" {
            return errcode(40002, "invalid grant_type");
        }
        if payload["appid"] != self.app_id.as_str() {
            return errcode(40013, "invalid appid");
        }
        if payload["secret"] != self.secret.as_str() {
            return errcode(40125, "invalid appsecret");
        }
        let force = payload["force_refresh"].as_bool().unwrap_or(false);
        // Widens the window in which concurrent callers would each ask for a grant.
        tokio::time::sleep(GRANT_DELAY).await;
        let now = self.clock.now();
        self.grants.fetch_add(1, Ordering::SeqCst);
        let mut current = lock(&self.current);
        let reusable = current.as_ref().filter(|t| !force && now < t.expires_at);
        let (value, expires_at) = match reusable {
            Some(token) => (token.value.clone(), token.expires_at),
            None => {
                let value = format!("ACCESS_TOKEN_{}", uuid::Uuid::new_v4().simple());
                let expires_at = now + chrono::Duration::seconds(*lock(&self.ttl_secs));
                lock(&self.issued).push((value.clone(), expires_at));
                *current = Some(Token {
                    value: value.clone(),
                    expires_at,
                });
                (value, expires_at)
            }
        };
        body(json!({
            "access_token": value,
            "expires_in": (expires_at - now).num_seconds(),
        }))
    }

    async fn subscribe_send(&self, req: Request) -> Response {
        let code = self.check_send(req).await;
        lock(&self.answers).push(code.0);
        match code {
            (0, Some(msgid)) => body(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })),
            (code, _) => errcode(code, message_for(code)),
        }
    }

    async fn check_send(&self, req: Request) -> (i64, Option<u64>) {
        if req.method() != poem::http::Method::POST {
            return (43002, None);
        }
        let token = req
            .uri()
            .query()
            .map(|q| {
                reqwest::Url::parse(&format!("http://mock/?{q}"))
                    .map(|u| {
                        u.query_pairs()
                            .find(|(k, _)| k == "access_token")
                            .map(|(_, v)| v.into_owned())
                    })
                    .ok()
                    .flatten()
            })
            .unwrap_or_default();
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return (41001, None);
        };
        if lock(&self.revoked).contains(&token) {
            return (40001, None);
        }
        let issued = lock(&self.issued)
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, expires_at)| *expires_at);
        match issued {
            None => return (40001, None),
            Some(expires_at) if self.clock.now() >= expires_at => return (42001, None),
            Some(_) => {}
        }
        let raw = req.into_body().into_bytes().await.unwrap_or_default();
        let Ok(payload) = serde_json::from_slice::<Value>(&raw) else {
            return (47001, None);
        };
        let Some(touser) = payload["touser"].as_str().filter(|s| !s.is_empty()) else {
            return (40003, None);
        };
        let Some(template_id) = payload["template_id"].as_str().filter(|s| !s.is_empty()) else {
            return (40037, None);
        };
        let Some(fields) = payload["data"].as_object().filter(|d| !d.is_empty()) else {
            return (47003, None);
        };
        let mut data = BTreeMap::new();
        for (name, field) in fields {
            // Every field is {"value": "..."}, nothing else.
            let Some(value) = field
                .as_object()
                .filter(|f| f.len() == 1)
                .and_then(|f| f.get("value"))
                .and_then(Value::as_str)
            else {
                return (47003, None);
            };
            data.insert(name.clone(), value.to_owned());
        }
        let page = match payload.get("page") {
            None => None,
            Some(Value::String(page)) => Some(page.clone()),
            Some(_) => return (47003, None),
        };
        let miniprogram_state = payload["miniprogram_state"].as_str().map(str::to_owned);
        if miniprogram_state
            .as_deref()
            .is_some_and(|s| !matches!(s, "developer" | "trial" | "formal"))
        {
            return (47003, None);
        }
        let lang = payload["lang"].as_str().map(str::to_owned);
        if lang
            .as_deref()
            .is_some_and(|l| !matches!(l, "zh_CN" | "en_US" | "zh_HK" | "zh_TW"))
        {
            return (47003, None);
        }
        if let Some(code) = lock(&self.failures).take(touser) {
            return (code, None);
        }
        let mut sends = lock(&self.sends);
        let msgid = 2_944_022_981_100_519_420 + sends.len() as u64;
        sends.push(WechatSend {
            access_token: token,
            touser: touser.into(),
            template_id: template_id.into(),
            page,
            data,
            miniprogram_state,
            lang,
            msgid,
        });
        (0, Some(msgid))
    }
}

fn message_for(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40003 => "invalid openid",
        40037 => "invalid template_id",
        41001 => "access_token missing",
        42001 => "access_token expired",
        43002 => "require POST method",
        43101 => "user refuse to accept the msg",
        45009 => "reach max api daily quota limit",
        47001 => "data format error",
        47003 => "argument invalid!",
        _ => "programmed",
    }
}
