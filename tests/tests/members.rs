//! A group's details and its member list: for members only, with counts kept by every
//! membership change.

use groupshare_tests::*;
use serde_json::{json, Value};
use shared::model::{Conversation, Member, Message, Role, SystemEvent};
use shared::App;

async fn details(app: &App, user: &str, cid: &str) -> Reply {
    get(app, user, &format!("/conversations/{cid}")).await
}

/// Every member, paging with `limit`; also returns how many pages it took.
async fn all_members(app: &App, user: &str, cid: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut members = Vec::new();
    let mut pages = 0;
    let mut path = format!("/conversations/{cid}/members?limit={limit}");
    loop {
        let r = get(app, user, &path).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        pages += 1;
        members.extend(r.json["members"].as_array().unwrap().iter().cloned());
        match r.json["cursor"].as_str() {
            Some(c) => path = format!("/conversations/{cid}/members?limit={limit}&cursor={c}"),
            None => break,
        }
    }
    (members, pages)
}

fn user_ids(members: &[Value]) -> Vec<&str> {
    members
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn details_show_the_group_and_follow_membership_changes() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob", "carol"]).await;
    let r = details(app, "bob", &cid).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let created_at = r.json["created_at"].clone();
    assert_eq!(
        r.json,
        json!({
            "conversation_id": cid,
            "title": "Team",
            "created_by": "alice",
            "created_at": created_at,
            "role": "member",
            "member_count": 3,
            "last_seq": 1,
            "retention_days": 7,
        })
    );
    assert_eq!(details(app, "alice", &cid).await.json["role"], "owner");

    let added = post(
        app,
        "alice",
        &format!("/conversations/{cid}/members"),
        json!({"user_id": "dave"}),
    )
    .await;
    assert_eq!(added.status, 201);
    // Adding again changes nothing, the count included.
    let again = post(
        app,
        "alice",
        &format!("/conversations/{cid}/members"),
        json!({"user_id": "dave"}),
    )
    .await;
    assert_eq!(again.status, 200);
    let seq = send_text(app, &cid, "dave", "hi").await;
    let r = details(app, "dave", &cid).await;
    assert_eq!(
        (r.json["member_count"].as_u64(), r.json["last_seq"].as_u64()),
        (Some(4), Some(seq))
    );

    let removed = delete(app, "alice", format!("/conversations/{cid}/members/carol")).await;
    assert_eq!(removed.status, 204);
    let left = delete(app, "bob", format!("/conversations/{cid}/members/bob")).await;
    assert_eq!(left.status, 204);
    let r = details(app, "alice", &cid).await;
    assert_eq!(r.json["member_count"], 2);
    assert_eq!(r.json["last_seq"], seq + 2, "both changes are in history");
}

#[tokio::test]
async fn members_page_in_user_id_order_with_roles() {
    let app = stack().await;
    let others = ["g", "b", "f", "c", "e", "d"];
    let cid = create_group(app, "a", &others).await;
    let promoted = patch(
        app,
        "a",
        format!("/conversations/{cid}/members/c"),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(promoted.status, 200);
    for limit in [1, 3, 7, 100] {
        let (members, pages) = all_members(app, "d", &cid, limit).await;
        assert_eq!(
            user_ids(&members),
            ["a", "b", "c", "d", "e", "f", "g"],
            "limit {limit}"
        );
        assert_eq!(
            pages,
            7usize.div_ceil(limit as usize).max(1),
            "limit {limit}"
        );
        let roles: Vec<&str> = members
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["owner", "member", "admin", "member", "member", "member", "member"]
        );
        for m in &members {
            assert_eq!(m["conversation_id"], cid.as_str());
            assert!(m["joined_at"].as_str().unwrap().ends_with('Z'));
        }
    }
    // A cursor belongs to its own group's list.
    let other = create_group(app, "a", &["b"]).await;
    let page = get(app, "a", &format!("/conversations/{cid}/members?limit=2")).await;
    let foreign = page.json["cursor"].as_str().unwrap();
    let r = get(
        app,
        "a",
        &format!("/conversations/{other}/members?cursor={foreign}"),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_cursor"));
    let r = get(app, "a", &format!("/conversations/{cid}/members?limit=0")).await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_limit"));
}

#[tokio::test]
async fn only_members_see_details_and_members_and_outsiders_learn_nothing() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let missing = details(app, "alice", "no-such-group").await;
    assert_eq!(missing.status, 404);
    for path in [
        format!("/conversations/{cid}"),
        format!("/conversations/{cid}/members"),
        "/conversations/no-such-group/members".to_string(),
    ] {
        let r = get(app, "eve", &path).await;
        assert_eq!((r.status, &r.json), (404, &missing.json), "{path}");
    }
    // A member who leaves is an outsider from then on.
    let left = delete(app, "bob", format!("/conversations/{cid}/members/bob")).await;
    assert_eq!(left.status, 204);
    let r = details(app, "bob", &cid).await;
    assert_eq!((r.status, &r.json), (404, &missing.json));
    let r = get(app, "bob", &format!("/conversations/{cid}/members")).await;
    assert_eq!((r.status, &r.json), (404, &missing.json));
}

