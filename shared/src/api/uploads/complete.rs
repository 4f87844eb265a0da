//! Completion: the stored object is checked against what was declared, then the file turns
//! `available` and its message is appended, once, whoever completes first.

use super::*;

/// `POST /conversations/{cid}/files/{file_id}/complete` by the uploader.
pub async fn complete(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
) -> Result<(MessageView, bool), ApiError> {
    let file = own_upload(app, caller, conversation_id, file_id, "completes an upload").await?;
    complete_file(app, file).await
}

/// Completion shared by the API and the S3 `ObjectCreated` handler: checks the object, marks
/// the file available and appends the file message, once. Racing calls yield one message.
pub async fn complete_file(app: &App, file: FileRecord) -> Result<(MessageView, bool), ApiError> {
    match file.status_at(app.config.clock.now_ms()) {
        FileStatus::Available | FileStatus::Expired => {
            announced(app, &file).await.map(|m| (m, false))
        }
        FileStatus::Deleted if file.status == StoredFileStatus::Deleted => Err(abandoned()),
        // Past its abandonment time but not swept yet: what the next sweep would do, now. Bytes
        // that arrived are announced; anything short of them is gone, so a client told 410
        // never sees the file announced later (and upload it twice).
        FileStatus::Deleted => match complete_stored_pending(app, file).await {
            Err(e) if e.status < 500 => Err(abandoned()),
            done => done,
        },
        FileStatus::Pending => complete_stored_pending(app, file).await,
    }
}

fn abandoned() -> ApiError {
    ApiError::new(ErrorCode::FileGone, "the upload was abandoned")
}

/// Completion of a file whose record is still `pending`, whatever its deadline: the object is
/// checked against the record, the file marked available and announced, once. The sweep calls
/// it for uploads past their deadline (their bytes can only have arrived while the form was
/// valid: S3 refuses an expired one).
pub(super) async fn complete_stored_pending(
    app: &App,
    file: FileRecord,
) -> Result<(MessageView, bool), ApiError> {
    let object = match &file.multipart {
        None => app.blobs.head(&file.s3_key).await?,
        Some(mp) => complete_parts(app, &file, mp).await?,
    };
    let Some(object) = object else {
        // No bytes: not uploaded yet, or the upload was settled while we looked (an abort
        // took its parts, a racing completion announced it).
        let missing = ApiError::new(
            ErrorCode::UploadMissing,
            "no uploaded object for this file yet",
        );
        return settled(app, &file.file_id, missing).await;
    };
    announce(app, file, object).await
}

/// How a racing call settled an upload, as its record says now: announced (its message) or
/// aborted or abandoned (gone); `unsettled` if neither.
async fn settled(
    app: &App,
    file_id: &str,
    unsettled: ApiError,
) -> Result<(MessageView, bool), ApiError> {
    match app.store.get_file(file_id).await? {
        Some(f) if f.status == StoredFileStatus::Deleted => Err(ApiError::new(
            ErrorCode::FileGone,
            "the upload was aborted or abandoned",
        )),
        Some(f) if f.status == StoredFileStatus::Available => {
            announced(app, &f).await.map(|m| (m, false))
        }
        _ => Err(unsettled),
    }
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
        if checksum::base64_to_hex(got).as_ref() != Some(want) {
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
                // A forward knows the source's composite: the copy's must be the same.
                Some(c) if mp.checksum_sha256.as_ref().is_some_and(|want| want != c) => {
                    return Err(ApiError::new(
                        ErrorCode::ChecksumMismatch,
                        "the copied bytes do not match the source's checksum",
                    ))
                }
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
    let mut append = Append::new(&file.conversation_id, Guard::Member(&file.uploader));
    append.newest_file_at_ms = Some(file.uploaded_at_ms);
    // A forward is announced only while its forwarder is still a member of the source group
    // and the source file still available: checked in the same transaction. The extra parts'
    // order is what the outcome below matches on: the file's own part (0), then these two
    // (1: the source membership, 2: the source file); a part added later goes after them.
    let forward_checks = match &file.forwarded_from {
        Some(source) => app.store.forward_checks(source, &file.uploader, now),
        None => Vec::new(),
    };
    let outcome = app
        .store
        .append_message(
            append,
            |seq| {
                // The file turns available and findable in one write.
                let mut parts = vec![app.store.mark_file_available(
                    &file.file_id,
                    expires_at_ms,
                    seq,
                    object.version_id.as_deref(),
                    multipart_checksum.as_deref(),
                    crate::domain::model::is_previewable(&file.content_type),
                )];
                parts.extend(forward_checks.iter().cloned());
                // Unconditioned puts, after the parts whose positions the outcome matches.
                parts.extend(app.store.index_file(&file, expires_at_ms));
                parts
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
        // The forwarder left the source group (the same 404 as a non-member gets).
        AppendOutcome::ExtraConditionFailed(1) => Err(ApiError::not_found()),
        // The source was recalled, deleted or expired: what its download would answer.
        AppendOutcome::ExtraConditionFailed(2) => Err(ApiError::new(
            ErrorCode::FileGone,
            "the forwarded file has expired or was deleted",
        )),
        // The file's own part (conditioned on `pending`): someone completed it first (answer
        // with their message), or it was aborted or abandoned meanwhile (gone).
        AppendOutcome::ExtraConditionFailed(_) => {
            settled(app, &file.file_id, ApiError::not_found()).await
        }
        AppendOutcome::NotAllowed => Err(ApiError::not_found()),
        AppendOutcome::Duplicate(_) | AppendOutcome::NoConversation | AppendOutcome::LastOwner => {
            Err(ApiError::not_found())
        }
    }
}
