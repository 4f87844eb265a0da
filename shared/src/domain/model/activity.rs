//! Where a member left off and what the group list shows of each group: the read marker, the
//! unread count, and the last entry of history as a preview.

use super::*;

/// Characters of a text message a preview keeps (after runs of whitespace became one space).
pub const PREVIEW_TEXT_CHARS: usize = 100;

/// The last entry of a conversation's history as the group list shows it: who, when, what kind,
/// and only a snippet of what. The append that writes an entry stores it on the conversation
/// item in the same transaction, so it is always the entry at `last_seq`; a deletion appends
/// its announcement, which replaces it in that transaction: nothing of a deleted message can
/// stay here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastMessage {
    pub seq: u64,
    pub sender: String,
    pub sent_at_ms: i64,
    pub body: LastBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LastBody {
    /// The first [`PREVIEW_TEXT_CHARS`] characters, `…` when cut.
    Text(String),
    /// A file message: the file's name.
    File(String),
    System(SystemEvent),
    /// A tombstone: nothing of the content.
    Deleted,
}

impl LastMessage {
    pub fn of(m: &Message) -> Self {
        let body = match &m.body {
            MessageBody::Text(text) => LastBody::Text(snippet(text)),
            MessageBody::File(f) => LastBody::File(f.name.clone()),
            MessageBody::System(e) => LastBody::System(e.clone()),
            MessageBody::Deleted(_) => LastBody::Deleted,
        };
        Self {
            seq: m.seq,
            sender: m.sender.clone(),
            sent_at_ms: m.sent_at_ms,
            body,
        }
    }
}

/// A text's beginning for a preview: whitespace runs (line breaks too) as one space, at most
/// [`PREVIEW_TEXT_CHARS`] characters, and `…` when something was cut.
pub fn snippet(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        for c in (!out.is_empty())
            .then_some(' ')
            .into_iter()
            .chain(word.chars())
        {
            if chars == PREVIEW_TEXT_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// A preview as the API shows it: `seq`, `sender`, `sent_at`, and by `kind` the snippet
/// (`text`), the file's name (`file_name`) or the event (`system`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessageView {
    pub seq: u64,
    pub sender: String,
    pub sent_at: String,
    #[serde(flatten)]
    pub body: LastBodyView,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LastBodyView {
    Text { text: String },
    File { file_name: String },
    System { system: SystemEvent },
    Deleted {},
}

impl From<&LastMessage> for LastMessageView {
    fn from(m: &LastMessage) -> Self {
        Self {
            seq: m.seq,
            sender: m.sender.clone(),
            sent_at: rfc3339(m.sent_at_ms),
            body: match &m.body {
                LastBody::Text(text) => LastBodyView::Text { text: text.clone() },
                LastBody::File(name) => LastBodyView::File {
                    file_name: name.clone(),
                },
                LastBody::System(e) => LastBodyView::System { system: e.clone() },
                LastBody::Deleted => LastBodyView::Deleted {},
            },
        }
    }
}

/// Entries of history after `read_seq`. Every append a member makes moves their own marker to
/// it in the same transaction, so none of these is theirs (docs/openapi.yaml, `unread_count`).
/// A marker read after the counter can be ahead of it (the member sent meanwhile): nothing
/// is unread then.
pub fn unread(last_seq: u64, read_seq: u64) -> u64 {
    last_seq.saturating_sub(read_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_collapse_whitespace_and_cut_at_a_hundred_characters() {
        assert_eq!(snippet("  hello\n\n  world\t!  "), "hello world !");
        let exact = "é".repeat(PREVIEW_TEXT_CHARS);
        assert_eq!(snippet(&exact), exact);
        let long = format!("{exact}x");
        assert_eq!(snippet(&long), format!("{exact}…"));
        // A space that would be the 101st character is cut like any other.
        let spaced = format!("{} tail", "a".repeat(PREVIEW_TEXT_CHARS));
        assert_eq!(
            snippet(&spaced),
            format!("{}…", "a".repeat(PREVIEW_TEXT_CHARS))
        );
        assert_eq!(
            snippet("季度报告 ".repeat(40).as_str()).chars().count(),
            101
        );
    }

    #[test]
    fn a_tombstone_previews_as_deleted_with_nothing_of_its_content() {
        let m = Message {
            conversation_id: "c".into(),
            seq: 4,
            message_id: "m".into(),
            sender: "alice".into(),
            sent_at_ms: 0,
            body: MessageBody::Deleted(Deletion {
                by: "alice".into(),
                at_ms: 1,
                file_id: Some("f".into()),
            }),
        };
        let v = serde_json::to_value(LastMessageView::from(&LastMessage::of(&m))).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["kind", "sender", "sent_at", "seq"]);
        assert_eq!(v["kind"], "deleted");
    }

    #[test]
    fn unread_never_goes_below_zero() {
        assert_eq!(unread(10, 7), 3);
        assert_eq!(unread(10, 12), 0);
    }
}
