//! Starting an upload: one request gives a presigned POST or a multipart upload, and its
//! retry (same `client_msg_id`) gives the same file.

use super::multipart::{checked_parts, create_multipart, keep_pending, multipart_ticket};
use super::*;

/// The file id for one upload request: the same `client_msg_id` from the same user in the same
/// conversation always names the same file, which makes retries idempotent with no extra item.
fn upload_file_id(conversation_id: &str, user_id: &str, client_msg_id: &str) -> String {
    ids::derived_id(
        "groupshare-upload",
        &[conversation_id, user_id, client_msg_id],
    )
}

/// `POST /conversations/{cid}/uploads`
pub async fn create(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    new: NewUpload,
) -> Result<UploadTicket, ApiError> {
    check_client_msg_id(&new.client_msg_id)?;
    let name =
        crate::domain::text::label(&new.name, MAX_NAME_CHARS, ErrorCode::InvalidName, "name")?;
    if new.size > app.config.max_upload_bytes {
        return Err(too_large(app));
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
    let multipart = new.size > app.config.multipart_threshold_bytes;
    if multipart && sha256.is_some() {
        // S3 cannot confirm a whole-file SHA-256 for an object uploaded in parts; it checks
        // every part's instead.
        return Err(ApiError::new(
            ErrorCode::InvalidSha256,
            format!(
                "files over {} bytes are uploaded in parts: declare each part's sha256 in `parts`, not the file's",
                app.config.multipart_threshold_bytes
            ),
        ));
    }
    if !multipart && !new.parts.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidParts,
            format!(
                "files up to {} bytes are uploaded with one form; `parts` is for larger ones",
                app.config.multipart_threshold_bytes
            ),
        ));
    }
    let part_size = app.config.part_size_for(new.size);
    if multipart {
        checked_parts(&new.parts, new.size, part_size)?;
    }
    require_member(app, caller, conversation_id).await?;

    let file_id = upload_file_id(conversation_id, &caller.user_id, &new.client_msg_id);
    let record = FileRecord {
        file_id: file_id.clone(),
        conversation_id: conversation_id.to_string(),
        name: name.to_string(),
        size: new.size,
        content_type: new.content_type.clone(),
        sha256,
        uploader: caller.user_id.clone(),
        uploaded_at_ms: app.config.clock.now_ms(),
        expires_at_ms: None,
        status: StoredFileStatus::Pending,
        // The retention in force now travels with the key (and so with the bytes).
        s3_key: object_key(conversation_id, &file_id, app.config.retention_days),
        message_seq: None,
        upload_deadline_ms: None,
        s3_version: None,
        deleted_at_ms: None,
        multipart: None,
        preview: Default::default(),
        forwarded_from: None,
    };
    if multipart {
        return create_multipart(app, record, part_size, &new.parts).await;
    }
    // Sign first, so the record carries the real deadline of the form it hands out.
    let form = sign_form(app, &record).await?;
    let record = FileRecord {
        upload_deadline_ms: Some(form.expires_at_ms),
        ..record
    };
    if app.store.put_new_file(&record).await? {
        return Ok(UploadTicket::post(file_id, form));
    }
    // A retry: the same request gets a fresh form for the same file; a different one is refused.
    let existing = retried(app, &record).await?;
    if existing.multipart.is_some() {
        // Created in parts under an earlier threshold: it stays a multipart upload.
        return multipart_ticket(app, existing, &new.parts).await;
    }
    // The file keeps the key it was created with (and its retention), even if the configured
    // retention has changed since.
    let form = if existing.s3_key == record.s3_key {
        form
    } else {
        sign_form(app, &existing).await?
    };
    keep_pending(app, &file_id, form.expires_at_ms).await?;
    Ok(UploadTicket::post(file_id, form))
}

/// A presigned POST form for `file`'s key, bound to its declared size, type and SHA-256.
async fn sign_form(app: &App, file: &FileRecord) -> Result<PresignedPost, ApiError> {
    let (key, sha256) = (&file.s3_key, file.sha256.as_deref());
    app.blobs
        .presign_upload(key, file.size, &file.content_type, sha256)
        .await
}

/// The record a retried create refers to, if it is the same request and still pending.
pub(super) async fn retried(app: &App, record: &FileRecord) -> Result<FileRecord, ApiError> {
    let existing = app
        .store
        .get_file(&record.file_id)
        .await?
        .ok_or_else(ApiError::unavailable)?;
    // Gone comes first: once a deleted file's bytes are removed its record is scrubbed (name,
    // size, hashes blanked), so the retry of the very same request would no longer match it.
    if existing.status == StoredFileStatus::Deleted {
        return Err(gone_upload());
    }
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
    if existing.status_at(app.config.clock.now_ms()) == FileStatus::Deleted {
        // Past its abandonment time, not swept yet: settled now as the sweep would settle it,
        // so a client told to start again never sees this upload announced later.
        return Err(match super::complete::complete_file(app, existing).await {
            Ok(_) => upload_completed(),
            Err(e) if e.status < 500 => gone_upload(),
            Err(e) => e,
        });
    }
    still_pending(app, &existing)?;
    Ok(existing)
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
