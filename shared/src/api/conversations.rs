//! Groups and their members. Every membership change is also a `system` message in history,
//! written in the same transaction, so every device sees it.

use crate::domain::ids::{ConversationId, UserId};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

use super::{as_member, require_member, Paging};
use crate::config::MAX_GROUPS_PER_USER;
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, ConversationsAfter};
use crate::domain::model::{
    unread, Conversation, LastMessage, LastMessageView, Member, Message, Role, SystemEvent,
    SystemEventKind,
};
use crate::domain::{ids, time};
use crate::infra::store::{Created, MAX_INITIAL_MEMBERS};
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
        return Err(ApiError::new(
            ErrorCode::TooManyMembers,
            format!(
                "at most {} initial members; add more afterwards",
                MAX_INITIAL_MEMBERS - 1
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(new.members.len());
    let mut others: Vec<String> = Vec::new();
    for m in &new.members {
        UserId::parse(m)?;
        if *m != caller.user_id && seen.insert(m.as_str()) {
            others.push(m.clone());
        }
    }
    let (conversation_id, created_for) = match &new.client_request_id {
        Some(key) => {
            super::messages::check_client_msg_id(key)?;
            let id = ids::derived_id("groupshare-conversation", &[&caller.user_id, key]);
            // The members in any order are the same request.
            let mut terms: Vec<&str> = others.iter().map(String::as_str).collect();
            terms.sort_unstable();
            terms.insert(0, title);
            (
                id,
                Some(ids::derived_id("groupshare-conversation-terms", &terms)),
            )
        }
        None => (ids::new_id(), None),
    };
    let now = app.config.clock.now_ms();
    let first = Message::system(
        &conversation_id,
        1,
        &ids::new_id(),
        &caller.user_id,
        now,
        SystemEvent::new(SystemEventKind::ConversationCreated, &caller.user_id),
    );
    let conversation = Conversation {
        conversation_id,
        title: title.to_string(),
        created_by: caller.user_id.clone(),
        created_at_ms: now,
        last_seq: 1,
        member_count: Some(others.len() as u64 + 1),
        last_activity_ms: Some(now),
        last_message: Some(LastMessage::of(&first)),
        created_for,
    };
    // The creator wrote the first entry (read); for the others it is news (unread).
    let member = |u: &str, role| Member::new(&conversation.conversation_id, u, role, now, 1);
    let creator = Member {
        acted: true,
        read_seq: 1,
        ..member(&caller.user_id, Role::Owner)
    };
    let mut members = vec![creator];
    members.extend(others.iter().map(|u| member(u, Role::Member)));
    let store = &app.store;
    match store
        .create_conversation(&conversation, &members, &first)
        .await?
    {
        Created::Now => return Ok((view(&conversation, Role::Owner), true)),
        Created::TooManyGroups(user_id) => return Err(too_many_groups(caller, &user_id)),
        Created::Exists => {}
    }
    // The id exists: only a retry of this caller's own request can name it (it is derived
    // from their id and key). Answer with the group as it is, if it is the same request.
    let existing = app
        .store
        .get_conversation(&conversation.conversation_id)
        .await?
        .filter(|c| c.created_by == caller.user_id)
        .ok_or_else(ApiError::unavailable)?;
    // Groups created before terms were kept compare their title alone.
    let same_terms = match &existing.created_for {
        Some(terms) => Some(terms) == conversation.created_for.as_ref(),
        None => existing.title == conversation.title,
    };
    if !same_terms {
        return Err(ApiError::new(
            ErrorCode::ClientMsgIdReused,
            "client_request_id was already used to create another conversation",
        ));
    }
    let me = require_member(app, caller, &existing.conversation_id).await?;
    Ok((view(&existing, me.role), false))
}

/// The answer when a join would put `user_id` in more than [`MAX_GROUPS_PER_USER`] groups.
pub(crate) fn too_many_groups(caller: &Caller, user_id: &str) -> ApiError {
    let most = format!("{MAX_GROUPS_PER_USER} groups, the most one person can be in");
    let message = match user_id == caller.user_id {
        true => format!("you are in {most}; leave one first"),
        false => format!("{user_id} is in {most}"),
    };
    ApiError::new(ErrorCode::TooManyGroups, message)
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

/// One group as the group list shows it: the group, where its history stands, and where the
/// caller left off.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationSummary {
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// The newest entry's `seq`.
    pub last_seq: u64,
    /// When history last grew (its `created_at` until a first append since activity was kept).
    pub last_activity_at: String,
    /// The entry at `last_seq`; `null` for a group not appended to since previews were kept.
    pub last_message: Option<LastMessageView>,
    /// The caller's read marker.
    pub read_seq: u64,
    /// Entries after `read_seq` (docs/openapi.yaml says exactly which).
    pub unread_count: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<ConversationSummary>,
    pub cursor: Option<String>,
}

/// `GET /conversations`: the caller's groups, most recent activity first (ties by id), paged.
///
/// The groups are the profile's `groups` set (one consistent GetItem; kept by every membership
/// write). Ordering by activity without a write per member per message means the activity is on
/// the conversation items, so every page reads all of the caller's conversation items (one
/// consistent BatchGetItem per 100, together), sorts them, and keeps those after the cursor; then
/// the page's memberships (one consistent BatchGetItem) give the role and the read marker. The
/// cursor is the last group's (activity, id) as this page read them: a group that changed since
/// has moved above it (activity only grows), so later pages neither repeat nor skip the groups
/// that did not change; those that did are the ones the device learns of by push.
pub async fn list(
    app: &App,
    caller: &Caller,
    page: Paging<ConversationsAfter>,
) -> Result<ConversationList, ApiError> {
    let groups = app.store.groups_of(&caller.user_id).await?;
    let mut conversations = app.store.conversations_by_ids(&groups).await?;
    conversations.sort_by(|a, b| order(a).cmp(&order(b)));
    let start = page
        .after
        .as_ref()
        .map(|a| (Reverse(a.activity_ms), a.conversation_id.as_str()));
    let mut rest = conversations
        .into_iter()
        .filter(|c| start.is_none_or(|s| order(c) > s));
    let page: Vec<Conversation> = rest.by_ref().take(page.limit as usize).collect();
    let more = rest.next().is_some();
    let ids: Vec<String> = page.iter().map(|c| c.conversation_id.clone()).collect();
    let memberships = app.store.memberships(&caller.user_id, &ids).await?;
    let cursor = cursor::after_last(&caller.user_id, more, &page, |last| ConversationsAfter {
        activity_ms: last.activity_ms(),
        conversation_id: last.conversation_id.clone(),
    });
    Ok(ConversationList {
        // A group left between the two reads is not the caller's any more.
        conversations: page
            .iter()
            .filter_map(|c| Some(summary(c, memberships.get(&c.conversation_id)?)))
            .collect(),
        cursor,
    })
}

/// The group list's order: most recent activity first, ties by id.
fn order(c: &Conversation) -> (Reverse<i64>, &str) {
    (Reverse(c.activity_ms()), &c.conversation_id)
}

fn summary(c: &Conversation, me: &Member) -> ConversationSummary {
    // The marker read after the counter can be ahead of it (the caller sent meanwhile): as of
    // this snapshot everything is read then.
    let read_seq = me.read_seq.min(c.last_seq);
    ConversationSummary {
        conversation: view(c, me.role),
        last_seq: c.last_seq,
        last_activity_at: time::rfc3339(c.activity_ms()),
        last_message: c.last_message.as_ref().map(LastMessageView::from),
        read_seq,
        unread_count: unread(c.last_seq, read_seq),
    }
}

/// `GET /conversations/{cid}`: what a member's device shows at the top of a group.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationDetails {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub member_count: u64,
    /// The newest message's `seq`: a device that has it has the whole history.
    pub last_seq: u64,
    /// Days a file uploaded now stays downloadable (0: kept until deleted). Files keep the
    /// retention they were uploaded under; each file's info has its own `expires_at`.
    pub retention_days: u32,
    /// The caller's read marker: a device opening the group starts after it.
    pub read_seq: u64,
    pub unread_count: u64,
}

/// `GET /conversations/{cid}` (members only; the same 404 otherwise). One round trip: the
/// membership and the conversation item are read concurrently.
pub async fn details(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
) -> Result<ConversationDetails, ApiError> {
    let (me, c) = with_membership(app, caller, conversation_id).await?;
    let member_count = match c.member_count {
        Some(n) => n,
        // Created before members were counted: count them (the next membership change
        // stores the count).
        None => app.store.count_members(conversation_id, None).await? as u64,
    };
    Ok(ConversationDetails {
        conversation: view(&c, me.role),
        member_count,
        last_seq: c.last_seq,
        retention_days: app.config.retention_days,
        read_seq: me.read_seq.min(c.last_seq),
        unread_count: unread(c.last_seq, me.read_seq),
    })
}

/// The caller's membership and the conversation, read together (one round trip); the usual
/// 404 for anyone who is not a member.
pub(super) async fn with_membership(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
) -> Result<(Member, Conversation), ApiError> {
    let conversation = app.store.get_conversation(conversation_id);
    let (me, conversation) = as_member(app, caller, conversation_id, conversation).await?;
    Ok((me, conversation.ok_or_else(ApiError::not_found)?))
}

pub(super) fn system_message<'a>(
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
