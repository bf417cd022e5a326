//! The audit trail: staff reads of residents' personal data, revealed phones, logins and
//! token reuse are recorded with who, when, from where and the request's id; admins and
//! supervisors read it back (supervisors only their communities'); rows cannot be changed
//! or deleted except by housekeeping past the retention horizon.

use courtyard_domain::{Clock, entities::audit_entry};
use courtyard_tests::{
    TestApp, spawn_app,
    world::{STAFF_PASSWORD, World},
};
use reqwest::Method;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};

/// The audit rows of one request, as an admin reads them (reads arrive in batches: waits).
async fn rows_of(app: &TestApp, admin: &str, request_id: &str) -> Vec<Value> {
    let path = format!("/v1/audit-log?request_id={request_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = app.get(&path, admin).await.expect(200);
        let rows = page.body["items"].as_array().cloned().unwrap_or_default();
        if !rows.is_empty() {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit row for request {request_id}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_staff_read_of_a_resident_is_in_the_trail_with_its_request_id_and_address() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.admin.access.as_str();
    let (front_id, _) = &world.staff["front_desk"];
    let read = app
        .request_with_headers(
            Method::GET,
            &format!("/v1/residents/{}", world.a.resident),
            Some(world.token("front_desk")),
            &Value::Null,
            &[("x-request-id", "read-of-resident-1")],
        )
        .await
        .expect(200);
    assert!(read.body["phone"].as_str().unwrap().contains("****"));
    assert_eq!(read.header("x-request-id"), "read-of-resident-1");

    let rows = rows_of(&app, admin, "read-of-resident-1").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["action"], "get_resident");
    assert_eq!(row["actor_kind"], "staff");
    assert_eq!(row["actor_id"], json!(front_id));
    assert_eq!(row["actor_role"], "front_desk");
    assert_eq!(row["object_type"], "resident");
    assert_eq!(row["resident_id"], json!(world.a.resident));
    assert_eq!(row["community_id"], json!(world.a.community));
    assert_eq!(row["client_ip"], "127.0.0.1");

    // By resident, by actor, by action: the same row.
    for query in [
        format!("resident_id={}", world.a.resident),
        format!("actor_id={front_id}"),
        "action=get_resident".to_owned(),
    ] {
        let page = app
            .get(&format!("/v1/audit-log?{query}"), admin)
            .await
            .expect(200);
        assert!(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["request_id"] == "read-of-resident-1"),
            "{query}: {}",
            page.text
        );
    }
    // Household members are personal data too.
    app.request_with_headers(
        Method::GET,
        &format!("/v1/households/{}/members", world.a.household),
        Some(world.token("butler")),
        &Value::Null,
        &[("x-request-id", "read-of-members-1")],
    )
    .await
    .expect(200);
    let rows = rows_of(&app, admin, "read-of-members-1").await;
    assert_eq!(rows[0]["action"], "list_household_members");
    assert_eq!(rows[0]["actor_role"], "butler");

    // Another company's admin sees none of it.
    let other = app
        .get(
            "/v1/audit-log?request_id=read-of-resident-1",
            &world.admin2.access,
        )
        .await
        .expect(200);
    assert_eq!(other.body["items"], json!([]));
    // Residents and field staff may not read the trail.
    app.get("/v1/audit-log", &world.resident.access)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.get("/v1/audit-log", world.token("engineer"))
        .await
        .expect_problem(403, "/problems/forbidden");
}

#[tokio::test]
async fn phones_are_masked_for_everyone_and_a_reveal_is_audited() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let resident = world.a.resident;
    for role in ["front_desk", "butler", "engineer", "cleaner"] {
        let seen = app
            .get_resident(world.token(role), resident)
            .await
            .expect(200);
        assert!(
            seen.body["phone"].as_str().unwrap().contains("****"),
            "{role}: {}",
            seen.text
        );
    }
    // Field staff cannot look a number up; the office can.
    for role in ["engineer", "cleaner", "gardener"] {
        app.list_residents(
            world.token(role),
            world.a.community,
            &[("phone", &world.a.resident_phone)],
        )
        .await
        .expect_problem(403, "/problems/forbidden");
    }
    let found = app
        .list_residents(
            world.token("front_desk"),
            world.a.community,
            &[("phone", &world.a.resident_phone)],
        )
        .await
        .expect(200);
    assert_eq!(found.body["items"][0]["id"], json!(resident));

    // Field staff may not reveal; the front desk may, and it is recorded.
    app.post(
        &format!("/v1/residents/{resident}/phone-reveal"),
        Some(world.token("engineer")),
        json!({}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    let revealed = app
        .request_with_headers(
            Method::POST,
            &format!("/v1/residents/{resident}/phone-reveal"),
            Some(world.token("front_desk")),
            &json!({}),
            &[("x-request-id", "reveal-1")],
        )
        .await
        .expect(200);
    assert_eq!(revealed.body["phone"], world.a.resident_phone.as_str());
    let rows = rows_of(&app, &world.admin.access, "reveal-1").await;
    assert_eq!(rows[0]["action"], "reveal_resident_phone");
    assert_eq!(rows[0]["resident_id"], json!(resident));
    // Another community's resident stays out of reach.
    app.post(
        &format!("/v1/residents/{}/phone-reveal", world.b.resident),
        Some(world.token("front_desk")),
        json!({}),
    )
    .await
    .expect_problem(404, "/problems/not-found");
}

#[tokio::test]
async fn birthdays_are_for_butlers_and_admins() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let resident = world.a.resident;
    app.update_resident(
        world.token("front_desk"),
        resident,
        &json!({ "birthday": "1980-05-06" }),
    )
    .await
    .expect(200);
    for (role, sees) in [
        ("admin", true),
        ("butler", true),
        ("front_desk", false),
        ("supervisor", false),
        ("engineer", false),
    ] {
        let seen = app
            .get_resident(world.token(role), resident)
            .await
            .expect(200);
        assert_eq!(
            seen.body.get("birthday").is_some(),
            sees,
            "{role}: {}",
            seen.text
        );
    }
}

