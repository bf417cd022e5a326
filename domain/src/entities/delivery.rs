//! The `deliveries` table.

use sea_orm::entity::prelude::*;

/// One row of `deliveries`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub message_id: Uuid,
    pub resident_id: Uuid,
    pub notice_id: Option<Uuid>,
    /// apns, fcm, sms, wechat, log.
    pub channel: String,
    pub device_id: Option<Uuid>,
    /// `{message}:{channel}:{device or resident}`: a send recorded under it never repeats.
    pub dedupe_key: String,
    /// pending, sending, sent, failed, invalid_token, suppressed, dead.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Not before this time (quiet hours, retry backoff).
    pub due_at: DateTimeUtc,
    pub claimed_at: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    /// `resident` (`message_id` is in `messages`) or `staff` (in `staff_messages`; then
    /// `resident_id` holds the staff id).
    pub recipient_kind: String,
}

/// No relations are navigated through the ORM; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
