//! The whole path with the real provider clients: an API request becomes an outbox row, the
//! workers fan it out, and the local mock APNs, FCM, Aliyun and WeChat servers receive what
//! the real providers would, each verifying signatures and payloads.

use std::{collections::BTreeMap, sync::Arc};

use courtyard_domain::{
    Clock, ManualClock,
    entities::resident,
    settings::{ApnsSettings, FcmSettings, SmsSettings},
};
use courtyard_tests::{
    ClockExt, TestApp,
    mocks::{
        apns::{self, MockApns},
        fcm::MockFcm,
        sms::MockAliyun,
        wechat::MockWechat,
    },
    spawn_app_with_providers, test_start,
    world::World,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use secrecy::SecretString;
use serde_json::json;

struct Providers {
    apns: MockApns,
    fcm: MockFcm,
    sms: MockAliyun,
    wechat: MockWechat,
}

async fn app_with_mock_providers() -> (TestApp, Providers) {
    app_with_mock_providers_and(|_| {}).await
}

async fn app_with_mock_providers_and(
    also: impl FnOnce(&mut courtyard_domain::settings::Settings),
) -> (TestApp, Providers) {
    // The providers judge token ages and timestamps by the same clock as the app.
    let clock = ManualClock::new(test_start());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let apns = MockApns::start_with_clock(shared.clone()).await;
    let fcm = MockFcm::start_with_clock(shared.clone()).await;
    let sms =
        MockAliyun::start_with_clock("test-access-key", "test-access-secret", shared.clone()).await;
    let wechat = MockWechat::start_with_clock("wx-test-app", "wx-test-secret", shared).await;
    let (apns_url, fcm_url, fcm_account, sms_url, wechat_url) = (
        apns.base_url(),
        fcm.base_url(),
        fcm.service_account_json(),
        sms.base_url(),
        wechat.base_url(),
    );
    let app = spawn_app_with_providers(clock, |s| {
        let n = &mut s.notifications;
        n.apns = Some(ApnsSettings {
            key_id: apns::KEY_ID.into(),
            team_id: apns::TEAM_ID.into(),
            private_key_pem: SecretString::from(MockApns::private_key_pem()),
            base_url: apns_url.clone(),
            sandbox_base_url: apns_url,
        });
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
            templates: BTreeMap::from([
                ("outage".into(), "SMS_0001".into()),
                ("emergency".into(), "SMS_0002".into()),
                ("fee_reminder".into(), "SMS_0003".into()),
            ]),
        });
        n.wechat_templates = BTreeMap::from([("outage".into(), "tmpl-outage".into())]);
        s.wechat.base_url = wechat_url;
        s.wechat.app_id = Some("wx-test-app".into());
        s.wechat.app_secret = Some(SecretString::from("wx-test-secret"));
        s.auth.access_token_ttl_secs = 30 * 24 * 3600;
        also(s);
    })
    .await;
    (
        app,
        Providers {
            apns,
            fcm,
            sms,
            wechat,
        },
    )
}

