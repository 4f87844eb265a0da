//! Naming a forward's source group only to readers who are members of it now: views hide it
//! ([`Forwarded::hidden`]), and each read puts it back after one batch read of the page's
//! distinct source groups (none when the page has no forward).

use crate::domain::caller::Caller;
use crate::domain::model::{FileInfo, FileRecord, Forwarded, Message, MessageBody, MessageView};
use crate::{ApiError, App};

/// Puts each source group the caller is a member of now into its view's `forwarded`: `slots`
/// are the views' slots in the order of `sources` (`None` for a view with no file).
async fn reveal<'v>(
    app: &App,
    caller: &Caller,
    sources: Vec<Option<&str>>,
    slots: impl Iterator<Item = Option<&'v mut Option<Forwarded>>>,
) -> Result<(), ApiError> {
    let mut distinct: Vec<&str> = sources.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        return Ok(());
    }
    let seen = app.store.member_of(&caller.user_id, &distinct).await?;
    for (source, slot) in sources.into_iter().zip(slots) {
        if let (Some(cid), Some(slot)) = (source.filter(|c| seen.contains(*c)), slot) {
            *slot = Some(Forwarded::from(cid));
        }
    }
    Ok(())
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
    let sources = messages.iter().map(source_of).collect();
    let slots = views
        .iter_mut()
        .map(|v| v.file.as_mut().map(|f| &mut f.forwarded));
    reveal(app, caller, sources, slots).await
}

/// `infos` are `files`' infos, in the same order.
pub async fn reveal_in_files(
    app: &App,
    caller: &Caller,
    files: &[&FileRecord],
    infos: &mut [FileInfo],
) -> Result<(), ApiError> {
    let sources = files
        .iter()
        .map(|f| {
            f.forwarded_from
                .as_ref()
                .map(|s| s.conversation_id.as_str())
        })
        .collect();
    let slots = infos.iter_mut().map(|i| Some(&mut i.forwarded));
    reveal(app, caller, sources, slots).await
}
