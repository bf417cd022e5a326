//! Notices from admins and the front desk: outages, pest control, emergencies, activities.
//! Creating one writes the notice and its outbox row in one transaction; the workers fan it
//! out when its send time comes. Also: delivery counts and the per-recipient trail.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveTime, Utc};
use courtyard_domain::jobs::{Audience, NoticeFanout};
use courtyard_domain::{
    entities::{delivery, message, notice},
    new_id,
    notifications::{
        Channel, DeliveryChannel, DeliveryStatus, NoticeCategory, NoticeStatus, PestControlError,
        pest_control_send_at,
    },
    org::Timezone,
};
use courtyard_store::audit;
use courtyard_store::outbox;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, ROLL_KEEPERS, StaffPrincipal},
    error::{ApiError, ApiResult, FieldContext, status::*},
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// Who receives a notice; all lists empty means the whole community.
#[derive(Debug, Clone, Default, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AudienceDto {
    /// Whole buildings.
    #[oai(default, validator(max_items = 1000))]
    pub building_ids: Vec<Uuid>,
    /// Whole units.
    #[oai(default, validator(max_items = 5000))]
    pub unit_ids: Vec<Uuid>,
    /// Single households.
    #[oai(default, validator(max_items = 10000))]
    pub household_ids: Vec<Uuid>,
}

/// A new notice.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewNotice {
    /// water_outage, power_outage, gas_outage, pest_control, emergency, community_activity or general.
    pub category: Vocab<NoticeCategory>,
    /// Title.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub title: String,
    /// Body.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub body: String,
    /// Why (required for outages).
    #[oai(validator(max_length = 200))]
    pub reason: Option<String>,
    /// When the outage or work starts.
    pub starts_at: Option<DateTime<Utc>>,
    /// When service is expected back (required for outages).
    pub restores_at: Option<DateTime<Utc>>,
    /// Pest control: when the treatment happens. The notice goes out the day before at
    /// 10:00 community time; less than 24 hours ahead is refused unless `urgent`.
    pub event_at: Option<DateTime<Utc>>,
    /// Send now even when a rule would delay or refuse it.
    pub urgent: Option<bool>,
    /// Who receives it; the whole community when absent.
    pub audience: Option<AudienceDto>,
    /// `push`, `sms`, `wechat`; all when absent. The in-app inbox always receives.
    #[oai(validator(max_items = 3))]
    pub channels: Option<Vec<Vocab<Channel>>>,
    /// Schedule for later (not for pest control, whose time follows from `event_at`).
    pub send_at: Option<DateTime<Utc>>,
}

impl Example for NewNotice {
    fn example() -> Self {
        Self {
            category: NoticeCategory::WaterOutage.into(),
            title: "停水通知".into(),
            body: "3栋明日 9:00–12:00 停水，请提前储水。".into(),
            reason: Some("二次供水水箱清洗".into()),
            starts_at: None,
            // An outage says when service comes back.
            restores_at: chrono::DateTime::from_timestamp(1_924_916_400, 0),
            event_at: None,
            urgent: None,
            audience: Some(AudienceDto::default()),
            channels: None,
            send_at: None,
        }
    }
}

/// Delivery counts of a notice.
#[derive(Debug, Default, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct NoticeCounts {
    /// Residents in the audience (inbox messages written).
    pub targeted: u64,
    /// Sends accepted by a provider.
    pub sent: u64,
    /// Sends waiting, in progress or retrying.
    pub pending: u64,
    /// Sends that failed for good (including dead letters).
    pub failed: u64,
    /// Devices a provider said are gone.
    pub invalid_token: u64,
    /// Channels the residents' preferences turned off.
    pub suppressed: u64,
    /// Residents who opened it in the app.
    pub read: u64,
}

/// A notice.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Notice {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Category.
    pub category: Vocab<NoticeCategory>,
    /// Title.
    pub title: String,
    /// Body as written.
    pub body: String,
    /// Why.
    pub reason: Option<String>,
    /// Starts.
    pub starts_at: Option<DateTime<Utc>>,
    /// Service back.
    pub restores_at: Option<DateTime<Utc>>,
    /// Audience.
    pub audience: AudienceDto,
    /// Channels.
    pub channels: Vec<Vocab<Channel>>,
    /// Sent at once despite rules.
    pub urgent: bool,
    /// scheduled, sending, sent or cancelled.
    pub status: Vocab<NoticeStatus>,
    /// When it goes (or went) out.
    pub send_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Fanned out.
    pub sent_at: Option<DateTime<Utc>>,
    /// Delivery counts.
    pub counts: NoticeCounts,
}

page_of!(NoticePage, Notice);

