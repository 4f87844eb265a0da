//! A group's members: listing, adding, removing (or leaving) and changing roles, each with
//! the role rules and the at-least-one-owner rule held inside the write.

use crate::domain::ids::{ConversationId, UserId};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use super::conversations::{system_message, too_many_groups};
use super::{as_member, require_member, Paging};
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, MembersAfter};
use crate::domain::model::{Member, Role, SystemEvent, SystemEventKind};
use crate::domain::time;
use crate::infra::store::{
    delete_member_as_seen, profile_joined, profile_left, put_member_if_absent, set_member_role,
    Append, AppendOutcome, Guard,
};
use crate::{ApiError, App};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub user_id: String,
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberView {
    pub conversation_id: String,
    pub user_id: String,
    pub role: Role,
    pub joined_at: String,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        Self {
            conversation_id: m.conversation_id.clone(),
            user_id: m.user_id.clone(),
            role: m.role,
            joined_at: time::rfc3339(m.joined_at_ms),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberList {
    /// Ordered by user id.
    pub members: Vec<MemberView>,
    /// Continues the list; `null` at the end.
    pub cursor: Option<String>,
}

/// `GET /conversations/{cid}/members?limit=&cursor=` (members only; the same 404 otherwise).
pub async fn list(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    page: Paging<MembersAfter>,
) -> Result<MemberList, ApiError> {
    let page = app
        .store
        .list_members(conversation_id, page.after.as_ref(), page.limit);
    let (_, (members, more)) = as_member(app, caller, conversation_id, page).await?;
    Ok(MemberList {
        cursor: cursor::after_last(conversation_id, more, &members, |last| MembersAfter {
            user_id: last.user_id.clone(),
        }),
        members: members.iter().map(MemberView::from).collect(),
    })
}

/// `POST /conversations/{cid}/members` (owners and admins). Returns the member and whether they
/// were added now (`false`: already a member, nothing changed).
pub async fn add(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    new: NewMember,
) -> Result<(MemberView, bool), ApiError> {
    UserId::parse(&new.user_id)?;
    let me = require_member(app, caller, conversation_id).await?;
    let role = new.role.unwrap_or(Role::Member);
    if !me.role.can_manage_members() {
        return Err(ApiError::forbidden("only owners and admins add members"));
    }
    if role == Role::Owner && me.role != Role::Owner {
        return Err(ApiError::forbidden("only owners make owners"));
    }
    if new.user_id == caller.user_id {
        // Already a member: adding oneself changes nothing (roles change through PATCH).
        return Ok((MemberView::from(&me), false));
    }
    let now = app.config.clock.now_ms();
    // For the answer; the stored item (below) gets the seq of the entry that adds them.
    let member = Member::new(conversation_id, &new.user_id, role, now, 0);
    let event = system_message(
        conversation_id,
        &caller.user_id,
        SystemEvent {
            role: Some(role),
            ..SystemEvent::new(SystemEventKind::MemberAdded, &new.user_id)
        },
        now,
    );
    // The adder must still hold a role that may add this member when it commits.
    let guard = Guard::Role(&caller.user_id, may_grant(role));
    let append = Append {
        owner_delta: i64::from(role == Role::Owner),
        member_delta: 1,
        ..Append::new(conversation_id, guard)
    };
    let outcome = app
        .store
        .append_message(
            append,
            |seq| {
                // The new member starts with everything before their addition read, and the
                // entry that adds them (someone else's doing) unread.
                let added = Member::new(conversation_id, &new.user_id, role, now, seq);
                vec![
                    put_member_if_absent(&app.store, &added),
                    profile_joined(&app.store, &member.user_id, conversation_id),
                ]
            },
            event,
        )
        .await?;
    match outcome {
        AppendOutcome::Appended(_) => Ok((MemberView::from(&member), true)),
        AppendOutcome::ExtraConditionFailed(1) => Err(too_many_groups(caller, &new.user_id)),
        AppendOutcome::ExtraConditionFailed(_) => {
            let existing = app
                .store
                .get_member(conversation_id, &new.user_id)
                .await?
                .unwrap_or(member);
            Ok((MemberView::from(&existing), false))
        }
        // The caller's role changed meanwhile; they may no longer be a member at all, so they
        // get the answer a non-member gets.
        AppendOutcome::NotAllowed => Err(ApiError::not_found()),
        AppendOutcome::Duplicate(_) | AppendOutcome::NoConversation | AppendOutcome::LastOwner => {
            Err(ApiError::not_found())
        }
    }
}

/// Roles that may give a member `role`: owners anything, admins up to admin.
fn may_grant(role: Role) -> &'static [Role] {
    match role {
        Role::Owner => &[Role::Owner],
        Role::Admin | Role::Member => &[Role::Owner, Role::Admin],
    }
}

/// Roles that may remove a member holding `role`. Removing and re-adding someone changes their
/// role, so removing an admin takes what demoting one takes: an owner.
fn may_remove(role: Role) -> &'static [Role] {
    match role {
        Role::Owner | Role::Admin => &[Role::Owner],
        Role::Member => &[Role::Owner, Role::Admin],
    }
}

