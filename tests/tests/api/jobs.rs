//! The job registry: every outbox kind the producers write has a handler, and a job nobody
//! can run (an unknown kind, an unreadable payload) ends in the dead letters, not the floor.

use std::time::Duration;

use courtyard_domain::{
    entities::outbox_entry,
    jobs::{NoticeFanout, OutboxJob, TicketNotify},
    new_id,
};
use courtyard_tests::{ClockExt, TestApp, redis_url, spawn_app, spawn_app_with};
use courtyard_workers::registry::Registry;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

async fn outbox(app: &TestApp, kind: &str, payload: serde_json::Value) {
    let now = app.clock.now_utc();
    outbox_entry::ActiveModel {
        id: Set(new_id()),
        kind: Set(kind.into()),
        payload: Set(payload),
        available_at: Set(now),
        created_at: Set(now),
        relayed_at: Set(None),
    }
    .insert(&app.db)
    .await
    .expect("outbox row");
}

/// Waits until the queue holds `n` dead letters; returns their kinds and reasons.
async fn dead_letters(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let queue = app
        .workers
        .as_ref()
        .expect("in-process workers")
        .pipeline()
        .queue
        .clone();
    for _ in 0..100 {
        let dead = queue.dead_letters(10).await.expect("dead letters");
        if dead.len() >= n {
            return dead.into_iter().map(|d| (d.job.kind, d.reason)).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} dead letters after 5 s");
}

#[test]
fn every_outbox_kind_the_fanout_stream_carries_has_a_handler() {
    let kinds: Vec<&str> = Registry::standard().kinds().collect();
    assert!(kinds.contains(&NoticeFanout::KIND), "{kinds:?}");
    assert!(kinds.contains(&TicketNotify::KIND), "{kinds:?}");
}

async fn unrunnable_jobs_are_dead_lettered(app: TestApp) {
    outbox(&app, "bogus.kind", json!({ "anything": 1 })).await;
    outbox(
        &app,
        TicketNotify::KIND,
        json!({ "event_id": "not-a-uuid" }),
    )
    .await;
    let mut dead = dead_letters(&app, 2).await;
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].0, "bogus.kind");
    assert!(dead[0].1.contains("no handler"), "{dead:?}");
    assert_eq!(dead[1].0, TicketNotify::KIND);
    assert!(dead[1].1.contains("unreadable"), "{dead:?}");
}

#[tokio::test]
async fn unknown_and_unreadable_jobs_go_to_the_dead_letters_in_process() {
    unrunnable_jobs_are_dead_lettered(spawn_app().await).await;
}

#[tokio::test]
async fn unknown_and_unreadable_jobs_go_to_the_dead_letters_on_redis() {
    let app = spawn_app_with(|s| s.redis.url = Some(redis_url().into())).await;
    unrunnable_jobs_are_dead_lettered(app).await;
}
