//! The senders' rate limits end to end, with the real provider clients against the mock
//! providers, on the in-process queue and on Redis: a provider's low rate spreads a
//! notice's sends over time and every one of them arrives, once; an outage SMS to a number
//! that just had one waits for the number's window (no attempt counted), then goes, once.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use courtyard_domain::{
    Clock, ManualClock, Settings,
    entities::{device, resident},
    settings::{FcmSettings, SmsSettings},
};
use courtyard_tests::{
    ClockExt, TestApp,
    mocks::{fcm::MockFcm, sms::MockAliyun},
    redis_url, spawn_app_with_providers, test_start,
};
use reqwest::Method;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

struct Mocks {
    fcm: MockFcm,
    sms: MockAliyun,
}

/// The app with FCM and Aliyun SMS pointed at the mocks, on Redis when `redis` is given.
async fn app_with(
    redis: Option<String>,
    configure: impl FnOnce(&mut Settings),
) -> (TestApp, Mocks) {
    // The providers judge token ages and timestamps by the same clock as the app.
    let clock = ManualClock::new(test_start());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let fcm = MockFcm::start_with_clock(shared.clone()).await;
    let sms = MockAliyun::start_with_clock("test-access-key", "test-access-secret", shared).await;
    let (fcm_url, fcm_account, sms_url) =
        (fcm.base_url(), fcm.service_account_json(), sms.base_url());
    let app = spawn_app_with_providers(clock, |s| {
        s.redis.url = redis.map(SecretString::from);
        let n = &mut s.notifications;
        n.fcm = Some(FcmSettings {
            service_account_json: SecretString::from(fcm_account),
            base_url: fcm_url,
        });
        n.sms = Some(SmsSettings {
            provider: "aliyun".into(),
            base_url: Some(sms_url),
            access_key_id: "test-access-key".into(),
            access_key_secret: SecretString::from("test-access-secret"),
            sdk_app_id: None,
            region: None,
            sign_name: "庭院物业".into(),
            templates: BTreeMap::from([("outage".into(), "SMS_0001".into())]),
        });
        s.auth.access_token_ttl_secs = 30 * 24 * 3600;
        configure(s);
    })
    .await;
    (app, Mocks { fcm, sms })
}

/// A community of `n` households with one resident each (phones 136000000NN); returns the
/// admin token, the community and the residents.
async fn community(app: &TestApp, n: usize) -> (String, Uuid, Vec<resident::Model>) {
    let (_, admin) = app.bootstrap_admin("Rate Co").await;
    let community = app
        .create_community(&admin.access, &json!({ "name": "Rate" }))
        .await
        .expect(201)
        .id();
    let mut csv = String::from("building,unit,room,area_m2,name,phone\n");
    for i in 0..n {
        csv.push_str(&format!("1栋,1单元,{},80,住户{i},136{i:08}\n", 1000 + i));
    }
    app.request_raw(
        Method::POST,
        &format!("/v1/communities/{community}/roll-imports"),
        Some(&admin.access),
        "text/csv",
        csv.into_bytes(),
    )
    .await
    .expect(200);
    let residents = resident::Entity::find()
        .filter(resident::Column::Phone.starts_with("136"))
        .all(&app.db)
        .await
        .expect("residents");
    assert_eq!(residents.len(), n);
    (admin.access, community, residents)
}

/// Gives each resident an Android phone registered with FCM; returns the tokens.
async fn fcm_devices(app: &TestApp, residents: &[resident::Model]) -> Vec<String> {
    let now = app.clock.now_utc();
    let mut tokens = Vec::new();
    let rows: Vec<device::ActiveModel> = residents
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let token = format!("fcm-rate-{i:04}:APA91bExample");
            tokens.push(token.clone());
            device::ActiveModel {
                id: Set(courtyard_domain::new_id()),
                owner_kind: Set("resident".into()),
                owner_id: Set(r.id),
                platform: Set("android".into()),
                provider: Set("fcm".into()),
                token: Set(token),
                topic: Set(None),
                sandbox: Set(false),
                locale: Set("zh-CN".into()),
                active: Set(true),
                last_seen_at: Set(now),
                invalidated_at: Set(None),
                invalid_reason: Set(None),
                created_at: Set(now),
            }
        })
        .collect();
    device::Entity::insert_many(rows)
        .exec_without_returning(&app.db)
        .await
        .expect("devices");
    tokens
}

async fn post_notice(app: &TestApp, admin: &str, community: Uuid, body: Value) -> Uuid {
    app.create_notice(admin, community, &body)
        .await
        .expect(201)
        .id()
}

