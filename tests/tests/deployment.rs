//! What gets deployed: the template's routes match the code's route table, and the binaries
//! `sam build` makes can never honour a dev identity header.

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
        .map(|r| {
            (
                r.method.to_string(),
                r.template.to_string(),
                r.function.name().to_string(),
            )
        })
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

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The deployed functions cannot honour a dev identity: there is no switch for one in their
/// crates, and nothing of the local stack (its authorizer, its `X-Dev-User` shorthand) is in
/// the graph of any function binary. scripts/check-deployed-identity builds the binaries the
/// way `sam build` and `cargo lambda build --workspace` do and checks the running binaries.
#[test]
fn deployed_builds_cannot_honour_a_dev_identity() {
    // No identity feature anywhere a function is built from.
    let meta: serde_json::Value = serde_json::from_str(&cargo(&[
        "metadata",
        "--offline",
        "--no-deps",
        "--format-version",
        "1",
    ]))
    .unwrap();
    let t = template();
    let binaries: BTreeSet<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(binaries.len(), 8, "{binaries:?}");
    let mut checked = 0;
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if name != "shared" && !binaries.contains(name) {
            continue;
        }
        checked += 1;
        let features: Vec<&String> = package["features"].as_object().unwrap().keys().collect();
        assert!(
            !features
                .iter()
                .any(|f| f.contains("dev") || f.contains("identity")),
            "{name} has an identity feature: {features:?}"
        );
    }
    assert_eq!(checked, binaries.len() + 1, "shared and every function");

    // No function's dependency graph contains the local stack.
    for binary in &binaries {
        let tree = cargo(&[
            "tree",
            "--offline",
            "-p",
            binary,
            "--prefix",
            "none",
            "-e",
            "all",
        ]);
        assert!(
            tree.contains("shared v0.1.0"),
            "looked at the right graph:\n{tree}"
        );
        for local_only in ["groupshare-local", "groupshare-tests", "jsonwebtoken"] {
            assert!(
                !tree
                    .lines()
                    .any(|l| l.starts_with(&format!("{local_only} "))),
                "{binary} depends on {local_only}:\n{tree}"
            );
        }
    }

    let text = groupshare_local::template::workspace_template();
    assert!(!text.contains("dev-identity") && !text.to_lowercase().contains("x-dev-user"));
}
