//! FileSearch table: `term_key` (`<conversation id>#<term>`, hash), `at_file`
//! (`<uploaded_at, 13 digits>#<file id>`, range). One item per term of every findable file
//! (domain/search.rs says which terms), carrying what a search checks a hit against, so a
//! search reads the index only, then the page's files by id.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::codec::{check, check_part, from_item, key, key_batches, n, put_part, s, to_item, Item};
use super::files::{file_from_item, status};
use super::{Read, Store};
use crate::domain::cursor::FilesAfter;
use crate::domain::model::{FileRecord, StoredFileStatus};
use crate::domain::search::{self, Entry, FileKind, Filters};
use crate::ApiError;

/// Expired files stay findable (with `include=expired`) this long after they expired, and
/// deleted ones (with `include=deleted`) this long after deletion; then TTL drops the entries.
pub const KEEP_GONE_MS: i64 = 30 * 86_400_000;
/// Queries per group and page at most: a page of a filter that the term does not select well
/// ends early, with a cursor where reading stopped.
const MAX_READS: usize = 4;
/// Items a follow-up read asks for (the first asks for one page and one more).
const FOLLOW_UP_LIMIT: i32 = 100;

/// A group's hits, newest first, and where reading stopped if the group may have more.
#[derive(Debug, Default)]
pub struct SearchPage {
    pub entries: Vec<Entry>,
    /// `None`: no more hits older than the last entry. Otherwise every hit newer than this
    /// position is in `entries`, and a next page continues after it.
    pub next: Option<FilesAfter>,
}

/// A group's newest upload time (an upper bound: deletions leave it) and its title.
#[derive(Debug, Clone)]
pub struct GroupHead {
    pub conversation_id: String,
    pub title: String,
    /// `None`: no file of the group is in the index (none completed since it exists, and
    /// none backfilled), so there is nothing to search.
    pub last_file_at_ms: Option<i64>,
}

impl Store {
    /// Transaction parts: the index entries of a file that becomes available (see
    /// `mark_file_available`, in the same transaction, so only an available file is findable,
    /// and a completion retried after it committed writes nothing twice).
    pub fn index_file(
        &self,
        file: &FileRecord,
        expires_at_ms: Option<i64>,
    ) -> Vec<TransactWriteItem> {
        let kind = file.kind();
        let name = search::normalise(&file.name);
        search::file_terms(&file.name, kind, &file.uploader)
            .into_iter()
            .map(|term| {
                self.put_entry(EntryRow {
                    name: name.clone(),
                    kind: Some(kind),
                    expires_at: expires_at_ms,
                    expires_at_s: expires_at_ms.map(|x| (x + KEEP_GONE_MS) / 1000),
                    ..EntryRow::of(file, &term)
                })
            })
            .collect()
    }

    /// Transaction parts: a deleted file leaves the index (with its message's deletion).
    /// Only its `*` entry stays, rewritten to say it was deleted and nothing of what it was,
    /// so `include=deleted` lists it; TTL drops it later. A Put, not an Update: files completed
    /// before the index get the same tombstone.
    pub fn unindex_file(&self, file: &FileRecord, now_ms: i64) -> Vec<TransactWriteItem> {
        let at = at_file(file.uploaded_at_ms, &file.file_id);
        let mut parts: Vec<TransactWriteItem> =
            search::file_terms(&file.name, file.kind(), &file.uploader)
                .into_iter()
                .filter(|t| t != search::ALL_TERM)
                .map(|term| {
                    let delete = Delete::builder()
                        .table_name(&self.tables.file_search)
                        .key("term_key", s(term_key(&file.conversation_id, &term)))
                        .key("at_file", s(at.clone()))
                        .build()
                        .expect("table and key set");
                    TransactWriteItem::builder().delete(delete).build()
                })
                .collect();
        parts.push(self.put_entry(EntryRow {
            deleted: Some(true),
            expires_at_s: Some((now_ms + KEEP_GONE_MS) / 1000),
            ..EntryRow::of(file, search::ALL_TERM)
        }));
        parts
    }

    fn put_entry(&self, row: EntryRow) -> TransactWriteItem {
        let table = &self.tables.file_search;
        put_part(
            Put::builder()
                .table_name(table)
                .set_item(Some(to_item(&row))),
        )
    }