#[tokio::test]
async fn logins_failed_and_succeeded_and_token_reuse_are_recorded() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.admin.access.as_str();
    let (butler_id, _) = &world.staff["butler"];

    app.request_with_headers(
        Method::POST,
        "/v1/auth/staff-login",
        None,
        &json!({ "username": "butler-a", "password": "not-the-password" }),
        &[("x-request-id", "login-wrong-1")],
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    let rows = rows_of(&app, admin, "login-wrong-1").await;
    assert_eq!(rows[0]["action"], "staff_login_failed");
    assert_eq!(rows[0]["actor_id"], json!(butler_id));
    assert_eq!(rows[0]["details"]["reason"], "wrong password");
    assert!(!rows[0].to_string().contains("not-the-password"));

    let login = app
        .request_with_headers(
            Method::POST,
            "/v1/auth/staff-login",
            None,
            &json!({ "username": "butler-a", "password": STAFF_PASSWORD }),
            &[("x-request-id", "login-right-1")],
        )
        .await
        .expect(200);
    let rows = rows_of(&app, admin, "login-right-1").await;
    assert_eq!(rows[0]["action"], "staff_login");
    assert_eq!(rows[0]["actor_role"], "butler");

    // A resident's wrong code: attributed to the resident, phone masked.
    app.send_code(&world.a.resident_phone).await.expect(202);
    app.request_with_headers(
        Method::POST,
        "/v1/auth/sms-login",
        None,
        &json!({ "phone": world.a.resident_phone, "code": "000000" }),
        &[("x-request-id", "sms-wrong-1")],
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    let rows = rows_of(&app, admin, "sms-wrong-1").await;
    assert_eq!(rows[0]["action"], "sms_login_failed");
    assert_eq!(rows[0]["resident_id"], json!(world.a.resident));
    let phone = rows[0]["details"]["phone"].as_str().unwrap();
    assert!(phone.contains("****"), "{phone}");

    // A refresh token presented twice: the family is revoked and the reuse recorded.
    let refresh = login.str("refresh_token");
    app.refresh(&refresh).await.expect(200);
    app.request_with_headers(
        Method::POST,
        "/v1/auth/refresh",
        None,
        &json!({ "refresh_token": refresh }),
        &[("x-request-id", "reuse-1")],
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    let rows = rows_of(&app, admin, "reuse-1").await;
    assert_eq!(rows[0]["action"], "refresh_token_reused");
    assert_eq!(rows[0]["actor_id"], json!(butler_id));
    assert_eq!(rows[0]["details"]["family_revoked"], true);
}

#[tokio::test]
async fn supervisors_see_their_communities_and_admins_export_csv() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.admin.access.as_str();
    // The admin reads a resident of B (outside the supervisor's communities) and one of A.
    for (place, id) in [(&world.b, "read-b"), (&world.a, "read-a")] {
        app.request_with_headers(
            Method::GET,
            &format!("/v1/residents/{}", place.resident),
            Some(admin),
            &Value::Null,
            &[("x-request-id", id)],
        )
        .await
        .expect(200);
        rows_of(&app, admin, id).await;
    }
    let supervisor = world.token("supervisor");
    let seen = app
        .get("/v1/audit-log?action=get_resident&limit=200", supervisor)
        .await
        .expect(200);
    let ids: Vec<&str> = seen.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert!(ids.contains(&"read-a"), "{ids:?}");
    assert!(!ids.contains(&"read-b"), "{ids:?}");

    // Pages: one row at a time, each page continues after the last.
    let first = app
        .get("/v1/audit-log?action=get_resident&limit=1", admin)
        .await
        .expect(200);
    let cursor = first.str("next_cursor");
    let second = app
        .get(
            &format!("/v1/audit-log?action=get_resident&limit=1&cursor={cursor}"),
            admin,
        )
        .await
        .expect(200);
    assert_ne!(first.body["items"][0]["id"], second.body["items"][0]["id"]);

    let csv = app
        .request_with_headers(
            Method::GET,
            "/v1/audit-log.csv?action=get_resident",
            Some(admin),
            &Value::Null,
            &[("x-request-id", "export-1")],
        )
        .await
        .expect(200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.trim_start_matches('\u{feff}').lines().collect();
    assert!(
        lines[0].starts_with("at,actor_kind,actor_id"),
        "{}",
        lines[0]
    );
    assert!(lines.iter().any(|l| l.contains("read-a")));
    assert!(lines.iter().any(|l| l.contains("read-b")));
    let rows = rows_of(&app, admin, "export-1").await;
    assert_eq!(rows[0]["action"], "export_audit_log");

    app.get(
        "/v1/audit-log?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        admin,
    )
    .await
    .expect_problem(422, "/problems/validation");
}

#[tokio::test]
async fn the_trail_cannot_be_changed_or_deleted_except_past_the_horizon() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    // Staff writes made by the world leave rows.
    let before = audit_entry::Entity::find().all(&app.db).await.unwrap();
    assert!(before.len() > 5, "{}", before.len());
    let backend = app.db.get_database_backend();
    for sql in [
        "UPDATE audit_events SET action = 'nothing'",
        "DELETE FROM audit_events",
    ] {
        let refused = app
            .db
            .execute_raw(Statement::from_string(backend, sql))
            .await;
        assert!(refused.is_err(), "{sql} was allowed");
    }
    if backend == sea_orm::DbBackend::Postgres {
        let refused = app
            .db
            .execute_raw(Statement::from_string(backend, "TRUNCATE audit_events"))
            .await;
        assert!(refused.is_err(), "TRUNCATE was allowed");
    }
    assert_eq!(
        audit_entry::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        before.len()
    );
    // Housekeeping moves the horizon: rows older than it go, newer ones stay.
    app.clock.advance(chrono::Duration::minutes(1));
    let horizon = app.clock.now();
    app.update_resident(
        world.token("front_desk"),
        world.a.resident,
        &json!({ "locale": "en" }),
    )
    .await
    .expect(200);
    let purged = courtyard_store::audit::purge_before(&app.db, horizon, 10_000)
        .await
        .unwrap();
    assert_eq!(purged as usize, before.len());
    let left = audit_entry::Entity::find().all(&app.db).await.unwrap();
    assert!(left.iter().all(|r| r.created_at >= horizon), "{left:?}");
    assert!(left.iter().any(|r| r.action == "update_resident"));
    // The horizon does not move back: an earlier one deletes nothing, and a row newer than
    // the horizon still cannot be deleted by hand.
    let again =
        courtyard_store::audit::purge_before(&app.db, horizon - chrono::Duration::hours(2), 10)
            .await
            .unwrap();
    assert_eq!(again, 0);
    let refused = app
        .db
        .execute_raw(Statement::from_string(backend, "DELETE FROM audit_events"))
        .await;
    assert!(
        refused.is_err(),
        "deleting a row newer than the horizon was allowed"
    );
}

#[tokio::test]
async fn housekeeping_keeps_each_record_for_its_retention_in_bounded_batches() {
    use courtyard_domain::{
        entities::{delivery, login_code, refresh_token},
        settings::RetentionSettings,
    };
    use courtyard_workers::jobs::housekeeping;
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let app = spawn_app().await;
    let _world = World::build(&app).await;
    let settled = ["sent", "failed", "suppressed", "dead", "invalid_token"];
    let count = async || {
        (
            login_code::Entity::find().count(&app.db).await.unwrap(),
            refresh_token::Entity::find().count(&app.db).await.unwrap(),
            audit_entry::Entity::find().count(&app.db).await.unwrap(),
        )
    };
    let (codes, tokens, audit_rows) = count().await;
    assert!(codes > 0 && tokens > 0 && audit_rows > 0);
    let retention = RetentionSettings {
        batch: 2,
        max_batches: 1,
        audit_days: 30,
        ..RetentionSettings::default()
    };
    // Today nothing is old enough.
    let today = housekeeping::run(&app.db, app.clock.now(), &retention)
        .await
        .unwrap();
    assert_eq!(today.removed(), 0, "{today:?}");

    // A year and a half on, everything is: each run removes at most one batch of each kind.
    let later = app.clock.now() + chrono::Duration::days(550);
    let first = housekeeping::run(&app.db, later, &retention).await.unwrap();
    assert!(first.login_codes <= 2 && first.refresh_tokens <= 2 && first.audit_rows <= 2);
    assert!(first.removed() > 0);
    let mut runs = 1;
    loop {
        let report = housekeeping::run(&app.db, later, &retention).await.unwrap();
        if report.removed() == 0 {
            break;
        }
        assert!(
            report.audit_rows <= 2 && report.deliveries <= 2,
            "{report:?}"
        );
        runs += 1;
        assert!(runs < 1_000, "housekeeping does not finish");
    }
    assert!(
        runs > 1,
        "one run removed everything: the batches are not bounded"
    );
    assert_eq!(count().await, (0, 0, 0));
    let left_settled = delivery::Entity::find()
        .filter(delivery::Column::Status.is_in(settled))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(left_settled, 0);
}
