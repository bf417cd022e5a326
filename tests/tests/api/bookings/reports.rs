//! The office's view of bookings: a team's calendar, utilisation and revenue per service,
//! the bookings CSV, and bookings in the ticket KPIs.

use serde_json::json;

use super::office::*;

#[tokio::test]
async fn the_calendar_report_and_export_show_the_bookings() {
    let (app, apns) = app().await;
    let office = Office::new(&app, &apns, 2).await;
    let hourly = office
        .service(
            json!({ "team_id": office.cleaning, "category": "cleaning", "name": "日常保洁（钟点）",
                         "pricing": "per_hour", "price_fen": 5_000, "min_quantity": 2 }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let slot = office.slot(&hourly, local(27, 9)).await;
    let slot = slot["id"].as_str().unwrap();
    // One done and paid, one cancelled, in the same slot of Friday 27 November.
    let done = office.book(&hourly, slot, json!({ "hours": 2 })).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dropped = office.book(&hourly, slot, json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let desk = office.world.token("front_desk");
    let cleaner = office.world.token("cleaner");
    app.confirm_booking(desk, &done, &json!({}))
        .await
        .expect(200);
    app.accept_ticket(cleaner, &done).await.expect(200);
    app.arrive_ticket(cleaner, &done).await.expect(200);
    let completed = app
        .complete_booking(cleaner, &done, &json!({ "hours": 3 }))
        .await
        .expect(200)
        .body;
    office.pay(completed["bill_id"].as_str().unwrap()).await;
    app.cancel_booking(office.resident(), &dropped, &json!({}))
        .await
        .expect(200);

    // The calendar: Friday's four slots; the first holds the done booking (the cancelled
    // one gave its place back).
    let calendar = app
        .get_team_calendar(
            desk,
            office.cleaning,
            &[("from", "2026-11-27"), ("days", "2")],
        )
        .await
        .expect(200)
        .body;
    let friday = &calendar["days"][0];
    assert_eq!(friday["date"], "2026-11-27");
    assert_eq!(friday["slots"].as_array().map(Vec::len), Some(4));
    let first = &friday["slots"][0];
    assert_eq!(
        (first["capacity"].as_u64(), first["booked"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(first["bookings"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["bookings"][0]["booking_id"], json!(done));
    assert_eq!(first["bookings"][0]["state"], "completed");
    app.get_team_calendar(office.resident(), office.cleaning, &[])
        .await
        .expect_problem(403, "/problems/forbidden");

    // The report over Friday alone: two bookings of the hourly service, one done, one
    // cancelled; ¥150.00 paid; the team offered 4 slots × 2 places and 1 is taken.
    let report = app
        .get_service_report(
            office.admin(),
            office.world.a.community,
            &[("from", "2026-11-27"), ("to", "2026-11-28")],
        )
        .await
        .expect(200)
        .body;
    let line = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["service_id"] == json!(hourly))
        .cloned()
        .expect("the hourly service's line");
    assert_eq!(
        (
            line["bookings"].as_u64(),
            line["completed"].as_u64(),
            line["cancelled"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(
        (line["billed_fen"].as_i64(), line["paid_fen"].as_i64()),
        (Some(15_000), Some(15_000))
    );
    let team = report["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team_id"] == json!(office.cleaning))
        .cloned()
        .expect("the cleaning team's line");
    assert_eq!(
        (
            team["slots"].as_u64(),
            team["capacity"].as_u64(),
            team["booked"].as_u64(),
            team["utilisation_bp"].as_u64()
        ),
        (Some(4), Some(8), Some(1), Some(1_250))
    );
    app.get_service_report(
        office.admin(),
        office.world.a.community,
        &[("from", "2026-11-27"), ("to", "2027-03-01")],
    )
    .await
    .expect_problem(422, "/problems/validation");

    // The CSV: both bookings, amounts in fen and yuan.
    let csv = app
        .export_bookings(
            office.admin(),
            office.world.a.community,
            &[("from", "2026-11-27"), ("to", "2026-11-28")],
        )
        .await
        .expect(200);
    let text = csv.text.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let of = |id: &str| rows.iter().find(|r| &r[0] == id).cloned().expect("a row");
    let row = of(&done);
    assert_eq!(
        (&row[1], &row[5], &row[12], &row[13], &row[15]),
        ("日常保洁（钟点）", "completed", "15000", "150.00", "paid")
    );
    assert_eq!(&of(&dropped)[5], "cancelled");

    // Bookings count in the ticket KPIs.
    let kpis = app
        .ticket_kpis(office.admin(), office.world.a.community, &[])
        .await
        .expect(200)
        .body;
    assert!(kpis["bookings_reported"].as_u64() >= Some(2), "{kpis}");
}
