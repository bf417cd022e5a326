//! The SMS (Aliyun, Tencent Cloud) and WeChat subscription-message clients against local
//! mocks that verify signatures, tokens and payloads as the real providers do.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use courtyard_domain::{Clock, ManualClock};
use courtyard_providers::{
    SendOutcome, SmsMessage, WechatMessage,
    sms::{AliyunConfig, AliyunSms, SmsProvider, TencentConfig, TencentSms},
    wechat::{WechatClient, WechatConfig},
};
use courtyard_tests::mocks::{
    sms::{MockAliyun, MockTencent},
    wechat::MockWechat,
};
use secrecy::SecretString;
use serde_json::json;

const PHONE: &str = "13812341234";

/// 2026-11-25 10:00 in Beijing.
fn clock() -> ManualClock {
    ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
            .single()
            .expect("valid time"),
    )
}

fn shared(clock: &ManualClock) -> Arc<dyn Clock> {
    Arc::new(clock.clone())
}

fn sms(phone: &str) -> SmsMessage {
    SmsMessage {
        phone: phone.into(),
        template: "SMS_465470001".into(),
        sign_name: "幸福里物业".into(),
        // Out of alphabetical order on purpose: Tencent must get them sorted by name.
        params: BTreeMap::from([
            ("time".to_owned(), "11月26日 10:00".to_owned()),
            ("area".to_owned(), "3号楼地下车库".to_owned()),
        ]),
    }
}

/// A base URL nothing listens on.
async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[track_caller]
fn assert_unavailable(outcome: &SendOutcome) {
    assert!(
        matches!(outcome, SendOutcome::Unavailable { .. }),
        "expected Unavailable, got {outcome:?}"
    );
}

// ----------------------------------------------------------------------------------------
// Aliyun
// ----------------------------------------------------------------------------------------

fn aliyun(base_url: String, secret: &str, clock: &ManualClock) -> SmsProvider {
    SmsProvider::Aliyun(AliyunSms::new(
        AliyunConfig {
            base_url,
            access_key_id: "LTAI-test-key".into(),
            access_key_secret: SecretString::from(secret),
        },
        shared(clock),
    ))
}

#[tokio::test]
async fn aliyun_send_is_signed_and_carries_the_template_params() {
    let clock = clock();
    let mock = MockAliyun::start_with_clock("LTAI-test-key", "aliyun-secret", shared(&clock)).await;
    let client = aliyun(mock.base_url(), "aliyun-secret", &clock);

    let outcome = client.send(&sms(PHONE)).await;

    let sends = mock.sends();
    assert_eq!(mock.answers(), ["OK"]);
    assert_eq!(sends.len(), 1);
    assert_eq!(
        outcome,
        SendOutcome::Sent {
            provider_id: Some(sends[0].biz_id.clone())
        }
    );
    assert_eq!(sends[0].phone_numbers, PHONE);
    assert_eq!(sends[0].sign_name, "幸福里物业");
    assert_eq!(sends[0].template_code, "SMS_465470001");
    assert_eq!(
        sends[0].template_param,
        Some(json!({ "area": "3号楼地下车库", "time": "11月26日 10:00" }))
    );
    // The timestamp comes from the injected clock, not the machine's.
    assert_eq!(sends[0].timestamp, "2026-11-25T02:00:00Z");

    // A second send signs with a fresh nonce (a reused one is refused).
    clock.advance(chrono::Duration::seconds(5));
    let again = client.send(&sms(PHONE)).await;
    assert!(matches!(again, SendOutcome::Sent { .. }), "{again:?}");
    let sends = mock.sends();
    assert_ne!(sends[0].nonce, sends[1].nonce);
}

#[tokio::test]
async fn aliyun_wrong_secret_is_a_signature_mismatch_and_makes_sms_unavailable() {
    let clock = clock();
    let mock = MockAliyun::start_with_clock("LTAI-test-key", "aliyun-secret", shared(&clock)).await;
    let client = aliyun(mock.base_url(), "not-the-secret", &clock);

    let outcome = client.send(&sms(PHONE)).await;

    assert_eq!(
        outcome,
        SendOutcome::Unavailable {
            reason: "SignatureDoesNotMatch".into(),
            retry_after: None,
        }
    );
    assert_eq!(mock.answers(), ["SignatureDoesNotMatch"]);
    assert!(mock.sends().is_empty());
}

