//! Log output of every function, as Lambda's advanced logging controls ask for it: the level
//! from `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else INFO), JSON lines when
//! `AWS_LAMBDA_LOG_FORMAT=JSON` (what the template sets), no timestamps (CloudWatch adds them).
//! What `lambda_runtime`'s default subscriber does, but with a plain level instead of an
//! `EnvFilter`, whose regex engine would be most of a binary's log code.

use tracing_subscriber::filter::LevelFilter;

/// Installs the process's subscriber (once, at cold start).
pub fn init() {
    let (json, level) = settings(|name| std::env::var(name).ok());
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    // A subscriber installed before (a test's) is kept.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
