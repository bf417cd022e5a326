//! Notice fan-out: resolves the audience (community, buildings, units, households) to
//! residents and writes, in batches, one inbox message per resident and one delivery per
//! channel and device the resident can be reached on (or a `suppressed` row where their
//! preferences say no), then enqueues the sends. Idempotent: messages and deliveries have
//! unique dedupe keys, so a re-run adds nothing and only re-enqueues what is still pending.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Context;
use chrono_tz::Tz;
use courtyard_domain::{
    entities::{
        building, community, delivery, device, household, household_member, message, notice,
        notification_preference, resident, unit,
    },
    new_id,
    notifications::{
        Category, Channel, NoticeCategory, NoticeText, QuietHours, Reach, plan, render_notice,
    },
    org::Timezone,
    people::Locale,
};
use futures::TryStreamExt;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, QueryTrait,
    sea_query::{Expr, OnConflict},
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::pipeline::{CHUNK, Pipeline, send_job};

/// The job's name in logs.
pub const NAME: &str = "notice_fanout";
/// Residents per batch.
const BATCH: usize = 1_000;

/// The fan-out job's input.
#[derive(Debug, Deserialize)]
pub struct FanoutJob {
    /// The notice.
    pub notice_id: Uuid,
}

/// Who a notice is for; all empty means the whole community.
#[derive(Debug, Default, Deserialize, serde::Serialize, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Whole buildings.
    #[serde(default)]
    pub building_ids: Vec<Uuid>,
    /// Whole units.
    #[serde(default)]
    pub unit_ids: Vec<Uuid>,
    /// Single households.
    #[serde(default)]
    pub household_ids: Vec<Uuid>,
}

impl Audience {
    fn is_whole_community(&self) -> bool {
        self.building_ids.is_empty() && self.unit_ids.is_empty() && self.household_ids.is_empty()
    }
}

/// The households an audience covers, in one community.
pub async fn audience_households(
    p: &Pipeline,
    community_id: Uuid,
    audience: &Audience,
) -> anyhow::Result<Vec<household::Model>> {
    let mut query =
        household::Entity::find().filter(household::Column::CommunityId.eq(community_id));
    if !audience.is_whole_community() {
        query = query.filter(
            Condition::any()
                .add(household::Column::BuildingId.is_in(audience.building_ids.clone()))
                .add(household::Column::UnitId.is_in(audience.unit_ids.clone()))
                .add(household::Column::Id.is_in(audience.household_ids.clone())),
        );
    }
    Ok(query.all(&p.db).await?)
}

