//! Domain types and the JSON shapes the API returns.

use serde::{Deserialize, Serialize};

use crate::domain::time::rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub conversation_id: String,
    pub user_id: String,
    pub role: Role,
    pub joined_at_ms: i64,
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
}

/// What a system message records. The wire and stored name is the snake_case variant name.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
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
        let (kind, text, file, system) = match &m.body {
            MessageBody::Text(t) => ("text", Some(t.clone()), None, None),
            MessageBody::File(f) => ("file", None, Some(f.clone()), None),
            MessageBody::System(s) => ("system", None, None, Some(s.clone())),
            MessageBody::Deleted(_) => ("deleted", None, None, None),
        };
        let deleted = match &m.body {
            MessageBody::Deleted(d) => Some(DeletionView {
                by: d.by.clone(),
                at: rfc3339(d.at_ms),
            }),
            _ => None,
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

/// Stored lifecycle of an uploaded file. `expired` is not stored: it is derived from
/// `expires_at` so it shows the moment retention ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredFileStatus {
    Pending,
    Available,
    Deleted,
}

impl StoredFileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Deleted => "deleted",
        }
    }
}

/// What a client sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Pending,
    Available,
    Expired,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub file_id: String,
    pub conversation_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: Option<String>,
    pub uploader: String,
    pub uploaded_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub status: StoredFileStatus,
    pub s3_key: String,
    /// The history message that announced the file, once it is available.
    pub message_seq: Option<u64>,
    /// When the last upload form handed out for it expires (pending files only).
    pub upload_deadline_ms: Option<i64>,
    /// The S3 object version that completed the upload (versioned buckets). Downloads are
    /// signed for this version only, so bytes posted later with an old form never reach a
    /// member.
    pub s3_version: Option<String>,
    /// When the file was deleted with its message (not set for abandoned uploads).
    pub deleted_at_ms: Option<i64>,
    /// Image previews (and the image's size); empty on files stored before previews existed.
    pub preview: PreviewRecord,
    /// Set for files uploaded in parts (S3 multipart upload).
    pub multipart: Option<MultipartState>,
}

/// A multipart upload's state on its file record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartState {
    pub upload_id: String,
    /// Every part but the last has exactly this size.
    pub part_size: u64,
    /// The composite checksum S3 computed at completion (`<base64 sha256 of the parts'
    /// sha256s>-<part count>`), once complete.
    pub checksum_sha256: Option<String>,
}

impl MultipartState {
    /// Parts of a file of `size` bytes (at least one).
    pub fn part_count(&self, size: u64) -> u64 {
        size.div_ceil(self.part_size).max(1)
    }

    /// Exact size of part `n` (1-based) of a file of `size` bytes.
    pub fn part_len(&self, size: u64, n: u64) -> u64 {
        if n < self.part_count(size) {
            self.part_size
        } else {
            size - (self.part_count(size) - 1) * self.part_size
        }
    }
}

/// What a downloader can verify the bytes against.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Integrity {
    /// SHA-256 of the whole file (hex), declared at upload and confirmed by S3.
    Sha256 { value: String },
    /// S3's multipart checksum: base64 SHA-256 over the concatenated binary SHA-256s of the
    /// parts, `-<part count>`; recomputable from the bytes with `part_size`.
    MultipartSha256 { value: String, part_size: u64 },
}

/// A pending upload not completed this long after its form expired is abandoned: it shows as
/// `deleted` and can no longer complete. (S3 refuses the form itself once it expires, and its
/// `ObjectCreated` event completes a real upload within seconds.)
pub const ABANDONED_AFTER_MS: i64 = 3_600_000;

impl FileRecord {
    pub fn status_at(&self, now_ms: i64) -> FileStatus {
        match self.status {
            StoredFileStatus::Pending => match self.upload_deadline_ms {
                Some(deadline) if deadline + ABANDONED_AFTER_MS <= now_ms => FileStatus::Deleted,
                _ => FileStatus::Pending,
            },
            StoredFileStatus::Deleted => FileStatus::Deleted,
            StoredFileStatus::Available => match self.expires_at_ms {
                Some(exp) if exp <= now_ms => FileStatus::Expired,
                _ => FileStatus::Available,
            },
        }
    }

    pub fn summary(&self) -> FileSummary {
        FileSummary {
            file_id: self.file_id.clone(),
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
        }
    }

    pub fn info(&self, now_ms: i64) -> FileInfo {
        if self.status == StoredFileStatus::Deleted {
            return self.deleted_info();
        }
        FileInfo {
            file_id: self.file_id.clone(),
            conversation_id: self.conversation_id.clone(),
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            sha256: self.sha256.clone(),
            uploader: self.uploader.clone(),
            uploaded_at: rfc3339(self.uploaded_at_ms),
            expires_at: self.expires_at_ms.map(rfc3339),
            status: self.status_at(now_ms),
            deleted_at: self.deleted_at_ms.map(rfc3339),
            width: self.preview.width,
            height: self.preview.height,
            preview: self.preview_view(now_ms),
            integrity: self.integrity(),
        }
    }

