//! A populated world for authorization tests: company 1 with community A (where every staff
//! role works) and community B (where none but the admin does), and company 2 with its own
//! community C. Each community has a building, a unit, a household and a resident.

use std::collections::BTreeMap;

use courtyard_domain::people::StaffRole;
use serde_json::json;
use uuid::Uuid;

use crate::{ClockExt, TestApp, Tokens};

/// One community's objects.
#[derive(Debug, Clone)]
pub struct Place {
    /// Community.
    pub community: Uuid,
    /// Building.
    pub building: Uuid,
    /// Unit.
    pub unit: Uuid,
    /// Household.
    pub household: Uuid,
    /// A resident of the household.
    pub resident: Uuid,
    /// The resident's phone.
    pub resident_phone: String,
    /// A butler working there.
    pub butler: Uuid,
    /// The resident's push device.
    pub device: Uuid,
    /// An outage notice to the whole community, already sent.
    pub notice: Uuid,
    /// The resident's inbox message of that notice.
    pub message: Uuid,
    /// One delivery of that notice.
    pub delivery: Uuid,
    /// The resident's tokens.
    pub resident_tokens: Tokens,
    /// The resident's data export (asked for; the workers build it).
    pub export: Uuid,
    /// A repair the resident reported (in A: dispatched to A's engineer, with A's
    /// butler-role staff member as the household's butler).
    pub ticket: Uuid,
    /// A photo on A's ticket (nil elsewhere).
    pub photo: Uuid,
    /// A fee item of the community (物业费, per m²).
    pub fee_item: Uuid,
    /// The bill run of 2026-11, done.
    pub bill_run: Uuid,
    /// The household's bill of 2026-11.
    pub bill: Uuid,
    /// A paid bill of 2026-10 and its payment, recorded at the front desk.
    pub payment: Uuid,
    /// An open arrears follow-up for the household, nobody's in particular.
    pub follow_up: Uuid,
    /// A cleaner who leads the community's cleaning team (not among the world's role
    /// tokens, so a confirmed booking gives no tested role a capacity).
    pub team_lead: Uuid,
    /// The cleaning team.
    pub team: Uuid,
    /// Its per-hour cleaning service.
    pub service: Uuid,
    /// Its slot of 27 November 09:00 (Shanghai).
    pub slot: Uuid,
    /// A booking of that slot by the resident, its time not yet confirmed.
    pub booking: Uuid,
    /// A claim on that booking (written directly: a claim needs the work under way).
    pub claim: Uuid,
    /// A monthly package month of the household (a weekly Tuesday 09:00 cleaning),
    /// cancelled.
    pub package: Uuid,
}

/// The world.
pub struct World {
    /// Company 1's admin.
    pub admin: Tokens,
    /// Company 1, community A: every role works here.
    pub a: Place,
    /// Company 1, community B: only the admin.
    pub b: Place,
    /// Company 2, community C.
    pub c: Place,
    /// Company 2's admin.
    pub admin2: Tokens,
    /// Staff of community A by role (admin included): id and tokens.
    pub staff: BTreeMap<&'static str, (Uuid, Tokens)>,
    /// The resident of A's household, logged in.
    pub resident: Tokens,
}

/// The smallest file the photo check takes for a JPEG.
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0,
];

/// Password of every staff member the world creates.
pub const STAFF_PASSWORD: &str = "staff-password";

