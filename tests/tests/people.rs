//! People with names: `GET`/`PUT /me` and batch `GET /users?ids=`. A name is seen by its user
//! and by whoever shares a group with them (or is in a group whose history they wrote); to
//! anyone else an id with a profile looks exactly like an id that does not exist.

use groupshare_local::authorizer;
use groupshare_tests::*;
use lambda_http::Request;
use serde_json::{json, Value};
use shared::api::people::{MyProfile, UserView};

/// A request with a bearer token whose claims carry `extra` (a provider's `name`, `email`, …),
/// signed by the local stack's issuer as `scripts/local`'s sign-in would be.
fn with_claims(method: &str, path: &str, user: &str, extra: Value, body: Option<Value>) -> Request {
    let authz = authorizer::global();
    let mut claims = authz.claims_for(user);
    claims.extend(extra.as_object().unwrap().clone());
    let mut req = request(method, path, None, body);
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", authz.sign(&claims)).parse().unwrap(),
    );
    req
}

fn names(users: &[UserView]) -> Vec<(&str, Option<&str>)> {
    users
        .iter()
        .map(|u| (u.user_id.as_str(), u.display_name.as_deref()))
        .collect()
}

#[tokio::test]
async fn the_first_name_comes_from_the_token_then_the_user_chooses() {
    let app = stack().await;
    let claims = json!({"name": "Dana Scully", "email": "dana@example.com"});
    let first = call(
        app,
        with_claims("GET", "/me", "u-dana", claims.clone(), None),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.json);
    let me: MyProfile = serde_json::from_value(first.json).unwrap();
    assert_eq!(me.user_id, "u-dana");
    assert_eq!(me.display_name.as_deref(), Some("Dana Scully"));
    assert_eq!(me.email.as_deref(), Some("dana@example.com"));
    assert!(!me.show_email);
    assert!(me.signed_in_at.unwrap().ends_with('Z'));

    // The user's choice wins over the provider's name at every later sign-in.
    let changed = call(
        app,
        with_claims(
            "PUT",
            "/me",
            "u-dana",
            claims.clone(),
            Some(json!({"display_name": "  Dana  "})),
        ),
    )
    .await;
    assert_eq!(changed.status, 200, "{:?}", changed.json);
    assert_eq!(changed.json["display_name"], "Dana");
    let again = call(app, with_claims("GET", "/me", "u-dana", claims, None)).await;
    assert_eq!(again.json["display_name"], "Dana");

    // Without a name claim, `preferred_username`, then the email, is the first name.
    let r = call(
        app,
        with_claims(
            "GET",
            "/me",
            "u-fox",
            json!({"preferred_username": "fox"}),
            None,
        ),
    )
    .await;
    assert_eq!(r.json["display_name"], "fox");
    let r = call(
        app,
        with_claims(
            "GET",
            "/me",
            "u-eve",
            json!({"email": "eve@example.com"}),
            None,
        ),
    )
    .await;
    assert_eq!(r.json["display_name"], "eve@example.com");
    // No hint at all: no name until the user sets one.
    let r = client(app, "u-nobody").me().await.ok();
    assert_eq!((r.display_name, r.signed_in_at.is_some()), (None, true));
}

