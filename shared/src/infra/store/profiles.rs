//! Profiles table: `user_id` (hash). A person's display name, their email (shown to others only
//! if they choose), when they first signed in, and the groups they are in now (`groups`) and
//! left after acting there (`groups_ever`). The two sets are kept inside every membership write
//! ([`profile_joined`], [`profile_left`]), so whether two people share a group, and so may see
//! each other's names, is one BatchGetItem away and never stale.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};

use super::codec::{key, n, s, update, update_part, Item};
use super::{Read, Store};
use crate::config::MAX_GROUPS_PER_USER;
use crate::domain::model::Profile;
use crate::ApiError;

impl Store {
    pub async fn get_profile(&self, user_id: &str) -> Result<Option<Profile>, ApiError> {
        let key = [("user_id", s(user_id))];
        let item = self
            .get_item(&self.tables.profiles, key, "profiles.get")
            .await?;
        Ok(item.as_ref().map(profile_from_item))
    }

    /// The groups `user_id` is in now, from their profile (one consistent GetItem).
    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>, ApiError> {
        let profile = self.get_profile(user_id).await?;
        Ok(profile
            .map(|p| p.groups.into_iter().collect())
            .unwrap_or_default())
    }

    /// Profiles by user id, one strongly consistent BatchGetItem pass (at most 100 ids), so a
    /// removal from a group hides names at once.
    pub async fn batch_get_profiles(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Profile>, ApiError> {
        let keys = ids.iter().map(|id| key([("user_id", s(id))])).collect();
        let table = &self.tables.profiles;
        let items = self
            .batch_get(table, keys, Read::Consistent, "profiles.batch_get")
            .await?;
        Ok(items
            .iter()
            .map(profile_from_item)
            .map(|p| (p.user_id.clone(), p))
            .collect())
    }

    /// Records a sign-in: the first time, the name the identity provider gave (if any) becomes
    /// the display name and the time is kept; the provider's email is refreshed each time (it
    /// is the user's to show or not). One UpdateItem, returning the profile.
    pub async fn record_sign_in(
        &self,
        user_id: &str,
        name_hint: Option<&str>,
        email: Option<&str>,
        now_ms: i64,
    ) -> Result<Profile, ApiError> {
        let mut sets = Vec::new();
        if let Some(name) = name_hint {
            sets.push((
                "display_name = if_not_exists(display_name, :name)",
                ":name",
                s(name),
            ));
        }
        if let Some(email) = email {
            sets.push(("email = :email", ":email", s(email)));
        }
        self.set_profile(user_id, now_ms, sets, "profiles.sign_in")
            .await
    }

    /// Changes what the user chose: their display name and whether others see their email.
    pub async fn update_profile(
        &self,
        user_id: &str,
        display_name: Option<&str>,
        show_email: Option<bool>,
        now_ms: i64,
    ) -> Result<Profile, ApiError> {
        let mut sets = Vec::new();
        if let Some(name) = display_name {
            sets.push(("display_name = :name", ":name", s(name)));
        }
        if let Some(show) = show_email {
            sets.push(("show_email = :show", ":show", AttributeValue::Bool(show)));
        }
        self.set_profile(user_id, now_ms, sets, "profiles.update")
            .await
    }

    /// One UpdateItem of a profile: `sets` (an expression, its value's placeholder, the value)
    /// and the first sign-in's time if it has none yet; returns the profile as it is now.
    async fn set_profile(
        &self,
        user_id: &str,
        now_ms: i64,
        sets: Vec<(&str, &str, AttributeValue)>,
        operation: &'static str,
    ) -> Result<Profile, ApiError> {
        let mut expression = "SET signed_in_at = if_not_exists(signed_in_at, :now)".to_string();
        let mut update = self
            .update_item(&self.tables.profiles, [("user_id", s(user_id))])
            .expression_attribute_values(":now", n(now_ms));
        for (set, placeholder, value) in sets {
            expression.push_str(", ");
            expression.push_str(set);
            update = update.expression_attribute_values(placeholder, value);
        }
        let out = update
            .update_expression(expression)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| ApiError::from_sdk(operation, e))?;
        Ok(profile_from_item(&out.attributes.unwrap_or_default()))
    }
}

/// Transaction part for every write that makes `user_id` a member of `conversation_id`,
/// refused (its condition fails) when they are in [`MAX_GROUPS_PER_USER`] groups already:
/// anyone may put anyone in a group, so the bound keeps a stranger's item from growing.
pub fn profile_joined(store: &Store, user_id: &str, conversation_id: &str) -> TransactWriteItem {
    update_part(
        profile_groups(store, user_id, conversation_id, "ADD groups :g")
            .condition_expression("attribute_not_exists(groups) OR size(groups) < :most")
            .expression_attribute_values(":most", n(MAX_GROUPS_PER_USER)),
    )
}

/// Transaction part for every write that ends `user_id`'s membership. `keep_named` (they left
/// themselves, or had acted there) keeps the group naming them for the people still in it
/// (`groups_ever`). Put in and taken out again by others, they leave no trace: otherwise anyone
/// could learn a stranger's name for good, and grow the stranger's item without bound.
pub fn profile_left(
    store: &Store,
    user_id: &str,
    conversation_id: &str,
    keep_named: bool,
) -> TransactWriteItem {
    let expression = match keep_named {
        true => "DELETE groups :g ADD groups_ever :g",
        false => "DELETE groups :g",
    };
    update_part(profile_groups(store, user_id, conversation_id, expression))
}

fn profile_groups(
    store: &Store,
    user_id: &str,
    conversation_id: &str,
    expression: &str,
) -> UpdateBuilder {
    let group = AttributeValue::Ss(vec![conversation_id.to_string()]);
    update(&store.tables.profiles, [("user_id", s(user_id))])
        .update_expression(expression)
        .expression_attribute_values(":g", group)
}

/// Profiles are read field by field (string sets have no plain serde shape); an item holds only
/// the attributes that were ever written, so every field may be absent.
fn profile_from_item(item: &Item) -> Profile {
    let text = |k: &str| item.get(k)?.as_s().ok().cloned();
    let set = |k: &str| match item.get(k) {
        Some(AttributeValue::Ss(v)) => v.iter().cloned().collect(),
        _ => HashSet::new(),
    };
    Profile {
        user_id: text("user_id").unwrap_or_default(),
        display_name: text("display_name"),
        email: text("email"),
        show_email: item.get("show_email") == Some(&AttributeValue::Bool(true)),
        signed_in_at_ms: item
            .get("signed_in_at")
            .and_then(|v| v.as_n().ok()?.parse().ok()),
        groups: set("groups"),
        groups_ever: set("groups_ever"),
    }
}
