//! Uploads: a presigned POST straight to S3 (files up to the multipart threshold) or a
//! resumable S3 multipart upload with presigned, checksum-bound part URLs (larger files), then
//! completion (by the client, by the S3 event when the client is gone, or by the sweep) turns
//! the file `available` and announces it in history.

use crate::ErrorCode;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{messages::check_client_msg_id, require_member};
use crate::config::MAX_PART_URLS_PER_CALL;
use crate::domain::caller::Caller;
use crate::domain::disposition::is_valid_content_type;
use crate::domain::model::{
    FileRecord, FileStatus, Message, MessageBody, MessageView, MultipartState, StoredFileStatus,
};
use crate::domain::{ids, time};
use crate::infra::blob::{
    key_retention_days, object_key, ObjectFacts, PresignedPart, PresignedPost, StoredPart,
};
use crate::infra::store::{Append, AppendOutcome, Guard};
use crate::{ApiError, App};

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
    conversation_id: &str,
    new: NewUpload,
) -> Result<UploadTicket, ApiError> {
    ids::conversation_id(conversation_id)?;
    check_client_msg_id(&new.client_msg_id)?;
    let name =
        crate::domain::text::label(&new.name, MAX_NAME_CHARS, ErrorCode::InvalidName, "name")?;
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
    };
    if multipart {
        return create_multipart(app, record, part_size, &new.parts).await;
    }
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
        let existing = retried(app, &record).await?;
        if existing.multipart.is_some() {
            // Created in parts under an earlier threshold: it stays a multipart upload.
            return multipart_ticket(app, existing, &new.parts).await;
        }
        // The file keeps the key it was created with (and its retention), even if the
        // configured retention has changed since.
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
        keep_pending(app, &file_id, form.expires_at_ms).await?;
        return Ok(UploadTicket::post(file_id, form));
    }
    Ok(UploadTicket::post(file_id, form))
}

