//! One-off charges written by other areas: an accepted repair price becomes a charge on the
//! household's next bill, in the transaction that records the acceptance.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{household_charge, ticket},
    new_id,
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};
use uuid::Uuid;

/// The charge of a repair's accepted price; a second acceptance of the same ticket (there
/// is none, but a retried transaction could) adds nothing.
pub async fn for_repair(
    conn: &impl ConnectionTrait,
    repair: &ticket::Model,
    household_id: Uuid,
    price_fen: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    household_charge::Entity::insert(household_charge::ActiveModel {
        id: Set(new_id()),
        community_id: Set(repair.community_id),
        household_id: Set(household_id),
        description: Set("有偿维修费".into()),
        amount_fen: Set(price_fen),
        ticket_id: Set(Some(repair.id)),
        bill_id: Set(None),
        created_by: Set(None),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(household_charge::Column::TicketId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
