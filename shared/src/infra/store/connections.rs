//! Connections table: open WebSocket connections, one item per user keyed by `user_id`, one
//! attribute per connection (`conn:<connection id>` = the epoch second it ends at the latest).
//!
//! One item per user is what lets a fan-out find the connections of every member of a group
//! with BatchGetItem (100 users per round trip) instead of a query per member or a scan. A
//! connection attribute is set and removed on its own (`SET`/`REMOVE` of a top-level
//! attribute), so concurrent connects and disconnects of one user's devices never overwrite
//! each other. `expires_at_s` (the table's TTL) follows the newest connection, so an item whose
//! connections all ended without a `$disconnect` goes away by itself.

use std::time::Duration;

use super::codec::{key_batches, n, s, Item};
use super::{conditional_write, Read, Store};
use crate::ApiError;

/// API Gateway closes a WebSocket connection after two hours whatever happens.
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

const CONNECTION_PREFIX: &str = "conn:";

/// BatchGetItem calls in flight for one lookup: a 2,000-member group is 20 calls, five rounds.
pub const CONCURRENT_BATCHES: usize = 4;

/// One open connection of a user.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    pub user_id: String,
    pub connection_id: String,
    /// The epoch second it was recorded at (its end less [`MAX_CONNECTION_LIFETIME`]).
    pub opened_at_s: i64,
}

impl Store {
    /// Records a connection its authorizer accepted for `user_id`, open at most API Gateway's
    /// two hours from `now_s`, unless the user already has `max_open` live connections: then
    /// `Ok(false)`, nothing is written and the connection is refused (one user's sockets cannot
    /// slow everyone's push, each being a paid management-API post per message). The
    /// count is decided inside the write: the update is conditioned on the item's `version`
    /// being the one read, so connects racing each other are serialised and never overshoot.
    /// Attributes of connections past their end (a `$disconnect` API Gateway never delivered)
    /// are removed in the same update, so an always-online user's item cannot grow toward
    /// DynamoDB's 400 KB limit.
    pub async fn put_connection(
        &self,
        user_id: &str,
        connection_id: &str,
        now_s: i64,
        max_open: usize,
    ) -> Result<bool, ApiError> {
        const ATTEMPTS: u32 = 8;
        /// Expired attributes removed per connect, bounding the expression's size.
        const MAX_PRUNED: usize = 50;
        let ends_at_s = now_s + MAX_CONNECTION_LIFETIME.as_secs() as i64;
        let this = attribute(connection_id);
        let key = [("user_id", s(user_id))];
        for attempt in 0..ATTEMPTS {
            let item = self
                .get_item(&self.tables.connections, key.clone(), "connections.get")
                .await?
                .unwrap_or_default();
            let version: Option<i64> = item
                .get("version")
                .and_then(|v| v.as_n().ok()?.parse().ok());
            let (live, expired) = connection_ends(&item)
                .filter(|(id, _)| *id != connection_id)
                .partition::<Vec<_>, _>(|(_, ends)| *ends > now_s);
            if live.len() >= max_open {
                return Ok(false);
            }
            let mut update = self
                .update_item(&self.tables.connections, key.clone())
                .expression_attribute_names("#c", &this)
                .expression_attribute_values(":end", n(ends_at_s))
                .expression_attribute_values(":next", n(version.unwrap_or(0) + 1));
            let mut removed = Vec::new();
            for (i, (id, _)) in expired.iter().take(MAX_PRUNED).enumerate() {
                let placeholder = format!("#x{i}");
                update = update.expression_attribute_names(&placeholder, attribute(id));
                removed.push(placeholder);
            }
            let mut expression = "SET #c = :end, expires_at_s = :end, version = :next".to_string();
            if !removed.is_empty() {
                expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
            }
            update = match version {
                Some(v) => update
                    .condition_expression("version = :seen")
                    .expression_attribute_values(":seen", n(v)),
                None => update.condition_expression("attribute_not_exists(version)"),
            };
            let result = update.update_expression(expression).send().await;
            if conditional_write(result, "connections.put")? {
                return Ok(true);
            }
            // Another connect of this user committed first: look again.
            tokio::time::sleep(super::backoff(attempt)).await;
        }
        Err(ApiError::unavailable().with_fault(
            "connections.put",
            format!("gave up under contention after {ATTEMPTS} attempts"),
        ))
    }

    /// Forgets a connection (closed, or gone for API Gateway). Forgetting one that is not
    /// recorded is not an error and creates no item.
    pub async fn delete_connection(
        &self,
        user_id: &str,
        connection_id: &str,
    ) -> Result<(), ApiError> {
        let result = self
            .update_item(&self.tables.connections, [("user_id", s(user_id))])
            .update_expression("REMOVE #c")
            .condition_expression("attribute_exists(#c)")
            .expression_attribute_names("#c", attribute(connection_id))
            .send()
            .await;
        conditional_write(result, "connections.delete").map(|_| ())
    }

    /// The open connections of `user_ids` (any number; BatchGetItem 100 users per call, up to
    /// [`CONCURRENT_BATCHES`] calls in flight), leaving out those past their end at `now_s`.
    pub async fn connections_of(
        &self,
        user_ids: &[String],
        now_s: i64,
    ) -> Result<Vec<Connection>, ApiError> {
        use futures::StreamExt;
        // Owned key batches: a stream over borrowed chunks trips the Send check of the
        // handler futures that await this.
        let key_batches: Vec<Vec<Item>> = key_batches("user_id", user_ids).collect();
        let table = self.tables.connections.as_str();
        let batches = futures::stream::iter(key_batches)
            .map(move |keys| self.batch_get(table, keys, Read::Eventual, "connections.batch_get"))
            .buffer_unordered(CONCURRENT_BATCHES);
        let items: Vec<Vec<Item>> = batches
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        Ok(items
            .iter()
            .flatten()
            .flat_map(|item| connections_in(item, now_s))
            .collect())
    }
}

fn attribute(connection_id: &str) -> String {
    format!("{CONNECTION_PREFIX}{connection_id}")
}

/// Every connection of an item: its id and the epoch second it ends at.
fn connection_ends(item: &Item) -> impl Iterator<Item = (&str, i64)> {
    item.iter().filter_map(|(name, value)| {
        let connection_id = name.strip_prefix(CONNECTION_PREFIX)?;
        Some((connection_id, value.as_n().ok()?.parse().ok()?))
    })
}

/// The live connections one user's item records.
fn connections_in(item: &Item, now_s: i64) -> Vec<Connection> {
    let Some(user_id) = item.get("user_id").and_then(|v| v.as_s().ok()) else {
        return Vec::new();
    };
    connection_ends(item)
        .filter(|(_, ends_at)| *ends_at > now_s)
        .map(|(connection_id, ends_at)| Connection {
            user_id: user_id.clone(),
            connection_id: connection_id.to_string(),
            opened_at_s: ends_at - MAX_CONNECTION_LIFETIME.as_secs() as i64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_lists_its_live_connections_only() {
        let item: Item = [
            ("user_id".to_string(), s("bob")),
            ("expires_at_s".to_string(), n(500)),
            (attribute("A1="), n(500)),
            (attribute("B2="), n(99)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            connections_in(&item, 100),
            vec![Connection {
                user_id: "bob".into(),
                connection_id: "A1=".into(),
                opened_at_s: 500 - MAX_CONNECTION_LIFETIME.as_secs() as i64,
            }]
        );
        assert!(connections_in(&item, 500).is_empty());
    }
}
