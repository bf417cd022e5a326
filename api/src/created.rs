//! Where a created resource is: a 201 that makes something a client can read back carries
//! `Location` (the path of its read operation), and the document says so, with a link from
//! the 201 to that read (`$response.body#/id`), so generated clients and schemathesis'
//! stateful phase can chain a create to its read. poem-openapi writes neither: both come
//! from the one table below.

use std::{collections::HashMap, sync::OnceLock};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
};
use serde_yaml::{Mapping, Value};

/// (the create's operationId, the read's path, its parameter, the read's operationId).
const CREATED: &[(&str, &str, &str, &str)] = &[
    (
        "create_community",
        "/v1/communities/{community_id}",
        "community_id",
        "get_community",
    ),
    (
        "create_household",
        "/v1/households/{household_id}",
        "household_id",
        "get_household",
    ),
    (
        "create_resident",
        "/v1/residents/{resident_id}",
        "resident_id",
        "get_resident",
    ),
    (
        "create_staff",
        "/v1/staff/{staff_id}",
        "staff_id",
        "get_staff",
    ),
    (
        "create_notice",
        "/v1/notices/{notice_id}",
        "notice_id",
        "get_notice",
    ),
    (
        "create_repair",
        "/v1/tickets/{ticket_id}",
        "ticket_id",
        "get_ticket",
    ),
    (
        "create_complaint",
        "/v1/tickets/{ticket_id}",
        "ticket_id",
        "get_ticket",
    ),
    (
        "create_payment",
        "/v1/payments/{payment_id}",
        "payment_id",
        "get_payment",
    ),
    (
        "record_offline_payment",
        "/v1/payments/{payment_id}",
        "payment_id",
        "get_payment",
    ),
    (
        "create_service",
        "/v1/services/{service_id}",
        "service_id",
        "get_service",
    ),
    (
        "create_booking",
        "/v1/bookings/{booking_id}",
        "booking_id",
        "get_booking",
    ),
    (
        "create_package",
        "/v1/packages/{package_id}",
        "package_id",
        "get_package",
    ),
    (
        "renew_package",
        "/v1/packages/{package_id}",
        "package_id",
        "get_package",
    ),
];

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or(Value::Null)
}

/// Adds `Location` and the link to the read to each table entry's 201 in `doc`.
pub fn document(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_mapping_mut) else {
        return;
    };
    for (_, item) in paths.iter_mut() {
        let Some(item) = item.as_mapping_mut() else {
            continue;
        };
        for (_, op) in item.iter_mut() {
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(&(_, path, param, read)) = CREATED.iter().find(|(c, ..)| *c == id) else {
                continue;
            };
            let Some(Value::Mapping(created)) =
                op.get_mut("responses").and_then(|r| r.get_mut("201"))
            else {
                continue;
            };
            let location = format!(
                r#"{{"Location": {{"description": "Where it can be read: `{path}`.", "required": true, "schema": {{"type": "string", "format": "uri-reference"}}}}}}"#
            );
            created.insert("headers".into(), yaml(&location));
            let mut parameters = Mapping::new();
            parameters.insert(param.into(), "$response.body#/id".into());
            let mut link = Mapping::new();
            link.insert("operationId".into(), read.into());
            link.insert("parameters".into(), Value::Mapping(parameters));
            link.insert("description".into(), "Read what was created.".into());
            let mut links = Mapping::new();
            links.insert(read.into(), Value::Mapping(link));
            created.insert("links".into(), Value::Mapping(links));
        }
    }
}

/// The read path of what each (path template, method) creates.
static LOCATIONS: OnceLock<HashMap<(String, String), &'static str>> = OnceLock::new();

/// Remembers where the document's creates put what they make (the first document wins).
pub fn remember(doc: &Value) {
    let mut locations = HashMap::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_mapping) {
        for (template, item) in paths {
            let (Some(template), Some(item)) = (template.as_str(), item.as_mapping()) else {
                continue;
            };
            for (method, op) in item {
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let (Some(method), Some(&(_, path, ..))) =
                    (method.as_str(), CREATED.iter().find(|(c, ..)| *c == id))
                {
                    locations.insert((template.to_owned(), method.to_uppercase()), path);
                }
            }
        }
    }
    let _ = LOCATIONS.set(locations);
}

/// `path` with its one parameter replaced by `id`.
fn fill(path: &str, id: &str) -> Option<String> {
    let start = path.find('{')?;
    let end = path[start..].find('}')? + start;
    Some(format!("{}{id}{}", &path[..start], &path[end + 1..]))
}

/// Sets `Location` on the 201 of each create in the table, from the created body's `id`.
pub async fn around<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let location = crate::contract::template_of(req.uri().path()).and_then(|template| {
        LOCATIONS
            .get()?
            .get(&(template, req.method().as_str().to_owned()))
            .copied()
    });
    let response = next.call(req).await?.into_response();
    let Some(location) = location.filter(|_| response.status() == StatusCode::CREATED) else {
        return Ok(response);
    };
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await?;
    let id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("id")?.as_str().map(str::to_owned));
    let mut response = Response::from_parts(parts, bytes.into());
    if let Some(value) = id
        .and_then(|id| fill(location, &id))
        .and_then(|l| HeaderValue::from_str(&l).ok())
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_names_the_created_id() {
        assert_eq!(
            fill("/v1/tickets/{ticket_id}", "0190").as_deref(),
            Some("/v1/tickets/0190")
        );
        assert_eq!(fill("/v1/me", "x"), None);
    }

    #[test]
    fn every_entry_reads_back_with_its_own_parameter() {
        for (create, path, param, read) in CREATED {
            assert!(path.ends_with(&format!("{{{param}}}")), "{create}: {path}");
            assert!(read.starts_with("get_"), "{create}: {read}");
        }
    }
}
