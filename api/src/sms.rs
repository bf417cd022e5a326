//! Where login codes go. The embedded default logs them (the README's demo reads them from
//! the log); the SMS providers of the notification pipeline plug in behind the same trait.

use async_trait::async_trait;
use courtyard_domain::people::PhoneNumber;

/// Delivers a login code to a phone.
#[async_trait]
pub trait CodeSender: Send + Sync {
    /// Sends `code` to `phone`.
    async fn send_login_code(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()>;
}

/// Writes the code to the log instead of sending it: for the embedded default only.
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
}
