//! Push connections per user: capped (one user's sockets cannot slow everyone's push), with the
//! cap decided inside the write, and expired attributes (a lost `$disconnect`) pruned on connect.

use groupshare_tests::*;

async fn live(app: &shared::App, user: &str, now_s: i64) -> usize {
    app.store
        .connections_of(&[user.to_string()], now_s)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_user_holds_at_most_the_cap_of_connections_and_a_closed_one_frees_a_place() {
    let app = stack_with(Options {
        max_connections_per_user: 3,
        ..Options::default()
    })
    .await;
    let now = shared::domain::time::now_ms() / 1000;
    for i in 0..3 {
        assert!(app
            .store
            .put_connection("bob", &format!("c{i}"), now, 3)
            .await
            .unwrap());
    }
    assert!(!app.store.put_connection("bob", "c3", now, 3).await.unwrap());
    assert_eq!(live(app, "bob", now).await, 3);
    // Another user is not affected.
    assert!(app
        .store
        .put_connection("alice", "a0", now, 3)
        .await
        .unwrap());
    app.store.delete_connection("bob", "c0").await.unwrap();
    assert!(app.store.put_connection("bob", "c3", now, 3).await.unwrap());
    assert_eq!(live(app, "bob", now).await, 3);
}

/// Twenty devices of one user connect at once: every one reads fewer than the cap before any
/// commits, so only the condition inside the write can stop the eleventh.
#[tokio::test]
async fn twenty_simultaneous_connects_leave_exactly_the_cap_open() {
    let app = stack().await;
    let now = shared::domain::time::now_ms() / 1000;
    let results = futures::future::join_all((0..20).map(|i| {
        let store = &app.store;
        async move { store.put_connection("bob", &format!("c{i}"), now, 10).await }
    }))
    .await;
    let opened = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(opened, 10, "{results:?}");
    assert_eq!(live(app, "bob", now).await, 10);
}

/// A connection whose `$disconnect` never came counts for nothing once past its end, and its
/// attribute is removed by the next connect instead of growing the item forever.
#[tokio::test]
async fn connections_past_their_end_are_pruned_on_connect_and_free_their_place() {
    let app = stack().await;
    let long_ago = shared::domain::time::now_ms() / 1000 - 3 * 3600;
    for i in 0..10 {
        assert!(app
            .store
            .put_connection("bob", &format!("old{i}"), long_ago, 10)
            .await
            .unwrap());
    }
    let now = shared::domain::time::now_ms() / 1000;
    assert_eq!(live(app, "bob", now).await, 0);
    assert!(app
        .store
        .put_connection("bob", "fresh", now, 10)
        .await
        .unwrap());
    assert_eq!(live(app, "bob", now).await, 1);
    let item = raw_item(app, "bob").await;
    let attributes: Vec<&String> = item.keys().filter(|k| k.starts_with("conn:")).collect();
    assert_eq!(
        attributes,
        vec!["conn:fresh"],
        "expired attributes are gone"
    );
}

async fn raw_item(
    app: &shared::App,
    user: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    let sdk = sdk_config(
        &std::env::var("GROUPSHARE_TEST_ENDPOINT").unwrap(),
        "test",
        "test",
    );
    shared::infra::aws::dynamodb_client(&sdk)
        .get_item()
        .table_name(&app.config.tables.connections)
        .key(
            "user_id",
            aws_sdk_dynamodb::types::AttributeValue::S(user.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}
