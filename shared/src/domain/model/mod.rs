//! Domain types and the JSON shapes the API returns.

use serde::{Deserialize, Serialize};

use crate::domain::time::rfc3339;

mod activity;
mod files;
mod previews;

pub use activity::*;
pub use files::*;
pub use previews::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Owners and admins manage membership.
    pub fn can_manage_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub conversation_id: String,
    pub title: String,
    pub created_by: String,
    pub created_at_ms: i64,
    /// Highest message `seq` handed out so far (0 = no message yet).
    pub last_seq: u64,
    /// Kept by every membership change; `None` on conversations created before it was.
    pub member_count: Option<u64>,
    /// When history last grew (the newest entry's time, never going back); `None` on
    /// conversations not appended to since it was kept (their `created_at` stands in).
    pub last_activity_ms: Option<i64>,
    /// The entry at `last_seq`, as the group list previews it; `None` likewise.
    pub last_message: Option<LastMessage>,
    /// A digest of the create request's terms (title, initial members) when it came with a
    /// `client_request_id`: a retry must carry the same terms to be answered with this group.
    pub created_for: Option<String>,
}

impl Conversation {
    /// What the group list orders by: the last activity, or the creation for conversations
    /// not appended to since activity was kept.
    pub fn activity_ms(&self) -> i64 {
        self.last_activity_ms.unwrap_or(self.created_at_ms)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub conversation_id: String,
    pub user_id: String,
    pub role: Role,
    pub joined_at_ms: i64,
    /// The `seq` of the entry that made them a member (1 for a group's first members); 0 for
    /// memberships stored before it was kept. Entries before it are never pushed to them.
    pub joined_seq: u64,
    /// The member's read marker: every entry up to this `seq` counts as read, on all their
    /// devices. Moved forward only, by `PUT …/read` and by each of their own appends.
    /// 0 for memberships stored before markers existed.
    pub read_seq: u64,
    /// When they last became an owner or admin from neither (kept from owner to admin and
    /// back); `None` for plain members and for items stored before it was kept.
    pub manages_since_ms: Option<i64>,
    /// Whether they have done something here themselves (created the group, joined by a link,
    /// or written an entry): if so, the group keeps their name visible after they are removed
    /// (their profile's `groups_ever`). Being put in a group by someone else is not enough.
    pub acted: bool,
}

impl Member {
    /// A membership that starts `now` with the entry at `joined_seq` (managing from then, for
    /// owners and admins), with everything before that entry read.
    pub fn new(
        conversation_id: &str,
        user_id: &str,
        role: Role,
        now: i64,
        joined_seq: u64,
    ) -> Self {
        Self {
            conversation_id: conversation_id.to_string(),
            user_id: user_id.to_string(),
            role,
            joined_at_ms: now,
            joined_seq,
            read_seq: joined_seq.saturating_sub(1),
            manages_since_ms: role.can_manage_members().then_some(now),
            acted: false,
        }
    }

    /// Whether they manage members and have without a break since `at_ms`: only then does a
    /// link they made at `at_ms` still speak for them. Items stored before `manages_since`
    /// count from joining (a re-added member has a new item, so that still kills old links).
    pub fn has_managed_since(&self, at_ms: i64) -> bool {
        self.role.can_manage_members() && self.managing_from_ms() <= at_ms
    }

    /// Where an unbroken stretch of managing members would start: `manages_since`, or joining
    /// for items stored before it was kept.
    pub fn managing_from_ms(&self) -> i64 {
        self.manages_since_ms.unwrap_or(self.joined_at_ms)
    }
}

/// A person as stored: what they chose to be called and to show, and the groups they are in
/// now and have ever been in (which decide who may see their name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub user_id: String,
    pub display_name: Option<String>,
    /// From the identity provider's token; shown to others only when `show_email`.
    pub email: Option<String>,
    pub show_email: bool,
    /// First sign-in; `None` for someone added to a group who has never signed in.
    pub signed_in_at_ms: Option<i64>,
    pub groups: std::collections::HashSet<String>,
    pub groups_ever: std::collections::HashSet<String>,
}

/// What a file message carries so a device can draw the entry without another call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// Set on a forwarded file's message. Stored with the source group; shown with it only to
    /// readers who are members of that group now (see [`Forwarded::hidden`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub forwarded: Option<Forwarded>,
}

/// That a file was forwarded from another group, and from which, as a reader may see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// The source group: stored always, shown only to its current members.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_conversation_id: Option<String>,
}

impl Forwarded {
    pub fn from(conversation_id: &str) -> Self {
        Self {
            from_conversation_id: Some(conversation_id.to_string()),
        }
    }

    /// What every reader may see: that it was forwarded, not from where. Views start from
    /// this, and a read that has checked the reader's membership of the source puts it back,
    /// so a path that forgets the check shows too little, never too much.
    pub fn hidden(&self) -> Self {
        Self::default()
    }
}

/// What a system message records. The wire and stored name is the snake_case variant name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum SystemEventKind {
    ConversationCreated,
    MemberAdded,
    /// Joined through an invite link (the inviter is the message's sender).
    MemberJoined,
    MemberRemoved,
    MemberLeft,
    RoleChanged,
    MessageDeleted,
    MessageRecalled,
}

impl SystemEventKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl PartialEq<&str> for SystemEventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A membership change or a message taken back, recorded in history so every device sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    pub event: SystemEventKind,
    /// The user the event is about (for `message_deleted` and `message_recalled`, who sent the
    /// deleted message).
    pub user_id: String,
    /// The user's role after the event (`member_added`, `role_changed`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub role: Option<Role>,
    /// The message the event is about (`message_deleted`, `message_recalled`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seq: Option<u64>,
}