#[tokio::test]
async fn aliyun_refuses_a_clock_more_than_15_minutes_off() {
    let provider_clock = clock();
    let mock =
        MockAliyun::start_with_clock("LTAI-test-key", "aliyun-secret", shared(&provider_clock))
            .await;
    let our_clock = clock();
    our_clock.advance(chrono::Duration::minutes(16));
    let client = aliyun(mock.base_url(), "aliyun-secret", &our_clock);

    let outcome = client.send(&sms(PHONE)).await;

    assert!(matches!(outcome, SendOutcome::Failed { .. }), "{outcome:?}");
    assert_eq!(mock.answers(), ["InvalidTimeStamp.Expired"]);
}

#[tokio::test]
async fn aliyun_illegal_number_is_an_invalid_recipient() {
    let clock = clock();
    let mock = MockAliyun::start_with_clock("LTAI-test-key", "aliyun-secret", shared(&clock)).await;
    let client = aliyun(mock.base_url(), "aliyun-secret", &clock);
    mock.fail_phone(PHONE, "isv.MOBILE_NUMBER_ILLEGAL");

    let programmed = client.send(&sms(PHONE)).await;
    // The mock's own number check gives the same answer for a malformed number.
    let malformed = client.send(&sms("2381234")).await;

    for outcome in [programmed, malformed] {
        assert_eq!(
            outcome,
            SendOutcome::InvalidRecipient {
                reason: "isv.MOBILE_NUMBER_ILLEGAL".into()
            }
        );
    }
    assert_eq!(mock.request_count(), 2);
    assert!(mock.sends().is_empty());
}

#[tokio::test]
async fn aliyun_flow_control_is_retried_after_a_minute() {
    let clock = clock();
    let mock = MockAliyun::start_with_clock("LTAI-test-key", "aliyun-secret", shared(&clock)).await;
    let client = aliyun(mock.base_url(), "aliyun-secret", &clock);
    mock.fail_phone_times(PHONE, 1, "isv.BUSINESS_LIMIT_CONTROL");

    let first = client.send(&sms(PHONE)).await;
    clock.advance(chrono::Duration::seconds(61));
    let second = client.send(&sms(PHONE)).await;

    assert_eq!(
        first,
        SendOutcome::Retry {
            reason: "isv.BUSINESS_LIMIT_CONTROL".into(),
            retry_after: Some(Duration::from_secs(60)),
        }
    );
    assert!(matches!(second, SendOutcome::Sent { .. }), "{second:?}");
    assert_eq!(mock.answers(), ["isv.BUSINESS_LIMIT_CONTROL", "OK"]);
}

#[tokio::test]
async fn aliyun_unreachable_is_unavailable() {
    let clock = clock();
    let client = aliyun(refused_url().await, "aliyun-secret", &clock);
    assert_unavailable(&client.send(&sms(PHONE)).await);
}

// ----------------------------------------------------------------------------------------
// Tencent Cloud
// ----------------------------------------------------------------------------------------

fn tencent(base_url: String, key: &str, clock: &ManualClock) -> SmsProvider {
    SmsProvider::Tencent(TencentSms::new(
        TencentConfig {
            base_url,
            secret_id: "AKID-test".into(),
            secret_key: SecretString::from(key),
            sdk_app_id: "1400787878".into(),
            region: "ap-guangzhou".into(),
        },
        shared(clock),
    ))
}

#[tokio::test]
async fn tencent_send_is_signed_with_tc3_and_params_keep_their_order() {
    let clock = clock();
    let mock = MockTencent::start_with_clock("AKID-test", "tencent-key", shared(&clock)).await;
    let client = tencent(mock.base_url(), "tencent-key", &clock);

    let outcome = client.send(&sms(PHONE)).await;

    assert_eq!(mock.answers(), ["Ok"]);
    let sends = mock.sends();
    assert_eq!(sends.len(), 1);
    let serial = match &outcome {
        SendOutcome::Sent {
            provider_id: Some(serial),
        } => serial.clone(),
        other => panic!("expected Sent with a SerialNo, got {other:?}"),
    };
    assert!(serial.starts_with("2028:"), "{serial}");
    assert_eq!(sends[0].phone_numbers, ["+8613812341234"]);
    assert_eq!(
        sends[0].template_params,
        ["3号楼地下车库", "11月26日 10:00"]
    );
    assert_eq!(sends[0].sdk_app_id, "1400787878");
    assert_eq!(sends[0].template_id, "SMS_465470001");
    assert_eq!(sends[0].sign_name, "幸福里物业");
    assert_eq!(sends[0].region, "ap-guangzhou");
    assert_eq!(sends[0].timestamp, clock.now().timestamp());
}

