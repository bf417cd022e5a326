//! Slots: a team's day cut into slots (written when first asked for, so capacity follows
//! the team's size then), and their places taken and given back by one conditional update
//! each: `booked = booked + 1 WHERE booked < capacity`, never a count read first, so the
//! last place goes to exactly one of any number of concurrent requests.

use chrono::{DateTime, Utc};
use courtyard_domain::{entities::service_slot, new_id};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

/// The team's slots of one day as `plan` cuts it, written if missing (a slot written
/// before keeps its capacity and places), in order.
pub async fn day(
    conn: &impl ConnectionTrait,
    team_id: Uuid,
    plan: &[(DateTime<Utc>, DateTime<Utc>)],
    capacity: i32,
    now: DateTime<Utc>,
) -> Result<Vec<service_slot::Model>, DbErr> {
    let (Some(first), Some(last)) = (plan.first(), plan.last()) else {
        return Ok(Vec::new());
    };
    let rows = plan
        .iter()
        .map(|&(starts_at, ends_at)| service_slot::ActiveModel {
            id: sea_orm::ActiveValue::Set(new_id()),
            team_id: sea_orm::ActiveValue::Set(team_id),
            starts_at: sea_orm::ActiveValue::Set(starts_at),
            ends_at: sea_orm::ActiveValue::Set(ends_at),
            capacity: sea_orm::ActiveValue::Set(capacity),
            booked: sea_orm::ActiveValue::Set(0),
            created_at: sea_orm::ActiveValue::Set(now),
        });
    service_slot::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([service_slot::Column::TeamId, service_slot::Column::StartsAt])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    service_slot::Entity::find()
        .filter(service_slot::Column::TeamId.eq(team_id))
        .filter(service_slot::Column::StartsAt.gte(first.0))
        .filter(service_slot::Column::StartsAt.lte(last.0))
        .order_by_asc(service_slot::Column::StartsAt)
        .all(conn)
        .await
}

/// Takes one place of a slot; false when it is full.
pub async fn reserve(conn: &impl ConnectionTrait, slot_id: Uuid) -> Result<bool, DbErr> {
    let done = service_slot::Entity::update_many()
        .col_expr(
            service_slot::Column::Booked,
            Expr::col(service_slot::Column::Booked).add(1),
        )
        .filter(service_slot::Column::Id.eq(slot_id))
        .filter(
            Expr::col(service_slot::Column::Booked).lt(Expr::col(service_slot::Column::Capacity)),
        )
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Gives one place of a slot back.
pub async fn release(conn: &impl ConnectionTrait, slot_id: Uuid) -> Result<(), DbErr> {
    service_slot::Entity::update_many()
        .col_expr(
            service_slot::Column::Booked,
            Expr::col(service_slot::Column::Booked).sub(1),
        )
        .filter(service_slot::Column::Id.eq(slot_id))
        .filter(service_slot::Column::Booked.gt(0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Sets a slot's capacity (0 closes it); false when that is fewer than its bookings.
pub async fn set_capacity(
    conn: &impl ConnectionTrait,
    slot_id: Uuid,
    capacity: i32,
) -> Result<bool, DbErr> {
    let done = service_slot::Entity::update_many()
        .col_expr(service_slot::Column::Capacity, Expr::value(capacity))
        .filter(service_slot::Column::Id.eq(slot_id))
        .filter(service_slot::Column::Booked.lte(capacity))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}
