//! The fee office end to end: meter readings imported from CSV (all or nothing, re-import
//! updates), late fees waived by an admin, a household's fee statement, and the CSV
//! exports (arrears, a month's bills, a statement).

use serde_json::{Value, json};
use uuid::Uuid;

use super::fees::{bill_of, estate, lines, run_month};

fn id(v: &Value) -> Uuid {
    Uuid::parse_str(v["id"].as_str().expect("id")).expect("uuid")
}

/// (row, field) of each problem of a 422.
fn problems(body: &Value) -> Vec<(u64, String)> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap_or_default(),
                e["field"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn meter_readings_are_imported_from_csv_all_or_nothing_and_reimports_update() {
    let app = courtyard_tests::spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    app.create_fee_item(
        token,
        e.community,
        &json!({ "name": "水费", "kind": "metered", "meter": "water", "unit_price": "3.45" }),
    )
    .await
    .expect(201);

    // Chinese headers, a BOM, 水 for water.
    let zh = "\u{feff}楼栋,单元,房号,表,月份,读数\n\
              3栋,1单元,1203,水,2026-09,100\n\
              3栋,1单元,1203,水,2026-10,112.5\n\
              3栋,1单元,1204,水,2026-10,50\n";
    let report = app
        .import_meter_readings(token, e.community, zh, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["created"].as_u64(),
            report["updated"].as_u64()
        ),
        (Some(3), Some(3), Some(0))
    );

    // A bad cell refuses the file before anything is looked up.
    let unreadable = "building,unit,room,meter,period,reading\n\
                      3栋,1单元,1204,steam,2026-11,60\n\
                      3栋,1单元,1204,power,2026-13,60\n";
    let refused = app
        .import_meter_readings(token, e.community, unreadable, &[])
        .await
        .expect_problem(422, "/problems/validation")
        .body;
    assert_eq!(
        problems(&refused),
        vec![(2, "meter".to_owned()), (3, "period".to_owned())]
    );
    // Rows that do not fit the community or their meters: every one reported, none written.
    let misfits = "building,unit,room,meter,period,reading\n\
                   3栋,1单元,1203,water,2026-11,110\n\
                   3栋,1单元,9999,water,2026-11,10\n\
                   3栋,1单元,1204,water,2026-11,60\n";
    let refused = app
        .import_meter_readings(token, e.community, misfits, &[])
        .await
        .expect_problem(422, "/problems/validation")
        .body;
    assert_eq!(
        problems(&refused),
        vec![(2, "reading".to_owned()), (3, "room".to_owned())]
    );
    let messages = refused["errors"].to_string();
    assert!(
        messages.contains("112.500"),
        "names the previous reading: {messages}"
    );
    assert!(
        messages.contains("3栋1单元9999"),
        "names the address: {messages}"
    );
    let second = app
        .list_meter_readings(token, e.second, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(1),
        "the valid row of a refused file is not written"
    );

    // A dry run reports and writes nothing; a re-import of a month updates it.
    let again = "building,unit,room,meter,period,reading,replaced_from\n\
                 3栋,1单元,1204,water,2026-10,55,\n\
                 3栋,1单元,1204,water,2026-11,3,0\n";
    let dry = app
        .import_meter_readings(token, e.community, again, &[("dry_run", "true")])
        .await
        .expect(200)
        .body;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        (dry["created"].as_u64(), dry["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let unchanged = app
        .list_meter_readings(token, e.second, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(unchanged["items"][0]["value"], "50.000");
    app.import_meter_readings(token, e.community, again, &[])
        .await
        .expect(200);
    let updated = app
        .list_meter_readings(token, e.second, &[])
        .await
        .expect(200)
        .body;
    let values: Vec<(String, String, Value)> = updated["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap_or_default().to_owned(),
                r["value"].as_str().unwrap_or_default().to_owned(),
                r["replaced_from"].clone(),
            )
        })
        .collect();
    assert_eq!(
        values,
        vec![
            ("2026-10".to_owned(), "55.000".to_owned(), Value::Null),
            ("2026-11".to_owned(), "3.000".to_owned(), json!("0.000")),
        ],
        "a lower reading goes in only as a new meter's"
    );

    // The imported readings bill: 12.5 tons × 3.45 = 43.125 → 4,313 fen.
    run_month(&app, &e, "2026-10").await;
    let bill = bill_of(&app, token, e.first, "2026-10").await;
    assert_eq!(
        lines(&bill),
        vec![super::fees::line(
            "水费",
            Value::Null,
            "12.500",
            "3.4500",
            4_313
        )]
    );

    // Residents do not import; a file without rows is refused.
    app.import_meter_readings(&e.resident.access, e.community, zh, &[])
        .await
        .expect_problem(403, "/problems/forbidden");
    app.import_meter_readings(
        token,
        e.community,
        "building,unit,room,meter,period,reading\n",
        &[],
    )
    .await
    .expect_problem(422, "/problems/validation");
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn an_admin_waives_a_late_fee_once_and_payments_after_it_carry_none() {
    let app = courtyard_tests::spawn_app().await;
    let e = estate(&app).await;
    let token = e.admin.access.as_str();
    app.put_fee_policy(
        token,
        e.community,
        &json!({ "due_day": 15, "late_fee": { "enabled": true, "daily_rate_ppm": 300, "grace_days": 0, "cap_percent": 30 } }),
    )
    .await
    .expect(200);
    app.create_fee_item(
        token,
        e.community,
        &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
    )
    .await
    .expect(201);
    run_month(&app, &e, "2026-10").await;
    // Due 15 November; the test clock is 25 November: ten days late.
    let first = id(&bill_of(&app, token, e.first, "2026-10").await);
    let second = id(&bill_of(&app, token, e.second, "2026-10").await);

    let body = json!({ "reason": "业主长期出差，物业同意减免滞纳金" });
    app.waive_late_fee(&e.resident.access, first, &body)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.waive_late_fee(token, first, &json!({ "reason": "  " }))
        .await
        .expect_problem(422, "/problems/validation");
    let waived = app
        .waive_late_fee(token, first, &body)
        .await
        .expect(200)
        .body;
    assert_eq!(waived["state"], "open", "the bill itself is still owed");
    assert_eq!(waived["late_fee_waive_reason"], body["reason"]);
    assert!(waived["late_fee_waived_at"].is_string());
    app.waive_late_fee(token, first, &body)
        .await
        .expect_problem(409, "/problems/late-fee-waived");

    let paying = app
        .create_payment(
            &e.resident.access,
            &json!({ "household_id": e.first, "bill_ids": [first] }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(paying["late_fee_fen"], 0);
    assert_eq!(paying["amount_fen"], 21_035);
    // Held by a pending payment: its late fee is frozen into that order.
    app.waive_late_fee(token, second, &body).await.expect(200);
    let other = app
        .create_payment(
            &e.resident.access,
            &json!({ "household_id": e.first, "bill_ids": [first] }),
        )
        .await
        .expect(201);
    assert_ne!(id(&other.body), id(&paying));
    let third_bill = {
        run_month(&app, &e, "2026-09").await;
        id(&bill_of(&app, token, e.first, "2026-09").await)
    };
    app.create_payment(
        &e.resident.access,
        &json!({ "household_id": e.first, "bill_ids": [third_bill] }),
    )
    .await
    .expect(201);
    app.waive_late_fee(token, third_bill, &body)
        .await
        .expect_problem(409, "/problems/bill-not-open");

    // Without a waiver the late fee is charged: September's bill, due 15 October, is 41
    // days late: 21,035 × 0.0003 × 41 = 258.73 → 259 fen.
    let offline = app
        .record_offline_payment(
            token,
            e.second,
            &json!({ "bill_ids": [second], "method": "cash" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        offline["late_fee_fen"], 0,
        "waived before it was paid at the desk"
    );
    let paid_late = app
        .get_payment(&e.resident.access, id(&other.body))
        .await
        .expect(200)
        .body;
    assert_eq!(paid_late["late_fee_fen"], 0);
    let september = app
        .list_household_payments(token, e.first, &[])
        .await
        .expect(200)
        .body;
    let with_fee = september["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["bills"][0]["bill_id"] == json!(third_bill))
        .cloned()
        .expect("the September payment");
    assert_eq!(with_fee["late_fee_fen"], 259);
    app.assert_no_jobs_left().await;
}

#[tokio::test]
async fn a_household_statement_and_the_csv_exports_add_up_to_the_fen() {
    let app = courtyard_tests::spawn_app().await;
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
    let first_oct = id(&bill_of(&app, token, e.first, "2026-10").await); // 21,035
    let second_oct = id(&bill_of(&app, token, e.second, "2026-10").await); // 28,200

    // Arrears as CSV: a BOM, a header, one row per household, fen and yuan.
    let arrears = app
        .export_arrears(token, e.community, &[])
        .await
        .expect(200);
    assert!(arrears.header("content-type").starts_with("text/csv"));
    assert_eq!(
        arrears.header("content-disposition"),
        "attachment; filename=\"arrears-2026-11-25.csv\""
    );
    let text = arrears.text.strip_prefix('\u{feff}').expect("a BOM");
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "address,household_id,overdue_bills,owed_fen,owed_yuan,oldest_period,oldest_due_on,days_overdue"
    );
    assert_eq!(
        rows[1],
        format!(
            "3栋1单元1204,{},1,28200,282.00,2026-10,2026-11-15,10",
            e.second
        )
    );
    assert_eq!(
        rows[2],
        format!(
            "3栋1单元1203,{},1,21035,210.35,2026-10,2026-11-15,10",
            e.first
        )
    );
    app.export_arrears(&e.resident.access, e.community, &[])
        .await
        .expect_problem(403, "/problems/forbidden");

    app.record_offline_payment(
        token,
        e.first,
        &json!({ "bill_ids": [first_oct], "method": "cash", "reference": "现金-0001" }),
    )
    .await
    .expect(201);
    app.waive_bill(token, second_oct, &json!({ "reason": "困难户减免" }))
        .await
        .expect(200);

    let statement = app
        .get_fee_statement(
            &e.resident.access,
            e.first,
            &[("from", "2026-10"), ("to", "2026-11")],
        )
        .await
        .expect(200)
        .body;
    assert_eq!(statement["address"], "3栋1单元1203");
    let bills: Vec<(String, String, Value, Value)> = statement["bills"]
        .as_array()
        .expect("bills")
        .iter()
        .map(|b| {
            (
                b["period"].as_str().unwrap_or_default().to_owned(),
                b["state"].as_str().unwrap_or_default().to_owned(),
                b["method"].clone(),
                b["receipt_number"].clone(),
            )
        })
        .collect();
    assert_eq!(
        bills,
        vec![
            (
                "2026-10".into(),
                "paid".into(),
                json!("cash"),
                json!("2026-000001")
            ),
            ("2026-11".into(), "open".into(), Value::Null, Value::Null),
        ]
    );
    for (field, fen) in [
        ("billed_fen", 42_070),
        ("paid_fen", 21_035),
        ("late_fees_paid_fen", 0),
        ("waived_fen", 0),
        ("refunded_fen", 0),
        ("owed_fen", 21_035),
        ("overdue_fen", 0),
    ] {
        assert_eq!(statement[field], fen, "{field}");
    }
    // Another household's statement is not the resident's to see; a backwards span is refused.
    app.get_fee_statement(&e.resident.access, e.second, &[])
        .await
        .expect_problem(404, "/problems/not-found");
    app.get_fee_statement(token, e.first, &[("from", "2026-11"), ("to", "2026-10")])
        .await
        .expect_problem(422, "/problems/validation");
    let waived = app
        .get_fee_statement(token, e.second, &[("from", "2026-10"), ("to", "2026-10")])
        .await
        .expect(200)
        .body;
    assert_eq!(
        (waived["waived_fen"].as_i64(), waived["owed_fen"].as_i64()),
        (Some(28_200), Some(0))
    );

    let csv = app
        .export_fee_statement(
            &e.resident.access,
            e.first,
            &[("from", "2026-10"), ("to", "2026-11")],
        )
        .await
        .expect(200);
    let text = csv.text.strip_prefix('\u{feff}').expect("a BOM");
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 4, "header, two bills, the totals: {text}");
    let october: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(
        [&october[..5], &october[6..]].concat(),
        [
            "2026-10",
            "paid",
            "21035",
            "210.35",
            "2026-11-15",
            "cash",
            "0",
            "2026-000001",
            ""
        ]
    );
    assert!(
        october[5].starts_with("2026-11-25T"),
        "paid at: {}",
        october[5]
    );
    assert!(
        rows[3].starts_with("2026-10–2026-11,total,42070,420.70,"),
        "{}",
        rows[3]
    );
    assert!(rows[3].contains("owed 210.35"), "{}", rows[3]);

    // A month's bills as CSV, by address, with how each was settled.
    let month = app
        .export_bills(token, e.community, &[("period", "2026-10")])
        .await
        .expect(200);
    let text = month.text.strip_prefix('\u{feff}').expect("a BOM");
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        [&rows[0][..6], &rows[0][7..11]].concat(),
        [
            "3栋1单元1203",
            "2026-10",
            "paid",
            "21035",
            "210.35",
            "2026-11-15",
            "0",
            "cash",
            "2026-000001",
            ""
        ]
        .map(String::from)
    );
    assert!(
        rows[0][6].starts_with("2026-11-25T"),
        "paid at: {}",
        rows[0][6]
    );
    assert_eq!(
        rows[1][..5],
        ["3栋1单元1204", "2026-10", "waived", "28200", "282.00"].map(String::from)
    );
    assert_eq!(rows[1][10], "困难户减免");
    app.export_bills(token, e.community, &[("period", "2026-13")])
        .await
        .expect_problem(422, "/problems/validation");
    app.assert_no_jobs_left().await;
}
