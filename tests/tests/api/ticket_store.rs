//! The store's hand-written PostgreSQL list read (an `OFFSET 0` fence, rows decoded by
//! column name) against the plain sea-orm read of the same tickets: they must agree field
//! for field, with every nullable column both empty and filled. On SQLite both are sea-orm.

use chrono::Duration;
use courtyard_domain::entities::ticket;
use courtyard_store::tickets::list_page;
use courtyard_tests::{ClockExt, spawn_app, world::World};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};

#[tokio::test]
async fn the_fast_list_read_and_the_orm_read_agree_on_every_column() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let now = app.clock.now_utc();
    // One ticket with every optional column filled.
    let row = ticket::Entity::find_by_id(world.a.ticket)
        .one(&app.db)
        .await
        .expect("read")
        .expect("the world's ticket");
    let mut full = row.into_active_model();
    full.registered_by = Set(Some(world.a.butler));
    full.urgency = Set(Some("emergency".into()));
    full.severity = Set(Some("serious".into()));
    full.location = Set(Some("3栋大堂".into()));
    full.preferred_from = Set(Some(now));
    full.preferred_to = Set(Some(now + Duration::hours(4)));
    full.department = Set(Some("engineering".into()));
    full.assignee_id = Set(Some(world.a.butler));
    full.butler_id = Set(Some(world.a.butler));
    full.price_fen = Set(Some(12_550));
    full.price_status = Set(Some("accepted".into()));
    full.price_note = Set(Some("换阀门".into()));
    full.rating = Set(Some(5));
    full.satisfied = Set(Some(true));
    full.rating_comment = Set(Some("很好".into()));
    full.rated_via = Set(Some("app".into()));
    full.rated_at = Set(Some(now));
    full.dispatched_at = Set(Some(now));
    full.answered_at = Set(Some(now));
    full.arrived_at = Set(Some(now));
    full.completed_at = Set(Some(now));
    full.closed_at = Set(Some(now));
    full.cancelled_at = Set(Some(now));
    full.next_due_at = Set(Some(now + Duration::hours(1)));
    full.breached = Set(true);
    full.update(&app.db).await.expect("fill every column");

    let orm: Vec<ticket::Model> = ticket::Entity::find()
        .order_by_desc(ticket::Column::Id)
        .all(&app.db)
        .await
        .expect("orm read");
    assert!(orm.len() >= 3, "the world has tickets in three places");
    let fast = list_page(&app.db, ticket::Entity::find(), 100)
        .await
        .expect("list read");
    assert_eq!(fast, orm);

    let filtered = list_page(
        &app.db,
        ticket::Entity::find().filter(ticket::Column::CommunityId.eq(world.a.community)),
        1,
    )
    .await
    .expect("filtered read");
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].community_id, world.a.community);
}
