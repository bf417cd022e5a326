//! An unsatisfied rating reopens a booking to the same team; the rework is done and rated,
//! and charged once.

use serde_json::json;

use super::office::*;

#[tokio::test]
async fn an_unsatisfied_booking_is_reworked_by_the_same_team_and_charged_once() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 1).await;
    let service = office
        .service(
            json!({ "team_id": office.cleaning, "category": "cleaning", "name": "日常保洁（钟点）",
                         "pricing": "per_hour", "price_fen": 5_000, "min_quantity": 2 }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let slot = office.slot(&service, local(27, 9)).await;
    let id = office
        .book(&service, slot["id"].as_str().unwrap(), json!({}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let desk = office.world.token("front_desk");
    let cleaner = office.world.token("cleaner");
    app.confirm_booking(desk, &id, &json!({})).await.expect(200);
    app.accept_ticket(cleaner, &id).await.expect(200);
    app.arrive_ticket(cleaner, &id).await.expect(200);
    let done = app
        .complete_booking(cleaner, &id, &json!({ "hours": 2 }))
        .await
        .expect(200)
        .body;
    let bill = done["bill_id"].clone();
    assert_eq!(done["amount_fen"], 10_000);
    let bills_before = bill_count(&app, &office).await;
    // Not satisfied: back to the same team, whose leader is told.
    let reopened = app
        .rate_ticket(
            office.resident(),
            &id,
            &json!({ "stars": 2, "satisfied": false, "comment": "厨房没擦干净" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(reopened["ticket"]["state"], "reopened");
    office.push(CLEANER_TOKEN, &id, "reopened").await;
    let again = app
        .get_booking(office.resident(), &id)
        .await
        .expect(200)
        .body;
    assert_eq!(again["assignee_id"], json!(office.world.staff["cleaner"].0));
    // The desk sends the rework to the same leader; done, it is not charged again.
    app.dispatch_ticket(
        desk,
        &id,
        &json!({ "assignee_id": office.world.staff["cleaner"].0 }),
    )
    .await
    .expect(200);
    app.accept_ticket(cleaner, &id).await.expect(200);
    app.arrive_ticket(cleaner, &id).await.expect(200);
    let redone = app
        .complete_booking(cleaner, &id, &json!({ "hours": 1, "note": "厨房重新清洁" }))
        .await
        .expect(200)
        .body;
    assert_eq!(redone["state"], "completed");
    assert_eq!(
        (redone["amount_fen"].as_i64(), &redone["bill_id"]),
        (Some(10_000), &bill)
    );
    assert_eq!(bill_count(&app, &office).await, bills_before);
    // Satisfied this time: closed, with both rounds in the history.
    app.rate_ticket(
        office.resident(),
        &id,
        &json!({ "stars": 5, "satisfied": true }),
    )
    .await
    .expect(200);
    let ticket = app.get_ticket(office.admin(), &id).await.expect(200).body;
    assert_eq!(ticket["ticket"]["state"], "closed");
    assert_eq!(ticket["ticket"]["rework_count"], 1);
    let completions = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "completed")
        .count();
    assert_eq!(completions, 2);
}

async fn bill_count(app: &courtyard_tests::TestApp, office: &Office<'_>) -> usize {
    app.list_household_bills(office.resident(), office.world.a.household, &[])
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .map_or(0, Vec::len)
}
