//! DynamoDB storage layout: the one place that knows table names, keys and attribute names.
//! `docs/data-model.md` lists every access pattern and the key or index that serves it; no
//! request path scans.

mod codec;
mod conversations;
mod files;
#[cfg(test)]
mod layout;
mod members;
mod messages;

use aws_sdk_dynamodb::Client;

use crate::config::Tables;

pub use conversations::MAX_INITIAL_MEMBERS;
pub use files::{FilePage, FilesAfter, PENDING_BY_DEADLINE_INDEX};
pub use members::{delete_member_with_role, put_member_if_absent, set_member_role};
pub use messages::{Append, AppendOutcome, Guard, MessageRange};

/// GSI on Members: `user_id` (hash), `conversation_id` (range).
pub const MEMBERS_BY_USER_INDEX: &str = "by-user";
/// GSI on Files: `conversation_id` (hash), `uploaded_at` (range).
pub const FILES_BY_CONVERSATION_INDEX: &str = "by-conversation";

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: Tables,
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }
}
