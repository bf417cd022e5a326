//! The outbox write: a job row committed in the same transaction as the business rows it
//! belongs to, so nothing accepted is lost when a worker or Redis dies.

use chrono::{DateTime, Utc};
use courtyard_domain::{entities::outbox_entry, jobs::OutboxJob, new_id};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};
use uuid::Uuid;

/// Writes `job` into the outbox, due at `available_at`; returns the row's id.
pub async fn enqueue<J: OutboxJob>(
    conn: &impl ConnectionTrait,
    job: &J,
    available_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Uuid, DbErr> {
    let id = new_id();
    let payload = serde_json::to_value(job)
        .map_err(|e| DbErr::Custom(format!("encoding the {} job: {e}", J::KIND)))?;
    outbox_entry::ActiveModel {
        id: Set(id),
        kind: Set(J::KIND.into()),
        payload: Set(payload),
        available_at: Set(available_at),
        created_at: Set(now),
        relayed_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(id)
}
