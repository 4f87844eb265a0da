//! What a forward's announcement checks inside its transaction, and which source groups a
//! reader may see named.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::codec::{check, check_part, n, s};
use super::files::status;
use super::{Guard, Store};
use crate::config::MAX_IDS_PER_BATCH;
use crate::domain::model::{ForwardSource, StoredFileStatus};
use crate::ApiError;

impl Store {
    /// Transaction parts of a forward's announcement, in this order: the forwarder is still a
    /// member of the source group; the source file is still available and not expired at
    /// `now_ms` (a recall, deletion or expiry that commits first wins).
    pub fn forward_checks(
        &self,
        source: &ForwardSource,
        forwarder: &str,
        now_ms: i64,
    ) -> Vec<TransactWriteItem> {
        let member = self
            .guard_check(&source.conversation_id, Guard::Member(forwarder))
            .expect("a member guard is a check");
        let file = check(&self.tables.files, [("file_id", s(&source.file_id))])
            .condition_expression(
                "conversation_id = :c AND #st = :available \
                 AND (attribute_not_exists(expires_at) OR expires_at > :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":c", s(&source.conversation_id))
            .expression_attribute_values(":available", status(StoredFileStatus::Available))
            .expression_attribute_values(":now", n(now_ms));
        vec![member, check_part(file)]
    }

    /// Which of `conversation_ids` (distinct) `user_id` is a member of now: one strongly
    /// consistent BatchGetItem per 100, run together.
    pub async fn member_of(
        &self,
        user_id: &str,
        conversation_ids: &[&str],
    ) -> Result<HashSet<String>, ApiError> {
        let reads = conversation_ids
            .chunks(MAX_IDS_PER_BATCH)
            .map(|chunk| self.memberships(user_id, chunk));
        let found = futures::future::try_join_all(reads).await?;
        Ok(found.into_iter().flat_map(HashMap::into_keys).collect())
    }
}
