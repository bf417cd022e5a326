//! Fees end to end: fee items and policy, meter readings (tiered too), one-off charges, a
//! bill run with its progress, the amounts of every line checked to the fen, running a month
//! again, a household added later, what residents see and are told, waiving and re-issuing.

use courtyard_domain::Clock;
use courtyard_domain::{entities::bill, fees::bills::Period};
use courtyard_store::fees::bill_run::{self, Outcome};
use courtyard_tests::{TestApp, Tokens, spawn_app};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

/// A community with two households (89.51 m² with a parking space, 120 m²), the first with
/// a resident who has a phone registered.
pub(crate) struct Estate {
    pub(crate) admin: Tokens,
    pub(crate) community: Uuid,
    pub(crate) unit: Uuid,
    pub(crate) first: Uuid,
    pub(crate) second: Uuid,
    pub(crate) resident: Tokens,
}

const PUSH_TOKEN: &str = "f00df00df00df00df00df00df00df00df00df00df00df00df00df00df00df00d";

pub(crate) async fn estate(app: &TestApp) -> Estate {
    let (_, admin) = app.bootstrap_admin("Fees Co").await;
    let token = admin.access.as_str();
    let community = app
        .create_community(token, &json!({ "name": "翠湖花园" }))
        .await
        .expect(201)
        .id();
    let building = app
        .create_building(token, community, &json!({ "name": "3栋" }))
        .await
        .expect(201)
        .id();
    let unit = app
        .create_unit(token, building, &json!({ "name": "1单元" }))
        .await
        .expect(201)
        .id();
    let first = app
        .create_household(
            token,
            unit,
            &json!({ "room_number": "1203", "floor_area_m2": 89.51, "parking_spaces": 1 }),
        )
        .await
        .expect(201)
        .id();
    let second = app
        .create_household(
            token,
            unit,
            &json!({ "room_number": "1204", "floor_area_m2": 120 }),
        )
        .await
        .expect(201)
        .id();
    app.create_resident(
        token,
        &json!({
            "name": "王芳",
            "phone": "13800005555",
            "memberships": [{ "household_id": first, "role": "owner" }],
        }),
    )
    .await
    .expect(201);
    let resident = app.login_resident("13800005555").await;
    app.register_device(
        &resident.access,
        &json!({ "platform": "ios", "provider": "apns", "token": PUSH_TOKEN, "topic": "com.courtyard.resident" }),
    )
    .await
    .expect(201);
    Estate {
        admin,
        community,
        unit,
        first,
        second,
        resident,
    }
}

/// The five fee items of the tests: per m², tiered water, flat power, fixed, per space.
async fn fee_items(app: &TestApp, e: &Estate) {
    let token = e.admin.access.as_str();
    for item in [
        json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
        json!({ "name": "水费", "kind": "metered", "meter": "water", "tiers": [
            { "up_to": "18", "unit_price": "3.45" },
            { "unit_price": "4.83" },
        ] }),
        json!({ "name": "电费", "kind": "metered", "meter": "power", "unit_price": "0.5283" }),
        json!({ "name": "垃圾清运费", "kind": "fixed", "unit_price": "10" }),
        json!({ "name": "车位管理费", "kind": "per_space", "unit_price": "150" }),
    ] {
        app.create_fee_item(token, e.community, &item)
            .await
            .expect(201);
    }
}

pub(crate) async fn read(
    app: &TestApp,
    token: &str,
    household: Uuid,
    meter: &str,
    period: &str,
    value: &str,
) {
    let reply = app
        .record_meter_reading(
            token,
            household,
            &json!({ "meter": meter, "period": period, "value": value }),
        )
        .await;
    assert!(
        [200, 201].contains(&reply.status.as_u16()),
        "reading {meter} {period} {value}: {}",
        reply.text
    );
}

pub(crate) async fn run_month(app: &TestApp, e: &Estate, period: &str) -> Value {
    let token = e.admin.access.as_str();
    let accepted = app
        .create_bill_run(token, e.community, &json!({ "period": period }))
        .await
        .expect(202);
    let run = accepted.id();
    assert_eq!(accepted.header("location"), format!("/v1/bill-runs/{run}"));
    assert_eq!(accepted.body["period"], period);
    app.wait_for_bill_run(run, token).await.body
}

