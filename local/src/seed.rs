//! Demo data: one group (alice owns it, bob and carol are members) with some history and a few
//! files, among them a non-ASCII name and an expired one. Fixed ids, so `events/` and the README's
//! curl lines point at real data. Seeding twice changes nothing.

use aws_sdk_s3::primitives::ByteStream;
use shared::api::uploads::complete_file;
use shared::domain::model::*;
use shared::domain::time;
use shared::infra::blob::object_key;
use shared::infra::store::{Append, Created, Guard};
use shared::App;

pub const CONVERSATION: &str = "demo-team";
pub const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// (file id, name, content type, bytes, expired?)
fn demo_files() -> Vec<(&'static str, &'static str, &'static str, Vec<u8>, bool)> {
    vec![
        (
            "demo-report",
            "季度报告.pdf",
            "application/pdf",
            b"%PDF-1.4\n% GroupShare demo report\n".to_vec(),
            false,
        ),
        (
            "demo-notes",
            "meeting notes.txt",
            "text/plain",
            b"1. ship it\n2. celebrate\n".to_vec(),
            false,
        ),
        (
            "demo-old",
            "old-draft.txt",
            "text/plain",
            b"an old draft nobody needs\n".to_vec(),
            true,
        ),
    ]
}

/// Seeds unless the demo group exists. Returns whether it seeded.
pub async fn seed(app: &App, bucket: &str) -> Result<bool, crate::provision::Error> {
    if app.store.get_member(CONVERSATION, "alice").await?.is_some() {
        return Ok(false);
    }
    let now = time::now_ms();
    let first = Message {
        conversation_id: CONVERSATION.into(),
        seq: 1,
        message_id: shared::domain::ids::new_id(),
        sender: "alice".into(),
        sent_at_ms: now,
        body: MessageBody::System(SystemEvent::new(
            SystemEventKind::ConversationCreated,
            "alice",
        )),
    };
    let conversation = Conversation {
        conversation_id: CONVERSATION.into(),
        title: "Demo team".into(),
        created_by: "alice".into(),
        created_at_ms: now,
        last_seq: 1,
        member_count: Some(USERS.len() as u64),
        last_activity_ms: Some(now),
        last_message: Some(LastMessage::of(&first)),
        created_for: None,
    };
    // alice created it (read); the others have its first entry to read.
    let members: Vec<Member> = USERS
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let role = if i == 0 { Role::Owner } else { Role::Member };
            Member {
                acted: i == 0,
                read_seq: u64::from(i == 0),
                ..Member::new(CONVERSATION, u, role, now, 1)
            }
        })
        .collect();
    let created = app
        .store
        .create_conversation(&conversation, &members, &first)
        .await?;
    assert_eq!(created, Created::Now, "the demo group is seeded once");
    // Names, as each would have chosen at their first sign-in.
    for user in USERS {
        let mut name = user.to_string();
        name[..1].make_ascii_uppercase();
        app.store
            .update_profile(user, Some(&name), None, now)
            .await?;
    }

    for (sender, text) in [
        ("alice", "Welcome to the demo team!"),
        ("bob", "Hi all. Could someone share the quarterly report?"),
        ("alice", "Sure, here it is:"),
    ] {
        append_text(app, sender, text).await?;
    }
    for (file_id, name, content_type, bytes, expired) in demo_files() {
        let key = object_key(CONVERSATION, file_id, app.config.retention_days);
        app.blobs
            .client()
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type(content_type)
            // S3 keeps the SHA-256 it checked, which completion requires for a declared hash.
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await?;
        let record = FileRecord {
            file_id: file_id.into(),
            conversation_id: CONVERSATION.into(),
            name: name.into(),
            size: bytes.len() as u64,
            content_type: content_type.into(),
            sha256: Some(sha256_hex(&bytes)),
            uploader: "alice".into(),
            uploaded_at_ms: time::now_ms(),
            expires_at_ms: None,
            status: StoredFileStatus::Pending,
            s3_key: key,
            message_seq: None,
            upload_deadline_ms: None,
            s3_version: None,
            deleted_at_ms: None,
            multipart: None,
            preview: Default::default(),
            forwarded_from: None,
        };
        app.store.put_new_file(&record).await?;
        // The real completion path: checks the object, announces the file in history.
        complete_file(app, record).await?;
        if expired {
            let mut stored = app
                .store
                .get_file(file_id)
                .await?
                .ok_or("seeded file vanished")?;
            stored.expires_at_ms = Some(time::now_ms() - 86_400_000);
            app.store.put_file_record(&stored).await?;
        }
    }
    append_text(app, "carol", "Thanks! Downloading on my new phone now.").await?;
    Ok(true)
}

async fn append_text(app: &App, sender: &str, text: &str) -> Result<(), shared::ApiError> {
    let message_id = shared::domain::ids::new_id();
    let now = time::now_ms();
    app.store
        .append_message(
            Append::new(CONVERSATION, Guard::Member(sender)),
            |_| Vec::new(),
            |seq| Message {
                conversation_id: CONVERSATION.into(),
                seq,
                message_id: message_id.clone(),
                sender: sender.into(),
                sent_at_ms: now,
                body: MessageBody::Text(text.into()),
            },
        )
        .await?;
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
