//! Files table: `file_id` (hash); GSI `by-conversation` (`conversation_id`, `uploaded_at`) for
//! the conversation's file list, newest first.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use futures::{Stream, StreamExt};

use serde::{Deserialize, Serialize};

use super::codec::{from_item, key, n, s, to_item, update, update_part, Item};
use super::{Read, Store, FILES_BY_CONVERSATION_INDEX};
use crate::domain::cursor::FilesAfter;
use crate::domain::model::StoredFileStatus::{self, Available, Deleted, Pending};
use crate::domain::model::{
    FileRecord, ForwardSource, MultipartState, NoPreviewReason, PreviewDimensions, PreviewRecord,
    PreviewStatus,
};
use crate::ApiError;

#[derive(Debug)]
pub struct FilePage {
    pub files: Vec<FileRecord>,
    /// Where the next page starts, if there may be one.
    pub next: Option<FilesAfter>,
}

/// GSI on Files over pending uploads only (sparse): `pending_shard` + `upload_deadline`.
pub const PENDING_BY_DEADLINE_INDEX: &str = "pending-by-deadline";
/// The one partition of that index; the attribute exists only while a file is pending.
const PENDING_SHARD: &str = "pending";

/// GSI on Files over deleted files whose bytes may still be in S3 (sparse): `purge_shard` +
/// `deleted_at`. The deletion sets `purge_shard`; removing the bytes removes it.
pub const PURGE_BY_DELETED_AT_INDEX: &str = "purge-by-deleted-at";
const PURGE_SHARD: &str = "purge";

/// Queries per listing page at most; pages skip pending uploads, so a page may need more than
/// one read to fill.
const MAX_LIST_READS: usize = 5;

impl Store {
    pub async fn get_file(&self, file_id: &str) -> Result<Option<FileRecord>, ApiError> {
        let key = [("file_id", s(file_id))];
        let item = self.get_item(&self.tables.files, key, "files.get").await?;
        item.as_ref().map(file_from_item).transpose()
    }

    /// Files by id in one BatchGetItem pass (ids must be distinct, at most 100).
    pub async fn batch_get_files(&self, ids: &[String]) -> Result<Vec<FileRecord>, ApiError> {
        let keys = ids.iter().map(|id| key([("file_id", s(id))])).collect();
        self.batch_get(&self.tables.files, keys, Read::Eventual, "files.batch_get")
            .await?
            .iter()
            .map(file_from_item)
            .collect()
    }