impl World {
    /// Builds the world through the API.
    pub async fn build(app: &TestApp) -> World {
        let (_, admin) = app.bootstrap_admin("Company One").await;
        let (_, admin2) = app.bootstrap_admin("Company Two").await;
        let a = place(app, &admin, "A", "13800000101").await;
        let b = place(app, &admin, "B", "13800000102").await;
        let c = place(app, &admin2, "C", "13800000103").await;
        let mut staff = BTreeMap::new();
        for role in StaffRole::ALL {
            if *role == StaffRole::Admin {
                continue;
            }
            let username = format!("{}-a", role.as_str().replace('_', "-"));
            let created = app
                .post(
                    "/v1/staff",
                    Some(&admin.access),
                    json!({
                        "name": format!("{} of A", role.as_str()),
                        "username": username,
                        "password": STAFF_PASSWORD,
                        "role": role.as_str(),
                        "community_ids": [a.community],
                    }),
                )
                .await
                .expect(201);
            let tokens = app.login_staff(&username, STAFF_PASSWORD).await;
            staff.insert(role.as_str(), (created.id(), tokens));
        }
        let admin_id = app.get("/v1/me", &admin.access).await.expect(200).id();
        staff.insert("admin", (admin_id, admin.clone()));
        let resident = a.resident_tokens.clone();
        // A's butler-role staff member cares for A's building, so A's ticket has them as
        // its butler; A's engineer is its assignee.
        app.put(
            &format!("/v1/staff/{}/assignments", staff["butler"].0),
            &admin.access,
            json!({ "building_ids": [a.building], "household_ids": [] }),
        )
        .await
        .expect(200);
        let mut a = a;
        let (mut b, mut c) = (b, c);
        for place in [&mut a, &mut b, &mut c] {
            place.ticket = app
                .post(
                    "/v1/repairs",
                    Some(&place.resident_tokens.access),
                    json!({
                        "household_id": place.household,
                        "category": "water",
                        "urgency": "ordinary",
                        "description": "厨房水龙头漏水",
                    }),
                )
                .await
                .expect(201)
                .id();
        }
        app.post(
            &format!("/v1/tickets/{}/dispatch", a.ticket),
            Some(&admin.access),
            json!({ "assignee_id": staff["engineer"].0 }),
        )
        .await
        .expect(200);
        let uploaded = app
            .upload_ticket_photos(a.ticket, &a.resident_tokens.access, &[JPEG])
            .await
            .expect(201);
        for place in [&mut a, &mut b, &mut c] {
            place.booking = app
                .post(
                    "/v1/bookings",
                    Some(&place.resident_tokens.access),
                    json!({ "service_id": place.service, "household_id": place.household, "slot_id": place.slot }),
                )
                .await
                .expect(201)
                .id();
        }
        for place in [&mut a, &mut b, &mut c] {
            use sea_orm::{ActiveValue::Set, EntityTrait};
            place.claim = courtyard_domain::new_id();
            courtyard_domain::entities::booking_claim::Entity::insert(
                courtyard_domain::entities::booking_claim::ActiveModel {
                    id: Set(place.claim),
                    booking_id: Set(place.booking),
                    item_id: Set(None),
                    kind: Set("damaged".into()),
                    note: Set("地板划痕".into()),
                    photos: Set(json!([])),
                    state: Set("open".into()),
                    compensation_fen: Set(None),
                    resolution: Set(None),
                    raised_by_kind: Set("resident".into()),
                    raised_by: Set(Some(place.resident)),
                    settled_by: Set(None),
                    created_at: Set(app.clock.now_utc()),
                    settled_at: Set(None),
                },
            )
            .exec_without_returning(&app.db)
            .await
            .expect("claim");
        }
        a.photo = uploaded.body[0]["id"]
            .as_str()
            .expect("a photo id")
            .parse()
            .expect("uuid");
        // The dispatch's pushes go out now, not among the sends a test counts.
        app.wait_for_idle().await;
        World {
            admin2,
            admin,
            a,
            b,
            c,
            staff,
            resident,
        }
    }

    /// Tokens of a staff role in community A.
    pub fn token(&self, role: &str) -> &str {
        &self.staff[role].1.access
    }
}

