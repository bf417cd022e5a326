//! Ticket notifications: one ticket event (an outbox `ticket.notify` row, relayed to the
//! fan-out stream) becomes messages for the people it concerns, as
//! `courtyard_domain::ticket_messages` decides. The resident gets an inbox message and
//! push/WeChat through the same path as notices (preferences and quiet hours apply); staff
//! get a `staff_messages` row and a push to each of their active devices, at once (work
//! assignments know no quiet hours) and never by SMS. Idempotent: messages and deliveries
//! have unique dedupe keys, so a re-run adds nothing and only re-enqueues what is pending;
//! the outbox row is settled last, so a job lost on the way is relayed again.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{
        booking, building, community, delivery, device, household, staff, staff_community,
        staff_message, ticket, ticket_event, unit,
    },
    new_id,
    notifications::{Category, Channel, SmsUse},
    org::Timezone,
    people::{Locale, StaffRole},
    ticket_messages::{
        ActorKind, EventFacts, Role, TicketText, recipients, render, staff_recipients,
    },
    tickets::{ClockKind, EventAction, TicketKind},
};
use courtyard_store::deliveries::insert_ignoring_duplicates;
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Query,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    jobs::{
        fanout::{Composed, Target, deliver_batch},
        relay,
    },
    pipeline::{Pipeline, RECIPIENT_STAFF},
};

/// The job's name in logs.
pub const NAME: &str = "ticket_notify";

pub use courtyard_domain::jobs::TicketNotify as TicketNotifyJob;

/// Tells the people one ticket event concerns, then settles its outbox row.
pub async fn run(p: &Pipeline, job: &TicketNotifyJob) -> anyhow::Result<()> {
    notify(p, job.event_id).await?;
    if let Some(id) = job.outbox_id {
        relay::settle(p, id).await?;
    }
    Ok(())
}