#[tokio::test]
async fn an_outage_reaches_apns_fcm_wechat_and_sms_as_the_providers_expect() {
    let (app, mocks) = app_with_mock_providers().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    // A's resident has an APNs device (from the world); add an FCM phone, a WeChat binding
    // and a neighbour with no app at all.
    let fcm_token = "fcm-registration-token-0001:APA91bHexample";
    app.register_device(
        &world.resident.access,
        &json!({ "platform": "android", "provider": "fcm", "token": fcm_token }),
    )
    .await
    .expect(201);
    resident::Entity::update_many()
        .col_expr(
            resident::Column::WechatOpenid,
            Expr::value("openid-resident-a"),
        )
        .filter(resident::Column::Id.eq(world.a.resident))
        .exec(&app.db)
        .await
        .expect("bind openid");
    // The mini-program reported the resident's acceptance of the outage template: one
    // WeChat message may go.
    app.record_wechat_consent(
        &world.resident.access,
        &json!({ "category": "outage", "accepted": 1 }),
    )
    .await
    .expect(200);
    app.create_resident(admin, &json!({ "name": "李四", "phone": "13900000888", "memberships": [{ "household_id": world.a.household, "role": "tenant" }] }))
    .await
    .expect(201);
    let before_apns = mocks.apns.delivered_count();

    let notice = app
        .create_notice(admin, world.a.community, &json!({ "category": "water_outage", "title": "今晚停水", "body": "今晚停水。", "reason": "管道抢修", "restores_at": "2026-11-25T14:00:00Z" }))
        .await
        .expect(201)
        .id();
    let settled = app.wait_for_notice(notice, admin).await;
    assert_eq!(
        settled.body["counts"]["sent"], 4,
        "apns + fcm + wechat + sms: {}",
        settled.text
    );

    let apns_requests: Vec<_> = mocks
        .apns
        .requests()
        .into_iter()
        .filter(|r| r.body["aps"]["alert"]["title"] == "今晚停水")
        .collect();
    assert_eq!(apns_requests.len(), 1);
    assert_eq!(mocks.apns.delivered_count(), before_apns + 1);
    let request = &apns_requests[0];
    assert!(request.http2, "APNs is HTTP/2 only");
    assert_eq!(
        request.header("apns-priority"),
        Some("10"),
        "outages wake the phone"
    );
    assert_eq!(request.header("apns-topic"), Some("com.courtyard.resident"));
    assert!(request.header("apns-collapse-id").is_some());
    let body = request.body["aps"]["alert"]["body"].as_str().expect("body");
    assert!(
        body.contains("原因：管道抢修") && body.ends_with("不便之处请您见谅。"),
        "{body}"
    );
    assert_eq!(request.body["notice_id"], json!(notice.to_string()));

    let fcm_requests = mocks.fcm.requests();
    let fcm_request = fcm_requests
        .iter()
        .find(|r| r.body["message"]["token"] == fcm_token)
        .expect("FCM got the message");
    assert!(fcm_request.http2);
    assert_eq!(fcm_request.body["message"]["android"]["priority"], "HIGH");
    assert_eq!(mocks.fcm.grant_count(), 1);

    let sms: Vec<_> = mocks
        .sms
        .sends()
        .into_iter()
        .filter(|s| {
            s.template_param
                .as_ref()
                .is_some_and(|p| p["title"] == "今晚停水")
        })
        .collect();
    assert_eq!(sms.len(), 1, "only the neighbour without the app gets SMS");
    assert_eq!(sms[0].phone_numbers, "13900000888");
    assert_eq!(sms[0].template_code, "SMS_0001");
    let params = sms[0].template_param.as_ref().expect("params");
    assert_eq!(params["name"], "李四");
    // Without the app, the SMS is all they read: why, until when, and the apology.
    assert_eq!(params["reason"], "管道抢修");
    assert_eq!(params["restores"], "11月25日 22:00");
    assert_eq!(params["apology"], "给您带来不便，敬请谅解");

    let wechat: Vec<_> = mocks
        .wechat
        .sends()
        .into_iter()
        .filter(|w| w.data["thing1"] == "今晚停水")
        .collect();
    assert_eq!(wechat.len(), 1);
    assert_eq!(wechat[0].touser, "openid-resident-a");
    assert_eq!(wechat[0].template_id, "tmpl-outage");
    assert_eq!(wechat[0].data["thing1"], "今晚停水");
}

#[tokio::test]
async fn apns_says_unregistered_then_the_device_is_off_and_sms_takes_over() {
    let (app, mocks) = app_with_mock_providers().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    let token = format!("{:0>64}", &world.a.resident_phone[3..]);
    mocks.apns.fail_token(&token, 410, "Unregistered", None);
    let notice = app
        .create_notice(
            admin,
            world.a.community,
            &json!({ "category": "emergency", "title": "燃气泄漏", "body": "请立即开窗" }),
        )
        .await
        .expect(201)
        .id();
    // The SMS fallback follows the invalid-token answer: wait for it too.
    let settled = app
        .wait_for_counts(notice, admin, |c| c["sent"] == 1 && c["pending"] == 0)
        .await;
    assert_eq!(
        settled.body["counts"]["invalid_token"], 1,
        "{}",
        settled.text
    );
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    let sms = mocks.sms.sends();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].phone_numbers, world.a.resident_phone);
    assert_eq!(sms[0].template_code, "SMS_0002");
    let devices = app.list_devices(&world.resident.access).await.expect(200);
    assert_eq!(devices.body["items"][0]["active"], false);
    assert_eq!(devices.body["items"][0]["invalid_reason"], "Unregistered");
}