/// (name, band, quantity, unit price, amount) of each line.
pub(crate) fn lines(bill: &Value) -> Vec<(String, Value, String, String, i64)> {
    bill["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or_default().to_owned(),
                l["band"].clone(),
                l["quantity"].as_str().unwrap_or_default().to_owned(),
                l["unit_price"].as_str().unwrap_or_default().to_owned(),
                l["amount_fen"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

pub(crate) fn line(
    name: &str,
    band: Value,
    quantity: &str,
    price: &str,
    amount: i64,
) -> (String, Value, String, String, i64) {
    (name.into(), band, quantity.into(), price.into(), amount)
}

pub(crate) async fn bill_of(app: &TestApp, token: &str, household: Uuid, period: &str) -> Value {
    let id = app.wait_for_bill(household, period, token).await;
    app.get_bill(token, id).await.expect(200).body
}

#[tokio::test]
async fn bills_are_priced_to_the_fen_from_area_fixed_space_and_tiered_meter_rates() {
    let app = spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    app.put_fee_policy(
        token,
        e.community,
        &json!({ "due_day": 10, "late_fee": { "enabled": false, "daily_rate_ppm": 300, "grace_days": 0, "cap_percent": 30 } }),
    )
    .await
    .expect(200);
    fee_items(&app, &e).await;
    // October's readings are the baseline; November's consumption is the difference.
    read(&app, token, e.first, "water", "2026-10", "100").await;
    read(&app, token, e.first, "water", "2026-11", "120.5").await;
    read(&app, token, e.first, "power", "2026-10", "1000").await;
    read(&app, token, e.first, "power", "2026-11", "1123.4").await;
    // The second household's first water reading only sets where its meter starts.
    read(&app, token, e.second, "water", "2026-11", "50").await;
    app.create_charge(
        token,
        e.second,
        &json!({ "description": "门禁卡补办", "amount_fen": 2000 }),
    )
    .await
    .expect(201);

    let run = run_month(&app, &e, "2026-11").await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["households_total"], 2);
    assert_eq!(run["households_done"], 2);
    assert_eq!(run["bills_created"], 2);
    assert_eq!(
        run["readings_missing"], 2,
        "the second household has no water consumption and no power reading"
    );

    let first = bill_of(&app, token, e.first, "2026-11").await;
    assert_eq!(
        lines(&first),
        vec![
            line("物业费", Value::Null, "89.510", "2.3500", 21_035), // 210.3485 元
            line("水费", json!(1), "18.000", "3.4500", 6_210),
            line("水费", json!(2), "2.500", "4.8300", 1_208), // 12.075 元, half up
            line("电费", Value::Null, "123.400", "0.5283", 6_519), // 65.19222 元
            line("垃圾清运费", Value::Null, "1.000", "10.0000", 1_000),
            line("车位管理费", Value::Null, "1.000", "150.0000", 15_000),
        ]
    );
    assert_eq!(first["amount_fen"], 50_972);
    assert_eq!(first["state"], "open");
    assert_eq!(
        first["due_on"], "2026-12-10",
        "the policy's due day of the next month"
    );
    assert_eq!(first["lines"][1]["unit"], "ton");
    assert_eq!(first["lines"][3]["unit"], "kwh");

    let second = bill_of(&app, token, e.second, "2026-11").await;
    assert_eq!(
        lines(&second),
        vec![
            line("物业费", Value::Null, "120.000", "2.3500", 28_200),
            line("垃圾清运费", Value::Null, "1.000", "10.0000", 1_000),
            line("门禁卡补办", Value::Null, "1.000", "20.0000", 2_000),
        ]
    );
    assert_eq!(second["amount_fen"], 31_200);
    let charges = app
        .list_charges(token, e.second, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(
        charges["items"][0]["bill_id"], second["id"],
        "the charge went on the bill"
    );

    // The same month again creates nothing; a household added since gets its bill.
    let again = run_month(&app, &e, "2026-11").await;
    assert_eq!(again["bills_created"], 0, "{again}");
    assert_eq!(again["households_done"], 2);
    let third = app
        .create_household(
            token,
            e.unit,
            &json!({ "room_number": "1205", "floor_area_m2": 60.05 }),
        )
        .await
        .expect(201)
        .id();
    let later = run_month(&app, &e, "2026-11").await;
    assert_eq!(later["bills_created"], 1, "{later}");
    assert_eq!(later["households_total"], 3);
    let third = bill_of(&app, token, third, "2026-11").await;
    assert_eq!(third["amount_fen"], 14_112 + 1_000); // 60.05 × 2.35 = 141.1175 元
    let live = bill::Entity::find()
        .filter(bill::Column::CommunityId.eq(e.community))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(live, 3, "one bill per household and month");

    // The resident sees their household's bill, not the neighbour's, and was told of it.
    let mine = app
        .list_my_bills(&e.resident.access, &[("state", "open")])
        .await
        .expect(200)
        .body;
    let ids: Vec<&Value> = mine["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| &b["id"])
        .collect();
    assert_eq!(ids, vec![&first["id"]]);
    app.get_bill(
        &e.resident.access,
        Uuid::parse_str(first["id"].as_str().expect("id")).expect("uuid"),
    )
    .await
    .expect(200);
    app.get_bill(
        &e.resident.access,
        Uuid::parse_str(second["id"].as_str().expect("id")).expect("uuid"),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.list_household_bills(&e.resident.access, e.second, &[])
        .await
        .expect_problem(404, "/problems/not-found");
    app.wait_for("the bill push", 20, || async {
        !app.sent.sends_to(PUSH_TOKEN).is_empty()
    })
    .await;
    let pushes = app.sent.sends_to(PUSH_TOKEN);
    assert_eq!(pushes.len(), 1, "one push per bill and resident");
    assert_eq!(pushes[0].title, "2026年11月账单已出");
    assert!(
        pushes[0].body.contains("¥509.72") && pushes[0].body.contains("2026年12月10日"),
        "{}",
        pushes[0].body
    );
    assert_eq!(pushes[0].category, "bill");
    let inbox = app
        .list_messages(&e.resident.access, &[])
        .await
        .expect(200)
        .body;
    assert!(
        inbox["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["title"] == "2026年11月账单已出"),
        "{inbox}"
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn readings_do_not_go_backwards_unless_the_meter_was_replaced() {
    let app = spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    fee_items(&app, &e).await;
    read(&app, token, e.first, "water", "2026-10", "100").await;
    app.record_meter_reading(
        token,
        e.first,
        &json!({ "meter": "water", "period": "2026-11", "value": "90" }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    // Entering the month again updates it (200), a replacement counts from the new meter.
    let created = app
        .record_meter_reading(
            token,
            e.first,
            &json!({ "meter": "water", "period": "2026-11", "value": "3.5", "replaced_from": "0" }),
        )
        .await
        .expect(201);
    assert_eq!(created.body["replaced_from"], "0.000");
    let updated = app
        .record_meter_reading(
            token,
            e.first,
            &json!({ "meter": "water", "period": "2026-11", "value": "4", "replaced_from": "0" }),
        )
        .await
        .expect(200);
    assert_eq!(updated.body["id"], created.body["id"]);
    assert_eq!(updated.body["value"], "4.000");
    // Against a rule, the document's (a pattern) or the code's: 422.
    for (bad, status) in [
        (
            json!({ "meter": "steam", "period": "2026-11", "value": "1" }),
            422,
        ),
        (
            json!({ "meter": "water", "period": "2026-13", "value": "1" }),
            422,
        ),
        (
            json!({ "meter": "water", "period": "2026-11", "value": "1.2345" }),
            422,
        ),
        (
            json!({ "meter": "water", "period": "2026-11", "value": "-1" }),
            422,
        ),
    ] {
        let reply = app.record_meter_reading(token, e.first, &bad).await;
        assert_eq!(reply.status.as_u16(), status, "{bad}: {}", reply.text);
    }
    run_month(&app, &e, "2026-11").await;
    let bill = bill_of(&app, token, e.first, "2026-11").await;
    let water: Vec<_> = lines(&bill).into_iter().filter(|l| l.0 == "水费").collect();
    assert_eq!(
        water,
        vec![line("水费", json!(1), "4.000", "3.4500", 1_380)]
    );
    let readings = app
        .list_meter_readings(&e.resident.access, e.first, &[("meter", "water")])
        .await
        .expect(200)
        .body;
    assert_eq!(readings["items"].as_array().map(Vec::len), Some(2));
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn fee_items_and_policy_refuse_what_does_not_fit() {
    let app = spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    let policy = app
        .get_fee_policy(token, e.community)
        .await
        .expect(200)
        .body;
    assert_eq!(policy["due_day"], 15, "the default due day");
    assert_eq!(
        policy["late_fee"]["enabled"], false,
        "late fees are off by default"
    );
    assert_eq!(policy["late_fee"]["cap_percent"], 30);
    for (bad, field) in [
        (
            json!({ "name": "水费", "kind": "metered", "unit_price": "3.45" }),
            "meter",
        ),
        (
            json!({ "name": "物业费", "kind": "area", "meter": "water", "unit_price": "2.35" }),
            "meter",
        ),
        (
            json!({ "name": "物业费", "kind": "area", "unit_price": "2.35", "tiers": [{ "unit_price": "1" }] }),
            "tiers",
        ),
        (json!({ "name": "物业费", "kind": "area" }), "unit_price"),
        (
            json!({ "name": "物业费", "kind": "lease", "unit_price": "2.35" }),
            "kind",
        ),
        (
            json!({ "name": "水费", "kind": "metered", "meter": "water", "tiers": [
            { "up_to": "18", "unit_price": "3.45" }, { "up_to": "10", "unit_price": "4" }, { "unit_price": "5" }
        ] }),
            "tiers",
        ),
        (
            json!({ "name": "水费", "kind": "metered", "meter": "water", "tiers": [
            { "up_to": "18", "unit_price": "3.45" }
        ] }),
            "tiers",
        ),
        (
            json!({ "name": "停车", "kind": "fixed", "tiers": [
            { "up_to": "1", "unit_price": "1" }, { "unit_price": "2" }
        ] }),
            "tiers",
        ),
    ] {
        let reply = app.create_fee_item(token, e.community, &bad).await;
        assert_eq!(reply.status.as_u16(), 422, "{bad}: {}", reply.text);
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{bad}: {}",
            reply.text
        );
    }
    app.create_fee_item(
        token,
        e.community,
        &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
    )
    .await
    .expect(201);
    app.create_fee_item(
        token,
        e.community,
        &json!({ "name": "物业费", "kind": "fixed", "unit_price": "1" }),
    )
    .await
    .expect_problem(409, "/problems/duplicate-name");
    // The schema bounds the due day to 1–28.
    let reply = app
        .put_fee_policy(
            token,
            e.community,
            &json!({ "due_day": 31, "late_fee": { "enabled": false, "daily_rate_ppm": 300, "grace_days": 0, "cap_percent": 30 } }),
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "due_day");
    let policy = app
        .put_fee_policy(
            token,
            e.community,
            &json!({ "due_day": 20, "late_fee": { "enabled": true, "daily_rate_ppm": 500, "grace_days": 5, "cap_percent": 20 } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(policy["late_fee"]["daily_rate_ppm"], 500);
    let read_back = app
        .get_fee_policy(token, e.community)
        .await
        .expect(200)
        .body;
    assert_eq!(read_back, policy);
    app.create_bill_run(token, e.community, &json!({ "period": "2026-13" }))
        .await
        .expect_problem(422, "/problems/validation");
}

#[tokio::test]
async fn an_open_bill_is_waived_or_reissued_once_and_never_after() {
    let app = spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    fee_items(&app, &e).await;
    read(&app, token, e.first, "water", "2026-10", "100").await;
    read(&app, token, e.first, "water", "2026-11", "130").await;
    app.create_charge(
        token,
        e.first,
        &json!({ "description": "维修：更换水龙头", "amount_fen": 8000 }),
    )
    .await
    .expect(201);
    run_month(&app, &e, "2026-11").await;
    let bill = bill_of(&app, token, e.first, "2026-11").await;
    let bill_id = Uuid::parse_str(bill["id"].as_str().expect("id")).expect("uuid");
    // 30 t: 18 at 3.45 and 12 at 4.83.
    assert_eq!(
        bill["amount_fen"],
        21_035 + 6_210 + 5_796 + 1_000 + 15_000 + 8_000
    );

    // The reading was 120, not 130: correct it and issue the bill again.
    read(&app, token, e.first, "water", "2026-11", "120").await;
    let reissued = app
        .reissue_bill(token, bill_id, &json!({ "reason": "抄表读数更正" }))
        .await
        .expect(200)
        .body;
    assert_eq!(reissued["cancelled"]["state"], "cancelled");
    assert_eq!(reissued["cancelled"]["close_reason"], "抄表读数更正");
    let new = &reissued["reissued"];
    assert_eq!(new["state"], "open");
    assert_eq!(new["replaces_id"], bill["id"]);
    assert_eq!(
        new["amount_fen"],
        21_035 + 6_210 + 966 + 1_000 + 15_000 + 8_000,
        "20 t now, and the one-off charge carried over: {new}"
    );
    let new_id = Uuid::parse_str(new["id"].as_str().expect("id")).expect("uuid");
    app.reissue_bill(token, bill_id, &json!({ "reason": "again" }))
        .await
        .expect_problem(409, "/problems/bill-not-open");
    for role_token in [e.resident.access.as_str()] {
        app.waive_bill(role_token, new_id, &json!({ "reason": "x" }))
            .await
            .expect_problem(403, "/problems/forbidden");
    }
    app.waive_bill(token, new_id, &json!({ "reason": "  " }))
        .await
        .expect_problem(422, "/problems/validation");
    let waived = app
        .waive_bill(token, new_id, &json!({ "reason": "业主委员会决议减免" }))
        .await
        .expect(200)
        .body;
    assert_eq!(waived["state"], "waived");
    assert!(waived["closed_at"].is_string());
    app.waive_bill(token, new_id, &json!({ "reason": "again" }))
        .await
        .expect_problem(409, "/problems/bill-not-open");
    // Nothing open is left to pay.
    let open = app
        .list_my_bills(&e.resident.access, &[("state", "open")])
        .await
        .expect(200)
        .body;
    assert_eq!(open["items"], json!([]));
    // The re-issued bill was announced too.
    app.wait_for("two bill pushes", 20, || async {
        app.sent.sends_to(PUSH_TOKEN).len() == 2
    })
    .await;
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_run_taken_by_two_workers_at_once_bills_each_household_once() {
    let app = spawn_app().await;
    let e = estate(&app).await;
    fee_items(&app, &e).await;
    for room in 0..40 {
        app.create_household(
            &e.admin.access,
            e.unit,
            &json!({ "room_number": format!("2{room:03}"), "floor_area_m2": 70 }),
        )
        .await
        .expect(201);
    }
    let admin_id = app.get_me(&e.admin.access).await.expect(200).id();
    let period = Period::parse("2026-11").expect("period");
    let run = bill_run::start(
        &app.db,
        e.community,
        period,
        admin_id,
        app.clock.now(),
        None,
    )
    .await
    .expect("started");
    // Two runners besides the app's own worker, which picks up the same job.
    let clock = app.clock.clone();
    let (one, two) = tokio::join!(
        bill_run::run(&app.db, run.id, &clock),
        bill_run::run(&app.db, run.id, &clock)
    );
    let outcomes = [one.expect("run"), two.expect("run")];
    assert!(
        outcomes.iter().filter(|o| **o == Outcome::Finished).count() <= 1,
        "{outcomes:?}"
    );
    app.wait_for_bill_run(run.id, &e.admin.access).await;
    // The app's worker may have found the run busy and left its outbox row for later (the
    // runners here settle none): later, the row comes due again and finds the run done.
    app.clock.advance(chrono::Duration::seconds(
        app.settings.notifications.sweep_grace_secs + 1,
    ));
    let bills = bill::Entity::find()
        .filter(bill::Column::CommunityId.eq(e.community))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(bills, 42, "one bill per household");
    // A second run while one is queued is refused.
    let first = app
        .create_bill_run(
            &e.admin.access,
            e.community,
            &json!({ "period": "2026-12" }),
        )
        .await;
    let second = app
        .create_bill_run(
            &e.admin.access,
            e.community,
            &json!({ "period": "2026-12" }),
        )
        .await;
    let statuses = [first.status.as_u16(), second.status.as_u16()];
    assert!(
        statuses == [202, 409] || statuses == [202, 202],
        "the second is refused unless the first already finished: {statuses:?} {}",
        second.text
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn the_office_sees_arrears_and_the_collection_rate() {
    let app = spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    app.create_fee_item(
        token,
        e.community,
        &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
    )
    .await
    .expect(201);
    run_month(&app, &e, "2026-10").await;
    run_month(&app, &e, "2026-11").await;
    // October's bills were due on 15 November; the test clock is 25 November.
    let first_oct = bill_of(&app, token, e.first, "2026-10").await; // 89.51 m²: 21,035
    let second_oct = bill_of(&app, token, e.second, "2026-10").await; // 120 m²: 28,200
    let arrears = app
        .list_arrears(token, e.community, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(arrears["as_of"], "2026-11-25");
    let owed: Vec<(String, i64, i64)> = arrears["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap_or_default().to_owned(),
                a["owed_fen"].as_i64().unwrap_or_default(),
                a["days_overdue"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        owed,
        vec![
            ("3栋1单元1204".to_owned(), 28_200, 10),
            ("3栋1单元1203".to_owned(), 21_035, 10),
        ],
        "most owed first; November's bills are not due yet"
    );
    assert_eq!(arrears["total_owed_fen"], 49_235);
    let big = app
        .list_arrears(token, e.community, &[("min_owed_fen", "25000")])
        .await
        .expect(200)
        .body;
    assert_eq!(big["items"].as_array().map(Vec::len), Some(1));
    let late = app
        .list_arrears(token, e.community, &[("min_days_overdue", "11")])
        .await
        .expect(200)
        .body;
    assert_eq!(late["items"], json!([]));
    app.list_arrears(&e.resident.access, e.community, &[])
        .await
        .expect_problem(403, "/problems/forbidden");

    // One paid at the desk, one waived: collection is paid of billed less waived.
    let first_id = Uuid::parse_str(first_oct["id"].as_str().expect("id")).expect("uuid");
    let second_id = Uuid::parse_str(second_oct["id"].as_str().expect("id")).expect("uuid");
    app.record_offline_payment(
        token,
        e.first,
        &json!({ "bill_ids": [first_id], "method": "cash" }),
    )
    .await
    .expect(201);
    let collection = app
        .get_collection(token, e.community, &[("period", "2026-10")])
        .await
        .expect(200)
        .body;
    assert_eq!(collection["billed_fen"], 49_235);
    assert_eq!(collection["paid_fen"], 21_035);
    assert_eq!(collection["open_fen"], 28_200);
    assert_eq!(
        collection["collection_rate_bp"], 4_272,
        "21,035 / 49,235 = 42.72 %"
    );
    app.waive_bill(token, second_id, &json!({ "reason": "困难户减免" }))
        .await
        .expect(200);
    let collection = app
        .get_collection(token, e.community, &[("period", "2026-10")])
        .await
        .expect(200)
        .body;
    assert_eq!(collection["waived_fen"], 28_200);
    assert_eq!(collection["collection_rate_bp"], 10_000);
    let arrears = app
        .list_arrears(token, e.community, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(arrears["items"], json!([]));
    // Last month by default.
    let default = app
        .get_collection(token, e.community, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(default["period"], "2026-10");
    app.assert_no_jobs_left().await;
}
