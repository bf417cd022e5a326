//! WeChat mini-program login: `code2session` through the provider client, its failures as
//! problems.

use courtyard_providers::wechat_login::{Code2SessionError, code_to_openid as code2session};

use crate::{error::ApiError, state::AppState};

/// The openid behind a `wx.login()` code.
pub async fn code_to_openid(state: &AppState, code: &str) -> Result<String, ApiError> {
    code2session(&state.http, &state.settings.wechat, code)
        .await
        .map_err(|e| match e {
            Code2SessionError::NotConfigured => ApiError::Unavailable(e.to_string()),
            Code2SessionError::InvalidCode => ApiError::Unauthorized(e.to_string()),
            Code2SessionError::RateLimited => ApiError::TooManyRequests {
                detail: e.to_string(),
                retry_after: 60,
            },
            Code2SessionError::Unavailable(detail) => ApiError::Unavailable(detail.into()),
        })
}