#[tokio::test]
async fn a_throttled_apns_send_is_retried_after_retry_after_and_sent_once() {
    let (app, mocks) = app_with_mock_providers().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    let token = format!("{:0>64}", &world.a.resident_phone[3..]);
    mocks
        .apns
        .fail_token_times(&token, 1, 429, "TooManyRequests", Some(20));
    let notice = app
        .create_notice(
            admin,
            world.a.community,
            &json!({ "category": "general", "title": "电梯保养", "body": "周五上午" }),
        )
        .await
        .expect(201)
        .id();
    app.wait_for("the throttled attempt", 10, || async {
        mocks.apns.requests().iter().any(|r| r.status == 429)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let waiting = app.get_notice(admin, notice).await.expect(200);
    assert_eq!(
        waiting.body["counts"]["pending"], 1,
        "waits for Retry-After: {}",
        waiting.text
    );
    app.clock
        .set(app.clock.now_utc() + chrono::Duration::seconds(21));
    let settled = app.wait_for_notice(notice, admin).await;
    assert_eq!(settled.body["counts"]["sent"], 1, "{}", settled.text);
    let to_device: Vec<_> = mocks
        .apns
        .requests()
        .into_iter()
        .filter(|r| r.device_token == token && r.body["aps"]["alert"]["title"] == "电梯保养")
        .collect();
    assert_eq!(
        to_device.iter().filter(|r| r.status == 200).count(),
        1,
        "delivered exactly once"
    );
}

#[tokio::test]
async fn an_overdue_reminder_reaches_apns_and_aliyun_with_the_amount() {
    let (app, mocks) = app_with_mock_providers_and(|s| s.notifications.fee_reminders = true).await;
    let world = World::build(&app).await;
    let phone = world.a.resident_phone.clone();
    let token = format!("{:0>64}", &phone[3..]);
    // 30 December 09:00 Shanghai: November's bill (due 15 December) is 15 days late.
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-12-30T09:00:00+08:00")
            .expect("time")
            .with_timezone(&chrono::Utc),
    );
    app.wait_for("the reminder's SMS", 20, || async {
        mocks.sms.sends().iter().any(|s| s.phone_numbers == phone)
    })
    .await;
    let sms = mocks
        .sms
        .sends()
        .into_iter()
        .find(|s| s.phone_numbers == phone)
        .expect("sms");
    assert_eq!(sms.template_code, "SMS_0003");
    let params = sms.template_param.expect("params");
    assert_eq!(params["title"], "缴费提醒");
    assert!(
        params["amount"].as_str().is_some_and(|a| a.contains('.')),
        "{params}"
    );
    app.wait_for("the reminder's push", 20, || async {
        mocks
            .apns
            .requests()
            .iter()
            .any(|r| r.device_token == token && r.body["aps"]["alert"]["title"] == "缴费提醒")
    })
    .await;
    let push = mocks
        .apns
        .requests()
        .into_iter()
        .find(|r| r.device_token == token && r.body["aps"]["alert"]["title"] == "缴费提醒")
        .expect("push");
    assert_eq!(push.status, 200);
    assert!(
        push.body["aps"]["alert"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("1笔账单已逾期")),
        "{}",
        push.body
    );
}

#[tokio::test]
async fn a_resident_who_wants_outages_by_sms_only_gets_the_sms_and_no_push() {
    let (app, mocks) = app_with_mock_providers().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    // A's resident has an iPhone (from the world) but wants outages by SMS only.
    app.put_preferences(
        &world.resident.access,
        &json!({ "channels": { "outage": ["sms"] } }),
    )
    .await
    .expect(200);
    let before_apns = mocks.apns.delivered_count();
    let notice = app
        .create_notice(admin, world.a.community, &json!({ "category": "power_outage", "title": "明日停电", "body": "明日停电。", "reason": "线路检修", "restores_at": "2026-11-26T10:00:00Z" }))
        .await
        .expect(201)
        .id();
    app.wait_for_notice(notice, admin).await;
    app.wait_for("the SMS", 10, || async {
        mocks.sms.sends().iter().any(|s| {
            s.template_param
                .as_ref()
                .is_some_and(|p| p["title"] == "明日停电")
        })
    })
    .await;
    let sms: Vec<_> = mocks
        .sms
        .sends()
        .into_iter()
        .filter(|s| {
            s.template_param
                .as_ref()
                .is_some_and(|p| p["title"] == "明日停电")
        })
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].phone_numbers, world.a.resident_phone);
    assert_eq!(
        sms[0].template_param.as_ref().expect("params")["reason"],
        "线路检修"
    );
    // Its phone was not pushed: the push is suppressed, as chosen.
    assert_eq!(mocks.apns.delivered_count(), before_apns);
    let trail = app
        .get(
            &format!(
                "/v1/notices/{notice}/recipients?resident_id={}",
                world.a.resident
            ),
            admin,
        )
        .await;
    assert!(
        trail.text.contains("suppressed") && trail.text.contains("\"sms\""),
        "{}",
        trail.text
    );
}

#[tokio::test]
async fn a_notice_whose_channels_exclude_sms_sends_no_fallback_sms() {
    let (app, mocks) = app_with_mock_providers().await;
    let world = World::build(&app).await;
    let admin = world.token("admin");
    let token = format!("{:0>64}", &world.a.resident_phone[3..]);
    mocks.apns.fail_token(&token, 410, "Unregistered", None);
    // Push only: when the push cannot arrive, no SMS takes its place.
    let notice = app
        .create_notice(
            admin,
            world.a.community,
            &json!({ "category": "emergency", "title": "燃气泄漏", "body": "请立即开窗", "channels": ["push"] }),
        )
        .await
        .expect(201)
        .id();
    let settled = app
        .wait_for_counts(notice, admin, |c| {
            c["invalid_token"] == 1 && c["pending"] == 0
        })
        .await;
    assert_eq!(settled.body["counts"]["sent"], 0, "{}", settled.text);
    // A tick later still nothing: the fallback was never created.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        mocks.sms.sends().is_empty(),
        "{:?}",
        mocks.sms.sends().len()
    );
    app.assert_no_jobs_left().await;
}
