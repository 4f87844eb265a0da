//! Uploads: a presigned POST straight to S3 (files up to the multipart threshold) or a
//! resumable S3 multipart upload with presigned, checksum-bound part URLs (larger files), then
//! completion (by the client, by the S3 event when the client is gone, or by the sweep) turns
//! the file `available` and announces it in history.

use crate::domain::ids::{ConversationId, FileId};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use super::{messages::check_client_msg_id, require_member};
use crate::config::MAX_PART_URLS_PER_CALL;
use crate::domain::caller::Caller;
use crate::domain::disposition::is_valid_content_type;
use crate::domain::model::{
    FileRecord, FileStatus, Message, MessageBody, MessageView, MultipartState, StoredFileStatus,
};
use crate::domain::{checksum, ids, time};
use crate::infra::blob::{
    key_retention_days, object_key, ObjectFacts, PresignedPart, PresignedPost, StoredPart,
};
use crate::infra::store::{Append, AppendOutcome, Guard};
use crate::{ApiError, App};

mod complete;
mod create;
mod forward;
mod multipart;
mod s3_event;
mod sweep;

pub use complete::{complete, complete_file};
pub use create::create;
pub use forward::{forward, ForwardRequest, ForwardedFile};
pub use multipart::{abort, part_urls, state};
pub use s3_event::{object_created, ObjectOutcome};
pub use sweep::sweep_abandoned;

const MAX_NAME_CHARS: usize = 255;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    pub client_msg_id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Multipart only: SHA-256s of the parts to sign URLs for now (a first batch, or all).
    #[serde(default)]
    pub parts: Vec<PartChecksum>,
}

/// One part's SHA-256 (hex), which its URL binds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartChecksum {
    pub part_number: u64,
    pub sha256: String,
}

/// `POST …/uploads/{file_id}/parts`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartsRequest {
    pub parts: Vec<PartChecksum>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UploadTicket {
    pub file_id: String,
    /// `post` (one form, `upload`) or `multipart` (parts, `multipart`).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub upload: Option<UploadForm>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub multipart: Option<MultipartTicket>,
}

impl UploadTicket {
    fn post(file_id: String, form: PresignedPost) -> Self {
        Self {
            file_id,
            kind: "post",
            upload: Some(form.into()),
            multipart: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(deserialize = "'de: 'static"))]
pub struct MultipartTicket {
    pub upload_id: String,
    pub part_size: u64,
    pub part_count: u64,
    /// URLs for the parts whose SHA-256 came with the request.
    pub parts: Vec<PresignedPart>,
    pub expires_at: String,
}

/// `POST …/uploads/{file_id}/parts`
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(deserialize = "'de: 'static"))]
pub struct PartUrls {
    pub file_id: String,
    pub parts: Vec<PresignedPart>,
    pub expires_at: String,
}

/// `GET …/uploads/{file_id}`: where an upload stands, for a client that lost its state.
#[derive(Debug, Serialize, Deserialize)]
pub struct UploadState {
    pub file_id: String,
    pub kind: &'static str,
    pub status: FileStatus,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart: Option<MultipartProgress>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MultipartProgress {
    pub upload_id: String,
    pub part_size: u64,
    pub part_count: u64,
    /// What S3 holds, with the SHA-256 it verified (hex): a resuming client checks its bytes
    /// are the same file before it uploads the rest.
    pub parts: Vec<HeldPart>,
    /// Parts still to upload (absent, or not of their exact size).
    pub missing: Vec<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HeldPart {
    pub part_number: u64,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UploadForm {
    pub method: &'static str,
    pub url: String,
    /// Form fields to send, in any order, before the `file` field.
    pub fields: std::collections::BTreeMap<String, String>,
    pub expires_at: String,
}

impl From<PresignedPost> for UploadForm {
    fn from(p: PresignedPost) -> Self {
        Self {
            method: p.method,
            url: p.url,
            fields: p.fields,
            expires_at: time::rfc3339(p.expires_at_ms),
        }
    }
}

/// The caller's own upload in this conversation (members only; only its uploader may act).
async fn own_upload(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
    action: &str,
) -> Result<FileRecord, ApiError> {
    let file = crate::api::files::member_file(app, caller, conversation_id, file_id).await?;
    if file.uploader != caller.user_id {
        return Err(ApiError::forbidden(format!("only the uploader {action}")));
    }
    Ok(file)
}

/// The parts of a multipart upload of `size` bytes that `held` lacks at their exact size.
fn missing_parts(mp: &MultipartState, size: u64, held: &[StoredPart]) -> Vec<u64> {
    let held_at = |n| {
        held.iter()
            .any(|p| p.part_number == n && p.size == mp.part_len(size, n))
    };
    (1..=mp.part_count(size)).filter(|&n| !held_at(n)).collect()
}

/// A file over the deployment's size limit.
fn too_large(app: &App) -> ApiError {
    let most = app.config.max_upload_bytes;
    ApiError::new(
        ErrorCode::FileTooLarge,
        format!("files are limited to {most} bytes"),
    )
}

/// Refuses anything but a pending upload.
fn still_pending(app: &App, file: &FileRecord) -> Result<(), ApiError> {
    match file.status_at(app.config.clock.now_ms()) {
        FileStatus::Pending => Ok(()),
        FileStatus::Available | FileStatus::Expired => Err(upload_completed()),
        FileStatus::Deleted => Err(gone_upload()),
    }
}

fn upload_completed() -> ApiError {
    ApiError::new(
        ErrorCode::UploadCompleted,
        "this upload is already complete",
    )
}

fn gone_upload() -> ApiError {
    ApiError::new(
        ErrorCode::FileGone,
        "this upload was deleted, aborted or abandoned; start again with a new client_msg_id",
    )
}

async fn announced(app: &App, file: &FileRecord) -> Result<MessageView, ApiError> {
    let Some(seq) = file.message_seq else {
        return Err(ApiError::new(
            ErrorCode::UploadCompleted,
            "this upload is no longer pending",
        ));
    };
    app.store
        .get_message(&file.conversation_id, seq)
        .await?
        .map(|m| MessageView::from(&m))
        .ok_or_else(|| ApiError::corrupt("file", "announcing message is missing"))
}
