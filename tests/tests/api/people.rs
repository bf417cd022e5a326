//! Residents, memberships, staff, butler assignments and one's own profile.

use courtyard_tests::{spawn_app, world::World};
use serde_json::json;

#[tokio::test]
async fn residents_are_registered_found_and_masked_for_field_staff() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let front = world.token("front_desk");
    let created = app
        .create_resident(
            front,
            &json!({
                "name": "李四",
                "phone": "139 1234 5678",
                "birthday": "1975-02-03",
                "locale": "en",
                "memberships": [{ "household_id": world.a.household, "role": "tenant" }],
            }),
        )
        .await
        .expect(201);
    // Every staff view masks the phone; the office reveals it on purpose.
    assert_eq!(created.body["phone"], "139****5678");
    let id = created.id();
    let revealed = app
        .post(
            &format!("/v1/residents/{id}/phone-reveal"),
            Some(front),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(revealed.body["phone"], "13912345678");
    app.create_resident(front, &json!({ "name": "Dup", "phone": "13912345678", "memberships": [{ "household_id": world.a.household, "role": "owner" }] }))
    .await
    .expect_problem(409, "/problems/duplicate-phone");
    app.create_resident(
        front,
        &json!({ "name": "Nobody", "phone": "13912340000", "memberships": [] }),
    )
    .await
    .expect_problem(422, "/problems/validation");

    let community = world.a.community;
    let found = app
        .list_residents(front, community, &[("phone", "13912345678")])
        .await
        .expect(200);
    assert_eq!(found.body["items"][0]["id"], json!(id));
    let by_name = app
        .list_residents(front, community, &[("q", "李")])
        .await
        .expect(200);
    assert_eq!(by_name.body["items"].as_array().map(Vec::len), Some(1));
    let in_household = app
        .list_residents(
            front,
            community,
            &[("household_id", &world.a.household.to_string())],
        )
        .await
        .expect(200);
    assert_eq!(in_household.body["items"].as_array().map(Vec::len), Some(2));

    let engineer = app
        .get_resident(world.token("engineer"), id)
        .await
        .expect(200);
    assert_eq!(engineer.body["phone"], "139****5678");
    let butler = app
        .get_resident(world.token("butler"), id)
        .await
        .expect(200);
    assert_eq!(butler.body["phone"], "139****5678");
    assert_eq!(butler.body["birthday"], "1975-02-03");
    assert!(engineer.body.get("birthday").is_none());
    let members = app
        .list_household_members(world.token("cleaner"), world.a.household)
        .await
        .expect(200);
    assert!(
        members.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|m| m["phone"].as_str().expect("phone").contains("****"))
    );

    let patched = app
        .update_resident(front, id, &json!({ "birthday": null, "locale": "zh-CN" }))
        .await
        .expect(200);
    assert_eq!(patched.body["birthday"], json!(null));
    app.update_resident(front, id, &json!({ "phone": "13800000101" }))
        .await
        .expect_problem(409, "/problems/duplicate-phone");

    app.put_household_member(front, world.a.household, id, &json!({ "role": "family" }))
        .await
        .expect(200);
    app.delete_household_member(front, world.a.household, id)
        .await
        .expect(204);
    app.delete_household_member(front, world.a.household, id)
        .await
        .expect_problem(404, "/problems/not-found");
    // Without a household in the front desk's community, the resident is out of their sight.
    app.get_resident(front, id)
        .await
        .expect_problem(404, "/problems/not-found");
    app.get_resident(&world.admin.access, id).await.expect(200);
    app.delete_resident(&world.admin.access, id)
        .await
        .expect(204);
}

#[tokio::test]
async fn residents_edit_their_own_profile() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let me = app
        .update_me(
            &world.resident.access,
            &json!({ "name": "新名字", "locale": "en", "birthday": "1988-08-08" }),
        )
        .await
        .expect(200);
    assert_eq!(me.body["name"], "新名字");
    assert_eq!(me.body["locale"], "en");
    assert_eq!(me.body["birthday"], "1988-08-08");
    app.update_me(&world.resident.access, &json!({ "locale": "fr" }))
        .await
        .expect_problem(422, "/problems/validation");
    let staff = app
        .update_me(world.token("butler"), &json!({ "name": "王管家" }))
        .await
        .expect(200);
    assert_eq!(staff.body["name"], "王管家");
    assert_eq!(staff.body["role"], "butler");
}

#[tokio::test]
async fn admins_manage_staff_and_butler_assignments() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let admin = world.admin.access.as_str();
    let (butler_id, _) = &world.staff["butler"];
    let set = app
        .put_butler_assignments(
            world.token("supervisor"),
            butler_id,
            &json!({ "building_ids": [world.a.building], "household_ids": [world.a.household] }),
        )
        .await
        .expect(200);
    assert_eq!(set.body["building_ids"], json!([world.a.building]));
    let got = app
        .get_butler_assignments(admin, butler_id)
        .await
        .expect(200);
    assert_eq!(got.body["household_ids"], json!([world.a.household]));
    // Buildings outside the butler's communities are refused.
    app.put_butler_assignments(
        admin,
        butler_id,
        &json!({ "building_ids": [world.b.building], "household_ids": [] }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    let (engineer_id, _) = &world.staff["engineer"];
    app.put_butler_assignments(
        admin,
        engineer_id,
        &json!({ "building_ids": [], "household_ids": [] }),
    )
    .await
    .expect_problem(422, "/problems/validation");

    let listed = app
        .list_staff(
            admin,
            &[
                ("role", "butler"),
                ("community_id", &world.a.community.to_string()),
            ],
        )
        .await
        .expect(200);
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["username"].as_str().expect("username"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let moved = app
        .update_staff(
            admin,
            engineer_id,
            &json!({ "community_ids": [world.b.community], "role": "cleaner" }),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["role"], "cleaner");
    assert_eq!(moved.body["community_ids"], json!([world.b.community]));
    app.create_staff(admin, &json!({ "name": "Dup", "username": "butler-a", "password": "long-password", "role": "cleaner", "community_ids": [] }))
    .await
    .expect_problem(409, "/problems/duplicate-username");
    let admin_id = &world.staff["admin"].0;
    app.update_staff(admin, admin_id, &json!({ "role": "butler" }))
        .await
        .expect_problem(409, "/problems/self-demotion");
}
