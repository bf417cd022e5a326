//! The checked-in OpenAPI document must be what the code generates, and every operation must
//! be documented. Run with `COURTYARD_UPDATE_OPENAPI=1` to rewrite the file after a change.

use serde_json::Value;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/courtyard.yaml");

#[tokio::test]
async fn checked_in_document_matches_the_code() {
    let generated = courtyard_api::startup::export_openapi()
        .await
        .expect("export");
    if std::env::var("COURTYARD_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(CHECKED_IN, &generated).expect("write openapi/courtyard.yaml");
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/courtyard.yaml is stale: run `cargo run -p courtyard -- openapi --output openapi/courtyard.yaml` \
         (or this test with COURTYARD_UPDATE_OPENAPI=1) and commit the result"
    );
}

#[test]
fn every_operation_is_documented() {
    let spec: Value =
        serde_yaml::from_str(include_str!("../../../openapi/courtyard.yaml")).expect("spec parses");
    let mut count = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            count += 1;
            let name = format!("{} {path}", method.to_uppercase());
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name} has no summary"
            );
            assert!(op["operationId"].is_string(), "{name} has no operationId");
            assert_eq!(
                op["tags"].as_array().map(Vec::len),
                Some(1),
                "{name} needs one tag"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{name} documents no success"
            );
            let errors: Vec<&String> = responses.keys().filter(|k| k.starts_with('4')).collect();
            assert!(!errors.is_empty(), "{name} documents no 4xx");
            for code in errors {
                let content = &responses[code]["content"];
                assert!(
                    content.get("application/problem+json").is_some(),
                    "{name} {code} is not problem+json"
                );
            }
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{name} is secured but documents no 401"
                );
            }
            if let Some(body) = op.get("requestBody") {
                let content = body["content"].as_object().expect("content");
                assert!(!content.is_empty(), "{name} has an empty request body");
            }
        }
    }
    assert!(count >= 40, "only {count} operations");
}

