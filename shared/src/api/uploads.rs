//! Uploads: a presigned POST straight to S3, then completion (by the client, or by the S3
//! event when the client is gone) turns the file `available` and announces it in history.

use crate::ErrorCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{messages::check_client_msg_id, require_member};
use crate::blob::{key_retention_days, object_key, PresignedPost};
use crate::disposition::is_valid_content_type;
use crate::identity::Caller;
use crate::model::{FileRecord, FileStatus, Message, MessageBody, MessageView, StoredFileStatus};
use crate::store::{Append, AppendOutcome, Guard};
use crate::{ids, time, ApiError, App};

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
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(deserialize = "'de: 'static"))]
pub struct UploadTicket {
    pub file_id: String,
    pub upload: UploadForm,
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

/// The file id for one upload request: the same `client_msg_id` from the same user in the same
/// conversation always names the same file, which makes retries idempotent with no extra item.
fn upload_file_id(conversation_id: &str, user_id: &str, client_msg_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"groupshare-upload\0")
        .chain_update(conversation_id)
        .chain_update(b"\0")
        .chain_update(user_id)
        .chain_update(b"\0")
        .chain_update(client_msg_id)
        .finalize();
    hex::encode(&digest[..16])
}

/// `POST /conversations/{cid}/uploads`
pub async fn create(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    new: NewUpload,
) -> Result<UploadTicket, ApiError> {
    ids::conversation_id(conversation_id)?;
    check_client_msg_id(&new.client_msg_id)?;
    let name = crate::text::label(&new.name, MAX_NAME_CHARS, ErrorCode::InvalidName, "name")?;
    if new.size > app.config.max_upload_bytes {
        return Err(ApiError::new(
            ErrorCode::FileTooLarge,
            format!("files are limited to {} bytes", app.config.max_upload_bytes),
        ));
    }
    if !is_valid_content_type(&new.content_type) {
        return Err(ApiError::new(
            ErrorCode::InvalidContentType,
            "content_type must be a media type like image/png",
        ));
    }
    let sha256 = match new.sha256 {
        None => None,
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(h.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidSha256,
                "sha256 must be 64 hex digits",
            ))
        }
    };
    require_member(&app.store, conversation_id, &caller.user_id).await?;

    let file_id = upload_file_id(conversation_id, &caller.user_id, &new.client_msg_id);
    let record = FileRecord {
        file_id: file_id.clone(),
        conversation_id: conversation_id.to_string(),
        name: name.to_string(),
        size: new.size,
        content_type: new.content_type.clone(),
        sha256,
        uploader: caller.user_id.clone(),
        uploaded_at_ms: time::now_ms(),
        expires_at_ms: None,
        status: StoredFileStatus::Pending,
        // The retention in force now travels with the key (and so with the bytes).
        s3_key: object_key(conversation_id, &file_id, app.config.retention_days),
        message_seq: None,
        upload_deadline_ms: None,
        s3_version: None,
        deleted_at_ms: None,
    };
    // Sign first, so the record carries the real deadline of the form it hands out.
    let form = app
        .blobs
        .presign_upload(
            &record.s3_key,
            record.size,
            &record.content_type,
            record.sha256.as_deref(),
        )
        .await?;
    let record = FileRecord {
        upload_deadline_ms: Some(form.expires_at_ms),
        ..record
    };
    if !app.store.put_new_file(&record).await? {
        // A retry: the same request gets a fresh form for the same file; a different one is refused.
        let existing = app
            .store
            .get_file(&file_id)
            .await?
            .ok_or_else(ApiError::unavailable)?;
        // Every declared field must match: a retry that dropped or changed the sha256
        // would otherwise hand out a form S3 no longer checks against the advertised hash.
        if existing.name != record.name
            || existing.size != record.size
            || existing.content_type != record.content_type
            || existing.sha256 != record.sha256
        {
            return Err(ApiError::new(
                ErrorCode::ClientMsgIdReused,
                "client_msg_id was already used for a different upload",
            ));
        }
        match existing.status_at(time::now_ms()) {
            FileStatus::Pending => {
                // The file keeps the key it was created with (and its retention), even if
                // the configured retention has changed since.
                let form = if existing.s3_key == record.s3_key {
                    form
                } else {
                    app.blobs
                        .presign_upload(
                            &existing.s3_key,
                            existing.size,
                            &existing.content_type,
                            existing.sha256.as_deref(),
                        )
                        .await?
                };
                app.store
                    .extend_upload_deadline(&file_id, form.expires_at_ms)
                    .await?;
                return Ok(UploadTicket {
                    file_id,
                    upload: form.into(),
                });
            }
            FileStatus::Available | FileStatus::Expired => {
                return Err(ApiError::new(
                    ErrorCode::UploadCompleted,
                    "this upload is already complete",
                ))
            }
            FileStatus::Deleted => {
                return Err(ApiError::new(
                    ErrorCode::FileGone,
                    "this upload was abandoned; start again with a new client_msg_id",
                ))
            }
        }
    }
    Ok(UploadTicket {
        file_id,
        upload: form.into(),
    })
}

