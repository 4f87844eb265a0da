//! Forwarding a file to another group: an upload whose bytes come from a server-side copy of
//! the source's (CopyObject, or UploadPartCopy in the source's own part layout), completed by
//! the same path as any upload, so the message, the target's retention, the checksum check
//! and everything else completion does apply unchanged. See docs/decisions.md ("Forwarding a
//! file copies its bytes").

use super::*;
use crate::domain::model::{FileInfo, ForwardSource, Forwarded};

/// `POST /conversations/{cid}/files/{file_id}/forward`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    pub to_conversation_id: String,
    pub client_msg_id: String,
}

/// The forward's message in the target group, and its file.
#[derive(Debug, Serialize, Deserialize)]
pub struct ForwardedFile {
    pub message: MessageView,
    pub file: FileInfo,
}

/// The target file's id: the same forward request (target, user, `client_msg_id`) always
/// names the same file, so a retry finds the first one (and a retry of a copy cut short by
/// the request's deadline continues it).
fn forward_file_id(target: &str, user_id: &str, client_msg_id: &str) -> String {
    ids::derived_id("groupshare-forward", &[target, user_id, client_msg_id])
}

pub async fn forward(
    app: &App,
    caller: &Caller,
    from: &ConversationId,
    file_id: &FileId,
    request: ForwardRequest,
) -> Result<ForwardedFile, ApiError> {
    check_client_msg_id(&request.client_msg_id)?;
    let to = ConversationId::parse(&request.to_conversation_id)?;
    if to == *from {
        return Err(ApiError::new(
            ErrorCode::SameConversation,
            "the file is already in this group; forward it to another one",
        ));
    }
    let target_id = forward_file_id(&to, &caller.user_id, &request.client_msg_id);
    // Everything the decision needs in one round trip: the source (with the caller's
    // membership), the caller's membership of the target, and an earlier try of this forward.
    let (source, target_member, earlier) = futures::future::join3(
        crate::api::files::member_file(app, caller, from, file_id),
        require_member(app, caller, &to),
        app.store.get_file(&target_id),
    )
    .await;
    let (source, earlier) = (source?, earlier?);
    target_member?;
    let origin = ForwardSource {
        conversation_id: from.to_string(),
        file_id: file_id.to_string(),
    };
    let now = app.config.clock.now_ms();
    let record = match earlier {
        Some(earlier) => earlier,
        // A racing request with this `client_msg_id` may store its record first: `start` then
        // returns that one, checked below as an earlier try is.
        None => {
            crate::api::files::downloadable(&source, now)?;
            // A new file of the target group: the deployment's limit holds for it as for an
            // upload (it may have been lowered since the source was uploaded).
            if source.size > app.config.max_upload_bytes {
                return Err(too_large(app));
            }
            start(app, caller, &source, &to, &target_id, origin.clone(), now).await?
        }
    };
    if record.forwarded_from.as_ref() != Some(&origin) || record.conversation_id != to {
        return Err(ApiError::new(
            ErrorCode::ClientMsgIdReused,
            "client_msg_id was already used for a different forward",
        ));
    }
    match record.status_at(now) {
        // Its bytes may not be copied yet: the source must still be downloadable, as for a
        // new forward (a recall purges the bytes the copy would read).
        FileStatus::Pending => crate::api::files::downloadable(&source, now)?,
        FileStatus::Deleted => return Err(gone_upload()),
        FileStatus::Available | FileStatus::Expired => {
            let message = announced(app, &record).await?;
            return Ok(shown(message, &record, now, from));
        }
    }
    if let Err(e) = copy_bytes(app, &source, &record).await {
        // A copy fails for reasons of the caller's making too: the source went meanwhile (a
        // recall or deletion removes its bytes), the forwarder aborted this forward (its parts
        // with it), or a retry of it completed it first. The answer is then that state, as a
        // download or a completion gives it, not a storage fault.
        let (now_source, now_target) =
            futures::future::try_join(app.store.get_file(file_id), app.store.get_file(&target_id))
                .await?;
        let now = app.config.clock.now_ms();
        match now_target.map(|t| (t.status_at(now), t)) {
            None | Some((FileStatus::Deleted, _)) => return Err(gone_upload()),
            // A retry completed the bytes in storage and has not announced them yet: completion,
            // below, announces them once.
            Some((FileStatus::Pending, _)) if app.blobs.head(&record.s3_key).await?.is_some() => {}
            Some((FileStatus::Pending, _)) => {
                if let Some(now_source) = now_source {
                    crate::api::files::downloadable(&now_source, now)?;
                }
                return Err(e);
            }
            Some((_, done)) => return Ok(shown(announced(app, &done).await?, &done, now, from)),
        }
    }
    let (message, _) = complete_file(app, record).await?;
    let file = app
        .store
        .get_file(&target_id)
        .await?
        .ok_or_else(|| ApiError::corrupt("file", "forwarded file is missing"))?;
    Ok(shown(message, &file, now, from))
}

