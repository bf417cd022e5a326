//! Residents' rights over their data (PIPL arts. 44–47): the copy of everything held about
//! a resident ([`export_document`]) and the erasure of their personal data ([`erase`]).
//!
//! Erasure anonymises the resident's row rather than deleting it: tickets, bills, payments,
//! deliveries and the audit trail are the company's records and keep pointing at a row,
//! but the row no longer says who the person was, and everything that could reach them
//! (devices, tokens, memberships, consents, preferences) is gone.

use chrono::{DateTime, Utc};
use courtyard_domain::entities::{
    bill, booking, data_export, delivery, device, erasure_request, household, household_member,
    idempotency_record, login_code, message, notification_preference, payment, payment_bill,
    refresh_token, resident, resident_consent, service_package, ticket, ticket_event, ticket_photo,
    wechat_consent,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// The name an erased resident's row keeps.
pub const ERASED_NAME: &str = "已注销用户";

/// The phone an erased resident's row keeps: unique, and no phone number.
pub fn erased_phone(id: Uuid) -> String {
    format!("erased-{}", id.simple())
}

/// What an erasure removed or detached.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Erased {
    /// Devices deleted (no push can reach them).
    pub devices: u64,
    /// Refresh tokens deleted (every session ends).
    pub refresh_tokens: u64,
    /// Household memberships removed.
    pub memberships: u64,
    /// Tickets kept for the records, detached from the person.
    pub tickets_detached: u64,
    /// Payments kept, detached from the payer.
    pub payments_detached: u64,
    /// Inbox messages emptied of their text.
    pub messages_emptied: u64,
    /// Deliveries still waiting, suppressed.
    pub deliveries_suppressed: u64,
}

