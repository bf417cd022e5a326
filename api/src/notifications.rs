//! A person's side of notifications: their push devices, their channel preferences and quiet
//! hours, and their in-app inbox.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{device, message, notification_preference, resident, staff_message},
    new_id,
    notifications::{Category, Channel, Platform, PushProvider, QuietHours},
    people::Locale,
};
use courtyard_store::audit;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ALL_STAFF, BearerAuth, Principal},
    communities::Deleted,
    error::{ApiError, ApiResult, FieldContext, status::*},
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A registered push device.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Device {
    /// Id.
    pub id: Uuid,
    /// `ios` or `android`.
    pub platform: Vocab<Platform>,
    /// `apns` or `fcm`.
    pub provider: Vocab<PushProvider>,
    /// The token's first characters (the full token is never shown back).
    pub token_prefix: String,
    /// APNs topic (bundle id).
    pub topic: Option<String>,
    /// APNs sandbox environment.
    pub sandbox: bool,
    /// Locale of the app.
    pub locale: Vocab<Locale>,
    /// Whether pushes go to it.
    pub active: bool,
    /// Why it stopped, when a provider said the token is gone.
    pub invalid_reason: Option<String>,
    /// When it stopped.
    pub invalidated_at: Option<DateTime<Utc>>,
    /// Last registration or refresh.
    pub last_seen_at: DateTime<Utc>,
}

/// Register or refresh a push token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewDevice {
    /// `ios` or `android`.
    pub platform: Vocab<Platform>,
    /// `apns` or `fcm`.
    pub provider: Vocab<PushProvider>,
    /// The push token from the OS.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub token: String,
    /// APNs topic (the app's bundle id); required for APNs.
    #[oai(validator(max_length = 256))]
    pub topic: Option<String>,
    /// APNs development environment.
    pub sandbox: Option<bool>,
    /// `zh-CN` or `en`.
    pub locale: Option<Vocab<Locale>>,
}

impl Example for NewDevice {
    fn example() -> Self {
        Self {
            platform: Platform::Ios.into(),
            provider: PushProvider::Apns.into(),
            token: "a".repeat(64),
            topic: Some("com.courtyard.resident".into()),
            sandbox: Some(false),
            locale: Some(Locale::ZhCn.into()),
        }
    }
}

/// The caller's devices.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeviceList {
    /// Devices, newest first.
    pub items: Vec<Device>,
}

/// A device registration's outcome.
#[derive(ApiResponse)]
pub enum DeviceRegistered {
    /// A new device.
    #[oai(status = 201)]
    Created(Json<Device>),
    /// A known token, refreshed (and moved to the caller if another account had it).
    #[oai(status = 200)]
    Refreshed(Json<Device>),
}

/// Channel preferences per category, and quiet hours.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Preferences {
    /// For each category (`outage`, `pest_control`, `emergency`, `notice`, `greeting`,
    /// `fee_reminder`, `ticket_update`), the channels wanted (`push`, `sms`, `wechat`).
    /// A category not listed gets every channel. The in-app inbox always receives.
    pub channels: BTreeMap<String, Vec<Vocab<Channel>>>,
    /// Quiet hours in the community's time zone; greetings and reminders wait for them to
    /// end, outages and emergencies do not.
    pub quiet_hours: Option<QuietHoursDto>,
}

impl Example for Preferences {
    fn example() -> Self {
        Self {
            channels: BTreeMap::from([
                ("greeting".into(), vec![Channel::Wechat.into()]),
                (
                    "outage".into(),
                    vec![Channel::Push.into(), Channel::Sms.into()],
                ),
            ]),
            quiet_hours: Some(QuietHoursDto {
                start: "22:00".into(),
                end: "07:00".into(),
            }),
        }
    }
}

/// A quiet window, `HH:MM` to `HH:MM`; may wrap midnight.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QuietHoursDto {
    /// Start.
    #[oai(validator(pattern = r"^\d{2}:\d{2}$"))]
    pub start: String,
    /// End.
    #[oai(validator(pattern = r"^\d{2}:\d{2}$"))]
    pub end: String,
}