    /// A page of the conversation's files, newest first: the available (and expired) ones, not
    /// uploads still pending nor deleted files.
    pub async fn list_files(
        &self,
        conversation_id: &str,
        after: Option<FilesAfter>,
        limit: u32,
    ) -> Result<FilePage, ApiError> {
        let mut files = Vec::new();
        let mut start = after.map(|a| files_index_key(conversation_id, &a));
        for _ in 0..MAX_LIST_READS {
            let out = self
                .query_conversation(&self.tables.files, conversation_id)
                .index_name(FILES_BY_CONVERSATION_INDEX)
                .filter_expression("#st = :available")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":available", status(Available))
                .scan_index_forward(false)
                .limit(limit as i32 + 1)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| ApiError::from_sdk("files.by_conversation", e))?;
            for item in out.items.unwrap_or_default() {
                files.push(file_from_item(&item)?);
            }
            start = out.last_evaluated_key;
            if files.len() > limit as usize || start.is_none() {
                break;
            }
        }
        let more = files.len() > limit as usize || start.is_some();
        files.truncate(limit as usize);
        let next = match (more, files.last()) {
            (true, Some(last)) => Some(FilesAfter {
                uploaded_at_ms: last.uploaded_at_ms,
                file_id: last.file_id.clone(),
            }),
            // Only filtered-out items were read: resume where the reads stopped.
            (true, None) => start.as_ref().and_then(|k| {
                let key: FilesIndexKey = from_item("files cursor", k).ok()?;
                Some(FilesAfter {
                    uploaded_at_ms: key.uploaded_at,
                    file_id: key.file_id,
                })
            }),
            (false, _) => None,
        };
        Ok(FilePage { files, next })
    }

    /// Stores a new file record. `false`: the id is taken, nothing was written.
    pub async fn put_new_file(&self, file: &FileRecord) -> Result<bool, ApiError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.files)
            .set_item(Some(file_item(file)))
            .condition_expression("attribute_not_exists(file_id)")
            .send()
            .await;
        super::conditional_write(result, "files.put")
    }

    /// Transaction part: a pending file becomes available (and records its history message,
    /// the object version and, for multipart files, S3's composite checksum).
    /// `preview_pending`: an image whose preview job is now due (`preview_status = pending`).
    pub fn mark_file_available(
        &self,
        file_id: &str,
        expires_at_ms: Option<i64>,
        message_seq: u64,
        s3_version: Option<&str>,
        multipart_checksum: Option<&str>,
        preview_pending: bool,
    ) -> TransactWriteItem {
        let mut update = update(&self.tables.files, [("file_id", s(file_id))])
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", status(Pending))
            .expression_attribute_values(":available", status(Available))
            .expression_attribute_values(":seq", n(message_seq));
        let mut set = vec!["#st = :available", "message_seq = :seq"];
        if let Some(exp) = expires_at_ms {
            set.push("expires_at = :exp");
            update = update.expression_attribute_values(":exp", n(exp));
        }
        if let Some(version) = s3_version {
            set.push("s3_version = :v");
            update = update.expression_attribute_values(":v", s(version));
        }
        if let Some(checksum) = multipart_checksum {
            set.push("multipart_checksum = :mc");
            update = update.expression_attribute_values(":mc", s(checksum));
        }
        if preview_pending {
            set.push("preview_status = :preview");
            update =
                update.expression_attribute_values(":preview", s(PreviewStatus::Pending.as_str()));
        }
        update_part(
            update.update_expression(format!("SET {} REMOVE pending_shard", set.join(", "))),
        )
    }

    /// A fresh upload form was handed out for a pending file: move its deadline.
    /// `false` when the upload is no longer pending (completed or aborted meanwhile).
    pub async fn extend_upload_deadline(
        &self,
        file_id: &str,
        deadline_ms: i64,
    ) -> Result<bool, ApiError> {
        let result = self
            .update_item(&self.tables.files, [("file_id", s(file_id))])
            .update_expression("SET upload_deadline = :d")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":d", n(deadline_ms))
            .expression_attribute_values(":pending", status(Pending))
            .send()
            .await;
        super::conditional_write(result, "files.extend_upload_deadline")
    }

    /// Pending uploads whose form expired before `deadline_before_ms`, oldest first, from the
    /// sparse `pending-by-deadline` index (only pending files are in it), fetched a page at a
    /// time as the caller pulls them.
    pub fn abandoned_uploads(
        &self,
        deadline_before_ms: i64,
        page: u32,
    ) -> impl Stream<Item = Result<Option<FileRecord>, ApiError>> + '_ {
        let key = "pending_shard = :p AND upload_deadline < :d";
        let (index, shard) = (PENDING_BY_DEADLINE_INDEX, PENDING_SHARD);
        self.sparse_query(
            index,
            key,
            shard,
            deadline_before_ms,
            page,
            "files.abandoned",
        )
    }

    /// The files of a sparse index whose one partition is `shard`, with a sort key below
    /// `before`, oldest first (`key` is the key condition over `:p` and `:d`), `page` per
    /// query, queried as the caller pulls. A record that does not read as a file is logged and
    /// comes as `None`, for the caller to count and pass (between them it checks its time): at
    /// the head of the index, it would otherwise stall every later run.
    fn sparse_query<'a>(
        &'a self,
        index: &str,
        key: &str,
        shard: &str,
        before: i64,
        page: u32,
        operation: &'static str,
    ) -> impl Stream<Item = Result<Option<FileRecord>, ApiError>> + 'a {
        let items = self
            .client
            .query()
            .table_name(&self.tables.files)
            .index_name(index)
            .key_condition_expression(key)
            .expression_attribute_values(":p", s(shard))
            .expression_attribute_values(":d", n(before))
            .limit(page as i32)
            .into_paginator()
            .items()
            .send();
        let pulled = futures::stream::unfold(items, |mut items| async move {
            Some((items.next().await?, items))
        });
        pulled.map(move |item| {
            let item = item.map_err(|e| ApiError::from_sdk(operation, e))?;
            Ok(file_from_item(&item)
                .inspect_err(|e| {
                    let file_id = item.get("file_id").and_then(|v| v.as_s().ok());
                    tracing::error!(operation, ?file_id, error = %e, "a record that does not read as a file");
                })
                .ok())
        })
    }

    /// Marks a still-pending upload deleted; `false` if it is no longer pending (completed), or,
    /// with `abandoned_before`, if its deadline moved past that (a fresh form or part URLs were
    /// handed out after the sweep read it). It joins the purge index in the same write, so bytes
    /// that did arrive are removed even if the call that removes them next fails.
    pub async fn mark_pending_deleted(
        &self,
        file_id: &str,
        now_ms: i64,
        abandoned_before: Option<i64>,
    ) -> Result<bool, ApiError> {
        let condition = match abandoned_before {
            Some(_) => "#st = :pending AND upload_deadline < :cutoff",
            None => "#st = :pending",
        };
        let mut update = self
            .update_item(&self.tables.files, [("file_id", s(file_id))])
            .update_expression(
                "SET #st = :deleted, deleted_at = :now, purge_shard = :purge REMOVE pending_shard",
            )
            .condition_expression(condition)
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":purge", s(PURGE_SHARD))
            .expression_attribute_values(":deleted", status(Deleted))
            .expression_attribute_values(":pending", status(Pending));
        if let Some(cutoff) = abandoned_before {
            update = update.expression_attribute_values(":cutoff", n(cutoff));
        }
        super::conditional_write(update.send().await, "files.mark_pending_deleted")
    }

    /// Transaction part: the file announced by message `seq` is deleted with it, and queued for
    /// its bytes to be removed (`purge_shard`). Conditioned on that very announcement, so a
    /// file can only go with its own message.
    pub fn delete_announced_file(&self, file_id: &str, seq: u64, now_ms: i64) -> TransactWriteItem {
        update_part(
            update(&self.tables.files, [("file_id", s(file_id))])
                .update_expression("SET #st = :deleted, deleted_at = :now, purge_shard = :purge")
                .condition_expression("message_seq = :seq AND #st = :available")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":deleted", status(Deleted))
                .expression_attribute_values(":available", status(Available))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":purge", s(PURGE_SHARD))
                .expression_attribute_values(":seq", n(seq)),
        )
    }

    /// Deleted files whose bytes have not been confirmed gone, deleted before `before_ms`,
    /// oldest first, from the sparse `purge-by-deleted-at` index.
    pub fn files_to_purge(
        &self,
        before_ms: i64,
        page: u32,
    ) -> impl Stream<Item = Result<Option<FileRecord>, ApiError>> + '_ {
        let key = "purge_shard = :p AND deleted_at < :d";
        let (index, shard) = (PURGE_BY_DELETED_AT_INDEX, PURGE_SHARD);
        self.sparse_query(index, key, shard, before_ms, page, "files.to_purge")
    }

    /// The deleted file's bytes are gone: it leaves the purge index, and what the file was goes
    /// with its bytes: name, size, hashes and dimensions are scrubbed
    /// (the key stays for S3 events naming it; the type kept its previews findable until now).
    pub async fn mark_purged(&self, file_id: &str) -> Result<(), ApiError> {
        let result = self
            .update_item(&self.tables.files, [("file_id", s(file_id))])
            .update_expression(
                "SET #name = :blank, #size = :zero \
                 REMOVE purge_shard, sha256, multipart_checksum, width, height, preview_sizes",
            )
            .condition_expression("attribute_exists(file_id) AND #st = :deleted")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#size", "size")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":blank", s(""))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":deleted", status(Deleted))
            .send()
            .await;
        // `false`: not (or no longer) a deleted file, nothing of it to scrub.
        super::conditional_write(result, "files.mark_purged").map(|_| ())
    }

    /// Records what the preview job made of the file (`ready` with sizes, or `none` with a
    /// reason). Only while the file is available with the very bytes the job read (`s3_version`,
    /// or none on unversioned stores): `false` means it is not (deleted meanwhile), and the job
    /// must remove what it stored.
    pub async fn set_preview(
        &self,
        file_id: &str,
        s3_version: Option<&str>,
        preview: &PreviewRecord,
    ) -> Result<bool, ApiError> {
        let preview_status = preview.status.unwrap_or(PreviewStatus::None);
        let mut set = vec!["preview_status = :ps"];
        let mut remove = Vec::new();
        let mut update = self
            .update_item(&self.tables.files, [("file_id", s(file_id))])
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":available", status(Available))
            .expression_attribute_values(":ps", s(preview_status.as_str()));
        update = match s3_version {
            Some(v) => update
                .condition_expression("#st = :available AND s3_version = :v")
                .expression_attribute_values(":v", s(v)),
            None => {
                update.condition_expression("#st = :available AND attribute_not_exists(s3_version)")
            }
        };
        match preview.reason {
            Some(reason) => {
                set.push("preview_reason = :pr");
                update = update.expression_attribute_values(":pr", s(reason.as_str()));
            }
            None => remove.push("preview_reason"),
        }
        if let (Some(w), Some(h)) = (preview.width, preview.height) {
            set.extend(["width = :w", "height = :h"]);
            update = update
                .expression_attribute_values(":w", n(w))
                .expression_attribute_values(":h", n(h));
        }
        if preview.sizes.is_empty() {
            remove.push("preview_sizes");
        } else {
            set.push("preview_sizes = :sizes");
            let sizes = serde_dynamo::to_attribute_value(&preview.sizes)
                .map_err(|e| ApiError::internal().with_fault("files.set_preview", e))?;
            update = update.expression_attribute_values(":sizes", sizes);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        super::conditional_write(
            update.update_expression(expression).send().await,
            "files.set_preview",
        )
    }

    /// Test and seeding helper: a put without conditions, in the same layout.
    pub async fn put_file_record(&self, file: &FileRecord) -> Result<(), ApiError> {
        self.client
            .put_item()
            .table_name(&self.tables.files)
            .set_item(Some(file_item(file)))
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("files.put", e))?;
        Ok(())
    }
}

