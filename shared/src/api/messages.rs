//! Reading and writing history.

use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use super::as_member;
use crate::config::MAX_TEXT_BYTES;
use crate::cursor::{self, After, Before};
use crate::identity::Caller;
use crate::model::{Message, MessageBody, MessageView};
use crate::store::{Append, AppendOutcome, Guard, MessageRange};
use crate::{ids, time, ApiError, App};

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
    conversation_id: &str,
    limit: u32,
    range: MessageRange,
) -> Result<MessagePage, ApiError> {
    ids::conversation_id(conversation_id)?;
    let (_, mut messages) = as_member(
        &app.store,
        conversation_id,
        &caller.user_id,
        app.store.query_messages(conversation_id, range, limit),
    )
    .await?;

    let scope = conversation_id;
    let page = match range {
        MessageRange::Newest | MessageRange::Before(_) => {
            messages.reverse();
            // Sequence numbers start at 1 and have no gaps, so older messages exist iff the
            // page starts above 1: true even when DynamoDB ends a page early at 1 MB of long
            // messages, where counting what came back would say "no more".
            let has_older = messages.first().is_some_and(|m| m.seq > 1);
            let floor = match range {
                MessageRange::Before(seq) => seq.saturating_sub(1),
                _ => 0,
            };
            MessagePage {
                older: match (has_older, messages.first()) {
                    (true, Some(first)) => Some(cursor::encode(scope, &Before(first.seq))),
                    _ => None,
                },
                newer: cursor::encode(scope, &After(messages.last().map_or(floor, |m| m.seq))),
                messages: messages.iter().map(MessageView::from).collect(),
            }
        }
        MessageRange::After(after) => {
            // Sequence numbers start at 1 and have no gaps: older messages exist iff the page
            // starts above 1.
            let first = messages.first().map_or(after + 1, |m| m.seq);
            MessagePage {
                older: (first > 1).then(|| cursor::encode(scope, &Before(first))),
                newer: cursor::encode(scope, &After(messages.last().map_or(after, |m| m.seq))),
                messages: messages.iter().map(MessageView::from).collect(),
            }
        }
    };
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
    conversation_id: &str,
    new: NewMessage,
) -> Result<(MessageView, bool), ApiError> {
    ids::conversation_id(conversation_id)?;
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
    crate::text::message_text(&new.text)?;
    let key = format!("msg#{}#{}", caller.user_id, new.client_msg_id);
    let now = time::now_ms();
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
