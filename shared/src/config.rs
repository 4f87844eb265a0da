//! Settings read from the environment the SAM template (or the local stack) sets.

use std::ops::RangeInclusive;
use std::time::Duration;

/// Longest lifetime a presigned download URL may have, whatever the configuration says.
pub const MAX_DOWNLOAD_URL_TTL: Duration = Duration::from_secs(3600);
/// Most file ids one file-info call may ask for (DynamoDB's BatchGetItem limit).
pub const MAX_IDS_PER_BATCH: usize = 100;
/// Largest text message body, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Page size bounds for every listing.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
pub const MAX_PAGE_LIMIT: u32 = 100;
/// History pages go further, so a new device catches up in few requests: 1,000 typical
/// messages are a few hundred KB, one DynamoDB query (which itself stops at 1 MB of items, so
/// even 16 KiB texts keep a page near 1.3 MB of JSON, far under Lambda's 6 MB response limit).
pub const MAX_HISTORY_PAGE_LIMIT: u32 = 1000;

/// Most groups one person is in at once. Anyone may put anyone in a group, and each membership
/// grows the person's profile item (`infra/store/profiles.rs`), so this bound, checked inside
/// every join, keeps it far from DynamoDB's 400 KB item limit.
pub const MAX_GROUPS_PER_USER: usize = 1000;

/// Longest recall window a deployment may set (a day): past it, a message is history.
pub const MAX_RECALL_WINDOW_SECS: u64 = 86_400;

/// The retention periods (days; 0 = forever) a deployment may choose. Each has its own key
/// prefix (`files/r{days}/`, see `blob::object_key`) and, in template.yaml, its own lifecycle
/// rule, so a file's bytes expire after the retention it was uploaded under, whatever the
/// setting is later. Adding a value means adding its lifecycle rule (tests/tests/deployment.rs
/// checks they agree).
pub const RETENTION_DAYS_CHOICES: &[u32] = &[0, 1, 7, 14, 30, 90, 180, 365];

/// S3's limits for multipart uploads: parts per upload, smallest part (all but the last),
/// largest part, largest object; and the largest single POST upload.
pub const S3_MAX_PARTS: u64 = 10_000;
pub const S3_MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
pub const S3_MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
pub const S3_MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;
pub const S3_MAX_POST_BYTES: u64 = 5 * 1000 * 1000 * 1000;
/// Part URLs signed per call at most (create, or `…/parts`); a client asks again for more.
pub const MAX_PART_URLS_PER_CALL: usize = 1000;

