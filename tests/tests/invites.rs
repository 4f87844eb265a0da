//! Invite links: owners and admins make, list and revoke them; a signed-in holder previews the
//! group and joins. Every condition (not revoked, not expired, uses left, the inviter still
//! allowed to invite) holds inside the write that adds the member.

use groupshare_tests::*;
use serde_json::json;
use shared::api::invites::InviteView;
use shared::domain::model::Role;
use shared::infra::store::{Invite, PutInvite};

async fn invite(api: &Client<'_>, cid: &str, body: serde_json::Value) -> InviteView {
    api.create_invite(cid, body).await.created()
}

/// `owner` demotes `user` to member and promotes them back to admin: a break in their managing.
async fn demote_and_promote(owner: &Client<'_>, cid: &str, user: &str) {
    owner.change_role(cid, user, Role::Member).await.ok();
    owner.change_role(cid, user, Role::Admin).await.ok();
}

/// A group of alice's where bob is an admin, on a stack whose chosen next write a test can
/// precede with bob's demotion and promotion ([`demoted_and_promoted_first`]).
async fn raced_group_with_admin_bob() -> (&'static shared::App, BeforeTransaction, String) {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    client(app, "alice")
        .change_role(&cid, "bob", Role::Admin)
        .await
        .ok();
    (app, hook, cid)
}

/// The app's next transaction is preceded by alice demoting and promoting bob on another device.
fn demoted_and_promoted_first(hook: &BeforeTransaction, app: &'static shared::App, cid: &str) {
    let cid = cid.to_string();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            demote_and_promote(&client(other, "alice"), &cid, "bob").await;
        })
    });
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
    // A group from before the week-old invite below (its maker must have managed since).
    let now = shared::domain::time::now_ms();
    let cid = legacy_group(app, now - 9 * 86_400_000, &[("alice", Role::Owner)]).await;
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
    assert!(matches!(
        app.store.put_invite_once(&expired, None).await.unwrap(),
        PutInvite::Stored
    ));

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

/// What an outsider holding `code` and the owner `alice` see of a link that must be dead: the
/// accept and the preview answer as for a revoked link, the list says `disabled`, nobody joined.
async fn assert_dead(app: &'static shared::App, cid: &str, code: &str, why: &str) {
    let dave = client(app, "dave");
    let members = client(app, "alice")
        .conversation(cid)
        .await
        .ok()
        .member_count;
    let gone = (410, ErrorCode::InviteGone);
    assert_eq!(
        dave.accept_invite(code).await.error(),
        gone,
        "accept: {why}"
    );
    assert_eq!(
        dave.invite_preview(code).await.error(),
        gone,
        "preview: {why}"
    );
    assert_eq!(status_in_list(app, cid, code).await, "disabled", "{why}");
    let now = client(app, "alice")
        .conversation(cid)
        .await
        .ok()
        .member_count;
    assert_eq!(now, members, "nobody joined: {why}");
}

/// An outsider previews `code` and joins with it (as `joiner`), and the list says `active`.
async fn assert_live(app: &'static shared::App, cid: &str, code: &str, joiner: &str) {
    assert_eq!(status_in_list(app, cid, code).await, "active", "{joiner}");
    let outsider = client(app, joiner);
    assert_eq!(outsider.invite_preview(code).await.status, 200, "{joiner}");
    let joined = outsider.accept_invite(code).await;
    assert_eq!(joined.status, 201, "{joiner}: {:?}", joined.json);
}

async fn status_in_list(app: &'static shared::App, cid: &str, code: &str) -> String {
    let listed = client(app, "alice").invites(cid, Query::new()).await.ok();
    let found = listed.invites.into_iter().find(|i| i.code == code);
    found.expect("listed").status
}

/// A link disabled by demoting its maker stays dead when they are promoted again, as a revoked
/// one does: owners saw it `disabled` (it was perhaps posted somewhere public), and a promotion
/// must not silently bring back every link the person made before. Links they make after the
/// promotion work.
#[tokio::test]
async fn a_link_disabled_by_a_demotion_stays_dead_when_its_maker_is_promoted_again() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob) = (client(app, "alice"), client(app, "bob"));
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    let old = invite(&bob, &cid, json!({})).await;
    alice.change_role(&cid, "bob", Role::Member).await.ok();
    assert_dead(app, &cid, &old.code, "demoted").await;

    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    assert_dead(
        app,
        &cid,
        &old.code,
        "demoted, then promoted to admin again",
    )
    .await;
    alice.change_role(&cid, "bob", Role::Owner).await.ok();
    assert_dead(app, &cid, &old.code, "and then to owner").await;

    let new = invite(&bob, &cid, json!({})).await;
    assert_eq!(new.status, "active");
    assert_live(app, &cid, &new.code, "erin").await;
}

/// Moving between owner and admin never stops being able to invite, so it keeps the links
/// made before: the creator's own (made as owner, kept as admin) and an admin's made owner.
#[tokio::test]
async fn moving_between_owner_and_admin_keeps_the_links_working() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let (alice, bob) = (client(app, "alice"), client(app, "bob"));
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    let alices = invite(&alice, &cid, json!({})).await;
    let bobs = invite(&bob, &cid, json!({})).await;
    alice.change_role(&cid, "bob", Role::Owner).await.ok();
    bob.change_role(&cid, "alice", Role::Admin).await.ok();
    assert_live(app, &cid, &alices.code, "erin").await;
    assert_live(app, &cid, &bobs.code, "frank").await;
    // And back again.
    bob.change_role(&cid, "alice", Role::Owner).await.ok();
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    assert_live(app, &cid, &alices.code, "grace").await;
    assert_live(app, &cid, &bobs.code, "heidi").await;
}

