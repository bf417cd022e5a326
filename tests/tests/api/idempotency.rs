//! `Idempotency-Key` on creates: a request in flight answers 409, a failed request frees
//! its key, a claim whose process died is taken over, and keys are scoped per route (the
//! replay and the 422 for another body are in the repair flow of `tickets.rs`).

use chrono::Duration;
use courtyard_domain::entities::idempotency_record;
use courtyard_tests::{ClockExt, TestApp, spawn_app, world::World};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

async fn report(app: &TestApp, token: &str, body: &Value, key: &str) -> courtyard_tests::Reply {
    app.create_repair(token, body, Some(key)).await
}

/// Puts the saved record of `key` back in flight, as if its request were still running,
/// claimed `ago`.
async fn in_flight(app: &TestApp, key: &str, ago: Duration) {
    let moved = idempotency_record::Entity::update_many()
        .col_expr(
            idempotency_record::Column::Status,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(
            idempotency_record::Column::CreatedAt,
            Expr::value(app.clock.now_utc() - ago),
        )
        .filter(idempotency_record::Column::Key.eq(key))
        .exec(&app.db)
        .await
        .expect("update");
    assert_eq!(moved.rows_affected, 1);
}

#[tokio::test]
async fn a_request_in_flight_answers_409_until_its_claim_is_stale() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let token = world.a.resident_tokens.access.as_str();
    let body = json!({
        "household_id": world.a.household,
        "category": "water",
        "urgency": "ordinary",
        "description": "阳台地漏堵塞",
    });
    let first = report(&app, token, &body, "k-1").await.expect(201);

    in_flight(&app, "k-1", Duration::seconds(5)).await;
    report(&app, token, &body, "k-1")
        .await
        .expect_problem(409, "/problems/idempotency-key-in-use");
    // Another body with the key is still refused as another request.
    let other = json!({ "household_id": world.a.household, "category": "gas", "urgency": "ordinary", "description": "x" });
    report(&app, token, &other, "k-1")
        .await
        .expect_problem(422, "/problems/validation");

    // The first request's process died: after the stale window the key is taken over.
    in_flight(&app, "k-1", Duration::minutes(3)).await;
    let retried = report(&app, token, &body, "k-1").await.expect(201);
    assert_ne!(
        retried.id(),
        first.id(),
        "the dead request's work did not count"
    );
    let replay = report(&app, token, &body, "k-1").await.expect(201);
    assert_eq!(replay.id(), retried.id(), "then it replays as usual");
}

#[tokio::test]
async fn a_failed_request_frees_its_key_and_keys_are_per_route() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let token = world.a.resident_tokens.access.as_str();
    // Refused (a window in the past): the key is not spent on it.
    let past = json!({
        "household_id": world.a.household,
        "category": "water",
        "urgency": "ordinary",
        "description": "热水器不出热水",
        "preferred_to": (app.clock.now_utc() - Duration::hours(1)).to_rfc3339(),
    });
    report(&app, token, &past, "k-2")
        .await
        .expect_problem(422, "/problems/validation");
    let fixed = json!({
        "household_id": world.a.household,
        "category": "water",
        "urgency": "ordinary",
        "description": "热水器不出热水",
    });
    let created = report(&app, token, &fixed, "k-2").await.expect(201);
    let saved = idempotency_record::Entity::find()
        .filter(idempotency_record::Column::Key.eq("k-2"))
        .all(&app.db)
        .await
        .expect("records");
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0].route, "POST /v1/repairs");
    assert_eq!(saved[0].status, Some(201));
    assert!(saved[0].completed_at.is_some());

    // The same key on another route is another request's key.
    let complaint = app
        .create_complaint(
            token,
            &json!({
                "household_id": world.a.household,
                "category": "environment",
                "description": "楼道堆放杂物",
            }),
            Some("k-2"),
        )
        .await
        .expect(201);
    assert_ne!(complaint.id(), created.id());
    assert_eq!(complaint.body["kind"], "complaint");
}
