//! A laundry round trip end to end: picked up with every item counted and its condition
//! recorded, at the vendor with a return date, returned and checked (a damaged and a
//! missing item become claims), delivered and charged for what came back, the claim
//! settled by the front desk; every step pushed to the resident.

use serde_json::json;

use super::office::*;

#[tokio::test]
async fn a_laundry_round_trip_with_a_damaged_item_claim() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 2).await;
    let service = office
        .service(
            json!({ "team_id": office.cleaning, "category": "laundry", "name": "洗衣（按件）",
                         "pricing": "per_item", "price_fen": 1_500 }),
        )
        .await;
    assert_eq!(service["price_label"], "¥15.00/件");
    let service = service["id"].as_str().unwrap().to_owned();
    let slot = office.slot(&service, local(27, 9)).await;
    let id = office
        .book(
            &service,
            slot["id"].as_str().unwrap(),
            json!({ "notes": "大衣请干洗" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let desk = office.world.token("front_desk");
    app.confirm_booking(desk, &id, &json!({})).await.expect(200);
    let cleaner = office.world.token("cleaner");
    app.accept_ticket(cleaner, &id).await.expect(200);
    let booked = app
        .get_booking(office.resident(), &id)
        .await
        .expect(200)
        .body;
    assert!(
        booked["laundry"]["items"].as_array().unwrap().is_empty(),
        "{booked}"
    );
    assert!(booked["laundry"].get("stage").is_none());

    // Steps go in order, by the team.
    app.record_laundry_step(
        cleaner,
        &id,
        &json!({ "stage": "at_vendor", "return_on": "2026-11-30" }),
    )
    .await
    .expect_problem(409, "/problems/wrong-state");
    let items = json!([
        { "name": "羊毛大衣", "condition": "左袖口有污渍", "photos": ["https://img.example/coat.jpg"] },
        { "name": "衬衫" },
        { "name": "西裤" }
    ]);
    app.record_laundry_step(
        office.resident(),
        &id,
        &json!({ "stage": "picked_up", "items": items }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    app.record_laundry_step(cleaner, &id, &json!({ "stage": "picked_up", "items": [] }))
        .await
        .expect_problem(422, "/problems/validation");
    let picked = app
        .record_laundry_step(
            cleaner,
            &id,
            &json!({ "stage": "picked_up", "items": items }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(picked["state"], "on_site");
    assert_eq!(picked["laundry"]["stage"], "picked_up");
    let counted = picked["laundry"]["items"].as_array().unwrap().clone();
    assert_eq!(counted.len(), 3);
    assert_eq!(counted[0]["condition"], "左袖口有污渍");
    assert_eq!(
        counted[0]["photos"],
        json!(["https://img.example/coat.jpg"])
    );
    let told = office
        .push(&office.resident_token(), &id, "picked_up")
        .await;
    assert!(alert(&told).contains("共 3 件"), "{}", alert(&told));
    // Not delivered before it is back and checked.
    app.complete_booking(cleaner, &id, &json!({}))
        .await
        .expect_problem(409, "/problems/laundry-step-out-of-order");
    app.record_laundry_step(cleaner, &id, &json!({ "stage": "returned", "checks": [] }))
        .await
        .expect_problem(409, "/problems/laundry-step-out-of-order");
    app.record_laundry_step(cleaner, &id, &json!({ "stage": "at_vendor" }))
        .await
        .expect_problem(422, "/problems/validation");
    let out = app
        .record_laundry_step(
            cleaner,
            &id,
            &json!({ "stage": "at_vendor", "return_on": "2026-11-30" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(out["laundry"]["return_on"], "2026-11-30");
    let told = office
        .push(&office.resident_token(), &id, "at_vendor")
        .await;
    assert!(alert(&told).contains("11月30日"), "{}", alert(&told));

    // Back: every item checked; the shirt is damaged, the trousers missing.
    let coat = counted[0]["id"].clone();
    let shirt = counted[1]["id"].clone();
    let trousers = counted[2]["id"].clone();
    app.record_laundry_step(
        desk,
        &id,
        &json!({ "stage": "returned", "checks": [{ "item_id": coat, "returned": true }] }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    let back = app
        .record_laundry_step(
            desk,
            &id,
            &json!({ "stage": "returned", "checks": [
                { "item_id": coat, "returned": true, "condition": "污渍已除" },
                { "item_id": shirt, "returned": true, "damaged": true, "condition": "领口开线",
                  "photos": ["https://img.example/collar.jpg"] },
                { "item_id": trousers, "returned": false }
            ] }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(back["laundry"]["stage"], "returned");
    let claims = back["claims"].as_array().unwrap().clone();
    let kinds: Vec<(&str, &str)> = claims
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("damaged", "open"), ("missing", "open")]);
    assert_eq!(claims[0]["item_id"], shirt);
    assert!(
        claims[0]["note"].as_str().unwrap().contains("领口开线"),
        "{}",
        claims[0]
    );
    assert_eq!(
        claims[0]["photos"],
        json!(["https://img.example/collar.jpg"])
    );
    assert_eq!(back["laundry"]["items"][2]["returned"], false);
    let told = office.push(&office.resident_token(), &id, "returned").await;
    assert!(
        alert(&told).contains("其中 2 件缺失或损坏"),
        "{}",
        alert(&told)
    );
    // The same item is claimed once.
    app.create_booking_claim(
        office.resident(),
        &id,
        &json!({ "item_id": shirt, "kind": "damaged", "note": "领口坏了" }),
    )
    .await
    .expect_problem(409, "/problems/already-claimed");

    // Delivered: charged for the two items that came back.
    let done = app
        .complete_booking(cleaner, &id, &json!({ "note": "已送还" }))
        .await
        .expect(200)
        .body;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["laundry"]["stage"], "delivered");
    assert_eq!(
        (
            done["worked_quantity"].as_u64(),
            done["amount_fen"].as_i64()
        ),
        (Some(2), Some(3_000))
    );
    let bill = app
        .get_bill(office.resident(), done["bill_id"].as_str().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(bill["lines"][0]["quantity"], "2.000");
    // On delivery the resident finds a stain on the coat: their own claim.
    let claimed = app
        .create_booking_claim(
            office.resident(),
            &id,
            &json!({ "item_id": coat, "kind": "damaged", "note": "大衣纽扣掉了一颗" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(claimed["claims"].as_array().map(Vec::len), Some(3));
    let order = office.push(CLEANER_TOKEN, &id, "claim_recorded").await;
    assert!(alert(&order).contains("缺失或损坏"), "{}", alert(&order));

    // The front desk settles the missing trousers; a claim is settled once, by the office.
    let missing = claims[1]["id"].as_str().unwrap();
    app.settle_booking_claim(
        office.resident(),
        missing,
        &json!({ "state": "settled", "resolution": "赔付" }),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    let settled = app
        .settle_booking_claim(
            desk,
            missing,
            &json!({ "state": "settled", "compensation_fen": 8_000,
                                                        "resolution": "按原价五折赔付" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            settled["state"].as_str(),
            settled["compensation_fen"].as_i64()
        ),
        (Some("settled"), Some(8_000))
    );
    app.settle_booking_claim(
        desk,
        missing,
        &json!({ "state": "rejected", "resolution": "再议" }),
    )
    .await
    .expect_problem(409, "/problems/claim-settled");
    office
        .push(&office.resident_token(), &id, "claim_settled")
        .await;
    // Rated as any booking; the history has every step.
    app.rate_ticket(
        office.resident(),
        &id,
        &json!({ "stars": 4, "satisfied": true }),
    )
    .await
    .expect(200);
    let ticket = app.get_ticket(office.admin(), &id).await.expect(200).body;
    let actions: Vec<&str> = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for step in [
        "picked_up",
        "at_vendor",
        "returned",
        "completed",
        "claim_recorded",
        "claim_settled",
        "closed",
    ] {
        assert!(actions.contains(&step), "{step} missing from {actions:?}");
    }
    app.assert_no_jobs_left().await;
}
