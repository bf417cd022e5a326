//! Logging in: SMS codes with their limits, WeChat code2session, staff passwords, refresh
//! rotation with reuse detection, logout and token expiry.

use chrono::Duration;
use courtyard_tests::{TestApp, spawn_app, spawn_app_with, tokens};
use poem::{
    Route, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Json, Query},
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

async fn app_with_resident(phone: &str) -> (TestApp, courtyard_tests::Tokens) {
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    add_resident(&app, &admin.access, phone).await;
    (app, admin)
}

async fn add_resident(app: &TestApp, admin: &str, phone: &str) {
    let community = app
        .create_community(admin, &json!({ "name": format!("C{phone}") }))
        .await
        .expect(201)
        .id();
    let building = app
        .create_building(admin, community, &json!({ "name": "1栋" }))
        .await
        .expect(201)
        .id();
    let unit = app
        .create_unit(admin, building, &json!({ "name": "1单元" }))
        .await
        .expect(201)
        .id();
    let household = app
        .create_household(
            admin,
            unit,
            &json!({ "room_number": "101", "floor_area_m2": 80 }),
        )
        .await
        .expect(201)
        .id();
    app.create_resident(admin, &json!({ "name": "张三", "phone": phone, "memberships": [{ "household_id": household, "role": "owner" }] }))
    .await
    .expect(201);
}

#[tokio::test]
async fn resident_logs_in_with_an_sms_code_and_reads_me() {
    let (app, _) = app_with_resident("13812341234").await;
    let sent = app.send_code("+86 138-1234-1234").await.expect(202);
    assert_eq!(sent.body["expires_in"], 300);
    let code = app.codes.last_for("13812341234").expect("code sent");
    assert_eq!(code.len(), 6);
    let tokens = tokens(app.sms_login("13812341234", &code).await.expect(200));
    let me = app.get_me(&tokens.access).await.expect(200);
    assert_eq!(me.body["kind"], "resident");
    assert_eq!(me.body["phone"], "13812341234");
    assert_eq!(me.body["households"][0]["building"], "1栋");
    // A code is good once.
    app.sms_login("13812341234", &code)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn unknown_numbers_get_the_same_answer_but_no_code() {
    let app = spawn_app().await;
    app.send_code("13900009999").await.expect(202);
    assert_eq!(app.codes.count(), 0);
    app.sms_login("13900009999", "000000")
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn codes_are_stored_hashed() {
    let (app, _) = app_with_resident("13812341234").await;
    app.send_code("13812341234").await.expect(202);
    let code = app.codes.last_for("13812341234").expect("code");
    use sea_orm::EntityTrait;
    let rows = courtyard_domain::entities::login_code::Entity::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].code_hash, code);
    assert_eq!(rows[0].code_hash.len(), 64);
}

