//! Groups and their members. Every membership change is also a `system` message in history,
//! written in the same transaction, so every device sees it.

use crate::domain::ids::{ConversationId, UserId};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use super::{as_member, require_member};
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, ConversationsAfter, MembersAfter};
use crate::domain::model::{Conversation, Member, Message, Role, SystemEvent, SystemEventKind};
use crate::domain::{ids, time};
use crate::infra::store::{
    delete_member_with_role, profile_joined, profile_left, put_member_if_absent, set_member_role,
    Append, AppendOutcome, Guard, MAX_INITIAL_MEMBERS,
};
use crate::{ApiError, App};

const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationView {
    pub conversation_id: String,
    pub title: String,
    pub created_by: String,
    pub created_at: String,
    /// The caller's role in it.
    pub role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub title: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// Makes the request safe to retry: the same key from the same user names the same group,
    /// so a retry after a lost answer (or a 503 over a write that committed) creates no second
    /// one.
    #[serde(default)]
    pub client_request_id: Option<String>,
}

/// `POST /conversations`: the caller becomes the owner; `members` join as members. Returns the
/// group and whether it was created now (`false`: a retry of a request that already created it).
pub async fn create(
    app: &App,
    caller: &Caller,
    new: NewConversation,
) -> Result<(ConversationView, bool), ApiError> {
    let title = crate::domain::text::label(
        &new.title,
        MAX_TITLE_CHARS,
        ErrorCode::InvalidTitle,
        "title",
    )?;
    // Bounded before any per-item work, and de-duplicated in linear time.
    if new.members.len() > MAX_INITIAL_MEMBERS - 1 {
        return Err(too_many_members());
    }
    let mut seen = std::collections::HashSet::with_capacity(new.members.len());
    let mut others: Vec<String> = Vec::new();
    for m in &new.members {
        UserId::parse(m)?;
        if *m != caller.user_id && seen.insert(m.as_str()) {
            others.push(m.clone());
        }
    }
    if others.len() + 1 > MAX_INITIAL_MEMBERS {
        return Err(too_many_members());
    }
    let conversation_id = match &new.client_request_id {
        Some(key) => {
            super::messages::check_client_msg_id(key)?;
            ids::derived_id("groupshare-conversation", &[&caller.user_id, key])
        }
        None => ids::new_id(),
    };
    let now = app.config.clock.now_ms();
    let conversation = Conversation {
        conversation_id,
        title: title.to_string(),
        created_by: caller.user_id.clone(),
        created_at_ms: now,
        last_seq: 1,
        member_count: Some(others.len() as u64 + 1),
    };
    let member = |user_id: &str, role| Member {
        conversation_id: conversation.conversation_id.clone(),
        user_id: user_id.to_string(),
        role,
        joined_at_ms: now,
    };
    let mut members = vec![member(&caller.user_id, Role::Owner)];
    members.extend(others.iter().map(|u| member(u, Role::Member)));
    let first = Message::system(
        &conversation.conversation_id,
        1,
        &ids::new_id(),
        &caller.user_id,
        now,
        SystemEvent::new(SystemEventKind::ConversationCreated, &caller.user_id),
    );
    if app
        .store
        .create_conversation(&conversation, &members, &first)
        .await?
    {
        return Ok((view(&conversation, Role::Owner), true));
    }
    // The id exists: only a retry of this caller's own request can name it (it is derived
    // from their id and key). Answer with the group as it is, if it is the same request.
    let existing = app
        .store
        .get_conversation(&conversation.conversation_id)
        .await?
        .filter(|c| c.created_by == caller.user_id)
        .ok_or_else(ApiError::unavailable)?;
    if existing.title != conversation.title {
        return Err(ApiError::new(
            ErrorCode::ClientMsgIdReused,
            "client_request_id was already used to create another conversation",
        ));
    }
    let me = require_member(&app.store, &existing.conversation_id, &caller.user_id).await?;
    Ok((view(&existing, me.role), false))
}

