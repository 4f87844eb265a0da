//! Invite links: owners and admins make, list and revoke them; anyone signed in who holds one
//! sees what they would join and joins. Joining is one append transaction that adds the member,
//! spends a use of the invite (conditioned on it being unrevoked, unexpired and with uses left),
//! checks that the inviter may still invite, records `member_joined` in history and updates the
//! joiner's profile groups, so no condition can change between the check and the join.

use crate::domain::ids::ConversationId;
use serde::{Deserialize, Serialize};

use super::conversations::{
    system_message, too_many_groups, view as conversation_view, ConversationView,
};
use super::{require_member, Paging};
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, InvitesAfter};
use crate::domain::model::{Member, Role, SystemEvent, SystemEventKind};
use crate::domain::{ids, time};
use crate::infra::store::{
    profile_joined, put_member_if_absent, use_invite, Append, AppendOutcome, Guard, Invite,
    PutInvite,
};
use crate::{ApiError, App, ErrorCode};

/// Without `expires_in`, an invite lasts a week; at most 30 days.
pub const DEFAULT_INVITE_SECS: u64 = 7 * 86_400;
pub const MAX_INVITE_SECS: u64 = 30 * 86_400;
pub const MAX_INVITE_USES: u64 = 1000;
/// An expired invite's item is kept this long (so it answers "expired", not "unknown").
const KEEP_EXPIRED_SECS: i64 = 7 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    /// Seconds from now, 60..=30 days.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// 1..=1000; absent: any number until it expires.
    #[serde(default)]
    pub max_uses: Option<u64>,
    /// Makes the request safe to retry: the same key from the same caller in the same group
    /// answers with the invite it made, not a second one.
    #[serde(default)]
    pub client_request_id: Option<String>,
}

/// An invite as its group's owners and admins see it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InviteView {
    pub code: String,
    /// The web client's link for it, when the deployment says where the client is.
    pub url: Option<String>,
    pub conversation_id: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub max_uses: Option<u64>,
    pub uses: u64,
    /// `active`, `expired`, `used_up`, `revoked`, or `disabled`: its maker is no longer an
    /// owner or admin, or was not one all the time since making it, so nobody can join with it.
    pub status: String,
}

/// `maker_may_invite`: its maker has been an owner or admin since making it (accepting checks it
/// in the write).
fn invite_view(app: &App, invite: &Invite, maker_may_invite: bool) -> InviteView {
    let now = app.config.clock.now_ms();
    let status = if invite.revoked_at.is_some() {
        "revoked"
    } else if now >= invite.expires_at {
        "expired"
    } else if !invite.usable(now) {
        "used_up"
    } else if !maker_may_invite {
        "disabled"
    } else {
        "active"
    };
    InviteView {
        code: invite.code.clone(),
        url: app
            .config
            .web_client_url
            .as_ref()
            .map(|base| format!("{base}/#/invite/{}", invite.code)),
        conversation_id: invite.conversation_id.clone(),
        created_by: invite.created_by.clone(),
        created_at: time::rfc3339(invite.created_at),
        expires_at: time::rfc3339(invite.expires_at),
        max_uses: invite.max_uses,
        uses: invite.uses,
        status: status.into(),
    }
}

/// A code: 256 bits from two random UUIDs (244 of them random), as 64 hex characters, so it is
/// also a valid id for keys and paths.
fn new_code() -> String {
    format!("{}{}", ids::new_id(), ids::new_id())
}

async fn require_manager(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
) -> Result<Member, ApiError> {
    let me = require_member(app, caller, conversation_id).await?;
    if !me.role.can_manage_members() {
        return Err(ApiError::forbidden("only owners and admins manage invites"));
    }
    Ok(me)
}

