//! The workers' side of tickets, driven from rows written straight to the database (as the
//! API writes them): a ticket event tells the resident, the assignee, the butler and, on a
//! breach, the supervisors; the SLA watch warns, escalates and opens callbacks on the
//! injected clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{delivery, outbox_entry, staff_message, ticket, ticket_clock, ticket_event},
    new_id,
};
use courtyard_tests::{
    ClockExt, TestApp, backend, redis_url, spawn_app_with,
    world::{STAFF_PASSWORD, World},
};
use courtyard_workers::{deliver::SendJob, jobs::relay::TICKET_NOTIFY};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// The app, over Redis Streams (and the Redis scheduler lease) when on PostgreSQL.
async fn app() -> TestApp {
    spawn_app_with(|s| {
        if backend() == "postgres" {
            s.redis.url = Some(secrecy::SecretString::from(redis_url()));
        }
    })
    .await
}

const ENGINEER_TOKEN: &str = "fcm-engineer-of-a-0001";
const BUTLER_TOKEN: &str = "fcm-butler-of-a-0001";
const SUPERVISOR_TOKEN: &str = "fcm-supervisor-of-a-0001";
const HOUSE_BUTLER_TOKEN: &str = "fcm-house-butler-0001";

/// Registers a staff member's Android phone.
async fn staff_phone(app: &TestApp, access: &str, token: &str, locale: &str) {
    app.register_device(
        access,
        &json!({ "platform": "android", "provider": "fcm", "token": token, "locale": locale }),
    )
    .await
    .expect(201);
}

/// The world, with phones for community A's engineer, its households' butler and its
/// supervisor (who reads English).
async fn world_with_staff_phones(app: &TestApp) -> World {
    let world = World::build(app).await;
    staff_phone(app, world.token("engineer"), ENGINEER_TOKEN, "zh-CN").await;
    let butler = app.login_staff("place-butler-a", STAFF_PASSWORD).await;
    staff_phone(app, &butler.access, BUTLER_TOKEN, "zh-CN").await;
    staff_phone(app, world.token("supervisor"), SUPERVISOR_TOKEN, "en").await;
    world
}

/// A water repair for community A's household, assigned to its engineer.
async fn repair(app: &TestApp, world: &World, state: &str, rework: i32) -> Uuid {
    let now = app.clock.now_utc();
    let id = new_id();
    ticket::ActiveModel {
        id: Set(id),
        company_id: Set(company_of(app, world).await),
        community_id: Set(world.a.community),
        kind: Set("repair".into()),
        household_id: Set(Some(world.a.household)),
        resident_id: Set(Some(world.a.resident)),
        registered_by: Set(None),
        source: Set("app".into()),
        category: Set("water".into()),
        urgency: Set(Some("emergency".into())),
        severity: Set(None),
        location: Set(None),
        description: Set("厨房水管漏水".into()),
        preferred_from: Set(None),
        preferred_to: Set(None),
        state: Set(state.into()),
        department: Set(Some("engineering".into())),
        assignee_id: Set(Some(world.staff["engineer"].0)),
        butler_id: Set(Some(world.a.butler)),
        price_fen: Set(None),
        price_status: Set(None),
        price_note: Set(None),
        rework_count: Set(rework),
        rating: Set(None),
        satisfied: Set(None),
        rating_comment: Set(None),
        rated_via: Set(None),
        rated_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        dispatched_at: Set(Some(now)),
        answered_at: Set(None),
        arrived_at: Set(None),
        completed_at: Set(None),
        closed_at: Set(None),
        cancelled_at: Set(None),
        next_due_at: Set(None),
        breached: Set(false),
    }
    .insert(&app.db)
    .await
    .expect("ticket");
    id
}

async fn company_of(app: &TestApp, world: &World) -> Uuid {
    courtyard_domain::entities::community::Entity::find_by_id(world.a.community)
        .one(&app.db)
        .await
        .expect("community")
        .expect("community exists")
        .company_id
}

