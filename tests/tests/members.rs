//! A group's details and its member list: for members only, with counts kept by every
//! membership change.

use groupshare_tests::*;
use shared::api::conversations::{ConversationDetails, ConversationView};
use shared::api::members::MemberView;
use shared::domain::model::Role;
use shared::ErrorCode;

/// Every member, paging with `limit`; also returns how many pages it took.
async fn all_members(api: &Client<'_>, cid: &str, limit: u32) -> (Vec<MemberView>, usize) {
    let mut members = Vec::new();
    let mut pages = 0;
    let mut query = Query::limit(limit);
    loop {
        let page = api.members(cid, query).await.ok();
        pages += 1;
        members.extend(page.members);
        match page.cursor {
            Some(c) => query = Query::limit(limit).and("cursor", c),
            None => break,
        }
    }
    (members, pages)
}

fn user_ids(members: &[MemberView]) -> Vec<&str> {
    members.iter().map(|m| m.user_id.as_str()).collect()
}

#[tokio::test]
async fn details_show_the_group_and_follow_membership_changes() {
    let app = stack().await;
    let (alice, bob) = (client(app, "alice"), client(app, "bob"));
    let cid = create_group(app, "alice", &["bob", "carol"]).await;
    let seen = bob.conversation(&cid).await.ok();
    assert_eq!(
        seen,
        ConversationDetails {
            conversation: ConversationView {
                conversation_id: cid.clone(),
                title: "Team".into(),
                created_by: "alice".into(),
                created_at: seen.conversation.created_at.clone(),
                role: Role::Member,
            },
            member_count: 3,
            last_seq: 1,
            retention_days: 7,
            read_seq: 0,
            unread_count: 1,
        }
    );
    assert!(seen.conversation.created_at.ends_with('Z'));
    assert_eq!(
        alice.conversation(&cid).await.ok().conversation.role,
        Role::Owner
    );

    alice.add_member(&cid, "dave", None).await.created();
    // Adding again changes nothing, the count included.
    alice.add_member(&cid, "dave", None).await.ok();
    let seq = send_text(app, &cid, "dave", "hi").await;
    let now = client(app, "dave").conversation(&cid).await.ok();
    assert_eq!((now.member_count, now.last_seq), (4, seq));

    assert_eq!(alice.remove_member(&cid, "carol").await.status, 204);
    assert_eq!(bob.remove_member(&cid, "bob").await.status, 204);
    let now = alice.conversation(&cid).await.ok();
    assert_eq!(now.member_count, 2);
    assert_eq!(now.last_seq, seq + 2, "both changes are in history");
}

#[tokio::test]
async fn members_page_in_user_id_order_with_roles() {
    let app = stack().await;
    let others = ["g", "b", "f", "c", "e", "d"];
    let cid = create_group(app, "a", &others).await;
    let a = client(app, "a");
    a.change_role(&cid, "c", Role::Admin).await.ok();
    let d = client(app, "d");
    for limit in [1, 3, 7, 100] {
        let (members, pages) = all_members(&d, &cid, limit).await;
        assert_eq!(
            user_ids(&members),
            ["a", "b", "c", "d", "e", "f", "g"],
            "limit {limit}"
        );
        assert_eq!(pages, 7usize.div_ceil(limit as usize), "limit {limit}");
        let roles: Vec<Role> = members.iter().map(|m| m.role).collect();
        use Role::{Admin, Member as M, Owner};
        assert_eq!(roles, [Owner, M, Admin, M, M, M, M]);
        for m in &members {
            assert_eq!(m.conversation_id, cid);
            assert!(m.joined_at.ends_with('Z'));
        }
    }
    // A cursor belongs to its own group's list.
    let other = create_group(app, "a", &["b"]).await;
    let page = a.members(&cid, Query::limit(2)).await.ok();
    let foreign = page.cursor.unwrap();
    let r = a.members(&other, Query::new().and("cursor", foreign)).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidCursor));
    let r = a.members(&cid, Query::limit(0)).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidLimit));
}

#[tokio::test]
async fn only_members_see_details_and_members_and_outsiders_learn_nothing() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let missing = client(app, "alice").conversation("no-such-group").await;
    assert_eq!(missing.error(), (404, ErrorCode::NotFound));
    let eve = client(app, "eve");
    for r in [
        eve.conversation(&cid).await.typed(),
        eve.members(&cid, Query::new()).await.typed(),
        eve.members("no-such-group", Query::new())
            .await
            .typed::<()>(),
    ] {
        assert_eq!((r.status, &r.json), (404, &missing.json));
    }
    // A member who leaves is an outsider from then on.
    let bob = client(app, "bob");
    assert_eq!(bob.remove_member(&cid, "bob").await.status, 204);
    let r = bob.conversation(&cid).await;
    assert_eq!((r.status, &r.json), (404, &missing.json));
    let r = bob.members(&cid, Query::new()).await;
    assert_eq!((r.status, &r.json), (404, &missing.json));
}