#[tokio::test]
async fn five_wrong_codes_burn_the_code() {
    let (app, _) = app_with_resident("13812341234").await;
    app.send_code("13812341234").await.expect(202);
    let code = app.codes.last_for("13812341234").expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.sms_login("13812341234", wrong)
            .await
            .expect_problem(401, "/problems/unauthorized");
    }
    app.sms_login("13812341234", &code)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn codes_expire_after_five_minutes() {
    let (app, _) = app_with_resident("13812341234").await;
    app.send_code("13812341234").await.expect(202);
    let code = app.codes.last_for("13812341234").expect("code");
    app.clock.advance(Duration::seconds(301));
    app.sms_login("13812341234", &code)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn sends_are_limited_per_minute_hour_and_day() {
    let (app, _) = app_with_resident("13812341234").await;
    app.send_code("13812341234").await.expect(202);
    let limited = app
        .send_code("13812341234")
        .await
        .expect_problem(429, "/problems/rate-limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    // 5 an hour.
    for _ in 0..4 {
        app.clock.advance(Duration::seconds(61));
        app.send_code("13812341234").await.expect(202);
    }
    app.clock.advance(Duration::seconds(61));
    let hourly = app
        .send_code("13812341234")
        .await
        .expect_problem(429, "/problems/rate-limited");
    assert!(hourly.str("detail").contains("an hour"), "{}", hourly.text);
    // 10 a day.
    app.clock.advance(Duration::hours(1));
    for _ in 0..5 {
        app.clock.advance(Duration::seconds(61));
        app.send_code("13812341234").await.expect(202);
    }
    app.clock.advance(Duration::hours(1));
    let daily = app
        .send_code("13812341234")
        .await
        .expect_problem(429, "/problems/rate-limited");
    assert!(daily.str("detail").contains("a day"), "{}", daily.text);
    assert_eq!(app.codes.count(), 10);
    app.clock.advance(Duration::days(1));
    app.send_code("13812341234").await.expect(202);
}

#[tokio::test]
async fn sends_are_limited_per_ip() {
    let app = spawn_app_with(|s| s.auth.codes_per_ip_hour = 3).await;
    for phone in ["13800000001", "13800000002", "13800000003"] {
        app.send_code(phone).await.expect(202);
    }
    app.send_code("13800000004")
        .await
        .expect_problem(429, "/problems/rate-limited");
}

#[tokio::test]
async fn public_endpoints_are_rate_limited_per_ip() {
    let app = spawn_app_with(|s| s.server.public_rate_limit_per_minute = 3).await;
    for _ in 0..3 {
        app.staff_login("nobody", "wrong-password")
            .await
            .expect(401);
    }
    let limited = app
        .staff_login("nobody", "wrong-password")
        .await
        .expect_problem(429, "/problems/rate-limited");
    assert!(limited.headers.contains_key("retry-after"));
}

/// Asks for a login code for `phone` as if from `client` behind the load balancer.
async fn send_code_via(app: &TestApp, phone: &str, forwarded_for: &str) -> courtyard_tests::Reply {
    app.request_with_headers(
        poem::http::Method::POST,
        "/v1/auth/sms-codes",
        None,
        &json!({ "phone": phone }),
        &[("x-forwarded-for", forwarded_for)],
    )
    .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_ip_limit() {
    let app = spawn_app_with(|s| {
        s.auth.codes_per_ip_hour = 2;
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    // Two residents behind the balancer: each has their own two codes an hour, and the
    // address a client writes at the left of the header is not the one counted.
    for (i, client) in ["198.51.100.1", "6.6.6.6, 198.51.100.1"].iter().enumerate() {
        send_code_via(&app, &format!("1380000001{i}"), client)
            .await
            .expect(202);
    }
    send_code_via(&app, "13800000019", "198.51.100.1")
        .await
        .expect_problem(429, "/problems/rate-limited");
    for phone in ["13800000021", "13800000022"] {
        send_code_via(&app, phone, "198.51.100.2").await.expect(202);
    }
}

#[tokio::test]
async fn from_an_untrusted_peer_the_forwarded_header_is_ignored() {
    let app = spawn_app_with(|s| s.auth.codes_per_ip_hour = 2).await;
    send_code_via(&app, "13800000031", "198.51.100.1")
        .await
        .expect(202);
    send_code_via(&app, "13800000032", "198.51.100.2")
        .await
        .expect(202);
    // Both counted against the peer itself, whatever the header said.
    send_code_via(&app, "13800000033", "198.51.100.3")
        .await
        .expect_problem(429, "/problems/rate-limited");
}

#[tokio::test]
async fn the_public_limit_holds_across_api_processes_sharing_redis() {
    let app = spawn_app_with(|s| {
        s.server.public_rate_limit_per_minute = 3;
        s.redis.url = Some(SecretString::from(courtyard_tests::redis_url()));
        // A prefix of this test's own: other tests' processes share the server.
        s.redis.key_prefix = format!("courtyard-test-{}:", uuid::Uuid::new_v4().simple());
    })
    .await;
    let other = app.start_another_api_only().await;
    for app in [&app, &other, &app] {
        app.staff_login("nobody", "wrong-password")
            .await
            .expect(401);
    }
    other
        .staff_login("nobody", "wrong-password")
        .await
        .expect_problem(429, "/problems/rate-limited");
}

#[tokio::test]
async fn bad_phone_numbers_are_422_with_the_field() {
    let app = spawn_app().await;
    let reply = app
        .send_code("12345")
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "phone");
}

#[tokio::test]
async fn staff_log_in_with_passwords() {
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    let me = app.get_me(&admin.access).await.expect(200);
    assert_eq!(me.body["kind"], "staff");
    assert_eq!(me.body["role"], "admin");
    app.staff_login("admin-nope", "admin-password")
        .await
        .expect_problem(401, "/problems/unauthorized");
    let created = app
        .create_staff(&admin.access, &json!({ "name": "Li", "username": "li.engineer", "password": "long-password", "role": "engineer", "community_ids": [] }))
        .await
        .expect(201);
    app.staff_login("li.engineer", "wrong-password")
        .await
        .expect_problem(401, "/problems/unauthorized");
    let li = app.login_staff("li.engineer", "long-password").await;
    app.get_me(&li.access).await.expect(200);
    // Deactivation ends access at once, even with a live token.
    app.deactivate_staff(&admin.access, created.id())
        .await
        .expect(204);
    app.get_me(&li.access)
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.staff_login("li.engineer", "long-password")
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.refresh(&li.refresh)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let (app, _) = app_with_resident("13812341234").await;
    let first = app.login_resident("13812341234").await;
    let second = tokens(app.refresh(&first.refresh).await.expect(200));
    assert_ne!(second.refresh, first.refresh);
    app.get_me(&second.access).await.expect(200);
    // Replaying the first token is theft: the family dies, including the second token.
    let reuse = app
        .refresh(&first.refresh)
        .await
        .expect_problem(401, "/problems/unauthorized");
    assert!(
        reuse.str("detail").contains("already used"),
        "{}",
        reuse.text
    );
    app.refresh(&second.refresh)
        .await
        .expect_problem(401, "/problems/unauthorized");
    // Another login is unaffected.
    let other = app.login_resident("13812341234").await;
    app.refresh(&other.refresh).await.expect(200);
}

#[tokio::test]
async fn logout_revokes_and_is_idempotent() {
    let (app, _) = app_with_resident("13812341234").await;
    let session = app.login_resident("13812341234").await;
    app.logout(&json!({ "refresh_token": session.refresh }))
        .await
        .expect(204);
    app.logout(&json!({ "refresh_token": session.refresh }))
        .await
        .expect(204);
    app.refresh(&session.refresh)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes() {
    let (app, _) = app_with_resident("13812341234").await;
    let session = app.login_resident("13812341234").await;
    app.clock.advance(Duration::minutes(14));
    app.get_me(&session.access).await.expect(200);
    app.clock.advance(Duration::minutes(2));
    let expired = app
        .get_me(&session.access)
        .await
        .expect_problem(401, "/problems/unauthorized");
    assert!(
        expired.str("detail").contains("expired"),
        "{}",
        expired.text
    );
    let fresh = tokens(app.refresh(&session.refresh).await.expect(200));
    app.get_me(&fresh.access).await.expect(200);
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let (app, _) = app_with_resident("13812341234").await;
    let session = app.login_resident("13812341234").await;
    app.clock.advance(Duration::days(31));
    app.refresh(&session.refresh)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn one_phone_in_two_companies_needs_a_company_id() {
    let (app, _) = app_with_resident("13812341234").await;
    let (company2, admin2) = app.bootstrap_admin("Co 2").await;
    add_resident(&app, &admin2.access, "13812341234").await;
    app.send_code("13812341234").await.expect(202);
    let code = app.codes.last_for("13812341234").expect("code");
    app.sms_login("13812341234", &code)
        .await
        .expect_problem(409, "/problems/company-required");
    app.clock.advance(Duration::seconds(61));
    app.send_code("13812341234").await.expect(202);
    let code = app.codes.last_for("13812341234").expect("code");
    let reply = app
        .post(
            "/v1/auth/sms-login",
            None,
            json!({ "phone": "13812341234", "code": code, "company_id": company2 }),
        )
        .await
        .expect(200);
    let me = app.get_me(&reply.str("access_token")).await.expect(200);
    assert_eq!(me.body["company_id"], json!(company2));
}

#[derive(Deserialize)]
struct Code2SessionQuery {
    appid: String,
    secret: String,
    js_code: String,
    grant_type: String,
}

/// A WeChat `code2session` stand-in that checks what WeChat checks.
#[handler]
fn code2session(Query(q): Query<Code2SessionQuery>) -> Json<Value> {
    if q.appid != "wx-test-app" || q.secret != "wx-test-secret" {
        return Json(json!({ "errcode": 40125, "errmsg": "invalid appsecret" }));
    }
    if q.grant_type != "authorization_code" {
        return Json(json!({ "errcode": 40002, "errmsg": "invalid grant_type" }));
    }
    match q.js_code.strip_prefix("good-") {
        Some(openid) => Json(json!({ "openid": openid, "session_key": "c2Vzc2lvbg==" })),
        None if q.js_code == "used" => {
            Json(json!({ "errcode": 40163, "errmsg": "code been used" }))
        }
        None => Json(json!({ "errcode": 40029, "errmsg": "invalid code" })),
    }
}

async fn wechat_mock() -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let port = acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("tcp")
        .port();
    tokio::spawn(
        poem::Server::new_with_acceptor(acceptor)
            .run(Route::new().at("/sns/jscode2session", get(code2session))),
    );
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn wechat_login_binds_once_then_logs_in_by_code() {
    let base = wechat_mock().await;
    let app = spawn_app_with(|s| {
        s.wechat.base_url = base;
        s.wechat.app_id = Some("wx-test-app".into());
        s.wechat.app_secret = Some(SecretString::from("wx-test-secret"));
    })
    .await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    add_resident(&app, &admin.access, "13812341234").await;

    app.wechat_login(&json!({ "code": "good-openid-1" }))
        .await
        .expect_problem(409, "/problems/wechat-not-bound");
    app.send_code("13812341234").await.expect(202);
    let code = app.codes.last_for("13812341234").expect("code");
    let bound = app
        .wechat_login(&json!({ "code": "good-openid-1", "phone": "13812341234", "sms_code": code }))
        .await
        .expect(200);
    let me = app.get_me(&bound.str("access_token")).await.expect(200);
    assert_eq!(me.body["wechat_bound"], true);
    let again = app
        .wechat_login(&json!({ "code": "good-openid-1" }))
        .await
        .expect(200);
    app.get_me(&again.str("access_token")).await.expect(200);
    app.wechat_login(&json!({ "code": "bogus" }))
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.wechat_login(&json!({ "code": "used" }))
        .await
        .expect_problem(401, "/problems/unauthorized");
}

#[tokio::test]
async fn wechat_login_is_unavailable_when_not_configured_or_down() {
    let app = spawn_app().await;
    app.wechat_login(&json!({ "code": "good-x" }))
        .await
        .expect_problem(503, "/problems/unavailable");
    let down = spawn_app_with(|s| {
        s.wechat.base_url = "http://127.0.0.1:9".into();
        s.wechat.app_id = Some("wx-test-app".into());
        s.wechat.app_secret = Some(SecretString::from("wx-test-secret"));
    })
    .await;
    down.wechat_login(&json!({ "code": "good-x" }))
        .await
        .expect_problem(503, "/problems/unavailable");
}
