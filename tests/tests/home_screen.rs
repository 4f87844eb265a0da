//! `GET /conversations` as the home screen (#26): groups by last activity with a preview of the
//! last entry, paged by a cursor that stays stable while groups get messages. The preview never
//! shows what a recall or deletion took back, whatever raced it.

use groupshare_tests::*;
use shared::api::conversations::ConversationSummary;
use shared::domain::model::{LastBodyView, Role};
use shared::domain::time::Clock;

async fn raced_stack(clock: Clock) -> (&'static shared::App, BeforeTransaction) {
    let hook = BeforeTransaction::default();
    let app = stack_with(Options {
        before_transaction: Some(hook.clone()),
        clock,
        ..Options::default()
    })
    .await;
    (app, hook)
}

/// `user`'s entry for `cid` in their group list, and the list's whole JSON.
async fn listed(app: &shared::App, user: &str, cid: &str) -> (ConversationSummary, String) {
    let reply = client(app, user).conversations(Query::new()).await;
    let raw = reply.json.to_string();
    let entry = reply
        .ok()
        .conversations
        .into_iter()
        .find(|c| c.conversation.conversation_id == cid)
        .expect("listed");
    (entry, raw)
}

fn event_of(c: &ConversationSummary) -> (String, Option<u64>) {
    match &c.last_message.as_ref().expect("a preview").body {
        LastBodyView::System { system } => (system.event.as_str().to_string(), system.seq),
        other => panic!("not a system entry: {other:?}"),
    }
}

/// What a recall or a deletion takes back leaves the preview with the same write: the preview
/// becomes the announcement, and nothing of the text or the file's name stays in the list, even
/// when another send committed between the deletion's decision and its write.
#[tokio::test]
async fn the_preview_of_a_recalled_or_deleted_message_leaks_nothing() {
    let (app, hook) = raced_stack(Clock::default()).await;
    let cid = create_group(app, "alice", &["bob", "carol"]).await;
    let alice = client(app, "alice");
    alice.change_role(&cid, "carol", Role::Admin).await.ok();

    let seq = send_text(app, &cid, "alice", "the launch code is\n\nwalrus").await;
    let (entry, _) = listed(app, "bob", &cid).await;
    let preview = entry.last_message.unwrap();
    assert_eq!((preview.seq, preview.sender.as_str()), (seq, "alice"));
    assert_eq!(
        preview.body,
        LastBodyView::Text {
            text: "the launch code is walrus".into()
        }
    );
    alice.delete_message(&cid, seq).await.ok();
    let (entry, raw) = listed(app, "bob", &cid).await;
    assert!(!raw.contains("walrus"), "{raw}");
    assert_eq!(event_of(&entry), ("message_recalled".into(), Some(seq)));
    assert_eq!(entry.last_seq, seq + 1);

    // A file: its name is the preview until an admin deletes it.
    upload(app, &cid, "alice", "salaries-2026.xlsx", "text/csv", b"a,b").await;
    let (entry, _) = listed(app, "bob", &cid).await;
    let file_seq = entry.last_seq;
    assert_eq!(
        entry.last_message.unwrap().body,
        LastBodyView::File {
            file_name: "salaries-2026.xlsx".into()
        }
    );
    client(app, "carol")
        .delete_message(&cid, file_seq)
        .await
        .ok();
    let (entry, raw) = listed(app, "bob", &cid).await;
    assert!(!raw.contains("salaries"), "{raw}");
    assert_eq!(event_of(&entry), ("message_deleted".into(), Some(file_seq)));

    // The recalled message is no longer the last when the recall commits: bob's send went
    // first. The preview is still the announcement, at the end.
    let secret = send_text(app, &cid, "alice", "second secret quokka").await;
    let c = cid.clone();
    hook.arm(move || {
        on_another_device(app, move |other| async move {
            send_text(other, &c, "bob", "hello").await;
        })
    });
    alice.delete_message(&cid, secret).await.ok();
    assert!(hook.fired());
    let (entry, raw) = listed(app, "carol", &cid).await;
    assert!(!raw.contains("quokka"), "{raw}");
    assert_eq!(entry.last_seq, secret + 2, "bob's message, then the recall");
    assert_eq!(event_of(&entry), ("message_recalled".into(), Some(secret)));
    // And nothing of it anywhere else a member reads about the group.
    let details = client(app, "carol").conversation(&cid).await;
    assert!(!details.json.to_string().contains("quokka"));
}