fn too_many_members() -> ApiError {
    ApiError::new(
        ErrorCode::TooManyMembers,
        format!(
            "at most {} initial members; add more afterwards",
            MAX_INITIAL_MEMBERS - 1
        ),
    )
}

pub(crate) fn view(c: &Conversation, role: Role) -> ConversationView {
    ConversationView {
        conversation_id: c.conversation_id.clone(),
        title: c.title.clone(),
        created_by: c.created_by.clone(),
        created_at: time::rfc3339(c.created_at_ms),
        role,
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<ConversationView>,
    pub cursor: Option<String>,
}

/// `GET /conversations`: the caller's conversations, paged.
pub async fn list(
    app: &App,
    caller: &Caller,
    limit: u32,
    after: Option<ConversationsAfter>,
) -> Result<ConversationList, ApiError> {
    let after = after.map(|a| a.conversation_id);
    let (memberships, more) = app
        .store
        .list_memberships(&caller.user_id, after.as_deref(), limit)
        .await?;
    let ids: Vec<String> = memberships
        .iter()
        .map(|m| m.conversation_id.clone())
        .collect();
    let conversations = app.store.batch_get_conversations(&ids).await?;
    Ok(ConversationList {
        conversations: memberships
            .iter()
            .filter_map(|m| {
                conversations
                    .get(&m.conversation_id)
                    .map(|c| view(c, m.role))
            })
            .collect(),
        cursor: more.then(|| {
            cursor::encode(
                &caller.user_id,
                &ConversationsAfter {
                    conversation_id: ids.last().cloned().unwrap_or_default(),
                },
            )
        }),
    })
}

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

/// `GET /conversations/{cid}`: what a member's device shows at the top of a group.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationDetails {
    pub conversation_id: String,
    pub title: String,
    pub created_by: String,
    pub created_at: String,
    /// The caller's role in it.
    pub role: Role,
    pub member_count: u64,
    /// The newest message's `seq`: a device that has it has the whole history.
    pub last_seq: u64,
    /// Days a file uploaded now stays downloadable (0: kept until deleted). Files keep the
    /// retention they were uploaded under; each file's info has its own `expires_at`.
    pub retention_days: u32,
}