/// Writes an event and its outbox row, as the API does: the event names who holds the
/// ticket as it leaves it.
async fn event(app: &TestApp, ticket_id: Uuid, action: &str, actor: Option<Uuid>) -> Uuid {
    let now = app.clock.now_utc();
    let id = new_id();
    let held = ticket::Entity::find_by_id(ticket_id)
        .one(&app.db)
        .await
        .expect("ticket")
        .expect("the ticket exists");
    ticket_event::ActiveModel {
        id: Set(id),
        ticket_id: Set(ticket_id),
        actor_kind: Set("staff".into()),
        actor_id: Set(actor),
        action: Set(action.into()),
        from_state: Set(Some("submitted".into())),
        to_state: Set(Some("dispatched".into())),
        note: Set(None),
        data: Set(None),
        created_at: Set(now),
        assignee_id: Set(held.assignee_id),
        butler_id: Set(held.butler_id),
    }
    .insert(&app.db)
    .await
    .expect("event");
    notify(app, id).await;
    id
}

async fn notify(app: &TestApp, event_id: Uuid) {
    let now = app.clock.now_utc();
    outbox_entry::ActiveModel {
        id: Set(new_id()),
        kind: Set(TICKET_NOTIFY.into()),
        payload: Set(json!({ "event_id": event_id })),
        available_at: Set(now),
        created_at: Set(now),
        relayed_at: Set(None),
    }
    .insert(&app.db)
    .await
    .expect("outbox");
}

async fn clock(
    app: &TestApp,
    ticket_id: Uuid,
    kind: &str,
    round: i32,
    warn_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
) {
    ticket_clock::ActiveModel {
        ticket_id: Set(ticket_id),
        clock: Set(kind.into()),
        round: Set(round),
        started_at: Set(app.clock.now_utc()),
        warn_at: Set(warn_at),
        due_at: Set(due_at),
        met_at: Set(None),
        warned_at: Set(None),
        breached_at: Set(None),
    }
    .insert(&app.db)
    .await
    .expect("clock");
}

async fn events(app: &TestApp, ticket_id: Uuid, action: &str) -> Vec<ticket_event::Model> {
    ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(ticket_id))
        .filter(ticket_event::Column::Action.eq(action))
        .all(&app.db)
        .await
        .expect("events")
}

/// Titles of the pushes to `target` about `ticket` (the world has tickets of its own).
fn titles(app: &TestApp, target: &str, ticket: Uuid) -> Vec<String> {
    sends(app, target, ticket)
        .into_iter()
        .map(|s| s.title)
        .collect()
}

fn sends(app: &TestApp, target: &str, ticket: Uuid) -> Vec<SendJob> {
    app.sent
        .sends_to(target)
        .into_iter()
        .filter(|s| s.data.get("ticket_id") == Some(&ticket.to_string()))
        .collect()
}

