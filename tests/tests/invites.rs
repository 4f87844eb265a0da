//! Invite links: owners and admins make, list and revoke them; a signed-in holder previews the
//! group and joins. Every condition (not revoked, not expired, uses left, the inviter still
//! allowed to invite) holds inside the write that adds the member.

use groupshare_tests::*;
use serde_json::json;
use shared::api::invites::InviteView;
use shared::domain::model::Role;
use shared::infra::store::Invite;

async fn invite(api: &Client<'_>, cid: &str, body: serde_json::Value) -> InviteView {
    api.create_invite(cid, body).await.created()
}

#[tokio::test]
async fn a_colleague_previews_the_group_joins_by_link_and_sees_its_history() {
    let app = stack().await;
    let alice = client(app, "alice");
    alice.update_me(json!({"display_name": "Alice"})).await.ok();
    let cid = create_group(app, "alice", &["bob"]).await;
    send_text(app, &cid, "bob", "the plan is in the files tab").await;
    let link = invite(&alice, &cid, json!({})).await;
    assert_eq!(link.code.len(), 64, "256 bits, as hex");
    assert_eq!(
        link.url.as_deref(),
        Some(format!("https://chat.example.test/#/invite/{}", link.code).as_str())
    );
    assert_eq!(
        (link.uses, link.max_uses, link.status.as_str()),
        (0, None, "active")
    );

    // Before joining: the title, the member count and who invited, nothing more.
    let dave = client(app, "dave");
    let preview = dave.invite_preview(&link.code).await;
    assert_eq!(preview.status, 200);
    assert_eq!(
        preview.json,
        json!({"title": "Team", "member_count": 2, "inviter_name": "Alice"})
    );
    assert_eq!(
        dave.messages(&cid, Query::new()).await.error().1,
        ErrorCode::NotFound
    );

    let joined = dave.accept_invite(&link.code).await;
    assert_eq!(joined.status, 201, "{:?}", joined.json);
    let joined = joined.created();
    assert_eq!(
        (joined.conversation_id.as_str(), joined.role),
        (cid.as_str(), Role::Member)
    );
    // The whole history, ending with who joined and by whose invite.
    let page = dave.messages(&cid, Query::new()).await.ok();
    let last = page.messages.last().unwrap();
    assert_eq!(last.sender, "alice");
    let event = last.system.as_ref().expect("a system message");
    assert_eq!(
        (event.event.as_str(), event.user_id.as_str()),
        ("member_joined", "dave")
    );
    assert!(page
        .messages
        .iter()
        .any(|m| m.text.as_deref() == Some("the plan is in the files tab")));
    assert_eq!(dave.conversation(&cid).await.ok().member_count, 3);

    // Accepting again is harmless and spends nothing.
    assert_eq!(dave.accept_invite(&link.code).await.status, 200);
    let listed = alice.invites(&cid, Query::new()).await.ok().invites;
    assert_eq!((listed.len(), listed[0].uses), (1, 1));
    assert_eq!(alice.conversation(&cid).await.ok().member_count, 3);
}

#[tokio::test]
async fn only_owners_and_admins_make_list_and_revoke_invites() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob", "carol"]).await;
    let (alice, bob, carol) = (
        client(app, "alice"),
        client(app, "bob"),
        client(app, "carol"),
    );
    let link = invite(&alice, &cid, json!({"max_uses": 3, "expires_in": 3600})).await;

    assert_eq!(
        bob.create_invite(&cid, json!({})).await.error(),
        (403, ErrorCode::Forbidden)
    );
    assert_eq!(
        bob.invites(&cid, Query::new()).await.error(),
        (403, ErrorCode::Forbidden)
    );
    assert_eq!(
        bob.revoke_invite(&cid, &link.code).await.error(),
        (403, ErrorCode::Forbidden)
    );
    // A non-member gets what a missing group gets.
    let mallory = client(app, "mallory");
    assert_eq!(
        mallory.create_invite(&cid, json!({})).await.error(),
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        mallory.invites(&cid, Query::new()).await.error(),
        (404, ErrorCode::NotFound)
    );

    alice.change_role(&cid, "carol", Role::Admin).await.ok();
    let second = invite(&carol, &cid, json!({})).await;
    let listed = carol.invites(&cid, Query::new()).await.ok().invites;
    let codes: Vec<&str> = listed.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(
        codes,
        vec![second.code.as_str(), link.code.as_str()],
        "newest first"
    );
    assert_eq!(carol.revoke_invite(&cid, &link.code).await.status, 204);
    // Twice is fine; a code of another group, or none, is 404.
    assert_eq!(carol.revoke_invite(&cid, &link.code).await.status, 204);
    let other = create_group(app, "alice", &[]).await;
    assert_eq!(
        alice.revoke_invite(&other, &second.code).await.error().0,
        404
    );
    assert_eq!(alice.revoke_invite(&cid, "nope").await.error().0, 404);
    let listed = alice.invites(&cid, Query::limit(1)).await.ok();
    assert_eq!(listed.invites.len(), 1);
    let rest = alice
        .invites(&cid, Query::limit(1).and("cursor", listed.cursor.unwrap()))
        .await
        .ok();
    assert_eq!(
        (rest.invites[0].status.as_str(), rest.cursor),
        ("revoked", None)
    );

    for bad in [
        json!({"expires_in": 59}),
        json!({"expires_in": 31 * 86400}),
        json!({"max_uses": 0}),
        json!({"max_uses": 1001}),
        json!({"uses": 1}),
    ] {
        let r = alice.create_invite(&cid, bad.clone()).await;
        assert_eq!(r.error().0, 400, "{bad}");
    }
}