async fn notify(p: &Pipeline, event_id: Uuid) -> anyhow::Result<()> {
    let Some(event) = ticket_event::Entity::find_by_id(event_id)
        .one(&p.db)
        .await
        .context("loading the ticket event")?
    else {
        tracing::warn!(event = %event_id, "ticket event gone; nobody to tell");
        return Ok(());
    };
    let Ok(action) = EventAction::parse(&event.action) else {
        tracing::warn!(event = %event.id, action = %event.action, "unknown ticket event action; nobody told");
        return Ok(());
    };
    let Some(ticket) = ticket::Entity::find_by_id(event.ticket_id)
        .one(&p.db)
        .await
        .context("loading the ticket")?
    else {
        tracing::warn!(event = %event.id, "ticket gone; nobody to tell");
        return Ok(());
    };
    let data = event.data.clone().unwrap_or_default();
    let actor = ActorKind::parse(&event.actor_kind).unwrap_or(ActorKind::System);
    let kind = TicketKind::parse(&ticket.kind).map_err(|e| anyhow::anyhow!(e))?;
    let facts = EventFacts {
        actor,
        registered_by_desk: ticket.registered_by.is_some() || !data["registered_by"].is_null(),
        kind,
    };
    let told = recipients(action, facts);
    if told.is_empty() {
        return Ok(());
    }
    let community = community::Entity::find_by_id(ticket.community_id)
        .one(&p.db)
        .await?
        .context("the ticket's community")?;
    let tz = Timezone::parse(&community.timezone)
        .map_err(|e| anyhow::anyhow!(e))?
        .tz();
    let address = address(p, &ticket).await?;
    // Addressed from the event: who held the ticket then, not who holds it now (a report's
    // job that runs after the dispatch must not hand the engineer a second work order).
    let assignee_name = match event.assignee_id {
        Some(id) => staff::Entity::find_by_id(id)
            .one(&p.db)
            .await?
            .map(|s| s.name),
        None => None,
    };
    // A booking reads with its service and slot (a proposed slot's time from the event).
    let booking = if kind == TicketKind::ServiceBooking {
        booking::Entity::find_by_id(ticket.id).one(&p.db).await?
    } else {
        None
    };
    let starts_at = serde_json::from_value::<DateTime<Utc>>(data["starts_at"].clone())
        .ok()
        .or(booking.as_ref().map(|b| b.starts_at));
    let text = TicketText {
        kind,
        category: &ticket.category,
        community: &community.name,
        address: &address,
        assignee: assignee_name.as_deref(),
        price_fen: ticket.price_fen,
        clock: data["clock"]
            .as_str()
            .and_then(|c| ClockKind::parse(c).ok()),
        due_at: serde_json::from_value::<DateTime<Utc>>(data["due_at"].clone()).ok(),
        rework: ticket.rework_count,
        service: booking.as_ref().map(|b| b.service_name.as_str()),
        starts_at,
        items: data["items"].as_i64(),
        return_on: data["return_on"]
            .as_str()
            .and_then(|d| d.parse::<chrono::NaiveDate>().ok()),
    };
    let state = event.to_state.as_deref().unwrap_or(&ticket.state);
    let app_data = |extra: Option<Role>| {
        let mut data = json!({
            "ticket_id": ticket.id.to_string(),
            "category": Category::TicketUpdate.as_str(),
            "action": action.as_str(),
            "state": state,
        });
        if let Some(role) = extra {
            data["role"] = json!(role.as_str());
        }
        data
    };

    if told.resident
        && let Some(resident_id) = ticket.resident_id
    {
        let requested: BTreeSet<Channel> = [Channel::Push, Channel::Wechat].into();
        let target = Target {
            community_id: ticket.community_id,
            notice_id: None,
            category: Category::TicketUpdate,
            requested: &requested,
            tz,
            sms: SmsUse::Fallback,
        };
        deliver_batch(p, &target, &[resident_id], |r| {
            let locale = Locale::parse(&r.locale).unwrap_or_default();
            let rendered = render(Role::Resident, action, &text, locale, tz);
            Composed {
                dedupe_key: format!("ticket:{}:{}", event.id, r.id),
                title: rendered.title,
                body: rendered.body,
                data: app_data(None),
            }
        })
        .await
        .context("telling the resident")?;
    }

    let supervisors = if told.supervisors {
        supervisors(p, ticket.community_id).await?
    } else {
        Vec::new()
    };
    let actor_id = (actor == ActorKind::Staff)
        .then_some(event.actor_id)
        .flatten();
    let staff_told = staff_recipients(
        told,
        event.assignee_id,
        event.butler_id,
        &supervisors,
        actor_id,
    );
    if staff_told.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = staff_told.iter().map(|(id, _)| *id).collect();
    let active: BTreeSet<Uuid> = staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .filter(staff::Column::Id.is_in(ids.clone()))
        .filter(staff::Column::Active.eq(true))
        .into_tuple()
        .all(&p.db)
        .await
        .context("loading the staff to tell")?
        .into_iter()
        .collect();
    // Most recently seen first: a staff member reads in the language of the phone they use.
    let mut devices: HashMap<Uuid, Vec<device::Model>> = HashMap::new();
    for d in device::Entity::find()
        .filter(device::Column::OwnerKind.eq("staff"))
        .filter(device::Column::OwnerId.is_in(ids))
        .filter(device::Column::Active.eq(true))
        .order_by_desc(device::Column::LastSeenAt)
        .all(&p.db)
        .await
        .context("loading staff devices")?
    {
        devices.entry(d.owner_id).or_default().push(d);
    }
    let now = p.clock.now();
    let mut messages = Vec::with_capacity(staff_told.len());
    for (staff_id, role) in staff_told {
        if !active.contains(&staff_id) {
            continue;
        }
        let locale = devices
            .get(&staff_id)
            .and_then(|ds| ds.first())
            .and_then(|d| Locale::parse(&d.locale).ok())
            .unwrap_or_default();
        let rendered = render(role, action, &text, locale, tz);
        messages.push(staff_message::Model {
            id: new_id(),
            staff_id,
            community_id: ticket.community_id,
            ticket_id: Some(ticket.id),
            dedupe_key: format!("ticket:{}:staff:{staff_id}", event.id),
            category: Category::TicketUpdate.as_str().into(),
            title: rendered.title,
            body: rendered.body,
            data: app_data(Some(role)),
            created_at: now,
            read_at: None,
        });
    }
    let keys: Vec<String> = messages.iter().map(|m| m.dedupe_key.clone()).collect();
    insert_ignoring_duplicates::<staff_message::Entity>(
        &p.db,
        messages
            .into_iter()
            .map(IntoActiveModel::into_active_model)
            .collect(),
        staff_message::Column::DedupeKey,
    )
    .await
    .context("writing staff messages")?;
    // What is stored, this run's rows or a first run's.
    let stored = staff_message::Entity::find()
        .filter(staff_message::Column::DedupeKey.is_in(keys))
        .all(&p.db)
        .await
        .context("reading staff messages back")?;
    let mut rows = Vec::new();
    for m in &stored {
        for d in devices
            .get(&m.staff_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            rows.push(
                delivery::Model {
                    id: new_id(),
                    message_id: m.id,
                    resident_id: m.staff_id,
                    notice_id: None,
                    channel: d.provider.clone(),
                    device_id: Some(d.id),
                    dedupe_key: format!("{}:{}:{}", m.id, d.provider, d.id),
                    status: "pending".into(),
                    attempts: 0,
                    last_error: None,
                    provider_id: None,
                    created_at: now,
                    updated_at: now,
                    due_at: now,
                    claimed_at: None,
                    sent_at: None,
                    recipient_kind: RECIPIENT_STAFF.into(),
                }
                .into_active_model(),
            );
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    insert_ignoring_duplicates::<delivery::Entity>(&p.db, rows, delivery::Column::DedupeKey)
        .await
        .context("writing staff deliveries")?;
    let pending: Vec<Uuid> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::MessageId.is_in(stored.iter().map(|m| m.id)))
        .filter(delivery::Column::RecipientKind.eq(RECIPIENT_STAFF))
        .filter(delivery::Column::Status.eq("pending"))
        .into_tuple()
        .all(&p.db)
        .await
        .context("reading staff deliveries back")?;
    p.enqueue_deliveries(&pending).await?;
    Ok(())
}

/// `1栋1单元101` for a household, the location for a public area.
async fn address(p: &Pipeline, ticket: &ticket::Model) -> anyhow::Result<String> {
    let Some(household_id) = ticket.household_id else {
        return Ok(ticket.location.clone().unwrap_or_default());
    };
    let Some(household) = household::Entity::find_by_id(household_id)
        .one(&p.db)
        .await?
    else {
        return Ok(ticket.location.clone().unwrap_or_default());
    };
    let building = building::Entity::find_by_id(household.building_id)
        .one(&p.db)
        .await?
        .map(|b| b.name)
        .unwrap_or_default();
    let unit = unit::Entity::find_by_id(household.unit_id)
        .one(&p.db)
        .await?
        .map(|u| u.name)
        .unwrap_or_default();
    Ok(format!("{building}{unit}{}", household.room_number))
}

/// The active supervisors who work in a community.
async fn supervisors(p: &Pipeline, community_id: Uuid) -> anyhow::Result<Vec<Uuid>> {
    let working_there = Query::select()
        .column(staff_community::Column::StaffId)
        .from(staff_community::Entity)
        .and_where(staff_community::Column::CommunityId.eq(community_id))
        .to_owned();
    staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .filter(staff::Column::Role.eq(StaffRole::Supervisor.as_str()))
        .filter(staff::Column::Active.eq(true))
        .filter(staff::Column::Id.in_subquery(working_there))
        .order_by_asc(staff::Column::Id)
        .into_tuple()
        .all(&p.db)
        .await
        .context("finding the community's supervisors")
}