/// Concurrent role changes can make a decision stale; after this many fresh looks, give up.
const MAX_DECISIONS: usize = 5;

/// `DELETE /conversations/{cid}/members/{user_id}`: owners/admins remove, anyone may leave.
/// The last owner must hand over first: the owner count is checked inside the write, so two
/// owners leaving at once cannot both succeed. From this moment the user reads nothing of the
/// conversation: every read checks membership.
pub async fn remove(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    user_id: &UserId,
) -> Result<(), ApiError> {
    let leaving = user_id == caller.user_id;
    for _ in 0..MAX_DECISIONS {
        let target = app.store.get_member(conversation_id, user_id);
        let (me, target) = as_member(app, caller, conversation_id, target).await?;
        if !leaving && !me.role.can_manage_members() {
            return Err(ApiError::forbidden("only owners and admins remove members"));
        }
        let Some(target) = target else {
            return Err(ApiError::not_found());
        };
        if !leaving && !may_remove(target.role).contains(&me.role) {
            return Err(ApiError::forbidden("only owners remove owners and admins"));
        }
        let (kind, guard) = if leaving {
            (SystemEventKind::MemberLeft, Guard::InExtra)
        } else {
            // The remover must still hold a role that may remove this member when it commits.
            let guard = Guard::Role(&caller.user_id, may_remove(target.role));
            (SystemEventKind::MemberRemoved, guard)
        };
        let event = system_message(
            conversation_id,
            &caller.user_id,
            SystemEvent::new(kind, user_id),
            app.config.clock.now_ms(),
        );
        let append = Append {
            owner_delta: -i64::from(target.role == Role::Owner),
            member_delta: -1,
            ..Append::new(conversation_id, guard)
        };
        let outcome = app
            .store
            .append_message(
                append,
                |_| {
                    vec![
                        delete_member_as_seen(&app.store, &target),
                        profile_left(
                            &app.store,
                            user_id,
                            conversation_id,
                            leaving || target.acted,
                        ),
                    ]
                },
                event,
            )
            .await?;
        if committed(outcome)? {
            return Ok(());
        }
    }
    Err(ApiError::unavailable())
}

/// Whether the append of a removal or role change committed; `false`: the target left or
/// changed role meanwhile, so the caller's loop looks again and decides anew.
fn committed(outcome: AppendOutcome) -> Result<bool, ApiError> {
    match outcome {
        AppendOutcome::Appended(_) => Ok(true),
        AppendOutcome::ExtraConditionFailed(_) => Ok(false),
        AppendOutcome::LastOwner => Err(ApiError::new(
            ErrorCode::LastOwner,
            "a conversation keeps at least one owner; make someone else owner first",
        )),
        // The caller's role changed meanwhile: a non-member's answer, as in `add`.
        AppendOutcome::NotAllowed => Err(ApiError::not_found()),
        AppendOutcome::Duplicate(_) | AppendOutcome::NoConversation => Err(ApiError::not_found()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// `PATCH /conversations/{cid}/members/{user_id}`: owners change any role; admins make members
/// admins, nothing more; the last owner cannot step down. Every change is a `system` message.
pub async fn change_role(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    user_id: &UserId,
    change: RoleChange,
) -> Result<MemberView, ApiError> {
    let to = change.role;
    let own = user_id == caller.user_id;
    for _ in 0..MAX_DECISIONS {
        let target = app.store.get_member(conversation_id, user_id);
        let (me, target) = as_member(app, caller, conversation_id, target).await?;
        if !me.role.can_manage_members() {
            return Err(ApiError::forbidden("only owners and admins change roles"));
        }
        let Some(target) = target else {
            return Err(ApiError::not_found());
        };
        let from = target.role;
        if from == to {
            return Ok(MemberView::from(&target));
        }
        if me.role == Role::Admin && !(from == Role::Member && to == Role::Admin) {
            return Err(ApiError::forbidden(
                "admins may only make members admins; owners change other roles",
            ));
        }
        let owner_delta = i64::from(to == Role::Owner) - i64::from(from == Role::Owner);
        let guard = if own {
            // The role update below is conditioned on the caller's own current role.
            Guard::InExtra
        } else {
            // The caller must still hold the role this was decided with, or a higher one.
            Guard::Role(&caller.user_id, may_grant(me.role))
        };
        let now = app.config.clock.now_ms();
        let event = system_message(
            conversation_id,
            &caller.user_id,
            SystemEvent {
                role: Some(to),
                ..SystemEvent::new(SystemEventKind::RoleChanged, user_id)
            },
            now,
        );
        let append = Append {
            owner_delta,
            ..Append::new(conversation_id, guard)
        };
        let outcome = app
            .store
            .append_message(
                append,
                |seq| {
                    // Their own role: the same part moves their marker to the entry.
                    vec![set_member_role(
                        &app.store,
                        conversation_id,
                        user_id,
                        from,
                        to,
                        now,
                        own.then_some(seq),
                    )]
                },
                event,
            )
            .await?;
        if committed(outcome)? {
            let changed = Member { role: to, ..target };
            return Ok(MemberView::from(&changed));
        }
    }
    Err(ApiError::unavailable())
}