#[tokio::test]
async fn a_revoked_expired_or_used_up_invite_is_gone_and_an_unknown_code_reveals_nothing() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let dave = client(app, "dave");

    let revoked = invite(&alice, &cid, json!({})).await;
    alice.revoke_invite(&cid, &revoked.code).await;
    let once = invite(&alice, &cid, json!({"max_uses": 1})).await;
    client(app, "erin")
        .accept_invite(&once.code)
        .await
        .created();
    // Expired: stored as a week-old invite would be (no clock to wind forward).
    let now = shared::domain::time::now_ms();
    let expired = Invite {
        code: "e".repeat(64),
        conversation_id: cid.clone(),
        created_by: "alice".into(),
        created_at: now - 8 * 86_400_000,
        expires_at: now - 86_400_000,
        max_uses: None,
        uses: 0,
        revoked_at: None,
        expires_at_s: now / 1000 + 86_400,
    };
    assert!(app.store.put_invite(&expired).await.unwrap());

    for code in [&revoked.code, &once.code, &expired.code] {
        assert_eq!(
            dave.invite_preview(code).await.error(),
            (410, ErrorCode::InviteGone)
        );
        assert_eq!(
            dave.accept_invite(code).await.error(),
            (410, ErrorCode::InviteGone)
        );
    }
    assert_eq!(dave.messages(&cid, Query::new()).await.error().0, 404);
    // Unknown codes, well-formed or not, answer as any unknown resource does.
    let not_found = dave.conversation("no-such-group").await;
    for code in ["f".repeat(64), "short".into(), "x".repeat(65)] {
        let r = dave.invite_preview(&code).await;
        assert_eq!((r.status, &r.json), (404, &not_found.json), "{code}");
        assert_eq!(
            dave.accept_invite(&code).await.error(),
            (404, ErrorCode::NotFound)
        );
    }
    let listed = alice.invites(&cid, Query::new()).await.ok().invites;
    let statuses: Vec<&str> = listed.iter().map(|i| i.status.as_str()).collect();
    assert_eq!(statuses, vec!["used_up", "revoked", "expired"]);
}

#[tokio::test]
async fn an_inviter_who_lost_the_right_to_invite_lets_nobody_in() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    let link = invite(&client(app, "bob"), &cid, json!({})).await;
    alice.change_role(&cid, "bob", Role::Member).await.ok();
    let r = client(app, "dave").accept_invite(&link.code).await;
    assert_eq!(r.error(), (410, ErrorCode::InviteGone));
    alice.remove_member(&cid, "bob").await;
    assert_eq!(
        client(app, "dave")
            .accept_invite(&link.code)
            .await
            .error()
            .0,
        410
    );
}

/// Twenty people accept a five-use invite at once: all of them read it with uses left, so only
/// the condition inside the join's transaction can stop the sixth.
#[tokio::test]
async fn twenty_simultaneous_accepts_of_a_five_use_invite_make_exactly_five_members() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let link = invite(&alice, &cid, json!({"max_uses": 5})).await;
    let users: Vec<String> = (0..20).map(|i| format!("joiner-{i}")).collect();
    let results = futures::future::join_all(
        users
            .iter()
            .map(|u| async { client(app, u).accept_invite(&link.code).await.status }),
    )
    .await;
    let joined = results.iter().filter(|s| **s == 201).count();
    let refused = results.iter().filter(|s| **s == 410).count();
    assert_eq!((joined, refused), (5, 15), "{results:?}");
    assert_eq!(alice.conversation(&cid).await.ok().member_count, 6);
    let members = alice.members(&cid, Query::limit(100)).await.ok().members;
    assert_eq!(members.len(), 6);
    assert_eq!(
        alice.invites(&cid, Query::new()).await.ok().invites[0].uses,
        5
    );
}

/// A revoke racing accepts: whoever was let in was let in before the revoke committed. After
/// the revoke answers, the invite's use count never moves again and equals the joins.
#[tokio::test]
async fn a_revoke_racing_accepts_never_lets_anyone_in_after_it() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let link = invite(&alice, &cid, json!({})).await;
    let users: Vec<String> = (0..12).map(|i| format!("racer-{i}")).collect();
    let accepts = futures::future::join_all(
        users
            .iter()
            .map(|u| async { client(app, u).accept_invite(&link.code).await.status }),
    );
    let revoke = async {
        assert_eq!(alice.revoke_invite(&cid, &link.code).await.status, 204);
        app.store
            .get_invite(&link.code)
            .await
            .unwrap()
            .unwrap()
            .uses
    };
    let (statuses, uses_at_revoke) = futures::future::join(accepts, revoke).await;
    let joined = statuses.iter().filter(|s| **s == 201).count() as u64;
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 410),
        "{statuses:?}"
    );
    assert_eq!(
        joined, uses_at_revoke,
        "nobody joined after the revoke committed"
    );
    assert_eq!(
        app.store
            .get_invite(&link.code)
            .await
            .unwrap()
            .unwrap()
            .uses,
        uses_at_revoke
    );
    assert_eq!(
        alice.conversation(&cid).await.ok().member_count,
        1 + uses_at_revoke
    );
}