/// Removing the maker kills their links; adding them back and promoting them (or adding them
/// back as an admin at once) does not revive them.
#[tokio::test]
async fn a_removed_maker_added_back_and_promoted_does_not_revive_old_links() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob", "carol"]).await;
    let alice = client(app, "alice");
    for user in ["bob", "carol"] {
        alice.change_role(&cid, user, Role::Admin).await.ok();
    }
    let bobs = invite(&client(app, "bob"), &cid, json!({})).await;
    let carols = invite(&client(app, "carol"), &cid, json!({})).await;
    for user in ["bob", "carol"] {
        assert_eq!(alice.remove_member(&cid, user).await.status, 204);
    }
    alice.add_member(&cid, "bob", None).await.created();
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    assert_dead(app, &cid, &bobs.code, "re-added, then promoted").await;
    alice
        .add_member(&cid, "carol", Some(Role::Admin))
        .await
        .created();
    assert_dead(app, &cid, &carols.code, "re-added as an admin").await;
    let new = invite(&client(app, "carol"), &cid, json!({})).await;
    assert_live(app, &cid, &new.code, "erin").await;
}

/// Member items stored before `manages_since` was kept count from joining: an admin's links
/// made since then keep working after the change is deployed, with nothing migrated.
#[tokio::test]
async fn links_of_admins_stored_before_manages_since_was_kept_still_work() {
    let app = stack().await;
    let joined = shared::domain::time::now_ms() - 86_400_000;
    let cid = legacy_group(app, joined, &[("alice", Role::Owner), ("bob", Role::Admin)]).await;
    let bobs = invite(&client(app, "bob"), &cid, json!({})).await;
    assert_live(app, &cid, &bobs.code, "erin").await;
    // From now on a demotion and promotion is recorded: the link stays dead.
    demote_and_promote(&client(app, "alice"), &cid, "bob").await;
    assert_dead(app, &cid, &bobs.code, "an old item, demoted and promoted").await;
}

/// The maker is demoted and promoted again after the accept has read their membership (as an
/// admin) but before its transaction: only the condition inside the write can see that the
/// link died, and it must, or the join lets someone in by a link the owners saw disabled.
#[tokio::test]
async fn a_demotion_and_promotion_just_before_the_join_commits_still_kill_the_link() {
    let (app, hook, cid) = raced_group_with_admin_bob().await;
    let alice = client(app, "alice");
    let link = invite(&client(app, "bob"), &cid, json!({})).await;
    demoted_and_promoted_first(&hook, app, &cid);
    let r = client(app, "dave").accept_invite(&link.code).await;
    assert!(
        hook.fired(),
        "the demotion and promotion ran before the join's write"
    );
    assert_eq!(r.error(), (410, ErrorCode::InviteGone));
    assert!(app.store.get_member(&cid, "dave").await.unwrap().is_none());
    let stored = app.store.get_invite(&link.code).await.unwrap().unwrap();
    assert_eq!(stored.uses, 0, "nothing spent");
    assert_eq!(alice.conversation(&cid).await.ok().member_count, 2);
}

/// The promotion was written by a function whose clock runs ahead of the one making the link
/// right after: the link still counts from the promotion, not from before it (born dead).
#[tokio::test]
async fn a_link_made_on_a_clock_behind_the_promotions_is_not_born_dead() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    client(app, "alice")
        .change_role(&cid, "bob", Role::Admin)
        .await
        .ok();
    app.config.clock.shift(-5_000);
    let link = invite(&client(app, "bob"), &cid, json!({})).await;
    assert_eq!(link.status, "active");
    assert_live(app, &cid, &link.code, "erin").await;
}

/// The maker is demoted and promoted again between the create's read of their role and its
/// write: the link would predate their new `manages_since`, dead at birth while answered
/// `active`. The write refuses it, the answer says to retry, and the retry (same key) makes a
/// link that works.
#[tokio::test]
async fn a_link_made_across_its_makers_demotion_and_promotion_is_not_stored_dead() {
    let (app, hook, cid) = raced_group_with_admin_bob().await;
    let alice = client(app, "alice");
    demoted_and_promoted_first(&hook, app, &cid);
    let bob = client(app, "bob");
    let body = json!({"client_request_id": "link-1"});
    let raced = bob.create_invite(&cid, body.clone()).await;
    assert!(
        hook.fired(),
        "the demotion and promotion ran before the write"
    );
    assert_eq!(raced.error(), (503, ErrorCode::Unavailable));
    let listed = alice.invites(&cid, Query::new()).await.ok();
    assert!(listed.invites.is_empty(), "no dead link stored");
    let retried = bob.create_invite(&cid, body).await.created();
    assert_eq!(retried.status, "active");
    assert_live(app, &cid, &retried.code, "erin").await;
}

/// A retry of a link's creation after its maker was demoted and promoted again answers the
/// link as it is (`disabled`), not `active`.
#[tokio::test]
async fn a_retried_create_shows_a_link_its_makers_demotion_killed_as_disabled() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let alice = client(app, "alice");
    alice.change_role(&cid, "bob", Role::Admin).await.ok();
    let bob = client(app, "bob");
    let body = json!({"client_request_id": "link-1"});
    let first = invite(&bob, &cid, body.clone()).await;
    demote_and_promote(&alice, &cid, "bob").await;
    let retried = bob.create_invite(&cid, body).await;
    assert_eq!(retried.status, 200, "{:?}", retried.json);
    let retried = retried.ok();
    assert_eq!(
        (retried.code, retried.status.as_str()),
        (first.code, "disabled")
    );
}