/// Conversations stored before members were counted show a counted figure, and the first
/// membership change stores the count and keeps it from then on.
#[tokio::test]
async fn groups_created_before_the_count_get_it_on_first_change() {
    let app = stack().await;
    let cid = shared::ids::new_id();
    let now = shared::time::now_ms();
    let conversation = Conversation {
        conversation_id: cid.clone(),
        title: "Old".into(),
        created_by: "alice".into(),
        created_at_ms: now,
        last_seq: 1,
        member_count: None,
    };
    let members: Vec<Member> = [("alice", Role::Owner), ("bob", Role::Member)]
        .iter()
        .map(|(u, role)| Member {
            conversation_id: cid.clone(),
            user_id: u.to_string(),
            role: *role,
            joined_at_ms: now,
        })
        .collect();
    let first = Message::system(
        &cid,
        1,
        "m1",
        "alice",
        now,
        SystemEvent::new("conversation_created", "alice"),
    );
    app.store
        .create_conversation(&conversation, &members, &first)
        .await
        .unwrap();
    let stored = app.store.get_conversation(&cid).await.unwrap().unwrap();
    assert_eq!(stored.member_count, None, "an old item, without the count");
    assert_eq!(details(app, "bob", &cid).await.json["member_count"], 2);

    let added = post(
        app,
        "alice",
        &format!("/conversations/{cid}/members"),
        json!({"user_id": "carol"}),
    )
    .await;
    assert_eq!(added.status, 201);
    let stored = app.store.get_conversation(&cid).await.unwrap().unwrap();
    assert_eq!(stored.member_count, Some(3));
    assert_eq!(details(app, "carol", &cid).await.json["member_count"], 3);
}

/// Adds and removals racing each other: the count stays exactly the number of members.
#[tokio::test]
async fn the_member_count_holds_under_concurrent_changes() {
    let app = stack().await;
    let initial: Vec<String> = (0..6).map(|i| format!("old{i}")).collect();
    let initial_refs: Vec<&str> = initial.iter().map(String::as_str).collect();
    let cid = create_group(app, "owner", &initial_refs).await;
    let adds = (0..8).map(|i| {
        let cid = cid.clone();
        async move {
            post(
                app,
                "owner",
                &format!("/conversations/{cid}/members"),
                json!({"user_id": format!("new{i}")}),
            )
            .await
            .status
        }
    });
    let removals = initial.iter().take(4).map(|u| {
        let path = format!("/conversations/{cid}/members/{u}");
        async move { delete(app, "owner", path).await.status }
    });
    let (added, removed) = tokio::join!(
        futures::future::join_all(adds),
        futures::future::join_all(removals)
    );
    assert!(added.iter().all(|s| *s == 201), "{added:?}");
    assert!(removed.iter().all(|s| *s == 204), "{removed:?}");
    let (members, _) = all_members(app, "owner", &cid, 100).await;
    assert_eq!(members.len(), 1 + 6 + 8 - 4);
    assert_eq!(
        details(app, "owner", &cid).await.json["member_count"],
        members.len()
    );
}
