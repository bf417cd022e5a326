//! Residents' rights over their data: a copy of everything held about them, and closing
//! their account (cancellable during the cooling-off, then carried out by the workers),
//! after which tickets and payments stay without the person and no push can reach them.

use courtyard_domain::entities::{device, payment, refresh_token, resident, ticket};
use courtyard_tests::{TestApp, spawn_app_with, world::World};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

async fn app() -> TestApp {
    spawn_app_with(|s| s.auth.access_token_ttl_secs = 30 * 24 * 3600).await
}

/// Polls an export until the workers built it.
async fn ready_export(app: &TestApp, token: &str, id: Uuid) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let seen = app
            .get(&format!("/v1/me/data-exports/{id}"), token)
            .await
            .expect(200);
        if seen.body["status"] != "pending" {
            return seen.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export was never built"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_resident_exports_every_kind_of_their_data() {
    let app = app().await;
    let world = World::build(&app).await;
    let me = world.a.resident_tokens.access.as_str();
    // Preferences and a WeChat consent, so that every section has something.
    app.put(
        "/v1/me/notification-preferences",
        me,
        json!({ "channels": { "outage": ["sms"] } }),
    )
    .await
    .expect(200);
    app.post(
        "/v1/me/wechat-consents",
        Some(me),
        json!({ "category": "fee_reminder", "accepted": 2 }),
    )
    .await
    .expect(200);

    let asked = app
        .post("/v1/me/data-exports", Some(me), json!({}))
        .await
        .expect(202);
    assert_eq!(asked.body["status"], "pending");
    let id = asked.id();
    // Asking again while it is built gives the same export.
    let again = app
        .post("/v1/me/data-exports", Some(me), json!({}))
        .await
        .expect(202);
    assert_eq!(again.id(), id);
    // Nobody else reaches it: another resident, or staff.
    app.get(
        &format!("/v1/me/data-exports/{id}"),
        &world.b.resident_tokens.access,
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.post("/v1/me/data-exports", Some(world.token("admin")), json!({}))
        .await
        .expect_problem(403, "/problems/forbidden");

    let ready = ready_export(&app, me, id).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let path = ready["download_path"].as_str().expect("a download path");
    let file = app.get(path, me).await.expect(200);
    assert!(file.header("content-disposition").starts_with("attachment"));
    let doc = &file.body;
    assert_eq!(doc["format"], "courtyard-personal-data/1");
    assert_eq!(doc["profile"]["id"], json!(world.a.resident));
    assert_eq!(doc["profile"]["phone"], world.a.resident_phone.as_str());
    assert_eq!(
        doc["memberships"][0]["household_id"],
        json!(world.a.household)
    );
    assert!(doc["memberships"][0]["household"]["room_number"].is_string());
    assert_eq!(doc["devices"][0]["id"], json!(world.a.device));
    assert_eq!(doc["preferences"][0]["category"], "outage");
    assert_eq!(doc["wechat_consents"][0]["remaining"], 2);
    assert!(!doc["sessions"].as_array().unwrap().is_empty());
    assert!(
        doc["sessions"][0].get("token_hash").is_none(),
        "a session's secret is not exported"
    );
    let tickets = doc["tickets"].as_array().unwrap();
    let own = tickets
        .iter()
        .find(|t| t["ticket"]["id"] == json!(world.a.ticket))
        .expect("the resident's ticket");
    assert!(own["events"].as_array().unwrap().len() >= 2, "{own}");
    assert_eq!(
        own["photos"][0]["url"],
        format!("/v1/tickets/{}/photos/{}", world.a.ticket, world.a.photo)
    );
    assert!(
        doc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == json!(world.a.message))
    );
    assert!(!doc["deliveries"].as_array().unwrap().is_empty());
    assert!(
        doc["bills"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"] == json!(world.a.bill))
    );
    assert!(
        doc["payments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["payment"]["id"] == json!(world.a.payment))
    );
    for key in ["consents", "service_packages", "erasure_requests"] {
        assert!(doc[key].is_array(), "{key}");
    }

    // A day later the link is gone; a new export can be asked for.
    app.clock.advance(chrono::Duration::hours(25));
    let expired = app
        .get(&format!("/v1/me/data-exports/{id}"), me)
        .await
        .expect(200);
    assert_eq!(expired.body["status"], "expired");
    app.get(path, me)
        .await
        .expect_problem(409, "/problems/export-expired");
}

#[tokio::test]
async fn an_erasure_is_cancelled_once_then_carried_out_after_the_cooling_off() {
    let app = app().await;
    let world = World::build(&app).await;
    let me = world.a.resident_tokens.access.clone();
    let id = world.a.resident;

    let asked = app
        .post("/v1/me/erasure-request", Some(&me), json!({}))
        .await
        .expect(202);
    assert_eq!(asked.body["status"], "scheduled");
    let requested: chrono::DateTime<chrono::Utc> =
        asked.str("requested_at").parse().expect("a time");
    let due: chrono::DateTime<chrono::Utc> = asked.str("due_at").parse().expect("a time");
    assert_eq!(due - requested, chrono::Duration::days(7));
    let cancelled = app.delete("/v1/me/erasure-request", &me).await.expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    app.delete("/v1/me/erasure-request", &me)
        .await
        .expect_problem(404, "/problems/not-found");
    // Past the first request's due time nothing happened: it was cancelled.
    app.clock.advance(chrono::Duration::days(8));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let still = resident::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(still.erased_at.is_none());
    assert_eq!(still.phone, world.a.resident_phone);

    // Asked again, and this time left to run out.
    app.post("/v1/me/erasure-request", Some(&me), json!({}))
        .await
        .expect(202);
    app.get("/v1/me/erasure-request", &me).await.expect(200);
    app.clock
        .advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    app.wait_for("the erasure", 15, || async {
        resident::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .unwrap()
            .is_some_and(|r| r.erased_at.is_some())
    })
    .await;

    let row = resident::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name, courtyard_store::privacy::ERASED_NAME);
    assert!(!row.phone.contains(&world.a.resident_phone));
    assert!(row.birthday.is_none() && row.wechat_openid.is_none());
    // No device can receive a push, no session can be refreshed.
    let devices = device::Entity::find()
        .filter(device::Column::OwnerId.eq(id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(devices, 0);
    let sessions = refresh_token::Entity::find()
        .filter(refresh_token::Column::SubjectId.eq(id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    app.refresh(&world.a.resident_tokens.refresh)
        .await
        .expect_problem(401, "/problems/unauthorized");
    // The ticket and the payment stay for the company's records, without the person.
    let kept = ticket::Entity::find_by_id(world.a.ticket)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the ticket is kept");
    assert_eq!(kept.resident_id, None);
    let paid = payment::Entity::find_by_id(world.a.payment)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the payment is kept");
    assert_ne!(paid.payer_id, Some(id));
    let admin = world.admin.access.as_str();
    let seen = app
        .get(&format!("/v1/tickets/{}", world.a.ticket), admin)
        .await
        .expect(200);
    assert!(!seen.text.contains(&world.a.resident_phone));
    app.get_resident(admin, id)
        .await
        .expect_problem(404, "/problems/not-found");
    // The erasure is in the trail, done by the system.
    let trail = app
        .get("/v1/audit-log?action=erase_resident", admin)
        .await
        .expect(200);
    assert_eq!(trail.body["items"][0]["actor_kind"], "system");
    assert_eq!(trail.body["items"][0]["resident_id"], json!(id));
    // A notice to the community now reaches nobody at the erased resident's address.
    let notice = app
        .post(
            &format!("/v1/communities/{}/notices", world.a.community),
            Some(admin),
            json!({ "category": "general", "title": "通知", "body": "小区活动" }),
        )
        .await
        .expect(201);
    app.wait_for_notice(notice.id(), admin).await;
    let reached = courtyard_domain::entities::message::Entity::find()
        .filter(courtyard_domain::entities::message::Column::NoticeId.eq(notice.id()))
        .filter(courtyard_domain::entities::message::Column::ResidentId.eq(id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(reached, 0);
}

#[tokio::test]
async fn an_admin_delete_goes_through_the_same_erasure() {
    let app = app().await;
    let world = World::build(&app).await;
    let id = world.a.resident;
    app.delete(&format!("/v1/residents/{id}"), &world.admin.access)
        .await
        .expect(204);
    let row = resident::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the row stays, anonymised");
    assert!(row.erased_at.is_some());
    assert_eq!(row.name, courtyard_store::privacy::ERASED_NAME);
    let devices = device::Entity::find()
        .filter(device::Column::OwnerId.eq(id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(devices, 0);
    assert_eq!(
        ticket::Entity::find_by_id(world.a.ticket)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .resident_id,
        None
    );
    // Deleting the row itself is refused while anything points at it... and nothing does
    // once erased but the records kept; the database refuses a delete that would leave a
    // ticket or device pointing at nobody.
    let other = world.b.resident;
    let refused = resident::Entity::delete_by_id(other).exec(&app.db).await;
    assert!(refused.is_err(), "a referenced resident was deleted");
    app.delete(&format!("/v1/residents/{id}"), &world.admin.access)
        .await
        .expect_problem(404, "/problems/not-found");
}

#[tokio::test]
async fn consents_are_recorded_and_withdrawing_sms_takes_it_out_of_every_category() {
    use courtyard_domain::entities::resident_consent;
    let app = app().await;
    let world = World::build(&app).await;
    let phone = world.a.resident_phone.clone();
    let login = async |version: &str| {
        app.send_code(&phone).await.expect(202);
        let code = app.codes.last_for(&phone).expect("a code");
        app.post(
            "/v1/auth/sms-login",
            None,
            json!({ "phone": phone, "code": code, "privacy_policy_version": version }),
        )
        .await
        .expect(200)
        .str("access_token")
    };
    let token = login("2026-12").await;
    let seen = app.get("/v1/me/consents", &token).await.expect(200);
    assert_eq!(seen.body["privacy_policy"]["version"], "2026-12");
    assert_eq!(seen.body["privacy_policy"]["granted"], true);
    assert!(seen.body.get("sms_notices").is_none());
    // The same version again is not a new acceptance; a new version is.
    app.clock.advance(chrono::Duration::minutes(2));
    login("2026-12").await;
    app.clock.advance(chrono::Duration::minutes(2));
    let token = login("2027-01").await;
    let versions: Vec<Option<String>> = resident_consent::Entity::find()
        .filter(resident_consent::Column::ResidentId.eq(world.a.resident))
        .filter(resident_consent::Column::Kind.eq("privacy_policy"))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.version)
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    let seen = app.get("/v1/me/consents", &token).await.expect(200);
    assert_eq!(seen.body["privacy_policy"]["version"], "2027-01");

    // Withdrawn: no category keeps SMS.
    let withdrawn = app
        .put(
            "/v1/me/consents/sms-notices",
            &token,
            json!({ "granted": false }),
        )
        .await
        .expect(200);
    assert_eq!(withdrawn.body["sms_notices"]["granted"], false);
    let prefs = app
        .get("/v1/me/notification-preferences", &token)
        .await
        .expect(200);
    let channels = prefs.body["channels"].as_object().expect("channels");
    assert!(channels.contains_key("outage"), "{}", prefs.text);
    for (category, wanted) in channels {
        assert!(
            !wanted.as_array().unwrap().iter().any(|c| c == "sms"),
            "{category} keeps SMS"
        );
    }
    // Given back: SMS returns to the categories.
    app.put(
        "/v1/me/consents/sms-notices",
        &token,
        json!({ "granted": true }),
    )
    .await
    .expect(200);
    let prefs = app
        .get("/v1/me/notification-preferences", &token)
        .await
        .expect(200);
    assert!(
        prefs.body["channels"]["outage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "sms")
    );
    app.put(
        "/v1/me/consents/sms-notices",
        world.token("admin"),
        json!({ "granted": true }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
}

#[tokio::test]
async fn a_wechat_send_uses_up_its_consent_and_the_next_is_suppressed_with_the_reason() {
    use courtyard_domain::entities::{delivery, wechat_consent};
    use sea_orm::{QueryOrder, sea_query::Expr};
    let app = app().await;
    let world = World::build(&app).await;
    resident::Entity::update_many()
        .col_expr(resident::Column::WechatOpenid, Expr::value("oResidentA"))
        .filter(resident::Column::Id.eq(world.a.resident))
        .exec(&app.db)
        .await
        .unwrap();
    app.post(
        "/v1/me/wechat-consents",
        Some(&world.a.resident_tokens.access),
        json!({ "category": "ticket_update", "accepted": 1 }),
    )
    .await
    .expect(200);
    let wechat = async || {
        delivery::Entity::find()
            .filter(delivery::Column::ResidentId.eq(world.a.resident))
            .filter(delivery::Column::Channel.eq("wechat"))
            .order_by_asc(delivery::Column::CreatedAt)
            .order_by_asc(delivery::Column::Id)
            .all(&app.db)
            .await
            .unwrap()
    };
    let before = wechat().await.len();
    let engineer = world.token("engineer");
    // The engineer accepts: the resident is told, by WeChat too, against their consent.
    app.post(
        &format!("/v1/tickets/{}/accept", world.a.ticket),
        Some(engineer),
        json!({}),
    )
    .await
    .expect(200);
    app.wait_for("the WeChat message", 10, || async {
        wechat()
            .await
            .get(before)
            .is_some_and(|d| d.status == "sent")
    })
    .await;
    let left = wechat_consent::Entity::find()
        .filter(wechat_consent::Column::ResidentId.eq(world.a.resident))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the consent row");
    assert_eq!(left.remaining, 0, "one consent, one message");
    assert!(
        app.sent
            .sent()
            .iter()
            .any(|s| s.channel == "wechat" && s.target == "oResidentA")
    );

    // The engineer arrives: told again, but no consent is left, so no WeChat goes.
    app.post(
        &format!("/v1/tickets/{}/arrive", world.a.ticket),
        Some(engineer),
        json!({}),
    )
    .await
    .expect(200);
    app.wait_for("the second WeChat delivery settled", 10, || async {
        wechat()
            .await
            .get(before + 1)
            .is_some_and(|d| d.status != "pending" && d.status != "sending")
    })
    .await;
    let second = &wechat().await[before + 1];
    assert_eq!(second.status, "suppressed");
    assert_eq!(
        second.last_error.as_deref(),
        Some("no unused WeChat consent")
    );
    let wechat_sends = app
        .sent
        .sent()
        .iter()
        .filter(|s| s.channel == "wechat" && s.target == "oResidentA")
        .count();
    assert_eq!(wechat_sends, 1);
}
