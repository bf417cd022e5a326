//! JSON request bodies read as the document types them. poem-openapi's `String` takes a
//! number or a boolean and keeps its text (`{"name": false}` would name a building
//! "false"), and an optional field takes `null` as if it were absent: both accept what the
//! document refuses. Before an operation's handler runs, its body is checked against the
//! operation's request schema for the JSON types only (a string is a string, `null` only
//! where the field is `nullable`); anything else the framework and the handler check as
//! before. A body that breaks them answers 400 with `errors` naming each field.

use std::{collections::HashMap, sync::OnceLock};

use poem::{Endpoint, IntoResponse, Request, Response, http::Method};
use serde_json::Value;

use crate::error::{ApiError, FieldError, problem_response};

/// An operation's request schema, and whether it needs a token.
struct Body {
    schema: Value,
    secured: bool,
}

/// Request schemas by (path template, method), and the document they refer into.
struct Schemas {
    doc: Value,
    bodies: HashMap<(String, String), Body>,
}

static SCHEMAS: OnceLock<Schemas> = OnceLock::new();

/// Remembers the request schemas of `doc` (the completed document; the first one given
/// wins: they are the same for every app in a process).
pub fn remember(doc: &serde_yaml::Value) {
    let Ok(doc) = serde_json::to_value(doc) else {
        return;
    };
    let mut bodies = HashMap::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                let content = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object);
                let schema = content.and_then(|c| {
                    c.iter()
                        .find(|(media, _)| media.starts_with("application/json"))
                        .and_then(|(_, m)| m.get("schema"))
                });
                if let Some(schema) = schema {
                    let secured = op
                        .get("security")
                        .and_then(Value::as_array)
                        .is_some_and(|s| !s.is_empty());
                    let body = Body {
                        schema: schema.clone(),
                        secured,
                    };
                    bodies.insert((template.clone(), method.to_uppercase()), body);
                }
            }
        }
    }
    let _ = SCHEMAS.set(Schemas { doc, bodies });
}

/// Checks a JSON body against its operation's request schema before the operation runs.
pub async fn around<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    // What poem-openapi's `Json` takes: `application/json` and any `+json`, in any case.
    let is_json = req.content_type().is_some_and(|c| {
        let essence = c
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence.split_once('/').is_some_and(|(kind, subtype)| {
            kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
        })
    });
    let takes_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let schema = SCHEMAS.get().and_then(|schemas| {
        let template = crate::contract::template_of(req.uri().path())?;
        let body = schemas
            .bodies
            .get(&(template, req.method().as_str().to_owned()))?;
        // A request without a token to an operation that needs one is answered 401 first.
        let anonymous = !req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.get(..7))
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "));
        Some((schemas, &body.schema)).filter(|_| !(body.secured && anonymous))
    });
    let Some((schemas, schema)) = schema.filter(|_| is_json && takes_body) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let bytes = req.take_body().into_bytes().await?;
    // Unreadable JSON is the framework's to answer (400), as before.
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        let mut errors = Vec::new();
        check(&schemas.doc, schema, &value, "", &mut errors, 0);
        if !errors.is_empty() {
            let mut problem = ApiError::BadRequest(format!(
                "the body does not have the types the document gives: {}",
                errors
                    .iter()
                    .map(|e: &FieldError| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
            .problem();
            problem.errors = errors;
            return Ok(problem_response(&problem));
        }
    }
    req.set_body(bytes);
    next.call(req).await.map(IntoResponse::into_response)
}

fn field_error(field: String, message: &str) -> FieldError {
    FieldError {
        field,
        message: message.to_owned(),
        row: None,
    }
}

/// The schema `#/components/schemas/X` names.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Whether `schema` takes `null`: it says `nullable`, or it says nothing of its type at
/// all. The parts of an `allOf` that only annotate (poem-openapi writes a referenced
/// field's description as `allOf: [$ref, {description}]`) do not make it nullable.
fn nullable(doc: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 16 {
        return true;
    }
    let untyped = schema.as_object().is_some_and(|s| {
        !["type", "$ref", "allOf", "oneOf", "anyOf"]
            .iter()
            .any(|k| s.contains_key(*k))
    });
    untyped || typed_nullable(doc, schema, depth)
}

fn typed_nullable(doc: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 16 {
        return true;
    }
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    let by_ref = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(doc, r))
        .is_some_and(|s| nullable(doc, s, depth + 1));
    let parts = |key: &str| schema.get(key).and_then(Value::as_array);
    let by_all =
        parts("allOf").is_some_and(|ps| ps.iter().any(|p| typed_nullable(doc, p, depth + 1)));
    let by_alternative = ["oneOf", "anyOf"]
        .iter()
        .any(|k| parts(k).is_some_and(|ps| ps.iter().any(|p| nullable(doc, p, depth + 1))));
    by_ref || by_all || by_alternative
}

