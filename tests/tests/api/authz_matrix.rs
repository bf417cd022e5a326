//! Walks every operation of the OpenAPI document with every role: no token → 401; a role the
//! table does not allow → 403; an allowed role with another community's (or company's, or
//! household's) ids → 404; an allowed role with its own ids → neither 401, 403 nor 404.
//! An operation missing from the table fails the test, so new endpoints must be added here.

use std::collections::{BTreeMap, BTreeSet};

use courtyard_tests::{
    spawn_app,
    world::{JPEG, Place, World},
};
use reqwest::Method;
use serde_json::{Value, json};

const ALL_STAFF: &[&str] = &[
    "admin",
    "supervisor",
    "front_desk",
    "butler",
    "engineer",
    "cleaner",
    "gardener",
];
const EVERYONE: &[&str] = &[
    "admin",
    "supervisor",
    "front_desk",
    "butler",
    "engineer",
    "cleaner",
    "gardener",
    "resident",
];
const ROLL_KEEPERS: &[&str] = &["admin", "supervisor", "front_desk"];
const MANAGERS: &[&str] = &["admin", "supervisor"];
const ADMIN: &[&str] = &["admin"];
const STAFF_AND_RESIDENT: &[&str] = EVERYONE;
const RESIDENT: &[&str] = &["resident"];
/// Who reports tickets: residents, and the front desk for them.
const REPORTERS: &[&str] = &["admin", "supervisor", "front_desk", "resident"];
/// Who holds a capacity on A's ticket: the office, its butler, its assignee (the engineer)
/// and its resident.
const TICKET_PARTIES: &[&str] = &[
    "admin",
    "supervisor",
    "front_desk",
    "butler",
    "engineer",
    "resident",
];
/// A's ticket is assigned to A's engineer.
const ASSIGNEE: &[&str] = &["engineer"];
/// Who states a price: the assignee and the office.
const PRICERS: &[&str] = &["admin", "supervisor", "front_desk", "engineer"];
/// Who adds photos to A's ticket: its resident, its assignee and the office.
const PHOTOGRAPHERS: &[&str] = &["admin", "supervisor", "front_desk", "engineer", "resident"];
/// The household's butler.
const BUTLER: &[&str] = &["butler"];
/// Who keeps the fee roll: readings, charges.
const FEE_KEEPERS: &[&str] = ROLL_KEEPERS;
/// Who enters meter readings: the fee keepers and engineering.
const METER_READERS: &[&str] = &["admin", "supervisor", "front_desk", "engineer"];
/// Who reads a household's readings: the meter readers and its residents.
const METER_READERS_AND_RESIDENT: &[&str] =
    &["admin", "supervisor", "front_desk", "engineer", "resident"];
/// Who reads a household's charges: the fee keepers and its residents.
const FEE_KEEPERS_AND_RESIDENT: &[&str] = &["admin", "supervisor", "front_desk", "resident"];
/// Who reads a household's bills: the fee keepers, butlers and its residents.
const BILL_READERS: &[&str] = &["admin", "supervisor", "front_desk", "butler", "resident"];
/// Who holds a capacity on A's booking: the office, the household's butler, its resident
/// (its time is not confirmed: nobody is assigned).
const BOOKING_PARTIES: &[&str] = &["admin", "supervisor", "front_desk", "butler", "resident"];
/// Who confirms, proposes and cancels for the resident: the office.
const BOOKING_DESK: &[&str] = ROLL_KEEPERS;
/// Who may reveal a resident's full phone: the roles that call residents back.
const PHONE_REVEALERS: &[&str] = &["admin", "supervisor", "front_desk", "butler"];
/// The staff who work arrears: the fee keepers and butlers.
const COLLECTORS: &[&str] = &["admin", "supervisor", "front_desk", "butler"];

enum Body {
    None,
    Json(Value),
    Csv(&'static str),
    Photo,
}

struct Case {
    roles: &'static [&'static str],
    body: fn(&Place, usize) -> Body,
}

fn empty(_: &Place, _: usize) -> Body {
    Body::Json(json!({}))
}