/// `GET /conversations/{cid}` (members only; the same 404 otherwise). One round trip: the
/// membership and the conversation item are read concurrently.
pub async fn details(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
) -> Result<ConversationDetails, ApiError> {
    let (me, conversation) = as_member(
        &app.store,
        conversation_id,
        &caller.user_id,
        app.store.get_conversation(conversation_id),
    )
    .await?;
    let c = conversation.ok_or_else(ApiError::not_found)?;
    let member_count = match c.member_count {
        Some(n) => n,
        // Created before members were counted: count them (the next membership change
        // stores the count).
        None => app.store.count_members(conversation_id, None).await? as u64,
    };
    Ok(ConversationDetails {
        conversation_id: c.conversation_id,
        title: c.title,
        created_by: c.created_by,
        created_at: time::rfc3339(c.created_at_ms),
        role: me.role,
        member_count,
        last_seq: c.last_seq,
        retention_days: app.config.retention_days,
    })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberList {
    /// Ordered by user id.
    pub members: Vec<MemberView>,
    /// Continues the list; `null` at the end.
    pub cursor: Option<String>,
}

/// `GET /conversations/{cid}/members?limit=&cursor=` (members only; the same 404 otherwise).
pub async fn members(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    limit: u32,
    after: Option<MembersAfter>,
) -> Result<MemberList, ApiError> {
    let (_, (members, more)) = as_member(
        &app.store,
        conversation_id,
        &caller.user_id,
        app.store
            .list_members(conversation_id, after.as_ref(), limit),
    )
    .await?;
    Ok(MemberList {
        cursor: match (more, members.last()) {
            (true, Some(last)) => Some(cursor::encode(
                conversation_id,
                &MembersAfter {
                    user_id: last.user_id.clone(),
                },
            )),
            _ => None,
        },
        members: members.iter().map(MemberView::from).collect(),
    })
}

/// `POST /conversations/{cid}/members` (owners and admins). Returns the member and whether they
/// were added now (`false`: already a member, nothing changed).
pub async fn add_member(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    new: NewMember,
) -> Result<(MemberView, bool), ApiError> {
    UserId::parse(&new.user_id)?;
    let me = require_member(&app.store, conversation_id, &caller.user_id).await?;
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
    let member = Member {
        conversation_id: conversation_id.to_string(),
        user_id: new.user_id.clone(),
        role,
        joined_at_ms: now,
    };
    let event = system_message(
        conversation_id,
        &caller.user_id,
        SystemEvent {
            event: SystemEventKind::MemberAdded,
            user_id: new.user_id.clone(),
            role: Some(role),
            seq: None,
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
            |_| {
                vec![
                    put_member_if_absent(&app.store, &member),
                    profile_joined(&app.store, &member.user_id, conversation_id),
                ]
            },
            event,
        )
        .await?;
    match outcome {
        AppendOutcome::Appended(_) => Ok((MemberView::from(&member), true)),
        AppendOutcome::ExtraConditionFailed(_) => {
            let existing = app
                .store
                .get_member(conversation_id, &new.user_id)
                .await?
                .unwrap_or(member);
            Ok((MemberView::from(&existing), false))
        }
        AppendOutcome::NotAllowed => Err(lost_role()),
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

/// The caller's role changed while the request ran; they may no longer be a member at all, so
/// they get the answer a non-member gets.
fn lost_role() -> ApiError {
    ApiError::not_found()
}

/// Concurrent role changes can make a decision stale; after this many fresh looks, give up.
const MAX_DECISIONS: usize = 5;

/// `DELETE /conversations/{cid}/members/{user_id}`: owners/admins remove, anyone may leave.
/// The last owner must hand over first: the owner count is checked inside the write, so two
/// owners leaving at once cannot both succeed. From this moment the user reads nothing of the
/// conversation: every read checks membership.
pub async fn remove_member(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    user_id: &UserId,
) -> Result<(), ApiError> {
    let leaving = user_id == caller.user_id;
    for _ in 0..MAX_DECISIONS {
        let (me, target) = caller_and_target(app, conversation_id, caller, user_id).await?;
        if !leaving && !me.role.can_manage_members() {
            return Err(ApiError::forbidden("only owners and admins remove members"));
        }
        let Some(target) = target else {
            return Err(ApiError::not_found());
        };
        if !leaving && !may_remove(target.role).contains(&me.role) {
            return Err(ApiError::forbidden("only owners remove owners and admins"));
        }
        let event_name = if leaving {
            SystemEventKind::MemberLeft
        } else {
            SystemEventKind::MemberRemoved
        };
        let event = system_message(
            conversation_id,
            &caller.user_id,
            SystemEvent::new(event_name, user_id),
            app.config.clock.now_ms(),
        );
        let guard = if leaving {
            Guard::InExtra
        } else {
            // The remover must still hold a role that may remove this member when it commits.
            Guard::Role(&caller.user_id, may_remove(target.role))
        };
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
                        delete_member_with_role(&app.store, conversation_id, user_id, target.role),
                        profile_left(&app.store, user_id, conversation_id),
                    ]
                },
                event,
            )
            .await?;
        match decided(outcome)? {
            Decision::Done => return Ok(()),
            Decision::Again => continue,
        }
    }
    Err(ApiError::unavailable())
}

/// The caller's and the target's memberships, read together (one round trip). A caller who
/// is not a member gets the 404 a missing conversation gets.
async fn caller_and_target(
    app: &App,
    conversation_id: &str,
    caller: &Caller,
    user_id: &str,
) -> Result<(Member, Option<Member>), ApiError> {
    let (me, target) = futures::future::join(
        app.store.get_member(conversation_id, &caller.user_id),
        app.store.get_member(conversation_id, user_id),
    )
    .await;
    Ok((me?.ok_or_else(ApiError::not_found)?, target?))
}

/// What the append of a removal or role change means for the caller's loop.
enum Decision {
    Done,
    /// The target left or changed role meanwhile: look again and decide anew.
    Again,
}

fn decided(outcome: AppendOutcome) -> Result<Decision, ApiError> {
    match outcome {
        AppendOutcome::Appended(_) => Ok(Decision::Done),
        AppendOutcome::ExtraConditionFailed(_) => Ok(Decision::Again),
        AppendOutcome::LastOwner => Err(last_owner()),
        AppendOutcome::NotAllowed => Err(lost_role()),
        AppendOutcome::Duplicate(_) | AppendOutcome::NoConversation => Err(ApiError::not_found()),
    }
}

fn last_owner() -> ApiError {
    ApiError::new(
        ErrorCode::LastOwner,
        "a conversation keeps at least one owner; make someone else owner first",
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// `PATCH /conversations/{cid}/members/{user_id}`: owners change any role; admins make members
/// admins, nothing more; the last owner cannot step down. Returns the member and whether the
/// role changed now (`false`: it already was that role). Every change is a `system` message.
pub async fn change_role(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    user_id: &UserId,
    change: RoleChange,
) -> Result<(MemberView, bool), ApiError> {
    let to = change.role;
    let own = user_id == caller.user_id;
    for _ in 0..MAX_DECISIONS {
        let (me, target) = caller_and_target(app, conversation_id, caller, user_id).await?;
        if !me.role.can_manage_members() {
            return Err(ApiError::forbidden("only owners and admins change roles"));
        }
        let Some(target) = target else {
            return Err(ApiError::not_found());
        };
        let from = target.role;
        if from == to {
            return Ok((MemberView::from(&target), false));
        }
        // Admins may only lift a member to admin.
        if me.role == Role::Admin && !(from == Role::Member && to == Role::Admin) {
            return Err(ApiError::forbidden(
                "admins may only make members admins; owners change other roles",
            ));
        }
        let owner_delta = i64::from(to == Role::Owner) - i64::from(from == Role::Owner);
        let guard = if own {
            // The role update below is conditioned on the caller's own current role.
            Guard::InExtra
        } else if me.role == Role::Owner {
            Guard::Role(&caller.user_id, &[Role::Owner])
        } else {
            Guard::Role(&caller.user_id, &[Role::Owner, Role::Admin])
        };
        let event = system_message(
            conversation_id,
            &caller.user_id,
            SystemEvent {
                event: SystemEventKind::RoleChanged,
                user_id: user_id.to_string(),
                role: Some(to),
                seq: None,
            },
            app.config.clock.now_ms(),
        );
        let append = Append {
            owner_delta,
            ..Append::new(conversation_id, guard)
        };
        let outcome = app
            .store
            .append_message(
                append,
                |_| {
                    vec![set_member_role(
                        &app.store,
                        conversation_id,
                        user_id,
                        from,
                        to,
                    )]
                },
                event,
            )
            .await?;
        match decided(outcome)? {
            Decision::Done => {
                let changed = Member { role: to, ..target };
                return Ok((MemberView::from(&changed), true));
            }
            Decision::Again => continue,
        }
    }
    Err(ApiError::unavailable())
}

fn system_message<'a>(
    conversation_id: &'a str,
    sender: &'a str,
    event: SystemEvent,
    now: i64,
) -> impl Fn(u64) -> Message + 'a {
    let message_id = ids::new_id();
    move |seq| {
        Message::system(
            conversation_id,
            seq,
            &message_id,
            sender,
            now,
            event.clone(),
        )
    }
}
