//! Reading and writing history.

use crate::domain::ids::ConversationId;
use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use super::as_member;
use super::conversations::system_message;
use super::files::purge_after_delete;
use crate::config::MAX_TEXT_BYTES;
use crate::domain::caller::Caller;
use crate::domain::cursor::{self, After, Before};
use crate::domain::ids;
use crate::domain::model::{
    Deletion, Message, MessageBody, MessageView, Role, SystemEvent, SystemEventKind,
};
use crate::infra::store::{Append, AppendOutcome, Guard, MessageRange, RecallCondition};
use crate::{ApiError, App};

/// One page of history, oldest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// Continues with older messages; `null` once the first message is on this page.
    pub older: Option<String>,
    /// Continues with messages newer than this page (what a device polls with).
    pub newer: String,
}

/// `GET /conversations/{id}/messages`: the newest page, the page before a position, or what
/// came after one (the HTTP layer decodes the `before`/`after` cursors into `range`).
pub async fn pull(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    limit: u32,
    range: MessageRange,
) -> Result<MessagePage, ApiError> {
    let page = app.store.query_messages(conversation_id, range, limit);
    let (_, mut messages) = as_member(app, caller, conversation_id, page).await?;
    // Where an empty page starts, and the `seq` before it.
    let (start, floor) = match range {
        MessageRange::Newest => (1, 0),
        MessageRange::Before(seq) => (1, seq.saturating_sub(1)),
        MessageRange::After(after) => (after + 1, after),
    };
    if !matches!(range, MessageRange::After(_)) {
        // Read newest first.
        messages.reverse();
    }
    // Sequence numbers start at 1 and have no gaps, so older messages exist iff the page
    // starts above 1: true even when DynamoDB ends a page early at 1 MB of long messages,
    // where counting what came back would say "no more".
    let first = messages.first().map_or(start, |m| m.seq);
    let last = messages.last().map_or(floor, |m| m.seq);
    let mut page = MessagePage {
        older: (first > 1).then(|| cursor::encode(conversation_id, &Before(first))),
        newer: cursor::encode(conversation_id, &After(last)),
        messages: messages.iter().map(MessageView::from).collect(),
    };
    super::forwarded::reveal_in_messages(app, caller, &messages, &mut page.messages).await?;
    Ok(page)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub client_msg_id: String,
    pub text: String,
}

/// `POST /conversations/{id}/messages`. Returns the message and whether it was stored now
/// (`false`: a retry of an earlier call with the same `client_msg_id`).
pub async fn post(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    new: NewMessage,
) -> Result<(MessageView, bool), ApiError> {
    check_client_msg_id(&new.client_msg_id)?;
    if new.text.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidText,
            "text must not be empty",
        ));
    }
    if new.text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::new(
            ErrorCode::TextTooLong,
            format!("text is longer than {MAX_TEXT_BYTES} bytes"),
        ));
    }
    crate::domain::text::message_text(&new.text)?;
    let key = format!("msg#{}#{}", caller.user_id, new.client_msg_id);
    let now = app.config.clock.now_ms();
    let message_id = ids::new_id();
    let append = Append {
        idempotency_key: Some(&key),
        ..Append::new(conversation_id, Guard::Member(&caller.user_id))
    };
    let outcome = app
        .store
        .append_message(
            append,
            |_| Vec::new(),
            |seq| Message {
                conversation_id: conversation_id.to_string(),
                seq,
                message_id: message_id.clone(),
                sender: caller.user_id.clone(),
                sent_at_ms: now,
                body: MessageBody::Text(new.text.clone()),
            },
        )
        .await?;
    match outcome {
        AppendOutcome::Appended(m) => Ok((MessageView::from(&m), true)),
        // A retry must be the same request: a different text under the same id is a client bug
        // that would otherwise silently lose the new text.
        AppendOutcome::Duplicate(m) => match &m.body {
            MessageBody::Text(text) if *text == new.text => Ok((MessageView::from(&m), false)),
            // Sent, then recalled: the retry gets what is left of it, not a second message.
            MessageBody::Deleted(_) => Ok((MessageView::from(&m), false)),
            _ => Err(ApiError::new(
                ErrorCode::ClientMsgIdReused,
                "client_msg_id was already used for a different message",
            )),
        },
        AppendOutcome::NoConversation
        | AppendOutcome::NotAllowed
        | AppendOutcome::LastOwner
        | AppendOutcome::ExtraConditionFailed(_) => Err(ApiError::not_found()),
    }
}

pub fn check_client_msg_id(id: &str) -> Result<(), ApiError> {
    if ids::is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidClientMsgId,
            "client_msg_id must be 1-64 characters of A-Z a-z 0-9 _ - . : @ |",
        ))
    }
}

/// What deleting a message left in history.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeletedMessage {
    /// The tombstone now at the message's `seq`.
    pub message: MessageView,
    /// The `message_deleted` system message, when an owner or admin used their power (someone
    /// else's message, or their own after the recall window); absent for a recall.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub system_message: Option<MessageView>,
    /// File messages only: whether every stored byte of the file is gone now (and with it
    /// every presigned URL handed out before). `false`: storage was slow; the deletion stands
    /// and the bytes go with a retried `DELETE` or the hourly purge.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_removed: Option<bool>,
}

/// Reads of a message whose state moved under a delete, before giving up with a 503.
const DELETE_ATTEMPTS: usize = 4;

