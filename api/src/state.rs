//! What every handler shares: the database, settings, clock, token keys and providers.

use std::{net::IpAddr, sync::Arc};

use courtyard_domain::{Clock, Settings};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::{
    auth::tokens::TokenKeys, limits::FixedWindowLimiter, photos::PhotoStore, sms::CodeSender,
};

/// Communities as recently read: every report needs its community's time zone, hours and
/// policy, which change rarely. Entries live [`CommunityCache::TTL`]; this process forgets
/// a community at once when it changes it, other processes within the TTL.
#[derive(Default)]
pub struct CommunityCache(
    std::sync::Mutex<
        std::collections::HashMap<
            uuid::Uuid,
            (
                std::time::Instant,
                courtyard_domain::entities::community::Model,
            ),
        >,
    >,
);

impl CommunityCache {
    /// How long an entry is trusted.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    /// A community, from the cache or the database.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        id: uuid::Uuid,
    ) -> Result<Option<courtyard_domain::entities::community::Model>, sea_orm::DbErr> {
        use sea_orm::EntityTrait;
        if let Some((at, row)) = self.lock().get(&id)
            && at.elapsed() < Self::TTL
        {
            return Ok(Some(row.clone()));
        }
        let row = courtyard_domain::entities::community::Entity::find_by_id(id)
            .one(db)
            .await?;
        if let Some(row) = &row {
            self.lock()
                .insert(id, (std::time::Instant::now(), row.clone()));
        }
        Ok(row)
    }

    /// Forgets a community this process changed.
    pub fn forget(&self, id: uuid::Uuid) {
        self.lock().remove(&id);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<
            uuid::Uuid,
            (
                std::time::Instant,
                courtyard_domain::entities::community::Model,
            ),
        >,
    > {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

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
    /// Per-IP limit on public endpoints.
    pub public_limiter: FixedWindowLimiter<IpAddr>,
    /// Recently read communities.
    pub communities: CommunityCache,
    /// Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// Where ticket photos' bytes are kept.
    pub photos: Arc<dyn PhotoStore>,
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
