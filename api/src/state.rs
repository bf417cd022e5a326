//! What every handler shares: the database, settings, clock, token keys and providers.

use std::{net::IpAddr, sync::Arc};

use courtyard_domain::{Clock, Settings};
use courtyard_providers::{login_codes::CodeSender, wechat_pay::Gateway};
use courtyard_store::photos::PhotoStore;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::{auth::tokens::TokenKeys, limits::FixedWindowLimiter};

pub use courtyard_store::communities::CommunityCache;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Configuration.
    pub settings: Settings,
    /// The current time.
    pub clock: Arc<dyn Clock>,
    /// Access-token signing keys.
    pub tokens: TokenKeys,
    /// Where login codes go.
    pub code_sender: Arc<dyn CodeSender>,
    /// Redis, when configured.
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Outbound HTTP (WeChat).
    pub http: reqwest::Client,
    /// Per-IP limit on public endpoints (this process's; Redis's when configured).
    pub public_limiter: FixedWindowLimiter<IpAddr>,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub proxies: crate::client_ip::ProxyTrust,
    /// Recently read communities.
    pub communities: CommunityCache,
    /// Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// Where ticket photos' bytes are kept.
    pub photos: Arc<dyn PhotoStore>,
    /// Online payments: WeChat Pay or the dev provider.
    pub payments: Arc<Gateway>,
    /// The notification channels' circuit breakers of this process's workers (all closed
    /// when the workers run elsewhere: theirs are read from Redis).
    pub circuits: Arc<courtyard_domain::circuits::Circuits>,
    /// Staff reads of personal data on their way to the audit trail.
    pub reads: crate::audit::ReadTrail,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
