//! Notice fan-out: resolves the audience (community, buildings, units, households) to
//! residents and writes, in batches, one inbox message per resident and one delivery per
//! channel and device the resident can be reached on (or a `suppressed` row where their
//! preferences say no), then enqueues the sends. Idempotent: messages and deliveries have
//! unique dedupe keys, so a re-run adds nothing and only re-enqueues what is still pending.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;
use chrono_tz::Tz;
use courtyard_domain::{
    entities::{
        building, community, delivery, device, household, household_member, message, notice,
        notification_preference, resident, unit,
    },
    new_id,
    notifications::{
        Category, Channel, NoticeCategory, NoticeText, QuietHours, Reach, SmsUse, plan_with,
        render_notice,
    },
    org::Timezone,
    people::Locale,
};
use futures::TryStreamExt;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use courtyard_store::deliveries as store_deliveries;

use crate::pipeline::{CHUNK, Pipeline, send_job};

/// The job's name in logs.
pub const NAME: &str = "notice_fanout";
/// Residents per batch.
const BATCH: usize = 1_000;

pub use courtyard_domain::jobs::{Audience, NoticeFanout as FanoutJob};

/// The households an audience covers, in one community.
pub async fn audience_households(
    p: &Pipeline,
    community_id: Uuid,
    audience: &Audience,
) -> anyhow::Result<Vec<household::Model>> {
    Ok(household::Entity::find()
        .filter(audience_filter(community_id, audience))
        .all(&p.db)
        .await?)
}

/// The households of `audience` in one community, as a condition on `households`.
fn audience_filter(community_id: Uuid, audience: &Audience) -> Condition {
    let mut filter = Condition::all().add(household::Column::CommunityId.eq(community_id));
    if !audience.is_whole_community() {
        filter = filter.add(
            Condition::any()
                .add(household::Column::BuildingId.is_in(audience.building_ids.clone()))
                .add(household::Column::UnitId.is_in(audience.unit_ids.clone()))
                .add(household::Column::Id.is_in(audience.household_ids.clone())),
        );
    }
    filter
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

    // Only what the address line needs: a community's households can be many.
    let households: Vec<(Uuid, Uuid, Uuid, String)> = household::Entity::find()
        .select_only()
        .column(household::Column::Id)
        .column(household::Column::BuildingId)
        .column(household::Column::UnitId)
        .column(household::Column::RoomNumber)
        .filter(audience_filter(community.id, &audience))
        .into_tuple()
        .all(&p.db)
        .await?;
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
        .map(|(id, building, unit, room)| {
            let b = buildings.get(building).map_or("", String::as_str);
            let u = units.get(unit).map_or("", String::as_str);
            (*id, format!("{b}{u}{room}"))
        })
        .collect();
    // Each resident once, addressed by their first household in the audience.
    let members = |filter: Expr| {
        household_member::Entity::find()
            .select_only()
            .column(household_member::Column::ResidentId)
            .column(household_member::Column::HouseholdId)
            .filter(filter)
            .into_tuple::<(Uuid, Uuid)>()
            .all(&p.db)
    };
    let mut residents_of: HashMap<Uuid, Vec<Uuid>> = HashMap::with_capacity(households.len());
    if audience.is_whole_community() {
        // One query, not one per chunk of households: this is what a big notice waits
        // for before its first batch.
        for (resident, household) in
            members(household_member::Column::CommunityId.eq(community.id)).await?
        {
            residents_of.entry(household).or_default().push(resident);
        }
    } else {
        let household_ids: Vec<Uuid> = households.iter().map(|h| h.0).collect();
        for chunk in household_ids.chunks(CHUNK) {
            for (resident, household) in
                members(p.one_of(household_member::Column::HouseholdId, chunk)).await?
            {
                residents_of.entry(household).or_default().push(resident);
            }
        }
    }
    let mut home: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    for (household, ..) in &households {
        for &resident in residents_of
            .get(household)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            home.entry(resident).or_insert(*household);
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
        sms: SmsUse::Fallback,
    };
    // An outage's SMS carries what the resident needs without the app: why, until when,
    // and the apology, as template parameters (each within the providers' 35 characters).
    let outage_params: Vec<(&str, String)> = if notice_category.is_outage() {
        let clip = |s: &str| s.chars().take(35).collect::<String>();
        let mut params = vec![("apology", "给您带来不便，敬请谅解".to_owned())];
        if let Some(reason) = notice.reason.as_deref().filter(|r| !r.trim().is_empty()) {
            params.push(("reason", clip(reason.trim())));
        }
        if let Some(at) = notice.restores_at {
            params.push((
                "restores",
                at.with_timezone(&tz).format("%m月%d日 %H:%M").to_string(),
            ));
        }
        params
    } else {
        Vec::new()
    };
    let compose = |r: &resident::Model| {
        let locale = Locale::parse(&r.locale).unwrap_or_default();
        let household = home[&r.id];
        let rendered = render_notice(
            &text,
            locale,
            &r.name,
            address.get(&household).map_or("", String::as_str),
            tz,
        );
        let mut data = json!({ "notice_id": notice.id.to_string(), "category": notice.category, "household_id": household.to_string() });
        for (key, value) in &outage_params {
            data[*key] = json!(value);
        }
        Composed {
            dedupe_key: format!("notice:{}:{}", notice.id, r.id),
            title: rendered.title,
            body: rendered.body,
            data,
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
    /// How SMS is used when asked for.
    pub sms: SmsUse,
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
    let category = target.category;
    let mut residents = Vec::with_capacity(batch.len());
    let mut devices: HashMap<Uuid, Vec<device::Model>> = HashMap::new();
    let mut wanted: HashMap<Uuid, BTreeSet<Channel>> = HashMap::new();
    for chunk in batch.chunks(CHUNK) {
        residents.extend(
            resident::Entity::find()
                .filter(p.one_of(resident::Column::Id, chunk))
                .all(&p.db)
                .await?,
        );
        for d in device::Entity::find()
            .filter(device::Column::OwnerKind.eq("resident"))
            .filter(p.one_of(device::Column::OwnerId, chunk))
            .filter(device::Column::Active.eq(true))
            .all(&p.db)
            .await?
        {
            devices.entry(d.owner_id).or_default().push(d);
        }
        for pref in notification_preference::Entity::find()
            .filter(p.one_of(notification_preference::Column::ResidentId, chunk))
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
    let inserted = store_deliveries::insert_messages(&p.db, &messages).await?;
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
        let planned = plan_with(category, target.requested, &reach, target.sms);
        let due = match (r.quiet_start.as_deref(), r.quiet_end.as_deref()) {
            (Some(start), Some(end)) => QuietHours::parse(start, end)
                .map_or(now, |q| q.release_time(category, now, target.tz)),
            _ => now,
        };
        let row =
            |channel: &str, device_id: Option<Uuid>, key: String, status: &str| delivery::Model {
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
                recipient_kind: "resident".into(),
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
    let rows: Vec<&delivery::Model> = deliveries.iter().map(|row| &row.0).collect();
    let inserted = store_deliveries::insert_deliveries(&p.db, &rows).await?;
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
    p.enqueue_jobs(jobs).await?;
    if inserted.len() < deliveries.len() {
        // A re-run: rows from the first run that are still pending get their jobs again.
        let message_ids: Vec<Uuid> = message_of.values().map(|m| m.id).collect();
        let mut pending = Vec::new();
        for chunk in message_ids.chunks(CHUNK) {
            pending.extend(
                delivery::Entity::find()
                    .select_only()
                    .column(delivery::Column::Id)
                    .filter(p.one_of(delivery::Column::MessageId, chunk))
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