/// One send to one recipient: the trail for "I never got it".
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryTrail {
    /// Delivery id (replay dead letters by it).
    pub id: Uuid,
    /// Resident.
    pub resident_id: Uuid,
    /// apns, fcm, sms, wechat (push: suppressed before a device was chosen).
    pub channel: Vocab<DeliveryChannel>,
    /// pending, sending, retrying, sent, failed, invalid_token, suppressed, dead.
    pub status: Vocab<DeliveryStatus>,
    /// Attempts made.
    pub attempts: i32,
    /// The provider's last error.
    pub last_error: Option<String>,
    /// The provider's message id.
    pub provider_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Accepted by the provider.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The recipients of a notice.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Recipient {
    /// Resident.
    pub resident_id: Uuid,
    /// Inbox message.
    pub message_id: Uuid,
    /// Read in the app.
    pub read_at: Option<DateTime<Utc>>,
    /// Every send attempt for this resident.
    pub deliveries: Vec<DeliveryTrail>,
}

/// The trail of one recipient, or of all on this page.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RecipientPage {
    /// Recipients.
    pub items: Vec<Recipient>,
    /// Next page.
    pub next_cursor: Option<String>,
}

/// A created notice.
#[derive(ApiResponse)]
pub enum NoticeCreated {
    /// Created; it goes out at `send_at`.
    #[oai(status = 201)]
    Created(Json<Notice>),
}