/// `POST /conversations/{cid}/files/{file_id}/complete` by the uploader.
pub async fn complete(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    file_id: &str,
) -> Result<(MessageView, bool), ApiError> {
    let file = super::files::member_file(app, caller, conversation_id, file_id).await?;
    if file.uploader != caller.user_id {
        return Err(ApiError::forbidden("only the uploader completes an upload"));
    }
    complete_file(app, file).await
}

/// Completion shared by the API and the S3 `ObjectCreated` handler: checks the object, marks
/// the file available and appends the file message, once. Racing calls yield one message.
pub async fn complete_file(app: &App, file: FileRecord) -> Result<(MessageView, bool), ApiError> {
    match file.status_at(time::now_ms()) {
        FileStatus::Available | FileStatus::Expired => {
            return announced(app, &file).await.map(|m| (m, false))
        }
        FileStatus::Deleted => {
            return Err(ApiError::new(
                ErrorCode::FileGone,
                "the upload was abandoned",
            ))
        }
        FileStatus::Pending => {}
    }
    complete_stored_pending(app, file).await
}

/// Completion of a file whose record is still `pending`, whatever its deadline: the object is
/// checked against the record, the file marked available and announced, once. The sweep calls
/// it for uploads past their deadline (their bytes can only have arrived while the form was
/// valid: S3 refuses an expired one).
async fn complete_stored_pending(
    app: &App,
    file: FileRecord,
) -> Result<(MessageView, bool), ApiError> {
    let Some(object) = app.blobs.head(&file.s3_key).await? else {
        return Err(ApiError::new(
            ErrorCode::UploadMissing,
            "no uploaded object for this file yet",
        ));
    };
    if object.size != file.size {
        return Err(ApiError::new(
            ErrorCode::SizeMismatch,
            format!("uploaded {} bytes, expected {}", object.size, file.size),
        ));
    }
    if let Some(want) = &file.sha256 {
        // A declared hash is a promise to every member; storage must confirm it, or the
        // upload does not complete.
        let Some(got) = &object.checksum_sha256_b64 else {
            return Err(ApiError::new(ErrorCode::ChecksumUnverified,
                "storage reports no SHA-256 for the uploaded bytes; upload them with the form's checksum field",
            ));
        };
        let got_hex = base64::engine::general_purpose::STANDARD
            .decode(got)
            .map(hex::encode)
            .unwrap_or_default();
        if &got_hex != want {
            return Err(ApiError::new(
                ErrorCode::ChecksumMismatch,
                "uploaded bytes do not match sha256",
            ));
        }
    }
    let now = time::now_ms();
    // The retention the file was uploaded under (its key's), counted from when S3 stored the
    // bytes, as S3's lifecycle rule counts: the record turns `expired` no later than the bytes
    // go. Keys of the first layout follow the current setting, as their lifecycle rule does.
    let retention_days = key_retention_days(&file.s3_key).unwrap_or(app.config.retention_days);
    let stored_at = object.last_modified_ms.unwrap_or(now).min(now);
    let expires_at_ms = match retention_days {
        0 => None,
        days => Some(stored_at + i64::from(days) * 86_400_000),
    };
    let message_id = ids::new_id();
    // The uploader must still be a member when the file is announced: a form collected before
    // a removal must not put a file into the group afterwards.
    let append = Append::new(&file.conversation_id, Guard::Member(&file.uploader));
    let outcome = app
        .store
        .append_message(
            append,
            |seq| {
                vec![app.store.mark_file_available(
                    &file.file_id,
                    expires_at_ms,
                    seq,
                    object.version_id.as_deref(),
                )]
            },
            |seq| Message {
                conversation_id: file.conversation_id.clone(),
                seq,
                message_id: message_id.clone(),
                sender: file.uploader.clone(),
                sent_at_ms: now,
                body: MessageBody::File(file.summary()),
            },
        )
        .await?;
    match outcome {
        AppendOutcome::Appended(m) => Ok((MessageView::from(&m), true)),
        // Someone completed it first: answer with their message.
        AppendOutcome::ExtraConditionFailed(_) => {
            let current = app
                .store
                .get_file(&file.file_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            announced(app, &current).await.map(|m| (m, false))
        }
        AppendOutcome::NotAllowed => Err(ApiError::not_found()),
        AppendOutcome::Duplicate(_) | AppendOutcome::NoConversation | AppendOutcome::LastOwner => {
            Err(ApiError::not_found())
        }
    }
}

/// What an S3 `ObjectCreated` event led to.
#[derive(Debug, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// Announced now (with its history seq).
    Completed(u64),
    /// Already complete with this very object version: nothing to do.
    AlreadyComplete,
    /// A version that is not the file's completed bytes (posted later with a stale form, or
    /// for a file that can no longer complete) was deleted.
    StrayVersionDeleted,
    /// Not a GroupShare upload, or not in a state to complete (logged, not retried).
    Skipped(String),
}

