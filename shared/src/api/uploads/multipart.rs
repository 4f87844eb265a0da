//! Resumable multipart uploads: part URLs bound to each part's checksum, progress, abort.

use super::create::retried;
use super::*;
use crate::api::files;
use crate::domain::model::{part_count_of, part_len_of};

/// The parts a request asks URLs for, checked against the file's layout: known numbers, each
/// once, each with a SHA-256; at most [`MAX_PART_URLS_PER_CALL`]. Each comes back as (number,
/// SHA-256, its exact length in the layout), all three for its URL to sign.
pub(super) fn checked_parts(
    parts: &[PartChecksum],
    size: u64,
    part_size: u64,
) -> Result<Vec<(u64, String, u64)>, ApiError> {
    let count = part_count_of(size, part_size);
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
        let len = part_len_of(size, part_size, p.part_number);
        checked.push((p.part_number, hex.to_ascii_lowercase(), len));
    }
    Ok(checked)
}

/// A new multipart upload: S3's upload first (its id goes on the record), then the record.
pub(super) async fn create_multipart(
    app: &App,
    record: FileRecord,
    part_size: u64,
    parts: &[PartChecksum],
) -> Result<UploadTicket, ApiError> {
    let upload_id = app
        .blobs
        .create_multipart(&record.s3_key, &record.content_type)
        .await?;
    let wanted = checked_parts(parts, record.size, part_size)?;
    let (urls, expires_at_ms) = app
        .blobs
        .presign_parts(&record.s3_key, &upload_id, &wanted)
        .await?;
    let record = FileRecord {
        multipart: Some(MultipartState {
            upload_id: upload_id.clone(),
            part_size,
            checksum_sha256: None,
        }),
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
pub(super) async fn multipart_ticket(
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
pub(super) async fn keep_pending(
    app: &App,
    file_id: &str,
    deadline_ms: i64,
) -> Result<(), ApiError> {
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
        "deadline update refused for a pending upload",
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

/// `POST /conversations/{cid}/uploads/{file_id}/parts`: URLs for more parts, or again for
/// parts whose URLs expired or whose upload failed.
pub async fn part_urls(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
    request: PartsRequest,
) -> Result<PartUrls, ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "gets part URLs").await?;
    multipart_of(&file)?;
    if file.forwarded_from.is_some() {
        // Its parts are copied from the source by storage. Parts of one's own would be checked
        // against the source's composite checksum, but sources stored before it was kept have
        // none: anything of the right size would be labelled as the source's bytes.
        return Err(ApiError::new(
            ErrorCode::NotMultipart,
            "a forward's bytes are copied from its source, not uploaded",
        ));
    }
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
    conversation_id: &ConversationId,
    file_id: &FileId,
) -> Result<UploadState, ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "reads upload state").await?;
    let status = file.status_at(app.config.clock.now_ms());
    let mut multipart = None;
    if let Some(mp) = &file.multipart {
        // Settled uploads have nothing left to upload.
        let (mut held, mut missing) = (Vec::new(), Vec::new());
        if status == FileStatus::Pending {
            match app.blobs.list_parts(&file.s3_key, &mp.upload_id).await? {
                Some(parts) => {
                    missing = missing_parts(mp, file.size, &parts);
                    held = parts;
                }
                // S3 completed it already (only the announcement is left): nothing to
                // upload, only `complete` to call.
                None if app.blobs.head(&file.s3_key).await?.is_some() => {}
                None => {
                    return Err(ApiError::new(
                        ErrorCode::FileGone,
                        "storage no longer has this upload; start again with a new client_msg_id",
                    ))
                }
            }
        }
        let held = held.iter().map(|p| HeldPart {
            part_number: p.part_number,
            size: p.size,
            sha256: p
                .checksum_sha256_b64
                .as_deref()
                .and_then(checksum::base64_to_hex),
        });
        multipart = Some(MultipartProgress {
            upload_id: mp.upload_id.clone(),
            part_size: mp.part_size,
            part_count: mp.part_count(file.size),
            parts: held.collect(),
            missing,
        });
    }
    Ok(UploadState {
        file_id: file.file_id,
        kind: multipart.as_ref().map_or("post", |_| "multipart"),
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
    conversation_id: &ConversationId,
    file_id: &FileId,
    deadline: std::time::Instant,
) -> Result<bool, ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "aborts an upload").await?;
    let status = match file.status {
        StoredFileStatus::Pending
            if !app
                .store
                .mark_pending_deleted(file_id, app.config.clock.now_ms(), None)
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
        return Err(upload_completed());
    }
    Ok(files::purge_by(deadline, files::purge(app, &file)).await)
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
            vec![(3, h.clone(), 5), (1, h.clone(), 10)]
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
}
