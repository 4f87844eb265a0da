//! File info, the conversation's file list, and downloads.

use crate::domain::ids::{ConversationId, FileId};
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use super::{as_member, Paging};
use crate::config::MAX_IDS_PER_BATCH;
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, FilesAfter};
use crate::domain::disposition::Disposition;
use crate::domain::model::{
    is_previewable, FileInfo, FileRecord, FileStatus, PreviewSize, PreviewStatus,
};
use crate::domain::time;
use crate::infra::blob::PresignedGet;
use crate::{ApiError, App};

/// One file as a member sees it: ids validated, membership checked concurrently with the
/// lookup, and the same 404 for a missing file, another conversation's file or a non-member.
pub async fn member_file(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
) -> Result<FileRecord, ApiError> {
    let (_, file) = as_member(app, caller, conversation_id, app.store.get_file(file_id)).await?;
    file.filter(|f| f.conversation_id == conversation_id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /conversations/{cid}/files/{file_id}`
pub async fn info(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
) -> Result<FileInfo, ApiError> {
    let file = member_file(app, caller, conversation_id, file_id).await?;
    let mut info = [file.info(app.config.clock.now_ms())];
    super::forwarded::reveal_in_files(app, caller, &[&file], &mut info).await?;
    let [info] = info;
    Ok(info)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileBatch {
    /// Found files, in the order asked.
    pub files: Vec<FileInfo>,
    /// Ids that do not exist or are not this conversation's (indistinguishable on purpose).
    pub missing: Vec<String>,
}

/// `GET /conversations/{cid}/files?ids=a,b,c`
/// With `preview_urls`, every file whose preview is ready carries a presigned URL of that
/// size: one response draws a grid of thumbnails (presigning is local, no storage call).
pub async fn batch(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    ids_param: &str,
    preview_urls: Option<PreviewSize>,
) -> Result<FileBatch, ApiError> {
    let wanted = parse_ids(ids_param)?;
    let found = app.store.batch_get_files(&wanted);
    let (_, found) = as_member(app, caller, conversation_id, found).await?;
    let mut records = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for id in wanted {
        match found
            .iter()
            .find(|f| f.file_id == id && f.conversation_id == conversation_id)
        {
            Some(f) => records.push(f),
            None => missing.push(id),
        }
    }
    let now = app.config.clock.now_ms();
    let files = infos_of(app, caller, records, now, preview_urls).await?;
    Ok(FileBatch { files, missing })
}

/// Comma-separated ids: each valid, duplicates collapsed (first occurrence kept), 1..=100.
pub fn parse_ids(param: &str) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for raw in param.split(',') {
        let id = FileId::parse(raw.trim())?;
        if !out.iter().any(|seen| *seen == id) {
            out.push(id.to_string());
        }
    }
    if out.len() > MAX_IDS_PER_BATCH {
        return Err(ApiError::new(
            ErrorCode::TooManyIds,
            format!("at most {MAX_IDS_PER_BATCH} distinct ids per request"),
        ));
    }
    Ok(out)
}

/// A page of files: a group's (`FileInfo`), or for `GET /files` every group's (`FoundFile`).
#[derive(Debug, Serialize, Deserialize)]
pub struct FileList<F = FileInfo> {
    /// Newest first.
    pub files: Vec<F>,
    /// Continues the list; `null` at the end.
    pub cursor: Option<String>,
}

/// `GET /conversations/{cid}/files` (no `ids`): the group's files, newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    page: Paging<FilesAfter>,
    preview_urls: Option<PreviewSize>,
) -> Result<FileList, ApiError> {
    let page = app
        .store
        .list_files(conversation_id, page.after, page.limit);
    let (_, page) = as_member(app, caller, conversation_id, page).await?;
    let now = app.config.clock.now_ms();
    Ok(FileList {
        files: infos_of(app, caller, page.files.iter().collect(), now, preview_urls).await?,
        cursor: page.next.map(|next| cursor::encode(conversation_id, &next)),
    })
}

/// `preview_urls=small|large` of a listing; absent is `None`.
pub fn parse_preview_size(param: Option<&str>) -> Result<Option<PreviewSize>, ApiError> {
    match param {
        None => Ok(None),
        Some(s) => PreviewSize::parse(s).map(Some).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidPreviewSize,
                "the preview size must be `small` or `large`",
            )
        }),
    }
}

/// The infos of `records` as a listing shows them: with preview URLs of `size` when asked for,
/// and a forwarded file's source group named only to that group's members, as everywhere.
pub(super) async fn infos_of(
    app: &App,
    caller: &Caller,
    records: Vec<&FileRecord>,
    now: i64,
    size: Option<PreviewSize>,
) -> Result<Vec<FileInfo>, ApiError> {
    let mut infos = Vec::with_capacity(records.len());
    for f in &records {
        infos.push(with_preview_url(app, f, now, size).await?);
    }
    super::forwarded::reveal_in_files(app, caller, &records, &mut infos).await?;
    Ok(infos)
}

/// File info, with a presigned URL of its preview of `size` when asked for and ready.
async fn with_preview_url(
    app: &App,
    file: &FileRecord,
    now: i64,
    size: Option<PreviewSize>,
) -> Result<FileInfo, ApiError> {
    let mut info = file.info(now);
    let Some(size) = size else { return Ok(info) };
    if file.ready_preview(size, now).is_none() {
        return Ok(info);
    }
    let Some(key) = crate::infra::blob::preview_key(&file.s3_key, size) else {
        return Ok(info);
    };
    let link = app.blobs.presign_preview(&key, size).await?;
    info.preview.url = Some(link.url);
    info.preview.url_size = Some(size);
    info.preview.url_expires_at = Some(time::rfc3339(link.expires_at_ms));
    Ok(info)
}

/// `GET /conversations/{cid}/files/{file_id}/preview?size=small|large`: as a download, a
/// fresh presigned URL after the same membership check (and the same 404 for a non-member),
/// then the file's state, then its preview's.
pub async fn preview(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
    size: PreviewSize,
) -> Result<PresignedGet, ApiError> {
    let file = member_file(app, caller, conversation_id, file_id).await?;
    let now = app.config.clock.now_ms();
    downloadable(&file, now)?;
    let view = file.preview_view(now);
    let key = match view.status {
        PreviewStatus::Ready => file
            .ready_preview(size, now)
            .and_then(|_| crate::infra::blob::preview_key(&file.s3_key, size)),
        PreviewStatus::Pending => {
            return Err(ApiError::new(
                ErrorCode::PreviewNotReady,
                "the preview is still being made",
            ))
        }
        PreviewStatus::None => None,
    };
    let Some(key) = key else {
        let reason = view.reason.map_or("none", |r| r.as_str());
        return Err(ApiError::new(
            ErrorCode::NoPreview,
            format!("this file has no preview ({reason})"),
        ));
    };
    app.blobs.presign_preview(&key, size).await
}

/// A file's bytes (or previews) can be handed out: it is available.
pub(crate) fn downloadable(file: &FileRecord, now: i64) -> Result<(), ApiError> {
    match file.status_at(now) {
        FileStatus::Available => Ok(()),
        FileStatus::Pending => Err(ApiError::new(
            ErrorCode::FileNotReady,
            "the file is still being uploaded",
        )),
        FileStatus::Expired | FileStatus::Deleted => Err(ApiError::new(
            ErrorCode::FileGone,
            "the file has expired or was deleted",
        )),
    }
}

/// `GET /conversations/{cid}/files/{file_id}/download`: a fresh presigned URL, after checking
/// membership and the file's state. Access is re-checked on every call.
pub async fn download(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    file_id: &FileId,
    disposition: Disposition,
) -> Result<PresignedGet, ApiError> {
    let file = member_file(app, caller, conversation_id, file_id).await?;
    downloadable(&file, app.config.clock.now_ms())?;
    app.blobs
        .presign_download(
            &file.s3_key,
            file.s3_version.as_deref(),
            &file.name,
            &file.content_type,
            disposition,
        )
        .await
}

/// Removes a just-deleted file message's bytes (every stored version, so URLs handed out before
/// stop working), giving up before `deadline` (less a margin for the answer): the deletion has
/// committed and must be answered as done, never as a 503. Returns whether the bytes are gone
/// (`None` for a message with no file); if not, the file stays in the purge index (set by the
/// deletion's own write), and a retried `DELETE` or the hourly purge finishes.
pub async fn purge_after_delete(
    app: &App,
    file_id: Option<&str>,
    deadline: std::time::Instant,
) -> Option<bool> {
    let file_id = file_id?;
    let purged = async {
        match app.store.get_file(file_id).await? {
            Some(file) => purge(app, &file).await,
            None => Ok(()),
        }
    };
    Some(purge_by(deadline, purged).await)
}

/// Whether `purged` finished by `deadline` (see [`purge_after_delete`]).
pub(crate) async fn purge_by(
    deadline: std::time::Instant,
    purged: impl std::future::Future<Output = Result<(), ApiError>>,
) -> bool {
    const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_millis(300);
    let until = deadline
        .checked_sub(ANSWER_MARGIN)
        .unwrap_or(deadline)
        .into();
    match tokio::time::timeout_at(until, purged).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            e.log("files.purge_after_delete");
            false
        }
        Err(_) => {
            tracing::warn!(
                "bytes of a deleted file not removed before the deadline; the purge finishes later"
            );
            false
        }
    }
}

/// Every stored byte of a deleted file: an unfinished multipart upload's parts, every version
/// of the object and of its previews; then the record is scrubbed and leaves the purge index.
pub(crate) async fn purge(app: &App, file: &FileRecord) -> Result<(), ApiError> {
    if let Some(mp) = &file.multipart {
        app.blobs
            .abort_multipart(&file.s3_key, &mp.upload_id)
            .await?;
    }
    app.blobs.delete_all_versions(&file.s3_key).await?;
    delete_previews(app, file).await?;
    app.store.mark_purged(&file.file_id).await
}

/// Removes every version of the file's previews (none exist for files that are no image).
pub async fn delete_previews(app: &App, file: &FileRecord) -> Result<(), ApiError> {
    if !is_previewable(&file.content_type) {
        return Ok(());
    }
    for size in PreviewSize::ALL {
        if let Some(key) = crate::infra::blob::preview_key(&file.s3_key, size) {
            app.blobs.delete_all_versions(&key).await?;
        }
    }
    Ok(())
}

/// Deleted files older than this whose bytes are not confirmed gone are purged by the sweep
/// (younger ones are most likely being purged by their deletion right now).
pub const PURGE_GRACE_MS: i64 = 60_000;

/// The sweep's half of deletion: bytes of deleted files that the deleting call could not
/// remove, read `page` at a time. Starts no file after `stop`.
pub async fn purge_deleted(app: &App, page: u32, stop: std::time::Instant) -> Swept {
    let before_ms = app.config.clock.now_ms() - PURGE_GRACE_MS;
    let mut pass = Swept::default();
    let mut files = std::pin::pin!(app.store.files_to_purge(before_ms, page));
    while let Some(file) = next_file(&mut files, stop, &mut pass).await {
        // One file S3 keeps failing on must not hold up the rest; the next run retries it.
        match purge(app, &file).await {
            Ok(()) => pass.cleaned += 1,
            Err(e) => e.log("files.purge_deleted"),
        }
    }
    pass
}

/// What one pass of the sweep did (over abandoned uploads, or over deleted files' bytes).
#[derive(Debug, Default)]
pub struct Swept {
    /// Files it settled: completed or deleted uploads, purged files.
    pub cleaned: usize,
    /// Uploads it completed, whose preview jobs are now due.
    pub completed: Vec<String>,
    /// Records that do not read as files, passed over (each one logged).
    pub unreadable: usize,
    /// The read that ended the pass early; what the pass did before it stays done.
    pub failed: Option<ApiError>,
}

/// The next file of a sweep's pass, or `None` when the pass ends: nothing left, `stop` reached
/// (checked after each read, which may have waited for a page), or a read failed (kept in
/// `pass.failed`). Unreadable records are counted and passed.
pub(crate) async fn next_file(
    files: &mut (impl futures::Stream<Item = Result<Option<FileRecord>, ApiError>> + Unpin),
    stop: std::time::Instant,
    pass: &mut Swept,
) -> Option<FileRecord> {
    loop {
        match futures::StreamExt::next(files).await? {
            _ if std::time::Instant::now() >= stop => return None,
            Ok(Some(file)) => return Some(file),
            Ok(None) => pass.unreadable += 1,
            Err(e) => {
                pass.failed = Some(e);
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_collapse_and_are_bounded() {
        assert_eq!(parse_ids("a,b,a, c").unwrap(), vec!["a", "b", "c"]);
        let hundred: Vec<String> = (0..100).map(|i| format!("f{i}")).collect();
        assert_eq!(parse_ids(&hundred.join(",")).unwrap().len(), 100);
        let with_dupes = format!("{},f0,f1", hundred.join(","));
        assert_eq!(parse_ids(&with_dupes).unwrap().len(), 100);
        let too_many = format!("{},f100", hundred.join(","));
        assert_eq!(parse_ids(&too_many).unwrap_err().code, "too_many_ids");
        assert_eq!(parse_ids("a,,b").unwrap_err().code, "invalid_file_id");
        assert_eq!(parse_ids("a/b").unwrap_err().code, "invalid_file_id");
    }
}
