//! File search: one group's files (`GET /conversations/{cid}/files` with filters) and every
//! file of the caller's groups (`GET /files`). Both read the search index (one term's Query
//! per group, hits checked on what the entries carry), then the page's files in one
//! BatchGetItem; docs/decisions.md, "File search", says why and what it costs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::files::{infos_of, FileList};
use super::{as_member, Paging};
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, FilesAfter};
use crate::domain::ids::ConversationId;
use crate::domain::model::{FileInfo, FileRecord, FileStatus, PreviewSize};
use crate::domain::search::{self, Entry, Filters};
use crate::infra::store::{position, GroupHead, SearchPage};
use crate::{ApiError, App};

/// Groups searched at once by `GET /files` at first; each further wave doubles, up to
/// [`MAX_WAVE`]: a page the newest groups fill costs one wave, and a filter that most groups
/// must be asked about takes a few waves, not dozens.
const WAVE: usize = 8;
const MAX_WAVE: usize = 32;

/// The filters of a request's query (`q`, `type`, `uploader`, `after`, `before`, `include`).
pub fn parse_filters<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Filters, ApiError> {
    let mut f = Filters::default();
    if let Some(q) = get("q") {
        f.q = Some(search::parse_q(q)?);
    }
    if let Some(t) = get("type") {
        f.kind = Some(search::parse_kind(t)?);
    }
    if let Some(u) = get("uploader") {
        f.uploader = Some(crate::domain::ids::UserId::parse(u)?.to_string());
    }
    if let Some(a) = get("after") {
        f.after_ms = Some(search::parse_time("after", a)?);
    }
    if let Some(b) = get("before") {
        f.before_ms = Some(search::parse_time("before", b)?);
    }
    if let Some(i) = get("include") {
        search::parse_include(i, &mut f)?;
    }
    if f.after_ms.zip(f.before_ms).is_some_and(|(a, b)| a > b) {
        return Err(ApiError::new(
            crate::ErrorCode::InvalidFilter,
            "after must not be later than before",
        ));
    }
    Ok(f)
}

/// `GET /conversations/{cid}/files` with filters: the group's matching files, newest first.
/// Membership is checked concurrently with the index read (the same 404 for a non-member).
pub async fn group(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    filters: &Filters,
    page: Paging<FilesAfter>,
    preview_urls: Option<PreviewSize>,
) -> Result<FileList, ApiError> {
    let now = app.config.clock.now_ms();
    let (after, limit) = (page.after.as_ref(), page.limit as usize);
    let page = app
        .store
        .search_group(conversation_id, filters, after, limit, now);
    let (_, page) = as_member(app, caller, conversation_id, page).await?;
    let records = files_of(app, &page.entries, filters, now).await?;
    Ok(FileList {
        files: infos_of(app, caller, records.iter().collect(), now, preview_urls).await?,
        cursor: page.next.map(|n| cursor::encode(conversation_id, &n)),
    })
}

/// One file of `GET /files`: its info and its group's title.
#[derive(Debug, Serialize, Deserialize)]
pub struct FoundFile {
    #[serde(flatten)]
    pub file: FileInfo,
    pub conversation_title: String,
}

