//! The queue contract, held by both implementations: the in-process queue and Redis Streams
//! (against the real Redis, under a key prefix of its own).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use courtyard_tests::redis_url;
use courtyard_workers::queue::{Job, MemoryQueue, Queue, Rate, RedisQueue, Window};
use serde_json::json;

async fn queues() -> Vec<(&'static str, Arc<dyn Queue>)> {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let redis = RedisQueue::connect(client, &prefix).await.expect("redis");
    vec![
        ("memory", Arc::new(MemoryQueue::new())),
        ("redis", Arc::new(redis)),
    ]
}

fn job(n: u32) -> Job {
    Job {
        kind: "test".into(),
        payload: json!({ "n": n }),
    }
}

const NO_WAIT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn jobs_are_leased_acknowledged_and_counted() {
    for (name, queue) in queues().await {
        queue
            .push("s", &[job(1), job(2), job(3)])
            .await
            .expect("push");
        assert_eq!(queue.backlog("s").await.expect("backlog"), 3, "{name}");
        let first = queue.pull("s", "a", 2, LONG, NO_WAIT).await.expect("pull");
        assert_eq!(
            first.iter().map(|l| l.job.clone()).collect::<Vec<_>>(),
            [job(1), job(2)],
            "{name}: in order"
        );
        let second = queue.pull("s", "a", 2, LONG, NO_WAIT).await.expect("pull");
        assert_eq!(second.len(), 1, "{name}");
        assert!(
            queue
                .pull("s", "a", 2, LONG, NO_WAIT)
                .await
                .expect("pull")
                .is_empty(),
            "{name}: nothing left to lease"
        );
        assert_eq!(
            queue.backlog("s").await.expect("backlog"),
            3,
            "{name}: leased jobs still count until acked"
        );
        let ids: Vec<String> = first.iter().chain(&second).map(|l| l.id.clone()).collect();
        queue.ack("s", &ids).await.expect("ack");
        assert_eq!(
            queue.backlog("s").await.expect("backlog"),
            0,
            "{name}: drained"
        );
    }
}

#[tokio::test]
async fn a_dead_consumers_jobs_are_reclaimed_after_the_lease() {
    for (name, queue) in queues().await {
        queue.push("s", &[job(7)]).await.expect("push");
        let taken = queue
            .pull("s", "crashed", 10, Duration::from_millis(200), NO_WAIT)
            .await
            .expect("pull");
        assert_eq!(taken.len(), 1, "{name}");
        let early = queue
            .pull("s", "alive", 10, Duration::from_millis(200), NO_WAIT)
            .await
            .expect("pull");
        assert!(early.is_empty(), "{name}: not before the lease ends");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let reclaimed = queue
            .pull("s", "alive", 10, Duration::from_millis(200), NO_WAIT)
            .await
            .expect("pull");
        assert_eq!(reclaimed.len(), 1, "{name}: reclaimed");
        assert_eq!(reclaimed[0].job, job(7), "{name}");
        queue
            .ack("s", &[reclaimed[0].id.clone()])
            .await
            .expect("ack");
        assert_eq!(queue.backlog("s").await.expect("backlog"), 0, "{name}");
    }
}

#[tokio::test]
async fn delayed_jobs_wait_for_their_time() {
    for (name, queue) in queues().await {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
            .single()
            .expect("time");
        queue
            .push_delayed("s", &job(9), t0 + chrono::Duration::seconds(30))
            .await
            .expect("park");
        assert_eq!(
            queue.backlog("s").await.expect("backlog"),
            1,
            "{name}: parked jobs count"
        );
        assert_eq!(
            queue.promote_due(t0).await.expect("promote"),
            0,
            "{name}: not yet"
        );
        assert!(
            queue
                .pull("s", "a", 10, LONG, NO_WAIT)
                .await
                .expect("pull")
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            queue
                .promote_due(t0 + chrono::Duration::seconds(31))
                .await
                .expect("promote"),
            1,
            "{name}"
        );
        let due = queue.pull("s", "a", 10, LONG, NO_WAIT).await.expect("pull");
        assert_eq!(due.len(), 1, "{name}");
        assert_eq!(due[0].job, job(9), "{name}");
    }
}

