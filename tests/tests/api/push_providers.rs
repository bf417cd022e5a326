//! The APNs and FCM clients against the mock providers, which verify signatures, headers and
//! payloads as Apple and Google do. Time is a `ManualClock` shared by client and mock.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use courtyard_domain::ManualClock;
use courtyard_providers::{
    ApnsDevice, Priority, PushMessage, SendOutcome,
    apns::{ApnsClient, ApnsConfig},
    fcm::{FcmClient, FcmConfig, ServiceAccount},
};
use courtyard_tests::{
    ClockExt,
    mocks::{MockApns, MockFcm, apns, fcm},
};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinSet;

const DEVICE: &str = "3f1c2b4a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7a8";
const OTHER_DEVICE: &str = "0000000000000000000000000000000000000000000000000000000000000abc";
const TOPIC: &str = "com.courtyard.resident";
const FCM_TOKEN: &str = "fK3x9:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx";

/// A P-256 key that is not the one the mock APNs knows.
const STRANGER_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgURwHAW0a3clNIDTb
oxvwOOligwUbhCTnNQH3IekNIBuhRANCAAQOiE/fcZPgeX+uBaAJiCJrMqu9J+zx
/6Q7n1JtXkkhIikFQ8NqFXdxmvlE+b0AkfvuLpNDFCkDyByTkabVPW0p
-----END PRIVATE KEY-----
";

fn clock() -> ManualClock {
    ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
            .single()
            .expect("valid time"),
    )
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

fn message(collapse_id: &str) -> PushMessage {
    PushMessage {
        collapse_id: collapse_id.into(),
        title: "停水通知".into(),
        body: "Water is off in building 3 from 09:00 to 12:00.".into(),
        data: BTreeMap::from([
            ("category".to_owned(), "outage".to_owned()),
            ("notice_id".to_owned(), "42".to_owned()),
        ]),
        priority: Priority::High,
        expires_at: None,
    }
}

fn device(token: &str) -> ApnsDevice {
    ApnsDevice {
        token: token.into(),
        topic: TOPIC.into(),
        sandbox: false,
    }
}

fn apns_config(base_url: &str, key_pem: &str) -> ApnsConfig {
    ApnsConfig {
        base_url: base_url.into(),
        sandbox_base_url: base_url.into(),
        key_id: apns::KEY_ID.into(),
        team_id: apns::TEAM_ID.into(),
        private_key_pem: SecretString::from(key_pem.to_owned()),
    }
}

async fn apns_setup() -> (ManualClock, MockApns, Arc<ApnsClient>) {
    let clock = clock();
    let mock = MockApns::start_with_clock(Arc::new(clock.clone())).await;
    let client = ApnsClient::new(
        apns_config(&mock.base_url(), &MockApns::private_key_pem()),
        Arc::new(clock.clone()),
    )
    .expect("APNs client");
    (clock, mock, Arc::new(client))
}

/// The `iat` of a JWT (already verified by the mock).
fn iat(jwt: &str) -> i64 {
    jsonwebtoken::dangerous::insecure_decode::<Value>(jwt)
        .expect("a JWT")
        .claims["iat"]
        .as_i64()
        .expect("iat")
}

#[track_caller]
fn assert_sent(outcome: &SendOutcome) {
    assert!(
        matches!(outcome, SendOutcome::Sent { provider_id: Some(id) } if !id.is_empty()),
        "expected Sent with an id, got {outcome:?}"
    );
}

// ---- APNs ----------------------------------------------------------------------------------

