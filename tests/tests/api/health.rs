//! Liveness, readiness, metrics, request ids and the problem+json shape of errors the
//! framework raises before a handler runs.

use courtyard_tests::{redis_url, spawn_app, spawn_app_with};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let health = app
        .request(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(health.body["status"], "ok");
    let ready = app
        .request(Method::GET, "/readyz", None, None)
        .await
        .expect(200);
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["redis"], "not configured");
}

#[tokio::test]
async fn readyz_checks_redis_when_configured() {
    let app = spawn_app_with(|s| s.redis.url = Some(SecretString::from(redis_url()))).await;
    let ready = app
        .request(Method::GET, "/readyz", None, None)
        .await
        .expect(200);
    assert_eq!(ready.body["redis"], "ok", "{}", ready.text);
}

#[tokio::test]
async fn metrics_count_requests() {
    let app = spawn_app().await;
    app.request(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    let metrics = app
        .request(Method::GET, "/metrics", None, None)
        .await
        .expect(200);
    assert!(
        metrics.text.contains("http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("http_request_duration_seconds"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "req-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let generated = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(generated.headers["x-request-id"].len(), 36);
}

#[tokio::test]
async fn framework_errors_are_problem_json() {
    let app = spawn_app().await;
    app.request(Method::GET, "/v1/nowhere", None, None)
        .await
        .expect_problem(404, "/problems/not-found");
    app.request_raw(
        Method::POST,
        "/v1/auth/sms-codes",
        None,
        "application/json",
        b"{not json".to_vec(),
    )
    .await
    .expect_problem(400, "/problems/bad-request");
    app.request_raw(
        Method::POST,
        "/v1/auth/sms-codes",
        None,
        "text/plain",
        b"hello".to_vec(),
    )
    .await
    .expect_problem(415, "/problems/unsupported-media-type");
    app.send_login_code(&json!({ "phone": ["13812341234"] }))
        .await
        .expect_problem(400, "/problems/bad-request");
    let huge = vec![b'a'; courtyard_api::startup::MAX_BODY_BYTES + 1];
    app.request_raw(
        Method::POST,
        "/v1/auth/sms-codes",
        None,
        "application/json",
        huge,
    )
    .await
    .expect_problem(413, "/problems/payload-too-large");
    app.request(Method::GET, "/v1/communities/not-a-uuid", Some("x"), None)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn docs_and_spec_are_served() {
    let app = spawn_app().await;
    let docs = app.request(Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status.as_u16(), 200, "{}", docs.text);
    assert!(
        docs.text.contains("swagger"),
        "{}",
        &docs.text[..200.min(docs.text.len())]
    );
    let spec = app
        .request(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(spec.body["info"]["title"], "Courtyard API");
}