/// Fans one notice out.
pub async fn run(p: &Pipeline, job: &FanoutJob) -> anyhow::Result<()> {
    let Some(notice) = notice::Entity::find_by_id(job.notice_id).one(&p.db).await? else {
        tracing::warn!(notice = %job.notice_id, "notice gone; nothing to fan out");
        return Ok(());
    };
    if notice.status == "cancelled" {
        return Ok(());
    }
    let community = community::Entity::find_by_id(notice.community_id)
        .one(&p.db)
        .await?
        .context("notice community")?;
    let tz = Timezone::parse(&community.timezone)
        .map_err(|e| anyhow::anyhow!(e))?
        .tz();
    let notice_category =
        NoticeCategory::parse(&notice.category).map_err(|e| anyhow::anyhow!(e))?;
    let category = notice_category.category();
    let audience: Audience = serde_json::from_value(notice.audience.clone()).unwrap_or_default();
    let requested: BTreeSet<Channel> =
        serde_json::from_value::<Vec<String>>(notice.channels.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| Channel::parse(c).ok())
            .collect();
    notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value("sending"))
        .filter(notice::Column::Id.eq(notice.id))
        .filter(notice::Column::Status.eq("scheduled"))
        .exec(&p.db)
        .await?;

    tracing::warn!("TIMING fanout start");
    let households = audience_households(p, community.id, &audience).await?;
    let buildings: HashMap<Uuid, String> = building::Entity::find()
        .filter(building::Column::CommunityId.eq(community.id))
        .all(&p.db)
        .await?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    let units: HashMap<Uuid, String> = unit::Entity::find()
        .filter(unit::Column::CommunityId.eq(community.id))
        .all(&p.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let address: HashMap<Uuid, String> = households
        .iter()
        .map(|h| {
            let b = buildings.get(&h.building_id).map_or("", String::as_str);
            let u = units.get(&h.unit_id).map_or("", String::as_str);
            (h.id, format!("{b}{u}{}", h.room_number))
        })
        .collect();
    // Each resident once, addressed by their first household in the audience.
    let mut home: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    let household_ids: Vec<Uuid> = households.iter().map(|h| h.id).collect();
    for chunk in household_ids.chunks(CHUNK) {
        let members: Vec<(Uuid, Uuid)> = household_member::Entity::find()
            .select_only()
            .column(household_member::Column::ResidentId)
            .column(household_member::Column::HouseholdId)
            .filter(household_member::Column::HouseholdId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(&p.db)
            .await?;
        for (resident, household) in members {
            home.entry(resident).or_insert(household);
        }
    }
    let text = NoticeText {
        category: notice_category,
        title: &notice.title,
        body: &notice.body,
        reason: notice.reason.as_deref(),
        starts_at: notice.starts_at,
        restores_at: notice.restores_at,
    };
    let now = p.clock.now();
    let resident_ids: Vec<Uuid> = home.keys().copied().collect();
    let target = Target {
        community_id: community.id,
        notice_id: Some(notice.id),
        category,
        requested: &requested,
        tz,
    };
    tracing::warn!("TIMING preamble done");
    let compose = |r: &resident::Model| {
        let locale = Locale::parse(&r.locale).unwrap_or_default();
        let household = home[&r.id];
        let rendered = render_notice(&text, locale, &r.name, address.get(&household).map_or("", String::as_str), tz);
        Composed {
            dedupe_key: format!("notice:{}:{}", notice.id, r.id),
            title: rendered.title,
            body: rendered.body,
            data: json!({ "notice_id": notice.id.to_string(), "category": notice.category, "household_id": household.to_string() }),
        }
    };
    // Batches are independent (each resident is in one), so a few are written at once.
    futures::stream::iter(resident_ids.chunks(BATCH).map(anyhow::Ok))
        .try_for_each_concurrent(p.settings.fanout_concurrency.max(1), |batch| {
            deliver_batch(p, &target, batch, &compose)
        })
        .await?;

    notice::Entity::update_many()
        .col_expr(notice::Column::Status, Expr::value("sent"))
        .col_expr(notice::Column::SentAt, Expr::value(now))
        .col_expr(
            notice::Column::Targeted,
            Expr::value(resident_ids.len() as i32),
        )
        .filter(notice::Column::Id.eq(notice.id))
        .filter(notice::Column::Status.ne("cancelled"))
        .exec(&p.db)
        .await?;
    tracing::info!(notice = %notice.id, residents = resident_ids.len(), "notice fanned out");
    Ok(())
}

/// Where a batch of messages goes and what rules apply.
pub struct Target<'a> {
    /// The residents' community.
    pub community_id: Uuid,
    /// The notice the messages belong to, if any.
    pub notice_id: Option<Uuid>,
    /// Preference category.
    pub category: Category,
    /// Channels the sender asked for.
    pub requested: &'a BTreeSet<Channel>,
    /// The community's time zone (quiet hours).
    pub tz: Tz,
}

/// One resident's message, composed by the caller.
pub struct Composed {
    /// One message per purpose and resident: a second run adds nothing.
    pub dedupe_key: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// App data.
    pub data: serde_json::Value,
}