#[tokio::test]
async fn display_names_follow_the_rules_titles_follow() {
    let app = stack().await;
    let me = client(app, "alice");
    for bad in [
        json!({"display_name": ""}),
        json!({"display_name": "   "}),
        json!({"display_name": "x".repeat(65)}),
        json!({"display_name": "evil\u{202E}gnp.exe"}),
        json!({"display_name": "two\nlines"}),
    ] {
        let r = me.update_me(bad.clone()).await;
        assert_eq!(r.error(), (400, ErrorCode::InvalidDisplayName), "{bad}");
        // Never echoes big input back.
        assert!(r.failure().message.len() < 200);
    }
    let r = me.update_me(json!({"nickname": "a"})).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidBody));
    let ok = me
        .update_me(json!({"display_name": "季度 Alice 🎉"}))
        .await
        .ok();
    assert_eq!(ok.display_name.as_deref(), Some("季度 Alice 🎉"));
    assert_eq!(
        me.update_me(json!({"display_name": "x".repeat(64)}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn names_are_seen_by_group_mates_and_by_nobody_else() {
    let app = stack().await;
    for (user, name) in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")] {
        client(app, user)
            .update_me(json!({"display_name": name}))
            .await
            .ok();
    }
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob, carol) = (
        client(app, "alice"),
        client(app, "bob"),
        client(app, "carol"),
    );

    // One call names everyone on a page, the caller included, in the order asked.
    let seen = bob.users(&["alice", "bob", "nobody"]).await.ok().users;
    assert_eq!(
        names(&seen),
        vec![("alice", Some("Alice")), ("bob", Some("Bob"))]
    );

    // A stranger learns nothing: carol's answer for alice is the answer for an unknown id.
    let stranger = carol.users(&["alice", "bob"]).await;
    let unknown = carol.users(&["no-such-user"]).await;
    assert_eq!(stranger.status, 200);
    assert_eq!(stranger.json, unknown.json);
    assert!(stranger.ok().users.is_empty());

    // Added by id: named from then on, and shown as never signed in until they do.
    alice.add_member(&cid, "carol", None).await.created();
    alice.add_member(&cid, "dave", None).await.created();
    let seen = carol.users(&["alice", "dave"]).await.ok().users;
    assert_eq!(names(&seen), vec![("alice", Some("Alice")), ("dave", None)]);
    assert!(seen[0].signed_in && !seen[1].signed_in);

    // Bob wrote history and leaves: those still in the group keep his name; he loses theirs.
    send_text(app, &cid, "bob", "bye").await;
    assert_eq!(bob.remove_member(&cid, "bob").await.status, 204);
    assert_eq!(
        names(&carol.users(&["bob"]).await.ok().users),
        vec![("bob", Some("Bob"))]
    );
    assert!(bob.users(&["alice", "carol"]).await.ok().users.is_empty());
    // Removed by an owner: the same.
    assert_eq!(alice.remove_member(&cid, "carol").await.status, 204);
    assert!(carol.users(&["alice"]).await.ok().users.is_empty());
}

#[tokio::test]
async fn an_email_is_shown_to_others_only_when_its_user_chooses() {
    let app = stack().await;
    let email = json!({"email": "alice@example.com"});
    let r = call(app, with_claims("GET", "/me", "alice", email, None)).await;
    assert_eq!(r.status, 200);
    create_group(app, "alice", &["bob"]).await;
    let bob = client(app, "bob");
    let alice = client(app, "alice");
    assert_eq!(bob.users(&["alice"]).await.ok().users[0].email, None);
    // Her own view has it.
    assert_eq!(
        alice.users(&["alice"]).await.ok().users[0].email.as_deref(),
        Some("alice@example.com")
    );
    alice.update_me(json!({"show_email": true})).await.ok();
    assert_eq!(
        bob.users(&["alice"]).await.ok().users[0].email.as_deref(),
        Some("alice@example.com")
    );
    alice.update_me(json!({"show_email": false})).await.ok();
    assert_eq!(bob.users(&["alice"]).await.ok().users[0].email, None);
}

#[tokio::test]
async fn a_batch_of_names_is_one_storage_round_trip() {
    let (app, counter) = counted_stack().await;
    let members: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    create_group(app, "alice", &refs).await;
    let mut asked = refs.clone();
    asked.push("alice");
    counter.reset();
    let seen = client(app, "user-0").users(&asked).await.ok().users;
    assert_eq!(seen.len(), 41);
    assert_eq!(counter.read(), (1, 1), "one BatchGetItem");

    // A hundred others: the caller's own profile is read beside the batch, in the same round trip.
    let hundred: Vec<String> = (0..100).map(|i| format!("user-{i}")).collect();
    let hundred: Vec<&str> = hundred.iter().map(String::as_str).collect();
    counter.reset();
    let seen = client(app, "alice").users(&hundred).await.ok().users;
    assert_eq!(seen.len(), 40, "the 40 who share her group");
    assert_eq!(
        counter.read(),
        (2, 2),
        "BatchGetItem and GetItem in flight together"
    );

    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    let r = client(app, "alice").users(&too_many).await;
    assert_eq!(r.error(), (400, ErrorCode::TooManyIds));
    let r = client(app, "alice").users(&["a b"]).await;
    assert_eq!(r.error(), (400, ErrorCode::InvalidUserId));
}

/// Anyone may put anyone in a group, but that alone names nobody for good: put in a group and
/// taken out again by its owner, a person is a stranger to the owner once more (their name and
/// profile item are theirs, not the owner's to keep or grow). What the person does themselves
/// (writing there, leaving) keeps the group naming them, as history needs.
#[tokio::test]
async fn being_put_in_a_group_and_taken_out_by_others_names_nobody() {
    let app = stack().await;
    client(app, "alice")
        .update_me(json!({"display_name": "Alice"}))
        .await
        .ok();
    let carol = client(app, "carol");
    let unknown = carol.users(&["no-such-user"]).await;
    let cid = create_group(app, "carol", &["alice"]).await;
    // While she is in it, her name shows, as adding a phone number does.
    let named = vec![("alice", Some("Alice"))];
    assert_eq!(names(&carol.users(&["alice"]).await.ok().users), named);
    assert_eq!(carol.remove_member(&cid, "alice").await.status, 204);
    let after = carol.users(&["alice"]).await;
    assert_eq!((after.status, &after.json), (200, &unknown.json));
    let profile = app.store.get_profile("alice").await.unwrap().unwrap();
    assert!(!profile.groups_ever.contains(&cid), "{profile:?}");

    // She wrote there before being taken out: named for those still in it.
    let dave = client(app, "dave");
    let wrote = create_group(app, "dave", &["alice"]).await;
    send_text(app, &wrote, "alice", "hello").await;
    assert_eq!(dave.remove_member(&wrote, "alice").await.status, 204);
    assert_eq!(names(&dave.users(&["alice"]).await.ok().users), named);

    // She left herself: the same.
    let erin = client(app, "erin");
    let left = create_group(app, "erin", &["alice"]).await;
    let alice = client(app, "alice");
    assert_eq!(alice.remove_member(&left, "alice").await.status, 204);
    assert_eq!(names(&erin.users(&["alice"]).await.ok().users), named);
}

/// Sets `user`'s current groups straight in the table (the API would take a thousand calls).
async fn put_in_groups(app: &shared::App, user: &str, groups: Vec<String>, add: bool) {
    let sdk = sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
    let ddb = shared::infra::aws::dynamodb_client(&sdk);
    let action = if add { "ADD" } else { "DELETE" };
    ddb.update_item()
        .table_name(&app.config.tables.profiles)
        .key(
            "user_id",
            aws_sdk_dynamodb::types::AttributeValue::S(user.into()),
        )
        .update_expression(format!("{action} groups :g"))
        .expression_attribute_values(":g", aws_sdk_dynamodb::types::AttributeValue::Ss(groups))
        .send()
        .await
        .unwrap();
}

/// A person is in at most `MAX_GROUPS_PER_USER` groups. Each membership grows their profile
/// item, which anyone can make happen by adding them, so the bound is checked inside every
/// join: creating a group with them, adding them, their own link or group. A clear 409 with
/// nothing written, never a transaction DynamoDB refuses at 400 KB.
#[tokio::test]
async fn no_one_is_put_in_more_than_the_most_groups() {
    use shared::config::MAX_GROUPS_PER_USER;
    let app = stack().await;
    let full: Vec<String> = (0..MAX_GROUPS_PER_USER)
        .map(|i| format!("g{i:04}"))
        .collect();
    put_in_groups(app, "alice", full, true).await;
    let bob = client(app, "bob");
    let alice = client(app, "alice");

    let created = bob.create_conversation("Team", &["alice"]).await;
    assert_eq!(created.error(), (409, ErrorCode::TooManyGroups));
    assert!(created
        .failure()
        .message
        .starts_with("alice is in 1000 groups"));
    assert!(bob
        .conversations(Query::new())
        .await
        .ok()
        .conversations
        .is_empty());

    let cid = create_group(app, "bob", &[]).await;
    let added = bob.add_member(&cid, "alice", None).await;
    assert_eq!(added.error(), (409, ErrorCode::TooManyGroups));
    let link = bob.create_invite(&cid, json!({})).await.created();
    let joined = alice.accept_invite(&link.code).await;
    assert_eq!(joined.error(), (409, ErrorCode::TooManyGroups));
    assert!(joined
        .failure()
        .message
        .starts_with("you are in 1000 groups"));
    let own = alice.create_conversation("Mine", &[]).await;
    assert_eq!(own.error(), (409, ErrorCode::TooManyGroups));
    let members = bob.members(&cid, Query::new()).await.ok().members;
    assert_eq!(members.len(), 1, "nothing written: {members:?}");

    // One group fewer, and she can be added again.
    put_in_groups(app, "alice", vec!["g0000".into()], false).await;
    bob.add_member(&cid, "alice", None).await.created();
}

/// Whether a removed member stays named is decided from their member item as the remover read
/// it; a first message of theirs that lands between that read and the removal's write makes
/// the removal decide again (its delete is conditioned on what it read), so their name stays
/// with the history they just wrote.
#[tokio::test]
async fn a_message_sent_while_its_author_is_being_removed_keeps_them_named() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "bob", &["alice"]).await;
    client(app, "alice")
        .update_me(json!({"display_name": "Alice"}))
        .await
        .ok();
    let group = cid.clone();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            send_text(other, &group, "alice", "one last thing").await;
        })
    });
    let bob = client(app, "bob");
    assert_eq!(bob.remove_member(&cid, "alice").await.status, 204);
    assert!(hook.fired(), "the removal sent a transaction");
    let seen = bob.users(&["alice"]).await.ok().users;
    assert_eq!(names(&seen), vec![("alice", Some("Alice"))]);
}
