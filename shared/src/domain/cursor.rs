//! Opaque paging cursors, generic over the position a listing resumes from.
//!
//! A cursor is base64url text around: a version byte, the position type's kind byte, the scope
//! it belongs to (a conversation id, or the caller's user id for their conversation list), the
//! position as JSON, and a 4-byte checksum. Decoding checks all of it and then the position's
//! own ranges, so a garbled, truncated, foreign or forged cursor is a clean
//! `400 invalid_cursor`, never a 500, an overflow, or a read of another conversation's position.
//! Cursors carry no secret: a caller who forges one for a conversation they belong to learns
//! nothing they could not page to anyway. A new paged listing adds a position type, not a codec.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ApiError, ErrorCode};

const VERSION: u8 = 2;
/// Longest cursor text accepted (every real one is far shorter).
const MAX_CURSOR_CHARS: usize = 512;

/// Highest `seq` a cursor may name: far beyond any real history, and exact in every JSON
/// client's numbers. Decoded positions are checked against it, so arithmetic on a forged
/// cursor (`after + 1`) can never overflow.
pub const MAX_SEQ: u64 = 1 << 53;

/// Where a listing resumes.
pub trait Position: Serialize + DeserializeOwned {
    /// Tells the cursors of different listings apart.
    const KIND: u8;
    /// Range and id checks on a decoded position: it came from a client.
    fn is_valid(&self) -> bool;
}

/// History older than this `seq` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Before(pub u64);

/// History newer than this `seq` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct After(pub u64);

/// A conversation's files, newest first, continuing after this one. Ordered by time, then id
/// (the fields' order): the greater position is the newer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FilesAfter {
    pub uploaded_at_ms: i64,
    pub file_id: String,
}

/// The caller's conversations, most recent activity first (ties by id), continuing after the
/// last one a page showed: its activity when the page was read, and its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationsAfter {
    pub activity_ms: i64,
    pub conversation_id: String,
}

/// A conversation's members, by user id, continuing after this one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersAfter {
    pub user_id: String,
}

/// A group's invites, newest first, continuing after this one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitesAfter {
    pub created_at: i64,
    pub code: String,
}

impl Position for Before {
    const KIND: u8 = 1;
    fn is_valid(&self) -> bool {
        (1..=MAX_SEQ).contains(&self.0)
    }
}

impl Position for After {
    const KIND: u8 = 2;
    fn is_valid(&self) -> bool {
        self.0 < MAX_SEQ
    }
}

impl Position for FilesAfter {
    const KIND: u8 = 3;
    fn is_valid(&self) -> bool {
        self.uploaded_at_ms >= 0 && crate::domain::ids::is_valid_id(&self.file_id)
    }
}

impl Position for ConversationsAfter {
    /// 4 was the id-ordered list's (before activity); its cursors are refused, not misread.
    const KIND: u8 = 7;
    fn is_valid(&self) -> bool {
        self.activity_ms >= 0 && crate::domain::ids::is_valid_id(&self.conversation_id)
    }
}

impl Position for MembersAfter {
    const KIND: u8 = 5;
    fn is_valid(&self) -> bool {
        crate::domain::ids::is_valid_id(&self.user_id)
    }
}

impl Position for InvitesAfter {
    const KIND: u8 = 6;
    fn is_valid(&self) -> bool {
        self.created_at >= 0 && crate::domain::ids::is_valid_id(&self.code)
    }
}

/// Encodes `position` for `scope` (a conversation id or user id).
pub fn encode<P: Position>(scope: &str, position: &P) -> String {
    let mut buf = vec![VERSION, P::KIND];
    // Ids are at most 64 bytes (see `ids`); longer text is cut rather than wrapped.
    let scope = &scope.as_bytes()[..scope.len().min(255)];
    buf.push(scope.len() as u8);
    buf.extend_from_slice(scope);
    serde_json::to_writer(&mut buf, position).expect("positions serialize");
    let sum = checksum(&buf);
    buf.extend_from_slice(&sum);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The cursor continuing a page after its last item when `more` may follow; `None` at the end.
pub fn after_last<T, P: Position>(
    scope: &str,
    more: bool,
    page: &[T],
    position: impl FnOnce(&T) -> P,
) -> Option<String> {
    let last = page.last().filter(|_| more)?;
    Some(encode(scope, &position(last)))
}

/// Decodes a cursor of listing `P` and checks it belongs to `scope`.
pub fn decode<P: Position>(scope: &str, text: &str) -> Result<P, ApiError> {
    decode_inner(scope, text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCursor,
            "cursor is malformed or from another listing",
        )
    })
}