/// 30 sends at 600 a minute (10 a second, bursts of 10): the first 10 at once, the other
/// 20 a tenth of a second apart, so the last no sooner than 2 s after the first.
async fn a_low_fcm_rate_spreads_a_notice_and_every_send_arrives(redis: Option<String>) {
    let (app, mocks) = app_with(redis, |s| {
        s.notifications.rate_limits.insert("fcm".into(), 600);
    })
    .await;
    let (admin, community, residents) = community(&app, 30).await;
    let tokens = fcm_devices(&app, &residents).await;
    let posted = Instant::now();
    let notice = post_notice(
        &app,
        &admin,
        community,
        json!({ "category": "general", "title": "限速", "body": "x" }),
    )
    .await;
    let settled = app.wait_for_notice(notice, &admin).await;
    assert_eq!(settled.body["counts"]["sent"], 30, "{}", settled.text);

    let mut per_token: HashMap<String, usize> = HashMap::new();
    for request in mocks.fcm.requests() {
        assert_eq!(request.status, 200, "{:?}", request.error);
        let token = request.body["message"]["token"].as_str().expect("token");
        *per_token.entry(token.to_owned()).or_default() += 1;
    }
    for token in &tokens {
        assert_eq!(
            per_token.get(token),
            Some(&1),
            "{token} got the notice once"
        );
    }
    let arrivals = mocks.fcm.arrivals();
    assert_eq!(arrivals.len(), 30);
    // Measured from the request, not from the first arrival: a busy host may delay that
    // one (connection, OAuth grant), never the schedule's end.
    let last = arrivals.iter().map(|a| a.at).max().expect("arrivals");
    assert!(
        last - posted >= Duration::from_millis(1_900),
        "30 sends at 10/s after a burst of 10 take 2 s at least; the last arrived {:?} \
         after the notice was posted",
        last - posted
    );
}

#[tokio::test]
async fn a_low_fcm_rate_spreads_a_notice_and_every_send_arrives_in_process() {
    a_low_fcm_rate_spreads_a_notice_and_every_send_arrives(None).await;
}

#[tokio::test]
async fn a_low_fcm_rate_spreads_a_notice_and_every_send_arrives_on_redis() {
    a_low_fcm_rate_spreads_a_notice_and_every_send_arrives(Some(redis_url())).await;
}

fn outage(title: &str) -> Value {
    json!({
        "category": "water_outage",
        "title": title,
        "body": "x",
        "reason": "管道抢修",
        "restores_at": "2026-11-26T00:00:00Z",
    })
}

/// The one delivery of a notice with one recipient, as the recipients trail shows it.
async fn trail(app: &TestApp, admin: &str, notice: Uuid) -> Value {
    let reply = app
        .list_notice_recipients(admin, notice, &[])
        .await
        .expect(200);
    reply.body["items"][0]["deliveries"][0].clone()
}

/// A resident without the app gets outage SMS; a second outage within the minute waits
/// for the number's window (the default: one a minute) and is then sent, once.
async fn a_second_sms_to_a_number_waits_for_its_window(redis: Option<String>) {
    let (app, mocks) = app_with(redis, |_| {}).await;
    let (admin, community, residents) = community(&app, 1).await;
    let phone = residents[0].phone.clone();
    let first = post_notice(&app, &admin, community, outage("停水一")).await;
    let settled = app.wait_for_notice(first, &admin).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    assert_eq!(mocks.sms.sends().len(), 1);

    app.clock.advance(chrono::Duration::seconds(20));
    let second = post_notice(&app, &admin, community, outage("停水二")).await;
    app.wait_for("the second SMS to be deferred", 10, || async {
        trail(&app, &admin, second).await["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("per-number limit"))
    })
    .await;
    // Deferred, not failed: still pending, and no attempt was made or counted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        mocks.sms.sends().len(),
        1,
        "the number had its SMS this minute"
    );
    let waiting = trail(&app, &admin, second).await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert_eq!(waiting["attempts"], 0, "{waiting}");

    // A minute after the first SMS the window opens and the second goes out.
    app.clock.advance(chrono::Duration::seconds(41));
    let settled = app.wait_for_notice(second, &admin).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    let sent = trail(&app, &admin, second).await;
    assert_eq!(sent["attempts"], 1, "{sent}");
    assert_eq!(sent["last_error"], Value::Null, "{sent}");

    // Nothing more is on its way: each SMS went once, a minute apart by the provider's
    // own timestamps.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sends = mocks.sms.sends();
    let titles: Vec<&str> = sends
        .iter()
        .map(|s| {
            s.template_param.as_ref().expect("params")["title"]
                .as_str()
                .expect("title")
        })
        .collect();
    assert_eq!(titles, ["停水一", "停水二"]);
    assert!(sends.iter().all(|s| s.phone_numbers == phone));
    let at = |i: usize| {
        DateTime::parse_from_rfc3339(&sends[i].timestamp)
            .expect("timestamp")
            .with_timezone(&Utc)
    };
    assert!(
        at(1) - at(0) >= chrono::Duration::seconds(60),
        "{} then {}",
        at(0),
        at(1)
    );
}

#[tokio::test]
async fn a_second_sms_to_a_number_waits_for_its_window_in_process() {
    a_second_sms_to_a_number_waits_for_its_window(None).await;
}

#[tokio::test]
async fn a_second_sms_to_a_number_waits_for_its_window_on_redis() {
    a_second_sms_to_a_number_waits_for_its_window(Some(redis_url())).await;
}
