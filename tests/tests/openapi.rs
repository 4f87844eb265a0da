//! docs/openapi.yaml and the code describe the same API.

use std::collections::BTreeSet;

use serde_yaml::Value;
use shared::route::ROUTES;

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
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
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
    let mut in_code = BTreeSet::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/src");
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Codes are the first string literal of an `ApiError` constructor call:
                // `bad_request("c"`, `conflict("c"`, `too_large("c"`, `new(404, "c"`.
                for line in text.lines() {
                    let candidates = ["bad_request(\"", "conflict(\"", "too_large(\""]
                        .iter()
                        .filter_map(|m| line.split(m).nth(1))
                        .chain(line.split("new(").skip(1).filter_map(|rest| {
                            let (status, after) = rest.split_at_checked(3)?;
                            status
                                .bytes()
                                .all(|b| b.is_ascii_digit())
                                .then_some(after.strip_prefix(", \"")?)
                        }));
                    for rest in candidates {
                        let code = rest.split('"').next().unwrap();
                        if !code.is_empty()
                            && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        {
                            in_code.insert(code.to_string());
                        }
                    }
                }
            }
        }
    }
    let missing: Vec<&String> = in_code
        .iter()
        .filter(|c| !documented.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes returned but not documented: {missing:?}"
    );
    for code in [
        "not_found",
        "unauthenticated",
        "invalid_cursor",
        "file_gone",
        "unavailable",
    ] {
        assert!(in_code.contains(code), "scanner found {code}");
    }
}
