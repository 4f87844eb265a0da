//! Naming a forward's source group only to readers who are members of it now: views hide it
//! ([`Forwarded::hidden`]), and each read puts it back after one batch read of the page's
//! distinct source groups (none when the page has no forward).

use std::collections::HashSet;

use crate::domain::caller::Caller;
use crate::domain::model::{FileInfo, FileRecord, Forwarded, Message, MessageBody, MessageView};
use crate::{ApiError, App};

/// The source groups of `stored` the caller is a member of now.
async fn visible_sources(
    app: &App,
    caller: &Caller,
    mut distinct: Vec<&str>,
) -> Result<HashSet<String>, ApiError> {
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        return Ok(HashSet::new());
    }
    app.store.member_of(&caller.user_id, &distinct).await
}

fn source_of(m: &Message) -> Option<&str> {
    match &m.body {
        MessageBody::File(f) => f.forwarded.as_ref()?.from_conversation_id.as_deref(),
        _ => None,
    }
}

/// `views` are `messages`' views, in the same order.
pub async fn reveal_in_messages(
    app: &App,
    caller: &Caller,
    messages: &[Message],
    views: &mut [MessageView],
) -> Result<(), ApiError> {
    let sources: Vec<&str> = messages.iter().filter_map(source_of).collect();
    let seen = visible_sources(app, caller, sources).await?;
    for (m, v) in messages.iter().zip(views.iter_mut()) {
        if let (Some(cid), Some(f)) = (source_of(m), v.file.as_mut()) {
            if seen.contains(cid) {
                f.forwarded = Some(Forwarded::from(cid));
            }
        }
    }
    Ok(())
}

fn file_source(f: &FileRecord) -> Option<&str> {
    f.forwarded_from
        .as_ref()
        .map(|s| s.conversation_id.as_str())
}

/// `infos` are `files`' infos, in the same order.
pub async fn reveal_in_files(
    app: &App,
    caller: &Caller,
    files: &[&FileRecord],
    infos: &mut [FileInfo],
) -> Result<(), ApiError> {
    let sources: Vec<&str> = files.iter().filter_map(|f| file_source(f)).collect();
    let seen = visible_sources(app, caller, sources).await?;
    for (f, info) in files.iter().zip(infos.iter_mut()) {
        if let Some(cid) = file_source(f).filter(|cid| seen.contains(*cid)) {
            info.forwarded = Some(Forwarded::from(cid));
        }
    }
    Ok(())
}
