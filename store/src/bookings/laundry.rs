//! A laundry order's items and a booking's claims: read for the booking's view, and a
//! claim settled once (a conditional update on its being open). The items and the claims a
//! step records are written with the step (`bookings::apply`'s `Change`).

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{booking_claim, laundry_item},
    services::laundry::ClaimState,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

/// A laundry order's items, as counted.
pub async fn items(
    conn: &impl ConnectionTrait,
    booking_id: Uuid,
) -> Result<Vec<laundry_item::Model>, DbErr> {
    laundry_item::Entity::find()
        .filter(laundry_item::Column::BookingId.eq(booking_id))
        .order_by_asc(laundry_item::Column::Position)
        .all(conn)
        .await
}

/// A booking's claims, oldest first.
pub async fn claims(
    conn: &impl ConnectionTrait,
    booking_id: Uuid,
) -> Result<Vec<booking_claim::Model>, DbErr> {
    booking_claim::Entity::find()
        .filter(booking_claim::Column::BookingId.eq(booking_id))
        .order_by_asc(booking_claim::Column::CreatedAt)
        .order_by_asc(booking_claim::Column::Id)
        .all(conn)
        .await
}

/// How the office settles a claim.
pub struct Settlement<'a> {
    /// Settled or rejected.
    pub state: ClaimState,
    /// Compensation agreed, fen.
    pub compensation_fen: Option<i64>,
    /// What was agreed, or why it was rejected.
    pub resolution: &'a str,
    /// Who settled it.
    pub by: Uuid,
}

/// Settles an open claim; false when it was settled already.
pub async fn settle(
    conn: &impl ConnectionTrait,
    claim_id: Uuid,
    s: Settlement<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = booking_claim::Entity::update_many()
        .col_expr(booking_claim::Column::State, Expr::value(s.state.as_str()))
        .col_expr(
            booking_claim::Column::CompensationFen,
            Expr::value(s.compensation_fen),
        )
        .col_expr(booking_claim::Column::Resolution, Expr::value(s.resolution))
        .col_expr(booking_claim::Column::SettledBy, Expr::value(s.by))
        .col_expr(booking_claim::Column::SettledAt, Expr::value(now))
        .filter(booking_claim::Column::Id.eq(claim_id))
        .filter(booking_claim::Column::State.eq(ClaimState::Open.as_str()))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}