#[test]
fn every_operation_has_a_helper_on_the_test_app() {
    let helpers = concat!(
        include_str!("../../src/lib.rs"),
        include_str!("../../src/endpoints/mod.rs"),
        include_str!("../../src/endpoints/money.rs"),
        include_str!("../../src/endpoints/privacy.rs"),
        include_str!("../../src/endpoints/services.rs")
    );
    let document: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../openapi/courtyard.yaml")).expect("yaml");
    let mut missing = Vec::new();
    for (_, item) in document["paths"].as_mapping().expect("paths") {
        for (_, operation) in item.as_mapping().expect("operations") {
            let id = operation["operationId"].as_str().expect("operationId");
            if !helpers.contains(&format!("pub async fn {id}(")) {
                missing.push(id.to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without a TestApp helper in tests/src/endpoints/: {missing:?}"
    );
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_one_and_every_string_is_quoted() {
    let app = courtyard_tests::spawn_app().await;
    let served = app
        .request(reqwest::Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let checked_in: Value =
        serde_yaml::from_str(include_str!("../../../openapi/courtyard.yaml")).expect("yaml");
    assert!(
        served == checked_in,
        "/openapi.json differs from openapi/courtyard.yaml"
    );
    // The framework's own answers are documented: 415 wherever a body is taken, 400
    // wherever a parameter or body is read.
    for (path, item) in checked_in["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let responses = &op["responses"];
            if op.get("requestBody").is_some() {
                assert!(responses.get("415").is_some(), "{method} {path}: no 415");
                assert!(responses.get("400").is_some(), "{method} {path}: no 400");
            }
        }
    }
    // Read as YAML 1.1 does, a time or a date left plain would be a number or a date: every
    // scalar string in the file is quoted.
    for line in include_str!("../../../openapi/courtyard.yaml").lines() {
        let value = line.trim_start().trim_start_matches("- ");
        let value = match value.split_once("\": ") {
            Some((_, v)) => v,
            None => value,
        };
        if value.ends_with(':') || value.is_empty() {
            continue;
        }
        assert!(
            value.starts_with('"')
                || value.parse::<f64>().is_ok()
                || ["true", "false", "null", "[]", "{}"].contains(&value),
            "an unquoted scalar: {line}"
        );
    }
}

#[tokio::test]
async fn an_unparsable_path_id_is_a_400_naming_the_parameter() {
    let app = courtyard_tests::spawn_app().await;
    let world = courtyard_tests::world::World::build(&app).await;
    let reply = app
        .request(
            reqwest::Method::GET,
            "/v1/bookings/not-a-uuid",
            Some(&world.admin.access),
            None,
        )
        .await
        .expect_problem(400, "/problems/bad-request");
    let detail = reply.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("`booking_id`") && detail.contains("not a UUID"),
        "{detail}"
    );
    assert_eq!(reply.body["errors"], serde_json::json!([]));
    let reply = app
        .request(
            reqwest::Method::GET,
            "/v1/communities/nope/service-report",
            Some(&world.admin.access),
            None,
        )
        .await
        .expect_problem(400, "/problems/bad-request");
    assert!(
        reply.body["detail"]
            .as_str()
            .expect("detail")
            .contains("`community_id`"),
        "{}",
        reply.text
    );
    // A method the path does not take: 405 with the ones it does.
    let reply = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/bookings/{}", world.a.booking),
            Some(&world.admin.access),
            None,
        )
        .await
        .expect_problem(405, "/problems/method-not-allowed");
    assert_eq!(reply.header("allow"), "GET");
}

#[tokio::test]
async fn a_body_is_read_as_the_document_types_it() {
    let app = courtyard_tests::spawn_app().await;
    let world = courtyard_tests::world::World::build(&app).await;
    let admin = &world.admin.access;
    let path = format!("/v1/communities/{}/buildings", world.a.community);
    // A boolean for a string is not taken as its text.
    let reply = app
        .post(&path, Some(admin), serde_json::json!({ "name": false }))
        .await
        .expect_problem(400, "/problems/bad-request");
    assert_eq!(
        reply.body["errors"],
        serde_json::json!([{ "field": "name", "message": "must be a string" }])
    );
    // Nested, and a null where the document allows none.
    let reply = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/communities/{}", world.a.community),
            Some(admin),
            Some(&serde_json::json!({ "timezone": null, "working_hours": { "start": "09:00", "end": "18:00", "days": [1, "2"], "holidays": [] } })),
        )
        .await
        .expect_problem(400, "/problems/bad-request");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["timezone", "working_hours.days[1]"],
        "{}",
        reply.text
    );
    // A null the document allows (`null` clears it) is taken.
    let reply = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/communities/{}", world.a.community),
            Some(admin),
            Some(&serde_json::json!({ "address": null })),
        )
        .await
        .expect(200);
    assert!(reply.body.get("address").is_none(), "{}", reply.text);
    // Under any JSON media type the framework reads, and with a token of another scheme.
    app.request_raw(
        reqwest::Method::POST,
        &path,
        Some(admin),
        "Application/Merge-Patch+JSON",
        br#"{"name": 7}"#.to_vec(),
    )
    .await
    .expect_problem(400, "/problems/bad-request");
    let basic = app
        .client
        .post(format!("{}{path}", app.address))
        .header("authorization", "Basic YWRtaW46eA==")
        .json(&serde_json::json!({ "name": false }))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), 401);
    // Without a token the answer is 401 whatever the body.
    app.post(&path, None, serde_json::json!({ "name": false }))
        .await
        .expect_problem(401, "/problems/unauthorized");
    // And the right types go through as before.
    app.post(&path, Some(admin), serde_json::json!({ "name": "9栋" }))
        .await
        .expect(201);
}

