//! Communities as recently read.

use sea_orm::DatabaseConnection;

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
