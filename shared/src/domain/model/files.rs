//! A file's record and what members see of it: status, integrity, multipart progress.

use super::*;

/// Stored lifecycle of an uploaded file. `expired` is not stored: it is derived from
/// `expires_at` so it shows the moment retention ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum StoredFileStatus {
    Pending,
    Available,
    Deleted,
}

impl StoredFileStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
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
    /// A forward's source: its bytes were copied from that file (another group's), and its
    /// completion checks the forwarder is still a member there and the source still available.
    pub forwarded_from: Option<ForwardSource>,
}

/// The file a forward copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardSource {
    pub conversation_id: String,
    pub file_id: String,
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

/// Parts of a file of `size` bytes cut into `part_size` pieces (at least one).
pub fn part_count_of(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size).max(1)
}

/// Exact size of part `n` (1-based) of that layout: `part_size`, but for the last.
pub fn part_len_of(size: u64, part_size: u64, n: u64) -> u64 {
    let count = part_count_of(size, part_size);
    if n < count {
        part_size
    } else {
        size - (count - 1) * part_size
    }
}

impl MultipartState {
    /// Parts of a file of `size` bytes (at least one).
    pub fn part_count(&self, size: u64) -> u64 {
        part_count_of(size, self.part_size)
    }

    /// Exact size of part `n` (1-based) of a file of `size` bytes.
    pub fn part_len(&self, size: u64, n: u64) -> u64 {
        part_len_of(size, self.part_size, n)
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
            forwarded: self.stored_forwarded(),
        }
    }

    /// The stored form of `forwarded` (with the source group): views hide it.
    pub fn stored_forwarded(&self) -> Option<Forwarded> {
        self.forwarded_from
            .as_ref()
            .map(|s| Forwarded::from(&s.conversation_id))
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
            kind: self.kind(),
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
            forwarded: self.stored_forwarded().map(|f| f.hidden()),
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
            kind: crate::domain::search::FileKind::Other,
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
            forwarded: self.stored_forwarded().map(|f| f.hidden()),
        }
    }

    /// What kind of file it is (from its content type and name), for display and search.
    pub fn kind(&self) -> crate::domain::search::FileKind {
        crate::domain::search::FileKind::of(&self.content_type, &self.name)
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
            (None, hex) => hex.clone().map(|value| Integrity::Sha256 { value }),
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

/// File info as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileInfo {
    pub file_id: String,
    pub conversation_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// `image|video|audio|document|archive|other`, from the content type and the name's
    /// extension (`other` for a deleted file, which keeps nothing of what it was).
    pub kind: crate::domain::search::FileKind,
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
    /// Present on a forwarded file; names the source group only to its current members.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub forwarded: Option<Forwarded>,
}
