//! Communities, buildings, units and households: CRUD, validation, conflicts, pagination.

use courtyard_tests::spawn_app;
use serde_json::json;

#[tokio::test]
async fn admin_builds_a_community_down_to_households() {
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    let t = admin.access.as_str();
    let community = app
        .create_community(t, &json!({
                "name": "翠湖花园",
                "timezone": "Asia/Shanghai",
                "working_hours": { "start": "08:30", "end": "17:30", "days": [1, 2, 3, 4, 5], "holidays": ["2026-10-01"] },
            }))
        .await
        .expect(201);
    assert_eq!(
        community.body["working_hours"]["holidays"],
        json!(["2026-10-01"])
    );
    let community = community.id();
    let building = app
        .create_building(t, community, &json!({ "name": "3栋" }))
        .await
        .expect(201)
        .id();
    let unit = app
        .create_unit(t, building, &json!({ "name": "1单元" }))
        .await
        .expect(201)
        .id();
    let household = app
        .create_household(
            t,
            unit,
            &json!({ "room_number": "b-1203", "floor": 12, "floor_area_m2": 89.505 }),
        )
        .await
        .expect(201);
    assert_eq!(household.body["room_number"], "B-1203");
    assert_eq!(household.body["floor_area_m2"], 89.51);
    let household = household.id();

    let listed = app
        .list_households(t, community, &[("unit_id", &unit.to_string())])
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["id"], json!(household));
    let by_room = app
        .list_households(t, community, &[("room_number", "b-1203")])
        .await
        .expect(200);
    assert_eq!(by_room.body["items"].as_array().map(Vec::len), Some(1));

    let patched = app
        .update_household(t, household, &json!({ "floor": null, "floor_area_m2": 90 }))
        .await
        .expect(200);
    assert_eq!(patched.body["floor"], json!(null));
    assert_eq!(patched.body["floor_area_m2"], 90.0);

    let renamed = app
        .update_community(
            t,
            community,
            &json!({ "name": "翠湖花园二期", "address": "翠湖路 1 号" }),
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["name"], "翠湖花园二期");
    assert_eq!(renamed.body["address"], "翠湖路 1 号");

    // Deleting goes bottom-up; a parent with children is refused.
    app.delete_community(t, community)
        .await
        .expect_problem(409, "/problems/in-use");
    app.delete_unit(t, unit)
        .await
        .expect_problem(409, "/problems/in-use");
    app.delete_household(t, household).await.expect(204);
    app.delete_unit(t, unit).await.expect(204);
    app.delete_building(t, building).await.expect(204);
    app.delete_community(t, community).await.expect(204);
    app.get_community(t, community)
        .await
        .expect_problem(404, "/problems/not-found");
}

#[tokio::test]
async fn invalid_input_names_the_field() {
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    let t = admin.access.as_str();
    let reply = app
        .create_community(t, &json!({ "name": "X", "timezone": "Mars/Base" }))
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "timezone");
    let reply = app
        .create_community(t, &json!({ "name": "X", "working_hours": { "start": "18:00", "end": "09:00", "days": [1], "holidays": [] } }))
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "working_hours");
    // A rule the document states (a length) is a 422 naming the field, as one checked in code.
    let reply = app
        .create_community(t, &json!({ "name": "" }))
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "name");
    app.create_community(t, &json!({ "name": "  " }))
        .await
        .expect_problem(422, "/problems/validation");

    let community = app
        .create_community(t, &json!({ "name": "X" }))
        .await
        .expect(201)
        .id();
    app.create_community(t, &json!({ "name": "X" }))
        .await
        .expect_problem(409, "/problems/duplicate-name");
    let building = app
        .create_building(t, community, &json!({ "name": "1栋" }))
        .await
        .expect(201)
        .id();
    app.create_building(t, community, &json!({ "name": "1栋" }))
        .await
        .expect_problem(409, "/problems/duplicate-name");
    let unit = app
        .create_unit(t, building, &json!({ "name": "1单元" }))
        .await
        .expect(201)
        .id();
    let reply = app
        .create_household(
            t,
            unit,
            &json!({ "room_number": "12 03", "floor_area_m2": 80 }),
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "room_number");
    app.create_household(
        t,
        unit,
        &json!({ "room_number": "101", "floor_area_m2": -1 }),
    )
    .await
    .expect_problem(422, "/problems/validation");
    app.create_household(
        t,
        unit,
        &json!({ "room_number": "101", "floor_area_m2": 80 }),
    )
    .await
    .expect(201);
    app.create_household(
        t,
        unit,
        &json!({ "room_number": "101", "floor_area_m2": 80 }),
    )
    .await
    .expect_problem(409, "/problems/duplicate-room");
    let reply = app
        .list_communities(t, &[("cursor", "garbage")])
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["field"], "cursor");
    let reply = app
        .list_communities(t, &[("limit", "0")])
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(reply.body["errors"][0]["message"], "must be at least 1");
    // Not a number at all: the parameter cannot be read.
    app.list_communities(t, &[("limit", "many")])
        .await
        .expect_problem(400, "/problems/bad-request");
}

#[tokio::test]
async fn lists_page_with_cursors_in_creation_order() {
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    let t = admin.access.as_str();
    let community = app
        .create_community(t, &json!({ "name": "X" }))
        .await
        .expect(201)
        .id();
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_building(t, community, &json!({ "name": format!("{i}栋") }))
                .await
                .expect(201)
                .id(),
        );
    }
    let mut seen: Vec<uuid::Uuid> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/communities/{community}/buildings?limit=3&cursor={c}"),
            None => format!("/v1/communities/{community}/buildings?limit=3"),
        };
        let page = app.get(&path, t).await.expect(200);
        pages += 1;
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").parse().expect("uuid"));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn staff_see_only_their_communities() {
    let app = spawn_app().await;
    let (_, admin) = app.bootstrap_admin("Co").await;
    let t = admin.access.as_str();
    let mine = app
        .create_community(t, &json!({ "name": "Mine" }))
        .await
        .expect(201)
        .id();
    app.create_community(t, &json!({ "name": "Other" }))
        .await
        .expect(201);
    app.create_staff(t, &json!({ "name": "Sup", "username": "sup", "password": "long-password", "role": "supervisor", "community_ids": [mine] }))
    .await
    .expect(201);
    let sup = app.login_staff("sup", "long-password").await;
    let listed = app.list_communities(&sup.access, &[]).await.expect(200);
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [mine.to_string()]);
    let all = app.list_communities(t, &[]).await.expect(200);
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_household_with_tickets_is_refused_deletion_not_a_500() {
    let app = spawn_app().await;
    let world = courtyard_tests::world::World::build(&app).await;
    app.delete_household(&world.admin.access, world.a.household)
        .await
        .expect_problem(409, "/problems/in-use");
}
