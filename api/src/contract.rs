//! The API document as clients read it: poem-openapi's document, completed with the
//! answers the framework gives before a handler runs (415 for a body of another media type
//! on every operation that takes one, 400 for an unparsable path or query parameter), and
//! written as YAML whose every string is quoted, so that YAML 1.1 readers (PyYAML, many
//! client generators) read `18:00` and `2026-12-01` as the strings they are.

use std::sync::OnceLock;

use serde_yaml::{Mapping, Value};

/// The problem response the framework's own answers carry.
fn problem(description: &str) -> Value {
    let mut schema = Mapping::new();
    schema.insert("$ref".into(), "#/components/schemas/Problem".into());
    let mut media = Mapping::new();
    media.insert("schema".into(), Value::Mapping(schema));
    let mut content = Mapping::new();
    content.insert("application/problem+json".into(), Value::Mapping(media));
    let mut response = Mapping::new();
    response.insert("description".into(), description.into());
    response.insert("content".into(), Value::Mapping(content));
    Value::Mapping(response)
}

/// Completes poem-openapi's document (`spec`, YAML: its order kept) with the framework's
/// answers.
pub fn complete(spec: &str) -> Value {
    let mut doc: Value = serde_yaml::from_str(spec).unwrap_or(Value::Null);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_mapping_mut) else {
        return doc;
    };
    for (_, item) in paths.iter_mut() {
        let Some(item) = item.as_mapping_mut() else {
            continue;
        };
        for (_, operation) in item.iter_mut() {
            let Some(op) = operation.as_mapping_mut() else {
                continue;
            };
            // A multipart body has the parts it names and no others (the framework
            // refuses parts it cannot read).
            if let Some(Value::Mapping(form)) = op
                .get_mut("requestBody")
                .and_then(|b| b.get_mut("content"))
                .and_then(|c| c.get_mut("multipart/form-data"))
                .and_then(|m| m.get_mut("schema"))
            {
                form.entry("additionalProperties".into())
                    .or_insert(Value::Bool(false));
            }
            let takes_body = op.contains_key("requestBody");
            let takes_params = op
                .get("parameters")
                .and_then(Value::as_sequence)
                .is_some_and(|ps| {
                    ps.iter().any(|p| {
                        matches!(p.get("in").and_then(Value::as_str), Some("path" | "query"))
                    })
                });
            let Some(responses) = op.get_mut("responses").and_then(Value::as_mapping_mut) else {
                continue;
            };
            let mut added = false;
            if takes_body && !responses.contains_key("415") {
                responses.insert(
                    "415".into(),
                    problem("The body is not of the media type the operation takes."),
                );
                added = true;
            }
            if (takes_body || takes_params) && !responses.contains_key("422") {
                responses.insert(
                    "422".into(),
                    problem("A value breaks a rule: one the document states (a pattern, a range, a length) or one the operation checks; `errors` names the field."),
                );
                added = true;
            }
            if (takes_body || takes_params) && !responses.contains_key("400") {
                responses.insert(
                    "400".into(),
                    problem(
                        "A parameter or the body could not be read (not JSON, not a UUID, not a date).",
                    ),
                );
                added = true;
            }
            if let Some(Value::Mapping(throttled)) = responses.get_mut("429") {
                throttled
                    .entry("headers".into())
                    .or_insert_with(retry_after_header);
            }
            if added {
                sort_by_status(responses);
            }
        }
    }
    crate::created::document(&mut doc);
    state_the_types(&mut doc);
    doc
}

/// The `Retry-After` header a 429 carries.
fn retry_after_header() -> Value {
    serde_yaml::from_str(
        r#"{"Retry-After": {"description": "Seconds until a retry may succeed.", "required": true, "schema": {"type": "integer", "format": "uint32", "minimum": 0}}}"#,
    )
    .unwrap_or(Value::Null)
}

/// Says in the schemas what the server takes, in the words every tool knows: a date is
/// `format: date` (poem-openapi writes `naive-date`, which validators do not know, so any
/// string would look valid), an unsigned integer has `minimum: 0`, and a field whose
/// `null` clears it (`MaybeUndefined`) is `nullable`.
fn state_the_types(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            if map.get("format").and_then(Value::as_str) == Some("naive-date") {
                map.insert("format".into(), "date".into());
            }
            let unsigned = map.get("type").and_then(Value::as_str) == Some("integer")
                && map
                    .get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|f| f.starts_with("uint"));
            if unsigned && !map.contains_key("minimum") {
                map.insert("minimum".into(), 0.into());
            }
            let clears = map
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains("`null` clears it"));
            if clears && map.contains_key("type") {
                map.insert("nullable".into(), true.into());
            }
            for (_, child) in map.iter_mut() {
                state_the_types(child);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(state_the_types),
        _ => {}
    }
}

/// The document's path templates, split into segments, with their methods: for naming the
/// parameter an unparsable path carries (the framework's own message names it `param0`)
/// and for the `Allow` header of a 405.
static TEMPLATES: OnceLock<Vec<(Vec<String>, Vec<String>)>> = OnceLock::new();

