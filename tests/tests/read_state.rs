//! Read markers and unread counts (#26): a member's marker moves forward only, whichever of
//! their devices moves it and in whatever order; it never recreates a membership; and the
//! unread count is always exactly what history says: the entries after the marker, none of
//! them the member's own. Races are forced (`BeforeTransaction`), so each test fails every
//! time its guard is removed.

use groupshare_tests::*;
use shared::domain::model::{MessageView, Role};

/// Arms `hook` with `user`'s send of `text` from another device, just before the app's next
/// `operation` (on the members table, for an `UpdateItem`: a marker's write).
fn send_first(
    hook: &BeforeTransaction,
    app: &'static shared::App,
    operation: &'static str,
    cid: &str,
    user: &'static str,
    text: &'static str,
) {
    let naming = (operation == "UpdateItem").then(|| app.config.tables.members.clone());
    let cid = cid.to_string();
    hook.arm_before(operation, naming.as_deref(), move || {
        on_another_device(app, move |other| async move {
            send_text(other, &cid, user, text).await;
        })
    });
}

async fn assert_all_unread_is_history(app: &shared::App, cid: &str, users: &[&str]) {
    for user in users {
        assert_unread_is_history(app, cid, user).await;
    }
}

/// `user`'s unread count is what history says, by every route that shows it: the entries after
/// their marker, and none of those entries is theirs (their own appends move their marker).
async fn assert_unread_is_history(app: &shared::App, cid: &str, user: &str) {
    let api = client(app, user);
    let details = api.conversation(cid).await.ok();
    let history: Vec<MessageView> = api.messages(cid, Query::limit(1000)).await.ok().messages;
    assert_eq!(history.last().unwrap().seq, details.last_seq, "{user}");
    let after: Vec<&MessageView> = history
        .iter()
        .filter(|m| m.seq > details.read_seq)
        .collect();
    assert_eq!(
        details.unread_count as usize,
        after.len(),
        "{user}: unread is the entries after the marker {}",
        details.read_seq
    );
    // `member_joined` names the inviter as sender; the joiner made it.
    let own: Vec<_> = after
        .iter()
        .filter(|m| m.sender == user)
        .filter(|m| m.system.as_ref().is_none_or(|s| s.event != "member_joined"))
        .collect();
    assert!(
        own.is_empty(),
        "{user}'s own entries after their marker: {own:?}"
    );
    let listed = api
        .conversations(Query::new())
        .await
        .ok()
        .conversations
        .into_iter()
        .find(|c| c.conversation.conversation_id == cid)
        .expect("the group is listed");
    assert_eq!(
        (listed.last_seq, listed.read_seq, listed.unread_count),
        (details.last_seq, details.read_seq, details.unread_count),
        "{user}: the group list says the same"
    );
}

/// Two devices of one member race: the one that asked for the lower marker writes last, and
/// the higher one stays. Nothing ever moves a marker back; nobody but members moves one.
#[tokio::test]
async fn markers_move_forward_only_and_racing_devices_leave_the_higher() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    for i in 1..=10 {
        send_text(app, &cid, "alice", &format!("m{i}")).await;
    }
    let bob = client(app, "bob");
    assert_eq!(bob.conversation(&cid).await.ok().unread_count, 11);

    // Bob's phone marks 4; just before its write, his laptop marks 9.
    let (c, members) = (cid.clone(), app.config.tables.members.clone());
    hook.arm_before("UpdateItem", Some(&members), move || {
        on_another_device(app, move |other| async move {
            let laptop = client(other, "bob").mark_read(&c, 9).await.ok();
            assert_eq!(laptop.read_seq, 9);
        })
    });
    let phone = bob.mark_read(&cid, 4).await.ok();
    assert!(
        hook.fired(),
        "the laptop's mark ran before the phone's write"
    );
    assert_eq!(
        (phone.read_seq, phone.last_seq, phone.unread_count),
        (9, 11, 2),
        "the phone is told where the marker is"
    );
    let now = bob.conversation(&cid).await.ok();
    assert_eq!((now.read_seq, now.unread_count), (9, 2));

    // Never back; forward to the end.
    assert_eq!(bob.mark_read(&cid, 3).await.ok().read_seq, 9);
    let done = bob.mark_read(&cid, 11).await.ok();
    assert_eq!((done.read_seq, done.unread_count), (11, 0));

    // Past the end, or 0: refused. Outsiders get the 404 of a group that does not exist,
    // whatever they send (nothing of the group's length leaks).
    assert_eq!(
        bob.mark_read(&cid, 12).await.error(),
        (400, ErrorCode::InvalidSeq)
    );
    assert_eq!(
        bob.mark_read(&cid, 0).await.error(),
        (400, ErrorCode::InvalidSeq)
    );
    let mallory = client(app, "mallory");
    for seq in [1, 12, 1 << 40] {
        assert_eq!(
            mallory.mark_read(&cid, seq).await.error(),
            (404, ErrorCode::NotFound)
        );
    }
    assert_eq!(
        bob.mark_read("no-such-group", 1).await.error(),
        (404, ErrorCode::NotFound)
    );
    assert!(app
        .store
        .get_member(&cid, "mallory")
        .await
        .unwrap()
        .is_none());
}

