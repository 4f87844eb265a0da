//! docs/openapi.yaml and the code describe the same API.

use std::collections::BTreeSet;

use serde_yaml::Value;
use shared::edge::route::ROUTES;
use strum::IntoEnumIterator;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
            .unwrap();
    serde_yaml::from_str(&text).unwrap()
}

#[test]
fn spec_routes_and_code_routes_agree() {
    let spec = spec();
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "post", "put", "delete", "patch"].contains(&method) {
                in_spec.insert((method.to_uppercase(), path.as_str().unwrap().to_string()));
            }
        }
    }
    let in_code: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_string()))
        .collect();
    assert_eq!(in_spec, in_code);
}

/// Every error code the code can return is listed in the spec's enum, and vice versa.
#[test]
fn error_codes_are_documented() {
    let spec = spec();
    let documented: BTreeSet<String> = spec["components"]["schemas"]["Error"]["properties"]
        ["error"]["properties"]["code"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    // The code type itself: every code a caller can get, documented, and nothing more.
    let in_code: BTreeSet<String> = shared::ErrorCode::iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert_eq!(
        in_code, documented,
        "docs/openapi.yaml's error codes and shared::ErrorCode differ"
    );
}

/// Every kind of system message the code records is in the spec's enum, and vice versa.
#[test]
fn system_events_are_documented() {
    let spec = spec();
    let documented: BTreeSet<String> = spec["components"]["schemas"]["SystemEvent"]["properties"]
        ["event"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let in_code: BTreeSet<String> = shared::domain::model::SystemEventKind::iter()
        .map(|k| k.as_str().to_string())
        .collect();
    assert_eq!(in_code, documented);
}

/// Statuses every operation of a kind can answer are in its `responses`: every request's query
/// is parsed (a repeated key or more than 8 parameters is `400 invalid_query`, on any route), and
/// every JSON body is size-checked before it is parsed (`413 body_too_large`).
#[test]
fn statuses_every_route_can_answer_are_documented() {
    let spec = spec();
    let mut undocumented = Vec::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if !["get", "post", "put", "delete", "patch"].contains(&method) {
                continue;
            }
            let documents = |status: &str| op["responses"].get(status).is_some();
            let path = path.as_str().unwrap();
            if !documents("400") {
                undocumented.push(format!("{method} {path}: 400 invalid_query"));
            }
            if op.get("requestBody").is_some() && !documents("413") {
                undocumented.push(format!("{method} {path}: 413 body_too_large"));
            }
        }
    }
    assert!(undocumented.is_empty(), "{undocumented:#?}");
}