#[tokio::test]
async fn problems_follow_accept_language_then_the_residents_locale() {
    let app = courtyard_tests::spawn_app().await;
    let world = courtyard_tests::world::World::build(&app).await;
    let ask = |path: String, token: Option<String>, language: Option<&'static str>| {
        let app = &app;
        async move {
            let mut request = app.client.get(format!("{}{path}", app.address));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(language) = language {
                request = request.header("accept-language", language);
            }
            let reply = request.send().await.expect("sent");
            let language = reply
                .headers()
                .get("content-language")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let body: serde_json::Value = reply.json().await.expect("problem");
            (language, body)
        }
    };
    // No token, Chinese asked for: the title and the detail in Chinese, the type unchanged.
    let (language, body) = ask("/v1/me".into(), None, Some("zh-CN,zh;q=0.9,en;q=0.5")).await;
    assert_eq!(language.as_deref(), Some("zh-CN"));
    assert_eq!(body["type"], "/problems/unauthorized");
    assert_eq!(body["title"], "需要登录");
    assert_eq!(body["detail"], "需要有效的访问令牌");
    let (language, body) = ask("/v1/me".into(), None, Some("en-GB")).await;
    assert_eq!(language.as_deref(), Some("en"));
    assert_eq!(body["title"], "Authentication required");
    // A resident's own locale when nothing is asked for; a header still wins.
    app.update_me(
        &world.resident.access,
        &serde_json::json!({ "locale": "zh-CN" }),
    )
    .await
    .expect(200);
    let missing = format!("/v1/tickets/{}", uuid::Uuid::now_v7());
    let token = Some(world.resident.access.clone());
    let (language, body) = ask(missing.clone(), token.clone(), None).await;
    assert_eq!(language.as_deref(), Some("zh-CN"));
    assert_eq!(
        (body["title"].as_str(), body["detail"].as_str()),
        (Some("未找到"), Some("未找到工单"))
    );
    let (_, body) = ask(missing, token, Some("en")).await;
    assert_eq!(body["detail"], "ticket not found");
}

#[tokio::test]
async fn a_create_answers_where_to_read_what_it_made() {
    let app = courtyard_tests::spawn_app().await;
    let world = courtyard_tests::world::World::build(&app).await;
    let created = app
        .create_repair(
            &world.resident.access,
            &serde_json::json!({ "household_id": world.a.household, "category": "water", "urgency": "ordinary", "description": "阳台地漏堵塞" }),
            None,
        )
        .await
        .expect(201);
    let location = created.header("location");
    assert_eq!(location, format!("/v1/tickets/{}", created.id()));
    let read = app.get(location, &world.resident.access).await.expect(200);
    assert_eq!(read.body["ticket"]["id"], created.body["id"]);
    // The document says so, and links the create to the read for generated clients.
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(CHECKED_IN).expect("document"))
            .expect("yaml");
    let answer = &doc["paths"]["/v1/repairs"]["post"]["responses"]["201"];
    assert_eq!(
        answer["headers"]["Location"]["required"],
        serde_yaml::Value::Bool(true)
    );
    assert_eq!(
        answer["links"]["get_ticket"]["parameters"]["ticket_id"].as_str(),
        Some("$response.body#/id")
    );
    // Every link names an operation the document has.
    let operations: std::collections::HashSet<String> = doc["paths"]
        .as_mapping()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_mapping().expect("item").values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let mut links = 0;
    for item in doc["paths"].as_mapping().expect("paths").values() {
        for op in item.as_mapping().expect("item").values() {
            if let Some(found) = op["responses"]["201"]["links"].as_mapping() {
                for link in found.values() {
                    links += 1;
                    let target = link["operationId"].as_str().expect("operationId");
                    assert!(operations.contains(target), "{target}");
                }
            }
        }
    }
    assert!(links >= 10, "{links}");
}

#[tokio::test]
async fn a_name_with_control_characters_or_only_spaces_is_refused_as_the_document_says() {
    let app = courtyard_tests::spawn_app().await;
    let world = courtyard_tests::world::World::build(&app).await;
    let path = format!("/v1/communities/{}/buildings", world.a.community);
    for name in ["3栋\u{7}", "   ", "\u{85}"] {
        let refused = app
            .post(
                &path,
                Some(&world.admin.access),
                serde_json::json!({ "name": name }),
            )
            .await
            .expect_problem(422, "/problems/validation");
        assert_eq!(
            refused.body["errors"][0]["field"], "name",
            "{}",
            refused.text
        );
    }
    app.post(
        &path,
        Some(&world.admin.access),
        serde_json::json!({ "name": " 10栋 B座 " }),
    )
    .await
    .expect(201);
}
