//! Dead letters: the sends that failed on every attempt, of every kind (notices, ticket
//! updates to residents and staff, greetings, fee reminders), and their replay. The
//! `deliveries` row is the dead letter: listing reads it, replay starts it over with fresh
//! attempts and an outbox row that enqueues it again, in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{community, delivery, message, staff_message},
    jobs::DeliveriesEnqueue,
    notifications::{Category, DeliveryChannel, DeliveryStatus, RecipientKind},
};
use courtyard_store::audit;
use courtyard_store::outbox;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, Query as SqlQuery, SelectStatement},
};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth, StaffPrincipal},
    error::{ApiError, ApiResult, status::*},
    page_of,
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A send that failed on every attempt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeadLetter {
    /// Delivery id (replay it by this).
    pub id: Uuid,
    /// resident or staff.
    pub recipient_kind: Vocab<RecipientKind>,
    /// The resident's or staff member's id.
    pub recipient_id: Uuid,
    /// What it was about: outage, notice, ticket_update, greeting, fee_reminder...
    pub category: Vocab<Category>,
    /// The message's title.
    pub title: String,
    /// The notice, for a notice's send.
    pub notice_id: Option<Uuid>,
    /// The ticket, for a staff member's ticket message.
    pub ticket_id: Option<Uuid>,
    /// apns, fcm, sms or wechat.
    pub channel: Vocab<DeliveryChannel>,
    /// dead until replayed; after a replay, where it went from there.
    pub status: Vocab<DeliveryStatus>,
    /// Attempts made.
    pub attempts: i32,
    /// The provider's last error.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

page_of!(DeadLetterPage, DeadLetter);

/// A replayed dead letter.
#[derive(ApiResponse)]
pub enum Replayed {
    /// Queued again with fresh attempts.
    #[oai(status = 202)]
    Accepted(Json<DeadLetter>),
}

/// The dead-letter endpoints.
pub struct DeadLettersApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Notices")]
impl DeadLettersApi {
    /// List dead letters
    ///
    /// Sends of every kind that failed on every attempt, in the caller's company, oldest
    /// first: notices, ticket updates (residents' and staff's), greetings, fee reminders.
    /// Admins only.
    #[oai(
        path = "/dead-letters",
        method = "get",
        operation_id = "list_dead_letters"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this category.
        category: Query<Option<Vocab<Category>>>,
        /// Only residents' or only staff members'.
        recipient_kind: Query<Option<Vocab<RecipientKind>>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<DeadLetterPage>, { AUTHED | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let category = category.0.as_ref().map(|c| c.get("category")).transpose()?;
        let kind = recipient_kind
            .0
            .as_ref()
            .map(|k| k.get("recipient_kind"))
            .transpose()?;
        let select = delivery::Entity::find()
            .filter(delivery::Column::Status.eq("dead"))
            .filter(in_company(staff, category, kind));
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            delivery::Column::Id,
            cursor.as_deref(),
            *limit,
            |d| d.id,
        )
        .await?;
        Ok(Json(DeadLetterPage {
            items: dead_letters(&self.state, rows).await?,
            next_cursor,
        }))
    }

    /// Replay a dead letter
    ///
    /// The delivery starts over with fresh attempts, of whatever kind it is. Admins only;
    /// 409 unless it is dead.
    #[oai(
        path = "/dead-letters/:delivery_id/replay",
        method = "post",
        operation_id = "replay_dead_letter"
    )]
    async fn replay(
        &self,
        auth: BearerAuth,
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Replayed, { AUTHED | NOT_FOUND | CONFLICT }> {
        let staff = auth.0.staff(ADMINS)?;
        let row = delivery::Entity::find_by_id(*delivery_id)
            .filter(in_company(staff, None, None))
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("dead letter"))?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let reset = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value("pending"))
            .col_expr(delivery::Column::Attempts, Expr::value(0))
            .col_expr(delivery::Column::DueAt, Expr::value(now))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .filter(delivery::Column::Id.eq(row.id))
            .filter(delivery::Column::Status.eq("dead"))
            .exec(&txn)
            .await?
            .rows_affected;
        if reset == 0 {
            return Err(ApiError::Conflict {
                kind: "wrong-state",
                detail: format!("the delivery is {}, not dead", row.status),
            }
            .into());
        }
        outbox::enqueue(
            &txn,
            &DeliveriesEnqueue {
                delivery_ids: vec![row.id],
            },
            now,
            now,
        )
        .await?;
        let mut entry = staff
            .audit("replay_dead_letter", "delivery")
            .object(row.id)
            .details(serde_json::json!({
                "channel": row.channel,
                "notice_id": row.notice_id,
                "recipient_kind": row.recipient_kind,
            }));
        if row.recipient_kind == RecipientKind::Resident.as_str() {
            entry = entry.resident(row.resident_id);
        }
        if let Some(community) = community_of(&self.state, &row).await? {
            entry = entry.community(community);
        }
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        let row = delivery::Entity::find_by_id(row.id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("dead letter"))?;
        let mut shown = dead_letters(&self.state, vec![row]).await?;
        let shown = shown.pop().ok_or(ApiError::NotFound("dead letter"))?;
        Ok(Replayed::Accepted(Json(shown)))
    }
}

