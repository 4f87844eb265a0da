//! Who is calling, once an authorizer has verified it (shared::edge::identity reads the claims).

use crate::domain::{ids, text};
use crate::{ApiError, ErrorCode};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    /// What the identity provider calls them (`name`, else `preferred_username`, else
    /// `email`): only the first value of their display name, which is theirs to change.
    pub name_hint: Option<String>,
    /// The `email` claim, kept private unless they choose to show it.
    pub email: Option<String>,
}

impl Caller {
    /// The caller from the claims an authorizer verified: `sub` is the identity; `name`,
    /// `preferred_username` and `email` are hints for a first display name.
    pub fn from_claims<'a>(claim: impl Fn(&str) -> Option<&'a str>) -> Result<Caller, ApiError> {
        let claim = |name: &str| claim(name).map(str::trim).filter(|v| !v.is_empty());
        let user_id = claim("sub").ok_or_else(ApiError::unauthenticated)?;
        if !ids::is_valid_id(user_id) {
            // A subject we cannot use as a key is not an identity we can serve.
            return Err(ApiError::unauthenticated());
        }
        // Hints only: a name that breaks the display-name rules is not taken (the user sets one).
        let usable = |v: &str| {
            text::label(
                v,
                text::MAX_DISPLAY_NAME_CHARS,
                ErrorCode::InvalidDisplayName,
                "name",
            )
            .ok()
            .map(str::to_string)
        };
        let email = claim("email").and_then(usable);
        Ok(Caller {
            user_id: user_id.to_string(),
            name_hint: claim("name")
                .or_else(|| claim("preferred_username"))
                .and_then(usable)
                .or_else(|| email.clone()),
            email,
        })
    }
}
