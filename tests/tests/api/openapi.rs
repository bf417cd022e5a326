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