/// The pending record of a new forward: the source's name, type, size and checksum, a key
/// under the target group and today's retention, and where it came from. A racing request
/// with the same id that stored its record first wins: its record is returned (whether it is
/// this forward is the caller's to check).
async fn start(
    app: &App,
    caller: &Caller,
    source: &FileRecord,
    to: &ConversationId,
    target_id: &str,
    origin: ForwardSource,
    now: i64,
) -> Result<FileRecord, ApiError> {
    let s3_key = object_key(to, target_id, app.config.retention_days);
    let multipart = match &source.multipart {
        None => None,
        // The same part layout, so S3's composite checksum of the copy is the source's.
        Some(mp) => Some(MultipartState {
            upload_id: app
                .blobs
                .create_multipart(&s3_key, &source.content_type)
                .await?,
            part_size: mp.part_size,
            checksum_sha256: mp.checksum_sha256.clone(),
        }),
    };
    let record = FileRecord {
        file_id: target_id.to_string(),
        conversation_id: to.to_string(),
        name: source.name.clone(),
        size: source.size,
        content_type: source.content_type.clone(),
        sha256: source.sha256.clone(),
        uploader: caller.user_id.clone(),
        uploaded_at_ms: now,
        expires_at_ms: None,
        status: StoredFileStatus::Pending,
        s3_key,
        message_seq: None,
        // A forward cut short (deadline, crash) may be retried until then; after it the sweep
        // settles it like an abandoned upload.
        upload_deadline_ms: Some(now + app.config.upload_url_ttl.as_millis() as i64),
        s3_version: None,
        deleted_at_ms: None,
        multipart,
        preview: Default::default(),
        forwarded_from: Some(origin),
    };
    if app.store.put_new_file(&record).await? {
        return Ok(record);
    }
    if let Some(mp) = &record.multipart {
        if let Err(e) = app
            .blobs
            .abort_multipart(&record.s3_key, &mp.upload_id)
            .await
        {
            e.log("abort-duplicate-forward");
        }
    }
    app.store
        .get_file(target_id)
        .await?
        .ok_or_else(ApiError::unavailable)
}

/// Copies what the target does not hold yet: the whole object, or the missing parts.
async fn copy_bytes(app: &App, source: &FileRecord, target: &FileRecord) -> Result<(), ApiError> {
    let version = source.s3_version.as_deref();
    let Some(mp) = &target.multipart else {
        if app.blobs.head(&target.s3_key).await?.is_none() {
            app.blobs
                .copy_object(&source.s3_key, version, &target.s3_key)
                .await?;
        }
        return Ok(());
    };
    // `None`: S3 no longer knows the upload (completed already, or aborted); completion
    // tells which.
    let Some(held) = app.blobs.list_parts(&target.s3_key, &mp.upload_id).await? else {
        return Ok(());
    };
    let missing: Vec<(u64, u64, u64)> = missing_parts(mp, target.size, &held)
        .into_iter()
        .map(|n| {
            let first = (n - 1) * mp.part_size;
            (n, first, first + mp.part_len(target.size, n) - 1)
        })
        .collect();
    app.blobs
        .copy_parts(
            &source.s3_key,
            version,
            &target.s3_key,
            &mp.upload_id,
            &missing,
        )
        .await
}

/// The forward as its forwarder sees it: they are a member of the source (checked in the
/// announcing transaction, or just now for a retry), so the source is named.
fn shown(
    mut message: MessageView,
    file: &FileRecord,
    now: i64,
    from: &ConversationId,
) -> ForwardedFile {
    let named = Some(Forwarded::from(from));
    if let Some(f) = message.file.as_mut() {
        if f.forwarded.is_some() {
            f.forwarded = named.clone();
        }
    }
    let mut info = file.info(now);
    if info.forwarded.is_some() {
        info.forwarded = named;
    }
    ForwardedFile {
        message,
        file: info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_ids_are_stable_and_apart_from_uploads() {
        let a = forward_file_id("c", "alice", "m1");
        assert_eq!(a, forward_file_id("c", "alice", "m1"));
        assert_ne!(a, forward_file_id("c2", "alice", "m1"));
        assert_ne!(
            a,
            ids::derived_id("groupshare-upload", &["c", "alice", "m1"])
        );
    }
}
