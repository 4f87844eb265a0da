//! Items to and from each table's private row structs (`serde_dynamo`), and the attribute
//! values that keys and expressions need.

use std::collections::HashMap;

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

/// A row as an item. Row types are plain structs of strings, numbers and options, which
/// always serialize.
pub fn to_item<T: Serialize>(row: &T) -> Item {
    serde_dynamo::to_item(row).expect("row types serialize to items")
}

/// An item as a row of `kind`; an item without the row's shape is a server-side fault.
pub fn from_item<T: DeserializeOwned>(kind: &'static str, item: &Item) -> Result<T, ApiError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| ApiError::corrupt(kind, e))
}
