//! Local Aliyun and Tencent Cloud SMS APIs that check what the real ones check: they
//! recompute the request signature from what arrived on the wire (so a client that signs
//! one thing and sends another fails here as it would in production), reject stale
//! timestamps and reused nonces, validate the parameters, record every accepted send, and
//! answer programmed error codes per phone number.
//!
//! The signature checks are written from the providers' documentation, independently of
//! the client in `courtyard-workers`, so a shared misunderstanding cannot pass unnoticed.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, NaiveDateTime, Utc};
use courtyard_domain::Clock;
use hmac::{Hmac, Mac};
use poem::{Request, Response, Route, endpoint::make, http::StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{Programme, Running, serve, system_clock};

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json;charset=utf-8")
        .body(body.to_string())
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form body).
fn form_pairs(encoded: &str) -> Vec<(String, String)> {
    let Ok(url) = reqwest::Url::parse(&format!("http://mock/?{encoded}")) else {
        return Vec::new();
    };
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A mainland mobile number: 11 digits starting with 1.
fn is_mainland_mobile(number: &str) -> bool {
    number.len() == 11 && number.starts_with('1') && number.bytes().all(|b| b.is_ascii_digit())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------
// Aliyun
// ---------------------------------------------------------------------------------------

/// One `SendSms` the Aliyun mock accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct AliyunSend {
    /// HTTP method used.
    pub method: String,
    /// `PhoneNumbers`.
    pub phone_numbers: String,
    /// `SignName`.
    pub sign_name: String,
    /// `TemplateCode`.
    pub template_code: String,
    /// `TemplateParam`, parsed.
    pub template_param: Option<Value>,
    /// `Timestamp` as sent.
    pub timestamp: String,
    /// `SignatureNonce`.
    pub nonce: String,
    /// The `BizId` answered.
    pub biz_id: String,
}

/// A local Dysmsapi (`SendSms`, RPC signature v1).
pub struct MockAliyun {
    state: Arc<AliyunState>,
    running: Running,
}

struct AliyunState {
    access_key_id: String,
    secret: String,
    clock: Arc<dyn Clock>,
    nonces: Mutex<HashSet<String>>,
    sends: Mutex<Vec<AliyunSend>>,
    answers: Mutex<Vec<String>>,
    failures: Mutex<Programme<String>>,
}

impl MockAliyun {
    /// Starts a mock knowing one AccessKey that judges timestamps by the wall clock.
    pub async fn start(access_key_id: &str, secret: &str) -> Self {
        Self::start_with_clock(access_key_id, secret, system_clock()).await
    }

    /// Starts a mock that judges timestamps by `clock` (share the client's test clock).
    pub async fn start_with_clock(
        access_key_id: &str,
        secret: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let state = Arc::new(AliyunState {
            access_key_id: access_key_id.into(),
            secret: secret.into(),
            clock,
            nonces: Mutex::default(),
            sends: Mutex::default(),
            answers: Mutex::default(),
            failures: Mutex::default(),
        });
        let handler = state.clone();
        let route = Route::new().at(
            "/",
            make(move |req| {
                let state = handler.clone();
                async move { state.handle(req).await }
            }),
        );
        let running = serve(route).await;
        Self { state, running }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// Answers every later request for `phone` (11 digits, after the checks Aliyun makes
    /// itself) with `code`: `isv.*`, `isp.*`, `Throttling.User`, ...
    /// (`isv.BUSINESS_LIMIT_CONTROL` comes with the minute-level message).
    pub fn fail_phone(&self, phone: &str, code: &str) {
        lock(&self.state.failures).set(phone, code.to_owned(), None);
    }

    /// As [`fail_phone`](Self::fail_phone), for the next `times` requests only.
    pub fn fail_phone_times(&self, phone: &str, times: usize, code: &str) {
        lock(&self.state.failures).set(phone, code.to_owned(), Some(times));
    }

    /// The sends accepted, oldest first.
    pub fn sends(&self) -> Vec<AliyunSend> {
        lock(&self.state.sends).clone()
    }

    /// The `Code` of every answer given, oldest first.
    pub fn answers(&self) -> Vec<String> {
        lock(&self.state.answers).clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.answers().len()
    }
}

impl AliyunState {
    async fn handle(&self, req: Request) -> Response {
        let method = req.method().as_str().to_owned();
        let is_form = req
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let mut params = BTreeMap::new();
        let mut duplicate = false;
        let query = req.uri().query().unwrap_or_default().to_owned();
        let body = req.into_body().into_bytes().await.unwrap_or_default();
        let mut pairs = form_pairs(&query);
        if is_form {
            pairs.extend(form_pairs(&String::from_utf8_lossy(&body)));
        }
        for (k, v) in pairs {
            duplicate |= params.insert(k, v).is_some();
        }
        let xml = params
            .get("Format")
            .is_none_or(|f| !f.eq_ignore_ascii_case("JSON"));
        let (status, answer) = if duplicate {
            error(400, "InvalidParameter", "a parameter was given twice")
        } else {
            match self.check(&method, params) {
                Ok(answer) => answer,
                Err(error) => error,
            }
        };
        let code = answer["Code"].as_str().unwrap_or_default().to_owned();
        lock(&self.answers).push(code.clone());
        if xml {
            // Aliyun answers XML unless asked for JSON.
            return Response::builder()
                .status(status)
                .content_type("text/xml;charset=utf-8")
                .body(format!(
                    "<?xml version='1.0' encoding='UTF-8'?><SendSmsResponse><Code>{code}</Code>\
                     </SendSmsResponse>"
                ));
        }
        json_response(status, &answer)
    }

    fn check(
        &self,
        method: &str,
        mut params: BTreeMap<String, String>,
    ) -> Result<(StatusCode, Value), (StatusCode, Value)> {
        for name in [
            "AccessKeyId",
            "Action",
            "Signature",
            "SignatureMethod",
            "SignatureNonce",
            "SignatureVersion",
            "Timestamp",
            "Version",
        ] {
            if params.get(name).is_none_or(String::is_empty) {
                return Err(error(400, &format!("Missing{name}"), "missing parameter"));
            }
        }
        if params["Action"] != "SendSms" {
            return Err(error(404, "InvalidAction.NotFound", "no such action"));
        }
        if params["Version"] != "2017-05-25" {
            return Err(error(400, "InvalidVersion", "no such version"));
        }
        if params["SignatureMethod"] != "HMAC-SHA1" {
            return Err(error(400, "InvalidSignatureMethod", "HMAC-SHA1 only"));
        }
        if params["SignatureVersion"] != "1.0" {
            return Err(error(400, "InvalidSignatureVersion", "1.0 only"));
        }
        let Ok(timestamp) =
            NaiveDateTime::parse_from_str(&params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        else {
            return Err(error(
                400,
                "InvalidTimeStamp.Format",
                "Timestamp must be ISO 8601 UTC, yyyy-MM-ddTHH:mm:ssZ",
            ));
        };
        let skew = (self.clock.now() - timestamp.and_utc()).num_seconds().abs();
        if skew > 15 * 60 {
            return Err(error(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        if params["AccessKeyId"] != self.access_key_id {
            return Err(error(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        }
        let received = params.remove("Signature").unwrap_or_default();
        let string_to_sign = aliyun_string_to_sign(method, &params);
        let mut mac = Hmac::<Sha1>::new_from_slice(format!("{}&", self.secret).as_bytes())
            .expect("any key length");
        mac.update(string_to_sign.as_bytes());
        if BASE64.encode(mac.finalize().into_bytes()) != received {
            return Err(error(
                400,
                "SignatureDoesNotMatch",
                &format!(
                    "Specified signature is not matched with our calculation. server string \
                     to sign is:{string_to_sign}"
                ),
            ));
        }
        let nonce = params["SignatureNonce"].clone();
        if !lock(&self.nonces).insert(nonce.clone()) {
            return Err(error(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        for name in ["PhoneNumbers", "SignName", "TemplateCode"] {
            if params.get(name).is_none_or(String::is_empty) {
                return Err(error(400, &format!("Missing{name}"), "missing parameter"));
            }
        }
        let template_param = match params.get("TemplateParam") {
            None => None,
            Some(raw) => match serde_json::from_str::<Value>(raw) {
                Ok(value @ Value::Object(_)) => Some(value),
                _ => return Err(error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法")),
            },
        };
        let phone_numbers = params["PhoneNumbers"].clone();
        for number in phone_numbers.split(',') {
            if !is_mainland_mobile(number) {
                return Err(error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"));
            }
            if let Some(code) = lock(&self.failures).take(number) {
                let (status, message) = match code.as_str() {
                    "isv.BUSINESS_LIMIT_CONTROL" => (200, "触发分钟级流控Permits:1"),
                    "Throttling.User" => (400, "Request was denied due to user flow control."),
                    c if c.starts_with("isv.") || c.starts_with("isp.") => (200, "programmed"),
                    _ => (503, "programmed"),
                };
                return Err(error(status, &code, message));
            }
        }
        let mut sends = lock(&self.sends);
        let biz_id = format!("{}^0", 900_000_000_000_u64 + sends.len() as u64);
        sends.push(AliyunSend {
            method: method.into(),
            phone_numbers,
            sign_name: params["SignName"].clone(),
            template_code: params["TemplateCode"].clone(),
            template_param,
            timestamp: params["Timestamp"].clone(),
            nonce,
            biz_id: biz_id.clone(),
        });
        Ok((
            StatusCode::OK,
            json!({
                "Code": "OK",
                "Message": "OK",
                "BizId": biz_id,
                "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
            }),
        ))
    }
}

fn error(status: u16, code: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({
            "Code": code,
            "Message": message,
            "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
            "HostId": "dysmsapi.aliyuncs.com",
        }),
    )
}

/// Aliyun's POP encoding: RFC 3986 unreserved characters kept, all else `%XX` upper case.
fn aliyun_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn aliyun_string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{}={}", aliyun_encode(k), aliyun_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&%2F&{}", aliyun_encode(&canonical))
}

// ---------------------------------------------------------------------------------------
// Tencent Cloud
// ---------------------------------------------------------------------------------------

/// One `SendSms` the Tencent mock accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct TencentSend {
    /// `PhoneNumberSet` as sent.
    pub phone_numbers: Vec<String>,
    /// `SmsSdkAppId`.
    pub sdk_app_id: String,
    /// `SignName`.
    pub sign_name: String,
    /// `TemplateId`.
    pub template_id: String,
    /// `TemplateParamSet`, in order.
    pub template_params: Vec<String>,
    /// `X-TC-Region`.
    pub region: String,
    /// `X-TC-Timestamp`.
    pub timestamp: i64,
}

/// A local Tencent Cloud SMS API (`SendSms` 2021-01-11, TC3-HMAC-SHA256).
pub struct MockTencent {
    state: Arc<TencentState>,
    running: Running,
}

struct TencentState {
    secret_id: String,
    secret_key: String,
    clock: Arc<dyn Clock>,
    sends: Mutex<Vec<TencentSend>>,
    answers: Mutex<Vec<String>>,
    failures: Mutex<Programme<String>>,
}

impl MockTencent {
    /// Starts a mock knowing one SecretId/SecretKey that judges timestamps by the wall clock.
    pub async fn start(secret_id: &str, secret_key: &str) -> Self {
        Self::start_with_clock(secret_id, secret_key, system_clock()).await
    }

    /// Starts a mock that judges timestamps by `clock` (share the client's test clock).
    pub async fn start_with_clock(
        secret_id: &str,
        secret_key: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let state = Arc::new(TencentState {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            clock,
            sends: Mutex::default(),
            answers: Mutex::default(),
            failures: Mutex::default(),
        });
        let handler = state.clone();
        let route = Route::new().at(
            "/",
            make(move |req| {
                let state = handler.clone();
                async move { state.handle(req).await }
            }),
        );
        let running = serve(route).await;
        Self { state, running }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// Answers every later request for `phone` (11 digits, after the signature checks)
    /// with `code`. Per-number codes (`LimitExceeded.*`, `*PhoneNumber*`) go in
    /// `SendStatusSet`; the rest (`AuthFailure.*`, `InternalError.*`,
    /// `RequestLimitExceeded`, ...) in `Response.Error`.
    pub fn fail_phone(&self, phone: &str, code: &str) {
        lock(&self.state.failures).set(phone, code.to_owned(), None);
    }

    /// As [`fail_phone`](Self::fail_phone), for the next `times` requests only.
    pub fn fail_phone_times(&self, phone: &str, times: usize, code: &str) {
        lock(&self.state.failures).set(phone, code.to_owned(), Some(times));
    }

    /// The sends accepted, oldest first.
    pub fn sends(&self) -> Vec<TencentSend> {
        lock(&self.state.sends).clone()
    }

    /// The code of every answer given (`Ok`, per-number or request error), oldest first.
    pub fn answers(&self) -> Vec<String> {
        lock(&self.state.answers).clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.answers().len()
    }
}

impl TencentState {
    async fn handle(&self, req: Request) -> Response {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let headers = req.headers().clone();
        let body = req.into_body().into_bytes().await.unwrap_or_default();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let (code, answer) = match self.check(&method, &path, &query, &header, &body) {
            Ok((code, response)) => (code, response),
            Err((code, message)) => (
                code.clone(),
                json!({ "Error": { "Code": code, "Message": message } }),
            ),
        };
        lock(&self.answers).push(code);
        let mut response = answer;
        response["RequestId"] = json!(request_id);
        // Tencent answers 200 whatever happened; the code is in the body.
        json_response(StatusCode::OK, &json!({ "Response": response }))
    }

    fn check(
        &self,
        method: &str,
        path: &str,
        query: &str,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Result<(String, Value), (String, String)> {
        let fail = |code: &str, message: &str| Err((code.to_owned(), message.to_owned()));
        if method != "POST" {
            return fail("InvalidParameter", "only POST is served by this mock");
        }
        let Some(authorization) = header("authorization") else {
            return fail("AuthFailure.SignatureFailure", "Authorization missing");
        };
        let Some(fields) = authorization.strip_prefix("TC3-HMAC-SHA256 ") else {
            return fail("AuthFailure.InvalidAuthorization", "unknown algorithm");
        };
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for field in fields.split(',').map(str::trim) {
            match field.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {
                    return fail(
                        "AuthFailure.InvalidAuthorization",
                        "malformed Authorization",
                    );
                }
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return fail(
                "AuthFailure.InvalidAuthorization",
                "Authorization incomplete",
            );
        };
        let scope: Vec<&str> = credential.split('/').collect();
        let [secret_id, date, service, terminator] = scope[..] else {
            return fail("AuthFailure.InvalidAuthorization", "malformed Credential");
        };
        if service != "sms" || terminator != "tc3_request" {
            return fail("AuthFailure.InvalidAuthorization", "wrong credential scope");
        }
        if secret_id != self.secret_id {
            return fail("AuthFailure.SecretIdNotFound", "SecretId not found");
        }
        let Some(timestamp) = header("x-tc-timestamp").and_then(|t| t.parse::<i64>().ok()) else {
            return fail("MissingParameter", "X-TC-Timestamp missing");
        };
        if (self.clock.now().timestamp() - timestamp).abs() > 5 * 60 {
            return fail("AuthFailure.SignatureExpire", "signature expired");
        }
        let utc_date = DateTime::<Utc>::from_timestamp(timestamp, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        if date != utc_date {
            return fail(
                "AuthFailure.InvalidAuthorization",
                "Credential date must be the UTC date of X-TC-Timestamp",
            );
        }
        let names: Vec<&str> = signed_headers.split(';').collect();
        if !names.contains(&"content-type") || !names.contains(&"host") {
            return fail(
                "AuthFailure.InvalidAuthorization",
                "content-type and host must be signed",
            );
        }
        let mut canonical_headers = String::new();
        for name in &names {
            let Some(value) = header(name) else {
                return fail(
                    "AuthFailure.InvalidAuthorization",
                    "a signed header is missing",
                );
            };
            canonical_headers.push_str(&format!("{name}:{}\n", value.trim().to_lowercase()));
        }
        let canonical_request = format!(
            "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
            hex::encode(Sha256::digest(body))
        );
        let string_to_sign = format!(
            "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let key = hmac_sha256(
            format!("TC3{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let key = hmac_sha256(&key, service.as_bytes());
        let key = hmac_sha256(&key, b"tc3_request");
        if hex::encode(hmac_sha256(&key, string_to_sign.as_bytes())) != signature {
            return fail(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            );
        }
        if header("x-tc-action").as_deref() != Some("SendSms") {
            return fail("InvalidAction", "no such action");
        }
        if header("x-tc-version").as_deref() != Some("2021-01-11") {
            return fail("NoSuchVersion", "no such version");
        }
        let Some(region) = header("x-tc-region").filter(|r| !r.is_empty()) else {
            return fail("MissingParameter", "X-TC-Region missing");
        };
        if !header("content-type").is_some_and(|ct| ct.starts_with("application/json")) {
            return fail("InvalidParameter", "TC3 POST takes a JSON body");
        }
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return fail("InvalidParameter", "body is not JSON");
        };
        let strings = |name: &str| -> Option<Vec<String>> {
            payload[name]
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let text = |name: &str| payload[name].as_str().filter(|s| !s.is_empty());
        let Some(phone_numbers) = strings("PhoneNumberSet").filter(|p| !p.is_empty()) else {
            return fail("MissingParameter", "PhoneNumberSet");
        };
        let (Some(sdk_app_id), Some(sign_name), Some(template_id)) =
            (text("SmsSdkAppId"), text("SignName"), text("TemplateId"))
        else {
            return fail("MissingParameter", "SmsSdkAppId, SignName and TemplateId");
        };
        let template_params = match payload.get("TemplateParamSet") {
            None => Vec::new(),
            Some(_) => match strings("TemplateParamSet") {
                Some(params) => params,
                None => return fail("InvalidParameter", "TemplateParamSet holds strings"),
            },
        };
        let mut statuses = Vec::new();
        let mut codes = Vec::new();
        for number in &phone_numbers {
            let national = number
                .strip_prefix("+86")
                .or_else(|| number.strip_prefix("86").filter(|n| n.len() == 11))
                .unwrap_or(number);
            let code = if !is_mainland_mobile(national) {
                "InvalidParameterValue.IncorrectPhoneNumber".to_owned()
            } else {
                match lock(&self.failures).take(national) {
                    Some(code)
                        if code.contains("PhoneNumber") || code.starts_with("LimitExceeded.") =>
                    {
                        code
                    }
                    Some(code) => return fail(&code, "programmed"),
                    None => "Ok".to_owned(),
                }
            };
            let serial_no = (code == "Ok").then(|| {
                format!(
                    "2028:{}",
                    6_000_000_000_u64 + lock(&self.sends).len() as u64
                )
            });
            statuses.push(json!({
                "SerialNo": serial_no.clone().unwrap_or_default(),
                "PhoneNumber": number,
                "Fee": i32::from(code == "Ok"),
                "SessionContext": "",
                "Code": code,
                "Message": if code == "Ok" { "send success" } else { "programmed" },
                "IsoCode": "CN",
            }));
            if code == "Ok" {
                lock(&self.sends).push(TencentSend {
                    phone_numbers: phone_numbers.clone(),
                    sdk_app_id: sdk_app_id.into(),
                    sign_name: sign_name.into(),
                    template_id: template_id.into(),
                    template_params: template_params.clone(),
                    region: region.clone(),
                    timestamp,
                });
            }
            codes.push(code);
        }
        Ok((codes.join(","), json!({ "SendStatusSet": statuses })))
    }
}