/// Writes one inbox message per resident and one delivery per channel and device they can
/// be reached on (or a `suppressed` row where their preferences say no), then enqueues the
/// sends. Idempotent through the dedupe keys of messages and deliveries.
pub async fn deliver_batch(
    p: &Pipeline,
    target: &Target<'_>,
    batch: &[Uuid],
    compose: impl Fn(&resident::Model) -> Composed,
) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let category = target.category;
    let mut residents = Vec::with_capacity(batch.len());
    let mut devices: HashMap<Uuid, Vec<device::Model>> = HashMap::new();
    let mut wanted: HashMap<Uuid, BTreeSet<Channel>> = HashMap::new();
    for chunk in batch.chunks(CHUNK) {
        residents.extend(
            resident::Entity::find()
                .filter(resident::Column::Id.is_in(chunk.iter().copied()))
                .all(&p.db)
                .await?,
        );
        tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING residents");
        for d in device::Entity::find()
            .filter(device::Column::OwnerKind.eq("resident"))
            .filter(device::Column::OwnerId.is_in(chunk.iter().copied()))
            .filter(device::Column::Active.eq(true))
            .all(&p.db)
            .await?
        {
            devices.entry(d.owner_id).or_default().push(d);
        }
        tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING devices");
        for pref in notification_preference::Entity::find()
            .filter(notification_preference::Column::ResidentId.is_in(chunk.iter().copied()))
            .filter(notification_preference::Column::Category.eq(category.as_str()))
            .all(&p.db)
            .await?
        {
            let channels = serde_json::from_value::<Vec<String>>(pref.channels).unwrap_or_default();
            wanted.insert(
                pref.resident_id,
                channels
                    .iter()
                    .filter_map(|c| Channel::parse(c).ok())
                    .collect(),
            );
        }
    }
    tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING loaded");
    let now = p.clock.now();
    let mut messages = Vec::with_capacity(residents.len());
    for r in &residents {
        let composed = compose(r);
        messages.push(message::Model {
            id: new_id(),
            resident_id: r.id,
            community_id: target.community_id,
            notice_id: target.notice_id,
            dedupe_key: composed.dedupe_key,
            category: category.as_str().into(),
            title: composed.title,
            body: composed.body,
            data: composed.data,
            created_at: now,
            read_at: None,
        });
    }
    tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING composed");
    let inserted = insert_returning_ids::<message::Entity>(
        p,
        messages.iter().cloned().map(IntoActiveModel::into_active_model).collect(),
        message::Column::DedupeKey,
    )
    .await?;
    let mut message_of: HashMap<Uuid, message::Model> = HashMap::with_capacity(messages.len());
    let mut existing = Vec::new();
    for m in messages {
        if inserted.contains(&m.id) {
            message_of.insert(m.resident_id, m);
        } else {
            existing.push(m.dedupe_key);
        }
    }
    // A re-run: these residents have their message from the first run.
    for chunk in existing.chunks(CHUNK) {
        for m in message::Entity::find()
            .filter(message::Column::DedupeKey.is_in(chunk.iter().cloned()))
            .all(&p.db)
            .await?
        {
            message_of.insert(m.resident_id, m);
        }
    }

    tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING messages inserted");
    // Each row with the resident and device its send job is built from.
    let mut deliveries: Vec<(delivery::Model, &resident::Model, Option<&device::Model>)> =
        Vec::with_capacity(residents.len());
    for r in &residents {
        let Some(message) = message_of.get(&r.id) else {
            continue;
        };
        let message_id = message.id;
        let own_devices = devices.get(&r.id).map(Vec::as_slice).unwrap_or_default();
        let reach = Reach {
            wanted: wanted.get(&r.id).cloned(),
            push_devices: own_devices.len(),
            wechat: r.wechat_openid.is_some(),
        };
        let planned = plan(category, target.requested, &reach);
        let due = match (r.quiet_start.as_deref(), r.quiet_end.as_deref()) {
            (Some(start), Some(end)) => QuietHours::parse(start, end)
                .map_or(now, |q| q.release_time(category, now, target.tz)),
            _ => now,
        };
        let row = |channel: &str, device_id: Option<Uuid>, key: String, status: &str| {
            delivery::Model {
                id: new_id(),
                message_id,
                resident_id: r.id,
                notice_id: target.notice_id,
                channel: channel.into(),
                device_id,
                dedupe_key: key,
                status: status.into(),
                attempts: 0,
                last_error: None,
                provider_id: None,
                created_at: now,
                updated_at: now,
                due_at: due,
                claimed_at: None,
                sent_at: None,
            }
        };
        for channel in &planned.send {
            match channel {
                Channel::Push => {
                    for d in own_devices {
                        let key = format!("{message_id}:{}:{}", d.provider, d.id);
                        deliveries.push((row(&d.provider, Some(d.id), key, "pending"), r, Some(d)));
                    }
                }
                other => {
                    let key = format!("{message_id}:{}:{}", other.as_str(), r.id);
                    deliveries.push((row(other.as_str(), None, key, "pending"), r, None));
                }
            }
        }
        for channel in &planned.suppressed {
            let key = format!("{message_id}:{}:suppressed", channel.as_str());
            deliveries.push((row(channel.as_str(), None, key, "suppressed"), r, None));
        }
    }
    tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING deliveries built");
    let inserted = insert_returning_ids::<delivery::Entity>(
        p,
        deliveries
            .iter()
            .map(|row| row.0.clone().into_active_model())
            .collect(),
        delivery::Column::DedupeKey,
    )
    .await?;
    // The rows this run wrote become send jobs straight from what is in hand.
    let mut jobs = Vec::with_capacity(inserted.len());
    for (d, r, device) in &deliveries {
        if d.status != "pending" || !inserted.contains(&d.id) {
            continue;
        }
        if let Some(job) = message_of
            .get(&r.id)
            .and_then(|message| send_job(d, message, r, *device))
        {
            jobs.push((job, d.due_at));
        }
    }
    tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING deliveries inserted");
    p.enqueue_jobs(jobs).await?;
    tracing::warn!(ms = t0.elapsed().as_millis() as u64, "TIMING enqueued");
    if inserted.len() < deliveries.len() {
        // A re-run: rows from the first run that are still pending get their jobs again.
        let message_ids: Vec<Uuid> = message_of.values().map(|m| m.id).collect();
        let mut pending = Vec::new();
        for chunk in message_ids.chunks(CHUNK) {
            pending.extend(
                delivery::Entity::find()
                    .select_only()
                    .column(delivery::Column::Id)
                    .filter(delivery::Column::MessageId.is_in(chunk.iter().copied()))
                    .filter(delivery::Column::Status.eq("pending"))
                    .into_tuple::<Uuid>()
                    .all(&p.db)
                    .await?,
            );
        }
        pending.retain(|id| !inserted.contains(id));
        p.enqueue_deliveries(&pending).await?;
    }
    Ok(())
}

