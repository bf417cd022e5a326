//! Where residents' login codes go: the configured SMS provider with its own `login_code`
//! template, or, when no SMS provider is configured (the embedded default), the log.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use courtyard_domain::{Clock, people::PhoneNumber, settings::SmsSettings};

use crate::{SendOutcome, SmsMessage, sms::SmsProvider};

/// The SMS template key of login codes (`notifications.sms.templates.login_code`).
pub const TEMPLATE: &str = "login_code";

/// Delivers a login code to a phone.
#[async_trait]
pub trait CodeSender: Send + Sync {
    /// Sends `code` to `phone`.
    async fn send_login_code(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()>;

    /// Whether codes really leave the server (false: they are only logged).
    fn delivers(&self) -> bool;
}

/// The sender the settings call for: SMS when a provider is configured, else the log.
pub fn from_settings(
    sms: Option<&SmsSettings>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn CodeSender>> {
    Ok(match sms {
        Some(settings) => Arc::new(SmsCodeSender::from_settings(settings, clock)?),
        None => Arc::new(LogCodeSender),
    })
}

/// Writes the code to the log instead of sending it: only when no SMS provider is
/// configured (the embedded default and the demo read codes from the log).
pub struct LogCodeSender;

#[async_trait]
impl CodeSender for LogCodeSender {
    async fn send_login_code(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()> {
        tracing::info!(
            channel = "log",
            phone = %phone.masked(),
            code,
            "login code (log provider: shown here instead of sent by SMS)"
        );
        Ok(())
    }

    fn delivers(&self) -> bool {
        false
    }
}

/// Sends login codes by SMS under the approved signature and `login_code` template, with
/// the code as the template's `code` parameter. The code itself is never logged.
pub struct SmsCodeSender {
    provider: SmsProvider,
    sign_name: String,
    template: String,
}

impl SmsCodeSender {
    /// The sender over the configured SMS provider; the `login_code` template is required.
    pub fn from_settings(settings: &SmsSettings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let template = settings.templates.get(TEMPLATE).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "notifications.sms.templates.login_code is required when an SMS provider is \
                 configured (residents log in with SMS codes)"
            )
        })?;
        Ok(Self {
            provider: SmsProvider::from_settings(settings, clock)?,
            sign_name: settings.sign_name.clone(),
            template,
        })
    }
}

#[async_trait]
impl CodeSender for SmsCodeSender {
    async fn send_login_code(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()> {
        let message = SmsMessage {
            phone: phone.as_str().to_owned(),
            template: self.template.clone(),
            sign_name: self.sign_name.clone(),
            params: BTreeMap::from([("code".to_owned(), code.to_owned())]),
        };
        match self.provider.send(&message).await {
            SendOutcome::Sent { provider_id } => {
                tracing::info!(
                    provider = self.provider.name(),
                    phone = %phone.masked(),
                    provider_id = provider_id.as_deref().unwrap_or(""),
                    "login code sent by SMS"
                );
                Ok(())
            }
            SendOutcome::InvalidRecipient { reason }
            | SendOutcome::Retry { reason, .. }
            | SendOutcome::Unavailable { reason, .. }
            | SendOutcome::Failed { reason } => anyhow::bail!(
                "{} did not accept the login code SMS to {}: {reason}",
                self.provider.name(),
                phone.masked()
            ),
        }
    }

    fn delivers(&self) -> bool {
        true
    }
}
