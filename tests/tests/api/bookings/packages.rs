//! Monthly packages (包月) end to end on a moved clock: four Friday visits a month, each
//! slot's place held from the start, each visit issued as a booking of its own two days
//! ahead once the month is paid (the team leader and the resident pushed), one done, one
//! skipped, the month renewed with the skipped visit carried over, the renewal cancelled,
//! the month ended with what it did not use lapsed; and a month left unpaid cancelled.

use chrono::{DateTime, TimeZone, Utc};
use courtyard_tests::ClockExt;
use serde_json::{Value, json};

use super::office::*;

/// `y-m-d h:00` in Shanghai.
fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn package_service(office: &Office<'_>) -> String {
    let created = office
        .service(json!({ "team_id": office.cleaning, "category": "cleaning", "name": "包月保洁（每周一次）",
                         "pricing": "package", "price_fen": 40_000, "visits_per_month": 4 }))
        .await;
    assert_eq!(created["pay"], "before");
    assert_eq!(created["price_label"], "¥400.00/月（4 次）");
    assert_eq!(created["visits_per_month"], 4);
    created["id"].as_str().expect("service id").to_owned()
}

async fn package(office: &Office<'_>, id: &str) -> Value {
    office
        .app
        .get_package(office.resident(), id)
        .await
        .expect(200)
        .body
}

/// Waits until the package's visit at `index` is issued; returns its booking's id.
async fn issued(office: &Office<'_>, id: &str, index: usize) -> String {
    office
        .app
        .wait_for(&format!("visit {} issued", index + 1), 10, || async {
            package(office, id).await["visit_list"][index]["booking_id"].is_string()
        })
        .await;
    package(office, id).await["visit_list"][index]["booking_id"]
        .as_str()
        .expect("issued")
        .to_owned()
}

fn statuses(p: &Value) -> Vec<String> {
    p["visit_list"]
        .as_array()
        .expect("visits")
        .iter()
        .map(|v| v["status"].as_str().expect("status").to_owned())
        .collect()
}