fn none(_: &Place, _: usize) -> Body {
    Body::None
}

/// Operations anyone may call without a token.
const PUBLIC: &[&str] = &[
    "send_login_code",
    "sms_login",
    "wechat_login",
    "staff_login",
    "refresh_tokens",
    "logout",
];

fn table() -> BTreeMap<&'static str, Case> {
    let mut t = BTreeMap::new();
    let mut add = |op, roles, body| {
        t.insert(op, Case { roles, body });
    };
    add("get_me", EVERYONE, none);
    add("update_me", EVERYONE, empty);
    add("create_community", ADMIN, |_, n| {
        Body::Json(json!({ "name": format!("New {n}") }))
    });
    add("list_communities", ALL_STAFF, none);
    add("get_community", ALL_STAFF, none);
    add("update_community", ADMIN, empty);
    add("delete_community", ADMIN, none);
    add("create_building", ROLL_KEEPERS, |_, n| {
        Body::Json(json!({ "name": format!("B{n}") }))
    });
    add("list_buildings", ALL_STAFF, none);
    add("update_building", ROLL_KEEPERS, |_, _| {
        Body::Json(json!({ "name": "1栋" }))
    });
    add("delete_building", ROLL_KEEPERS, none);
    add("create_unit", ROLL_KEEPERS, |_, n| {
        Body::Json(json!({ "name": format!("U{n}") }))
    });
    add("list_units", ALL_STAFF, none);
    add("update_unit", ROLL_KEEPERS, |_, _| {
        Body::Json(json!({ "name": "1单元" }))
    });
    add("delete_unit", ROLL_KEEPERS, none);
    add("create_household", ROLL_KEEPERS, |_, n| {
        Body::Json(json!({ "room_number": format!("R{n}"), "floor_area_m2": 50 }))
    });
    add("list_households", ALL_STAFF, none);
    add("get_household", STAFF_AND_RESIDENT, none);
    add("update_household", ROLL_KEEPERS, empty);
    add("delete_household", ROLL_KEEPERS, none);
    add("list_household_members", STAFF_AND_RESIDENT, none);
    add("put_household_member", ROLL_KEEPERS, |_, _| {
        Body::Json(json!({ "role": "owner" }))
    });
    add("delete_household_member", ROLL_KEEPERS, none);
    add("create_resident", ROLL_KEEPERS, |p, n| {
        Body::Json(json!({
            "name": "Someone",
            "phone": format!("139{:08}", n),
            "memberships": [{ "household_id": p.household, "role": "family" }],
        }))
    });
    add("list_residents", ALL_STAFF, none);
    add("get_resident", ALL_STAFF, none);
    add("update_resident", ROLL_KEEPERS, empty);
    add("delete_resident", ADMIN, none);
    add("create_staff", ADMIN, |p, n| {
        Body::Json(json!({
            "name": "New Staff",
            "username": format!("new-staff-{n}"),
            "password": "a-long-password",
            "role": "cleaner",
            "community_ids": [p.community],
        }))
    });
    add("list_staff", MANAGERS, none);
    add("get_staff", MANAGERS, none);
    add("update_staff", ADMIN, empty);
    add("deactivate_staff", ADMIN, none);
    add("get_butler_assignments", MANAGERS, none);
    add("put_butler_assignments", MANAGERS, |p, _| {
        Body::Json(json!({ "building_ids": [p.building], "household_ids": [] }))
    });
    add("import_roll", ROLL_KEEPERS, |_, _| {
        Body::Csv("building,unit,room,area_m2\n9栋,1单元,901,80\n")
    });
    add("register_device", EVERYONE, |_, n| {
        Body::Json(
            json!({ "platform": "android", "provider": "fcm", "token": format!("fcm-token-{n}") }),
        )
    });
    add("list_devices", EVERYONE, none);
    add("delete_device", EVERYONE, none);
    add("get_preferences", RESIDENT, none);
    add("put_preferences", RESIDENT, |_, _| {
        Body::Json(json!({ "channels": {} }))
    });
    add("list_messages", RESIDENT, none);
    add("count_unread_messages", RESIDENT, none);
    add("mark_message_read", RESIDENT, none);
    add("list_staff_messages", ALL_STAFF, none);
    add("mark_staff_messages_read", ALL_STAFF, |_, _| {
        Body::Json(json!({ "ids": [] }))
    });
    add("create_notice", ROLL_KEEPERS, |_, _| {
        Body::Json(json!({ "category": "general", "title": "Hello", "body": "Hi all" }))
    });
    add("list_notices", ROLL_KEEPERS, none);
    add("get_notice", ROLL_KEEPERS, none);
    add("cancel_notice", ROLL_KEEPERS, none);
    add("list_notice_recipients", ROLL_KEEPERS, none);
    add("list_dead_letters", ADMIN, none);
    add("create_repair", REPORTERS, |p, _| {
        Body::Json(json!({
            "household_id": p.household,
            "category": "water",
            "urgency": "ordinary",
            "description": "漏水",
        }))
    });
    add("create_complaint", REPORTERS, |p, _| {
        Body::Json(json!({
            "household_id": p.household,
            "category": "environment",
            "description": "垃圾未清运",
        }))
    });
    add("list_tickets", EVERYONE, none);
    add("list_my_tasks", ALL_STAFF, none);
    add("get_ticket", TICKET_PARTIES, none);
    add("dispatch_ticket", ROLL_KEEPERS, empty);
    add("reassign_ticket", ROLL_KEEPERS, empty);
    add("accept_ticket", ASSIGNEE, none);
    add("arrive_ticket", ASSIGNEE, none);
    add("price_ticket", PRICERS, |_, _| {
        Body::Json(json!({ "fen": 5000 }))
    });
    add("answer_price", RESIDENT, |_, _| {
        Body::Json(json!({ "accept": true }))
    });
    add("answer_complaint", BUTLER, |_, _| {
        Body::Json(json!({ "note": "已上门核实" }))
    });
    add("complete_ticket", ASSIGNEE, empty);
    add("rate_ticket", RESIDENT, |_, _| {
        Body::Json(json!({ "stars": 5, "satisfied": true }))
    });
    add("record_callback", ROLL_KEEPERS, |_, _| {
        Body::Json(json!({ "reached": false }))
    });
    add("cancel_ticket", REPORTERS, empty);
    add("upload_ticket_photos", PHOTOGRAPHERS, |_, _| Body::Photo);
    add("get_ticket_photo", TICKET_PARTIES, none);
    add("list_callbacks", ROLL_KEEPERS, none);
    add("ticket_kpis", MANAGERS, none);
    add("export_tickets", MANAGERS, none);
    add("get_ticket_policy", MANAGERS, none);
    add("put_ticket_policy", ADMIN, |_, _| {
        let span = |m: u32| json!({ "minutes": m });
        let days = |d: f64| json!({ "working_days": d });
        Body::Json(json!({
            "emergency_arrive": span(10),
            "emergency_fix": span(360),
            "simple_fix": days(0.5),
            "ordinary_fix": days(1.0),
            "agreed_max": days(7.0),
            "public_area_fix": days(3.0),
            "repair_callback": span(2880),
            "complaint_answer": span(240),
            "complaint_reply": days(4.0),
            "neighbour_arrive": span(15),
            "attitude_ordinary_reply": days(0.5),
            "attitude_serious_reply": days(2.0),
            "complaint_callback": span(4320),
            "warn_at_percent_left": 20,
            "departments": { "public_facility": "cleaning" },
        }))
    });
    add("replay_dead_letter", ADMIN, none);
    add("get_fee_policy", FEE_KEEPERS, none);
    add("put_fee_policy", ADMIN, |_, _| {
        Body::Json(json!({
            "due_day": 15,
            "late_fee": { "enabled": false, "daily_rate_ppm": 300, "grace_days": 0, "cap_percent": 30 },
        }))
    });
    add("create_fee_item", ADMIN, |_, n| {
        Body::Json(json!({ "name": format!("Fixed {n}"), "kind": "fixed", "unit_price": "10" }))
    });
    add("list_fee_items", FEE_KEEPERS, none);
    add("update_fee_item", ADMIN, |_, _| {
        Body::Json(json!({ "unit_price": "2.35" }))
    });
    add("record_meter_reading", METER_READERS, |_, n| {
        Body::Json(json!({ "meter": "water", "period": "2026-11", "value": format!("{n}") }))
    });
    add("list_meter_readings", METER_READERS_AND_RESIDENT, none);
    add("create_charge", FEE_KEEPERS, |_, _| {
        Body::Json(json!({ "description": "门禁卡补办", "amount_fen": 2000 }))
    });
    add("list_charges", FEE_KEEPERS_AND_RESIDENT, none);
    add("create_bill_run", ADMIN, |_, _| {
        Body::Json(json!({ "period": "2026-12" }))
    });
    add("list_bill_runs", MANAGERS, none);
    add("list_arrears", FEE_KEEPERS, none);
    add("get_collection", FEE_KEEPERS, none);
    add("get_bill_run", MANAGERS, none);
    add("list_household_bills", BILL_READERS, none);
    add("list_my_bills", RESIDENT, none);
    add("get_bill", BILL_READERS, none);
    add("waive_bill", ADMIN, |_, _| {
        Body::Json(json!({ "reason": "减免" }))
    });
    add("create_payment", RESIDENT, |place, _| {
        Body::Json(json!({ "household_id": place.household, "bill_ids": [place.bill] }))
    });
    add("get_payment", BILL_READERS, none);
    add("list_household_payments", BILL_READERS, none);
    add("record_offline_payment", FEE_KEEPERS, |place, _| {
        Body::Json(json!({ "bill_ids": [place.bill], "method": "cash" }))
    });
    add("get_receipt", BILL_READERS, none);
    add("get_receipt_pdf", BILL_READERS, none);
    add("dev_confirm_payment", RESIDENT, none);
    add("create_refund", ADMIN, |_, _| {
        Body::Json(json!({ "amount_fen": 1, "reason": "退款" }))
    });
    add("list_refunds", BILL_READERS, none);
    add("waive_late_fee", ADMIN, |_, _| {
        Body::Json(json!({ "reason": "减免滞纳金" }))
    });
    add("import_meter_readings", METER_READERS, |_, _| {
        Body::Csv("building,unit,room,meter,period,reading\n9栋,1单元,901,water,2026-11,1\n")
    });
    add("export_arrears", FEE_KEEPERS, none);
    add("export_bills", FEE_KEEPERS, none);
    add("get_fee_statement", BILL_READERS, none);
    add("export_fee_statement", BILL_READERS, none);
    add("list_stray_payments", FEE_KEEPERS, none);
    add("record_wechat_consent", RESIDENT, |_, _| {
        Body::Json(json!({ "category": "fee_reminder", "accepted": 1 }))
    });
    add("get_reminder_policy", FEE_KEEPERS, none);
    add("put_reminder_policy", ADMIN, |_, _| {
        Body::Json(
            json!({ "enabled": true, "due_soon_days": 3, "overdue_days": [1, 7, 15, 30],
                           "sms_from_day": 15, "window_from": "09:00", "window_to": "20:00", "follow_up": true }),
        )
    });
    add("list_household_reminders", COLLECTORS, none);
    add("record_reminder_contact", COLLECTORS, |_, _| {
        Body::Json(json!({ "channel": "visit", "note": "上门催缴" }))
    });
    add("list_bill_reminders", COLLECTORS, none);
    add("export_reminders", FEE_KEEPERS, none);
    add("list_follow_ups", COLLECTORS, none);
    add("complete_follow_up", COLLECTORS, |_, n| {
        Body::Json(json!({ "note": format!("已上门 {n}") }))
    });
    add("reissue_bill", ADMIN, |_, _| {
        Body::Json(json!({ "reason": "读数更正" }))
    });
    add("get_service_policy", EVERYONE, none);
    add("put_service_policy", ADMIN, |_, _| {
        Body::Json(json!({
            "confirm": { "minutes": 120 }, "arrive_grace": { "minutes": 15 }, "complete_grace": { "minutes": 60 },
            "cancel_notice_hours": 24, "late_cancel_fee_percent": 20, "late_cancel_min_fen": 0,
            "book_ahead_days": 14, "lead_minutes": 120, "pay_within_minutes": 30, "pay_after_days": 7,
            "package_unused": "lapse", "visit_issue_days": 2
        }))
    });
    add("create_service_team", ADMIN, |p, n| {
        Body::Json(
            json!({ "name": format!("组 {n}"), "department": "cleaning", "leader_id": p.team_lead, "member_ids": [], "size": 2 }),
        )
    });
    add("list_service_teams", ALL_STAFF, none);
    add("update_service_team", ADMIN, empty);
    add("create_service", ADMIN, |p, n| {
        Body::Json(
            json!({ "team_id": p.team, "category": "cleaning", "name": format!("保洁 {n}"), "pricing": "fixed", "price_fen": 10000 }),
        )
    });
    add("list_services", EVERYONE, none);
    add("get_service", EVERYONE, none);
    add("update_service", ADMIN, empty);
    add("list_service_slots", EVERYONE, none);
    add("update_service_slot", MANAGERS, |_, _| {
        Body::Json(json!({ "capacity": 20 }))
    });
    add("create_booking", REPORTERS, |p, _| {
        Body::Json(
            json!({ "service_id": p.service, "household_id": p.household, "slot_id": p.slot }),
        )
    });
    add("list_bookings", EVERYONE, none);
    add("get_booking", BOOKING_PARTIES, none);
    add("confirm_booking", BOOKING_DESK, empty);
    add("propose_booking_slot", BOOKING_DESK, |p, _| {
        Body::Json(json!({ "slot_id": p.slot }))
    });
    add("answer_booking_proposal", RESIDENT, |_, _| {
        Body::Json(json!({ "accept": false }))
    });
    add("complete_booking", &[], empty);
    add(
        "cancel_booking",
        &["admin", "supervisor", "front_desk", "resident"],
        empty,
    );
    add("record_laundry_step", BOOKING_DESK, |_, _| {
        Body::Json(json!({ "stage": "at_vendor", "return_on": "2026-11-30" }))
    });
    add("create_booking_claim", REPORTERS, |_, n| {
        Body::Json(json!({ "kind": "damaged", "note": format!("划痕 {n}") }))
    });
    add("settle_booking_claim", BOOKING_DESK, |_, n| {
        Body::Json(json!({ "state": "rejected", "resolution": format!("非服务造成 {n}") }))
    });
    add("create_package", REPORTERS, |p, _| {
        Body::Json(
            json!({ "service_id": p.service, "household_id": p.household, "weekday": 3, "start_time": "09:00" }),
        )
    });
    add("list_packages", REPORTERS, none);
    add("get_package", REPORTERS, none);
    add("renew_package", REPORTERS, none);
    add("cancel_package", REPORTERS, empty);
    add("get_team_calendar", ROLL_KEEPERS, none);
    add("get_service_report", MANAGERS, none);
    add("export_bookings", MANAGERS, none);
    add("reveal_resident_phone", PHONE_REVEALERS, none);
    add("list_audit_log", MANAGERS, none);
    add("request_data_export", RESIDENT, none);
    add("get_data_export", RESIDENT, none);
    add("download_data_export", RESIDENT, none);
    add("request_erasure", RESIDENT, none);
    add("get_erasure_request", RESIDENT, none);
    add("cancel_erasure", RESIDENT, none);
    add("get_consents", RESIDENT, none);
    add("put_sms_consent", RESIDENT, |_, _| {
        Body::Json(json!({ "granted": true }))
    });
    add("export_audit_log", MANAGERS, none);
    t
}

