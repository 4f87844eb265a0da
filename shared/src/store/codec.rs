//! Reading and writing attribute values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ApiError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Typed access to an item, with errors that name the item kind and attribute.
pub struct Fields<'a> {
    pub kind: &'static str,
    pub item: &'a Item,
}

impl<'a> Fields<'a> {
    pub fn new(kind: &'static str, item: &'a Item) -> Self {
        Self { kind, item }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(ApiError::corrupt(
                self.kind,
                format!("{name} is not a string"),
            )),
        }
    }

    pub fn str(&self, name: &str) -> Result<String, ApiError> {
        self.opt_str(name)?
            .ok_or_else(|| ApiError::corrupt(self.kind, format!("{name} is missing")))
    }

    pub fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::corrupt(self.kind, format!("{name} is out of range"))),
            Some(_) => Err(ApiError::corrupt(
                self.kind,
                format!("{name} is not a number"),
            )),
        }
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<T, ApiError> {
        self.opt_num(name)?
            .ok_or_else(|| ApiError::corrupt(self.kind, format!("{name} is missing")))
    }
}