/// A file status as an expression's value.
pub(super) fn status(status: StoredFileStatus) -> AttributeValue {
    s(status.as_str())
}

/// The `by-conversation` index's position: where a files page starts or stopped.
#[derive(Serialize, Deserialize)]
struct FilesIndexKey {
    file_id: String,
    conversation_id: String,
    uploaded_at: i64,
}

fn files_index_key(conversation_id: &str, a: &FilesAfter) -> Item {
    to_item(&FilesIndexKey {
        file_id: a.file_id.clone(),
        conversation_id: conversation_id.to_string(),
        uploaded_at: a.uploaded_at_ms,
    })
}

/// A Files item. `pending_shard` exists only while the upload is pending, which keeps the
/// `pending-by-deadline` index sparse.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct FileRow {
    file_id: String,
    conversation_id: String,
    name: String,
    size: u64,
    content_type: String,
    sha256: Option<String>,
    uploader: String,
    uploaded_at: i64,
    expires_at: Option<i64>,
    status: StoredFileStatus,
    s3_key: String,
    message_seq: Option<u64>,
    upload_deadline: Option<i64>,
    s3_version: Option<String>,
    pending_shard: Option<String>,
    deleted_at: Option<i64>,
    /// Multipart files only (absent on every other item, so their layout is unchanged).
    multipart_upload_id: Option<String>,
    multipart_part_size: Option<u64>,
    multipart_checksum: Option<String>,
    /// An image's upright size, written by its preview job.
    width: Option<u32>,
    height: Option<u32>,
    /// Absent on rows from before previews (and on files that never get a job).
    preview_status: Option<PreviewStatus>,
    preview_reason: Option<NoPreviewReason>,
    /// A list of `{size, width, height}` maps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    preview_sizes: Vec<PreviewDimensions>,
    /// Forwards only: the file the bytes were copied from, and its group.
    forwarded_from_conversation: Option<String>,
    forwarded_from_file: Option<String>,
    // `purge_shard` is only ever set and removed by update expressions (see
    // `delete_announced_file`), never read into a record.
}