/// Inserts rows, [`CHUNK`] to a statement, skipping those whose `key` already exists;
/// returns the ids of the rows it inserted.
async fn insert_returning_ids<E>(
    p: &Pipeline,
    rows: Vec<E::ActiveModel>,
    key: E::Column,
) -> anyhow::Result<HashSet<Uuid>>
where
    E: EntityTrait,
{
    let mut inserted = HashSet::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(CHUNK).collect();
        let mut insert = E::insert_many(batch)
            .on_conflict(OnConflict::column(key).do_nothing().to_owned())
            .into_query();
        insert.returning_col("id");
        for row in p.db.query_all(&insert).await.context("batch insert")? {
            inserted.insert(row.try_get::<Uuid>("", "id")?);
        }
    }
    Ok(inserted)
}

/// Inserts rows in batches, skipping those whose `key` already exists.
pub async fn insert_ignoring_duplicates<E>(
    p: &Pipeline,
    rows: Vec<E::ActiveModel>,
    key: E::Column,
) -> anyhow::Result<()>
where
    E: EntityTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(200).collect();
        E::insert_many(batch)
            .on_conflict(OnConflict::column(key).do_nothing().to_owned())
            .exec_without_returning(&p.db)
            .await
            .context("batch insert")?;
    }
    Ok(())
}