/// The record a retried create refers to, if it is the same request and still pending.
async fn retried(app: &App, record: &FileRecord) -> Result<FileRecord, ApiError> {
    let existing = app
        .store
        .get_file(&record.file_id)
        .await?
        .ok_or_else(ApiError::unavailable)?;
    // Gone comes first: once a deleted file's bytes are removed its record is scrubbed (name,
    // size, hashes blanked), so the retry of the very same request would no longer match it.
    if existing.status_at(app.config.clock.now_ms()) == FileStatus::Deleted {
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
    still_pending(app, &existing)?;
    Ok(existing)
}

/// Refuses anything but a pending upload.
fn still_pending(app: &App, file: &FileRecord) -> Result<(), ApiError> {
    match file.status_at(app.config.clock.now_ms()) {
        FileStatus::Pending => Ok(()),
        FileStatus::Available | FileStatus::Expired => Err(ApiError::new(
            ErrorCode::UploadCompleted,
            "this upload is already complete",
        )),
        FileStatus::Deleted => Err(gone_upload()),
    }
}

fn gone_upload() -> ApiError {
    ApiError::new(
        ErrorCode::FileGone,
        "this upload was deleted, aborted or abandoned; start again with a new client_msg_id",
    )
}

/// The parts a request asks URLs for, checked against the file's layout: known numbers, each
/// once, each with a SHA-256; at most [`MAX_PART_URLS_PER_CALL`].
fn checked_parts(
    parts: &[PartChecksum],
    size: u64,
    part_size: u64,
) -> Result<Vec<(u64, String)>, ApiError> {
    let count = size.div_ceil(part_size).max(1);
    if parts.len() > MAX_PART_URLS_PER_CALL {
        return Err(ApiError::new(
            ErrorCode::InvalidParts,
            format!("at most {MAX_PART_URLS_PER_CALL} parts per request; ask again for more"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut checked = Vec::with_capacity(parts.len());
    for p in parts {
        if !(1..=count).contains(&p.part_number) || !seen.insert(p.part_number) {
            return Err(ApiError::new(
                ErrorCode::InvalidParts,
                format!(
                    "part_number {} is not one of this upload's parts 1..={count}, once each",
                    p.part_number
                ),
            ));
        }
        let hex = &p.sha256;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::new(
                ErrorCode::InvalidSha256,
                format!("part {}: sha256 must be 64 hex digits", p.part_number),
            ));
        }
        checked.push((p.part_number, hex.to_ascii_lowercase()));
    }
    Ok(checked)
}

/// A new multipart upload: S3's upload first (its id goes on the record), then the record.
async fn create_multipart(
    app: &App,
    record: FileRecord,
    part_size: u64,
    parts: &[PartChecksum],
) -> Result<UploadTicket, ApiError> {
    let upload_id = app
        .blobs
        .create_multipart(&record.s3_key, &record.content_type)
        .await?;
    let record = FileRecord {
        multipart: Some(MultipartState {
            upload_id: upload_id.clone(),
            part_size,
            checksum_sha256: None,
        }),
        ..record
    };
    let (urls, expires_at_ms) = app
        .blobs
        .presign_parts(
            &record.s3_key,
            &upload_id,
            &checked_parts(parts, record.size, part_size)?,
        )
        .await?;
    let record = FileRecord {
        upload_deadline_ms: Some(expires_at_ms),
        ..record
    };
    if app.store.put_new_file(&record).await? {
        return Ok(multipart_response(&record, urls, expires_at_ms));
    }
    // A retry: the upload started first stays the file's; this one is not needed.
    if let Err(e) = app.blobs.abort_multipart(&record.s3_key, &upload_id).await {
        e.log("abort-duplicate-multipart");
    }
    let existing = retried(app, &record).await?;
    if existing.multipart.is_none() {
        // Created with one form under an earlier threshold: it stays a form upload.
        return Err(ApiError::new(
            ErrorCode::NotMultipart,
            "this upload was started with one POST form; retry without `parts`, or use a new client_msg_id",
        ));
    }
    multipart_ticket(app, existing, parts).await
}

/// Fresh URLs for `parts` of a pending multipart file, moving its deadline.
async fn multipart_ticket(
    app: &App,
    file: FileRecord,
    parts: &[PartChecksum],
) -> Result<UploadTicket, ApiError> {
    let (urls, expires_at_ms) = sign_parts(app, &file, parts).await?;
    Ok(multipart_response(&file, urls, expires_at_ms))
}

async fn sign_parts(
    app: &App,
    file: &FileRecord,
    parts: &[PartChecksum],
) -> Result<(Vec<PresignedPart>, i64), ApiError> {
    let mp = multipart_of(file)?;
    let wanted = checked_parts(parts, file.size, mp.part_size)?;
    let signed = app
        .blobs
        .presign_parts(&file.s3_key, &mp.upload_id, &wanted)
        .await?;
    keep_pending(app, &file.file_id, signed.1).await?;
    Ok(signed)
}

/// Moves a pending upload's deadline to `deadline_ms` (new URLs were just signed). If it
/// completed or was aborted in the meantime, the caller gets that state's answer, as if it had
/// come first (the URLs just signed are never handed out).
async fn keep_pending(app: &App, file_id: &str, deadline_ms: i64) -> Result<(), ApiError> {
    if app
        .store
        .extend_upload_deadline(file_id, deadline_ms)
        .await?
    {
        return Ok(());
    }
    let current = app
        .store
        .get_file(file_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    still_pending(app, &current)?;
    // Pending again cannot be: a settled upload never returns to pending.
    Err(ApiError::unavailable().with_fault(
        "uploads.keep_pending",
        "deadline update refused for a pending upload".to_string(),
    ))
}

fn multipart_of(file: &FileRecord) -> Result<&MultipartState, ApiError> {
    file.multipart.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotMultipart,
            "this upload is a single POST form, not a multipart upload",
        )
    })
}

fn multipart_response(
    file: &FileRecord,
    parts: Vec<PresignedPart>,
    expires_at_ms: i64,
) -> UploadTicket {
    let mp = file.multipart.as_ref().expect("a multipart file");
    UploadTicket {
        file_id: file.file_id.clone(),
        kind: "multipart",
        upload: None,
        multipart: Some(MultipartTicket {
            upload_id: mp.upload_id.clone(),
            part_size: mp.part_size,
            part_count: mp.part_count(file.size),
            parts,
            expires_at: time::rfc3339(expires_at_ms),
        }),
    }
}

/// The caller's own upload in this conversation (members only; only its uploader may act).
async fn own_upload(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    file_id: &str,
    action: &str,
) -> Result<FileRecord, ApiError> {
    let file = super::files::member_file(app, caller, conversation_id, file_id).await?;
    if file.uploader != caller.user_id {
        return Err(ApiError::forbidden(format!("only the uploader {action}")));
    }
    Ok(file)
}

/// `POST /conversations/{cid}/uploads/{file_id}/parts`: URLs for more parts, or again for
/// parts whose URLs expired or whose upload failed.
pub async fn part_urls(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    file_id: &str,
    request: PartsRequest,
) -> Result<PartUrls, ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "gets part URLs").await?;
    multipart_of(&file)?;
    still_pending(app, &file)?;
    let (parts, expires_at_ms) = sign_parts(app, &file, &request.parts).await?;
    Ok(PartUrls {
        file_id: file.file_id,
        parts,
        expires_at: time::rfc3339(expires_at_ms),
    })
}