/// Erases resident `id`'s personal data at `now`, in the caller's transaction: the row
/// anonymised (name, phone, birthday, WeChat openid, quiet hours), devices, tokens, login
/// codes, memberships, preferences, consents, saved responses and exports deleted; tickets,
/// service packages and payments detached; inbox messages emptied; waiting deliveries
/// suppressed. Idempotent: erasing an erased resident changes nothing more.
pub async fn erase(
    txn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Erased, DbErr> {
    let Some(row) = resident::Entity::find_by_id(id).one(txn).await? else {
        return Ok(Erased::default());
    };
    let mut erased = Erased::default();
    resident::Entity::update_many()
        .col_expr(resident::Column::Name, Expr::value(ERASED_NAME))
        .col_expr(resident::Column::Phone, Expr::value(erased_phone(id)))
        .col_expr(
            resident::Column::Birthday,
            Expr::value(Option::<chrono::NaiveDate>::None),
        )
        .col_expr(
            resident::Column::WechatOpenid,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            resident::Column::QuietStart,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            resident::Column::QuietEnd,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            resident::Column::ErasedAt,
            Expr::value(row.erased_at.unwrap_or(now)),
        )
        .col_expr(resident::Column::UpdatedAt, Expr::value(now))
        .filter(resident::Column::Id.eq(id))
        .exec(txn)
        .await?;
    erased.devices = device::Entity::delete_many()
        .filter(device::Column::OwnerKind.eq("resident"))
        .filter(device::Column::OwnerId.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    erased.refresh_tokens = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::SubjectKind.eq("resident"))
        .filter(refresh_token::Column::SubjectId.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    if row.erased_at.is_none() {
        login_code::Entity::delete_many()
            .filter(login_code::Column::Phone.eq(row.phone.as_str()))
            .exec(txn)
            .await?;
    }
    erased.memberships = household_member::Entity::delete_many()
        .filter(household_member::Column::ResidentId.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    notification_preference::Entity::delete_many()
        .filter(notification_preference::Column::ResidentId.eq(id))
        .exec(txn)
        .await?;
    wechat_consent::Entity::delete_many()
        .filter(wechat_consent::Column::ResidentId.eq(id))
        .exec(txn)
        .await?;
    resident_consent::Entity::delete_many()
        .filter(resident_consent::Column::ResidentId.eq(id))
        .exec(txn)
        .await?;
    idempotency_record::Entity::delete_many()
        .filter(idempotency_record::Column::PrincipalId.eq(id))
        .exec(txn)
        .await?;
    data_export::Entity::delete_many()
        .filter(data_export::Column::ResidentId.eq(id))
        .exec(txn)
        .await?;
    erased.tickets_detached = ticket::Entity::update_many()
        .col_expr(
            ticket::Column::ResidentId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(ticket::Column::ResidentId.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    service_package::Entity::update_many()
        .col_expr(
            service_package::Column::ResidentId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(service_package::Column::ResidentId.eq(id))
        .exec(txn)
        .await?;
    erased.payments_detached = payment::Entity::update_many()
        .col_expr(payment::Column::PayerId, Expr::value(Option::<Uuid>::None))
        .filter(payment::Column::PayerId.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    erased.messages_emptied = message::Entity::update_many()
        .col_expr(message::Column::Title, Expr::value(""))
        .col_expr(message::Column::Body, Expr::value(""))
        .col_expr(message::Column::Data, Expr::value(json!({})))
        .filter(message::Column::ResidentId.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    erased.deliveries_suppressed = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value("suppressed"))
        .col_expr(delivery::Column::LastError, Expr::value("resident erased"))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::RecipientKind.eq("resident"))
        .filter(delivery::Column::ResidentId.eq(id))
        .filter(delivery::Column::Status.is_in(["pending", "sending", "failed"]))
        .exec(txn)
        .await?
        .rows_affected;
    erasure_request::Entity::update_many()
        .col_expr(erasure_request::Column::Status, Expr::value("done"))
        .col_expr(erasure_request::Column::CarriedOutAt, Expr::value(now))
        .filter(erasure_request::Column::ResidentId.eq(id))
        .filter(erasure_request::Column::Status.eq("scheduled"))
        .exec(txn)
        .await?;
    Ok(erased)
}

/// The erasure requests due at `now`, oldest first (at most `limit`).
pub async fn due_erasures(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<erasure_request::Model>, DbErr> {
    erasure_request::Entity::find()
        .filter(erasure_request::Column::Status.eq("scheduled"))
        .filter(erasure_request::Column::DueAt.lte(now))
        .order_by_asc(erasure_request::Column::DueAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Everything held about resident `id`, as one JSON document: profile, memberships with
/// their households, devices, preferences, consents, sessions, tickets (with their events,
/// photos' links and ratings), bookings, service packages, inbox messages, deliveries,
/// and the bills and payments of their households.
pub async fn export_document(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Value>, DbErr> {
    let Some(profile) = resident::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let memberships = household_member::Entity::find()
        .filter(household_member::Column::ResidentId.eq(id))
        .all(conn)
        .await?;
    let household_ids: Vec<Uuid> = memberships.iter().map(|m| m.household_id).collect();
    let households = household::Entity::find()
        .filter(household::Column::Id.is_in(household_ids.clone()))
        .all(conn)
        .await?;
    let devices = device::Entity::find()
        .filter(device::Column::OwnerKind.eq("resident"))
        .filter(device::Column::OwnerId.eq(id))
        .all(conn)
        .await?;
    let preferences = notification_preference::Entity::find()
        .filter(notification_preference::Column::ResidentId.eq(id))
        .all(conn)
        .await?;
    let wechat_consents = wechat_consent::Entity::find()
        .filter(wechat_consent::Column::ResidentId.eq(id))
        .all(conn)
        .await?;
    let consents = resident_consent::Entity::find()
        .filter(resident_consent::Column::ResidentId.eq(id))
        .order_by_asc(resident_consent::Column::CreatedAt)
        .all(conn)
        .await?;
    let sessions = refresh_token::Entity::find()
        .filter(refresh_token::Column::SubjectKind.eq("resident"))
        .filter(refresh_token::Column::SubjectId.eq(id))
        .order_by_asc(refresh_token::Column::CreatedAt)
        .all(conn)
        .await?;
    // Their tickets: reported by them or for them.
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::ResidentId.eq(id))
        .order_by_asc(ticket::Column::CreatedAt)
        .all(conn)
        .await?;
    let ticket_ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let mut events = Vec::new();
    let mut photos = Vec::new();
    let mut bookings = Vec::new();
    for chunk in ticket_ids.chunks(500) {
        events.extend(
            ticket_event::Entity::find()
                .filter(ticket_event::Column::TicketId.is_in(chunk.to_vec()))
                .order_by_asc(ticket_event::Column::CreatedAt)
                .all(conn)
                .await?,
        );
        photos.extend(
            ticket_photo::Entity::find()
                .filter(ticket_photo::Column::TicketId.is_in(chunk.to_vec()))
                .all(conn)
                .await?,
        );
        bookings.extend(
            booking::Entity::find()
                .filter(booking::Column::TicketId.is_in(chunk.to_vec()))
                .all(conn)
                .await?,
        );
    }
    let tickets: Vec<Value> = tickets
        .into_iter()
        .map(|t| {
            let rating = t.rating.map(|stars| {
                json!({
                    "stars": stars,
                    "satisfied": t.satisfied,
                    "comment": t.rating_comment,
                    "via": t.rated_via,
                    "at": t.rated_at,
                })
            });
            json!({
                "ticket": &t,
                "rating": rating,
                "events": events.iter().filter(|e| e.ticket_id == t.id).collect::<Vec<_>>(),
                "photos": photos
                    .iter()
                    .filter(|p| p.ticket_id == t.id)
                    .map(|p| json!({
                        "id": p.id,
                        "stage": p.stage,
                        "content_type": p.content_type,
                        "size_bytes": p.size_bytes,
                        "created_at": p.created_at,
                        "url": format!("/v1/tickets/{}/photos/{}", t.id, p.id),
                    }))
                    .collect::<Vec<_>>(),
                "booking": bookings.iter().find(|b| b.ticket_id == t.id),
            })
        })
        .collect();
    let packages = service_package::Entity::find()
        .filter(service_package::Column::ResidentId.eq(id))
        .all(conn)
        .await?;
    let messages = message::Entity::find()
        .filter(message::Column::ResidentId.eq(id))
        .order_by_asc(message::Column::CreatedAt)
        .all(conn)
        .await?;
    let deliveries = delivery::Entity::find()
        .filter(delivery::Column::RecipientKind.eq("resident"))
        .filter(delivery::Column::ResidentId.eq(id))
        .order_by_asc(delivery::Column::CreatedAt)
        .all(conn)
        .await?;
    let bills = bill::Entity::find()
        .filter(bill::Column::HouseholdId.is_in(household_ids.clone()))
        .order_by_asc(bill::Column::IssuedAt)
        .all(conn)
        .await?;
    let payments = payment::Entity::find()
        .filter(
            Condition::any()
                .add(payment::Column::HouseholdId.is_in(household_ids.clone()))
                .add(payment::Column::PayerId.eq(id)),
        )
        .order_by_asc(payment::Column::CreatedAt)
        .all(conn)
        .await?;
    let paid_bills = payment_bill::Entity::find()
        .filter(payment_bill::Column::PaymentId.is_in(payments.iter().map(|p| p.id)))
        .all(conn)
        .await?;
    let erasure = erasure_request::Entity::find()
        .filter(erasure_request::Column::ResidentId.eq(id))
        .all(conn)
        .await?;
    Ok(Some(json!({
        "format": "courtyard-personal-data/1",
        "generated_at": now,
        "profile": {
            "id": profile.id,
            "name": profile.name,
            "phone": profile.phone,
            "birthday": profile.birthday,
            "locale": profile.locale,
            "wechat_bound": profile.wechat_openid.is_some(),
            "quiet_hours": profile.quiet_start.as_ref().map(|start| json!({
                "start": start,
                "end": profile.quiet_end,
            })),
            "created_at": profile.created_at,
            "updated_at": profile.updated_at,
        },
        "memberships": memberships
            .iter()
            .map(|m| json!({
                "household_id": m.household_id,
                "community_id": m.community_id,
                "role": m.role,
                "since": m.created_at,
                "household": households.iter().find(|h| h.id == m.household_id),
            }))
            .collect::<Vec<_>>(),
        "devices": devices,
        "preferences": preferences,
        "consents": consents,
        "wechat_consents": wechat_consents,
        "sessions": sessions,
        "tickets": tickets,
        "service_packages": packages,
        "messages": messages,
        "deliveries": deliveries,
        "bills": bills,
        "payments": payments
            .iter()
            .map(|p| json!({
                "payment": p,
                "bills": paid_bills
                    .iter()
                    .filter(|b| b.payment_id == p.id)
                    .map(|b| b.bill_id)
                    .collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>(),
        "erasure_requests": erasure,
    })))
}