#[tokio::test]
async fn tencent_wrong_key_fails_the_signature_and_makes_sms_unavailable() {
    let clock = clock();
    let mock = MockTencent::start_with_clock("AKID-test", "tencent-key", shared(&clock)).await;
    let client = tencent(mock.base_url(), "not-the-key", &clock);

    let outcome = client.send(&sms(PHONE)).await;

    assert_eq!(
        outcome,
        SendOutcome::Unavailable {
            reason: "AuthFailure.SignatureFailure".into(),
            retry_after: None,
        }
    );
    assert!(mock.sends().is_empty());
}

#[tokio::test]
async fn tencent_daily_limit_is_retried_after_midnight_in_china() {
    let clock = clock();
    let mock = MockTencent::start_with_clock("AKID-test", "tencent-key", shared(&clock)).await;
    let client = tencent(mock.base_url(), "tencent-key", &clock);
    mock.fail_phone(PHONE, "LimitExceeded.PhoneNumberDailyLimit");

    let outcome = client.send(&sms(PHONE)).await;

    // 10:00 in Beijing: the counter resets in 14 hours.
    assert_eq!(
        outcome,
        SendOutcome::Retry {
            reason: "LimitExceeded.PhoneNumberDailyLimit".into(),
            retry_after: Some(Duration::from_secs(14 * 3600)),
        }
    );
    assert_eq!(mock.answers(), ["LimitExceeded.PhoneNumberDailyLimit"]);
}

#[tokio::test]
async fn tencent_blacklisted_number_is_an_invalid_recipient() {
    let clock = clock();
    let mock = MockTencent::start_with_clock("AKID-test", "tencent-key", shared(&clock)).await;
    let client = tencent(mock.base_url(), "tencent-key", &clock);
    mock.fail_phone(PHONE, "FailedOperation.PhoneNumberInBlacklist");

    assert_eq!(
        client.send(&sms(PHONE)).await,
        SendOutcome::InvalidRecipient {
            reason: "FailedOperation.PhoneNumberInBlacklist".into()
        }
    );
}

#[tokio::test]
async fn tencent_unreachable_is_unavailable() {
    let clock = clock();
    let client = tencent(refused_url().await, "tencent-key", &clock);
    assert_unavailable(&client.send(&sms(PHONE)).await);
}

// ----------------------------------------------------------------------------------------
// WeChat
// ----------------------------------------------------------------------------------------

const APP_ID: &str = "wx-test-app";
const APP_SECRET: &str = "wx-test-secret";

fn wechat(base_url: String, secret: &str, clock: &ManualClock) -> WechatClient {
    WechatClient::new(
        WechatConfig {
            base_url,
            app_id: APP_ID.into(),
            app_secret: SecretString::from(secret),
        },
        shared(clock),
    )
}

fn message(openid: &str) -> WechatMessage {
    WechatMessage {
        openid: openid.into(),
        template_id: "tmpl-pest-control".into(),
        page: Some("pages/notices/detail?id=42".into()),
        data: BTreeMap::from([
            ("thing1".to_owned(), "灭鼠消杀".to_owned()),
            ("time2".to_owned(), "2026-11-26 10:00".to_owned()),
        ]),
    }
}