/// `GET /conversations/{cid}/uploads/{file_id}`: which parts S3 already holds and which are
/// missing, so any device of the uploader resumes with only the file id.
pub async fn state(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    file_id: &str,
) -> Result<UploadState, ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "reads upload state").await?;
    let status = file.status_at(app.config.clock.now_ms());
    let multipart = match (&file.multipart, status) {
        (Some(mp), FileStatus::Pending) => {
            let count = mp.part_count(file.size);
            let (held, completed_in_s3) =
                match app.blobs.list_parts(&file.s3_key, &mp.upload_id).await? {
                    Some(parts) => (parts, false),
                    // S3 completed it already (only the announcement is left): nothing to
                    // upload, only `complete` to call.
                    None if app.blobs.head(&file.s3_key).await?.is_some() => (Vec::new(), true),
                    None => return Err(ApiError::new(
                        ErrorCode::FileGone,
                        "storage no longer has this upload; start again with a new client_msg_id",
                    )),
                };
            let missing = if completed_in_s3 {
                Vec::new()
            } else {
                (1..=count)
                    .filter(|n| {
                        !held
                            .iter()
                            .any(|p| p.part_number == *n && p.size == mp.part_len(file.size, *n))
                    })
                    .collect()
            };
            Some(MultipartProgress {
                upload_id: mp.upload_id.clone(),
                part_size: mp.part_size,
                part_count: count,
                parts: held
                    .iter()
                    .map(|p| HeldPart {
                        part_number: p.part_number,
                        size: p.size,
                        sha256: p.checksum_sha256_b64.as_deref().and_then(base64_to_hex),
                    })
                    .collect(),
                missing,
            })
        }
        (Some(mp), _) => Some(MultipartProgress {
            upload_id: mp.upload_id.clone(),
            part_size: mp.part_size,
            part_count: mp.part_count(file.size),
            parts: Vec::new(),
            missing: Vec::new(),
        }),
        (None, _) => None,
    };
    Ok(UploadState {
        file_id: file.file_id.clone(),
        kind: if file.multipart.is_some() {
            "multipart"
        } else {
            "post"
        },
        status,
        name: file.name,
        size: file.size,
        content_type: file.content_type,
        multipart,
    })
}