/// `DELETE /conversations/{id}/messages/{seq}`: the sender recalls their own text or file
/// message within the recall window; owners and admins delete any at any time, recorded by a
/// `message_deleted` system message. The message becomes a tombstone (same `seq`), a file
/// message's file is deleted with it in the same transaction, and its bytes are removed from
/// S3 right after. Idempotent: deleting a tombstone answers the tombstone.
pub async fn delete(
    app: &App,
    caller: &Caller,
    conversation_id: &ConversationId,
    seq: &str,
    deadline: std::time::Instant,
) -> Result<DeletedMessage, ApiError> {
    let seq = parse_seq(seq)?;
    let window_ms = app.config.recall_window_secs as i64 * 1000;
    let store = &app.store;
    for _ in 0..DELETE_ATTEMPTS {
        let message = store.get_message(conversation_id, seq);
        let (member, message) = as_member(app, caller, conversation_id, message).await?;
        let message = message.ok_or_else(ApiError::not_found)?;
        let file_id = match &message.body {
            MessageBody::Deleted(d) => {
                // A retry finishes what a slow storage left: bytes still there are removed.
                return Ok(DeletedMessage {
                    message: MessageView::from(&message),
                    system_message: None,
                    bytes_removed: purge_after_delete(app, d.file_id.as_deref(), deadline).await,
                });
            }
            MessageBody::System(_) => {
                return Err(ApiError::new(
                    ErrorCode::NotDeletable,
                    "system messages record what happened in the group and cannot be deleted",
                ))
            }
            MessageBody::File(f) => Some(f.file_id.clone()),
            MessageBody::Text(_) => None,
        };
        let now = app.config.clock.now_ms();
        let own = message.sender == caller.user_id;
        let cutoff = now - window_ms;
        let deletion = Deletion {
            by: caller.user_id.clone(),
            at_ms: now,
            file_id: file_id.clone(),
        };
        let tombstone = Message {
            body: MessageBody::Deleted(deletion.clone()),
            ..message.clone()
        };
        // The file leaves the search index in the same write (its entries' keys come from
        // the record: its name, type, uploader and upload time).
        let file = match file_id.as_deref() {
            Some(f) => store.get_file(f).await?,
            None => None,
        };
        // Every deletion is an append as well: the tombstone replaces the message in place, and
        // a system message (`message_recalled` by the sender, `message_deleted` by an owner or
        // admin) names its seq at the end of history. So a device that reads on with `?after=`
        // (after a missed push frame, or offline) learns of every deletion too.
        const MODERATORS: &[Role] = &[Role::Owner, Role::Admin];
        let (guard, recall, kind) = if own && window_ms > 0 && message.sent_at_ms >= cutoff {
            let recall = RecallCondition {
                sender: &caller.user_id,
                sent_after_ms: cutoff,
            };
            (
                Guard::Member(&caller.user_id),
                Some(recall),
                SystemEventKind::MessageRecalled,
            )
        } else if member.role.can_manage_members() {
            (
                Guard::Role(&caller.user_id, MODERATORS),
                None,
                SystemEventKind::MessageDeleted,
            )
        } else {
            return Err(if own {
                ApiError::new(
                    ErrorCode::RecallWindowPassed,
                    format!(
                        "a message can be recalled for {} seconds after it was sent; an owner or admin can still delete it",
                        app.config.recall_window_secs
                    ),
                )
            } else {
                ApiError::new(
                    ErrorCode::Forbidden,
                    "only the sender (within the recall window) or an owner or admin can delete a message",
                )
            });
        };
        let event = SystemEvent {
            seq: Some(seq),
            ..SystemEvent::new(kind, &message.sender)
        };
        let outcome = store
            .append_message(
                Append::new(conversation_id, guard),
                |_| {
                    let mut parts = vec![store.put_tombstone(&message, &deletion, recall)];
                    let file_id = file_id.as_deref();
                    parts.extend(file_id.map(|f| store.delete_announced_file(f, seq, now)));
                    parts.extend(file.iter().flat_map(|f| store.unindex_file(f, now)));
                    parts
                },
                system_message(conversation_id, &caller.user_id, event, now),
            )
            .await?;
        match outcome {
            AppendOutcome::Appended(event) => {
                // Committed: whatever storage does now, the answer says what happened.
                return Ok(DeletedMessage {
                    message: MessageView::from(&tombstone),
                    system_message: Some(MessageView::from(&event)),
                    bytes_removed: purge_after_delete(app, file_id.as_deref(), deadline).await,
                });
            }
            // Deleted first by someone else, the window closed, the membership ended or the
            // role changed: read again and decide anew.
            AppendOutcome::ExtraConditionFailed(_) | AppendOutcome::NotAllowed => continue,
            AppendOutcome::NoConversation
            | AppendOutcome::Duplicate(_)
            | AppendOutcome::LastOwner => return Err(ApiError::not_found()),
        }
    }
    Err(ApiError::unavailable().with_fault(
        "messages.delete",
        format!("message {seq} kept changing under {DELETE_ATTEMPTS} attempts"),
    ))
}

/// A path's `seq`: a whole number from 1.
pub fn parse_seq(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|&s| s >= 1 && raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSeq,
                "seq must be a message's sequence number (a whole number from 1)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_a_plain_positive_number() {
        assert_eq!(parse_seq("1").unwrap(), 1);
        assert_eq!(parse_seq("18446744073709551615").unwrap(), u64::MAX);
        for bad in [
            "0",
            "",
            "-1",
            "+1",
            "1.0",
            "01x",
            "18446744073709551616",
            " 1",
        ] {
            assert_eq!(parse_seq(bad).unwrap_err().code, "invalid_seq", "{bad}");
        }
    }
}