/// The notices endpoints.
pub struct NoticesApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Notices")]
impl NoticesApi {
    /// Create a notice
    ///
    /// Sent now, at `send_at`, or for pest control the day before `event_at` at 10:00
    /// community time. Outages must give `reason` and `restores_at`; their text carries
    /// both and the apology line.
    #[oai(
        path = "/communities/:community_id/notices",
        method = "post",
        operation_id = "create_notice"
    )]
    async fn create_notice(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<NewNotice>,
    ) -> ApiResult<NoticeCreated, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let category = body.category.get("category")?;
        let now = self.state.clock.now();
        let urgent = body.urgent.unwrap_or(false);
        if category.is_outage() {
            if body.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(ApiError::invalid("reason", "an outage notice says why").into());
            }
            match body.restores_at {
                None => {
                    return Err(ApiError::invalid(
                        "restores_at",
                        "an outage notice says when service comes back",
                    )
                    .into());
                }
                Some(at) if body.starts_at.is_some_and(|s| at <= s) => {
                    return Err(ApiError::invalid(
                        "restores_at",
                        "service comes back after the outage starts",
                    )
                    .into());
                }
                Some(_) => {}
            }
        }
        let tz = Timezone::parse(&community.timezone).field("timezone")?.tz();
        let send_at = if category == NoticeCategory::PestControl {
            if body.send_at.is_some() {
                return Err(ApiError::invalid(
                    "send_at",
                    "pest-control notices go out the day before event_at; do not set send_at",
                )
                .into());
            }
            let Some(event_at) = body.event_at else {
                return Err(ApiError::invalid(
                    "event_at",
                    "a pest-control notice says when the treatment is",
                )
                .into());
            };
            let time = NaiveTime::parse_from_str(
                &self.state.settings.notifications.pest_control_send_time,
                "%H:%M",
            )
            .map_err(|e| anyhow::anyhow!("pest_control_send_time: {e}"))?;
            pest_control_send_at(event_at, now, tz, time, urgent).map_err(|e| match e {
                PestControlError::TooSoon => ApiError::invalid("event_at", e.to_string()),
                PestControlError::InThePast => ApiError::invalid("event_at", e.to_string()),
            })?
        } else {
            match body.send_at {
                Some(at) if at < now - chrono::Duration::minutes(1) => {
                    return Err(ApiError::invalid("send_at", "send_at is in the past").into());
                }
                Some(at) => at.max(now),
                None => now,
            }
        };
        let audience = body.audience.clone().unwrap_or_default();
        check_audience(&self.state, community.id, &audience).await?;
        let channels: BTreeSet<String> = match &body.channels {
            Some(list) => {
                let mut set = BTreeSet::new();
                for c in list {
                    set.insert(c.get("channels")?.as_str().to_owned());
                }
                set
            }
            None => Channel::ALL.iter().map(|c| c.as_str().to_owned()).collect(),
        };
        let id = new_id();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = notice::ActiveModel {
            id: Set(id),
            company_id: Set(staff.company_id),
            community_id: Set(community.id),
            category: Set(category.as_str().into()),
            title: Set(body.title.trim().into()),
            body: Set(body.body.trim().into()),
            reason: Set(body.reason.as_ref().map(|r| r.trim().to_owned())),
            starts_at: Set(body.starts_at.or(body.event_at)),
            restores_at: Set(body.restores_at),
            audience: Set(json!(Audience {
                building_ids: audience.building_ids.clone(),
                unit_ids: audience.unit_ids.clone(),
                household_ids: audience.household_ids.clone(),
            })),
            channels: Set(json!(channels)),
            urgent: Set(urgent),
            // Sent now: it is going out, not waiting (and no longer cancellable).
            status: Set(if send_at <= now {
                "sending"
            } else {
                "scheduled"
            }
            .into()),
            send_at: Set(send_at),
            created_by: Set(staff.id),
            created_at: Set(now),
            sent_at: Set(None),
            cancelled_at: Set(None),
            targeted: Set(0),
        }
        .insert(&txn)
        .await?;
        outbox::enqueue(&txn, &NoticeFanout { notice_id: id }, send_at, now).await?;
        let entry = staff
            .audit("create_notice", "notice")
            .object(id)
            .community(community.id)
            .details(
                json!({ "category": category.as_str(), "send_at": send_at, "urgent": urgent }),
            );
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        tracing::info!(notice = %id, category = %category, send_at = %send_at, "notice accepted");
        Ok(NoticeCreated::Created(Json(
            notice_dto(&self.state, row).await?,
        )))
    }

    /// List a community's notices
    #[oai(
        path = "/communities/:community_id/notices",
        method = "get",
        operation_id = "list_notices"
    )]
    async fn list_notices(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<NoticePage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let select = notice::Entity::find().filter(notice::Column::CommunityId.eq(community.id));
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            notice::Column::Id,
            cursor.as_deref(),
            *limit,
            |n| n.id,
        )
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(notice_dto(&self.state, row).await?);
        }
        Ok(Json(NoticePage { items, next_cursor }))
    }

    /// Get a notice with its delivery counts
    #[oai(
        path = "/notices/:notice_id",
        method = "get",
        operation_id = "get_notice"
    )]
    async fn get_notice(
        &self,
        auth: BearerAuth,
        notice_id: Path<Uuid>,
    ) -> ApiResult<Json<Notice>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_notice(&self.state, staff, *notice_id).await?;
        Ok(Json(notice_dto(&self.state, row).await?))
    }

    /// Cancel a scheduled notice
    ///
    /// Only before it goes out; afterwards the answer is 409 naming its state.
    #[oai(
        path = "/notices/:notice_id/cancel",
        method = "post",
        operation_id = "cancel_notice"
    )]
    async fn cancel_notice(
        &self,
        auth: BearerAuth,
        notice_id: Path<Uuid>,
    ) -> ApiResult<Json<Notice>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_notice(&self.state, staff, *notice_id).await?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let cancelled = notice::Entity::update_many()
            .col_expr(notice::Column::Status, Expr::value("cancelled"))
            .col_expr(notice::Column::CancelledAt, Expr::value(now))
            .filter(notice::Column::Id.eq(row.id))
            .filter(notice::Column::Status.eq("scheduled"))
            .exec(&txn)
            .await?
            .rows_affected;
        if cancelled == 0 {
            return Err(ApiError::Conflict {
                kind: "wrong-state",
                detail: format!(
                    "the notice is {} and can no longer be cancelled",
                    row.status
                ),
            }
            .into());
        }
        let entry = staff
            .audit("cancel_notice", "notice")
            .object(row.id)
            .community(row.community_id);
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        let row = load_notice(&self.state, staff, row.id).await?;
        Ok(Json(notice_dto(&self.state, row).await?))
    }

    /// Trail of a notice's recipients
    ///
    /// Per resident: the inbox message, when it was read, and every send with its channel,
    /// status, time and the provider's answer.
    #[oai(
        path = "/notices/:notice_id/recipients",
        method = "get",
        operation_id = "list_notice_recipients"
    )]
    async fn recipients(
        &self,
        auth: BearerAuth,
        notice_id: Path<Uuid>,
        /// Only this resident.
        resident_id: Query<Option<Uuid>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<RecipientPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let row = load_notice(&self.state, staff, *notice_id).await?;
        let mut select = message::Entity::find().filter(message::Column::NoticeId.eq(row.id));
        if let Some(resident) = *resident_id {
            select = select.filter(message::Column::ResidentId.eq(resident));
        }
        let (messages, next_cursor) = fetch_page(
            &self.state.db,
            select,
            message::Column::Id,
            cursor.as_deref(),
            *limit,
            |m| m.id,
        )
        .await?;
        let deliveries = delivery::Entity::find()
            .filter(delivery::Column::MessageId.is_in(messages.iter().map(|m| m.id)))
            .order_by_asc(delivery::Column::CreatedAt)
            .all(&self.state.db)
            .await?;
        let mut by_message: BTreeMap<Uuid, Vec<DeliveryTrail>> = BTreeMap::new();
        for d in deliveries {
            by_message
                .entry(d.message_id)
                .or_default()
                .push(trail_dto(d));
        }
        let items = messages
            .into_iter()
            .map(|m| Recipient {
                resident_id: m.resident_id,
                message_id: m.id,
                read_at: m.read_at,
                deliveries: by_message.remove(&m.id).unwrap_or_default(),
            })
            .collect();
        Ok(Json(RecipientPage { items, next_cursor }))
    }
}

