//! Identifier rules. Ids travel in paths, keys and cursors, so they are kept to a small,
//! URL-safe alphabet and a bounded length.

use crate::{ApiError, ErrorCode};

pub const MAX_ID_LEN: usize = 64;

/// True for 1..=64 characters of `[A-Za-z0-9_.:@-]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@' | b'|')
        })
}

/// An id checked once, where it enters (a path, a body, a query), so the code behind takes it
/// as a type and never checks it again. Reads as `&str` (`Deref`) for keys and messages.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $code:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ApiError> {
                check(raw, ErrorCode::$code, $what).map(|id| Self(id.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for &$name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<&$name> for String {
            fn eq(&self, other: &&$name) -> bool {
                *self == other.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(ConversationId, InvalidConversationId, "conversation id");
id_type!(FileId, InvalidFileId, "file id");
id_type!(
    /// A user's id (the identity provider's `sub`).
    UserId, InvalidUserId, "user id"
);

fn check<'a>(id: &'a str, code: ErrorCode, what: &str) -> Result<&'a str, ApiError> {
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(ApiError::new(
            code,
            format!("{what} must be 1-{MAX_ID_LEN} characters of A-Z a-z 0-9 _ - . : @ |"),
        ))
    }
}

/// A fresh random id (UUID v4, simple form: 32 hex characters).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// An id derived from a request's own key (`kind` and `parts`, e.g. the user and their
/// `client_msg_id`): a retry of the request names the same resource, which makes creating writes
/// idempotent with no record of their own. 32 hex characters of SHA-256.
pub fn derived_id(kind: &str, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(kind.as_bytes());
    for part in parts {
        // The separator keeps parts apart only while no part holds it (ids and labels cannot).
        debug_assert!(!part.contains('\0'), "a derived id's part holds NUL");
        hash.update(b"\0");
        hash.update(part.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_typical_ids_and_rejects_the_rest() {
        assert!(is_valid_id("c-1"));
        assert!(is_valid_id("auth0|5f7c8ec7c33c6c004bbafe82"));
        assert!(is_valid_id(&new_id()));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id(&"x".repeat(65)));
        assert!(!is_valid_id("é"));
    }
}