/// S3 says `key` (version `version_id`, in versioned buckets) was written. A pending file is
/// completed as by the uploader's own call; for a file that is already complete or gone, any
/// other version is deleted, so the completed bytes stay the only ones a member can get.
pub async fn object_created(
    app: &App,
    key: &str,
    version_id: Option<&str>,
) -> Result<ObjectOutcome, ApiError> {
    let Some((conversation_id, file_id)) = crate::blob::parse_object_key(key) else {
        return Ok(ObjectOutcome::Skipped("not an upload key".into()));
    };
    let Some(file) = app.store.get_file(file_id).await? else {
        return Ok(ObjectOutcome::Skipped("no file record".into()));
    };
    if file.conversation_id != conversation_id || file.s3_key != key {
        return Ok(ObjectOutcome::Skipped("key and record disagree".into()));
    }
    let settled = match file.status {
        StoredFileStatus::Pending => false,
        StoredFileStatus::Available => true,
        StoredFileStatus::Deleted => true,
    };
    if settled {
        return match version_id {
            Some(v) if file.s3_version.as_deref() != Some(v) => {
                app.blobs.delete_version(key, v).await?;
                tracing::warn!(file_id, "deleted an object version posted after completion");
                Ok(ObjectOutcome::StrayVersionDeleted)
            }
            _ => Ok(ObjectOutcome::AlreadyComplete),
        };
    }
    match complete_file(app, file).await {
        Ok((message, true)) => Ok(ObjectOutcome::Completed(message.seq)),
        Ok((_, false)) => Ok(ObjectOutcome::AlreadyComplete),
        Err(e) if e.status >= 500 => Err(e),
        Err(e) => Ok(ObjectOutcome::Skipped(e.code.to_string())),
    }
}

/// Cleans up abandoned uploads (see `model::ABANDONED_AFTER_MS`). Completion comes first:
/// bytes that arrived (while the form was valid) whose completion was lost, because the client
/// vanished and the S3 event failed, are completed and announced, never deleted. The rest are
/// marked `deleted` (conditionally, so they can no longer complete), then any bytes that did
/// arrive (for an upload that cannot complete: its uploader left, or its group is gone) are
/// removed from S3. Returns how many were cleaned (completed or deleted). Run on a schedule by
/// `sweep-uploads`.
pub async fn sweep_abandoned(app: &App, batch: u32) -> Result<usize, ApiError> {
    let cutoff = time::now_ms() - crate::model::ABANDONED_AFTER_MS;
    let mut cleaned = 0;
    for file in app.store.abandoned_uploads(cutoff, batch).await? {
        match complete_stored_pending(app, file.clone()).await {
            Ok((message, _)) => {
                tracing::warn!(
                    file_id = file.file_id,
                    seq = message.seq,
                    "sweep completed an upload whose completion was lost"
                );
                cleaned += 1;
                continue;
            }
            // Faults stop the pass; the next run retries.
            Err(e) if e.status >= 500 => return Err(e),
            // No bytes, or bytes that cannot complete: abandoned.
            Err(_) => {}
        }
        if app.store.mark_pending_deleted(&file.file_id).await? {
            app.blobs.delete_all_versions(&file.s3_key).await?;
            cleaned += 1;
        }
    }
    Ok(cleaned)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_stable_and_distinct() {
        let a = upload_file_id("c", "alice", "m1");
        assert_eq!(a, upload_file_id("c", "alice", "m1"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, upload_file_id("c", "bob", "m1"));
        assert_ne!(a, upload_file_id("c2", "alice", "m1"));
    }
}