/// `DELETE /conversations/{cid}/uploads/{file_id}`: the uploader gives up. The file can no
/// longer complete (marked `deleted` first, conditionally), then S3's upload is aborted and any
/// bytes removed, by `deadline`: under slow storage the abort still answers as done, and the
/// purge index (joined by the same conditional write) finishes the removal. Returns whether
/// the bytes are gone now. Idempotent (a retry removes what is left); a completed upload is not
/// undone here.
pub async fn abort(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    file_id: &str,
    deadline: std::time::Instant,
) -> Result<bool, ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "aborts an upload").await?;
    let status = match file.status {
        StoredFileStatus::Pending
            if !app
                .store
                .mark_pending_deleted(file_id, app.config.clock.now_ms())
                .await? =>
        {
            // No longer pending: completed, or swept, meanwhile.
            app.store
                .get_file(file_id)
                .await?
                .ok_or_else(ApiError::not_found)?
                .status
        }
        StoredFileStatus::Pending => StoredFileStatus::Deleted,
        other => other,
    };
    if status == StoredFileStatus::Available {
        return Err(ApiError::new(
            ErrorCode::UploadCompleted,
            "this upload is already complete",
        ));
    }
    Ok(super::files::purge_within(app, &file, deadline).await)
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
    match file.status_at(app.config.clock.now_ms()) {
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
    let object = match &file.multipart {
        None => app.blobs.head(&file.s3_key).await?,
        Some(mp) => complete_parts(app, &file, mp).await?,
    };
    let Some(object) = object else {
        // No bytes: not uploaded yet, or the upload was settled while we looked (an abort
        // took its parts, a racing completion announced it). The record says which.
        let current = app.store.get_file(&file.file_id).await?;
        return match current {
            Some(f) if f.status == StoredFileStatus::Deleted => Err(ApiError::new(
                ErrorCode::FileGone,
                "the upload was aborted or abandoned",
            )),
            Some(f) if f.status == StoredFileStatus::Available => {
                announced(app, &f).await.map(|m| (m, false))
            }
            _ => Err(ApiError::new(
                ErrorCode::UploadMissing,
                "no uploaded object for this file yet",
            )),
        };
    };
    announce(app, file, object).await
}

