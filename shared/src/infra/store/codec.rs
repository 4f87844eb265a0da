//! Items to and from each table's private row structs (`serde_dynamo`), the attribute values
//! that keys and expressions need, and transaction parts from their builders.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::builders::{ConditionCheckBuilder, PutBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
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

/// A transaction part's Update of the item with this (whole) key.
pub fn update<const N: usize>(table: &str, item_key: [(&str, AttributeValue); N]) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(key(item_key)))
}

/// A ConditionCheck of the item with this (whole) key, as a transaction part builds it.
pub fn check<const N: usize>(
    table: &str,
    item_key: [(&str, AttributeValue); N],
) -> ConditionCheckBuilder {
    ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key(item_key)))
}

pub fn update_part(update: UpdateBuilder) -> TransactWriteItem {
    let update = update.build().expect("table, key, expression set");
    TransactWriteItem::builder().update(update).build()
}

pub fn check_part(check: ConditionCheckBuilder) -> TransactWriteItem {
    let check = check.build().expect("table, key, condition set");
    TransactWriteItem::builder().condition_check(check).build()
}

pub fn put_part(put: PutBuilder) -> TransactWriteItem {
    let put = put.build().expect("table, item set");
    TransactWriteItem::builder().put(put).build()
}

/// Transaction part: put `item`, which must be new (its `key_attribute` absent).
pub fn put_new(table: &str, item: Item, key_attribute: &str) -> TransactWriteItem {
    put_part(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({key_attribute})")),
    )
}