async fn check_audience(
    state: &AppState,
    community_id: Uuid,
    audience: &AudienceDto,
) -> Result<(), ApiError> {
    use courtyard_domain::entities::{building, household, unit};
    let buildings = building::Entity::find()
        .filter(building::Column::CommunityId.eq(community_id))
        .filter(building::Column::Id.is_in(audience.building_ids.iter().copied()))
        .count(&state.db)
        .await?;
    if buildings as usize != audience.building_ids.iter().collect::<BTreeSet<_>>().len() {
        return Err(ApiError::invalid(
            "audience.building_ids",
            "every building must be in this community",
        ));
    }
    let units = unit::Entity::find()
        .filter(unit::Column::CommunityId.eq(community_id))
        .filter(unit::Column::Id.is_in(audience.unit_ids.iter().copied()))
        .count(&state.db)
        .await?;
    if units as usize != audience.unit_ids.iter().collect::<BTreeSet<_>>().len() {
        return Err(ApiError::invalid(
            "audience.unit_ids",
            "every unit must be in this community",
        ));
    }
    let households = household::Entity::find()
        .filter(household::Column::CommunityId.eq(community_id))
        .filter(household::Column::Id.is_in(audience.household_ids.iter().copied()))
        .count(&state.db)
        .await?;
    if households as usize != audience.household_ids.iter().collect::<BTreeSet<_>>().len() {
        return Err(ApiError::invalid(
            "audience.household_ids",
            "every household must be in this community",
        ));
    }
    Ok(())
}

async fn load_notice(
    state: &AppState,
    staff: &StaffPrincipal,
    id: Uuid,
) -> Result<notice::Model, ApiError> {
    let row = notice::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("notice"))?;
    staff
        .community(state, row.community_id)
        .await
        .map_err(|_| ApiError::NotFound("notice"))?;
    Ok(row)
}

async fn notice_dto(state: &AppState, row: notice::Model) -> Result<Notice, ApiError> {
    let statuses: Vec<(String, i64)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .column_as(
            sea_orm::ExprTrait::count(Expr::col(delivery::Column::Id)),
            "n",
        )
        .filter(delivery::Column::NoticeId.eq(row.id))
        .group_by(delivery::Column::Status)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut counts = NoticeCounts::default();
    for (status, n) in statuses {
        let n = n as u64;
        match status.as_str() {
            "sent" => counts.sent += n,
            "failed" | "dead" => counts.failed += n,
            "invalid_token" => counts.invalid_token += n,
            "suppressed" => counts.suppressed += n,
            _ => counts.pending += n,
        }
    }
    counts.targeted = message::Entity::find()
        .filter(message::Column::NoticeId.eq(row.id))
        .count(&state.db)
        .await?;
    counts.read = message::Entity::find()
        .filter(message::Column::NoticeId.eq(row.id))
        .filter(message::Column::ReadAt.is_not_null())
        .count(&state.db)
        .await?;
    let audience: Audience = serde_json::from_value(row.audience).unwrap_or_default();
    Ok(Notice {
        id: row.id,
        community_id: row.community_id,
        category: Vocab::stored(&row.category),
        title: row.title,
        body: row.body,
        reason: row.reason,
        starts_at: row.starts_at,
        restores_at: row.restores_at,
        audience: AudienceDto {
            building_ids: audience.building_ids,
            unit_ids: audience.unit_ids,
            household_ids: audience.household_ids,
        },
        channels: serde_json::from_value::<Vec<String>>(row.channels)
            .unwrap_or_default()
            .iter()
            .map(|c| Vocab::stored(c))
            .collect(),
        urgent: row.urgent,
        status: Vocab::stored(&row.status),
        send_at: row.send_at,
        created_at: row.created_at,
        sent_at: row.sent_at,
        counts,
    })
}

fn trail_dto(d: delivery::Model) -> DeliveryTrail {
    DeliveryTrail {
        id: d.id,
        resident_id: d.resident_id,
        channel: Vocab::stored(&d.channel),
        status: Vocab::stored(&d.status),
        attempts: d.attempts,
        last_error: d.last_error,
        provider_id: d.provider_id,
        created_at: d.created_at,
        updated_at: d.updated_at,
        sent_at: d.sent_at,
    }
}