/// `POST /conversations/{cid}/invites` (owners and admins). Returns the invite and whether it
/// was made now (`false`: a retry of the request that made it).
pub async fn create(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    new: NewInvite,
) -> Result<(InviteView, bool), ApiError> {
    let lifetime = new.expires_in.unwrap_or(DEFAULT_INVITE_SECS);
    if !(60..=MAX_INVITE_SECS).contains(&lifetime) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("expires_in must be between 60 and {MAX_INVITE_SECS} seconds"),
        ));
    }
    if new
        .max_uses
        .is_some_and(|n| !(1..=MAX_INVITE_USES).contains(&n))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("max_uses must be between 1 and {MAX_INVITE_USES}"),
        ));
    }
    let me = require_manager(app, caller, conversation_id).await?;
    // Never before the maker's `manages_since` (written by another clock), or the link would
    // be born dead.
    let now = app.config.clock.now_ms().max(me.managing_from_ms());
    let expires_at = now + lifetime as i64 * 1000;
    let invite = Invite {
        code: new_code(),
        conversation_id: conversation_id.to_string(),
        created_by: caller.user_id.clone(),
        created_at: now,
        expires_at,
        max_uses: new.max_uses,
        uses: 0,
        revoked_at: None,
        expires_at_s: expires_at / 1000 + KEEP_EXPIRED_SECS,
    };
    let request = match &new.client_request_id {
        Some(key) => {
            super::messages::check_client_msg_id(key)?;
            Some(ids::derived_id(
                "groupshare-invite",
                &[conversation_id, &caller.user_id, key],
            ))
        }
        None => None,
    };
    match app
        .store
        .put_invite_once(&invite, request.as_deref())
        .await?
    {
        PutInvite::Stored => Ok((invite_view(app, &invite, true), true)),
        // A retry asks for the same terms; a key reused for other ones is a client bug that
        // would otherwise hand out a link other than the one asked for (unlimited for single-use).
        PutInvite::Existing(first)
            if first.max_uses != new.max_uses
                || first.expires_at - first.created_at != lifetime as i64 * 1000 =>
        {
            Err(ApiError::new(
                ErrorCode::ClientMsgIdReused,
                "client_request_id was already used to make another invite",
            ))
        }
        PutInvite::Existing(first) => {
            let live = me.has_managed_since(first.created_at);
            Ok((invite_view(app, &first, live), false))
        }
        // Lost the role (or the group) while asking: a non-manager's answer. Or demoted and
        // promoted again meanwhile, which the link's time would predate: worth a retry.
        PutInvite::NotAllowed => {
            require_manager(app, caller, conversation_id).await?;
            Err(ApiError::unavailable())
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InviteList {
    /// Newest first, every status.
    pub invites: Vec<InviteView>,
    pub cursor: Option<String>,
}

/// `GET /conversations/{cid}/invites` (owners and admins).
pub async fn list(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    page: Paging<InvitesAfter>,
) -> Result<InviteList, ApiError> {
    require_manager(app, caller, conversation_id).await?;
    let (invites, more) = app
        .store
        .list_invites(conversation_id, page.after.as_ref(), page.limit)
        .await?;
    // Whether each maker may still invite: a link dies with its maker's role, for good.
    let mut makers: Vec<&str> = invites.iter().map(|i| i.created_by.as_str()).collect();
    makers.sort_unstable();
    makers.dedup();
    let members = app.store.members_in(conversation_id, &makers).await?;
    let may_invite = |i: &Invite| {
        members
            .get(&i.created_by)
            .is_some_and(|m| m.has_managed_since(i.created_at))
    };
    Ok(InviteList {
        cursor: cursor::after_last(conversation_id, more, &invites, |last| InvitesAfter {
            created_at: last.created_at,
            code: last.code.clone(),
        }),
        invites: invites
            .iter()
            .map(|i| invite_view(app, i, may_invite(i)))
            .collect(),
    })
}

/// `DELETE /conversations/{cid}/invites/{code}` (owners and admins): nobody joins with it from
/// now on. Revoking twice is fine; an unknown code is 404.
pub async fn revoke(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    code: &str,
) -> Result<(), ApiError> {
    require_manager(app, caller, conversation_id).await?;
    if !ids::is_valid_id(code)
        || !app
            .store
            .revoke_invite(conversation_id, code, app.config.clock.now_ms())
            .await?
    {
        return Err(ApiError::not_found());
    }
    Ok(())
}

/// `GET /invites/{code}`: what a holder of the link would join, and nothing more.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InvitePreview {
    pub title: String,
    pub member_count: u64,
    /// The inviter's display name (`null` if they have none).
    pub inviter_name: Option<String>,
}

/// The invite a code names; an unknown (or malformed) code is the plain 404 of any unknown
/// resource.
async fn find_invite(app: &App, code: &str) -> Result<Invite, ApiError> {
    if !ids::is_valid_id(code) {
        return Err(ApiError::not_found());
    }
    app.store
        .get_invite(code)
        .await?
        .ok_or_else(ApiError::not_found)
}

fn invite_gone() -> ApiError {
    ApiError::new(
        ErrorCode::InviteGone,
        "this invite link has expired, was revoked or has been used up; ask for a new one",
    )
}

/// A revoked, expired or used-up invite is `410 invite_gone`.
pub async fn preview(app: &App, code: &str) -> Result<InvitePreview, ApiError> {
    let invite = find_invite(app, code).await?;
    if !invite.usable(app.config.clock.now_ms()) {
        return Err(invite_gone());
    }
    let cid = invite.conversation_id.as_str();
    let (conversation, inviter, inviter_member) = futures::future::join3(
        app.store.get_conversation(cid),
        app.store.get_profile(&invite.created_by),
        app.store.get_member(cid, &invite.created_by),
    )
    .await;
    let c = conversation?.ok_or_else(invite_gone)?;
    // A link whose inviter may no longer invite lets nobody in (the accept's in-write check),
    // so it shows nothing of the group either.
    if !inviter_member?.is_some_and(|m| m.has_managed_since(invite.created_at)) {
        return Err(invite_gone());
    }
    let member_count = match c.member_count {
        Some(n) => n,
        None => app.store.count_members(&c.conversation_id, None).await? as u64,
    };
    Ok(InvitePreview {
        title: c.title,
        member_count,
        inviter_name: inviter?.and_then(|p| p.display_name),
    })
}

/// `POST /invites/{code}/accept`: the caller becomes a member (`true`), or already was one
/// (`false`, nothing spent: accepting twice is harmless, even after the invite ran out).
pub async fn accept(
    app: &App,
    caller: &Caller,
    code: &str,
) -> Result<(ConversationView, bool), ApiError> {
    let invite = find_invite(app, code).await?;
    let cid = invite.conversation_id.as_str();
    let (existing, conversation) = futures::future::join(
        app.store.get_member(cid, &caller.user_id),
        app.store.get_conversation(cid),
    )
    .await;
    let conversation = conversation?.ok_or_else(invite_gone)?;
    if let Some(me) = existing? {
        return Ok((conversation_view(&conversation, me.role), false));
    }
    let now = app.config.clock.now_ms();
    if !invite.usable(now) {
        return Err(invite_gone());
    }
    // Who joined is the event's user; whose invite let them in is its sender.
    let event = system_message(
        cid,
        &invite.created_by,
        SystemEvent {
            role: Some(Role::Member),
            ..SystemEvent::new(SystemEventKind::MemberJoined, &caller.user_id)
        },
        now,
    );
    let append = Append {
        member_delta: 1,
        // The entry is the joiner's doing, not the inviter's: the inviter's marker stays, and
        // the joiner's starts at the entry (their member item, put below).
        marks_read: false,
        // The inviter must be an owner or admin when the join commits, and have been since
        // making the link: one demoted meanwhile and promoted again does not bring it back.
        ..Append::new(
            cid,
            Guard::ManagerSince(&invite.created_by, invite.created_at),
        )
    };
    let outcome = app
        .store
        .append_message(
            append,
            |seq| {
                // Their own doing: the entry that adds them is read.
                let joined = Member {
                    acted: true,
                    read_seq: seq,
                    ..Member::new(cid, &caller.user_id, Role::Member, now, seq)
                };
                vec![
                    put_member_if_absent(&app.store, &joined),
                    use_invite(&app.store, code, now),
                    profile_joined(&app.store, &caller.user_id, cid),
                ]
            },
            event,
        )
        .await?;
    match outcome {
        AppendOutcome::Appended(_) => Ok((conversation_view(&conversation, Role::Member), true)),
        // A concurrent accept by the same person committed first.
        AppendOutcome::ExtraConditionFailed(0) => {
            let role = app
                .store
                .get_member(cid, &caller.user_id)
                .await?
                .map_or(Role::Member, |m| m.role);
            Ok((conversation_view(&conversation, role), false))
        }
        AppendOutcome::ExtraConditionFailed(2) => Err(too_many_groups(caller, &caller.user_id)),
        // Revoked, expired or used up meanwhile, or the inviter may no longer invite.
        AppendOutcome::ExtraConditionFailed(_) | AppendOutcome::NotAllowed => Err(invite_gone()),
        AppendOutcome::Duplicate(_) | AppendOutcome::NoConversation | AppendOutcome::LastOwner => {
            Err(invite_gone())
        }
    }
}