/// An inbox message.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InboxMessage {
    /// Id.
    pub id: Uuid,
    /// Category.
    pub category: Vocab<Category>,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// The notice it came from, if any.
    pub notice_id: Option<Uuid>,
    /// App data (notice id, household id, ...).
    pub data: serde_json::Value,
    /// Received.
    pub created_at: DateTime<Utc>,
    /// Read, if read.
    pub read_at: Option<DateTime<Utc>>,
}

page_of!(InboxPage, InboxMessage);

/// Unread messages.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UnreadCount {
    /// How many.
    pub unread: u64,
}

/// A message to a staff member: a work order, an SLA warning or escalation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffInboxMessage {
    /// Id.
    pub id: Uuid,
    /// Category (`ticket_update`).
    pub category: Vocab<Category>,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// The ticket it is about.
    pub ticket_id: Option<Uuid>,
    /// App data (`ticket_id`, `action`, `state`, ...).
    pub data: serde_json::Value,
    /// Sent.
    pub created_at: DateTime<Utc>,
    /// Read.
    pub read_at: Option<DateTime<Utc>>,
}

page_of!(StaffInboxPage, StaffInboxMessage);

/// Messages to mark read.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MarkRead {
    /// Message ids (others' ids are ignored).
    #[oai(validator(max_items = 200))]
    pub ids: Vec<Uuid>,
}

/// How many messages changed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Marked {
    /// Messages marked read now (already read ones keep their first read time).
    pub marked: u64,
}