#[tokio::test]
async fn apns_sends_apples_headers_and_payload_over_http2() {
    let (clock, mock, client) = apns_setup().await;
    let expires_at = clock.now_utc() + chrono::Duration::hours(6);
    let mut urgent = message("notice-42-resident-7-apns");
    urgent.expires_at = Some(expires_at);

    let outcome = client.send(&device(DEVICE), &urgent).await;

    assert_sent(&outcome);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(request.http2, "APNs only speaks HTTP/2");
    assert_eq!(request.device_token, DEVICE);
    // The provider id is the `apns-id` APNs answered (a UUID).
    match &outcome {
        SendOutcome::Sent {
            provider_id: Some(id),
        } => assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}"),
        other => panic!("expected Sent, got {other:?}"),
    }
    assert_eq!(request.header("apns-topic"), Some(TOPIC));
    assert_eq!(request.header("apns-push-type"), Some("alert"));
    assert_eq!(request.header("apns-priority"), Some("10"));
    let expiration = expires_at.timestamp().to_string();
    assert_eq!(request.header("apns-expiration"), Some(expiration.as_str()));
    assert_eq!(
        request.header("apns-collapse-id"),
        Some("notice-42-resident-7-apns")
    );
    assert!(request.provider_token().is_some());
    assert_eq!(
        request.body,
        json!({
            "aps": {
                "alert": { "title": "停水通知", "body": "Water is off in building 3 from 09:00 to 12:00." },
                "sound": "default",
                "mutable-content": 0,
            },
            "category": "outage",
            "notice_id": "42",
        })
    );

    // A normal push without expiry, whose collapse id is longer than APNs allows.
    let long_id = format!("greeting-{}", "x".repeat(80));
    let mut greeting = message(&long_id);
    greeting.priority = Priority::Normal;
    let outcome = client.send(&device(DEVICE), &greeting).await;
    assert_sent(&outcome);
    let request = mock.requests().pop().expect("second request");
    assert_eq!(request.header("apns-priority"), Some("5"));
    assert_eq!(request.header("apns-expiration"), Some("0"));
    let collapse = request.header("apns-collapse-id").expect("collapse id");
    assert_eq!(collapse.len(), 64);
    assert!(collapse.bytes().all(|b| b.is_ascii_hexdigit()));
    // The same message maps to the same collapse id, so a repeat replaces the first.
    client.send(&device(DEVICE), &greeting).await;
    assert_eq!(
        mock.requests()
            .pop()
            .expect("third")
            .header("apns-collapse-id"),
        Some(collapse)
    );
}

