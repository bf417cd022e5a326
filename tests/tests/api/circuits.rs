//! A provider that fails as a whole (here a 5xx storm; the clients' tests show TLS,
//! credential and connection failures answer the same `Unavailable`) opens its channel's
//! circuit: the sends wait without using up their attempts, nothing falls
//! back to SMS, `/readyz` and `/metrics` show it, and once the provider answers again every
//! delivery goes out once.

use std::{collections::HashSet, time::Duration as StdDuration};

use chrono::Duration;
use courtyard_domain::{ManualClock, entities::delivery, settings::Settings};
use courtyard_tests::{
    TestApp, backend,
    mocks::apns::{self, MockApns},
    redis_url, spawn_app_with_providers, test_start,
    world::World,
};
use poem::http::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

/// iOS devices the resident adds besides the world's.
const PHONES: usize = 8;

/// The app with iOS pushes going to `apns_url`, a circuit that opens after three
/// provider-wide failures and probes after a second (four at most).
async fn app(clock: ManualClock, apns_url: String) -> TestApp {
    spawn_app_with_providers(clock, |s: &mut Settings| {
        s.notifications.apns = Some(courtyard_domain::settings::ApnsSettings {
            key_id: apns::KEY_ID.into(),
            team_id: apns::TEAM_ID.into(),
            private_key_pem: SecretString::from(MockApns::private_key_pem()),
            base_url: apns_url.clone(),
            sandbox_base_url: apns_url,
        });
        s.notifications.circuit_failures = 3;
        s.notifications.circuit_cooldown_ms = 1_000;
        s.notifications.circuit_max_cooldown_secs = 4;
        s.auth.access_token_ttl_secs = 30 * 24 * 3600;
        if backend() == "postgres" {
            s.redis.url = Some(SecretString::from(redis_url()));
        }
    })
    .await
}

/// Gives the resident [`PHONES`] more iOS devices.
async fn phones(app: &TestApp, world: &World) {
    for i in 0..PHONES {
        app.register_device(
            &world.resident.access,
            &json!({ "platform": "ios", "provider": "apns", "token": format!("{:0>64}", format!("c1{i}")), "topic": "com.courtyard.resident" }),
        )
        .await
        .expect(201);
    }
}

async fn outage(app: &TestApp, world: &World) -> Uuid {
    app.create_notice(world.token("admin"), world.a.community, &json!({ "category": "water_outage", "title": "今晚停水", "body": "今晚 22:00 至次日 06:00 停水。", "reason": "管道抢修", "restores_at": "2026-11-25T22:00:00Z" }))
        .await
        .expect(201)
        .id()
}

/// The notice's deliveries by channel.
async fn deliveries(app: &TestApp, notice: Uuid, channel: &str) -> Vec<delivery::Model> {
    delivery::Entity::find()
        .filter(delivery::Column::NoticeId.eq(notice))
        .filter(delivery::Column::Channel.eq(channel))
        .all(&app.db)
        .await
        .expect("deliveries")
}

async fn readyz(app: &TestApp) -> Value {
    let reply = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(reply.status, 200, "readiness holds: {}", reply.text);
    reply.body
}

async fn circuit_gauge(app: &TestApp) -> String {
    let reply = app.request(Method::GET, "/metrics", None, None).await;
    reply
        .text
        .lines()
        .find(|l| l.starts_with("courtyard_provider_circuit_open{channel=\"apns\"}"))
        .unwrap_or_else(|| panic!("no circuit gauge: {}", reply.text))
        .to_owned()
}

/// Waits (the workers run on) for the mock to see no new request for a while.
async fn settled_count(mock: &MockApns) -> usize {
    let mut seen = mock.request_count();
    loop {
        tokio::time::sleep(StdDuration::from_millis(400)).await;
        let now = mock.request_count();
        if now == seen {
            return now;
        }
        seen = now;
    }
}

#[tokio::test]
async fn a_5xx_storm_opens_the_circuit_and_every_push_goes_once_when_apns_answers_again() {
    let clock = ManualClock::new(test_start());
    let mock = MockApns::start_with_clock(std::sync::Arc::new(clock.clone())).await;
    let app = app(clock.clone(), mock.base_url()).await;
    let world = World::build(&app).await;
    phones(&app, &world).await;
    let before = mock.request_count();
    mock.fail_all(503, "ServiceUnavailable");

    let notice = outage(&app, &world).await;
    app.wait_for("the circuit to open", 20, || async {
        readyz(&app).await["providers"]["apns"]["circuit"] == "open"
    })
    .await;
    let ready = readyz(&app).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["providers"]["apns"]["reason"], "ServiceUnavailable");
    assert_eq!(ready["providers"]["fcm"]["circuit"], "closed");
    assert!(circuit_gauge(&app).await.ends_with(" 1"));
    // An API process without workers of its own reads it from Redis.
    let api_only = match backend() {
        "postgres" => Some(app.start_another_api_only().await),
        _ => None,
    };
    if let Some(api) = &api_only {
        let theirs = readyz(api).await;
        assert_eq!(theirs["providers"]["apns"]["circuit"], "open", "{theirs}");
        assert!(circuit_gauge(api).await.ends_with(" 1"));
    }
    // While it is open nothing more goes to APNs.
    let first = settled_count(&mock).await - before;
    let pushes = deliveries(&app, notice, "apns").await;
    assert!(pushes.len() > PHONES, "{pushes:?}");
    // The opening takes three failures; a batch already in flight may add its own.
    assert!(
        (3..=pushes.len()).contains(&first),
        "{first} requests for {} pushes",
        pushes.len()
    );

    // Five probes' worth of cool-downs, each probe failing: more than the five attempts a
    // device's own failures would be allowed.
    for _ in 0..6 {
        clock.advance(Duration::seconds(5));
        tokio::time::sleep(StdDuration::from_millis(300)).await;
    }
    let probes = settled_count(&mock).await - before - first;
    assert!((1..=6).contains(&probes), "one send a cool-down: {probes}");
    for push in deliveries(&app, notice, "apns").await {
        assert_eq!(push.status, "retrying", "{push:?}");
        // Only a send answered before the circuit opened counted (as any retry does).
        assert!(
            push.attempts <= 1,
            "no attempt used up while open: {push:?}"
        );
        assert!(
            push.last_error
                .as_deref()
                .is_some_and(|e| e.contains("ServiceUnavailable")),
            "{push:?}"
        );
    }
    assert!(
        deliveries(&app, notice, "sms").await.is_empty(),
        "no SMS for a provider's outage"
    );

    // APNs answers again: the next probe closes the circuit and every push goes, once.
    mock.heal();
    // Time goes on meanwhile: a send counted as a retry before the circuit opened waits out
    // its backoff (up to 8 s by then).
    app.wait_for("every push sent", 20, || async {
        clock.advance(Duration::seconds(2));
        let pushes = deliveries(&app, notice, "apns").await;
        pushes.iter().all(|d| d.status == "sent")
    })
    .await;
    let ready = readyz(&app).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["providers"]["apns"]["circuit"], "closed");
    assert!(circuit_gauge(&app).await.ends_with(" 0"));
    if let Some(api) = &api_only {
        assert_eq!(readyz(api).await["providers"]["apns"]["circuit"], "closed");
    }
    let delivered: Vec<String> = mock.requests()[before..]
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.device_token.clone())
        .collect();
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "no push twice");
    assert_eq!(unique.len(), pushes.len());
    for push in deliveries(&app, notice, "apns").await {
        assert!((1..=2).contains(&push.attempts), "{push:?}");
    }
    app.assert_no_jobs_left().await;
}
