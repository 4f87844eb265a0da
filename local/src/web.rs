//! Serves the reference web client (`web/` at the workspace root) as static files on the API's
//! own port, so `scripts/local` then http://127.0.0.1:9000/ is the whole product in a browser.
//!
//! The client is plain static files (deployed, any static host serves them); this module is only
//! the local stand-in for that host. It answers `GET`/`HEAD` for `/` (index.html) and for files
//! under `web/` with a known static extension, never for the API's own paths, and never outside
//! `web/` or into its tests. Files are read on every request, so editing the client needs no
//! rebuild.
//!
//! `config.json` is the one file the stack may change on the way: with an OpenID provider
//! configured ([`use_sign_in`]), its `auth` says to sign in there, as a deployment's config.json
//! does (docs/deploy.md); without one, the file is served as it is (`auth.kind: "local"`).

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};

/// Top-level path segments that belong to the API (and the local token route), never to files.
const API_PREFIXES: [&str; 3] = ["conversations", "config", "local"];

static SIGN_IN: OnceLock<serde_json::Value> = OnceLock::new();

/// Serves `config.json` with `auth` replaced by `auth` (an `oidc` source). Once per process;
/// false if it was set already.
#[must_use]
pub fn use_sign_in(auth: serde_json::Value) -> bool {
    SIGN_IN.set(auth).is_ok()
}

/// `config.json` with the configured sign-in, or the file's bytes as they are.
fn config_json(bytes: Vec<u8>) -> Vec<u8> {
    let Some(auth) = SIGN_IN.get() else {
        return bytes;
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut config)) => {
            config.insert("auth".into(), auth.clone());
            serde_json::to_vec_pretty(&config).unwrap_or(bytes)
        }
        // Not an object: served as it is, so the client reports the file's own error.
        _ => bytes,
    }
}

/// The client's directory: `GROUPSHARE_WEB_DIR`, else `web/` of this workspace.
pub fn web_dir() -> PathBuf {
    std::env::var_os("GROUPSHARE_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"))
}

fn content_type(path: &Path) -> Option<&'static str> {
    Some(match path.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        // third-party-notices.txt (scripts/notices).
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// The file under `root` that `path` names, if `path` is a static file's (see the module doc).
pub fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = path.strip_prefix('/')?;
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let first = relative.split('/').next().unwrap_or_default();
    if API_PREFIXES.contains(&first) || first == "tests" {
        return None;
    }
    let relative = Path::new(relative);
    // Plain names only: no `..`, no absolute parts, no dotfiles.
    let plain = relative.components().all(|c| match c {
        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    if !plain {
        return None;
    }
    content_type(relative)?;
    let file = root.join(relative);
    file.is_file().then_some(file)
}

/// The static file's response, or `None` when the request is not for one (it goes to the API).
pub fn serve(method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let file = resolve(&web_dir(), path)?;
    let response = Response::builder()
        .header("x-content-type-options", "nosniff")
        // As the template's CloudFront policy: no other site may frame the client (a <meta>
        // CSP cannot say frame-ancestors).
        .header("x-frame-options", "DENY")
        // Always revalidate: the files change while a developer works on them.
        .header("cache-control", "no-cache");
    Some(match std::fs::read(&file) {
        Ok(bytes) => {
            let bytes = if path == "/config.json" {
                config_json(bytes)
            } else {
                bytes
            };
            let body = if method == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from(bytes)
            };
            response
                .header("content-type", content_type(&file).unwrap_or("text/plain"))
                .body(Full::new(body))
                .unwrap_or_default()
        }
        Err(e) => response
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(format!("{}: {e}", file.display()))))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_client_and_nothing_else() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
        assert!(resolve(&root, "/").is_some_and(|p| p.ends_with("index.html")));
        assert!(resolve(&root, "/app.js").is_some());
        assert!(resolve(&root, "/views/group.js").is_some());
        assert!(resolve(&root, "/third-party-notices.txt").is_some());
        for refused in [
            "/conversations",
            "/conversations/demo-team/files/app.js",
            "/config",
            "/local/token",
            "/../Cargo.toml",
            "/views/../../Cargo.toml",
            "/tests/test_browser.py",
            "/.gitignore",
            "/missing.js",
            "app.js",
        ] {
            assert_eq!(resolve(&root, refused), None, "{refused}");
        }
    }
}