#[tokio::test]
async fn dead_letters_are_kept_listed_and_removable() {
    for (name, queue) in queues().await {
        queue
            .dead_letter("send.apns", &job(5), "TooManyRequests (after 5 attempts)")
            .await
            .expect("dead");
        let dead = queue.dead_letters(10).await.expect("list");
        assert_eq!(dead.len(), 1, "{name}");
        assert_eq!(dead[0].stream, "send.apns", "{name}");
        assert_eq!(dead[0].job, job(5), "{name}");
        assert!(dead[0].reason.contains("TooManyRequests"), "{name}");
        queue.remove_dead_letter(&dead[0].id).await.expect("remove");
        assert!(
            queue.dead_letters(10).await.expect("list").is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn pull_waits_for_work_until_its_block_time() {
    for (name, queue) in queues().await {
        let started = std::time::Instant::now();
        assert!(
            queue
                .pull("empty", "a", 1, LONG, Duration::from_millis(300))
                .await
                .expect("pull")
                .is_empty(),
            "{name}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{name}: blocked"
        );
        let pusher = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pusher.push("wake", &[job(1)]).await.expect("push");
        });
        let woken = queue
            .pull("wake", "a", 1, LONG, Duration::from_secs(5))
            .await
            .expect("pull");
        assert_eq!(woken.len(), 1, "{name}: a push wakes a blocked pull");
    }
}

#[tokio::test]
async fn a_rate_lets_a_burst_through_then_schedules_the_rest() {
    // 10 a second, in bursts of 10.
    let rate = Rate::per_minute(600).expect("rate");
    for (name, queue) in queues().await {
        let first = queue.reserve_rate("r", rate, 10).await.expect("reserve");
        assert_eq!(first, Duration::ZERO, "{name}: a full bucket");
        let next = queue.reserve_rate("r", rate, 10).await.expect("reserve");
        // A second behind the first, less the moment between the calls.
        assert!(
            next > Duration::from_millis(900) && next <= Duration::from_secs(1),
            "{name}: {next:?}"
        );
        let other = queue
            .reserve_rate("other", rate, 10)
            .await
            .expect("reserve");
        assert_eq!(other, Duration::ZERO, "{name}: each key its own schedule");
    }
}

#[tokio::test]
async fn windows_admit_up_to_their_limits_and_say_when_the_next_may_go() {
    let minute = chrono::Duration::seconds(60);
    let windows: Vec<Window> = [(1, 60), (3, 3_600)]
        .into_iter()
        .filter_map(|(limit, secs)| Window::new(limit, Duration::from_secs(secs)))
        .collect();
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
        .single()
        .expect("time");
    let keys = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    for (name, queue) in queues().await {
        let admit = async |names: &[&str], now: DateTime<Utc>| {
            queue
                .admit_within(&keys(names), &windows, now)
                .await
                .expect("admit")
        };
        assert_eq!(
            admit(&["a", "b", "a"], t0).await,
            [None, None, Some(t0 + minute)],
            "{name}: the second send to `a` in one call sees the first"
        );
        assert_eq!(
            admit(&["a"], t0 + chrono::Duration::seconds(59)).await,
            [Some(t0 + minute)],
            "{name}: a refused send is not counted"
        );
        assert_eq!(admit(&["a"], t0 + minute).await, [None], "{name}");
        assert_eq!(admit(&["a"], t0 + minute * 2).await, [None], "{name}");
        assert_eq!(
            admit(&["a"], t0 + minute * 3).await,
            [Some(t0 + minute * 60)],
            "{name}: three an hour"
        );
        assert_eq!(
            admit(&["a"], t0 + minute * 60).await,
            [None],
            "{name}: the first send left the hour"
        );
    }
}

#[tokio::test]
async fn the_in_process_dead_list_keeps_the_newest_within_its_bound() {
    let queue = MemoryQueue::with_dead_letters_kept(3);
    for n in 0..5 {
        queue
            .dead_letter("send.apns", &job(n), &format!("dead {n}"))
            .await
            .expect("dead");
    }
    let dead = queue.dead_letters(10).await.expect("list");
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(reasons, ["dead 2", "dead 3", "dead 4"]);
    assert_eq!(
        courtyard_workers::queue::DEAD_LETTERS_KEPT,
        100_000,
        "as many as the Redis queue keeps"
    );
}