/// A member removed between the checks and the write gets the usual 404, and the write creates
/// nothing: a marker must never bring back a membership.
#[tokio::test]
async fn a_member_removed_while_marking_gets_404_and_no_membership_back() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    send_text(app, &cid, "alice", "hello").await;
    let (c, members) = (cid.clone(), app.config.tables.members.clone());
    hook.arm_before("UpdateItem", Some(&members), move || {
        on_another_device(app, move |other| async move {
            let removed = client(other, "alice").remove_member(&c, "bob").await;
            assert_eq!(removed.status, 204);
        })
    });
    let marked = client(app, "bob").mark_read(&cid, 2).await;
    assert!(hook.fired());
    assert_eq!(marked.error(), (404, ErrorCode::NotFound));
    assert!(
        app.store.get_member(&cid, "bob").await.unwrap().is_none(),
        "no member item came back"
    );
    let listed = client(app, "bob").conversations(Query::new()).await.ok();
    assert!(listed.conversations.is_empty());
}

/// The unread count stays exactly what history says while sends, marks, recalls and
/// deletions race, each race forced: a mark written just after someone's send, a stale mark
/// from one device after a send from another, a recall and a deletion whose transaction goes
/// just after another send, and then everyone at once.
#[tokio::test]
async fn unread_counts_match_history_under_racing_sends_recalls_and_deletions() {
    let (app, hook) = raced_stack().await;
    let cid = create_group(app, "alice", &["bob", "carol"]).await;
    client(app, "alice")
        .change_role(&cid, "carol", Role::Admin)
        .await
        .ok();
    let mut seqs = Vec::new();
    for text in ["one", "two", "three"] {
        seqs.push(send_text(app, &cid, "alice", text).await);
    }
    let users = ["alice", "bob", "carol"];
    assert_all_unread_is_history(app, &cid, &users).await;
    let bob = client(app, "bob");

    // 1. Bob marks everything he has; alice's send commits just before his marker is written.
    let seen = bob.conversation(&cid).await.ok().last_seq;
    send_first(&hook, app, "UpdateItem", &cid, "alice", "raced a mark");
    assert_eq!(bob.mark_read(&cid, seen).await.ok().read_seq, seen);
    assert!(hook.fired());
    assert_eq!(bob.conversation(&cid).await.ok().unread_count, 1);
    assert_all_unread_is_history(app, &cid, &users).await;

    // 2. Bob's tablet marks what it had; just before, his phone's message committed (which
    //    moved his marker past it). The stale mark leaves the marker where the send put it.
    let stale = bob.conversation(&cid).await.ok().last_seq;
    send_first(&hook, app, "UpdateItem", &cid, "bob", "from my phone");
    let after = bob.mark_read(&cid, stale).await.ok();
    assert!(hook.fired());
    assert_eq!(after.read_seq, stale + 1, "the send's marker stays");
    assert_eq!(bob.conversation(&cid).await.ok().unread_count, 0);
    assert_all_unread_is_history(app, &cid, &users).await;

    // 3. Alice recalls "two", carol's send committing just before the recall's transaction;
    // 4. carol (admin) deletes alice's "three", bob's send committing just before.
    for (deleter, racer, seq) in [("alice", "carol", seqs[1]), ("carol", "bob", seqs[2])] {
        send_first(
            &hook,
            app,
            "TransactWriteItems",
            &cid,
            racer,
            "racing a deletion",
        );
        client(app, deleter).delete_message(&cid, seq).await.ok();
        assert!(hook.fired());
        assert_all_unread_is_history(app, &cid, &users).await;
    }

    // 5. Everyone at once: five sends each, bob marking what he has after each of his.
    let work = users.map(|user| {
        let cid = cid.clone();
        async move {
            for i in 0..5 {
                send_text(app, &cid, user, &format!("{user} {i}")).await;
                if user == "bob" {
                    let api = client(app, "bob");
                    let last = api.conversation(&cid).await.ok().last_seq;
                    api.mark_read(&cid, last).await.ok();
                }
            }
        }
    });
    futures::future::join_all(work).await;
    assert_all_unread_is_history(app, &cid, &users).await;
}

/// Whoever starts where: the creator has read the creation, the others have it to read; a
/// member added by someone else has everything before read and their addition unread; one who
/// joins by invite has nothing unread (and the inviter has the join to read, though it names
/// them as sender: the joiner made it).
#[tokio::test]
async fn new_members_start_where_their_arrival_puts_them() {
    let app = stack().await;
    let cid = create_group(app, "alice", &["bob"]).await;
    let state = |user: &'static str| {
        let cid = cid.clone();
        async move {
            let d = client(app, user).conversation(&cid).await.ok();
            (d.read_seq, d.unread_count)
        }
    };
    assert_eq!(state("alice").await, (1, 0));
    assert_eq!(state("bob").await, (0, 1));
    for i in 0..3 {
        send_text(app, &cid, "bob", &format!("b{i}")).await;
    }
    assert_eq!(state("bob").await, (4, 0), "his sends moved his marker");
    client(app, "alice")
        .add_member(&cid, "carol", None)
        .await
        .created();
    assert_eq!(state("carol").await, (4, 1), "only their addition is new");
    let invite = client(app, "alice")
        .create_invite(&cid, serde_json::json!({}))
        .await
        .created();
    client(app, "dave")
        .accept_invite(&invite.code)
        .await
        .created();
    assert_eq!(state("dave").await, (6, 0));
    assert_eq!(
        state("alice").await,
        (5, 1),
        "dave joining is news to alice"
    );
    assert_all_unread_is_history(app, &cid, &["alice", "bob", "carol", "dave"]).await;
}