    /// A deleted file (recalled, deleted by a moderator, or an abandoned upload) as members
    /// see it: that it existed, who shared it and when it went; nothing of what it was (name,
    /// size, type, hashes, dimensions), as for its message's tombstone.
    fn deleted_info(&self) -> FileInfo {
        FileInfo {
            file_id: self.file_id.clone(),
            conversation_id: self.conversation_id.clone(),
            name: String::new(),
            size: 0,
            content_type: String::new(),
            sha256: None,
            uploader: self.uploader.clone(),
            uploaded_at: rfc3339(self.uploaded_at_ms),
            expires_at: None,
            status: FileStatus::Deleted,
            deleted_at: self.deleted_at_ms.map(rfc3339),
            width: None,
            height: None,
            preview: PreviewView {
                status: PreviewStatus::None,
                reason: Some(NoPreviewReason::FileGone),
                ..PreviewView::default()
            },
            integrity: None,
        }
    }

    pub fn integrity(&self) -> Option<Integrity> {
        match (&self.multipart, &self.sha256) {
            (Some(mp), _) => mp
                .checksum_sha256
                .as_ref()
                .map(|value| Integrity::MultipartSha256 {
                    value: value.clone(),
                    part_size: mp.part_size,
                }),
            (None, Some(hex)) => Some(Integrity::Sha256 { value: hex.clone() }),
            (None, None) => None,
        }
    }

    /// The preview as a caller sees it: only an available file shows one, whatever is stored.
    pub fn preview_view(&self, now_ms: i64) -> PreviewView {
        let none = |reason| PreviewView {
            status: PreviewStatus::None,
            reason: Some(reason),
            ..PreviewView::default()
        };
        if !is_previewable(&self.content_type) {
            return none(NoPreviewReason::UnsupportedFormat);
        }
        match (self.status_at(now_ms), self.preview.status) {
            (FileStatus::Pending, _) => PreviewView {
                status: PreviewStatus::Pending,
                ..PreviewView::default()
            },
            (FileStatus::Expired | FileStatus::Deleted, _) => none(NoPreviewReason::FileGone),
            // Completed before previews existed: no job was ever made for it.
            (FileStatus::Available, None) => none(NoPreviewReason::NotGenerated),
            (FileStatus::Available, Some(PreviewStatus::None)) => {
                none(self.preview.reason.unwrap_or(NoPreviewReason::Undecodable))
            }
            (FileStatus::Available, Some(status)) => PreviewView {
                status,
                sizes: match status {
                    PreviewStatus::Ready => self.preview.sizes.clone(),
                    _ => Vec::new(),
                },
                ..PreviewView::default()
            },
        }
    }

    /// The stored preview of `size`, if the file shows one now.
    pub fn ready_preview(&self, size: PreviewSize, now_ms: i64) -> Option<&PreviewDimensions> {
        if self.preview_view(now_ms).status != PreviewStatus::Ready {
            return None;
        }
        self.preview.sizes.iter().find(|d| d.size == size)
    }
}

/// Content types a preview is made for (parameters and case ignored). Anything else says
/// `unsupported_format`; docs/decisions.md says how HEIC, video and PDF would be added.
pub fn is_previewable(content_type: &str) -> bool {
    matches!(
        crate::domain::disposition::media_type(content_type).as_str(),
        "image/jpeg" | "image/jpg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// Where a file's preview stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewStatus {
    /// Being made (or the upload is still under way).
    Pending,
    Ready,
    /// There is none, and there will be none: `reason` says why.
    #[default]
    None,
}

impl PreviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::None => "none",
        }
    }
}

/// Why a file has no preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NoPreviewReason {
    /// Not JPEG, PNG, GIF or WebP (by declared type, or by its bytes).
    UnsupportedFormat,
    /// Above the decoder's limits (pixels, side, memory, or file size).
    TooLarge,
    /// Corrupt or truncated.
    Undecodable,
    /// Expired or deleted: its previews went with it.
    FileGone,
    /// Uploaded before previews existed.
    NotGenerated,
}

impl NoPreviewReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The two preview sizes: the longest side at most 320 px (grids) or 1280 px (full screen);
/// never larger than the image itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum PreviewSize {
    Small,
    Large,
}

impl PreviewSize {
    pub const ALL: [PreviewSize; 2] = [PreviewSize::Small, PreviewSize::Large];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Longest side, in pixels.
    pub fn max_side(self) -> u32 {
        match self {
            Self::Small => 320,
            Self::Large => 1280,
        }
    }

    /// `small` or `large`, as a query parameter names it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|size| size.as_str() == s)
    }
}

/// One stored preview: its size name and its real dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewDimensions {
    pub size: PreviewSize,
    pub width: u32,
    pub height: u32,
}

/// What the Files row keeps about previews. All empty on older rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviewRecord {
    pub status: Option<PreviewStatus>,
    pub reason: Option<NoPreviewReason>,
    /// The image's upright dimensions (after EXIF orientation), known once it was decoded.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sizes: Vec<PreviewDimensions>,
}

/// `preview` in file info.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewView {
    pub status: PreviewStatus,
    /// The sizes there are (`ready` only), each with its dimensions. Previews are JPEG.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sizes: Vec<PreviewDimensions>,
    /// Why there is none (`none` only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<NoPreviewReason>,
    /// A presigned URL of the preview of `url_size`, when the listing asked for them
    /// (`preview_urls=small|large`) and the preview is ready.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url_size: Option<PreviewSize>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url_expires_at: Option<String>,
}

/// File info as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileInfo {
    pub file_id: String,
    pub conversation_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    pub uploader: String,
    pub uploaded_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<String>,
    pub status: FileStatus,
    /// Set when the file was deleted with its message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deleted_at: Option<String>,
    /// What the bytes can be checked against after download (absent: nothing declared).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub integrity: Option<Integrity>,
    /// An image's upright size in pixels, once its preview job has read it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub height: Option<u32>,
    pub preview: PreviewView,
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
