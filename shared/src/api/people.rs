//! People: the caller's own profile (`GET`/`PUT /me`) and other people's names
//! (`GET /users?ids=`), so a client names every sender, uploader and member of a page in one
//! call. A profile is visible to its user and to whoever shares a group with them now or shared
//! one they are still in; to anyone else an id with a profile looks exactly like an unknown id.

use serde::{Deserialize, Serialize};

use crate::domain::caller::Caller;
use crate::domain::ids::UserId;
use crate::domain::model::Profile;
use crate::domain::{text, time};
use crate::{ApiError, App, ErrorCode};

/// Most ids one `GET /users` may ask for (DynamoDB's BatchGetItem limit).
pub const MAX_USER_IDS: usize = 100;

/// `GET /me`, `PUT /me`: everything the user chose and sees of themselves.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MyProfile {
    pub user_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Whether people who share a group see `email`.
    pub show_email: bool,
    pub signed_in_at: Option<String>,
}

impl From<Profile> for MyProfile {
    fn from(p: Profile) -> Self {
        Self {
            user_id: p.user_id,
            display_name: p.display_name,
            email: p.email,
            show_email: p.show_email,
            signed_in_at: p.signed_in_at_ms.map(time::rfc3339),
        }
    }
}

/// `GET /me`: the profile, created at the first sign-in with the provider's name as the first
/// display name. One read once signed in; the first call (or a new email) also writes.
pub async fn me(app: &App, caller: &Caller) -> Result<MyProfile, ApiError> {
    let stored = app.store.get_profile(&caller.user_id).await?;
    let up_to_date = stored.as_ref().is_some_and(|p| {
        p.signed_in_at_ms.is_some()
            && (p.display_name.is_some() || caller.name_hint.is_none())
            && (caller.email.is_none() || p.email == caller.email)
    });
    let profile = match stored {
        Some(p) if up_to_date => p,
        _ => {
            app.store
                .record_sign_in(
                    &caller.user_id,
                    caller.name_hint.as_deref(),
                    caller.email.as_deref(),
                    app.config.clock.now_ms(),
                )
                .await?
        }
    };
    Ok(profile.into())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub show_email: Option<bool>,
}

/// `PUT /me`: set the display name and whether others see the email.
pub async fn update_me(
    app: &App,
    caller: &Caller,
    change: ProfileChange,
) -> Result<MyProfile, ApiError> {
    let name = change
        .display_name
        .as_deref()
        .map(|n| {
            text::label(
                n,
                text::MAX_DISPLAY_NAME_CHARS,
                ErrorCode::InvalidDisplayName,
                "display_name",
            )
        })
        .transpose()?;
    let profile = app
        .store
        .update_profile(
            &caller.user_id,
            name,
            change.show_email,
            app.config.clock.now_ms(),
        )
        .await?;
    Ok(profile.into())
}

/// Someone else as the caller may see them.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserView {
    pub user_id: String,
    /// `null` until they choose one or sign in with a provider that names them.
    pub display_name: Option<String>,
    /// Only when they chose to show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `false` for someone added to a group who has never signed in.
    pub signed_in: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UserList {
    /// The ids the caller may see, in the order asked; others are left out, whether they exist
    /// or not.
    pub users: Vec<UserView>,
}

/// `GET /users?ids=a,b`: one storage round trip: a strongly consistent BatchGetItem of the
/// profiles asked for and the caller's own (which holds the groups the caller is in now), or,
/// when 100 others are asked for, the caller's by a GetItem beside it.
pub async fn users(app: &App, caller: &Caller, ids_param: &str) -> Result<UserList, ApiError> {
    let wanted = parse_user_ids(ids_param)?;
    let mut keys = wanted.clone();
    if !keys.contains(&caller.user_id) && keys.len() < MAX_USER_IDS {
        keys.push(caller.user_id.clone());
    }
    let mine_separately = !keys.contains(&caller.user_id);
    let (profiles, own) = futures::future::join(app.store.batch_get_profiles(&keys), async {
        match mine_separately {
            true => app.store.get_profile(&caller.user_id).await,
            false => Ok(None),
        }
    })
    .await;
    let (profiles, own) = (profiles?, own?);
    let mine = own.as_ref().or_else(|| profiles.get(&caller.user_id));
    Ok(UserList {
        users: wanted
            .iter()
            .filter_map(|id| profiles.get(id))
            .filter(|p| p.user_id == caller.user_id || mine.is_some_and(|m| may_see(m, p)))
            .map(|p| view(p, &caller.user_id))
            .collect(),
    })
}