#[tokio::test]
async fn a_dispatch_tells_the_assignee_the_butler_and_the_resident() {
    let app = app().await;
    let world = world_with_staff_phones(&app).await;
    let resident_phone = format!("{:0>64}", &world.a.resident_phone[3..]);
    let ticket_id = repair(&app, &world, "dispatched", 0).await;
    let desk = world.staff["front_desk"].0;
    let event_id = event(&app, ticket_id, "dispatched", Some(desk)).await;

    app.wait_for("the dispatch pushes", 10, || async {
        !sends(&app, ENGINEER_TOKEN, ticket_id).is_empty()
            && !sends(&app, BUTLER_TOKEN, ticket_id).is_empty()
            && titles(&app, &resident_phone, ticket_id).contains(&"报修已派单".to_owned())
    })
    .await;
    let to_engineer = &sends(&app, ENGINEER_TOKEN, ticket_id)[0];
    assert_eq!(to_engineer.channel, "fcm");
    assert_eq!(to_engineer.title, "新工单");
    assert_eq!(
        to_engineer.body,
        "新工单：Community A1栋1单元101 水路报修，请及时接单。"
    );
    assert_eq!(to_engineer.name, "engineer of A");
    assert_eq!(to_engineer.data["role"], "assignee");
    assert_eq!(to_engineer.data["ticket_id"], ticket_id.to_string());
    let to_butler = &sends(&app, BUTLER_TOKEN, ticket_id)[0];
    assert_eq!(
        to_butler.body,
        "Community A1栋1单元101 水路报修已派单给 engineer of A，请知悉。"
    );
    let to_resident = sends(&app, &resident_phone, ticket_id)
        .into_iter()
        .find(|s| s.title == "报修已派单")
        .expect("resident push");
    assert_eq!(
        to_resident.body,
        "您的报修已派单，维修人员 engineer of A 将尽快联系您。"
    );
    assert_eq!(to_resident.category, "ticket_update");
    assert_eq!(to_resident.data["action"], "dispatched");
    assert_eq!(to_resident.data["state"], "dispatched");
    assert!(
        titles(&app, SUPERVISOR_TOKEN, ticket_id).is_empty(),
        "not a breach"
    );

    // The resident's inbox has it; each staff member has one message in theirs.
    let inbox = app
        .list_messages(&world.resident.access, &[])
        .await
        .expect(200);
    assert!(
        inbox.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["category"] == "ticket_update"),
        "{}",
        inbox.text
    );
    let staff_messages = staff_message::Entity::find()
        .filter(staff_message::Column::TicketId.eq(ticket_id))
        .all(&app.db)
        .await
        .expect("staff messages");
    assert_eq!(staff_messages.len(), 2);
    assert!(
        staff_messages
            .iter()
            .any(|m| m.dedupe_key
                == format!("ticket:{event_id}:staff:{}", world.staff["engineer"].0))
    );
    let message_ids: Vec<Uuid> = staff_messages.iter().map(|m| m.id).collect();
    let staff_deliveries = || async {
        delivery::Entity::find()
            .filter(delivery::Column::RecipientKind.eq("staff"))
            .filter(delivery::Column::MessageId.is_in(message_ids.clone()))
            .all(&app.db)
            .await
            .expect("deliveries")
    };
    app.wait_for("staff deliveries recorded sent", 10, || async {
        let rows = staff_deliveries().await;
        rows.len() == 2 && rows.iter().all(|d| d.status == "sent")
    })
    .await;

    // The job settles its outbox row (until then the relay would hand it out again).
    app.wait_for("the outbox row settled", 10, || async {
        outbox_entry::Entity::find()
            .filter(outbox_entry::Column::Kind.eq(TICKET_NOTIFY))
            .filter(outbox_entry::Column::RelayedAt.is_null())
            .count(&app.db)
            .await
            .expect("outbox")
            == 0
    })
    .await;

    // Relayed again (a crash between relay and mark): nothing new is written or sent.
    notify(&app, event_id).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sends(&app, ENGINEER_TOKEN, ticket_id).len(), 1);
    assert_eq!(staff_deliveries().await.len(), 2);

    // A staff send whose job the queue lost: the sweeper sends it from the database.
    let lost = staff_deliveries().await[0].clone();
    let target = if lost.resident_id == world.a.butler {
        BUTLER_TOKEN
    } else {
        ENGINEER_TOKEN
    };
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            sea_orm::sea_query::Expr::value("pending"),
        )
        .col_expr(
            delivery::Column::DueAt,
            sea_orm::sea_query::Expr::value(app.clock.now_utc() - chrono::Duration::days(1)),
        )
        .filter(delivery::Column::Id.eq(lost.id))
        .exec(&app.db)
        .await
        .expect("lose a send");
    app.wait_for("the sweeper's resend", 10, || async {
        sends(&app, target, ticket_id).len() == 2
    })
    .await;
}