#[tokio::test]
async fn apns_config_debug_hides_the_key() {
    let config = apns_config("http://127.0.0.1:1", &MockApns::private_key_pem());
    let shown = format!("{config:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(!shown.contains("MIGHAgEA"), "{shown}");
}

#[tokio::test]
async fn apns_sandbox_devices_go_to_the_sandbox_host() {
    let clock = clock();
    let production = MockApns::start_with_clock(Arc::new(clock.clone())).await;
    let sandbox = MockApns::start_with_clock(Arc::new(clock.clone())).await;
    let mut config = apns_config(&production.base_url(), &MockApns::private_key_pem());
    config.sandbox_base_url = sandbox.base_url();
    let client = ApnsClient::new(config, Arc::new(clock.clone())).expect("client");

    let mut debug_build = device(DEVICE);
    debug_build.sandbox = true;
    assert_sent(&client.send(&debug_build, &message("a")).await);
    assert_sent(&client.send(&device(OTHER_DEVICE), &message("b")).await);

    assert_eq!(sandbox.requests()[0].device_token, DEVICE);
    assert_eq!(production.requests()[0].device_token, OTHER_DEVICE);
    assert_eq!(
        (sandbox.request_count(), production.request_count()),
        (1, 1)
    );
}

#[tokio::test]
async fn apns_provider_token_is_reused_for_50_minutes_then_reminted() {
    let (clock, mock, client) = apns_setup().await;
    let start = clock.now_utc().timestamp();

    let mut sends = JoinSet::new();
    for i in 0..20 {
        let client = client.clone();
        sends.spawn(async move {
            client
                .send(&device(DEVICE), &message(&format!("m{i}")))
                .await
        });
    }
    while let Some(outcome) = sends.join_next().await {
        assert_sent(&outcome.expect("task"));
    }
    assert_eq!(mock.provider_tokens().len(), 1, "one token for 20 sends");

    for at in [19, 21, 49] {
        clock.set(
            Utc.timestamp_opt(start + at * 60, 0)
                .single()
                .expect("time"),
        );
        assert_sent(&client.send(&device(DEVICE), &message("later")).await);
        assert_eq!(
            mock.provider_tokens().len(),
            1,
            "still the first token at {at} min"
        );
    }

    clock.set(
        Utc.timestamp_opt(start + 51 * 60, 0)
            .single()
            .expect("time"),
    );
    assert_sent(&client.send(&device(DEVICE), &message("after 50 min")).await);
    let tokens = mock.provider_tokens();
    assert_eq!(tokens.len(), 2, "a new token after 50 minutes");
    assert_eq!(iat(&tokens[0]), start);
    assert_eq!(iat(&tokens[1]), start + 51 * 60);
    assert_eq!(mock.delivered_count(), 24);
}

#[tokio::test]
async fn apns_refused_provider_token_is_replaced_no_sooner_than_20_minutes() {
    let (clock, mock, client) = apns_setup().await;
    assert_sent(&client.send(&device(DEVICE), &message("a")).await);

    clock.advance(minutes(5));
    mock.fail_token_times(DEVICE, 1, 403, "ExpiredProviderToken", None);
    let outcome = client.send(&device(DEVICE), &message("b")).await;
    assert_eq!(
        outcome,
        SendOutcome::Unavailable {
            reason: "ExpiredProviderToken".into(),
            retry_after: None
        }
    );

    // Replacing a 6-minute-old token would earn TooManyProviderTokenUpdates: the client
    // holds the send back until the token is 20 minutes old instead.
    clock.advance(minutes(1));
    let before = mock.request_count();
    match client.send(&device(DEVICE), &message("c")).await {
        SendOutcome::Unavailable {
            retry_after: Some(wait),
            ..
        } => assert_eq!(wait, Duration::from_secs(14 * 60)),
        other => panic!("expected Unavailable with a wait, got {other:?}"),
    }
    assert_eq!(
        mock.request_count(),
        before,
        "nothing sent with a refused token"
    );

    clock.advance(minutes(15));
    assert_sent(&client.send(&device(DEVICE), &message("d")).await);
    let tokens = mock.provider_tokens();
    assert_eq!(tokens.len(), 2, "the refused token was replaced");
    assert_eq!(iat(&tokens[1]) - iat(&tokens[0]), 21 * 60);
}

#[tokio::test]
async fn apns_gone_and_bad_device_tokens_are_invalid_recipients() {
    let (_clock, mock, client) = apns_setup().await;

    mock.fail_token(DEVICE, 410, "Unregistered", None);
    assert_eq!(
        client.send(&device(DEVICE), &message("a")).await,
        SendOutcome::InvalidRecipient {
            reason: "Unregistered".into()
        }
    );

    mock.fail_token(OTHER_DEVICE, 400, "DeviceTokenNotForTopic", None);
    assert_eq!(
        client.send(&device(OTHER_DEVICE), &message("b")).await,
        SendOutcome::InvalidRecipient {
            reason: "DeviceTokenNotForTopic".into()
        }
    );

    // Not programmed: the mock refuses a token that is not 64 hex digits, as APNs does.
    assert_eq!(
        client
            .send(&device("not-a-device-token"), &message("c"))
            .await,
        SendOutcome::InvalidRecipient {
            reason: "BadDeviceToken".into()
        }
    );
    assert_eq!(mock.requests()[2].reason.as_deref(), Some("BadDeviceToken"));
}

#[tokio::test]
async fn apns_throttling_is_retried_after_the_providers_delay() {
    let (_clock, mock, client) = apns_setup().await;
    mock.fail_token_times(DEVICE, 1, 429, "TooManyRequests", Some(7));

    assert_eq!(
        client.send(&device(DEVICE), &message("a")).await,
        SendOutcome::Retry {
            reason: "TooManyRequests".into(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
    // Programmed once: the next attempt goes through.
    assert_sent(&client.send(&device(DEVICE), &message("a")).await);
}

#[tokio::test]
async fn apns_server_errors_make_apns_unavailable() {
    let (_clock, mock, client) = apns_setup().await;
    mock.fail_token(DEVICE, 503, "ServiceUnavailable", None);
    mock.fail_token(OTHER_DEVICE, 500, "InternalServerError", Some(2));

    assert_eq!(
        client.send(&device(DEVICE), &message("a")).await,
        SendOutcome::Unavailable {
            reason: "ServiceUnavailable".into(),
            retry_after: None
        }
    );
    assert_eq!(
        client.send(&device(OTHER_DEVICE), &message("a")).await,
        SendOutcome::Unavailable {
            reason: "InternalServerError".into(),
            retry_after: Some(Duration::from_secs(2))
        }
    );
}

#[tokio::test]
async fn apns_other_refusals_fail_the_message() {
    let (_clock, mock, client) = apns_setup().await;

    let mut huge = message("huge");
    huge.body = "楼".repeat(2000);
    assert_eq!(
        client.send(&device(DEVICE), &huge).await,
        SendOutcome::Failed {
            reason: "PayloadTooLarge".into()
        }
    );

    let mut no_topic = device(DEVICE);
    no_topic.topic = String::new();
    assert_eq!(
        client.send(&no_topic, &message("a")).await,
        SendOutcome::Failed {
            reason: "MissingTopic".into()
        }
    );

    mock.fail_token(OTHER_DEVICE, 400, "TopicDisallowed", None);
    assert_eq!(
        client.send(&device(OTHER_DEVICE), &message("a")).await,
        SendOutcome::Failed {
            reason: "TopicDisallowed".into()
        }
    );
}

#[tokio::test]
async fn apns_token_signed_with_the_wrong_key_makes_apns_unavailable() {
    let clock = clock();
    let mock = MockApns::start_with_clock(Arc::new(clock.clone())).await;
    let client = ApnsClient::new(
        apns_config(&mock.base_url(), STRANGER_P8),
        Arc::new(clock.clone()),
    )
    .expect("client");

    assert_eq!(
        client.send(&device(DEVICE), &message("a")).await,
        SendOutcome::Unavailable {
            reason: "InvalidProviderToken".into(),
            retry_after: None
        }
    );
    assert_eq!(mock.requests()[0].status, 403);
    assert!(mock.provider_tokens().is_empty());

    // The right key under another key id is refused too.
    let mut config = apns_config(&mock.base_url(), &MockApns::private_key_pem());
    config.key_id = "OTHERKEY01".into();
    let client = ApnsClient::new(config, Arc::new(clock.clone())).expect("client");
    assert!(matches!(
        client.send(&device(DEVICE), &message("a")).await,
        SendOutcome::Unavailable { reason, .. } if reason == "InvalidProviderToken"
    ));
    assert_eq!(mock.delivered_count(), 0);
}

#[tokio::test]
async fn apns_unreachable_host_is_unavailable() {
    let client = ApnsClient::new(
        apns_config(&closed_port_url(), &MockApns::private_key_pem()),
        Arc::new(clock()),
    )
    .expect("client");
    assert!(matches!(
        client.send(&device(DEVICE), &message("a")).await,
        SendOutcome::Unavailable { reason, retry_after: None } if reason.starts_with("transport")
    ));
}

// ---- FCM -----------------------------------------------------------------------------------

async fn fcm_setup() -> (ManualClock, MockFcm, Arc<FcmClient>) {
    let clock = clock();
    let mock = MockFcm::start_with_clock(Arc::new(clock.clone())).await;
    let client = FcmClient::new(
        FcmConfig {
            base_url: mock.base_url(),
            service_account: ServiceAccount::from_json(&mock.service_account_json())
                .expect("service account"),
        },
        Arc::new(clock.clone()),
    )
    .expect("FCM client");
    (clock, mock, Arc::new(client))
}

#[tokio::test]
async fn fcm_sends_v1_messages_and_50_concurrent_sends_share_one_grant() {
    let (clock, mock, client) = fcm_setup().await;

    let mut sends = JoinSet::new();
    for i in 0..50 {
        let client = client.clone();
        let mut msg = message(&format!("notice-42-resident-{i}-fcm"));
        msg.expires_at = Some(clock.now_utc() + chrono::Duration::hours(1));
        sends.spawn(async move { client.send(&format!("{FCM_TOKEN}{i}"), &msg).await });
    }
    while let Some(outcome) = sends.join_next().await {
        match outcome.expect("task") {
            SendOutcome::Sent {
                provider_id: Some(name),
            } => assert!(
                name.starts_with("projects/courtyard-test/messages/"),
                "{name}"
            ),
            other => panic!("expected Sent, got {other:?}"),
        }
    }
    assert_eq!(mock.grant_count(), 1, "one OAuth grant for 50 sends");
    assert_eq!(mock.delivered_count(), 50);

    let requests = mock.requests();
    let request = requests
        .iter()
        .find(|r| r.body["message"]["token"] == format!("{FCM_TOKEN}7"))
        .expect("the 8th send");
    assert!(request.http2);
    assert!(
        request.headers["authorization"].starts_with("Bearer ya29.mock-"),
        "{:?}",
        request.headers
    );
    assert_eq!(
        request.body,
        json!({ "message": {
            "token": format!("{FCM_TOKEN}7"),
            "notification": { "title": "停水通知", "body": "Water is off in building 3 from 09:00 to 12:00." },
            "data": { "category": "outage", "notice_id": "42" },
            "android": { "collapse_key": "notice-42-resident-7-fcm", "priority": "HIGH", "ttl": "3600s" },
        }})
    );

    let mut normal = message("greeting");
    normal.priority = Priority::Normal;
    assert!(matches!(
        client.send(FCM_TOKEN, &normal).await,
        SendOutcome::Sent { .. }
    ));
    let request = mock.requests().pop().expect("request");
    assert_eq!(request.body["message"]["android"]["priority"], "NORMAL");
    assert!(request.body["message"]["android"].get("ttl").is_none());
}

#[tokio::test]
async fn fcm_access_token_is_regranted_before_it_expires() {
    let (clock, mock, client) = fcm_setup().await;
    assert_sent(&client.send(FCM_TOKEN, &message("a")).await);
    assert_eq!(mock.grant_count(), 1);

    clock.advance(minutes(54));
    assert_sent(&client.send(FCM_TOKEN, &message("b")).await);
    assert_eq!(mock.grant_count(), 1, "still valid for more than 5 minutes");

    clock.advance(minutes(2));
    assert_sent(&client.send(FCM_TOKEN, &message("c")).await);
    assert_eq!(mock.grant_count(), 2, "re-granted 5 minutes before expiry");

    // Far past both tokens' lifetime: the mock would refuse a stale one with 401.
    clock.advance(minutes(180));
    assert_sent(&client.send(FCM_TOKEN, &message("d")).await);
    assert_eq!(mock.grant_count(), 3);
    assert!(mock.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn fcm_refused_access_token_is_dropped_and_regranted() {
    let (_clock, mock, client) = fcm_setup().await;
    assert_sent(&client.send(FCM_TOKEN, &message("a")).await);

    mock.revoke_access_tokens();
    assert!(matches!(
        client.send(FCM_TOKEN, &message("b")).await,
        SendOutcome::Unavailable { reason, .. } if reason == "UNAUTHENTICATED"
    ));
    assert_sent(&client.send(FCM_TOKEN, &message("b")).await);
    assert_eq!(mock.grant_count(), 2);
}

#[tokio::test]
async fn fcm_unregistered_and_foreign_tokens_are_invalid_recipients() {
    let (_clock, mock, client) = fcm_setup().await;
    mock.fail_token(FCM_TOKEN, "UNREGISTERED", None);
    mock.fail_token("other-app-token", "SENDER_ID_MISMATCH", None);

    assert_eq!(
        client.send(FCM_TOKEN, &message("a")).await,
        SendOutcome::InvalidRecipient {
            reason: "UNREGISTERED".into()
        }
    );
    assert_eq!(
        client.send("other-app-token", &message("a")).await,
        SendOutcome::InvalidRecipient {
            reason: "SENDER_ID_MISMATCH".into()
        }
    );
    // Not programmed: FCM itself refuses a malformed registration token.
    assert_eq!(
        client.send("not a token!", &message("a")).await,
        SendOutcome::InvalidRecipient {
            reason: "INVALID_ARGUMENT".into()
        }
    );
    assert_eq!(mock.requests()[0].status, 404);
}

#[tokio::test]
async fn fcm_quota_exceeded_is_retried_after_the_providers_delay() {
    let (_clock, mock, client) = fcm_setup().await;
    mock.fail_token_times(FCM_TOKEN, 1, "QUOTA_EXCEEDED", Some(30));

    assert_eq!(
        client.send(FCM_TOKEN, &message("a")).await,
        SendOutcome::Retry {
            reason: "QUOTA_EXCEEDED".into(),
            retry_after: Some(Duration::from_secs(30))
        }
    );
    assert_sent(&client.send(FCM_TOKEN, &message("a")).await);
}

#[tokio::test]
async fn fcm_unavailable_and_internal_make_fcm_unavailable() {
    let (_clock, mock, client) = fcm_setup().await;
    mock.fail_token(FCM_TOKEN, "UNAVAILABLE", Some(10));
    mock.fail_token("second-token", "INTERNAL", None);

    assert_eq!(
        client.send(FCM_TOKEN, &message("a")).await,
        SendOutcome::Unavailable {
            reason: "UNAVAILABLE".into(),
            retry_after: Some(Duration::from_secs(10))
        }
    );
    assert_eq!(
        client.send("second-token", &message("a")).await,
        SendOutcome::Unavailable {
            reason: "INTERNAL".into(),
            retry_after: None
        }
    );
    assert_eq!(mock.delivered_count(), 0);
}

#[tokio::test]
async fn fcm_invalid_payload_fails_the_message() {
    let (_clock, mock, client) = fcm_setup().await;
    let mut msg = message("a");
    // `from` is reserved by FCM; the mock refuses it as FCM does.
    msg.data.insert("from".into(), "property office".into());

    match client.send(FCM_TOKEN, &msg).await {
        SendOutcome::Failed { reason } => {
            assert!(reason.starts_with("INVALID_ARGUMENT"), "{reason}");
            assert!(reason.contains("from"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(mock.requests()[0].status, 400);
}

#[tokio::test]
async fn fcm_unreachable_host_is_unavailable() {
    let clock = clock();
    let mock = MockFcm::start_with_clock(Arc::new(clock.clone())).await;
    // The token endpoint answers, FCM itself does not.
    let client = FcmClient::new(
        FcmConfig {
            base_url: closed_port_url(),
            service_account: ServiceAccount::from_json(&mock.service_account_json())
                .expect("service account"),
        },
        Arc::new(clock.clone()),
    )
    .expect("client");
    assert!(matches!(
        client.send(FCM_TOKEN, &message("a")).await,
        SendOutcome::Unavailable { reason, retry_after: None } if reason.starts_with("transport")
    ));
    assert_eq!(mock.grant_count(), 1);

    // Nor does the token endpoint.
    let client = FcmClient::new(
        FcmConfig {
            base_url: mock.base_url(),
            service_account: ServiceAccount::from_json(&fcm::service_account_json(&format!(
                "{}/token",
                closed_port_url()
            )))
            .expect("service account"),
        },
        Arc::new(clock),
    )
    .expect("client");
    assert!(matches!(
        client.send(FCM_TOKEN, &message("a")).await,
        SendOutcome::Unavailable { reason, .. } if reason.starts_with("oauth")
    ));
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn apns_behind_a_failing_tls_handshake_is_unavailable_and_says_why() {
    // A server that answers a TLS client hello with plain text: no handshake can succeed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let client = ApnsClient::new(
        apns_config(
            &format!("https://127.0.0.1:{port}"),
            &MockApns::private_key_pem(),
        ),
        Arc::new(clock()),
    )
    .expect("client");
    match client.send(&device(DEVICE), &message("a")).await {
        SendOutcome::Unavailable {
            reason,
            retry_after: None,
        } => {
            assert!(reason.starts_with("transport: "), "{reason}");
            assert!(
                !reason.contains(DEVICE),
                "no device token in the reason: {reason}"
            );
            assert!(
                !reason.contains("127.0.0.1"),
                "no URL in the reason: {reason}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A local URL nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