pub(super) fn file_item(f: &FileRecord) -> Item {
    to_item(&FileRow {
        file_id: f.file_id.clone(),
        conversation_id: f.conversation_id.clone(),
        name: f.name.clone(),
        size: f.size,
        content_type: f.content_type.clone(),
        sha256: f.sha256.clone(),
        uploader: f.uploader.clone(),
        uploaded_at: f.uploaded_at_ms,
        expires_at: f.expires_at_ms,
        status: f.status,
        s3_key: f.s3_key.clone(),
        message_seq: f.message_seq,
        upload_deadline: f.upload_deadline_ms,
        s3_version: f.s3_version.clone(),
        pending_shard: (f.status == StoredFileStatus::Pending).then(|| PENDING_SHARD.to_string()),
        deleted_at: f.deleted_at_ms,
        multipart_upload_id: f.multipart.as_ref().map(|m| m.upload_id.clone()),
        multipart_part_size: f.multipart.as_ref().map(|m| m.part_size),
        multipart_checksum: f.multipart.as_ref().and_then(|m| m.checksum_sha256.clone()),
        width: f.preview.width,
        height: f.preview.height,
        preview_status: f.preview.status,
        preview_reason: f.preview.reason,
        preview_sizes: f.preview.sizes.clone(),
        forwarded_from_conversation: f.forwarded_from.as_ref().map(|s| s.conversation_id.clone()),
        forwarded_from_file: f.forwarded_from.as_ref().map(|s| s.file_id.clone()),
    })
}

