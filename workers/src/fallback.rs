//! SMS in a push's place: when a resident's push can never arrive (the provider gave up on
//! it, or its device was removed or deactivated before it was sent) and no other push of
//! the message is alive, the message goes by SMS, for the categories that warrant it and
//! only where the notice's and the resident's channels allow SMS.

use anyhow::Context;
use courtyard_domain::{
    entities::{delivery, notice, notification_preference},
    new_id,
    notifications::Category,
};
use courtyard_store::deliveries::insert_ignoring_duplicates;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::pipeline::{Pipeline, RECIPIENT_STAFF};

/// Writes the SMS that takes the place of the push `delivery_id` (of `channel`, about
/// `category`) where one is due; returns its delivery when it waits to be sent, for the
/// caller to enqueue. Idempotent: one SMS per message and resident.
pub async fn sms_in_place(
    p: &Pipeline,
    delivery_id: Uuid,
    channel: &str,
    category: &str,
) -> anyhow::Result<Option<Uuid>> {
    if !matches!(channel, "apns" | "fcm") {
        return Ok(None);
    }
    if !Category::parse(category).is_ok_and(Category::warrants_sms) {
        return Ok(None);
    }
    let Some(failed) = delivery::Entity::find_by_id(delivery_id)
        .one(&p.db)
        .await
        .context("loading the failed push")?
    else {
        return Ok(None);
    };
    // Staff are reached by push only.
    if failed.recipient_kind == RECIPIENT_STAFF {
        return Ok(None);
    }
    let alive = delivery::Entity::find()
        .filter(delivery::Column::MessageId.eq(failed.message_id))
        .filter(delivery::Column::Channel.is_in(["apns", "fcm"]))
        .filter(delivery::Column::Status.is_in(["pending", "sending", "retrying", "sent"]))
        .one(&p.db)
        .await?
        .is_some();
    if alive {
        return Ok(None);
    }
    // A notice whose channels exclude SMS sends none, not even in a push's place.
    if let Some(notice_id) = failed.notice_id {
        let allows_sms = notice::Entity::find_by_id(notice_id)
            .one(&p.db)
            .await?
            .is_some_and(|n| {
                serde_json::from_value::<Vec<String>>(n.channels)
                    .is_ok_and(|channels| channels.iter().any(|c| c == "sms"))
            });
        if !allows_sms {
            return Ok(None);
        }
    }
    // A resident who turned SMS off for the category gets no SMS in its place.
    let wants_sms = notification_preference::Entity::find()
        .filter(notification_preference::Column::ResidentId.eq(failed.resident_id))
        .filter(notification_preference::Column::Category.eq(category))
        .one(&p.db)
        .await?
        .is_none_or(|pref| {
            serde_json::from_value::<Vec<String>>(pref.channels)
                .is_ok_and(|channels| channels.iter().any(|c| c == "sms"))
        });
    if !wants_sms {
        return Ok(None);
    }
    let now = p.clock.now();
    let key = format!("{}:sms:{}", failed.message_id, failed.resident_id);
    insert_ignoring_duplicates::<delivery::Entity>(
        &p.db,
        vec![delivery::ActiveModel {
            id: Set(new_id()),
            message_id: Set(failed.message_id),
            resident_id: Set(failed.resident_id),
            notice_id: Set(failed.notice_id),
            channel: Set("sms".into()),
            device_id: Set(None),
            dedupe_key: Set(key.clone()),
            status: Set("pending".into()),
            attempts: Set(0),
            last_error: Set(None),
            provider_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            due_at: Set(now),
            claimed_at: Set(None),
            sent_at: Set(None),
            recipient_kind: Set("resident".into()),
        }],
        delivery::Column::DedupeKey,
    )
    .await
    .context("writing the SMS in the push's place")?;
    let sms = delivery::Entity::find()
        .filter(delivery::Column::DedupeKey.eq(key))
        .one(&p.db)
        .await?
        .filter(|sms| sms.status == "pending");
    if sms.is_some() {
        tracing::info!(message = %failed.message_id, "push cannot arrive: falling back to SMS");
    }
    Ok(sms.map(|sms| sms.id))
}