/// Remembers the document's paths (the first document given wins: they are the same for
/// every app in a process).
pub fn remember_paths(doc: &Value) {
    let templates: Vec<(Vec<String>, Vec<String>)> = doc
        .get("paths")
        .and_then(Value::as_mapping)
        .map(|paths| {
            paths
                .iter()
                .filter_map(|(t, item)| {
                    let methods = item
                        .as_mapping()
                        .map(|ops| {
                            ops.keys()
                                .filter_map(Value::as_str)
                                .map(str::to_uppercase)
                                .collect()
                        })
                        .unwrap_or_default();
                    Some((t.as_str()?.split('/').map(str::to_owned).collect(), methods))
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = TEMPLATES.set(templates);
}

/// The template `path` matches: the one with the most literal segments in common
/// (`/bookings/{id}` over `/{any}/{id}`).
fn template(path: &str) -> Option<&'static (Vec<String>, Vec<String>)> {
    let segments: Vec<&str> = path.split('/').collect();
    TEMPLATES
        .get()?
        .iter()
        .filter(|(t, _)| t.len() == segments.len())
        .filter(|(t, _)| {
            t.iter()
                .zip(&segments)
                .all(|(t, s)| t.starts_with('{') || t == s)
        })
        .max_by_key(|(t, _)| t.iter().filter(|t| !t.starts_with('{')).count())
}

/// The document's template `path` matches (`/v1/tickets/{ticket_id}`).
pub fn template_of(path: &str) -> Option<String> {
    template(path).map(|(t, _)| t.join("/"))
}

/// The name of the `index`-th parameter of the template `path` matches (`booking_id`).
pub fn path_param(path: &str, index: usize) -> Option<String> {
    template(path)
        .and_then(|(t, _)| t.iter().filter(|t| t.starts_with('{')).nth(index))
        .map(|t| t.trim_matches(|c| c == '{' || c == '}').to_owned())
}

/// The methods the document declares for `path` (`GET, PATCH`), for a 405's `Allow`.
pub fn allowed_methods(path: &str) -> Option<String> {
    template(path).map(|(_, methods)| methods.join(", "))
}

/// Orders a responses map by status, as poem-openapi writes it.
fn sort_by_status(map: &mut Mapping) {
    let mut entries: Vec<(Value, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by_key(|(k, _)| key(k));
    map.extend(entries);
}

fn key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}

/// Writes `value` as block YAML with every string and key double-quoted (JSON escapes
/// are YAML's), numbers, booleans and nulls plain.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_node(&mut out, value, 0, false);
    out
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(quoted(s)),
        Value::Sequence(a) if a.is_empty() => Some("[]".into()),
        Value::Mapping(o) if o.is_empty() => Some("{}".into()),
        Value::Tagged(t) => scalar(&t.value),
        _ => None,
    }
}

/// Writes a collection's entries at `indent`; `inline` when the first line continues a
/// `- ` already written.
fn write_node(out: &mut String, v: &Value, indent: usize, inline: bool) {
    let pad = " ".repeat(indent);
    match v {
        Value::Mapping(map) if !map.is_empty() => {
            for (i, (k, v)) in map.iter().enumerate() {
                if !(inline && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str(&quoted(&key(k)));
                out.push(':');
                match scalar(v) {
                    Some(s) => {
                        out.push(' ');
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        write_node(out, v, indent + 2, false);
                    }
                }
            }
        }
        Value::Sequence(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match scalar(item) {
                    Some(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => write_node(out, item, indent + 2, true),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn yaml(v: serde_json::Value) -> Value {
        serde_yaml::to_value(v).unwrap()
    }

    #[test]
    fn every_string_is_quoted_and_the_yaml_reads_back_the_same() {
        let doc = yaml(json!({
            "openapi": "3.0.0",
            "paths": { "/x": { "get": { "responses": { "200": { "description": "ok" } } } } },
            "example": { "window_from": "18:00", "date": "2026-12-01", "on": "yes", "n": 3,
                         "list": ["a", { "b": [1, "1.0"], "c": {} }, []], "none": null,
                         "quote": "say \"hi\"\nthen go", "empty": "" }
        }));
        let yaml = to_yaml(&doc);
        assert!(yaml.contains("\"window_from\": \"18:00\""), "{yaml}");
        assert!(yaml.contains("\"date\": \"2026-12-01\""), "{yaml}");
        assert!(yaml.contains("\"200\":"), "{yaml}");
        let back: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn the_framework_answers_are_documented() {
        let spec = json!({
            "paths": {
                "/a/{id}": {
                    "post": {
                        "parameters": [{ "name": "id", "in": "path" }],
                        "requestBody": { "content": {} },
                        "responses": { "200": { "description": "ok" } }
                    },
                    "get": { "responses": { "200": { "description": "ok" } } }
                }
            }
        });
        let done = complete(&serde_yaml::to_string(&spec).unwrap());
        let post = &done["paths"]["/a/{id}"]["post"]["responses"];
        assert!(post.get("415").is_some() && post.get("400").is_some());
        let keys: Vec<String> = post.as_mapping().unwrap().keys().map(key).collect();
        assert_eq!(keys, ["200", "400", "415", "422"]);
        let get = &done["paths"]["/a/{id}"]["get"]["responses"];
        assert!(get.get("415").is_none() && get.get("400").is_none());
    }
}

#[cfg(test)]
mod path_tests {
    #[test]
    fn a_path_parameter_is_named_from_its_template() {
        let doc: serde_yaml::Value = serde_yaml::from_str(
            "paths:\n  /v1/bookings/{booking_id}: {}\n  /v1/bookings/{booking_id}/claims: {}\n  /v1/communities/{community_id}/services: {}\n",
        )
        .unwrap();
        super::remember_paths(&doc);
        assert_eq!(
            super::path_param("/v1/bookings/x", 0).as_deref(),
            Some("booking_id")
        );
        assert_eq!(
            super::path_param("/v1/communities/x/services", 0).as_deref(),
            Some("community_id")
        );
        assert_eq!(super::path_param("/v1/nowhere", 0), None);
        // The doc above declares no operations; a real one lists them.
        assert_eq!(
            super::allowed_methods("/v1/bookings/x").as_deref(),
            Some("")
        );
    }
}