/// Conversations stored before members were counted show a counted figure, and the first
/// membership change stores the count and keeps it from then on.
#[tokio::test]
async fn groups_created_before_the_count_get_it_on_first_change() {
    let app = stack().await;
    let now = shared::domain::time::now_ms();
    let cid = legacy_group(app, now, &[("alice", Role::Owner), ("bob", Role::Member)]).await;
    let stored = app.store.get_conversation(&cid).await.unwrap().unwrap();
    assert_eq!(stored.member_count, None, "an old item, without the count");
    assert_eq!(
        client(app, "bob")
            .conversation(&cid)
            .await
            .ok()
            .member_count,
        2
    );

    client(app, "alice")
        .add_member(&cid, "carol", None)
        .await
        .created();
    let stored = app.store.get_conversation(&cid).await.unwrap().unwrap();
    assert_eq!(stored.member_count, Some(3));
    let seen = client(app, "carol").conversation(&cid).await.ok();
    assert_eq!(seen.member_count, 3);
}

/// Adds and removals racing each other: the count stays exactly the number of members.
#[tokio::test]
async fn the_member_count_holds_under_concurrent_changes() {
    let app = stack().await;
    let initial: Vec<String> = (0..6).map(|i| format!("old{i}")).collect();
    let initial_refs: Vec<&str> = initial.iter().map(String::as_str).collect();
    let cid = create_group(app, "owner", &initial_refs).await;
    let owner = client(app, "owner");
    let (owner, cid) = (&owner, cid.as_str());
    let adds = (0..8).map(|i| async move {
        let user = format!("new{i}");
        owner.add_member(cid, &user, None).await.status
    });
    let removals = initial
        .iter()
        .take(4)
        .map(|u| async move { owner.remove_member(cid, u).await.status });
    let (added, removed) = tokio::join!(
        futures::future::join_all(adds),
        futures::future::join_all(removals)
    );
    assert!(added.iter().all(|s| *s == 201), "{added:?}");
    assert!(removed.iter().all(|s| *s == 204), "{removed:?}");
    let (members, _) = all_members(owner, cid, 100).await;
    assert_eq!(members.len(), 1 + 6 + 8 - 4);
    let seen = owner.conversation(cid).await.ok();
    assert_eq!(seen.member_count, members.len() as u64);
}

/// A create retried after its answer was lost (or after a 503 over a write that committed)
/// makes no second group: the key names the group. Concurrent retries too.
#[tokio::test]
async fn creating_a_group_twice_with_one_request_key_makes_one_group() {
    let app = stack().await;
    let alice = client(app, "alice");
    let body = serde_json::json!(
        {"title": "Once", "members": ["bob", "carol"], "client_request_id": "req-1"}
    );
    let first = alice
        .send("POST", "/conversations", Some(body.clone()))
        .await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let results = futures::future::join_all(
        (0..5).map(|_| alice.send("POST", "/conversations", Some(body.clone()))),
    )
    .await;
    for r in &results {
        assert_eq!(r.status, 200, "{:?}", r.json);
        assert_eq!(r.json["conversation_id"], first.json["conversation_id"]);
        assert_eq!(r.json["role"], "owner");
    }
    let mine = alice.conversations(Query::new()).await.ok().conversations;
    assert_eq!(mine.len(), 1);
    let cid = first.json["conversation_id"].as_str().unwrap();
    assert_eq!(
        alice.messages(cid, Query::new()).await.ok().messages.len(),
        1
    );
    // The members in another order (the caller and someone twice named too), and the title
    // as typed with spaces around it, are the same request.
    let reordered = serde_json::json!({
        "title": " Once ",
        "members": ["carol", "alice", "bob", "carol"],
        "client_request_id": "req-1"
    });
    let r = alice.send("POST", "/conversations", Some(reordered)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["conversation_id"], first.json["conversation_id"]);
    // The same key for another group is refused, not answered with the first one: another
    // title, or the same title with other members (who would never be let in).
    for other in [
        serde_json::json!({"title": "Twice", "members": ["bob", "carol"], "client_request_id": "req-1"}),
        serde_json::json!({"title": "Once", "members": ["bob", "dave"], "client_request_id": "req-1"}),
        serde_json::json!({"title": "Once", "members": ["bob"], "client_request_id": "req-1"}),
    ] {
        let r = alice.send("POST", "/conversations", Some(other)).await;
        assert_eq!(r.error(), (409, ErrorCode::ClientMsgIdReused));
    }
    // Another user's same key is their own request: a group of their own.
    let bob = client(app, "bob");
    let theirs = bob.send("POST", "/conversations", Some(body)).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(
        theirs.json["conversation_id"],
        first.json["conversation_id"]
    );
}

/// A group created under a key before the terms' digest was kept is answered by its title
/// alone: a retry with its title is the same request, another title is refused.
#[tokio::test]
async fn a_group_from_before_request_terms_were_kept_compares_its_title() {
    let app = stack().await;
    let key = unique("req");
    let cid = shared::domain::ids::derived_id("groupshare-conversation", &["alice", &key]);
    let now = shared::domain::time::now_ms();
    legacy_group_named(
        app,
        &cid,
        now,
        &[("alice", Role::Owner), ("bob", Role::Member)],
    )
    .await;
    let alice = client(app, "alice");
    let retry = serde_json::json!({"title": "Old", "members": ["bob"], "client_request_id": key});
    let r = alice.send("POST", "/conversations", Some(retry)).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["conversation_id"], cid);
    let other = serde_json::json!({"title": "New", "client_request_id": key});
    let r = alice.send("POST", "/conversations", Some(other)).await;
    assert_eq!(r.error(), (409, ErrorCode::ClientMsgIdReused));
}
