//! shared's layers point one way (docs/decisions.md, "Workspace layout"): `edge` → `api` →
//! `infra` → `domain`. A `use` against the arrow would let storage code parse requests, or
//! domain rules reach for a client, and the folders would stop saying what depends on what.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Each place a file in `layer` names a module of a layer it may not use.
fn arrows_against(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let mut wrong = Vec::new();
    for file in rust_files(&src.join(layer)) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for target in forbidden {
                if line.contains(&format!("crate::{target}")) {
                    wrong.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    wrong
}

#[test]
fn shared_layers_depend_only_downwards() {
    let mut wrong = arrows_against("domain", &["edge", "api", "infra", "App", "config"]);
    wrong.extend(arrows_against("infra", &["edge", "api"]));
    wrong.extend(arrows_against("api", &["edge"]));
    assert!(
        wrong.is_empty(),
        "uses against the arrows:\n{}",
        wrong.join("\n")
    );
    // The check reads real files: an empty layer would pass anything.
    assert!(arrows_against("edge", &["domain"]).len() > 3);
}
