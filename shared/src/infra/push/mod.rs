//! Push: every append to a conversation's history reaches the open WebSocket connections of its
//! members as it happens. History stays the truth: a frame is exactly the message a page of
//! history shows (with its `seq`), and a client that misses one, or reconnects, fills the gap
//! with `GET …/messages?after=` and the `newer` cursor of the last frame it has.
//!
//! * Connections are recorded per user (`Store::put_connection`, `delete_connection`) by the
//!   WebSocket API's `$connect`/`$disconnect` function, after its authorizer verified the token.
//! * The messages table's stream feeds the fan-out ([`fanout`], feature `push`): the records of
//!   one batch, per conversation, to the connections of the members as they are at that moment.
//! * The members table's stream feeds it too: a read marker moved by `PUT …/read` goes to its
//!   user's connections only, as a [`ReadFrame`] ([`markers`]).

use serde::{Deserialize, Serialize};

use crate::domain::cursor::After;
use crate::domain::model::{Message, MessageView};

#[cfg(feature = "push")]
pub mod fanout;
#[cfg(feature = "push")]
pub mod markers;

/// What a connection receives: one message of one conversation, as history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Always `message` (a [`ReadFrame`] is `read`; clients ignore kinds they don't know).
    #[serde(rename = "type")]
    pub kind: String,
    pub conversation_id: String,
    pub message: MessageView,
    /// The `after` cursor that continues from this message (as a history page's `newer`):
    /// a client that sees a gap in `seq`, or reconnects, asks `GET …/messages?after=` with the
    /// cursor of the last frame it has.
    pub newer: String,
}

impl Frame {
    pub fn of(message: &Message) -> Self {
        Self {
            kind: "message".to_string(),
            conversation_id: message.conversation_id.clone(),
            message: MessageView::from(message),
            newer: crate::domain::cursor::encode(&message.conversation_id, &After(message.seq)),
        }
    }
}

/// What a user's connections receive when their read marker in a conversation moved on one of
/// their devices (`PUT …/read`): nobody else gets it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFrame {
    /// Always `read`.
    #[serde(rename = "type")]
    pub kind: String,
    pub conversation_id: String,
    /// The marker now: everything up to this `seq` counts as read.
    pub read_seq: u64,
}

impl ReadFrame {
    pub fn new(conversation_id: &str, read_seq: u64) -> Self {
        Self {
            kind: "read".to_string(),
            conversation_id: conversation_id.to_string(),
            read_seq,
        }
    }
}