/// Collects in `errors` where `value` is not of the JSON type `schema` gives.
fn check(
    doc: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let field = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    if value.is_null() {
        if !nullable(doc, schema, depth) {
            errors.push(field_error(
                field(),
                "may not be null: leave the field out instead",
            ));
        }
        return;
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(doc, r))
    {
        check(doc, target, value, path, errors, depth + 1);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            check(doc, part, value, path, errors, depth + 1);
        }
    }
    // `oneOf`/`anyOf`: the framework tells the alternatives apart.
    let Some(kind) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    let expected = match (kind, value) {
        ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_)) => None,
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => None,
        ("array", Value::Array(items)) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, item, v, &format!("{path}[{i}]"), errors, depth + 1);
                }
            }
            None
        }
        ("object", Value::Object(fields)) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (name, v) in fields {
                let property = properties.and_then(|p| p.get(name)).or(additional);
                if let Some(property) = property {
                    check(doc, property, v, &join(path, name), errors, depth + 1);
                }
            }
            None
        }
        ("string", _) => Some("a string"),
        ("boolean", _) => Some("true or false"),
        ("integer", _) => Some("an integer"),
        ("number", _) => Some("a number"),
        ("array", _) => Some("an array"),
        ("object", _) => Some("an object"),
        _ => None,
    };
    if let Some(expected) = expected {
        errors.push(field_error(field(), &format!("must be {expected}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({ "components": { "schemas": {
            "Hours": { "type": "object", "properties": {
                "days": { "type": "array", "items": { "type": "integer" } } } },
            "Patch": { "type": "object", "properties": {
                "name": { "type": "string" },
                "address": { "type": "string", "nullable": true },
                "hours": { "allOf": [ { "$ref": "#/components/schemas/Hours" }, { "description": "Hours." } ] },
                "labels": { "type": "object", "additionalProperties": { "type": "boolean" } },
                "extra": {}
            } }
        } } })
    }

    fn errors(value: Value) -> Vec<(String, String)> {
        let doc = doc();
        let schema = json!({ "$ref": "#/components/schemas/Patch" });
        let mut errors = Vec::new();
        check(&doc, &schema, &value, "", &mut errors, 0);
        errors.into_iter().map(|e| (e.field, e.message)).collect()
    }

    #[test]
    fn the_types_the_document_gives_pass() {
        assert!(
            errors(
                json!({ "name": "3栋", "address": null, "hours": { "days": [1, 2] },
                "labels": { "a": true }, "extra": null, "unknown": 5 })
            )
            .is_empty()
        );
    }

    #[test]
    fn a_number_or_boolean_for_a_string_and_a_stray_null_are_named() {
        let found = errors(json!({ "name": false, "hours": { "days": [1, "2", null] },
            "labels": { "a": "yes" } }));
        let message = |field: &str| {
            found
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, m)| m.as_str())
                .unwrap_or_else(|| panic!("{field} not named: {found:?}"))
        };
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(message("name"), "must be a string");
        assert_eq!(message("hours.days[1]"), "must be an integer");
        assert!(message("hours.days[2]").starts_with("may not be null"));
        assert_eq!(message("labels.a"), "must be true or false");
        assert_eq!(errors(json!({ "name": null })).len(), 1);
        // A referenced field whose allOf only adds a description.
        assert_eq!(errors(json!({ "hours": null })).len(), 1);
        assert_eq!(
            errors(json!([])),
            [("body".into(), "must be an object".into())]
        );
    }
}
