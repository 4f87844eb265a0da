//! Time as stored (milliseconds since the Unix epoch, DynamoDB numbers that sort) and as shown
//! (RFC 3339 UTC strings).

use aws_smithy_types::date_time::{DateTime, Format};
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    millis(SystemTime::now())
}

/// From now until `epoch_ms` (milliseconds since the epoch, as Lambda gives a deadline); zero
/// once it has passed.
pub fn until(epoch_ms: u64) -> Duration {
    Duration::from_millis(epoch_ms.saturating_sub(now_ms() as u64))
}

/// `t` in milliseconds since the epoch (0 before it).
pub fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What time it is for the app: the system's, shifted by an offset only tests move, so recall
/// windows, URL expiry and retention are tested by moving the clock, not by sleeping. Every
/// decision in `api` and every presigned URL reads it (`Config::clock`).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        now_ms() + self.offset_ms.load(SeqCst)
    }

    pub fn now(&self) -> SystemTime {
        let offset = self.offset_ms.load(SeqCst);
        let magnitude = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            SystemTime::now() + magnitude
        } else {
            SystemTime::now() - magnitude
        }
    }

    /// Moves this clock (and every clone of it) by `ms`, forward or back.
    pub fn shift(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, SeqCst);
    }
}

/// `2026-11-25T15:44:59.123Z`-style text for an epoch-millisecond instant.
pub fn rfc3339(ms: i64) -> String {
    DateTime::from_millis(ms)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// An RFC 3339 time as epoch milliseconds; `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = DateTime::from_str(text, Format::DateTime).ok()?;
    t.to_millis().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_085_499_123), "2025-11-25T15:44:59.123Z");
    }

    #[test]
    fn until_a_deadline_is_what_is_left_and_zero_once_passed() {
        assert_eq!(until(0), Duration::ZERO);
        assert_eq!(until(now_ms() as u64 - 1), Duration::ZERO);
        let left = until(now_ms() as u64 + 60_000);
        assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(30));
    }
}