/// Whether `viewer` may see `other`'s profile: they are in a group now that `other` is in, or
/// was in by their own doing (so names in a group's history stay names after their author
/// left, but being put in a group and taken out again by someone else names nobody).
pub fn may_see(viewer: &Profile, other: &Profile) -> bool {
    let named_in = |g: &String| other.groups.contains(g) || other.groups_ever.contains(g);
    viewer.groups.iter().any(named_in)
}

/// What `viewer_id` sees of `p` (who may see it is decided before).
pub fn view(p: &Profile, viewer_id: &str) -> UserView {
    UserView {
        user_id: p.user_id.clone(),
        display_name: p.display_name.clone(),
        email: (p.show_email || p.user_id == viewer_id)
            .then(|| p.email.clone())
            .flatten(),
        signed_in: p.signed_in_at_ms.is_some(),
    }
}

/// Comma-separated user ids: each valid, duplicates collapsed, 1..=[`MAX_USER_IDS`].
fn parse_user_ids(param: &str) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for raw in param.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if out.len() == MAX_USER_IDS {
            return Err(ApiError::new(
                ErrorCode::TooManyIds,
                format!("at most {MAX_USER_IDS} ids per request"),
            ));
        }
        let id = UserId::parse(raw)?;
        if !out.iter().any(|o| *o == id) {
            out.push(id.to_string());
        }
    }
    if out.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "ids: give 1 or more user ids, comma-separated",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(id: &str, groups: &[&str], ever: &[&str]) -> Profile {
        Profile {
            user_id: id.into(),
            display_name: Some(id.to_uppercase()),
            email: Some(format!("{id}@example.com")),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            groups_ever: ever.iter().map(|g| g.to_string()).collect(),
            ..Profile::default()
        }
    }

    #[test]
    fn names_are_visible_to_who_shares_a_group_now_or_its_history() {
        let viewer = profile("v", &["g1"], &["g1", "g0"]);
        assert!(may_see(&viewer, &profile("a", &["g1"], &["g1"])));
        // Put in g1 by someone else, nothing done there yet: named while in it.
        assert!(may_see(&viewer, &profile("e", &["g1"], &[])));
        // Left g1, but wrote its history: still named there.
        assert!(may_see(&viewer, &profile("b", &[], &["g1"])));
        // Shares only a group the viewer left: a stranger now.
        assert!(!may_see(&viewer, &profile("c", &["g0"], &["g0"])));
        assert!(!may_see(&viewer, &profile("d", &["g2"], &["g2"])));
    }

    #[test]
    fn email_only_when_chosen_or_own() {
        let mut p = profile("a", &[], &[]);
        assert_eq!(view(&p, "v").email, None);
        assert_eq!(view(&p, "a").email.as_deref(), Some("a@example.com"));
        p.show_email = true;
        assert_eq!(view(&p, "v").email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn ids_are_bounded_and_checked() {
        assert_eq!(parse_user_ids("a, b,a").unwrap(), vec!["a", "b"]);
        assert_eq!(
            parse_user_ids("").unwrap_err().code,
            ErrorCode::InvalidQuery
        );
        assert_eq!(
            parse_user_ids("a b").unwrap_err().code,
            ErrorCode::InvalidUserId
        );
        let many: Vec<String> = (0..=MAX_USER_IDS).map(|i| format!("u{i}")).collect();
        assert_eq!(
            parse_user_ids(&many.join(",")).unwrap_err().code,
            ErrorCode::TooManyIds
        );
    }
}