/// The groups `g[i]` for these `i`, in this order.
fn at(g: &[String], order: &[usize]) -> Vec<String> {
    order.iter().map(|&i| g[i].clone()).collect()
}

fn ids(page: &[ConversationSummary]) -> Vec<String> {
    page.iter()
        .map(|c| c.conversation.conversation_id.clone())
        .collect()
}

/// Pages resume after the last group a page showed, as that page saw it: groups that got a
/// message meanwhile move above the cursor (so no page shows a group twice), the others come
/// in order, and a clock running behind cannot move a group back below a page already read.
#[tokio::test]
async fn the_group_list_pages_stably_while_groups_get_messages() {
    let clock = Clock::default();
    let (app, _) = raced_stack(clock.clone()).await;
    // Seven groups of dana's, a second apart by the app's clock: g6 is the most recent.
    let mut g = Vec::new();
    for _ in 0..7 {
        g.push(create_group(app, "owner", &["dana"]).await);
        clock.shift(1_000);
    }
    let dana = client(app, "dana");
    let page = |query: Query| async { dana.conversations(query).await.ok() };

    let first = page(Query::limit(3)).await;
    assert_eq!(ids(&first.conversations), at(&g, &[6, 5, 4]));
    let cursor = first.cursor.clone().expect("more follow");
    assert!(first.conversations.iter().all(|c| c.unread_count == 1));

    // After the first page: a group it showed and one still to come get a message.
    send_text(app, &g[5], "owner", "on page one").await;
    clock.shift(1_000);
    send_text(app, &g[1], "owner", "further down").await;
    clock.shift(1_000);
    let second = page(Query::limit(3).and("cursor", cursor)).await;
    assert_eq!(ids(&second.conversations), at(&g, &[3, 2, 0]));
    assert_eq!(second.cursor, None);
    // What moved is on top of a fresh first page, most recent first.
    let fresh = page(Query::limit(10)).await;
    assert_eq!(ids(&fresh.conversations), at(&g, &[1, 5, 6, 4, 3, 2, 0]));
    assert_eq!(fresh.conversations[0].unread_count, 2);

    // A send stamped by a clock an hour behind (another function's) does not take g5 back
    // below the cursor of a page that showed it.
    let top = page(Query::limit(2)).await;
    assert_eq!(ids(&top.conversations), at(&g, &[1, 5]));
    let before = top.conversations[1].last_activity_at.clone();
    clock.shift(-3_600_000);
    let slow = send_text(app, &g[5], "owner", "from a slow clock").await;
    clock.shift(3_600_000);
    let rest = page(Query::limit(10).and("cursor", top.cursor.unwrap())).await;
    assert_eq!(ids(&rest.conversations), at(&g, &[6, 4, 3, 2, 0]));
    let (g5, _) = listed(app, "dana", &g[5]).await;
    assert_eq!(g5.last_activity_at, before, "activity never goes back");
    assert_eq!((g5.last_seq, g5.unread_count), (slow, 3));
}

/// A page is read in two steps (the groups, then the caller's memberships of the page's). The
/// caller's own send landing in between moves their marker past the counter the page read:
/// the page shows that group as read, never a marker beyond its own `last_seq`.
#[tokio::test]
async fn a_page_is_one_snapshot_when_a_send_lands_between_its_reads() {
    let (app, hook) = raced_stack(Clock::default()).await;
    let cid = create_group(app, "owner", &["dana"]).await;
    send_text(app, &cid, "owner", "hi dana").await;
    let c = cid.clone();
    let members = app.config.tables.members.clone();
    hook.arm_before("BatchGetItem", Some(&members), move || {
        on_another_device(app, move |other| async move {
            send_text(other, &c, "dana", "from my phone").await;
        })
    });
    let page = client(app, "dana").conversations(Query::new()).await.ok();
    assert!(hook.fired());
    let entry = &page.conversations[0];
    assert_eq!(
        (entry.last_seq, entry.read_seq, entry.unread_count),
        (2, 2, 0),
        "as of the page's read of the group"
    );
    let (now, _) = listed(app, "dana", &cid).await;
    assert_eq!((now.last_seq, now.read_seq, now.unread_count), (3, 3, 0));
}
