//! Repairs, complaints and callbacks end to end: a repair from report to a satisfied
//! callback through a rework loop, a paid repair, an SLA escalation with a moved clock, a
//! complaint's 4-hour butler answer, a missed 48-hour callback on the front desk's list,
//! and who may do what. Pushes are checked where they arrive: at the mock APNs server (which
//! verifies the provider JWT, headers and payload as Apple does), and at the mock FCM too in
//! `pushes_reach_the_mock_providers`.

use std::time::Duration;

use courtyard_domain::{
    Clock, ManualClock,
    settings::{ApnsSettings, FcmSettings},
};
use courtyard_tests::{
    TestApp,
    mocks::{
        apns::{self, ApnsRequest, MockApns},
        fcm::MockFcm,
    },
    spawn_app_with_providers, test_start,
    world::World,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

/// Push tokens of the staff who work on A's tickets.
const ENGINEER_TOKEN: &str = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1";
const BUTLER_TOKEN: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const SUPERVISOR_TOKEN: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";

struct Desk<'a> {
    app: &'a TestApp,
    apns: &'a MockApns,
    world: World,
}

impl<'a> Desk<'a> {
    async fn new(app: &'a TestApp, apns: &'a MockApns) -> Desk<'a> {
        let world = World::build(app).await;
        for (role, token) in [
            ("engineer", ENGINEER_TOKEN),
            ("butler", BUTLER_TOKEN),
            ("supervisor", SUPERVISOR_TOKEN),
        ] {
            app.register_device(world.token(role), &json!({ "platform": "ios", "provider": "apns", "token": token, "topic": "com.courtyard.staff" }))
            .await
            .expect(201);
        }
        Desk { app, apns, world }
    }

    fn resident(&self) -> &str {
        &self.world.resident.access
    }

    /// The push token of A's resident (registered by the world).
    fn resident_token(&self) -> String {
        format!("{:0>64}", &self.world.a.resident_phone[3..])
    }

    async fn report(&self, urgency: &str) -> Uuid {
        self.app
            .create_repair(
                self.resident(),
                &json!({
                    "household_id": self.world.a.household,
                    "category": "water",
                    "urgency": urgency,
                    "description": "卫生间水管漏水",
                }),
                None,
            )
            .await
            .expect(201)
            .id()
    }

    async fn act(&self, ticket: Uuid, step: &str, role: &str, body: Value) -> Value {
        let token = if role == "resident" {
            self.resident()
        } else {
            self.world.token(role)
        };
        self.app
            .post(&format!("/v1/tickets/{ticket}/{step}"), Some(token), body)
            .await
            .expect(200)
            .body
    }

    async fn ticket(&self, ticket: Uuid) -> Value {
        self.app
            .get_ticket(self.world.token("admin"), ticket)
            .await
            .expect(200)
            .body
    }

    /// The pushes the mock APNs accepted for `token` about `ticket` whose data names
    /// `action`.
    fn accepted(&self, token: &str, ticket: Uuid, action: &str) -> Vec<ApnsRequest> {
        self.apns
            .requests()
            .into_iter()
            .filter(|r| {
                r.status == 200
                    && r.device_token == token
                    && r.body["ticket_id"] == json!(ticket.to_string())
                    && r.body["action"] == action
            })
            .collect()
    }

    /// Waits for a push about `ticket` to `token` whose data names `action`.
    async fn push(&self, token: &str, ticket: Uuid, action: &str) -> ApnsRequest {
        self.app
            .wait_for(
                &format!("a {action} push to {}", &token[..8]),
                10,
                || async { !self.accepted(token, ticket, action).is_empty() },
            )
            .await;
        self.accepted(token, ticket, action).remove(0)
    }

    fn pushes(&self, token: &str, ticket: Uuid, action: &str) -> usize {
        self.accepted(token, ticket, action).len()
    }

    /// Waits until the ticket's history has `action`.
    async fn event(&self, ticket: Uuid, action: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.ticket(ticket).await;
            if let Some(e) = t["events"]
                .as_array()
                .and_then(|e| e.iter().find(|e| e["action"] == action))
            {
                return e.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {action} event: {}",
                t["events"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn actions(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

async fn app() -> (TestApp, MockApns) {
    courtyard_tests::spawn_app_with_apns().await
}

#[tokio::test]
async fn a_repair_goes_from_report_to_a_satisfied_callback_through_rework() {
    let (app, apns) = app().await;
    let desk = Desk::new(&app, &apns).await;
    let engineer = desk.world.staff["engineer"].0;
    let butler = desk.world.staff["butler"].0;

    // Reported with an Idempotency-Key: a retry returns the same ticket.
    let body = json!({
        "household_id": desk.world.a.household,
        "category": "water",
        "urgency": "ordinary",
        "description": "卫生间水管漏水",
    });
    let first = app
        .request_with_headers(
            reqwest::Method::POST,
            "/v1/repairs",
            Some(desk.resident()),
            &body,
            &[("Idempotency-Key", "repair-1")],
        )
        .await
        .expect(201);
    let ticket = first.id();
    assert_eq!(first.body["state"], "submitted");
    assert_eq!(first.body["butler_id"], json!(butler));
    assert!(first.body["next_due_at"].is_string(), "{}", first.text);
    let again = app
        .request_with_headers(
            reqwest::Method::POST,
            "/v1/repairs",
            Some(desk.resident()),
            &body,
            &[("Idempotency-Key", "repair-1")],
        )
        .await
        .expect(201);
    assert_eq!(again.id(), ticket);
    app.request_with_headers(
        reqwest::Method::POST,
        "/v1/repairs",
        Some(desk.resident()),
        &json!({ "household_id": desk.world.a.household, "category": "gas", "urgency": "ordinary", "description": "x" }),
        &[("Idempotency-Key", "repair-1")],
    )
    .await
    .expect_problem(422, "/problems/validation");
    let mine = app.list_tickets(desk.resident(), &[]).await.expect(200);
    let mine: Vec<&Value> = mine.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["id"] == json!(ticket))
        .collect();
    assert_eq!(mine.len(), 1, "one ticket, however often it was retried");

    // The front desk dispatches by the rules: water goes to engineering, to its engineer.
    let dispatched = desk.act(ticket, "dispatch", "front_desk", json!({})).await;
    assert_eq!(dispatched["ticket"]["state"], "dispatched");
    assert_eq!(dispatched["ticket"]["department"], "engineering");
    assert_eq!(dispatched["ticket"]["assignee_id"], json!(engineer));
    // The assignee and the butler are told at the same moment; the resident sees it.
    let order = desk.push(ENGINEER_TOKEN, ticket, "dispatched").await;
    assert_eq!(order.header("apns-topic"), Some("com.courtyard.staff"));
    assert!(order.provider_token().is_some(), "a signed provider JWT");
    desk.push(BUTLER_TOKEN, ticket, "dispatched").await;
    desk.push(&desk.resident_token(), ticket, "dispatched")
        .await;
    // In the engineer's staff inbox, which they mark read.
    let inbox = app
        .list_staff_messages(desk.world.token("engineer"), &[("unread", "true")])
        .await
        .expect(200);
    let order_message = inbox.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["ticket_id"] == json!(ticket))
        .expect("the work order in the inbox")
        .clone();
    let marked = app
        .mark_staff_messages_read(
            desk.world.token("engineer"),
            &json!({ "ids": [order_message["id"]] }),
        )
        .await
        .expect(200);
    assert_eq!(marked.body["marked"], 1);
    // Another's message id is ignored; residents have no staff inbox.
    let marked = app
        .mark_staff_messages_read(
            desk.world.token("butler"),
            &json!({ "ids": [order_message["id"]] }),
        )
        .await
        .expect(200);
    assert_eq!(marked.body["marked"], 0);
    app.list_staff_messages(desk.resident(), &[])
        .await
        .expect_problem(403, "/problems/forbidden");
    // On the engineer's task list.
    let tasks = app
        .list_my_tasks(desk.world.token("engineer"), &[])
        .await
        .expect(200);
    assert!(
        tasks.body["items"]
            .as_array()
            .expect("tasks")
            .iter()
            .any(|t| t["id"] == json!(ticket)),
        "{}",
        tasks.text
    );

    // Wrong person, wrong state.
    app.complete_ticket(desk.resident(), ticket, &json!({}))
        .await
        .expect_problem(403, "/problems/forbidden");
    let wrong = app
        .arrive_ticket(desk.world.token("engineer"), ticket)
        .await
        .expect_problem(409, "/problems/wrong-state");
    assert!(wrong.str("detail").contains("dispatched"), "{}", wrong.text);
    app.rate_ticket(
        desk.world.token("engineer"),
        ticket,
        &json!({ "stars": 5, "satisfied": true }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");

    // The work, and an unsatisfied rating: back to the same department.
    desk.act(ticket, "accept", "engineer", json!({})).await;
    desk.act(ticket, "arrive", "engineer", json!({})).await;
    desk.push(&desk.resident_token(), ticket, "arrived").await;
    desk.act(
        ticket,
        "complete",
        "engineer",
        json!({ "note": "更换了三通" }),
    )
    .await;
    desk.push(&desk.resident_token(), ticket, "completed").await;
    let reopened = desk
        .act(
            ticket,
            "rating",
            "resident",
            json!({ "stars": 2, "satisfied": false, "comment": "还在滴水" }),
        )
        .await;
    assert_eq!(reopened["ticket"]["state"], "reopened");
    assert_eq!(reopened["ticket"]["rework_count"], 1);
    desk.push(ENGINEER_TOKEN, ticket, "reopened").await;

    // Rework: dispatched again to whoever did the work, then a satisfied rating.
    let again = desk.act(ticket, "dispatch", "front_desk", json!({})).await;
    assert_eq!(again["ticket"]["assignee_id"], json!(engineer));
    desk.act(ticket, "accept", "engineer", json!({})).await;
    desk.act(ticket, "arrive", "engineer", json!({})).await;
    desk.act(ticket, "complete", "engineer", json!({})).await;
    let closed = desk
        .act(
            ticket,
            "rating",
            "resident",
            json!({ "stars": 5, "satisfied": true, "comment": "修好了" }),
        )
        .await;
    assert_eq!(closed["ticket"]["state"], "closed");
    assert_eq!(closed["ticket"]["rating"]["stars"], 5);
    assert_eq!(closed["ticket"]["rating"]["via"], "app");
    assert_eq!(
        actions(&closed),
        [
            "reported",
            "dispatched",
            "accepted",
            "arrived",
            "completed",
            "rated",
            "reopened",
            "dispatched",
            "accepted",
            "arrived",
            "completed",
            "rated",
            "closed",
        ]
    );
    // Two rounds of clocks: the first round's resolve clock and callback were met too.
    let rounds: Vec<i64> = closed["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .map(|c| c["round"].as_i64().expect("round"))
        .collect();
    assert!(rounds.contains(&0) && rounds.contains(&1), "{rounds:?}");
    assert!(
        closed["clocks"]
            .as_array()
            .expect("clocks")
            .iter()
            .all(|c| c["met_at"].is_string()),
        "{}",
        closed["clocks"]
    );
    app.rate_ticket(
        desk.resident(),
        ticket,
        &json!({ "stars": 1, "satisfied": false }),
    )
    .await
    .expect_problem(409, "/problems/wrong-state");

    // KPIs and the export see it.
    let kpis = app
        .ticket_kpis(desk.world.token("supervisor"), desk.world.a.community, &[])
        .await
        .expect(200);
    assert_eq!(kpis.body["completed"], 2, "{}", kpis.text);
    assert_eq!(kpis.body["ratings"], 2);
    assert_eq!(kpis.body["satisfied"], 1);
    assert_eq!(kpis.body["reworks"], 1);
    assert_eq!(kpis.body["callbacks_done"], 2);
    assert_eq!(kpis.body["satisfaction_rate"], 0.5);
    assert_eq!(kpis.body["meets_satisfaction_target"], false);
    let csv = app
        .export_tickets(desk.world.token("admin"), desk.world.a.community, &[])
        .await
        .expect(200);
    let line = csv
        .text
        .lines()
        .find(|l| l.starts_with(&ticket.to_string()))
        .expect("the ticket's line");
    assert!(line.contains(",closed,"), "{line}");
    assert!(csv.text.starts_with('\u{feff}'), "a BOM for spreadsheets");
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_paid_repair_completes_only_after_the_price_is_accepted() {
    let (app, apns) = app().await;
    let desk = Desk::new(&app, &apns).await;
    let ticket = desk.report("simple").await;
    desk.act(ticket, "dispatch", "front_desk", json!({})).await;
    desk.act(ticket, "accept", "engineer", json!({})).await;
    desk.act(ticket, "arrive", "engineer", json!({})).await;
    app.price_ticket(desk.world.token("engineer"), ticket, &json!({ "fen": 0 }))
        .await
        .expect_problem(422, "/problems/validation");
    let priced = desk
        .act(
            ticket,
            "price",
            "engineer",
            json!({ "fen": 8000, "note": "更换龙头（含配件）" }),
        )
        .await;
    assert_eq!(priced["ticket"]["price"]["status"], "proposed");
    let push = desk.push(&desk.resident_token(), ticket, "priced").await;
    assert!(
        push.body["aps"]["alert"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("80.00")),
        "the amount in yuan: {}",
        push.body
    );
    app.complete_ticket(desk.world.token("engineer"), ticket, &json!({}))
        .await
        .expect_problem(409, "/problems/price-not-accepted");
    // Only the resident answers the price.
    app.answer_price(
        desk.world.token("engineer"),
        ticket,
        &json!({ "accept": true }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    let accepted = desk
        .act(
            ticket,
            "price-answer",
            "resident",
            json!({ "accept": true }),
        )
        .await;
    assert_eq!(accepted["ticket"]["price"]["status"], "accepted");
    assert_eq!(accepted["ticket"]["price"]["fen"], 8000);
    // The accepted price waits for the household's next bill as a one-off charge.
    let charges = app
        .list_charges(desk.world.token("front_desk"), desk.world.a.household, &[])
        .await
        .expect(200)
        .body;
    let repair_charges: Vec<&Value> = charges["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|c| c["ticket_id"] == json!(ticket))
        .collect();
    assert_eq!(repair_charges.len(), 1, "{charges}");
    assert_eq!(repair_charges[0]["amount_fen"], 8000);
    assert_eq!(repair_charges[0]["bill_id"], Value::Null);
    desk.push(ENGINEER_TOKEN, ticket, "price_accepted").await;
    let done = desk.act(ticket, "complete", "engineer", json!({})).await;
    assert_eq!(done["ticket"]["state"], "completed");
    // An accepted price is not changed afterwards.
    app.answer_price(desk.resident(), ticket, &json!({ "accept": false }))
        .await
        .expect_problem(409, "/problems/wrong-state");
}

#[tokio::test]
async fn an_emergency_repair_warns_then_escalates_to_the_supervisor() {
    let (app, apns) = app().await;
    let desk = Desk::new(&app, &apns).await;
    let ticket = desk.report("emergency").await;
    desk.act(ticket, "dispatch", "front_desk", json!({})).await;
    desk.act(ticket, "accept", "engineer", json!({})).await;
    let detail = desk.ticket(ticket).await;
    let arrive = detail["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "arrive")
        .expect("an on-site clock")
        .clone();
    let reported: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(detail["ticket"]["created_at"].clone()).expect("created_at");
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(arrive["due_at"].clone()).expect("due_at");
    assert_eq!(due - reported, chrono::Duration::minutes(15));

    // 12 of 15 minutes gone: the assignee and the butler are warned, nobody escalated.
    app.clock.advance(chrono::Duration::minutes(12));
    desk.event(ticket, "sla_warned").await;
    desk.push(ENGINEER_TOKEN, ticket, "sla_warned").await;
    desk.push(BUTLER_TOKEN, ticket, "sla_warned").await;
    assert_eq!(desk.pushes(SUPERVISOR_TOKEN, ticket, "sla_breached"), 0);
    assert_eq!(desk.ticket(ticket).await["ticket"]["breached"], false);

    // 15 minutes: breached, recorded on the ticket, escalated to the supervisor.
    app.clock.advance(chrono::Duration::minutes(4));
    let breach = desk.event(ticket, "sla_breached").await;
    assert_eq!(breach["actor_kind"], "system");
    let escalation = desk.push(SUPERVISOR_TOKEN, ticket, "sla_breached").await;
    assert!(
        escalation.body["aps"]["alert"]["body"]
            .as_str()
            .is_some_and(|b| !b.is_empty())
    );
    let detail = desk.ticket(ticket).await;
    assert_eq!(detail["ticket"]["breached"], true);
    let breached = app
        .list_tickets(
            desk.world.token("supervisor"),
            &[
                ("community_id", &desk.world.a.community.to_string()),
                ("breached", "true"),
            ],
        )
        .await
        .expect(200);
    assert!(
        breached.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["id"] == json!(ticket))
    );
    // Warned and escalated once, however long the watch keeps running.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(desk.pushes(SUPERVISOR_TOKEN, ticket, "sla_breached"), 1);
    assert_eq!(desk.pushes(ENGINEER_TOKEN, ticket, "sla_warned"), 1);
    // Arriving late stops the clock; the breach stays on record.
    let arrived = desk.act(ticket, "arrive", "engineer", json!({})).await;
    let clock = arrived["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "arrive")
        .expect("arrive")
        .clone();
    assert!(clock["met_at"].is_string() && clock["breached_at"].is_string());
    let kpis = app
        .ticket_kpis(desk.world.token("admin"), desk.world.a.community, &[])
        .await
        .expect(200);
    assert!(
        kpis.body["sla_clocks_due"].as_u64() >= Some(1),
        "{}",
        kpis.text
    );
    assert_eq!(kpis.body["sla_clocks_met"], 0);
}

#[tokio::test]
async fn a_complaint_goes_to_the_butler_who_answers_within_four_hours() {
    let (app, apns) = app().await;
    let desk = Desk::new(&app, &apns).await;
    let butler = desk.world.staff["butler"].0;
    let complain = |category: &'static str| {
        let desk = &desk;
        async move {
            desk.app
                .create_complaint(
                    desk.resident(),
                    &json!({
                        "household_id": desk.world.a.household,
                        "category": category,
                        "description": "楼上深夜噪音",
                    }),
                    None,
                )
                .await
                .expect(201)
        }
    };
    let answered = complain("neighbour_behaviour").await;
    let ticket = answered.id();
    // Routed to the household's butler at once.
    assert_eq!(answered.body["state"], "dispatched");
    assert_eq!(answered.body["assignee_id"], json!(butler));
    desk.push(BUTLER_TOKEN, ticket, "dispatched").await;
    let detail = desk.ticket(ticket).await;
    let clocks: Vec<&str> = detail["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .map(|c| c["clock"].as_str().expect("clock"))
        .collect();
    assert!(
        clocks.contains(&"answer") && clocks.contains(&"arrive") && clocks.contains(&"resolve"),
        "neighbour complaints: answer in 4 h, at the door in 15 min, reply: {clocks:?}"
    );
    // Only the butler answers, with what was found.
    app.answer_complaint(
        desk.world.token("engineer"),
        ticket,
        &json!({ "note": "x" }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    desk.act(ticket, "accept", "butler", json!({})).await;
    desk.act(ticket, "arrive", "butler", json!({})).await;
    app.clock.advance(chrono::Duration::hours(1));
    let done = desk
        .act(
            ticket,
            "answer",
            "butler",
            json!({ "note": "已上门提醒，住户承诺22点后停止施工" }),
        )
        .await;
    assert!(done["ticket"]["answered_at"].is_string());
    let answer = done["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "answer")
        .expect("answer clock")
        .clone();
    assert!(answer["met_at"].is_string() && answer["breached_at"].is_null());

    // A complaint the butler leaves unanswered escalates at 4 hours.
    let ignored = complain("environment").await.id();
    app.clock.advance(chrono::Duration::hours(4));
    let breach = desk.event(ignored, "sla_breached").await;
    assert!(breach["from_state"].is_string());
    desk.push(SUPERVISOR_TOKEN, ignored, "sla_breached").await;
    let detail = desk.ticket(ignored).await;
    let answer = detail["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "answer")
        .expect("answer clock")
        .clone();
    assert!(answer["breached_at"].is_string(), "{answer}");
    // The answered complaint did not escalate.
    assert_eq!(desk.pushes(SUPERVISOR_TOKEN, ticket, "sla_breached"), 0);
    // The reply closes the loop; the resident rates it.
    desk.act(
        ticket,
        "complete",
        "butler",
        json!({ "note": "已协调解决" }),
    )
    .await;
    let closed = desk
        .act(
            ticket,
            "rating",
            "resident",
            json!({ "stars": 4, "satisfied": true }),
        )
        .await;
    assert_eq!(closed["ticket"]["state"], "closed");
}

#[tokio::test]
async fn an_unrated_repair_lands_on_the_front_desk_callback_list_after_48_hours() {
    let (app, apns) = app().await;
    let desk = Desk::new(&app, &apns).await;
    let ticket = desk.report("ordinary").await;
    desk.act(ticket, "dispatch", "front_desk", json!({})).await;
    desk.act(ticket, "accept", "engineer", json!({})).await;
    desk.act(ticket, "arrive", "engineer", json!({})).await;
    desk.act(ticket, "complete", "engineer", json!({})).await;

    // 47 hours: still the resident's to rate.
    app.clock.advance(chrono::Duration::hours(47));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!callbacks(&desk).await.contains(&ticket));
    assert_eq!(desk.ticket(ticket).await["ticket"]["state"], "completed");

    // 48 hours: on the front desk's list; never filled in automatically.
    app.clock
        .advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    desk.event(ticket, "callback_due").await;
    assert!(callbacks(&desk).await.contains(&ticket));
    assert_eq!(
        desk.ticket(ticket).await["ticket"]["state"],
        "awaiting_callback"
    );
    assert!(desk.ticket(ticket).await["ticket"]["rating"].is_null());

    // Not reached: recorded, still on the list.
    desk.act(
        ticket,
        "callback",
        "front_desk",
        json!({ "reached": false, "comment": "无人接听" }),
    )
    .await;
    assert!(callbacks(&desk).await.contains(&ticket));
    // Reached without a rating: refused.
    app.record_callback(
        desk.world.token("front_desk"),
        ticket,
        &json!({ "reached": true }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    let closed = desk
        .act(
            ticket,
            "callback",
            "front_desk",
            json!({ "reached": true, "stars": 4, "satisfied": true, "comment": "满意" }),
        )
        .await;
    assert_eq!(closed["ticket"]["state"], "closed");
    assert_eq!(closed["ticket"]["rating"]["via"], "phone");
    assert!(actions(&closed).contains(&"callback_unreached".to_owned()));
    assert!(!callbacks(&desk).await.contains(&ticket));
}

/// The ids on A's front-desk callback list.
async fn callbacks(desk: &Desk<'_>) -> Vec<Uuid> {
    desk.app
        .list_callbacks(desk.world.token("front_desk"), desk.world.a.community, &[])
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["id"].as_str().expect("id").parse::<Uuid>().expect("uuid"))
        .collect()
}

#[tokio::test]
async fn reports_are_checked_and_scoped() {
    let (app, apns) = app().await;
    let desk = Desk::new(&app, &apns).await;
    // Bad input: clear 422s naming the field.
    for (body, field) in [
        (
            json!({ "household_id": desk.world.a.household, "category": "roof", "urgency": "ordinary", "description": "x" }),
            "category",
        ),
        (
            json!({ "household_id": desk.world.a.household, "category": "water", "urgency": "soon", "description": "x" }),
            "urgency",
        ),
        (
            json!({ "community_id": desk.world.a.community, "category": "public_facility", "urgency": "ordinary", "description": "电梯异响" }),
            "location",
        ),
    ] {
        let reply = app
            .create_repair(desk.resident(), &body, None)
            .await
            .expect_problem(422, "/problems/validation");
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.text);
    }
    // Another community's household is not found.
    app.create_repair(desk.resident(), &json!({ "household_id": desk.world.b.household, "category": "water", "urgency": "ordinary", "description": "x" }), None)
    .await
    .expect_problem(404, "/problems/not-found");
    // A public-area repair by a resident of the community; three working days.
    let public = app
        .create_repair(desk.resident(), &json!({ "community_id": desk.world.a.community, "location": "1栋大堂", "category": "public_facility", "urgency": "ordinary", "description": "灯不亮" }), None)
        .await
        .expect(201);
    assert!(public.body["household_id"].is_null());
    // The front desk registers a phone report for the resident.
    let phoned = app
        .create_repair(desk.world.token("front_desk"), &json!({ "household_id": desk.world.a.household, "resident_id": desk.world.a.resident, "source": "phone", "category": "electricity", "urgency": "simple", "description": "跳闸" }), None)
        .await
        .expect(201);
    assert_eq!(phoned.body["source"], "phone");
    // The resident sees it; a cleaner does not get to read an engineer's order.
    let mine = app.list_tickets(desk.resident(), &[]).await.expect(200);
    assert!(
        mine.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["id"] == json!(phoned.id()))
    );
    app.get_ticket(desk.world.token("cleaner"), phoned.id())
        .await
        .expect_problem(403, "/problems/forbidden");
    // Another company's resident: not found.
    app.get_ticket(&desk.world.c.resident_tokens.access, phoned.id())
        .await
        .expect_problem(404, "/problems/not-found");
    // The resident cancels before work starts; afterwards nothing moves it.
    let cancelled = desk
        .act(
            phoned.id(),
            "cancel",
            "resident",
            json!({ "note": "自己修好了" }),
        )
        .await;
    assert_eq!(cancelled["ticket"]["state"], "cancelled");
    let refused = app
        .dispatch_ticket(desk.world.token("front_desk"), phoned.id(), &json!({}))
        .await
        .expect_problem(409, "/problems/wrong-state");
    assert!(
        refused.str("detail").contains("cancelled"),
        "{}",
        refused.text
    );
    // The policy: admins change it, bad spans are refused.
    let mut policy = app
        .get_ticket_policy(desk.world.token("admin"), desk.world.a.community)
        .await
        .expect(200)
        .body;
    assert_eq!(policy["emergency_arrive"]["minutes"], 15);
    policy["emergency_arrive"] = json!({ "minutes": 10 });
    app.put_ticket_policy(
        desk.world.token("admin"),
        desk.world.a.community,
        &policy.clone(),
    )
    .await
    .expect(200);
    policy["simple_fix"] = json!({ "minutes": 30, "working_days": 1.0 });
    app.put_ticket_policy(desk.world.token("admin"), desk.world.a.community, &policy)
        .await
        .expect_problem(422, "/problems/validation");
    let emergency = desk.report("emergency").await;
    let due = desk.ticket(emergency).await["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "arrive")
        .expect("arrive")["due_at"]
        .clone();
    let due: chrono::DateTime<chrono::Utc> = serde_json::from_value(due).expect("due");
    assert_eq!(due - app.clock.now(), chrono::Duration::minutes(10));
}

#[tokio::test]
async fn pushes_reach_the_mock_providers() {
    let clock = ManualClock::new(test_start());
    let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(clock.clone());
    let apns = MockApns::start_with_clock(shared.clone()).await;
    let fcm = MockFcm::start_with_clock(shared).await;
    let (apns_url, fcm_url, fcm_account) =
        (apns.base_url(), fcm.base_url(), fcm.service_account_json());
    let app = spawn_app_with_providers(clock, |s| {
        s.notifications.apns = Some(ApnsSettings {
            key_id: apns::KEY_ID.into(),
            team_id: apns::TEAM_ID.into(),
            private_key_pem: SecretString::from(MockApns::private_key_pem()),
            base_url: apns_url.clone(),
            sandbox_base_url: apns_url,
        });
        s.notifications.fcm = Some(FcmSettings {
            service_account_json: SecretString::from(fcm_account),
            base_url: fcm_url,
        });
        s.auth.access_token_ttl_secs = 30 * 24 * 3600;
    })
    .await;
    let world = World::build(&app).await;
    // The engineer's phone is an Android on FCM, the butler's an iPhone on APNs.
    app.register_device(
        world.token("engineer"),
        &json!({ "platform": "android", "provider": "fcm", "token": "fcm-engineer-token" }),
    )
    .await
    .expect(201);
    app.register_device(world.token("butler"), &json!({ "platform": "ios", "provider": "apns", "token": BUTLER_TOKEN, "topic": "com.courtyard.staff" }))
    .await
    .expect(201);
    let ticket = app
        .create_repair(&world.resident.access, &json!({ "household_id": world.a.household, "category": "water", "urgency": "emergency", "description": "水管爆裂" }), None)
        .await
        .expect(201)
        .id();
    app.dispatch_ticket(world.token("front_desk"), ticket, &json!({}))
        .await
        .expect(200);
    let resident_token = format!("{:0>64}", &world.a.resident_phone[3..]);
    let about = |data: &Value| data.to_string().contains(&ticket.to_string());
    app.wait_for("the three pushes", 15, || async {
        let apns_tokens: Vec<String> = apns
            .requests()
            .into_iter()
            .filter(|r| r.status == 200 && about(&r.body))
            .map(|r| r.device_token)
            .collect();
        let fcm_done = fcm.requests().iter().any(|r| {
            r.status == 200 && r.body.to_string().contains("fcm-engineer-token") && about(&r.body)
        });
        fcm_done
            && apns_tokens.contains(&BUTLER_TOKEN.to_owned())
            && apns_tokens.contains(&resident_token)
    })
    .await;
    let butler = apns
        .requests()
        .into_iter()
        .find(|r| r.device_token == BUTLER_TOKEN && about(&r.body))
        .expect("the butler's push");
    assert_eq!(butler.header("apns-topic"), Some("com.courtyard.staff"));
    assert_eq!(butler.header("apns-push-type"), Some("alert"));
    assert!(
        butler.body["aps"]["alert"]["body"].is_string(),
        "{}",
        butler.body
    );
}