    /// A group's hits for `filters`, newest first, older than `before` (a cursor), at most
    /// `limit`: Queries of the filters' one term, each hit checked by [`Filters::matches`].
    pub async fn search_group(
        &self,
        conversation_id: &str,
        filters: &Filters,
        before: Option<&FilesAfter>,
        limit: usize,
        now_ms: i64,
    ) -> Result<SearchPage, ApiError> {
        let key = term_key(conversation_id, &filters.term());
        let lo = filters.after_ms.map(|ms| format!("{ms:013}"));
        // The exclusive upper end: the cursor's position or the `before` time, the lower.
        let cursor = before.map(|b| at_file(b.uploaded_at_ms, &b.file_id));
        let until = filters.before_ms.map(|ms| format!("{ms:013}"));
        let hi = cursor.into_iter().chain(until).min();
        if lo.as_ref().zip(hi.as_ref()).is_some_and(|(lo, hi)| lo > hi) {
            // Nothing lies between (a cursor older than a later `after`), and DynamoDB refuses
            // a BETWEEN whose bounds are reversed.
            return Ok(SearchPage::default());
        }
        let condition = match (&lo, &hi) {
            (None, None) => "term_key = :k",
            (Some(_), None) => "term_key = :k AND at_file >= :lo",
            (None, Some(_)) => "term_key = :k AND at_file < :hi",
            // BETWEEN is inclusive: the item at `hi` itself is dropped below.
            (Some(_), Some(_)) => "term_key = :k AND at_file BETWEEN :lo AND :hi",
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.file_search)
            .key_condition_expression(condition)
            .expression_attribute_values(":k", s(&key))
            .scan_index_forward(false);
        if let Some(lo) = &lo {
            query = query.expression_attribute_values(":lo", s(lo));
        }
        if let Some(hi) = &hi {
            query = query.expression_attribute_values(":hi", s(hi));
        }
        let mut page = SearchPage::default();
        let mut start: Option<Item> = None;
        for read in 0..MAX_READS {
            let out = query
                .clone()
                .limit(match read {
                    0 => limit as i32 + 1,
                    _ => FOLLOW_UP_LIMIT,
                })
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| ApiError::from_sdk("file_search.query", e))?;
            let items = out.items.unwrap_or_default();
            let mut last_read = None;
            for item in &items {
                let row: EntryRow = from_item("file search entry", item)?;
                if hi.as_deref() == Some(row.at_file.as_str()) {
                    continue;
                }
                let entry = row.into_entry();
                last_read = Some(position(&entry));
                if !filters.matches(&entry, now_ms) {
                    continue;
                }
                if page.entries.len() == limit {
                    // One hit more than the page: there is a next page, after the last shown.
                    page.next = page.entries.last().map(position);
                    return Ok(page);
                }
                page.entries.push(entry);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(page);
            }
            if page.entries.len() == limit {
                page.next = page.entries.last().map(position);
                return Ok(page);
            }
            if read + 1 == MAX_READS {
                // Out of reads before the page filled: continue where reading stopped.
                page.next = last_read.or_else(|| page.entries.last().map(position));
            }
        }
        Ok(page)
    }

    /// The newest upload time and title of each group, one consistent BatchGetItem per 100
    /// (as the group list reads them), only those two attributes.
    pub async fn group_heads(&self, ids: &[String]) -> Result<Vec<GroupHead>, ApiError> {
        let table = &self.tables.conversations;
        let read = Read::Projected(&["conversation_id", "title", "last_file_at"]);
        let calls = key_batches("conversation_id", ids)
            .map(|keys| self.batch_get(table, keys, read, "conversations.heads"));
        let pages = futures::future::try_join_all(calls).await?;
        pages
            .iter()
            .flatten()
            .map(|item| {
                let row: HeadRow = from_item("conversation", item)?;
                Ok(GroupHead {
                    conversation_id: row.conversation_id,
                    title: row.title,
                    last_file_at_ms: row.last_file_at,
                })
            })
            .collect()
    }

    /// Test and seeding helper (benchmarks): an available file as a completion leaves it,
    /// without its message: the record, its index entries, its group's `last_file_at`.
    pub async fn seed_indexed_file(&self, file: &FileRecord) -> Result<(), ApiError> {
        self.put_file_record(file).await?;
        self.index_existing_file(file).await.map(|_| ())
    }

    /// The backfill of one file completed before the index existed: its entries, written only
    /// while the record is still available (a deletion that committed first leaves nothing; one
    /// that commits after removes them, as for any file), then its group's `last_file_at`.
    /// `false`: the file is not available (any more).
    pub async fn index_existing_file(&self, file: &FileRecord) -> Result<bool, ApiError> {
        let check = check(&self.tables.files, [("file_id", s(&file.file_id))])
            .condition_expression("#st = :available")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":available", status(StoredFileStatus::Available));
        let mut parts = vec![check_part(check)];
        parts.extend(self.index_file(file, file.expires_at_ms));
        if self.transact(parts, "file_search.backfill").await?.is_err() {
            return Ok(false);
        }
        let group = [("conversation_id", s(&file.conversation_id))];
        let result = self
            .update_item(&self.tables.conversations, group)
            .update_expression("SET last_file_at = :t")
            .condition_expression("attribute_not_exists(last_file_at) OR last_file_at < :t")
            .expression_attribute_values(":t", n(file.uploaded_at_ms))
            .send()
            .await;
        super::conditional_write(result, "file_search.backfill_head").map(|_| true)
    }
}