struct Operation {
    id: String,
    method: Method,
    path: String,
    secured: bool,
}

fn operations() -> Vec<Operation> {
    let spec: Value =
        serde_yaml::from_str(include_str!("../../../openapi/courtyard.yaml")).expect("spec parses");
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push(Operation {
                id: op["operationId"].as_str().expect("operationId").to_owned(),
                method: method.to_uppercase().parse().expect("method"),
                path: path.clone(),
                secured: op
                    .get("security")
                    .is_some_and(|s| !s.as_array().is_some_and(Vec::is_empty)),
            });
        }
    }
    ops
}

fn fill(path: &str, place: &Place) -> String {
    path.replace("{community_id}", &place.community.to_string())
        .replace("{building_id}", &place.building.to_string())
        .replace("{unit_id}", &place.unit.to_string())
        .replace("{household_id}", &place.household.to_string())
        .replace("{resident_id}", &place.resident.to_string())
        .replace("{staff_id}", &place.butler.to_string())
        .replace("{device_id}", &place.device.to_string())
        .replace("{notice_id}", &place.notice.to_string())
        .replace("{message_id}", &place.message.to_string())
        .replace("{delivery_id}", &place.delivery.to_string())
        .replace("{ticket_id}", &place.ticket.to_string())
        .replace("{photo_id}", &place.photo.to_string())
        .replace("{fee_item_id}", &place.fee_item.to_string())
        .replace("{bill_run_id}", &place.bill_run.to_string())
        .replace("{bill_id}", &place.bill.to_string())
        .replace("{payment_id}", &place.payment.to_string())
        .replace("{follow_up_id}", &place.follow_up.to_string())
        .replace("{team_id}", &place.team.to_string())
        .replace("{service_id}", &place.service.to_string())
        .replace("{slot_id}", &place.slot.to_string())
        .replace("{booking_id}", &place.booking.to_string())
        .replace("{claim_id}", &place.claim.to_string())
        .replace("{package_id}", &place.package.to_string())
        .replace("{export_id}", &place.export.to_string())
}

