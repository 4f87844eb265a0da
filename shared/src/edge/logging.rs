//! Log output of every function, as Lambda's advanced logging controls ask for it: the level
//! from `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else INFO), JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT=JSON` (what the template sets), no timestamps (CloudWatch adds them).
//! What `lambda_runtime`'s default subscriber does, but with a plain level instead of an
//! `EnvFilter`, whose regex engine would be most of a binary's log code.
//!
//! The level applies to our own code only ([`OWN_TARGETS`]), whose lines name ids, routes and
//! faults, never what users wrote. Every other crate logs at most [`OTHERS_AT_MOST`]: below
//! that the SDK prints request and response bodies (TRACE: message texts, file names; DEBUG:
//! errors that carry a stored item, as a failed condition returns it), and the Lambda runtime
//! its raw events (TRACE). A filter by target prefix (`Targets`), no regex engine.

use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The crates whose events log at the configured level: `shared`, the local stack and every
/// function (a target is its module path, which starts with the crate's name).
pub const OWN_TARGETS: &[&str] = &[
    "shared",
    "groupshare_local",
    "conversations",
    "download_redirect",
    "file_info",
    "make_preview",
    "post_message",
    "pull_messages",
    "push_fanout",
    "sweep_uploads",
    "upload_completed",
    "upload_file",
    "ws_authorizer",
    "ws_connections",
];

/// The most any other crate logs, whatever the configured level: their warnings and errors
/// stay, what they print about requests below it does not.
pub const OTHERS_AT_MOST: LevelFilter = LevelFilter::INFO;

/// Who logs at which level: ours at `level`, others at `level` but never beyond
/// [`OTHERS_AT_MOST`].
pub fn filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level.min(OTHERS_AT_MOST))
        .with_targets(OWN_TARGETS.iter().map(|target| (*target, level)))
}

/// Installs the process's subscriber (once, at cold start).
pub fn init() {
    let (json, level) = settings(|name| std::env::var(name).ok());
    // A subscriber installed before (a test's) is kept.
    let _ = tracing::subscriber::set_global_default(subscriber(json, level, std::io::stdout));
}

/// What [`init`] installs, writing to `writer` (tests capture it).
pub fn subscriber<W>(json: bool, level: LevelFilter, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level)
        .with_writer(writer);
    if json {
        Box::new(builder.json().finish().with(filter(level)))
    } else {
        Box::new(builder.finish().with(filter(level)))
    }
}

/// (JSON lines?, level) from Lambda's variables.
fn settings(get: impl Fn(&str) -> Option<String>) -> (bool, LevelFilter) {
    let json = get("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let level = get("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| get("RUST_LOG"))
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    (json, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    /// The targets the SDK and the runtime print bodies and events under stay quiet at every
    /// level; ours follow the level.
    #[test]
    fn only_our_own_targets_log_below_info() {
        use tracing::Level;
        let trace = filter(LevelFilter::TRACE);
        for target in [
            "aws_smithy_runtime::client::orchestrator",
            "aws_smithy_runtime::client::orchestrator::http",
            "aws_sigv4::http_request::sign",
            "aws_sdk_dynamodb::operation::query",
            "lambda_runtime::layers::api_response",
            "hyper_util::client::legacy::pool",
        ] {
            assert!(!trace.would_enable(target, &Level::TRACE), "{target}");
            assert!(!trace.would_enable(target, &Level::DEBUG), "{target}");
            assert!(trace.would_enable(target, &Level::INFO), "{target}");
            assert!(trace.would_enable(target, &Level::ERROR), "{target}");
        }
        for target in [
            "shared::edge::http",
            "post_message",
            "groupshare_local::server",
        ] {
            assert!(trace.would_enable(target, &Level::TRACE), "{target}");
        }
        // A quieter level quiets everyone.
        let warn = filter(LevelFilter::WARN);
        assert!(!warn.would_enable("shared::edge::http", &Level::INFO));
        assert!(!warn.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(warn.would_enable("aws_smithy_runtime", &Level::WARN));
    }

    /// Every function crate is one of ours: a new function's debug lines are not capped.
    #[test]
    fn every_function_is_an_own_target() {
        let functions = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
        let mut seen = 0;
        for dir in std::fs::read_dir(functions).unwrap() {
            let manifest = dir.unwrap().path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(manifest) else {
                continue;
            };
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .unwrap()
                .trim_matches('"')
                .replace('-', "_");
            assert!(OWN_TARGETS.contains(&name.as_str()), "{name}");
            seen += 1;
        }
        assert!(seen >= 12, "{seen} functions found");
    }

    #[test]
    fn lambda_log_controls_decide_format_and_level() {
        assert_eq!(settings(env(&[])), (false, LevelFilter::INFO));
        const JSON_WARN: &[(&str, &str)] = &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ];
        assert_eq!(settings(env(JSON_WARN)), (true, LevelFilter::WARN));
        assert_eq!(
            settings(env(&[("RUST_LOG", "debug")])),
            (false, LevelFilter::DEBUG)
        );
        // Lambda's level wins over RUST_LOG; what is not a level falls back to INFO.
        const BOTH: &[(&str, &str)] = &[("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("RUST_LOG", "debug")];
        assert_eq!(settings(env(BOTH)), (false, LevelFilter::ERROR));
        const DIRECTIVE: &[(&str, &str)] = &[("RUST_LOG", "shared=debug")];
        assert_eq!(settings(env(DIRECTIVE)), (false, LevelFilter::INFO));
    }
}
