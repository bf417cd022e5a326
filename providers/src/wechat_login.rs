//! WeChat mini-program `code2session`: turns a `wx.login()` code into the user's openid.

use secrecy::ExposeSecret;
use serde::Deserialize;

use courtyard_domain::settings::WechatSettings;

/// Why `code2session` gave no openid.
#[derive(Debug, thiserror::Error)]
pub enum Code2SessionError {
    /// No app id or secret configured.
    #[error("WeChat login is not configured on this server")]
    NotConfigured,
    /// The code is invalid, expired or used (errcode 40029, 40163, 40226).
    #[error("the WeChat login code is invalid or used")]
    InvalidCode,
    /// WeChat is rate limiting (errcode 45011).
    #[error("WeChat is rate limiting logins")]
    RateLimited,
    /// Unreachable, an HTTP error, an unreadable answer or another errcode.
    #[error("{0}")]
    Unavailable(&'static str),
}

#[derive(Deserialize)]
struct Code2Session {
    openid: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Calls `GET {base}/sns/jscode2session` and returns the openid.
pub async fn code_to_openid(
    http: &reqwest::Client,
    settings: &WechatSettings,
    code: &str,
) -> Result<String, Code2SessionError> {
    let (Some(app_id), Some(secret)) = (&settings.app_id, &settings.app_secret) else {
        return Err(Code2SessionError::NotConfigured);
    };
    let url = format!(
        "{}/sns/jscode2session",
        settings.base_url.trim_end_matches('/')
    );
    let response = http
        .get(url)
        .query(&[
            ("appid", app_id.as_str()),
            ("secret", secret.expose_secret()),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e.without_url(), "code2session unreachable");
            Code2SessionError::Unavailable("WeChat is unreachable; try again shortly")
        })?;
    if !response.status().is_success() {
        tracing::warn!(status = %response.status(), "code2session failed");
        return Err(Code2SessionError::Unavailable(
            "WeChat is unavailable; try again shortly",
        ));
    }
    let body: Code2Session = response.json().await.map_err(|e| {
        tracing::warn!(error = %e.without_url(), "code2session answered something unreadable");
        Code2SessionError::Unavailable("WeChat answered something unexpected")
    })?;
    match (body.errcode, body.openid) {
        (0, Some(openid)) if !openid.is_empty() => Ok(openid),
        (40029 | 40163 | 40226, _) => Err(Code2SessionError::InvalidCode),
        (45011, _) => Err(Code2SessionError::RateLimited),
        (errcode, _) => {
            tracing::warn!(errcode, errmsg = %body.errmsg, "code2session error");
            Err(Code2SessionError::Unavailable(
                "WeChat refused the login; try again shortly",
            ))
        }
    }
}