async fn call(
    app: &courtyard_tests::TestApp,
    op: &Operation,
    path: &str,
    token: Option<&str>,
    body: Body,
) -> courtyard_tests::Reply {
    match body {
        Body::None => app.request(op.method.clone(), path, token, None).await,
        Body::Json(value) => {
            app.request(op.method.clone(), path, token, Some(&value))
                .await
        }
        Body::Photo => {
            let part = courtyard_tests::FilePart::new("photos", "a.jpg", "image/jpeg", JPEG);
            app.post_multipart(path, token, &[part]).await
        }
        Body::Csv(text) => {
            app.request_raw(
                op.method.clone(),
                path,
                token,
                "text/csv",
                text.as_bytes().to_vec(),
            )
            .await
        }
    }
}

#[tokio::test]
async fn every_operation_checks_role_scope_and_ownership() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let table = table();
    let ops = operations();

    let in_spec: BTreeSet<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    let in_table: BTreeSet<&str> = table
        .keys()
        .copied()
        .chain(PUBLIC.iter().copied())
        .collect();
    assert_eq!(
        in_spec, in_table,
        "the table must list exactly the operations of the document"
    );

    let mut n = 0;
    let mut checked = 0;
    let mut audited = 0;
    let mut unaudited = BTreeSet::new();
    let mut audited_ops = BTreeSet::new();
    for op in &ops {
        if PUBLIC.contains(&op.id.as_str()) {
            assert!(!op.secured, "{} is public but documents security", op.id);
            continue;
        }
        assert!(op.secured, "{} must document bearer security", op.id);
        let case = &table[op.id.as_str()];

        n += 1;
        let reply = call(
            &app,
            op,
            &fill(&op.path, &world.a),
            None,
            (case.body)(&world.a, n),
        )
        .await;
        assert_eq!(
            reply.status.as_u16(),
            401,
            "{} without a token: {}",
            op.id,
            reply.text
        );
        let reply = call(
            &app,
            op,
            &fill(&op.path, &world.a),
            Some("not-a-jwt"),
            (case.body)(&world.a, n),
        )
        .await;
        assert_eq!(
            reply.status.as_u16(),
            401,
            "{} with a bad token: {}",
            op.id,
            reply.text
        );

        for role in EVERYONE {
            let token = if *role == "resident" {
                world.resident.access.as_str()
            } else {
                world.token(role)
            };
            n += 1;
            if !case.roles.contains(role) {
                let reply = call(
                    &app,
                    op,
                    &fill(&op.path, &world.a),
                    Some(token),
                    (case.body)(&world.a, n),
                )
                .await;
                assert_eq!(
                    reply.status.as_u16(),
                    403,
                    "{} as {role} must be forbidden: {}",
                    op.id,
                    reply.text
                );
                assert_eq!(reply.body["type"], "/problems/forbidden");
                checked += 1;
                continue;
            }
            let has_ids = op.path.contains('{');
            let foreign: Vec<&Place> = if *role == "admin" {
                vec![&world.c]
            } else {
                vec![&world.b, &world.c]
            };
            for place in foreign {
                let body = (case.body)(place, n);
                let body_names_place = matches!(&body, Body::Json(v) if v.to_string().contains(&place.household.to_string()) || v.to_string().contains(&place.community.to_string()) || v.to_string().contains(&place.building.to_string()));
                if !has_ids && !body_names_place {
                    continue;
                }
                let reply = call(&app, op, &fill(&op.path, place), Some(token), body).await;
                let status = reply.status.as_u16();
                let allowed: &[u16] = if has_ids { &[404] } else { &[404, 422] };
                assert!(
                    allowed.contains(&status),
                    "{} as {role} on another place's ids: got {status}: {}",
                    op.id,
                    reply.text
                );
                checked += 1;
            }
            if op.method != Method::DELETE {
                n += 1;
                let reply = call(
                    &app,
                    op,
                    &fill(&op.path, &world.a),
                    Some(token),
                    (case.body)(&world.a, n),
                )
                .await;
                let status = reply.status.as_u16();
                assert!(
                    ![401, 403, 404].contains(&status) && status < 500,
                    "{} as {role} on its own place: got {status}: {}",
                    op.id,
                    reply.text
                );
                checked += 1;
                if *role != "resident" && op.method != Method::GET && reply.status.is_success() {
                    if let Err(e) = audited_row(&app, &op.id, role, &reply).await {
                        unaudited.insert(e);
                    }
                    audited += 1;
                    audited_ops.insert(op.id.as_str());
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} checks ran");
    eprintln!(
        "staff writes checked for their audit row: {audited}, of {} operations: {audited_ops:?}",
        audited_ops.len()
    );
    assert!(
        audited > 90,
        "only {audited} staff writes were checked for their audit row"
    );
    assert!(
        unaudited.is_empty(),
        "staff writes without their audit row:\n{}",
        unaudited.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// A staff write that succeeded left its audit row: the operation as action, the caller as
/// actor with their role, the request's id and the client's address.
async fn audited_row(
    app: &courtyard_tests::TestApp,
    op: &str,
    role: &str,
    reply: &courtyard_tests::Reply,
) -> Result<(), String> {
    use courtyard_domain::entities::audit_entry;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let request_id = reply
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let rows = audit_entry::Entity::find()
        .filter(audit_entry::Column::RequestId.eq(request_id.as_str()))
        .all(&app.db)
        .await
        .expect("audit rows");
    let found = rows.iter().any(|r| {
        r.action == op
            && r.actor_kind == "staff"
            && r.actor_role.as_deref() == Some(role)
            && r.actor_id.is_some()
            && r.client_ip.as_deref() == Some("127.0.0.1")
    });
    if found {
        Ok(())
    } else {
        Err(format!("{op} as {role}: {rows:?}"))
    }
}

#[tokio::test]
async fn residents_see_only_their_own_households() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let own = app
        .get_household(&world.resident.access, world.a.household)
        .await
        .expect(200);
    assert_eq!(own.id(), world.a.household);
    for other in [&world.b, &world.c] {
        app.get_household(&world.resident.access, other.household)
            .await
            .expect_problem(404, "/problems/not-found");
        app.list_household_members(&world.resident.access, other.household)
            .await
            .expect_problem(404, "/problems/not-found");
    }
    let me = app.get_me(&world.resident.access).await.expect(200);
    let households = me.body["households"].as_array().expect("households");
    assert_eq!(households.len(), 1);
    assert_eq!(households[0]["household_id"], json!(world.a.household));
}