fn decode_inner<P: Position>(scope: &str, text: &str) -> Option<P> {
    if text.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let (body, sum) = raw.split_at(raw.len().checked_sub(4)?);
    if checksum(body) != sum {
        return None;
    }
    let [version, kind, scope_len, rest @ ..] = body else {
        return None;
    };
    if *version != VERSION || *kind != P::KIND {
        return None;
    }
    let (cursor_scope, position) = rest.split_at_checked(usize::from(*scope_len))?;
    if cursor_scope != scope.as_bytes() {
        return None;
    }
    serde_json::from_slice::<P>(position)
        .ok()
        .filter(P::is_valid)
}

fn checksum(body: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(b"groupshare-cursor")
        .chain_update(body)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<P: Position + PartialEq + std::fmt::Debug>(p: P) {
        let text = encode("conv-1", &p);
        assert_eq!(decode::<P>("conv-1", &text).unwrap(), p);
    }

    #[test]
    fn round_trips_every_kind() {
        round_trip(Before(42));
        round_trip(After(0));
        round_trip(FilesAfter {
            uploaded_at_ms: 1_700_000_000_000,
            file_id: "f1".into(),
        });
        round_trip(ConversationsAfter {
            activity_ms: 1_700_000_000_000,
            conversation_id: "c9".into(),
        });
        round_trip(MembersAfter {
            user_id: "auth0|42".into(),
        });
    }

    #[test]
    fn rejects_garbled_truncated_foreign_and_other_listings_cursors() {
        let text = encode("conv-1", &Before(42));
        let err = |t: &str, scope: &str| decode::<Before>(scope, t).unwrap_err().code;
        assert_eq!(err(&text, "conv-2"), "invalid_cursor");
        assert_eq!(err(&text[..text.len() - 2], "conv-1"), "invalid_cursor");
        assert_eq!(err("", "conv-1"), "invalid_cursor");
        assert_eq!(err("!!!", "conv-1"), "invalid_cursor");
        let mut flipped = text.clone().into_bytes();
        flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            err(std::str::from_utf8(&flipped).unwrap(), "conv-1"),
            "invalid_cursor"
        );
        // A valid cursor of another listing is not this listing's.
        assert_eq!(
            decode::<After>("conv-1", &text).unwrap_err().code,
            "invalid_cursor"
        );
    }

    /// Well-formed, correctly checksummed cursors whose positions are out of range (a forger
    /// can compute the checksum) are refused, so no arithmetic on them can overflow.
    #[test]
    fn refuses_out_of_range_positions() {
        fn refused<P: Position + std::fmt::Debug>(p: P) {
            let text = encode("conv-1", &p);
            assert_eq!(
                decode::<P>("conv-1", &text).unwrap_err().code,
                "invalid_cursor",
                "{p:?}"
            );
        }
        refused(After(u64::MAX));
        refused(After(MAX_SEQ));
        refused(Before(0));
        refused(Before(u64::MAX));
        refused(FilesAfter {
            uploaded_at_ms: -1,
            file_id: "f1".into(),
        });
        refused(FilesAfter {
            uploaded_at_ms: 1,
            file_id: "not/an id".into(),
        });
        refused(ConversationsAfter {
            activity_ms: 1,
            conversation_id: "".into(),
        });
        refused(ConversationsAfter {
            activity_ms: -1,
            conversation_id: "c9".into(),
        });
        refused(MembersAfter {
            user_id: "a b".into(),
        });
        round_trip(After(MAX_SEQ - 1));
    }
}
