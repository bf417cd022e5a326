//! The office a booking test works in: community A's cleaning and greenery teams with
//! their leaders' push devices, its price list, and the steps a resident takes.

use chrono::{DateTime, TimeZone, Utc};
use courtyard_tests::{
    TestApp,
    mocks::apns::{ApnsRequest, MockApns},
    world::World,
};
use serde_json::{Value, json};
use uuid::Uuid;

pub(super) const CLEANER_TOKEN: &str =
    "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
pub(super) const GARDENER_TOKEN: &str =
    "9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a";

pub(super) async fn app() -> (TestApp, MockApns) {
    courtyard_tests::spawn_app_with_apns().await
}

/// 2026-11-25 10:00 in Shanghai is the test's start; `local(27, 9)` is 27 November 09:00.
pub(super) fn local(day: u32, hour: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) struct Office<'a> {
    pub(super) app: &'a TestApp,
    pub(super) apns: &'a MockApns,
    pub(super) world: World,
    pub(super) cleaning: Uuid,
    pub(super) greenery: Uuid,
}

impl<'a> Office<'a> {
    /// A's cleaning team (its cleaner leads it; `size` crews) and greenery team (its
    /// gardener), with their staff's push devices.
    pub(super) async fn new(app: &'a TestApp, apns: &'a MockApns, size: u32) -> Office<'a> {
        let world = World::build(app).await;
        let admin = world.admin.access.clone();
        let community = world.a.community;
        let cleaning = app
            .create_service_team(
                &admin,
                community,
                &json!({ "name": "保洁一组", "department": "cleaning", "leader_id": world.staff["cleaner"].0,
                         "member_ids": [], "size": size, "slot_minutes": 120 }),
            )
            .await
            .expect(201)
            .id();
        let greenery = app
            .create_service_team(
                &admin,
                community,
                &json!({ "name": "绿化组", "department": "greenery", "leader_id": world.staff["gardener"].0,
                         "member_ids": [], "size": 2, "slot_minutes": 240 }),
            )
            .await
            .expect(201)
            .id();
        for (role, token) in [("cleaner", CLEANER_TOKEN), ("gardener", GARDENER_TOKEN)] {
            app.register_device(
                world.token(role),
                &json!({ "platform": "ios", "provider": "apns", "token": token, "topic": "com.courtyard.staff" }),
            )
            .await
            .expect(201);
        }
        Office {
            app,
            apns,
            world,
            cleaning,
            greenery,
        }
    }

    pub(super) fn admin(&self) -> &str {
        &self.world.admin.access
    }

    pub(super) fn resident(&self) -> &str {
        &self.world.resident.access
    }

    pub(super) fn resident_token(&self) -> String {
        format!("{:0>64}", &self.world.a.resident_phone[3..])
    }

    pub(super) async fn service(&self, body: Value) -> Value {
        self.app
            .create_service(self.admin(), self.world.a.community, &body)
            .await
            .expect(201)
            .body
    }

    /// The service's slot starting at `at`.
    pub(super) async fn slot(&self, service: &str, at: DateTime<Utc>) -> Value {
        let date = at
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d")
            .to_string();
        let slots = self
            .app
            .list_service_slots(self.resident(), service, &[("date", &date)])
            .await
            .expect(200)
            .body;
        slots
            .as_array()
            .expect("slots")
            .iter()
            .find(|s| {
                s["starts_at"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                    == Some(at)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no slot at {at}: {slots}"))
    }

    pub(super) async fn book(&self, service: &str, slot: &str, extra: Value) -> Value {
        let mut body = json!({ "service_id": service, "household_id": self.world.a.household, "slot_id": slot });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        self.app
            .create_booking(self.resident(), &body)
            .await
            .expect(201)
            .body
    }

    pub(super) fn accepted(&self, token: &str, ticket: &str, action: &str) -> Vec<ApnsRequest> {
        self.apns
            .requests()
            .into_iter()
            .filter(|r| {
                r.status == 200
                    && r.device_token == token
                    && r.body["ticket_id"] == json!(ticket)
                    && r.body["action"] == action
            })
            .collect()
    }

    /// Waits for a push about `ticket` to `token` whose data names `action`.
    pub(super) async fn push(&self, token: &str, ticket: &str, action: &str) -> ApnsRequest {
        self.app
            .wait_for(
                &format!("a {action} push to {}", &token[..8]),
                10,
                || async { !self.accepted(token, ticket, action).is_empty() },
            )
            .await;
        self.accepted(token, ticket, action).remove(0)
    }

    /// Pays a bill online through the dev provider (the signed, encrypted notify path).
    pub(super) async fn pay(&self, bill: &str) -> Value {
        let payment = self
            .app
            .create_payment(
                self.resident(),
                &json!({ "household_id": self.world.a.household, "bill_ids": [bill] }),
            )
            .await
            .expect(201)
            .body;
        let id = payment["id"].as_str().expect("payment id").to_owned();
        self.app
            .dev_confirm_payment(self.resident(), &id)
            .await
            .expect(200);
        self.app
            .get_payment(self.resident(), &id)
            .await
            .expect(200)
            .body
    }
}

pub(super) fn alert(push: &ApnsRequest) -> String {
    format!(
        "{} {}",
        push.body["aps"]["alert"]["title"], push.body["aps"]["alert"]["body"]
    )
}