/// Who took a message back, and when. What remains of a deleted message in history: its
/// `seq`, id, sender and time stay, so pages and cursors stay gap-free; the content is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    pub by: String,
    pub at_ms: i64,
    /// The deleted file message's file: kept (never shown) so a retried deletion can finish
    /// removing bytes a slow storage left behind.
    pub file_id: Option<String>,
}

/// `deleted` in a tombstone's JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionView {
    pub by: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    Text(String),
    File(FileSummary),
    System(SystemEvent),
    /// A recalled or deleted message (a tombstone).
    Deleted(Deletion),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub conversation_id: String,
    pub seq: u64,
    pub message_id: String,
    pub sender: String,
    pub sent_at_ms: i64,
    pub body: MessageBody,
}

impl SystemEvent {
    /// `event` about `user_id`, with no role.
    pub fn new(event: SystemEventKind, user_id: &str) -> Self {
        Self {
            event,
            user_id: user_id.to_string(),
            role: None,
            seq: None,
        }
    }
}

impl Message {
    /// A `system` message: `sender` did `event`, recorded in history like any message.
    pub fn system(
        conversation_id: &str,
        seq: u64,
        message_id: &str,
        sender: &str,
        sent_at_ms: i64,
        event: SystemEvent,
    ) -> Self {
        Self {
            conversation_id: conversation_id.to_string(),
            seq,
            message_id: message_id.to_string(),
            sender: sender.to_string(),
            sent_at_ms,
            body: MessageBody::System(event),
        }
    }
}

/// A message as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageView {
    pub seq: u64,
    pub message_id: String,
    pub sender: String,
    pub sent_at: String,
    /// `text`, `file`, `system` or `deleted`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<FileSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub system: Option<SystemEvent>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deleted: Option<DeletionView>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        let (kind, text, file, system, deleted) = match &m.body {
            MessageBody::Text(t) => ("text", Some(t.clone()), None, None, None),
            MessageBody::File(f) => {
                let mut f = f.clone();
                f.forwarded = f.forwarded.as_ref().map(Forwarded::hidden);
                ("file", None, Some(f), None, None)
            }
            MessageBody::System(s) => ("system", None, None, Some(s.clone()), None),
            MessageBody::Deleted(d) => {
                let at = rfc3339(d.at_ms);
                let deleted = DeletionView {
                    by: d.by.clone(),
                    at,
                };
                ("deleted", None, None, None, Some(deleted))
            }
        };
        Self {
            seq: m.seq,
            message_id: m.message_id.clone(),
            sender: m.sender.clone(),
            sent_at: rfc3339(m.sent_at_ms),
            kind: kind.to_string(),
            text,
            file,
            system,
            deleted,
        }
    }
}

/// `GET /config`: limits a client needs up front.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientLimits {
    /// Largest file, whatever the upload kind.
    pub max_upload_bytes: u64,
    /// Larger files are uploaded in parts.
    pub multipart_threshold_bytes: u64,
    /// Default part size (raised for files that would need more than `max_parts`).
    pub part_size_bytes: u64,
    pub max_parts: u64,
    pub max_part_urls_per_call: usize,
    pub download_url_ttl_seconds: u64,
    pub retention_days: u32,
    pub max_ids_per_batch: usize,
    pub max_text_bytes: usize,
    pub max_page_limit: u32,
    /// `GET …/messages` takes larger pages than the other listings.
    pub max_history_page_limit: u32,
    /// How long after sending a sender may recall a message (owners and admins may delete any
    /// message at any time).
    pub recall_window_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: StoredFileStatus, expires_at_ms: Option<i64>) -> FileRecord {
        FileRecord {
            file_id: "f".into(),
            conversation_id: "c".into(),
            name: "a.txt".into(),
            size: 1,
            content_type: "text/plain".into(),
            sha256: None,
            uploader: "u".into(),
            uploaded_at_ms: 0,
            expires_at_ms,
            status,
            s3_key: "k".into(),
            message_seq: None,
            upload_deadline_ms: Some(10_000),
            s3_version: None,
            deleted_at_ms: None,
            multipart: None,
            preview: PreviewRecord::default(),
            forwarded_from: None,
        }
    }

    #[test]
    fn expired_is_derived_from_expires_at() {
        let r = record(StoredFileStatus::Available, Some(1_000));
        assert_eq!(r.status_at(999), FileStatus::Available);
        assert_eq!(r.status_at(1_000), FileStatus::Expired);
        assert_eq!(
            record(StoredFileStatus::Available, None).status_at(i64::MAX),
            FileStatus::Available
        );
        assert_eq!(
            record(StoredFileStatus::Pending, Some(0)).status_at(5),
            FileStatus::Pending
        );
        let abandoned_at = 10_000 + ABANDONED_AFTER_MS;
        let pending = record(StoredFileStatus::Pending, None);
        assert_eq!(pending.status_at(abandoned_at - 1), FileStatus::Pending);
        assert_eq!(pending.status_at(abandoned_at), FileStatus::Deleted);
        assert_eq!(
            record(StoredFileStatus::Deleted, None).status_at(5),
            FileStatus::Deleted
        );
    }

    #[test]
    fn message_view_carries_the_file_summary() {
        let m = Message {
            conversation_id: "c".into(),
            seq: 3,
            message_id: "m".into(),
            sender: "alice".into(),
            sent_at_ms: 0,
            body: MessageBody::File(record(StoredFileStatus::Available, None).summary()),
        };
        let v = serde_json::to_value(MessageView::from(&m)).unwrap();
        assert_eq!(v["kind"], "file");
        assert_eq!(v["file"]["file_id"], "f");
        assert_eq!(v["file"]["size"], 1);
        assert!(v.get("text").is_none());
    }
}