pub(super) fn file_from_item(item: &Item) -> Result<FileRecord, ApiError> {
    let row: FileRow = from_item("file", item)?;
    Ok(FileRecord {
        file_id: row.file_id,
        conversation_id: row.conversation_id,
        name: row.name,
        size: row.size,
        content_type: row.content_type,
        sha256: row.sha256,
        uploader: row.uploader,
        uploaded_at_ms: row.uploaded_at,
        expires_at_ms: row.expires_at,
        status: row.status,
        s3_key: row.s3_key,
        message_seq: row.message_seq,
        upload_deadline_ms: row.upload_deadline,
        s3_version: row.s3_version,
        deleted_at_ms: row.deleted_at,
        multipart: match (row.multipart_upload_id, row.multipart_part_size) {
            (Some(upload_id), Some(part_size)) if part_size > 0 => Some(MultipartState {
                upload_id,
                part_size,
                checksum_sha256: row.multipart_checksum,
            }),
            (None, None) => None,
            _ => return Err(ApiError::corrupt("file", "incomplete multipart state")),
        },
        preview: PreviewRecord {
            status: row.preview_status,
            reason: row.preview_reason,
            width: row.width,
            height: row.height,
            sizes: row.preview_sizes,
        },
        forwarded_from: match (row.forwarded_from_conversation, row.forwarded_from_file) {
            (Some(conversation_id), Some(file_id)) => Some(ForwardSource {
                conversation_id,
                file_id,
            }),
            (None, None) => None,
            _ => return Err(ApiError::corrupt("file", "incomplete forward source")),
        },
    })
}