#[tokio::test]
async fn wechat_concurrent_sends_share_one_token_grant() {
    let clock = clock();
    let mock = MockWechat::start_with_clock(APP_ID, APP_SECRET, shared(&clock)).await;
    let client = wechat(mock.base_url(), APP_SECRET, &clock);

    let sends = (0..20).map(|i| {
        let client = client.clone();
        async move { client.send(&message(&format!("openid-{i}"))).await }
    });
    let outcomes = futures::future::join_all(sends).await;

    for outcome in &outcomes {
        assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    }
    assert_eq!(mock.grant_count(), 1);
    let received = mock.sends();
    assert_eq!(received.len(), 20);
    let first = &received[0];
    assert!(
        received
            .iter()
            .all(|s| s.access_token == first.access_token)
    );
    assert_eq!(first.template_id, "tmpl-pest-control");
    assert_eq!(first.page.as_deref(), Some("pages/notices/detail?id=42"));
    assert_eq!(first.data["thing1"], "灭鼠消杀");
    assert_eq!(first.miniprogram_state.as_deref(), Some("formal"));
    assert_eq!(first.lang.as_deref(), Some("zh_CN"));
    // Each outcome carries the msgid WeChat gave it.
    let mut ids: Vec<String> = outcomes
        .into_iter()
        .filter_map(|o| match o {
            SendOutcome::Sent { provider_id } => provider_id,
            _ => None,
        })
        .collect();
    ids.sort();
    let mut expected: Vec<String> = received.iter().map(|s| s.msgid.to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn wechat_token_is_refetched_near_and_after_expiry() {
    let clock = clock();
    let mock = MockWechat::start_with_clock(APP_ID, APP_SECRET, shared(&clock)).await;
    let client = wechat(mock.base_url(), APP_SECRET, &clock);
    let sent = |o: &SendOutcome| matches!(o, SendOutcome::Sent { .. });

    assert!(sent(&client.send(&message("openid-1")).await));
    clock.advance(chrono::Duration::seconds(6_000));
    assert!(sent(&client.send(&message("openid-1")).await));
    assert_eq!(
        mock.grant_count(),
        1,
        "the token is still good for 20 minutes"
    );

    // Within five minutes of expiry: ask again (WeChat hands out the same stable token).
    clock.advance(chrono::Duration::seconds(1_000));
    assert!(sent(&client.send(&message("openid-1")).await));
    assert_eq!(mock.grant_count(), 2);

    // Past the real expiry: a new token, and the old one is never sent again.
    clock.advance(chrono::Duration::seconds(201));
    assert!(sent(&client.send(&message("openid-1")).await));
    assert_eq!(mock.grant_count(), 3);
    let tokens: Vec<String> = mock.sends().into_iter().map(|s| s.access_token).collect();
    assert_eq!(tokens[0], tokens[2]);
    assert_ne!(tokens[2], tokens[3]);
    assert_eq!(mock.answers(), [0, 0, 0, 0]);
}

#[tokio::test]
async fn wechat_rejected_token_is_dropped_and_the_send_retried() {
    let clock = clock();
    let mock = MockWechat::start_with_clock(APP_ID, APP_SECRET, shared(&clock)).await;
    let client = wechat(mock.base_url(), APP_SECRET, &clock);
    assert!(matches!(
        client.send(&message("openid-1")).await,
        SendOutcome::Sent { .. }
    ));
    mock.revoke_access_tokens();

    let rejected = client.send(&message("openid-1")).await;
    assert_unavailable(&rejected);
    assert_eq!(mock.grant_count(), 1);

    let retried = client.send(&message("openid-1")).await;
    assert!(matches!(retried, SendOutcome::Sent { .. }), "{retried:?}");
    assert_eq!(mock.grant_count(), 2, "the rejected token was dropped");
    assert_eq!(mock.answers(), [0, 40001, 0]);
}

#[tokio::test]
async fn wechat_unsubscribed_user_is_an_invalid_recipient() {
    let clock = clock();
    let mock = MockWechat::start_with_clock(APP_ID, APP_SECRET, shared(&clock)).await;
    let client = wechat(mock.base_url(), APP_SECRET, &clock);
    mock.fail_openid("openid-refused", 43101);

    let outcome = client.send(&message("openid-refused")).await;

    assert!(
        matches!(&outcome, SendOutcome::InvalidRecipient { reason } if reason.contains("43101")),
        "{outcome:?}"
    );
    assert!(mock.sends().is_empty());
}

#[tokio::test]
async fn wechat_wrong_template_data_fails() {
    let clock = clock();
    let mock = MockWechat::start_with_clock(APP_ID, APP_SECRET, shared(&clock)).await;
    let client = wechat(mock.base_url(), APP_SECRET, &clock);
    mock.fail_openid("openid-1", 47003);

    let outcome = client.send(&message("openid-1")).await;

    assert!(
        matches!(&outcome, SendOutcome::Failed { reason } if reason.contains("47003")),
        "{outcome:?}"
    );
    // A permanent failure does not cost the token.
    assert!(matches!(
        client.send(&message("openid-2")).await,
        SendOutcome::Sent { .. }
    ));
    assert_eq!(mock.grant_count(), 1);
}

#[tokio::test]
async fn wechat_wrong_secret_makes_wechat_unavailable_without_sending() {
    let clock = clock();
    let mock = MockWechat::start_with_clock(APP_ID, APP_SECRET, shared(&clock)).await;
    let client = wechat(mock.base_url(), "not-the-secret", &clock);

    let outcome = client.send(&message("openid-1")).await;

    assert!(
        matches!(&outcome, SendOutcome::Unavailable { reason, .. } if reason.contains("40125")),
        "{outcome:?}"
    );
    assert_eq!(mock.grant_count(), 0);
    assert_eq!(mock.request_count(), 0);
}

#[tokio::test]
async fn wechat_unreachable_is_unavailable() {
    let clock = clock();
    let client = wechat(refused_url().await, APP_SECRET, &clock);
    assert_unavailable(&client.send(&message("openid-1")).await);
}
