//! Bookings end to end: the steps of one booking at a time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::office::*;

#[tokio::test]
async fn an_hourly_cleaning_is_booked_confirmed_done_paid_and_rated() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 2).await;
    let hourly = office
        .service(
            json!({ "team_id": office.cleaning, "category": "cleaning", "name": "日常保洁（钟点）",
                         "pricing": "per_hour", "price_fen": 5_000, "min_quantity": 2 }),
        )
        .await;
    assert_eq!(hourly["pay"], "after");
    assert_eq!(hourly["price_label"], "¥50.00/小时");
    let service = hourly["id"].as_str().unwrap().to_owned();
    // The price list is public to the community's residents.
    let list = app
        .list_services(office.resident(), office.world.a.community, &[])
        .await
        .expect(200)
        .body;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "日常保洁（钟点）" && s["price_fen"] == 5_000),
        "{list}"
    );
    // Another community's residents see nothing of it.
    app.list_services(
        &office.world.b.resident_tokens.access,
        office.world.a.community,
        &[],
    )
    .await
    .expect_problem(404, "/problems/not-found");

    // Friday 09:00-11:00 is free; 2 places (the team's size).
    let slot = office.slot(&service, local(27, 9)).await;
    assert_eq!(
        (
            slot["capacity"].as_u64(),
            slot["free"].as_u64(),
            slot["bookable"].as_bool()
        ),
        (Some(2), Some(2), Some(true))
    );
    // Too few hours is refused naming the field.
    app.create_booking(
        office.resident(),
        &json!({ "service_id": service, "household_id": office.world.a.household, "slot_id": slot["id"], "hours": 1 }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    // Booked with an Idempotency-Key: a retry returns the same booking.
    let body = json!({ "service_id": service, "household_id": office.world.a.household, "slot_id": slot["id"],
                       "hours": 3, "notes": "家里有猫" });
    let booked = app
        .request_with_headers(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(office.resident()),
            &body,
            &[("Idempotency-Key", "book-1")],
        )
        .await
        .expect(201)
        .body;
    let again = app
        .request_with_headers(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(office.resident()),
            &body,
            &[("Idempotency-Key", "book-1")],
        )
        .await
        .expect(201)
        .body;
    assert_eq!(again["id"], booked["id"]);
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(booked["time_status"], "requested");
    assert_eq!(booked["state"], "submitted");
    assert_eq!(booked["estimate_fen"], 15_000);
    assert!(
        booked.get("bill_id").is_none(),
        "paid after the work: no bill yet"
    );
    assert_eq!(office.slot(&service, local(27, 9)).await["free"], 1);
    // It is a ticket of kind service_booking with a confirmation clock.
    let ticket = app.get_ticket(office.admin(), &id).await.expect(200).body;
    assert_eq!(ticket["ticket"]["kind"], "service_booking");
    assert_eq!(ticket["ticket"]["category"], "cleaning");
    // Its order is not issued before the time is confirmed.
    app.dispatch_ticket(office.admin(), &id, &json!({}))
        .await
        .expect_problem(409, "/problems/time-not-confirmed");
    // A resident cannot confirm it; the front desk does.
    app.confirm_booking(office.resident(), &id, &json!({}))
        .await
        .expect_problem(403, "/problems/forbidden");
    let confirmed = app
        .confirm_booking(
            office.world.token("front_desk"),
            &id,
            &json!({ "note": "已电话确认" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(confirmed["time_status"], "confirmed");
    assert_eq!(confirmed["state"], "dispatched");
    assert_eq!(
        confirmed["assignee_id"],
        json!(office.world.staff["cleaner"].0)
    );
    // The team leader gets the work order, the resident the confirmed time.
    let order = office.push(CLEANER_TOKEN, &id, "confirmed").await;
    assert!(alert(&order).contains("新服务工单"), "{}", alert(&order));
    assert!(
        alert(&order).contains("日常保洁（钟点）"),
        "{}",
        alert(&order)
    );
    let told = office
        .push(&office.resident_token(), &id, "confirmed")
        .await;
    assert!(alert(&told).contains("11月27日 09:00"), "{}", alert(&told));

    // Accept, arrive, complete with the hours worked.
    let cleaner = office.world.token("cleaner");
    app.accept_ticket(cleaner, &id).await.expect(200);
    app.arrive_ticket(cleaner, &id).await.expect(200);
    office.push(&office.resident_token(), &id, "arrived").await;
    // The generic completion refuses a booking: it is charged at its own endpoint.
    app.complete_ticket(cleaner, &id, &json!({}))
        .await
        .expect_problem(409, "/problems/booking-step");
    let done = app
        .complete_booking(cleaner, &id, &json!({ "hours": 4, "note": "全屋清洁" }))
        .await
        .expect(200)
        .body;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["amount_fen"], 20_000);
    assert_eq!(done["worked_quantity"], 4);
    assert_eq!(done["paid"], false);
    office
        .push(&office.resident_token(), &id, "completed")
        .await;
    let bill = done["bill_id"]
        .as_str()
        .expect("a bill after the work")
        .to_owned();
    let shown = app
        .get_bill(office.resident(), &bill)
        .await
        .expect(200)
        .body;
    assert_eq!(shown["amount_fen"], 20_000);
    assert_eq!(shown["lines"][0]["name"], "日常保洁（钟点）");
    assert_eq!(shown["lines"][0]["unit"], "hour");
    assert_eq!(shown["lines"][0]["quantity"], "4.000");

    // Paid online with its receipt; then rated.
    let paid = office.pay(&bill).await;
    assert_eq!(paid["state"], "succeeded");
    assert_eq!(paid["amount_fen"], 20_000);
    app.get_receipt(office.resident(), paid["id"].as_str().unwrap())
        .await
        .expect(200);
    let after = app
        .get_booking(office.resident(), &id)
        .await
        .expect(200)
        .body;
    assert_eq!(after["paid"], true);
    app.rate_ticket(
        office.resident(),
        &id,
        &json!({ "stars": 5, "satisfied": true }),
    )
    .await
    .expect(200);
    let closed = app
        .get_booking(office.resident(), &id)
        .await
        .expect(200)
        .body;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["rating"], 5);
    // The history is the ticket's.
    let ticket = app.get_ticket(office.admin(), &id).await.expect(200).body;
    let actions: Vec<&str> = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for step in [
        "reported",
        "confirmed",
        "accepted",
        "arrived",
        "completed",
        "rated",
        "closed",
    ] {
        assert!(actions.contains(&step), "{step} missing from {actions:?}");
    }
    // The resident's list shows it; another household's resident cannot read it.
    let mine = app
        .list_bookings(
            office.resident(),
            &[("team_id", &office.cleaning.to_string())],
        )
        .await
        .expect(200)
        .body;
    assert_eq!(mine["items"][0]["id"], json!(id));
    app.get_booking(&office.world.b.resident_tokens.access, &id)
        .await
        .expect_problem(404, "/problems/not-found");
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_slot_moved_by_staff_is_accepted_by_the_resident() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = office
        .service(
            json!({ "team_id": office.cleaning, "category": "cleaning", "name": "深度保洁",
                         "pricing": "per_hour", "price_fen": 6_000 }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let asked = office.slot(&service, local(27, 9)).await;
    let booked = office
        .book(&service, asked["id"].as_str().unwrap(), json!({}))
        .await;
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(office.slot(&service, local(27, 9)).await["free"], 0);
    // The desk proposes Friday 13:00 instead; it holds a place until the resident answers.
    let other = office.slot(&service, local(27, 13)).await;
    let proposed = app
        .propose_booking_slot(
            office.world.token("front_desk"),
            &id,
            &json!({ "slot_id": other["id"], "note": "上午人员已满" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(proposed["time_status"], "proposed");
    assert_eq!(proposed["proposed"]["slot_id"], other["id"]);
    assert_eq!(office.slot(&service, local(27, 13)).await["free"], 0);
    let told = office
        .push(&office.resident_token(), &id, "time_proposed")
        .await;
    assert!(alert(&told).contains("11月27日 13:00"), "{}", alert(&told));
    // Staff cannot confirm what waits for the resident; nor can they answer for them.
    app.confirm_booking(office.world.token("front_desk"), &id, &json!({}))
        .await
        .expect_problem(409, "/problems/no-time-proposed");
    app.answer_booking_proposal(
        office.world.token("front_desk"),
        &id,
        &json!({ "accept": true }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    let accepted = app
        .answer_booking_proposal(office.resident(), &id, &json!({ "accept": true }))
        .await
        .expect(200)
        .body;
    assert_eq!(accepted["time_status"], "confirmed");
    assert_eq!(accepted["state"], "dispatched");
    assert_eq!(accepted["slot_id"], other["id"]);
    assert_eq!(accepted["starts_at"], other["starts_at"]);
    assert!(accepted.get("proposed").is_none());
    // The first slot's place is back; the leader gets the order for 13:00.
    assert_eq!(office.slot(&service, local(27, 9)).await["free"], 1);
    assert_eq!(office.slot(&service, local(27, 13)).await["free"], 0);
    let order = office.push(CLEANER_TOKEN, &id, "time_accepted").await;
    assert!(
        alert(&order).contains("11月27日 13:00"),
        "{}",
        alert(&order)
    );
    // The arrival clock follows the new slot.
    let ticket = app.get_ticket(office.admin(), &id).await.expect(200).body;
    let arrive = ticket["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clock"] == "arrive")
        .cloned()
        .expect("an arrival clock");
    assert_eq!(
        arrive["due_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        local(27, 13) + chrono::Duration::minutes(15)
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_quoted_greenery_job_starts_only_at_an_accepted_price() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = office
        .service(json!({ "team_id": office.greenery, "category": "greenery", "name": "庭院修剪", "pricing": "quoted" }))
        .await;
    assert_eq!(service["price_label"], "现场报价");
    assert!(service.get("price_fen").is_none());
    let service = service["id"].as_str().unwrap().to_owned();
    let slot = office.slot(&service, local(27, 9)).await;
    let id = office
        .book(&service, slot["id"].as_str().unwrap(), json!({}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.confirm_booking(office.world.token("front_desk"), &id, &json!({}))
        .await
        .expect(200);
    let gardener = office.world.token("gardener");
    office.push(GARDENER_TOKEN, &id, "confirmed").await;
    app.accept_ticket(gardener, &id).await.expect(200);
    app.arrive_ticket(gardener, &id).await.expect(200);
    // No completion before a price is accepted.
    app.complete_booking(gardener, &id, &json!({}))
        .await
        .expect_problem(409, "/problems/price-not-accepted");
    app.price_ticket(
        gardener,
        &id,
        &json!({ "fen": 35_000, "note": "修剪 3 棵树并清运" }),
    )
    .await
    .expect(200);
    let quoted = office.push(&office.resident_token(), &id, "priced").await;
    assert!(alert(&quoted).contains("¥350.00"), "{}", alert(&quoted));
    app.complete_booking(gardener, &id, &json!({}))
        .await
        .expect_problem(409, "/problems/price-not-accepted");
    app.answer_price(office.resident(), &id, &json!({ "accept": true }))
        .await
        .expect(200);
    office.push(GARDENER_TOKEN, &id, "price_accepted").await;
    let done = app
        .complete_booking(gardener, &id, &json!({ "note": "已完成" }))
        .await
        .expect(200)
        .body;
    assert_eq!(done["amount_fen"], 35_000);
    assert_eq!(done["quote_fen"], 35_000);
    assert_eq!(done["quote_status"], "accepted");
    let bill = app
        .get_bill(office.resident(), done["bill_id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(bill["amount_fen"], 35_000);
    // The accepted quote is the booking's bill, not a charge on the next monthly bill.
    let charges = app
        .list_charges(office.admin(), office.world.a.household, &[])
        .await
        .expect(200)
        .body;
    assert!(
        charges["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ticket_id"] != json!(id)),
        "{charges}"
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_late_cancellation_keeps_its_fee_and_refunds_the_rest() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = office
        .service(json!({ "team_id": office.cleaning, "category": "cleaning", "name": "开荒保洁", "pricing": "fixed", "price_fen": 29_900 }))
        .await;
    assert_eq!(service["pay"], "before");
    let service = service["id"].as_str().unwrap().to_owned();
    let slot = office.slot(&service, local(27, 9)).await;
    let booked = office
        .book(&service, slot["id"].as_str().unwrap(), json!({}))
        .await;
    let id = booked["id"].as_str().unwrap().to_owned();
    let bill = booked["bill_id"]
        .as_str()
        .expect("paid at booking: a bill now")
        .to_owned();
    // Not confirmed before it is paid.
    app.confirm_booking(office.world.token("front_desk"), &id, &json!({}))
        .await
        .expect_problem(409, "/problems/booking-unpaid");
    let paid = office.pay(&bill).await;
    assert_eq!(paid["amount_fen"], 29_900);
    app.confirm_booking(office.world.token("front_desk"), &id, &json!({}))
        .await
        .expect(200);
    // 23 hours before the slot the resident cancels: 20 % of ¥299.00 is kept.
    app.clock.set(local(26, 10));
    let cancelled = app
        .cancel_booking(office.resident(), &id, &json!({ "note": "临时出差" }))
        .await
        .expect(200)
        .body;
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["cancel_fee_fen"], 5_980);
    let refund_id = cancelled["refund_id"]
        .as_str()
        .expect("a refund")
        .to_owned();
    let refunds = app
        .list_refunds(office.resident(), paid["id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    let refund = refunds["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(refund_id))
        .cloned()
        .expect("the refund");
    assert_eq!(refund["amount_fen"], 29_900 - 5_980);
    assert_eq!(refund["state"], "succeeded");
    let payment = app
        .get_payment(office.resident(), paid["id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(payment["refunded_fen"], 29_900 - 5_980);
    // The place is free again; the team leader is told not to come.
    assert_eq!(office.slot(&service, local(27, 9)).await["free"], 1);
    office.push(CLEANER_TOKEN, &id, "cancelled").await;
    // Cancelled once: a second cancel is refused and refunds nothing more.
    app.cancel_booking(office.resident(), &id, &json!({}))
        .await
        .expect_problem(409, "/problems/wrong-state");

    // Booked early and cancelled more than 24 hours ahead, unpaid: free, its bill cancelled.
    let slot = office.slot(&service, local(28, 9)).await;
    let second = office
        .book(&service, slot["id"].as_str().unwrap(), json!({}))
        .await;
    let second_bill = second["bill_id"].as_str().unwrap().to_owned();
    let free = app
        .cancel_booking(
            office.resident(),
            second["id"].as_str().unwrap(),
            &json!({}),
        )
        .await
        .expect(200)
        .body;
    assert!(free.get("cancel_fee_fen").is_none());
    assert!(free.get("refund_id").is_none());
    assert_eq!(
        app.get_bill(office.resident(), &second_bill)
            .await
            .expect(200)
            .body["state"],
        "cancelled"
    );
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn fifty_requests_for_the_last_place_make_exactly_one_booking() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = office
        .service(json!({ "team_id": office.cleaning, "category": "cleaning", "name": "擦窗", "pricing": "per_hour", "price_fen": 4_000 }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let slot = office.slot(&service, local(27, 11)).await;
    assert_eq!(slot["free"], 1);
    let body = json!({ "service_id": service, "household_id": office.world.a.household, "slot_id": slot["id"] });
    let replies =
        futures::future::join_all((0..50).map(|_| app.create_booking(office.resident(), &body)))
            .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let full: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(
        created,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(full.len(), 49);
    for r in full {
        assert_eq!(r.body["type"], "/problems/slot-full");
        assert!(
            r.header("content-type")
                .starts_with("application/problem+json")
        );
    }
    let after = office.slot(&service, local(27, 11)).await;
    assert_eq!(
        (
            after["booked"].as_u64(),
            after["free"].as_u64(),
            after["bookable"].as_bool()
        ),
        (Some(1), Some(0), Some(false))
    );
    let mine = app
        .list_bookings(
            office.resident(),
            &[("team_id", &office.cleaning.to_string())],
        )
        .await
        .expect(200)
        .body;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_booking_left_unpaid_past_its_window_is_cancelled_and_its_place_freed() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = office
        .service(
            json!({ "team_id": office.cleaning, "category": "cleaning", "name": "空调清洗",
                         "pricing": "fixed", "price_fen": 12_000 }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nine = office.slot(&service, local(27, 9)).await;
    let eleven = office.slot(&service, local(27, 11)).await;
    let unpaid = office
        .book(&service, nine["id"].as_str().unwrap(), json!({}))
        .await;
    let paid = office
        .book(&service, eleven["id"].as_str().unwrap(), json!({}))
        .await;
    office.pay(paid["bill_id"].as_str().unwrap()).await;
    let id = unpaid["id"].as_str().unwrap().to_owned();
    // 29 minutes: still held.
    app.clock.advance(chrono::Duration::minutes(29));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.get_booking(office.resident(), &id)
            .await
            .expect(200)
            .body["state"],
        "submitted"
    );
    // Past the 30-minute window: cancelled by the workers, the resident told.
    app.clock.advance(chrono::Duration::minutes(2));
    app.wait_for("the unpaid booking cancelled", 10, || async {
        app.get_booking(office.resident(), &id).await.body["state"] == "cancelled"
    })
    .await;
    let told = office
        .push(&office.resident_token(), &id, "cancelled")
        .await;
    assert!(alert(&told).contains("空调清洗"), "{}", alert(&told));
    let ticket = app.get_ticket(office.admin(), &id).await.expect(200).body;
    let cancelled = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "cancelled")
        .cloned()
        .unwrap();
    assert_eq!(cancelled["actor_kind"], "system");
    assert_eq!(
        app.get_bill(office.resident(), unpaid["bill_id"].as_str().unwrap())
            .await
            .expect(200)
            .body["state"],
        "cancelled"
    );
    assert_eq!(office.slot(&service, local(27, 9)).await["free"], 1);
    // The paid one keeps its place.
    let kept = app
        .get_booking(office.resident(), paid["id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(
        (kept["state"].as_str(), kept["paid"].as_bool()),
        (Some("submitted"), Some(true))
    );
    assert_eq!(office.slot(&service, local(27, 11)).await["free"], 0);
    app.assert_no_jobs_left().await;
}
