//! Booking expiry, run by the scheduler every tick: a booking paid at booking holds its slot's
//! place only for its community's payment window (`pay_within_minutes`, default 30); one still
//! unpaid after it is cancelled by the workers, its place given back and its bill cancelled,
//! and the resident told. A bill held by a payment in progress waits for that payment to be
//! settled or ended (the reconciliation job does it); a booking paid meanwhile is left alone,
//! since every write is conditional on the state that was read.

use anyhow::Context;
use chrono::Duration;
use courtyard_domain::{entities::community, services::ServicePolicy};
use courtyard_store::bookings as store;
use sea_orm::EntityTrait;

use crate::pipeline::Pipeline;

/// The job's name in logs.
pub const NAME: &str = "booking_expiry";
/// Bookings looked at per tick.
const BATCH: u64 = 200;
/// The shortest payment window a policy allows: nothing younger can have expired.
const SHORTEST: i64 = 5;

/// Cancels the bookings whose payment window passed; returns how many.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let candidates = store::unpaid_before(&p.db, now - Duration::minutes(SHORTEST), BATCH)
        .await
        .context("loading unpaid bookings")?;
    let mut expired = 0;
    let mut policies = std::collections::HashMap::new();
    for b in candidates {
        let policy = match policies.get(&b.community_id) {
            Some(policy) => policy,
            None => {
                let stored = community::Entity::find_by_id(b.community_id)
                    .one(&p.db)
                    .await?
                    .and_then(|c| c.service_policy);
                policies
                    .entry(b.community_id)
                    .or_insert_with(|| ServicePolicy::from_stored(stored.as_ref()))
            }
        };
        let window = i64::from(policy.pay_within_minutes);
        if b.created_at + Duration::minutes(window) > now {
            continue;
        }
        let note = format!("预约后 {window} 分钟内未支付，已自动取消");
        if store::expire_unpaid(&p.db, &b, &note, now).await? {
            tracing::info!(booking = %b.ticket_id, "unpaid booking cancelled");
            expired += 1;
        }
    }
    Ok(expired)
}
