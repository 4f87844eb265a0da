//! Items to and from each table's private row structs (`serde_dynamo`), and the attribute
//! values that keys and expressions need.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ApiError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An item of these attributes: a key, or where a Query or Scan starts.
pub fn key<const N: usize>(attributes: [(&str, AttributeValue); N]) -> Item {
    attributes
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// Keys of `ids` under the one key attribute `name`, 100 to a batch (BatchGetItem's limit).
pub fn key_batches<'a>(name: &'a str, ids: &'a [String]) -> impl Iterator<Item = Vec<Item>> + 'a {
    ids.chunks(crate::config::MAX_IDS_PER_BATCH)
        .map(move |chunk| chunk.iter().map(|id| key([(name, s(id))])).collect())
}

/// A Query read with `Limit = limit + 1` as a page of rows, and whether more may follow: the
/// extra row, or a read DynamoDB cut short (1 MB), after at least one row.
pub fn page_of<T>(
    out: QueryOutput,
    limit: u32,
    row: impl Fn(&Item) -> Result<T, ApiError>,
) -> Result<(Vec<T>, bool), ApiError> {
    let items = out.items.unwrap_or_default();
    let mut rows = items.iter().map(row).collect::<Result<Vec<T>, _>>()?;
    let more = rows.len() > limit as usize || out.last_evaluated_key.is_some();
    rows.truncate(limit as usize);
    let more = more && !rows.is_empty();
    Ok((rows, more))
}

/// A row as an item. Row types are plain structs of strings, numbers and options, which
/// always serialize.
pub fn to_item<T: Serialize>(row: &T) -> Item {
    serde_dynamo::to_item(row).expect("row types serialize to items")
}

/// An item as a row of `kind`; an item without the row's shape is a server-side fault.
pub fn from_item<T: DeserializeOwned>(kind: &'static str, item: &Item) -> Result<T, ApiError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| ApiError::corrupt(kind, e))
}
