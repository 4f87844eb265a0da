//! Opaque paging cursors.
//!
//! A cursor is base64url text around a small binary record: version, kind, the scope it belongs
//! to (a conversation id, or the caller's user id for their conversation list), the position, and
//! a 4-byte checksum. Decoding checks all of it, so a garbled, truncated or foreign cursor is a
//! clean `400 invalid_cursor`, never a 500 and never a read of another conversation's position.
//! Cursors carry no secret: a caller who forges one for a conversation they belong to learns
//! nothing they could not page to anyway.

use crate::ErrorCode;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

use crate::ApiError;

const VERSION: u8 = 1;

/// Highest `seq` a cursor may name: far beyond any real history, and exact in every JSON
/// client's numbers. Decoded positions are checked against it, so arithmetic on a forged
/// cursor (`after + 1`) can never overflow.
pub const MAX_SEQ: u64 = 1 << 53;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// Messages with `seq` strictly below this one (older).
    Before(u64),
    /// Messages with `seq` strictly above this one (newer).
    After(u64),
    /// Files listed newest first, continuing after this (uploaded_at, file_id).
    FilesAfter {
        uploaded_at_ms: i64,
        file_id: String,
    },
    /// The caller's conversations, continuing after this conversation id.
    ConversationsAfter { conversation_id: String },
}

impl Position {
    fn kind(&self) -> u8 {
        match self {
            Position::Before(_) => 1,
            Position::After(_) => 2,
            Position::FilesAfter { .. } => 3,
            Position::ConversationsAfter { .. } => 4,
        }
    }
}

/// Encodes `position` for `scope` (a conversation id or user id).
pub fn encode(scope: &str, position: &Position) -> String {
    let mut buf = vec![VERSION, position.kind()];
    push_str(&mut buf, scope);
    match position {
        Position::Before(seq) | Position::After(seq) => buf.extend_from_slice(&seq.to_be_bytes()),
        Position::FilesAfter {
            uploaded_at_ms,
            file_id,
        } => {
            buf.extend_from_slice(&uploaded_at_ms.to_be_bytes());
            push_str(&mut buf, file_id);
        }
        Position::ConversationsAfter { conversation_id } => push_str(&mut buf, conversation_id),
    }
    let sum = checksum(&buf);
    buf.extend_from_slice(&sum);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Decodes a cursor and checks it belongs to `scope`.
pub fn decode(scope: &str, text: &str) -> Result<Position, ApiError> {
    decode_inner(scope, text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCursor,
            "cursor is malformed or from another listing",
        )
    })
}

fn decode_inner(scope: &str, text: &str) -> Option<Position> {
    if text.len() > 512 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let (body, sum) = raw.split_at(raw.len().checked_sub(4)?);
    if checksum(body) != sum {
        return None;
    }
    let mut r = Reader(body);
    if r.u8()? != VERSION {
        return None;
    }
    let kind = r.u8()?;
    if r.str()? != scope {
        return None;
    }
    let position = match kind {
        1 => Position::Before(r.u64().filter(|s| (1..=MAX_SEQ).contains(s))?),
        2 => Position::After(r.u64().filter(|s| *s < MAX_SEQ)?),
        3 => Position::FilesAfter {
            uploaded_at_ms: i64::try_from(r.u64()?).ok()?,
            file_id: r.id()?,
        },
        4 => Position::ConversationsAfter {
            conversation_id: r.id()?,
        },
        _ => return None,
    };
    r.0.is_empty().then_some(position)
}

fn push_str(buf: &mut Vec<u8>, s: &str) {
    // Ids are at most 64 bytes (see `ids`); longer text is cut rather than wrapped.
    let bytes = &s.as_bytes()[..s.len().min(255)];
    buf.push(bytes.len() as u8);
    buf.extend_from_slice(bytes);
}

fn checksum(body: &[u8]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(b"groupshare-cursor")
        .chain_update(body)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u8()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    /// A string that is a valid id: positions only ever hold ids.
    fn id(&mut self) -> Option<String> {
        self.str()
            .filter(|s| crate::ids::is_valid_id(s))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for p in [
            Position::Before(42),
            Position::After(0),
            Position::FilesAfter {
                uploaded_at_ms: 1_700_000_000_000,
                file_id: "f1".into(),
            },
            Position::ConversationsAfter {
                conversation_id: "c9".into(),
            },
        ] {
            let text = encode("conv-1", &p);
            assert_eq!(decode("conv-1", &text).unwrap(), p);
        }
    }

    /// Well-formed, correctly checksummed cursors whose positions are out of range (a forger
    /// can compute the checksum) are refused, so no arithmetic on them can overflow.
    #[test]
    fn refuses_out_of_range_positions() {
        for p in [
            Position::After(u64::MAX),
            Position::After(MAX_SEQ),
            Position::Before(0),
            Position::Before(u64::MAX),
            Position::FilesAfter {
                uploaded_at_ms: -1,
                file_id: "f1".into(),
            },
            Position::FilesAfter {
                uploaded_at_ms: 1,
                file_id: "not/an id".into(),
            },
            Position::ConversationsAfter {
                conversation_id: "".into(),
            },
        ] {
            let text = encode("conv-1", &p);
            assert_eq!(
                decode("conv-1", &text).unwrap_err().code,
                "invalid_cursor",
                "{p:?}"
            );
        }
        let edge = encode("conv-1", &Position::After(MAX_SEQ - 1));
        assert_eq!(
            decode("conv-1", &edge).unwrap(),
            Position::After(MAX_SEQ - 1)
        );
    }

    #[test]
    fn rejects_garbled_truncated_and_foreign_cursors() {
        let text = encode("conv-1", &Position::Before(42));
        let err = |t: &str, scope: &str| decode(scope, t).unwrap_err().code;
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
    }
}