/// Deliveries whose message is in one of the staff member's company's communities (a
/// resident's inbox message or a staff member's), optionally of one category and one kind
/// of recipient.
fn in_company(
    staff: &StaffPrincipal,
    category: Option<Category>,
    kind: Option<RecipientKind>,
) -> Condition {
    let communities = || -> SelectStatement {
        SqlQuery::select()
            .column(community::Column::Id)
            .from(community::Entity)
            .and_where(community::Column::CompanyId.eq(staff.company_id))
            .to_owned()
    };
    let mut residents = SqlQuery::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::CommunityId.in_subquery(communities()))
        .to_owned();
    let mut staff_messages = SqlQuery::select()
        .column(staff_message::Column::Id)
        .from(staff_message::Entity)
        .and_where(staff_message::Column::CommunityId.in_subquery(communities()))
        .to_owned();
    if let Some(category) = category {
        residents.and_where(message::Column::Category.eq(category.as_str()));
        staff_messages.and_where(staff_message::Column::Category.eq(category.as_str()));
    }
    let mut any = Condition::any();
    if kind != Some(RecipientKind::Staff) {
        any = any.add(
            Condition::all()
                .add(delivery::Column::RecipientKind.eq(RecipientKind::Resident.as_str()))
                .add(delivery::Column::MessageId.in_subquery(residents)),
        );
    }
    if kind != Some(RecipientKind::Resident) {
        any = any.add(
            Condition::all()
                .add(delivery::Column::RecipientKind.eq(RecipientKind::Staff.as_str()))
                .add(delivery::Column::MessageId.in_subquery(staff_messages)),
        );
    }
    any
}

/// The community of a delivery's message (a resident's or a staff member's).
async fn community_of(state: &AppState, row: &delivery::Model) -> Result<Option<Uuid>, ApiError> {
    let resident = message::Entity::find_by_id(row.message_id)
        .select_only()
        .column(message::Column::CommunityId)
        .into_tuple::<Uuid>()
        .one(&state.db)
        .await?;
    if resident.is_some() {
        return Ok(resident);
    }
    Ok(staff_message::Entity::find_by_id(row.message_id)
        .select_only()
        .column(staff_message::Column::CommunityId)
        .into_tuple::<Uuid>()
        .one(&state.db)
        .await?)
}

/// `rows` as dead letters, with their messages' categories and titles.
async fn dead_letters(
    state: &AppState,
    rows: Vec<delivery::Model>,
) -> Result<Vec<DeadLetter>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|d| d.message_id).collect();
    let mut about: HashMap<Uuid, (String, String, Option<Uuid>)> = message::Entity::find()
        .select_only()
        .columns([
            message::Column::Id,
            message::Column::Category,
            message::Column::Title,
        ])
        .filter(message::Column::Id.is_in(ids.clone()))
        .into_tuple::<(Uuid, String, String)>()
        .all(&state.db)
        .await?
        .into_iter()
        .map(|(id, category, title)| (id, (category, title, None)))
        .collect();
    about.extend(
        staff_message::Entity::find()
            .select_only()
            .columns([
                staff_message::Column::Id,
                staff_message::Column::Category,
                staff_message::Column::Title,
                staff_message::Column::TicketId,
            ])
            .filter(staff_message::Column::Id.is_in(ids))
            .into_tuple::<(Uuid, String, String, Option<Uuid>)>()
            .all(&state.db)
            .await?
            .into_iter()
            .map(|(id, category, title, ticket)| (id, (category, title, ticket))),
    );
    Ok(rows
        .into_iter()
        .map(|d| {
            let (category, title, ticket_id) =
                about.get(&d.message_id).cloned().unwrap_or_default();
            DeadLetter {
                id: d.id,
                recipient_kind: Vocab::stored(&d.recipient_kind),
                recipient_id: d.resident_id,
                category: Vocab::stored(&category),
                title,
                notice_id: d.notice_id,
                ticket_id,
                channel: Vocab::stored(&d.channel),
                status: Vocab::stored(&d.status),
                attempts: d.attempts,
                last_error: d.last_error,
                created_at: d.created_at,
                updated_at: d.updated_at,
            }
        })
        .collect())
}