/// A page of a Scan over the Files table (the backfill's; no request path scans).
#[derive(Debug)]
pub struct FileScanPage {
    /// The page's available files (the filter drops the others after the read, so a page
    /// may hold fewer than its limit, even none, and still have a next one).
    pub files: Vec<FileRecord>,
    /// Where the scan stopped: the last read item's `file_id` (the table's whole key).
    /// `None`: the table has been read to its end.
    pub next: Option<String>,
}

impl Store {
    /// One Scan page of at most `limit` Files items (read units are charged for all of them),
    /// after the `file_id` where a previous page stopped, keeping the available ones.
    pub async fn scan_available_files(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<FileScanPage, ApiError> {
        let start = after.map(|id| key([("file_id", s(id))]));
        let out = self
            .client
            .scan()
            .table_name(&self.tables.files)
            .filter_expression("#st = :available")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":available", status(StoredFileStatus::Available))
            .limit(limit.max(1) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("files.scan", e))?;
        let files = out
            .items
            .unwrap_or_default()
            .iter()
            .map(file_from_item)
            .collect::<Result<_, _>>()?;
        let next = match out.last_evaluated_key {
            Some(key) => match key.get("file_id") {
                Some(AttributeValue::S(id)) => Some(id.clone()),
                _ => return Err(ApiError::corrupt("files.scan", "key without file_id")),
            },
            None => None,
        };
        Ok(FileScanPage { files, next })
    }
}

pub fn position(e: &Entry) -> FilesAfter {
    FilesAfter {
        uploaded_at_ms: e.uploaded_at_ms,
        file_id: e.file_id.clone(),
    }
}

fn term_key(conversation_id: &str, term: &str) -> String {
    format!("{conversation_id}#{term}")
}

/// Sorts as the time, then the id: 13 digits hold every millisecond until the year 2286.
fn at_file(uploaded_at_ms: i64, file_id: &str) -> String {
    format!("{uploaded_at_ms:013}#{file_id}")
}

#[derive(Deserialize)]
struct HeadRow {
    conversation_id: String,
    title: String,
    last_file_at: Option<i64>,
}

/// A FileSearch item.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct EntryRow {
    term_key: String,
    at_file: String,
    conversation_id: String,
    file_id: String,
    uploaded_at: i64,
    /// The normalised name (empty on a deleted file's entry).
    name: String,
    kind: Option<FileKind>,
    uploader: String,
    expires_at: Option<i64>,
    deleted: Option<bool>,
    /// TTL (epoch seconds): a while after the file expired or was deleted.
    expires_at_s: Option<i64>,
}

impl EntryRow {
    /// `file`'s entry under `term`, with nothing of what the file is (as a deleted file's).
    fn of(file: &FileRecord, term: &str) -> Self {
        Self {
            term_key: term_key(&file.conversation_id, term),
            at_file: at_file(file.uploaded_at_ms, &file.file_id),
            conversation_id: file.conversation_id.clone(),
            file_id: file.file_id.clone(),
            uploaded_at: file.uploaded_at_ms,
            name: String::new(),
            kind: None,
            uploader: file.uploader.clone(),
            expires_at: None,
            deleted: None,
            expires_at_s: None,
        }
    }

    fn into_entry(self) -> Entry {
        Entry {
            conversation_id: self.conversation_id,
            file_id: self.file_id,
            uploaded_at_ms: self.uploaded_at,
            name: self.name,
            kind: self.kind,
            uploader: self.uploader,
            expires_at_ms: self.expires_at,
            deleted: self.deleted == Some(true),
        }
    }
}