/// The `/v1/me` notification endpoints.
pub struct NotificationsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1/me", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// Register or refresh a push device
    ///
    /// A token belongs to one owner: registering a token another account had moves it to
    /// the caller. A deactivated token that registers again becomes active again.
    #[oai(path = "/devices", method = "post", operation_id = "register_device")]
    async fn register_device(
        &self,
        auth: BearerAuth,
        body: Json<NewDevice>,
    ) -> ApiResult<DeviceRegistered, { BAD_REQUEST | UNAUTHORIZED | VALIDATION }> {
        let (owner_kind, owner_id) = owner(&auth.0);
        let platform = body.platform.get("platform")?.as_str().to_owned();
        let provider = body.provider.get("provider")?.as_str().to_owned();
        let token = body.token.trim().to_owned();
        if provider == "apns" {
            if !(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(
                    ApiError::invalid("token", "an APNs token is 64 hex characters").into(),
                );
            }
            if body.topic.as_deref().is_none_or(str::is_empty) {
                return Err(
                    ApiError::invalid("topic", "APNs devices need the app's bundle id").into(),
                );
            }
        }
        let locale = match &body.locale {
            Some(locale) => locale.get("locale")?,
            None => Locale::ZhCn,
        };
        let now = self.state.clock.now();
        // Write first, read after, in a transaction that takes SQLite's write lock first.
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let topic = body.topic.clone();
        let sandbox = body.sandbox.unwrap_or(false);
        let refreshed = device::Entity::update_many()
            .col_expr(device::Column::OwnerKind, Expr::value(owner_kind))
            .col_expr(device::Column::OwnerId, Expr::value(owner_id))
            .col_expr(device::Column::Platform, Expr::value(platform.clone()))
            .col_expr(device::Column::Topic, Expr::value(topic.clone()))
            .col_expr(device::Column::Sandbox, Expr::value(sandbox))
            .col_expr(device::Column::Locale, Expr::value(locale.as_str()))
            .col_expr(device::Column::Active, Expr::value(true))
            .col_expr(
                device::Column::InvalidatedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                device::Column::InvalidReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(device::Column::LastSeenAt, Expr::value(now))
            .filter(device::Column::Provider.eq(provider.as_str()))
            .filter(device::Column::Token.eq(token.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        let created = refreshed == 0;
        if created {
            // A concurrent registration of the same token may win the insert: then this is
            // a refresh of its row.
            device::Entity::insert(device::ActiveModel {
                id: Set(new_id()),
                owner_kind: Set(owner_kind.into()),
                owner_id: Set(owner_id),
                platform: Set(platform),
                provider: Set(provider.clone()),
                token: Set(token.clone()),
                topic: Set(topic),
                sandbox: Set(sandbox),
                locale: Set(locale.as_str().into()),
                active: Set(true),
                last_seen_at: Set(now),
                invalidated_at: Set(None),
                invalid_reason: Set(None),
                created_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([device::Column::Provider, device::Column::Token])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        let row = device::Entity::find()
            .filter(device::Column::Provider.eq(provider.as_str()))
            .filter(device::Column::Token.eq(token.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("device vanished after registration"))?;
        if let Some(entry) = auth.0.staff_audit("register_device", "device") {
            let entry = entry
                .object(row.id)
                .details(serde_json::json!({ "provider": provider, "created": created }));
            audit::record(&txn, &entry).await?;
        }
        txn.commit().await?;
        let dto = Json(device_dto(row));
        Ok(if created {
            DeviceRegistered::Created(dto)
        } else {
            DeviceRegistered::Refreshed(dto)
        })
    }

    /// List my devices
    #[oai(path = "/devices", method = "get", operation_id = "list_devices")]
    async fn list_devices(
        &self,
        auth: BearerAuth,
    ) -> ApiResult<Json<DeviceList>, { UNAUTHORIZED }> {
        let (_, owner_id) = owner(&auth.0);
        let mut rows = device::Entity::find()
            .filter(device::Column::OwnerId.eq(owner_id))
            .all(&self.state.db)
            .await?;
        rows.sort_by_key(|d| std::cmp::Reverse(d.last_seen_at));
        Ok(Json(DeviceList {
            items: rows.into_iter().map(device_dto).collect(),
        }))
    }

    /// Remove a device
    ///
    /// For logout on a phone: pushes stop going to it.
    #[oai(
        path = "/devices/:device_id",
        method = "delete",
        operation_id = "delete_device"
    )]
    async fn delete_device(
        &self,
        auth: BearerAuth,
        device_id: Path<Uuid>,
    ) -> ApiResult<Deleted, { UNAUTHORIZED | NOT_FOUND }> {
        let (_, owner_id) = owner(&auth.0);
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let deleted = device::Entity::delete_many()
            .filter(device::Column::Id.eq(*device_id))
            .filter(device::Column::OwnerId.eq(owner_id))
            .exec(&txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(ApiError::NotFound("device").into());
        }
        if let Some(entry) = auth.0.staff_audit("delete_device", "device") {
            audit::record(&txn, &entry.object(*device_id)).await?;
        }
        txn.commit().await?;
        Ok(Deleted::Done)
    }

    /// Get my notification preferences
    #[oai(
        path = "/notification-preferences",
        method = "get",
        operation_id = "get_preferences"
    )]
    async fn get_preferences(
        &self,
        auth: BearerAuth,
    ) -> ApiResult<Json<Preferences>, { UNAUTHORIZED | FORBIDDEN }> {
        let resident = auth.0.resident()?;
        Ok(Json(preferences(&self.state, resident.id).await?))
    }

    /// Set my notification preferences
    ///
    /// Replaces the saved preferences.
    #[oai(
        path = "/notification-preferences",
        method = "put",
        operation_id = "put_preferences"
    )]
    async fn put_preferences(
        &self,
        auth: BearerAuth,
        body: Json<Preferences>,
    ) -> ApiResult<Json<Preferences>, { BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | VALIDATION }> {
        let caller = auth.0.resident()?;
        let mut rows = Vec::new();
        for (category, channels) in &body.channels {
            let category = Category::parse(category).field("channels")?;
            let mut parsed = Vec::new();
            for channel in channels {
                parsed.push(
                    channel
                        .get(&format!("channels.{category}"))?
                        .as_str()
                        .to_owned(),
                );
            }
            parsed.sort();
            parsed.dedup();
            rows.push((category, parsed));
        }
        let quiet = match &body.quiet_hours {
            Some(q) => {
                QuietHours::parse(&q.start, &q.end).field("quiet_hours")?;
                Some((q.start.clone(), q.end.clone()))
            }
            None => None,
        };
        let now = self.state.clock.now();
        let txn = self.state.db.begin().await?;
        notification_preference::Entity::delete_many()
            .filter(notification_preference::Column::ResidentId.eq(caller.id))
            .exec(&txn)
            .await?;
        if !rows.is_empty() {
            notification_preference::Entity::insert_many(rows.into_iter().map(
                |(category, channels)| notification_preference::ActiveModel {
                    resident_id: Set(caller.id),
                    category: Set(category.as_str().into()),
                    channels: Set(json!(channels)),
                    updated_at: Set(now),
                },
            ))
            .exec_without_returning(&txn)
            .await?;
        }
        resident::Entity::update_many()
            .col_expr(
                resident::Column::QuietStart,
                Expr::value(quiet.as_ref().map(|q| q.0.clone())),
            )
            .col_expr(
                resident::Column::QuietEnd,
                Expr::value(quiet.as_ref().map(|q| q.1.clone())),
            )
            .col_expr(resident::Column::UpdatedAt, Expr::value(now))
            .filter(resident::Column::Id.eq(caller.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Json(preferences(&self.state, caller.id).await?))
    }

    /// List my inbox
    ///
    /// Every message sent to me, whatever the channel, oldest first.
    #[oai(path = "/messages", method = "get", operation_id = "list_messages")]
    async fn list_messages(
        &self,
        auth: BearerAuth,
        /// Only unread messages.
        unread: Query<Option<bool>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<InboxPage>, { BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | VALIDATION }> {
        let caller = auth.0.resident()?;
        let mut select = message::Entity::find().filter(message::Column::ResidentId.eq(caller.id));
        if unread.unwrap_or(false) {
            select = select.filter(message::Column::ReadAt.is_null());
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            message::Column::Id,
            cursor.as_deref(),
            *limit,
            |m| m.id,
        )
        .await?;
        Ok(Json(InboxPage {
            items: rows.into_iter().map(inbox_dto).collect(),
            next_cursor,
        }))
    }

    /// Count my unread messages
    #[oai(
        path = "/messages/unread-count",
        method = "get",
        operation_id = "count_unread_messages"
    )]
    async fn unread_count(
        &self,
        auth: BearerAuth,
    ) -> ApiResult<Json<UnreadCount>, { UNAUTHORIZED | FORBIDDEN }> {
        let caller = auth.0.resident()?;
        let unread = message::Entity::find()
            .filter(message::Column::ResidentId.eq(caller.id))
            .filter(message::Column::ReadAt.is_null())
            .count(&self.state.db)
            .await?;
        Ok(Json(UnreadCount { unread }))
    }

    /// Mark a message read
    ///
    /// Idempotent: the first read time is kept.
    #[oai(
        path = "/messages/:message_id/read",
        method = "post",
        operation_id = "mark_message_read"
    )]
    async fn mark_read(
        &self,
        auth: BearerAuth,
        message_id: Path<Uuid>,
    ) -> ApiResult<Json<InboxMessage>, { UNAUTHORIZED | FORBIDDEN | NOT_FOUND }> {
        let caller = auth.0.resident()?;
        let row = message::Entity::find_by_id(*message_id)
            .one(&self.state.db)
            .await?
            .filter(|m| m.resident_id == caller.id)
            .ok_or(ApiError::NotFound("message"))?;
        let row = if row.read_at.is_none() {
            let mut active = row.into_active_model();
            active.read_at = Set(Some(self.state.clock.now()));
            active.update(&self.state.db).await?
        } else {
            row
        };
        Ok(Json(inbox_dto(row)))
    }

    /// List my staff inbox
    ///
    /// Staff: every work order, SLA warning and escalation sent to me, oldest first (the
    /// same messages as the pushes).
    #[oai(
        path = "/staff-messages",
        method = "get",
        operation_id = "list_staff_messages"
    )]
    async fn list_staff_messages(
        &self,
        auth: BearerAuth,
        /// Only unread messages.
        unread: Query<Option<bool>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<StaffInboxPage>, { BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | VALIDATION }>
    {
        let staff = auth.0.staff(ALL_STAFF)?;
        let mut select =
            staff_message::Entity::find().filter(staff_message::Column::StaffId.eq(staff.id));
        if unread.unwrap_or(false) {
            select = select.filter(staff_message::Column::ReadAt.is_null());
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            staff_message::Column::Id,
            cursor.as_deref(),
            *limit,
            |m| m.id,
        )
        .await?;
        Ok(Json(StaffInboxPage {
            items: rows
                .into_iter()
                .map(|m| StaffInboxMessage {
                    id: m.id,
                    category: Vocab::stored(&m.category),
                    title: m.title,
                    body: m.body,
                    ticket_id: m.ticket_id,
                    data: m.data,
                    created_at: m.created_at,
                    read_at: m.read_at,
                })
                .collect(),
            next_cursor,
        }))
    }

    /// Mark staff messages read
    ///
    /// Idempotent: the first read time is kept; ids of other people's messages are ignored.
    #[oai(
        path = "/staff-messages/read",
        method = "post",
        operation_id = "mark_staff_messages_read"
    )]
    async fn mark_staff_messages_read(
        &self,
        auth: BearerAuth,
        body: Json<MarkRead>,
    ) -> ApiResult<Json<Marked>, { BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let marked = staff_message::Entity::update_many()
            .col_expr(
                staff_message::Column::ReadAt,
                Expr::value(self.state.clock.now()),
            )
            .filter(staff_message::Column::StaffId.eq(staff.id))
            .filter(staff_message::Column::Id.is_in(body.ids.clone()))
            .filter(staff_message::Column::ReadAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        let entry = staff
            .audit("mark_staff_messages_read", "staff_message")
            .details(serde_json::json!({ "marked": marked }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(Json(Marked { marked }))
    }
}

fn owner(principal: &Principal) -> (&'static str, Uuid) {
    match principal {
        Principal::Resident(r) => ("resident", r.id),
        Principal::Staff(s) => ("staff", s.id),
    }
}

async fn preferences(state: &AppState, resident_id: Uuid) -> Result<Preferences, ApiError> {
    let rows = notification_preference::Entity::find()
        .filter(notification_preference::Column::ResidentId.eq(resident_id))
        .all(&state.db)
        .await?;
    let resident = resident::Entity::find_by_id(resident_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("this account no longer exists".into()))?;
    Ok(Preferences {
        channels: rows
            .into_iter()
            .map(|r| {
                let channels: Vec<String> = serde_json::from_value(r.channels).unwrap_or_default();
                (
                    r.category,
                    channels.iter().map(|c| Vocab::stored(c)).collect(),
                )
            })
            .collect(),
        quiet_hours: match (resident.quiet_start, resident.quiet_end) {
            (Some(start), Some(end)) => Some(QuietHoursDto { start, end }),
            _ => None,
        },
    })
}

fn device_dto(row: device::Model) -> Device {
    Device {
        id: row.id,
        platform: Vocab::stored(&row.platform),
        provider: Vocab::stored(&row.provider),
        token_prefix: row.token.chars().take(8).collect(),
        topic: row.topic,
        sandbox: row.sandbox,
        locale: Vocab::stored(&row.locale),
        active: row.active,
        invalid_reason: row.invalid_reason,
        invalidated_at: row.invalidated_at,
        last_seen_at: row.last_seen_at,
    }
}

fn inbox_dto(row: message::Model) -> InboxMessage {
    InboxMessage {
        id: row.id,
        category: Vocab::stored(&row.category),
        title: row.title,
        body: row.body,
        notice_id: row.notice_id,
        data: row.data,
        created_at: row.created_at,
        read_at: row.read_at,
    }
}