async fn place(app: &TestApp, admin: &Tokens, name: &str, phone: &str) -> Place {
    let token = admin.access.as_str();
    let community = app
        .post(
            "/v1/communities",
            Some(token),
            json!({ "name": format!("Community {name}") }),
        )
        .await
        .expect(201)
        .id();
    let building = app
        .post(
            &format!("/v1/communities/{community}/buildings"),
            Some(token),
            json!({ "name": "1栋" }),
        )
        .await
        .expect(201)
        .id();
    let unit = app
        .post(
            &format!("/v1/buildings/{building}/units"),
            Some(token),
            json!({ "name": "1单元" }),
        )
        .await
        .expect(201)
        .id();
    let household = app
        .post(
            &format!("/v1/units/{unit}/households"),
            Some(token),
            json!({ "room_number": "101", "floor": 1, "floor_area_m2": 88.5 }),
        )
        .await
        .expect(201)
        .id();
    let resident = app
        .post(
            "/v1/residents",
            Some(token),
            json!({
                "name": format!("Resident {name}"),
                "phone": phone,
                "memberships": [{ "household_id": household, "role": "owner" }],
            }),
        )
        .await
        .expect(201)
        .id();
    let butler = app
        .post(
            "/v1/staff",
            Some(token),
            json!({
                "name": format!("Butler {name}"),
                "username": format!("place-butler-{}", name.to_lowercase()),
                "password": STAFF_PASSWORD,
                "role": "butler",
                "community_ids": [community],
            }),
        )
        .await
        .expect(201)
        .id();
    let resident_tokens = app.login_resident(phone).await;
    let export = app
        .post(
            "/v1/me/data-exports",
            Some(&resident_tokens.access),
            json!({}),
        )
        .await
        .expect(202)
        .id();
    // An account closing asked for and thought better of: the request stays, cancelled.
    app.post(
        "/v1/me/erasure-request",
        Some(&resident_tokens.access),
        json!({}),
    )
    .await
    .expect(202);
    app.delete("/v1/me/erasure-request", &resident_tokens.access)
        .await
        .expect(200);
    let device = app
        .post(
            "/v1/me/devices",
            Some(&resident_tokens.access),
            json!({ "platform": "ios", "provider": "apns", "token": format!("{:0>64}", &phone[3..]), "topic": "com.courtyard.resident" }),
        )
        .await
        .expect(201)
        .id();
    let notice = app
        .post(
            &format!("/v1/communities/{community}/notices"),
            Some(token),
            json!({
                "category": "water_outage",
                "title": "停水通知",
                "body": "明日停水。",
                "reason": "水管检修",
                "restores_at": "2030-01-01T10:00:00Z",
            }),
        )
        .await
        .expect(201)
        .id();
    app.wait_for_notice(notice, token).await;
    let inbox = app
        .get("/v1/me/messages", &resident_tokens.access)
        .await
        .expect(200);
    let message = inbox.body["items"][0]["id"]
        .as_str()
        .expect("a message")
        .parse()
        .expect("uuid");
    let trail = app
        .get(&format!("/v1/notices/{notice}/recipients"), token)
        .await
        .expect(200);
    let delivery = trail.body["items"][0]["deliveries"][0]["id"]
        .as_str()
        .expect("a delivery")
        .parse()
        .expect("uuid");
    let fee_item = app
        .create_fee_item(
            token,
            community,
            &json!({ "name": "物业费", "kind": "area", "unit_price": "2.35" }),
        )
        .await
        .expect(201)
        .id();
    let bill_run = app
        .create_bill_run(token, community, &json!({ "period": "2026-11" }))
        .await
        .expect(202)
        .id();
    let bill = app.wait_for_bill(household, "2026-11", token).await;
    app.create_bill_run(token, community, &json!({ "period": "2026-10" }))
        .await
        .expect(202);
    let october = app.wait_for_bill(household, "2026-10", token).await;
    let payment = app
        .record_offline_payment(
            token,
            household,
            &json!({ "bill_ids": [october], "method": "cash" }),
        )
        .await
        .expect(201)
        .id();
    // The reminder job raises follow-ups; the world has one without running it.
    let follow_up = courtyard_domain::new_id();
    {
        use sea_orm::{ActiveValue::Set, EntityTrait};
        courtyard_domain::entities::follow_up::Entity::insert(
            courtyard_domain::entities::follow_up::ActiveModel {
                id: Set(follow_up),
                community_id: Set(community),
                household_id: Set(household),
                butler_id: Set(None),
                reason: Set("arrears".into()),
                reminder_id: Set(None),
                created_at: Set(app.clock.now_utc()),
                done_at: Set(None),
                done_by: Set(None),
                done_note: Set(None),
            },
        )
        .exec_without_returning(&app.db)
        .await
        .expect("follow-up");
    }
    // A cleaning team with its leader, a per-hour service and a slot on 27 November.
    let lead = app
        .post(
            "/v1/staff",
            Some(token),
            json!({
                "name": format!("Lead {name}"),
                "username": format!("place-lead-{}", name.to_lowercase()),
                "password": STAFF_PASSWORD,
                "role": "cleaner",
                "community_ids": [community],
            }),
        )
        .await
        .expect(201)
        .id();
    let team = app
        .post(
            &format!("/v1/communities/{community}/service-teams"),
            Some(token),
            json!({ "name": "保洁组", "department": "cleaning", "leader_id": lead, "member_ids": [], "size": 20 }),
        )
        .await
        .expect(201)
        .id();
    let service = app
        .post(
            &format!("/v1/communities/{community}/services"),
            Some(token),
            json!({ "team_id": team, "category": "cleaning", "name": "日常保洁", "pricing": "per_hour", "price_fen": 5000 }),
        )
        .await
        .expect(201)
        .id();
    let slots = app
        .get(
            &format!("/v1/services/{service}/slots?date=2026-11-27"),
            token,
        )
        .await
        .expect(200);
    let slot: Uuid = slots.body[0]["id"]
        .as_str()
        .expect("a slot")
        .parse()
        .expect("uuid");
    let monthly = app
        .post(
            &format!("/v1/communities/{community}/services"),
            Some(token),
            json!({ "team_id": team, "category": "cleaning", "name": "包月保洁", "pricing": "package",
                    "price_fen": 40000, "visits_per_month": 4 }),
        )
        .await
        .expect(201)
        .id();
    let package = app
        .post(
            "/v1/packages",
            Some(token),
            json!({ "service_id": monthly, "household_id": household, "resident_id": resident,
                    "weekday": 2, "start_time": "09:00", "period": "2026-12" }),
        )
        .await
        .expect(201)
        .id();
    // Cancelled at once: its open bill and its visits stay out of other tests' way.
    app.post(
        &format!("/v1/packages/{package}/cancel"),
        Some(token),
        json!({ "note": "world" }),
    )
    .await
    .expect(200);
    Place {
        claim: Uuid::nil(),
        package,
        team_lead: lead,
        team,
        service,
        slot,
        booking: Uuid::nil(),
        community,
        building,
        unit,
        household,
        resident,
        resident_phone: phone.into(),
        butler,
        device,
        notice,
        message,
        delivery,
        resident_tokens,
        export,
        ticket: Uuid::nil(),
        photo: Uuid::nil(),
        fee_item,
        bill_run,
        bill,
        payment,
        follow_up,
    }
}