/// A create retried after its answer was lost makes no second link: the request key names the
/// invite it made, recorded in the same transaction. Concurrent retries too.
#[tokio::test]
async fn making_an_invite_twice_with_one_request_key_makes_one_link() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let body = json!({"max_uses": 3, "client_request_id": "inv-1"});
    let first = alice.create_invite(&cid, body.clone()).await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let retries =
        futures::future::join_all((0..5).map(|_| alice.create_invite(&cid, body.clone()))).await;
    for r in &retries {
        assert_eq!(r.status, 200, "{:?}", r.json);
        assert_eq!(r.json["code"], first.json["code"]);
    }
    assert_eq!(
        alice.invites(&cid, Query::new()).await.ok().invites.len(),
        1
    );
    // Another group, or no key: another link.
    let other = create_group(app, "alice", &[]).await;
    assert_eq!(alice.create_invite(&other, body).await.status, 201);
    assert_eq!(alice.create_invite(&cid, json!({})).await.status, 201);
    assert_eq!(
        alice.invites(&cid, Query::new()).await.ok().invites.len(),
        2
    );
}

/// A link whose inviter lost the right to invite lets nobody in, so it must not show what it
/// would join either: its holder (an outsider) learns the group's title, member count and the
/// inviter's name from a link that is dead. The preview answers what the accept answers.
#[tokio::test]
async fn a_dead_link_of_a_demoted_or_removed_inviter_previews_nothing() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    let link = invite(&client(app, "bob"), &cid, json!({})).await;
    alice.change_role(&cid, "bob", Role::Member).await.ok();
    let dave = client(app, "dave");
    assert_eq!(
        dave.accept_invite(&link.code).await.error(),
        (410, ErrorCode::InviteGone)
    );
    assert_eq!(
        dave.invite_preview(&link.code).await.error(),
        (410, ErrorCode::InviteGone),
        "a demoted inviter's link still shows the group"
    );
    alice.remove_member(&cid, "bob").await;
    assert_eq!(
        dave.invite_preview(&link.code).await.error(),
        (410, ErrorCode::InviteGone),
        "a removed inviter's link still shows the group"
    );
}

/// The owners' list says what a link does: one whose maker was demoted or removed lets nobody
/// in, so it is `disabled`, not `active`, and the owner can still revoke it; the owner's own
/// link next to it stays `active`.
#[tokio::test]
async fn the_list_shows_a_link_whose_maker_may_no_longer_invite_as_disabled() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    let bobs = invite(&client(app, "bob"), &cid, json!({})).await;
    let alices = invite(&alice, &cid, json!({})).await;
    let status_of = |list: &shared::api::invites::InviteList, code: &str| {
        let found = list.invites.iter().find(|i| i.code == code);
        found.map(|i| i.status.clone()).unwrap()
    };
    let listed = alice.invites(&cid, Query::new()).await.ok();
    assert_eq!(status_of(&listed, &bobs.code), "active");
    alice.change_role(&cid, "bob", Role::Member).await.ok();
    let listed = alice.invites(&cid, Query::new()).await.ok();
    assert_eq!(status_of(&listed, &bobs.code), "disabled");
    assert_eq!(status_of(&listed, &alices.code), "active");
    assert_eq!(alice.revoke_invite(&cid, &bobs.code).await.status, 204);
    let listed = alice.invites(&cid, Query::new()).await.ok();
    assert_eq!(status_of(&listed, &bobs.code), "revoked");
}

/// A request key names one request: reused with other terms it must be refused (as a reused
/// `client_request_id` of a group, or `client_msg_id` of an upload, is), not answered with the
/// first invite. Otherwise an admin who asks for a single-use link gets an unlimited one, and
/// believes the link they share dies after one join.
#[tokio::test]
async fn a_request_key_reused_with_other_terms_is_refused_not_answered_with_another_invite() {
    let app = stack().await;
    let cid = create_group(app, "alice", &[]).await;
    let alice = client(app, "alice");
    let first = alice
        .create_invite(&cid, json!({"client_request_id": "inv-terms"}))
        .await;
    assert_eq!(first.status, 201);
    let single_use = alice
        .create_invite(
            &cid,
            json!({"max_uses": 1, "client_request_id": "inv-terms"}),
        )
        .await;
    // On main: 200 with the first invite, `max_uses: null`.
    assert_eq!(single_use.error(), (409, ErrorCode::ClientMsgIdReused));
}