/// The staff messages about `ticket`, as (staff id, action) pairs.
async fn staff_told(app: &TestApp, ticket: Uuid) -> Vec<(Uuid, String)> {
    let mut told: Vec<(Uuid, String)> = staff_message::Entity::find()
        .filter(staff_message::Column::TicketId.eq(ticket))
        .all(&app.db)
        .await
        .expect("staff messages")
        .into_iter()
        .map(|m| {
            (
                m.staff_id,
                m.data["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    told.sort();
    told
}

#[tokio::test]
async fn a_report_dispatched_before_its_job_ran_gives_one_work_order() {
    let mut first = app().await;
    let world = world_with_staff_phones(&first).await;
    let engineer = world.staff["engineer"].0;
    // The butler of the household's building (the world's other butler has a phone too).
    let butler = world.staff["butler"].0;
    staff_phone(&first, world.token("butler"), HOUSE_BUTLER_TOKEN, "zh-CN").await;
    // The workers are down while the resident reports and the desk dispatches at once, so
    // the report's job runs after the dispatch, when the ticket already has its engineer.
    first.kill();
    let mut api = first.start_another_api_only().await;
    let repair = api
        .create_repair(
            &world.resident.access,
            &json!({ "household_id": world.a.household, "category": "water", "urgency": "emergency", "description": "厨房水管漏水" }),
            None,
        )
        .await
        .expect(201)
        .id();
    api.dispatch_ticket(
        world.token("front_desk"),
        repair,
        &json!({ "assignee_id": engineer }),
    )
    .await
    .expect(200);
    // A complaint is routed to the butler as its assignee when it is filed.
    let complaint = api
        .create_complaint(
            &world.resident.access,
            &json!({ "household_id": world.a.household, "category": "environment", "description": "楼道堆放杂物" }),
            None,
        )
        .await
        .expect(201);
    assert_eq!(
        complaint.body["assignee_id"],
        butler.to_string(),
        "{}",
        complaint.text
    );
    let complaint = complaint.id();
    api.kill();

    let second = first.start_another().await;
    second.wait_for_idle().await;
    // The engineer: one work order, the dispatch's; the butler: the report, then the
    // dispatch, each once.
    assert_eq!(staff_told(&second, repair).await, {
        let mut expected = vec![
            (engineer, "dispatched".to_owned()),
            (butler, "reported".to_owned()),
            (butler, "dispatched".to_owned()),
        ];
        expected.sort();
        expected
    });
    let to_engineer = titles(&second, ENGINEER_TOKEN, repair);
    assert_eq!(to_engineer, vec!["新工单".to_owned()]);
    assert_eq!(sends(&second, HOUSE_BUTLER_TOKEN, repair).len(), 2);
    // The complaint's butler hears of it once, as its assignee.
    assert_eq!(
        staff_told(&second, complaint).await,
        vec![(butler, "dispatched".to_owned())]
    );
    assert_eq!(sends(&second, HOUSE_BUTLER_TOKEN, complaint).len(), 1);
    // Each event names who held the ticket as it left it.
    let reported = &events(&second, repair, "reported").await[0];
    assert_eq!(
        (reported.assignee_id, reported.butler_id),
        (None, Some(butler))
    );
    let dispatched = &events(&second, repair, "dispatched").await[0];
    assert_eq!(
        (dispatched.assignee_id, dispatched.butler_id),
        (Some(engineer), Some(butler))
    );
    second.assert_no_jobs_left().await;
}

#[tokio::test]
async fn events_nobody_needs_tell_nobody_and_the_actor_is_not_told() {
    let app = app().await;
    let world = world_with_staff_phones(&app).await;
    let ticket_id = repair(&app, &world, "on_site", 0).await;
    let engineer = world.staff["engineer"].0;
    event(&app, ticket_id, "photo_added", Some(engineer)).await;
    // The engineer completes: the butler and the resident hear, the engineer does not.
    event(&app, ticket_id, "completed", Some(engineer)).await;
    app.wait_for("the completion push", 10, || async {
        !titles(&app, BUTLER_TOKEN, ticket_id).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        titles(&app, BUTLER_TOKEN, ticket_id),
        vec!["工单已完成".to_owned()]
    );
    assert!(titles(&app, ENGINEER_TOKEN, ticket_id).is_empty());
    let count = staff_message::Entity::find()
        .filter(staff_message::Column::TicketId.eq(ticket_id))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1, "photo_added tells nobody");
}

#[tokio::test]
async fn the_sla_watch_warns_escalates_and_opens_callbacks() {
    let app = app().await;
    let world = world_with_staff_phones(&app).await;
    let start = app.clock.now_utc();
    let minutes = chrono::Duration::minutes;
    // Emergency: on site within 15 minutes, warned at 12.
    let late = repair(&app, &world, "accepted", 0).await;
    clock(
        &app,
        late,
        "arrive",
        0,
        start + minutes(12),
        start + minutes(15),
    )
    .await;
    // Closed tickets and an earlier round's clock page nobody.
    let closed = repair(&app, &world, "closed", 0).await;
    clock(
        &app,
        closed,
        "resolve",
        0,
        start + minutes(1),
        start + minutes(2),
    )
    .await;
    let reworked = repair(&app, &world, "dispatched", 1).await;
    clock(
        &app,
        reworked,
        "arrive",
        0,
        start + minutes(1),
        start + minutes(2),
    )
    .await;
    clock(
        &app,
        reworked,
        "arrive",
        1,
        start + chrono::Duration::days(9),
        start + chrono::Duration::days(10),
    )
    .await;
    // Completed: the resident has 48 hours to rate in the app.
    let done = repair(&app, &world, "completed", 0).await;
    clock(
        &app,
        done,
        "callback",
        0,
        start + chrono::Duration::hours(40),
        start + chrono::Duration::hours(48),
    )
    .await;

    app.clock.set(start + minutes(13));
    app.wait_for("the warning", 10, || async {
        !titles(&app, ENGINEER_TOKEN, late).is_empty()
            && !titles(&app, BUTLER_TOKEN, late).is_empty()
    })
    .await;
    assert_eq!(
        titles(&app, ENGINEER_TOKEN, late),
        vec!["工单即将超时".to_owned()]
    );
    let warned = events(&app, late, "sla_warned").await;
    assert_eq!(warned.len(), 1);
    let data: Value = warned[0].data.clone().expect("data");
    assert_eq!(data["clock"], "arrive");
    assert_eq!(data["round"], 0);
    assert_eq!(warned[0].actor_kind, "system");
    assert_eq!(warned[0].to_state.as_deref(), Some("accepted"));
    assert!(
        titles(&app, SUPERVISOR_TOKEN, late).is_empty(),
        "warnings stay local"
    );

    app.clock.set(start + minutes(16));
    app.wait_for("the escalation", 10, || async {
        !titles(&app, SUPERVISOR_TOKEN, late).is_empty()
            && titles(&app, ENGINEER_TOKEN, late).len() == 2
    })
    .await;
    let to_supervisor = &sends(&app, SUPERVISOR_TOKEN, late)[0];
    assert_eq!(to_supervisor.title, "Deadline missed");
    assert!(
        to_supervisor.body.contains("missed its arrival deadline"),
        "{}",
        to_supervisor.body
    );
    assert_eq!(titles(&app, ENGINEER_TOKEN, late)[1], "工单超时");
    let row = ticket_clock::Entity::find_by_id((late, "arrive".to_owned(), 0))
        .one(&app.db)
        .await
        .expect("clock")
        .expect("exists");
    assert_eq!(row.breached_at, Some(start + minutes(16)));
    assert_eq!(row.warned_at, Some(start + minutes(13)), "warned before");

    app.clock.set(start + chrono::Duration::hours(49));
    app.wait_for("the callback on the front desk's list", 10, || async {
        ticket::Entity::find_by_id(done)
            .one(&app.db)
            .await
            .expect("ticket")
            .is_some_and(|t| t.state == "awaiting_callback")
    })
    .await;
    let due = events(&app, done, "callback_due").await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].from_state.as_deref(), Some("completed"));
    assert_eq!(due[0].to_state.as_deref(), Some("awaiting_callback"));

    // More ticks change nothing: each clock warned and escalated once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(events(&app, late, "sla_warned").await.len(), 1);
    assert_eq!(events(&app, late, "sla_breached").await.len(), 1);
    assert_eq!(events(&app, done, "callback_due").await.len(), 1);
    for quiet in [closed, reworked] {
        let any = ticket_event::Entity::find()
            .filter(ticket_event::Column::TicketId.eq(quiet))
            .count(&app.db)
            .await
            .expect("count");
        assert_eq!(any, 0, "nothing for {quiet}");
    }
    assert_eq!(titles(&app, SUPERVISOR_TOKEN, late).len(), 1);
}
