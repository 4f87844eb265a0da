//! What gets deployed: the template's routes match the code's route table, and the binaries
//! `sam build` makes can never contain the `dev-identity` shortcut.

use std::collections::BTreeSet;
use std::process::Command;

use serde_yaml::Value;
use shared::route::ROUTES;

fn template() -> Value {
    serde_yaml::from_str(&groupshare_local::template::workspace_template()).unwrap()
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (method, path, binary) for every HttpApi event in the template.
fn template_routes(t: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        let Some(events) = r["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, e) in events {
            if e["Type"].as_str() == Some("HttpApi") {
                let p = &e["Properties"];
                out.insert((
                    p["Method"].as_str().unwrap().into(),
                    p["Path"].as_str().unwrap().into(),
                    binary.clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn template_routes_match_the_route_table() {
    let in_code: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|(m, p, f)| (m.to_string(), p.to_string(), f.to_string()))
        .collect();
    assert_eq!(template_routes(&template()), in_code);
}

#[test]
fn every_function_binary_exists_and_builds_with_cargo_lambda() {
    let t = template();
    for (id, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id:?}"
        );
        let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let manifest = workspace_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        assert!(manifest.exists(), "{id:?}: no crate for binary {binary}");
    }
}

#[test]
fn function_policies_name_resources_not_wildcards() {
    let text = groupshare_local::template::workspace_template();
    assert!(
        !text.contains("Resource: \"*\"") && !text.contains("Resource: '*'"),
        "no wildcard resources"
    );
    assert!(!text.contains("dynamodb:Scan"), "no request path scans");
    assert!(!text.contains("dynamodb:*") && !text.contains("s3:*"));
}

/// The production build: what `sam build` (cargo lambda build at the workspace root) resolves.
/// No package in that graph may turn on `dev-identity`.
#[test]
fn deployed_builds_cannot_enable_dev_identity() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "tree",
            "--offline",
            "-e",
            "features",
            "-i",
            "shared",
            "--prefix",
            "none",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        tree.contains("shared v0.1.0"),
        "looked at the right graph:\n{tree}"
    );
    assert!(
        !tree.contains("dev-identity"),
        "a deployable crate enables dev-identity:\n{tree}"
    );

    let text = groupshare_local::template::workspace_template();
    assert!(!text.contains("dev-identity") && !text.to_lowercase().contains("x-dev-user"));
}