/// `GET /files`: the matching files of every group the caller is a member of now, merged
/// newest first under one cursor.
///
/// The groups are the profile's `groups` (kept inside every membership write, as the group
/// list reads them) with each group's newest upload time (`last_file_at`, kept by the
/// completion's write). Groups are searched newest first, a few at once, and only while a
/// group's newest file could still make the page: the cost follows the page, not the number
/// of groups. A group whose reads stopped early (a poorly selective filter) cuts the page at
/// where it stopped, so no group's files are skipped.
pub async fn all(
    app: &App,
    caller: &Caller,
    filters: &Filters,
    page: Paging<FilesAfter>,
    preview_urls: Option<PreviewSize>,
) -> Result<FileList<FoundFile>, ApiError> {
    let (after, limit) = (page.after, page.limit as usize);
    let now = app.config.clock.now_ms();
    let groups = app.store.groups_of(&caller.user_id).await?;
    let mut heads = app.store.group_heads(&groups).await?;
    // Without `last_file_at` a group has no file in the index (the completion that indexes a
    // file sets it, and so does a backfill): nothing to search there.
    heads.retain(|h| {
        h.last_file_at_ms
            .is_some_and(|b| filters.after_ms.is_none_or(|a| b >= a))
    });
    heads.sort_by_key(|h| std::cmp::Reverse(h.last_file_at_ms));
    let (entries, next) = merge(app, &heads, filters, after, limit, now).await?;
    let titles: HashMap<&str, &str> = heads
        .iter()
        .map(|h| (h.conversation_id.as_str(), h.title.as_str()))
        .collect();
    // The groups came from the profile before the index was read: a removal committed since
    // (and a file posted after it) is checked out here, with the page's files, not after.
    let mut groups: Vec<&str> = entries.iter().map(|e| e.conversation_id.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let (mut records, still) = futures::future::try_join(
        files_of(app, &entries, filters, now),
        app.store.member_of(&caller.user_id, &groups),
    )
    .await?;
    records.retain(|f| still.contains(&f.conversation_id));
    let files = infos_of(app, caller, records.iter().collect(), now, preview_urls)
        .await?
        .into_iter()
        .map(|file| FoundFile {
            conversation_title: titles
                .get(file.conversation_id.as_str())
                .map(|t| t.to_string())
                .unwrap_or_default(),
            file,
        })
        .collect();
    Ok(FileList {
        files,
        cursor: next.map(|n| cursor::encode(&caller.user_id, &n)),
    })
}

/// The k-way merge of [`all`]: the page's hits and where the next page starts.
async fn merge(
    app: &App,
    heads: &[GroupHead],
    filters: &Filters,
    after: Option<FilesAfter>,
    limit: usize,
    now: i64,
) -> Result<(Vec<Entry>, Option<FilesAfter>), ApiError> {
    let mut hits: Vec<Entry> = Vec::new();
    // The newest position a group stopped reading at: nothing older is known to be complete.
    let mut cut: Option<FilesAfter> = None;
    let mut rest = heads.iter().peekable();
    let mut wave_size = WAVE;
    loop {
        // A group can add to the page only if its newest file is at least as new as the
        // page's last hit so far (once full) and the cut (an `Option`'s max: `None` is least).
        let full = hits.get(limit.saturating_sub(1)).map(|h| h.uploaded_at_ms);
        let floor = full.max(cut.as_ref().map(|c| c.uploaded_at_ms));
        let may_add =
            |h: &&GroupHead| floor.is_none_or(|f| h.last_file_at_ms.is_some_and(|b| b >= f));
        let wave: Vec<&GroupHead> = std::iter::from_fn(|| rest.next_if(may_add))
            .take(wave_size)
            .collect();
        if wave.is_empty() {
            break;
        }
        wave_size = (wave_size * 2).min(MAX_WAVE);
        let pages: Vec<SearchPage> = futures::future::try_join_all(wave.iter().map(|h| {
            app.store
                .search_group(&h.conversation_id, filters, after.as_ref(), limit, now)
        }))
        .await?;
        for page in pages {
            if let Some(n) = page.next {
                if cut.as_ref().is_none_or(|c| n > *c) {
                    cut = Some(n);
                }
            }
            hits.extend(page.entries);
        }
        hits.sort_by(|a, b| (b.uploaded_at_ms, &b.file_id).cmp(&(a.uploaded_at_ms, &a.file_id)));
        if let Some(c) = &cut {
            hits.retain(|h| position(h) >= *c);
        }
        hits.truncate(limit + 1);
    }
    let more = hits.len() > limit || cut.is_some() || rest.peek().is_some();
    hits.truncate(limit);
    let next = match (more, hits.len() == limit) {
        (false, _) => None,
        (true, true) => hits.last().map(position),
        (true, false) => cut.or_else(|| hits.last().map(position)),
    };
    Ok((hits, next))
}

/// The hits' files, in the hits' order, in one BatchGetItem (a page is at most 100). The file
/// record has the last word: a hit whose file changed since its entry was read is left out.
async fn files_of(
    app: &App,
    entries: &[Entry],
    filters: &Filters,
    now: i64,
) -> Result<Vec<FileRecord>, ApiError> {
    let ids: Vec<String> = entries.iter().map(|e| e.file_id.clone()).collect();
    let mut found: HashMap<String, FileRecord> = app
        .store
        .batch_get_files(&ids)
        .await?
        .into_iter()
        .map(|f| (f.file_id.clone(), f))
        .collect();
    Ok(entries
        .iter()
        .filter_map(|e| found.remove(&e.file_id))
        .filter(|f| match f.status_at(now) {
            FileStatus::Available => true,
            FileStatus::Expired => filters.include_expired,
            // Deleted since its entry was read: shown only where a deleted entry would be.
            FileStatus::Deleted => filters.shows_deleted(),
            FileStatus::Pending => false,
        })
        .collect())
}