#[tokio::test]
async fn a_monthly_package_issues_its_visits_on_a_moved_clock() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = package_service(&office).await;
    // A package is not booked visit by visit.
    let slot = office.slot(&service, local(27, 9)).await;
    app.create_booking(
        office.resident(),
        &json!({ "service_id": service, "household_id": office.world.a.household, "slot_id": slot["id"] }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    // Not a slot start of the team: refused naming the field.
    let mut body = json!({ "service_id": service, "household_id": office.world.a.household,
                           "weekday": 5, "start_time": "09:30", "period": "2026-12" });
    app.create_package(office.resident(), &body)
        .await
        .expect_problem(422, "/problems/validation");
    // Fridays at 09:00 in December: the 4th, 11th, 18th and 25th, retried safely.
    body["start_time"] = json!("09:00");
    let subscribe = || {
        app.request_with_headers(
            reqwest::Method::POST,
            "/v1/packages",
            Some(office.resident()),
            &body,
            &[("Idempotency-Key", "pkg-1")],
        )
    };
    let created = subscribe().await.expect(201).body;
    let again = subscribe().await.expect(201).body;
    assert_eq!(again["id"], created["id"]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["period"], "2026-12");
    assert_eq!(
        (created["visits"].as_u64(), created["price_fen"].as_i64()),
        (Some(4), Some(40_000))
    );
    let days: Vec<&str> = created["visit_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        ["2026-12-04", "2026-12-11", "2026-12-18", "2026-12-25"]
    );
    assert_eq!(created["remaining"], 4);
    // Every visit's place is held from now: the team has one crew.
    assert_eq!(office.slot(&service, at(2026, 12, 4, 9)).await["free"], 0);
    assert_eq!(office.slot(&service, at(2026, 12, 25, 9)).await["free"], 0);
    assert_eq!(office.slot(&service, at(2026, 12, 4, 11)).await["free"], 1);

    let bill = created["bill_id"]
        .as_str()
        .expect("the month's bill")
        .to_owned();
    let shown = app
        .get_bill(office.resident(), &bill)
        .await
        .expect(200)
        .body;
    assert_eq!(shown["amount_fen"], 40_000);
    assert_eq!(shown["lines"][0]["name"], "包月保洁（每周一次）（2026-12）");
    assert_eq!(office.pay(&bill).await["state"], "succeeded");
    assert_eq!(package(&office, &id).await["paid"], true);
    // Two days before the first Friday, its visit is issued to the team leader.
    app.clock.set(at(2026, 12, 2, 10));
    let first = issued(&office, &id, 0).await;
    let visit = app
        .get_booking(office.resident(), &first)
        .await
        .expect(200)
        .body;
    assert_eq!(visit["package_id"], json!(id));
    assert_eq!(
        (visit["state"].as_str(), visit["time_status"].as_str()),
        (Some("dispatched"), Some("confirmed"))
    );
    assert_eq!(
        visit["starts_at"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap()),
        Some(at(2026, 12, 4, 9))
    );
    assert_eq!(visit["assignee_id"], json!(office.world.staff["cleaner"].0));
    let order = office.push(CLEANER_TOKEN, &first, "confirmed").await;
    assert!(alert(&order).contains("新服务工单"), "{}", alert(&order));
    let told = office
        .push(&office.resident_token(), &first, "confirmed")
        .await;
    assert!(alert(&told).contains("12月04日 09:00"), "{}", alert(&told));
    // The second is a week later: not yet.
    assert_eq!(
        statuses(&package(&office, &id).await),
        ["issued", "scheduled", "scheduled", "scheduled"]
    );

    // Done, covered by the month: no bill of its own.
    let cleaner = office.world.token("cleaner");
    app.accept_ticket(cleaner, &first).await.expect(200);
    app.arrive_ticket(cleaner, &first).await.expect(200);
    let done = app
        .complete_booking(cleaner, &first, &json!({ "note": "每周保洁" }))
        .await
        .expect(200)
        .body;
    assert_eq!(done["state"], "completed");
    assert!(done.get("bill_id").is_none(), "{done}");
    let p = package(&office, &id).await;
    assert_eq!(
        (p["used"].as_u64(), p["remaining"].as_u64()),
        (Some(1), Some(3))
    );

    // The second visit is issued on the 9th; the resident skips it, free of charge.
    app.clock.set(at(2026, 12, 9, 10));
    let second = issued(&office, &id, 1).await;
    let skipped = app
        .cancel_booking(office.resident(), &second, &json!({ "note": "这周出差" }))
        .await
        .expect(200)
        .body;
    assert_eq!(skipped["state"], "cancelled");
    assert!(
        skipped.get("cancel_fee_fen").is_none() && skipped.get("bill_id").is_none(),
        "{skipped}"
    );
    assert_eq!(office.slot(&service, at(2026, 12, 11, 9)).await["free"], 1);
    let p = package(&office, &id).await;
    assert_eq!(
        (
            p["used"].as_u64(),
            p["skipped"].as_u64(),
            p["remaining"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );

    // Skipped visits carry over under this community's policy: January has five Fridays,
    // so the renewal holds the four visits and the one carried, for the same price.
    let mut policy = app
        .get_service_policy(office.admin(), office.world.a.community)
        .await
        .expect(200)
        .body;
    assert_eq!(policy["package_unused"], "lapse");
    policy["package_unused"] = json!("carry");
    app.put_service_policy(office.admin(), office.world.a.community, &policy)
        .await
        .expect(200);
    let renewed = app
        .renew_package(office.resident(), &id)
        .await
        .expect(201)
        .body;
    assert_eq!(renewed["period"], "2027-01");
    assert_eq!(
        (renewed["visits"].as_u64(), renewed["carried"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(renewed["price_fen"], 40_000);
    assert_eq!(renewed["previous_id"], json!(id));
    assert_eq!(package(&office, &id).await["renewed_by_id"], renewed["id"]);
    app.renew_package(office.resident(), &id)
        .await
        .expect_problem(409, "/problems/package-renewed");
    assert_eq!(office.slot(&service, at(2027, 1, 29, 9)).await["free"], 0);
    // Cancelled before it is paid: its bill is cancelled and its places come back.
    let next = renewed["id"].as_str().unwrap();
    let cancelled = app
        .cancel_package(office.resident(), next, &json!({ "note": "一月回老家" }))
        .await
        .expect(200)
        .body;
    assert_eq!(cancelled["state"], "cancelled");
    assert!(
        statuses(&cancelled).iter().all(|s| s == "lapsed"),
        "{cancelled}"
    );
    assert_eq!(office.slot(&service, at(2027, 1, 29, 9)).await["free"], 1);
    let bill = app
        .get_bill(office.resident(), renewed["bill_id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(bill["state"], "cancelled");
    // Another household's resident sees none of it.
    app.get_package(&office.world.b.resident_tokens.access, &id)
        .await
        .expect_problem(404, "/problems/not-found");

    // The month ends: the two visits whose time passed unissued (the clock jumped over
    // them) lapse, and the month is over.
    app.clock.set(at(2027, 1, 1, 12));
    app.wait_for("the month to end", 10, || async {
        package(&office, &id).await["state"] == "ended"
    })
    .await;
    let p = package(&office, &id).await;
    assert_eq!(statuses(&p), ["done", "skipped", "lapsed", "lapsed"]);
    assert_eq!(
        (p["used"].as_u64(), p["remaining"].as_u64()),
        (Some(1), Some(0))
    );
    let listed = app
        .list_packages(office.resident(), &[("period", "2026-12")])
        .await
        .expect(200)
        .body;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == json!(id) && p["state"] == "ended"),
        "{listed}"
    );
    let january = app
        .list_packages(office.resident(), &[("period", "2027-01")])
        .await
        .expect(200)
        .body;
    assert!(
        january["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "cancelled"),
        "{january}"
    );
}

#[tokio::test]
async fn a_package_month_left_unpaid_is_cancelled_and_its_places_released() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = package_service(&office).await;
    // Visits issued a week ahead here: the first is due at once, but the month is unpaid.
    let mut policy = app
        .get_service_policy(office.admin(), office.world.a.community)
        .await
        .expect(200)
        .body;
    policy["visit_issue_days"] = json!(7);
    app.put_service_policy(office.admin(), office.world.a.community, &policy)
        .await
        .expect(200);
    let created = app
        .create_package(
            office.world.token("front_desk"),
            &json!({ "service_id": service, "household_id": office.world.a.household,
                     "resident_id": office.world.a.resident, "weekday": 2, "start_time": "13:00" }),
        )
        .await
        .expect(201)
        .body;
    // December has five Tuesdays from the 1st; four are taken.
    assert_eq!(created["period"], "2026-12");
    assert_eq!(created["visits"], 4);
    assert_eq!(office.slot(&service, at(2026, 12, 1, 13)).await["free"], 0);
    // Field staff cannot see or cancel it.
    let id = created["id"].as_str().unwrap();
    app.cancel_package(office.world.token("cleaner"), id, &json!({}))
        .await
        .expect_problem(403, "/problems/forbidden");
    // Unpaid, its due visit is not issued...
    let start = app.clock.now_utc();
    app.clock.set(start + chrono::Duration::minutes(20));
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(statuses(&package(&office, id).await)[0], "scheduled");
    // ...and once the payment window has passed the workers cancel it.
    app.clock.set(start + chrono::Duration::minutes(31));
    app.wait_for("the unpaid month to be cancelled", 10, || async {
        package(&office, id).await["state"] == "cancelled"
    })
    .await;
    assert_eq!(office.slot(&service, at(2026, 12, 1, 13)).await["free"], 1);
    let bill = app
        .get_bill(office.resident(), created["bill_id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(bill["state"], "cancelled");
    app.assert_no_jobs_left().await;
}