#[derive(Clone, Debug)]
pub struct Tables {
    pub conversations: String,
    pub members: String,
    pub messages: String,
    pub files: String,
    pub idempotency: String,
    /// Open WebSocket connections, one item per user (push).
    pub connections: String,
    /// People: display names, and the groups each is in (who may see whose name).
    pub profiles: String,
    /// Invite links to groups.
    pub invites: String,
    /// The file search index: one item per (group, term, file) of every findable file.
    pub file_search: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    /// Only the functions that touch S3 get `FILES_BUCKET`; the S3-event function reads the
    /// bucket from each event.
    pub bucket: Option<String>,
    pub download_url_ttl: Duration,
    pub upload_url_ttl: Duration,
    /// Largest file (any upload kind), at most S3's object limit.
    pub max_upload_bytes: u64,
    /// How long after sending a sender may recall a message; 0 turns recall off (owners and
    /// admins can still delete).
    pub recall_window_secs: u64,
    /// Files larger than this are uploaded in parts (multipart), smaller ones by one POST.
    pub multipart_threshold_bytes: u64,
    /// Default part size; raised for very large files so the part count stays within S3's.
    pub part_size_bytes: u64,
    /// Days a file stays downloadable after upload; 0 keeps files forever.
    pub retention_days: u32,
    pub s3_force_path_style: bool,
    /// S3 endpoint override (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`): local stand-ins.
    pub s3_endpoint: Option<String>,
    /// Open WebSocket connections one user may hold at once (`MAX_CONNECTIONS_PER_USER`,
    /// 1..=100, default 10); the next is refused at `$connect`.
    pub max_connections_per_user: usize,
    /// The app's time (the system's; tests move it instead of sleeping).
    pub clock: crate::domain::time::Clock,
    /// Where the web client is served (`WEB_CLIENT_URL`), so an invite can carry a link a person
    /// opens; without it invites carry only their code.
    pub web_client_url: Option<String>,
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration error: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds the configuration from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &str| {
            get(key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError(format!("{key} is not set")))
        };
        let number = |key: &str, default: u64| -> Result<u64, ConfigError> {
            match get(key).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError(format!("{key}={v} is not a whole number"))),
            }
        };
        // A number that must lie in `range`; the error names the variable and the bounds.
        let within = |key: &str, default: u64, range: RangeInclusive<u64>| {
            let n = number(key, default)?;
            if range.contains(&n) {
                return Ok(n);
            }
            Err(ConfigError(match range.into_inner() {
                (0, hi) => format!("{key}={n} must be at most {hi}"),
                (lo, hi) => format!("{key}={n} must be between {lo} and {hi}"),
            }))
        };
        let ttl = within(
            "DOWNLOAD_URL_TTL_SECONDS",
            300,
            1..=MAX_DOWNLOAD_URL_TTL.as_secs(),
        )?;
        let retention = number("RETENTION_DAYS", 7)?;
        let recall_window_secs = within("RECALL_WINDOW_SECONDS", 120, 0..=MAX_RECALL_WINDOW_SECS)?;
        Ok(Self {
            tables: Tables {
                conversations: required("CONVERSATIONS_TABLE")?,
                members: required("MEMBERS_TABLE")?,
                messages: required("MESSAGES_TABLE")?,
                files: required("FILES_TABLE")?,
                idempotency: required("IDEMPOTENCY_TABLE")?,
                connections: required("CONNECTIONS_TABLE")?,
                profiles: required("PROFILES_TABLE")?,
                invites: required("INVITES_TABLE")?,
                file_search: required("FILE_SEARCH_TABLE")?,
            },
            max_connections_per_user: within("MAX_CONNECTIONS_PER_USER", 10, 1..=100)? as usize,
            clock: crate::domain::time::Clock::default(),
            web_client_url: get("WEB_CLIENT_URL")
                .map(|v| v.trim().trim_end_matches('/').to_string())
                .filter(|v| !v.is_empty()),
            bucket: get("FILES_BUCKET").filter(|v| !v.is_empty()),
            download_url_ttl: Duration::from_secs(ttl),
            upload_url_ttl: Duration::from_secs(
                number("UPLOAD_URL_TTL_SECONDS", 900)?.clamp(60, 3600),
            ),
            recall_window_secs,
            max_upload_bytes: within("MAX_UPLOAD_BYTES", 50 << 30, 1..=S3_MAX_OBJECT_BYTES)?,
            multipart_threshold_bytes: within(
                "MULTIPART_THRESHOLD_BYTES",
                64 << 20,
                0..=S3_MAX_POST_BYTES,
            )?,
            part_size_bytes: within(
                "MULTIPART_PART_SIZE_BYTES",
                16 << 20,
                S3_MIN_PART_BYTES..=S3_MAX_PART_BYTES,
            )?,
            retention_days: u32::try_from(retention)
                .ok()
                .filter(|d| RETENTION_DAYS_CHOICES.contains(d))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "RETENTION_DAYS={retention} must be one of {RETENTION_DAYS_CHOICES:?}"
                    ))
                })?,
            s3_force_path_style: matches!(
                get("S3_FORCE_PATH_STYLE").as_deref(),
                Some("1" | "true" | "TRUE" | "yes")
            ),
            s3_endpoint: get("AWS_ENDPOINT_URL_S3")
                .or_else(|| get("AWS_ENDPOINT_URL"))
                .filter(|v| !v.is_empty()),
        })
    }

    /// The limits a client needs before it uploads or downloads (`GET /config`).
    pub fn client_limits(&self) -> crate::domain::model::ClientLimits {
        crate::domain::model::ClientLimits {
            max_upload_bytes: self.max_upload_bytes,
            multipart_threshold_bytes: self.multipart_threshold_bytes,
            part_size_bytes: self.part_size_bytes,
            max_parts: S3_MAX_PARTS,
            max_part_urls_per_call: MAX_PART_URLS_PER_CALL,
            download_url_ttl_seconds: self.download_url_ttl.as_secs(),
            retention_days: self.retention_days,
            max_ids_per_batch: MAX_IDS_PER_BATCH,
            max_text_bytes: MAX_TEXT_BYTES,
            max_page_limit: MAX_PAGE_LIMIT,
            max_history_page_limit: MAX_HISTORY_PAGE_LIMIT,
            recall_window_seconds: self.recall_window_secs,
        }
    }

    /// The part size for a multipart file of `size` bytes: the configured size, raised (to
    /// whole MiB) when the file would otherwise need more than S3's 10,000 parts.
    pub fn part_size_for(&self, size: u64) -> u64 {
        const MIB: u64 = 1024 * 1024;
        let needed = size.div_ceil(S3_MAX_PARTS).div_ceil(MIB) * MIB;
        self.part_size_bytes.max(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("CONVERSATIONS_TABLE", "c"),
            ("MEMBERS_TABLE", "m"),
            ("MESSAGES_TABLE", "msg"),
            ("FILES_TABLE", "f"),
            ("IDEMPOTENCY_TABLE", "i"),
            ("CONNECTIONS_TABLE", "w"),
            ("PROFILES_TABLE", "p"),
            ("INVITES_TABLE", "v"),
            ("FILE_SEARCH_TABLE", "s"),
            ("FILES_BUCKET", "b"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn defaults_match_the_documented_limits() {
        let vars = env(&[]);
        let c = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(c.bucket.as_deref(), Some("b"));
        assert_eq!(c.download_url_ttl, Duration::from_secs(300));
        assert_eq!(c.max_upload_bytes, 50 * 1024 * 1024 * 1024);
        assert_eq!(c.multipart_threshold_bytes, 64 * 1024 * 1024);
        assert_eq!(c.part_size_bytes, 16 * 1024 * 1024);
        assert_eq!(c.retention_days, 7);
        assert_eq!(c.recall_window_secs, 120);
        assert!(!c.s3_force_path_style);
    }

    #[test]
    fn recall_window_is_bounded() {
        let vars = env(&[("RECALL_WINDOW_SECONDS", "0")]);
        assert_eq!(
            Config::from_lookup(|k| vars.get(k).cloned())
                .unwrap()
                .recall_window_secs,
            0
        );
        let vars = env(&[("RECALL_WINDOW_SECONDS", "86401")]);
        assert!(Config::from_lookup(|k| vars.get(k).cloned()).is_err());
    }

    #[test]
    fn url_lifetime_above_one_hour_is_refused() {
        let vars = env(&[("DOWNLOAD_URL_TTL_SECONDS", "3601")]);
        assert!(Config::from_lookup(|k| vars.get(k).cloned()).is_err());
        let vars = env(&[("DOWNLOAD_URL_TTL_SECONDS", "0")]);
        assert!(Config::from_lookup(|k| vars.get(k).cloned()).is_err());
    }

    #[test]
    fn retention_must_have_a_lifecycle_rule() {
        for ok in RETENTION_DAYS_CHOICES {
            let vars = env(&[("RETENTION_DAYS", &ok.to_string())]);
            let c = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
            assert_eq!(c.retention_days, *ok);
        }
        let vars = env(&[("RETENTION_DAYS", "8")]);
        let err = Config::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(err.0.contains("RETENTION_DAYS=8"), "{}", err.0);
    }

    #[test]
    fn part_size_keeps_the_part_count_within_s3s_limit() {
        let vars = env(&[]);
        let c = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(c.part_size_for(100 * 1024 * 1024), 16 * 1024 * 1024);
        for size in [50 << 30, S3_MAX_OBJECT_BYTES, (16 << 20) * S3_MAX_PARTS + 1] {
            let part = c.part_size_for(size);
            assert!(size.div_ceil(part) <= S3_MAX_PARTS, "{size}");
            assert!((S3_MIN_PART_BYTES..=S3_MAX_PART_BYTES).contains(&part));
        }
        for bad in [
            ("MULTIPART_PART_SIZE_BYTES", "1048576"),
            ("MULTIPART_THRESHOLD_BYTES", "5000000001"),
            ("MAX_UPLOAD_BYTES", "5497558138881"),
        ] {
            let vars = env(&[bad]);
            let err = Config::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
            assert!(err.0.contains(bad.0), "{}", err.0);
        }
    }

    #[test]
    fn missing_table_name_is_an_error() {
        let mut vars = env(&[]);
        vars.remove("FILES_TABLE");
        let err = Config::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(err.0.contains("FILES_TABLE"));
    }
}
