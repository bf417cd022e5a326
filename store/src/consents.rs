//! WeChat one-time subscription consents (一次性订阅): a resident's accepted
//! `wx.requestSubscribeMessage` allows one message of its category. Granting adds to the
//! count (capped); taking one is a compare-and-swap, so one consent is never used twice.

use chrono::{DateTime, Utc};
use courtyard_domain::entities::wechat_consent;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

/// Adds `accepted` consents of `category` (at most `cap` kept); returns how many are unused.
pub async fn grant(
    conn: &impl ConnectionTrait,
    resident_id: Uuid,
    category: &str,
    accepted: i32,
    cap: i32,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    wechat_consent::Entity::insert(wechat_consent::ActiveModel {
        resident_id: sea_orm::Set(resident_id),
        category: sea_orm::Set(category.into()),
        remaining: sea_orm::Set(0),
        updated_at: sea_orm::Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            wechat_consent::Column::ResidentId,
            wechat_consent::Column::Category,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    wechat_consent::Entity::update_many()
        .col_expr(
            wechat_consent::Column::Remaining,
            Expr::case(
                Expr::col(wechat_consent::Column::Remaining)
                    .add(accepted)
                    .gt(cap),
                cap,
            )
            .finally(Expr::col(wechat_consent::Column::Remaining).add(accepted))
            .into(),
        )
        .col_expr(wechat_consent::Column::UpdatedAt, Expr::value(now))
        .filter(wechat_consent::Column::ResidentId.eq(resident_id))
        .filter(wechat_consent::Column::Category.eq(category))
        .exec(conn)
        .await?;
    Ok(
        wechat_consent::Entity::find_by_id((resident_id, category.to_owned()))
            .one(conn)
            .await?
            .map_or(0, |c| c.remaining),
    )
}

/// Takes one unused consent of `category`; false when none is left.
pub async fn take(
    conn: &impl ConnectionTrait,
    resident_id: Uuid,
    category: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let taken = wechat_consent::Entity::update_many()
        .col_expr(
            wechat_consent::Column::Remaining,
            Expr::col(wechat_consent::Column::Remaining).sub(1),
        )
        .col_expr(wechat_consent::Column::UpdatedAt, Expr::value(now))
        .filter(wechat_consent::Column::ResidentId.eq(resident_id))
        .filter(wechat_consent::Column::Category.eq(category))
        .filter(wechat_consent::Column::Remaining.gt(0))
        .exec(conn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Which of `residents` have an unused consent of `category`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    residents: &[Uuid],
    category: &str,
) -> Result<Vec<Uuid>, DbErr> {
    let mut out = Vec::new();
    for chunk in residents.chunks(500) {
        out.extend(
            wechat_consent::Entity::find()
                .select_only()
                .column(wechat_consent::Column::ResidentId)
                .filter(wechat_consent::Column::ResidentId.is_in(chunk.iter().copied()))
                .filter(wechat_consent::Column::Category.eq(category))
                .filter(wechat_consent::Column::Remaining.gt(0))
                .into_tuple::<Uuid>()
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}