/// The S3 half of a multipart completion: from the parts S3 reports (the client sends no
/// ETags), checked against the file's layout, then CompleteMultipartUpload. Returns the object.
/// Safe to repeat: once S3 has completed (a retry, the `ObjectCreated` event, a racing call)
/// the object itself is the answer.
async fn complete_parts(
    app: &App,
    file: &FileRecord,
    mp: &MultipartState,
) -> Result<Option<ObjectFacts>, ApiError> {
    if let Some(object) = app.blobs.head(&file.s3_key).await? {
        return Ok(Some(object));
    }
    let Some(held) = app.blobs.list_parts(&file.s3_key, &mp.upload_id).await? else {
        // S3 no longer knows the upload: completed since the HEAD above, or aborted.
        return app.blobs.head(&file.s3_key).await;
    };
    let count = mp.part_count(file.size);
    let mut parts: Vec<StoredPart> = Vec::with_capacity(count as usize);
    let mut missing = Vec::new();
    for n in 1..=count {
        match held.iter().find(|p| p.part_number == n) {
            Some(p) if p.size == mp.part_len(file.size, n) && p.checksum_sha256_b64.is_some() => {
                parts.push(p.clone())
            }
            _ => missing.push(n),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(u64::to_string).collect();
        return Err(ApiError::new(
            ErrorCode::UploadIncomplete,
            format!(
                "{} of {count} parts missing or not of their size: {}{} (GET the upload for the full list)",
                missing.len(),
                shown.join(", "),
                if missing.len() > shown.len() { ", …" } else { "" }
            ),
        ));
    }
    // `false`: a racing completion got there first; the object is the answer either way.
    app.blobs
        .complete_multipart(&file.s3_key, &mp.upload_id, &parts)
        .await?;
    app.blobs.head(&file.s3_key).await
}

/// The finalisation both upload kinds share: the object is checked against the record, the
/// file marked available (version pinned) and announced, in one membership-guarded
/// transaction. Racing calls yield one message.
async fn announce(
    app: &App,
    file: FileRecord,
    object: ObjectFacts,
) -> Result<(MessageView, bool), ApiError> {
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
    // S3 checked every part against its signed SHA-256; the composite it keeps is what
    // members can verify after download.
    let multipart_checksum = match &file.multipart {
        None => None,
        Some(mp) => {
            let suffix = format!("-{}", mp.part_count(file.size));
            match &object.checksum_sha256_b64 {
                Some(c) if c.ends_with(&suffix) => Some(c.clone()),
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::ChecksumUnverified,
                        "storage reports no multipart SHA-256 for the uploaded parts",
                    ))
                }
            }
        }
    };
    let now = app.config.clock.now_ms();
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
                    multipart_checksum.as_deref(),
                    crate::domain::model::is_previewable(&file.content_type),
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
        // Someone completed it first (answer with their message), or it was aborted or
        // abandoned meanwhile (gone).
        AppendOutcome::ExtraConditionFailed(_) => {
            let current = app
                .store
                .get_file(&file.file_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            if current.status == StoredFileStatus::Deleted {
                return Err(ApiError::new(
                    ErrorCode::FileGone,
                    "the upload was aborted or abandoned",
                ));
            }
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
    let Some((conversation_id, file_id)) = crate::infra::blob::parse_object_key(key) else {
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
/// removed from S3. Returns how many were cleaned (completed or deleted), and the ids of those
/// it completed (their preview jobs are due). Run on a schedule by `sweep-uploads`.
pub async fn sweep_abandoned(app: &App, batch: u32) -> Result<Swept, ApiError> {
    let cutoff = app.config.clock.now_ms() - crate::domain::model::ABANDONED_AFTER_MS;
    let mut cleaned = 0;
    let mut completed = Vec::new();
    for file in app.store.abandoned_uploads(cutoff, batch).await? {
        match complete_stored_pending(app, file.clone()).await {
            Ok((message, _)) => {
                tracing::warn!(
                    file_id = file.file_id,
                    seq = message.seq,
                    "sweep completed an upload whose completion was lost"
                );
                cleaned += 1;
                completed.push(file.file_id.clone());
                continue;
            }
            // A fault skips this file; the next run retries it (one bad file never holds up
            // the rest).
            Err(e) if e.status >= 500 => {
                e.log("sweep.complete");
                continue;
            }
            // No bytes, or bytes that cannot complete: abandoned.
            Err(_) => {}
        }
        let deleted = async {
            if app
                .store
                .mark_pending_deleted(&file.file_id, app.config.clock.now_ms())
                .await?
            {
                // Now in the purge index: if this fails, `purge_deleted` finishes it.
                super::files::purge(app, &file).await?;
                return Ok(true);
            }
            Ok::<_, ApiError>(false)
        };
        match deleted.await {
            Ok(true) => cleaned += 1,
            Ok(false) => {}
            Err(e) => e.log("sweep.delete"),
        }
    }
    Ok(Swept { cleaned, completed })
}

/// What a sweep pass did.
#[derive(Debug, Default)]
pub struct Swept {
    pub cleaned: usize,
    /// Files it completed, whose preview jobs are now due.
    pub completed: Vec<String>,
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

fn base64_to_hex(b64: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .map(hex::encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_checked_against_the_layout() {
        let h = "ab".repeat(32);
        let part = |n: u64| PartChecksum {
            part_number: n,
            sha256: h.clone(),
        };
        // 3 parts: 10, 10, 5.
        assert_eq!(
            checked_parts(&[part(3), part(1)], 25, 10).unwrap(),
            vec![(3, h.clone()), (1, h.clone())]
        );
        for bad in [vec![part(0)], vec![part(4)], vec![part(2), part(2)]] {
            assert_eq!(
                checked_parts(&bad, 25, 10).unwrap_err().code,
                ErrorCode::InvalidParts
            );
        }
        let short = PartChecksum {
            part_number: 1,
            sha256: "ab".into(),
        };
        assert_eq!(
            checked_parts(&[short], 25, 10).unwrap_err().code,
            ErrorCode::InvalidSha256
        );
    }

    #[test]
    fn upload_ids_are_stable_and_distinct() {
        let a = upload_file_id("c", "alice", "m1");
        assert_eq!(a, upload_file_id("c", "alice", "m1"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, upload_file_id("c", "bob", "m1"));
        assert_ne!(a, upload_file_id("c2", "alice", "m1"));
    }
}
