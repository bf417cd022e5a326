//! Monthly package visits, run by the scheduler every tick: a paid package month's visit is
//! issued as a booking of its own (the work order to the team's leader, the resident told)
//! when it is the community's `visit_issue_days` away (default 2); a month left unpaid past
//! the payment window is cancelled, its places given back; a month that is over ends, and
//! what it did not use lapses. Every write is conditional (a visit is claimed by its id with
//! no booking yet), so two workers, or a retried tick, issue each visit once.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{Duration, Utc};
use courtyard_domain::{
    entities::{community, service, service_package, service_slot, service_team},
    fees::bills::Period,
    services::ServicePolicy,
    tickets::{Clock, rules_of},
};
use courtyard_store::bookings::packages::{self as store, PackageCancel, Visit};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::pipeline::Pipeline;

/// The job's name in logs.
pub const NAME: &str = "package_visits";
/// Visits (and unpaid months) looked at per tick.
const BATCH: u64 = 200;
/// The longest a policy issues ahead: nothing later is due.
const LONGEST_DAYS: i64 = 14;
/// The shortest payment window a policy allows.
const SHORTEST_MINUTES: i64 = 5;

/// Issues the visits due, cancels unpaid months, ends finished ones; returns how many
/// visits it issued and months it cancelled or ended.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let mut done = 0;
    let mut communities: HashMap<Uuid, community::Model> = HashMap::new();
    let mut packages: HashMap<Uuid, Option<service_package::Model>> = HashMap::new();
    let due = store::due_visits(&p.db, now, now + Duration::days(LONGEST_DAYS), BATCH)
        .await
        .context("loading due visits")?;
    for v in due {
        let package = match packages.get(&v.package_id) {
            Some(p) => p.clone(),
            None => {
                let row = service_package::Entity::find_by_id(v.package_id)
                    .one(&p.db)
                    .await?;
                // Only a paid month's visits are issued.
                let row = match row {
                    Some(r) if store::paid(&p.db, &r).await? => Some(r),
                    _ => None,
                };
                packages.insert(v.package_id, row.clone());
                row
            }
        };
        let Some(package) = package else { continue };
        let community = community_of(p, &mut communities, package.community_id).await?;
        let policy = ServicePolicy::from_stored(community.service_policy.as_ref());
        if v.starts_at > now + Duration::days(i64::from(policy.visit_issue_days)) {
            continue;
        }
        let (tickets, hours, tz) = rules_of(&community).map_err(|e| anyhow::anyhow!(e.0))?;
        let Some(slot) = service_slot::Entity::find_by_id(v.slot_id)
            .one(&p.db)
            .await?
        else {
            continue;
        };
        let Some(team) = service_team::Entity::find_by_id(package.team_id)
            .one(&p.db)
            .await?
        else {
            continue;
        };
        let category = service::Entity::find_by_id(package.service_id)
            .one(&p.db)
            .await?
            .map_or_else(|| "cleaning".to_owned(), |s| s.category);
        let clocks: Vec<Clock> = policy
            .work_clocks(now, (slot.starts_at, slot.ends_at), &hours, tz)
            .iter()
            .map(|c| Clock::spanning(c.kind, c.started_at, c.due_at, &tickets))
            .collect();
        let issued = store::issue(
            &p.db,
            Visit {
                package: &package,
                visit: &v,
                team: &team,
                category: &category,
                ends_at: slot.ends_at,
                clocks: &clocks,
            },
            now,
        )
        .await
        .context("issuing a package visit")?;
        if let Some(id) = issued {
            tracing::info!(package = %package.id, visit = v.position, booking = %id, "package visit issued");
            done += 1;
        }
    }
    done += expire_unpaid(p, &mut communities).await?;
    // A month is over once it is over everywhere (UTC is behind every community's clock
    // here); what it did not use lapses.
    let this = Period::of(now.with_timezone(&Utc).date_naive());
    done += store::end_before(&p.db, &this.to_string(), now).await? as usize;
    Ok(done)
}

async fn community_of(
    p: &Pipeline,
    cache: &mut HashMap<Uuid, community::Model>,
    id: Uuid,
) -> anyhow::Result<community::Model> {
    if let Some(c) = cache.get(&id) {
        return Ok(c.clone());
    }
    let c = community::Entity::find_by_id(id)
        .one(&p.db)
        .await?
        .context("the package's community")?;
    cache.insert(id, c.clone());
    Ok(c)
}

/// Cancels the months whose bill was left unpaid past the community's payment window.
async fn expire_unpaid(
    p: &Pipeline,
    communities: &mut HashMap<Uuid, community::Model>,
) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let candidates = store::unpaid_before(&p.db, now - Duration::minutes(SHORTEST_MINUTES), BATCH)
        .await
        .context("loading unpaid package months")?;
    let mut cancelled = 0;
    for pkg in candidates {
        let community = community_of(p, communities, pkg.community_id).await?;
        let window = i64::from(
            ServicePolicy::from_stored(community.service_policy.as_ref()).pay_within_minutes,
        );
        if pkg.created_at + Duration::minutes(window) > now {
            continue;
        }
        let Some(bill_id) = pkg.bill_id else { continue };
        let note = format!("订购后 {window} 分钟内未支付，已自动取消");
        match store::cancel(
            &p.db,
            &pkg,
            PackageCancel {
                cancel_bill: Some((bill_id, None, note)),
                refund: None,
                audit: None,
            },
            now,
        )
        .await
        {
            Ok(Some(_)) => {
                tracing::info!(package = %pkg.id, "unpaid package month cancelled");
                cancelled += 1;
            }
            // Cancelled, or being paid, meanwhile.
            Ok(None) | Err(store::PackageError::Book(_)) => {}
            Err(e) => {
                tracing::warn!(package = %pkg.id, error = ?e, "could not cancel an unpaid package month")
            }
        }
    }
    Ok(cancelled)
}
