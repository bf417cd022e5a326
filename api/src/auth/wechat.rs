//! WeChat mini-program `code2session`: turns a `wx.login()` code into the user's openid.

use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::{error::ApiError, state::AppState};

#[derive(Deserialize)]
struct Code2Session {
    openid: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Calls `GET {base}/sns/jscode2session` and returns the openid.
pub async fn code_to_openid(state: &AppState, code: &str) -> Result<String, ApiError> {
    let settings = &state.settings.wechat;
    let (Some(app_id), Some(secret)) = (&settings.app_id, &settings.app_secret) else {
        return Err(ApiError::Unavailable(
            "WeChat login is not configured on this server".into(),
        ));
    };
    let url = format!(
        "{}/sns/jscode2session",
        settings.base_url.trim_end_matches('/')
    );
    let response = state
        .http
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
            ApiError::Unavailable("WeChat is unreachable; try again shortly".into())
        })?;
    if !response.status().is_success() {
        tracing::warn!(status = %response.status(), "code2session failed");
        return Err(ApiError::Unavailable(
            "WeChat is unavailable; try again shortly".into(),
        ));
    }
    let body: Code2Session = response.json().await.map_err(|e| {
        tracing::warn!(error = %e.without_url(), "code2session answered something unreadable");
        ApiError::Unavailable("WeChat answered something unexpected".into())
    })?;
    match (body.errcode, body.openid) {
        (0, Some(openid)) if !openid.is_empty() => Ok(openid),
        (40029 | 40163 | 40226, _) => Err(ApiError::Unauthorized(
            "the WeChat login code is invalid or used".into(),
        )),
        (45011, _) => Err(ApiError::TooManyRequests {
            detail: "WeChat is rate limiting logins".into(),
            retry_after: 60,
        }),
        (errcode, _) => {
            tracing::warn!(errcode, errmsg = %body.errmsg, "code2session error");
            Err(ApiError::Unavailable(
                "WeChat refused the login; try again shortly".into(),
            ))
        }
    }
}
