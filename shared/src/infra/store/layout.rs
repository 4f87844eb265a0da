//! Pins the stored layout: attribute names and types per item kind. Data already in tables
//! must keep reading back, so a change here is a migration, not a refactor.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::append::idempotency_item;
use super::codec::Item;
use super::conversations::{conversation_from_item, conversation_item};
use super::files::{file_from_item, file_item};
use super::members::{member_from_item, member_item};
use super::messages::{message_from_item, message_item};
use crate::domain::model::*;

/// `name: type` for every attribute (`S`, `N`), sorted.
fn shape(item: &Item) -> BTreeMap<String, &'static str> {
    item.iter()
        .map(|(k, v)| {
            let t = match v {
                AttributeValue::S(_) => "S",
                AttributeValue::N(_) => "N",
                AttributeValue::L(_) => "L",
                AttributeValue::M(_) => "M",
                AttributeValue::Bool(_) => "BOOL",
                _ => "other",
            };
            (k.clone(), t)
        })
        .collect()
}

fn expect(pairs: &[(&str, &'static str)]) -> BTreeMap<String, &'static str> {
    pairs.iter().map(|(k, t)| (k.to_string(), *t)).collect()
}

#[test]
fn conversation_layout() {
    let c = Conversation {
        conversation_id: "c".into(),
        title: "T".into(),
        created_by: "alice".into(),
        created_at_ms: 1,
        last_seq: 3,
        member_count: Some(2),
        last_activity_ms: None,
        last_message: None,
        created_for: None,
    };
    let item = conversation_item(&c, 1);
    let before_activity = [
        ("conversation_id", "S"),
        ("title", "S"),
        ("created_by", "S"),
        ("created_at", "N"),
        ("last_seq", "N"),
        ("owner_count", "N"),
        ("member_count", "N"),
    ];
    assert_eq!(shape(&item), expect(&before_activity));
    assert_eq!(conversation_from_item(&item).unwrap(), c);
    // Created with a `client_request_id`: the digest of its terms (S).
    let keyed = Conversation {
        created_for: Some("d1".into()),
        ..c.clone()
    };
    let item = conversation_item(&keyed, 1);
    let mut pairs = before_activity.to_vec();
    pairs.push(("created_for", "S"));
    assert_eq!(shape(&item), expect(&pairs));
    assert_eq!(conversation_from_item(&item).unwrap(), keyed);

    // With activity: `last_activity` (N) and `last_message` (M), whose attributes are a
    // message's (a snippet of a text, a file's name, a system event's).
    let previews = [
        (LastBody::Text("hi".into()), "text", vec![("text", "S")]),
        (
            LastBody::File("a.pdf".into()),
            "file",
            vec![("file_name", "S")],
        ),
        (
            LastBody::System(SystemEvent {
                event: SystemEventKind::MessageRecalled,
                user_id: "bob".into(),
                role: None,
                seq: Some(2),
            }),
            "system",
            vec![
                ("system_event", "S"),
                ("system_user", "S"),
                ("system_seq", "N"),
            ],
        ),
        (LastBody::Deleted, "deleted", vec![]),
    ];
    for (body, kind, fields) in previews {
        let c = Conversation {
            last_activity_ms: Some(8),
            last_message: Some(LastMessage {
                seq: 3,
                sender: "alice".into(),
                sent_at_ms: 8,
                body,
            }),
            ..c.clone()
        };
        let item = conversation_item(&c, 1);
        let mut pairs = before_activity.to_vec();
        pairs.extend([("last_activity", "N"), ("last_message", "M")]);
        assert_eq!(shape(&item), expect(&pairs));
        let AttributeValue::M(last) = &item["last_message"] else {
            unreachable!()
        };
        let mut pairs = vec![
            ("seq", "N"),
            ("sender", "S"),
            ("sent_at", "N"),
            ("kind", "S"),
        ];
        pairs.extend(fields);
        assert_eq!(shape(last), expect(&pairs), "{kind}");
        assert_eq!(last["kind"], AttributeValue::S(kind.into()));
        assert_eq!(conversation_from_item(&item).unwrap(), c);
    }
}

#[test]
fn member_layout() {
    let m = Member {
        conversation_id: "c".into(),
        user_id: "bob".into(),
        role: Role::Admin,
        joined_at_ms: 5,
        joined_seq: 3,
        read_seq: 4,
        manages_since_ms: Some(6),
        acted: true,
    };
    let item = member_item(&m);
    assert_eq!(
        shape(&item),
        expect(&[
            ("conversation_id", "S"),
            ("user_id", "S"),
            ("role", "S"),
            ("joined_at", "N"),
            ("joined_seq", "N"),
            ("read_seq", "N"),
            ("manages_since", "N"),
            ("acted", "BOOL"),
        ])
    );
    assert_eq!(item["role"], AttributeValue::S("admin".into()));
    assert_eq!(member_from_item(&item).unwrap(), m);
    // Stored before read markers or the joining seq: neither, each read as 0.
    let mut before = item.clone();
    before.remove("joined_seq");
    assert_eq!(member_from_item(&before).unwrap().joined_seq, 0);
    before.remove("read_seq");
    assert_eq!(member_from_item(&before).unwrap().read_seq, 0);
    // A plain member (or an item from before it was kept) has no `manages_since`.
    before.remove("manages_since");
    let plain = member_from_item(&before).unwrap();
    assert_eq!(plain.manages_since_ms, None);
    // Until they act (and on items from before it was kept), no `acted`.
    before.remove("acted");
    assert!(!member_from_item(&before).unwrap().acted);
    let put_in = Member { acted: false, ..m };
    assert!(!member_item(&put_in).contains_key("acted"));
    assert!(
        plain.has_managed_since(5) && !plain.has_managed_since(4),
        "from joining"
    );
}

fn message(body: MessageBody) -> Message {
    Message {
        conversation_id: "c".into(),
        seq: 7,
        message_id: "m".into(),
        sender: "alice".into(),
        sent_at_ms: 9,
        body,
    }
}

#[test]
fn message_layouts() {
    let common = [
        ("conversation_id", "S"),
        ("seq", "N"),
        ("message_id", "S"),
        ("sender", "S"),
        ("sent_at", "N"),
        ("kind", "S"),
    ];
    let cases = [
        (MessageBody::Text("hi".into()), "text", vec![("text", "S")]),
        (
            MessageBody::File(FileSummary {
                file_id: "f".into(),
                name: "季度报告.pdf".into(),
                size: 10,
                content_type: "application/pdf".into(),
                forwarded: None,
            }),
            "file",
            vec![
                ("file_id", "S"),
                ("file_name", "S"),
                ("file_size", "N"),
                ("file_content_type", "S"),
            ],
        ),
        (
            MessageBody::File(FileSummary {
                file_id: "f".into(),
                name: "a.pdf".into(),
                size: 10,
                content_type: "application/pdf".into(),
                forwarded: Some(crate::domain::model::Forwarded::from("c0")),
            }),
            "file",
            vec![
                ("file_id", "S"),
                ("file_name", "S"),
                ("file_size", "N"),
                ("file_content_type", "S"),
                ("forwarded_from", "S"),
            ],
        ),
        (
            MessageBody::System(SystemEvent {
                event: SystemEventKind::RoleChanged,
                user_id: "bob".into(),
                role: Some(Role::Owner),
                seq: None,
            }),
            "system",
            vec![
                ("system_event", "S"),
                ("system_user", "S"),
                ("system_role", "S"),
            ],
        ),
        (
            MessageBody::System(SystemEvent {
                event: SystemEventKind::MemberLeft,
                user_id: "bob".into(),
                role: None,
                seq: None,
            }),
            "system",
            vec![("system_event", "S"), ("system_user", "S")],
        ),
        (
            MessageBody::System(SystemEvent {
                seq: Some(4),
                ..SystemEvent::new(SystemEventKind::MessageDeleted, "bob")
            }),
            "system",
            vec![
                ("system_event", "S"),
                ("system_user", "S"),
                ("system_seq", "N"),
            ],
        ),
        (
            MessageBody::Deleted(Deletion {
                by: "carol".into(),
                at_ms: 9,
                file_id: Some("f1".into()),
            }),
            "deleted",
            vec![
                ("deleted_by", "S"),
                ("deleted_at", "N"),
                ("deleted_file_id", "S"),
            ],
        ),
    ];
    for (body, kind, extra) in cases {
        let m = message(body);
        let item = message_item(&m);
        let mut want: Vec<(&str, &'static str)> = common.to_vec();
        want.extend(extra);
        assert_eq!(shape(&item), expect(&want), "{kind}");
        assert_eq!(item["kind"], AttributeValue::S(kind.into()));
        assert_eq!(message_from_item(&item).unwrap(), m);
    }
}

fn file(status: StoredFileStatus) -> FileRecord {
    FileRecord {
        file_id: "f".into(),
        conversation_id: "c".into(),
        name: "a.txt".into(),
        size: 3,
        content_type: "text/plain".into(),
        sha256: None,
        uploader: "alice".into(),
        uploaded_at_ms: 1,
        expires_at_ms: None,
        status,
        s3_key: "files/c/f".into(),
        message_seq: None,
        upload_deadline_ms: Some(2),
        s3_version: None,
        deleted_at_ms: None,
        multipart: None,
        preview: PreviewRecord::default(),
        forwarded_from: None,
    }
}

#[test]
fn file_layouts() {
    let base = [
        ("file_id", "S"),
        ("conversation_id", "S"),
        ("name", "S"),
        ("size", "N"),
        ("content_type", "S"),
        ("uploader", "S"),
        ("uploaded_at", "N"),
        ("status", "S"),
        ("s3_key", "S"),
        ("upload_deadline", "N"),
    ];
    // A layout's attributes: the ones it builds on and its own.
    let plus = |on: &[(&'static str, &'static str)], own: &[(&'static str, &'static str)]| {
        expect(&[on, own].concat())
    };
    let pending = file(StoredFileStatus::Pending);
    let item = file_item(&pending);
    assert_eq!(shape(&item), plus(&base, &[("pending_shard", "S")]));
    assert_eq!(item["pending_shard"], AttributeValue::S("pending".into()));
    assert_eq!(item["status"], AttributeValue::S("pending".into()));
    assert_eq!(file_from_item(&item).unwrap(), pending);

    let available = FileRecord {
        sha256: Some("ab".repeat(32)),
        expires_at_ms: Some(4),
        message_seq: Some(5),
        s3_version: Some("v1".into()),
        ..file(StoredFileStatus::Available)
    };
    let item = file_item(&available);
    let available_attributes = [
        base.as_slice(),
        &[
            ("sha256", "S"),
            ("expires_at", "N"),
            ("message_seq", "N"),
            ("s3_version", "S"),
        ],
    ]
    .concat();
    assert_eq!(shape(&item), expect(&available_attributes));
    assert_eq!(file_from_item(&item).unwrap(), available);

    let forwarded = FileRecord {
        forwarded_from: Some(crate::domain::model::ForwardSource {
            conversation_id: "c0".into(),
            file_id: "f0".into(),
        }),
        ..available.clone()
    };
    let item = file_item(&forwarded);
    let own = [
        ("forwarded_from_conversation", "S"),
        ("forwarded_from_file", "S"),
    ];
    assert_eq!(shape(&item), plus(&available_attributes, &own));
    assert_eq!(file_from_item(&item).unwrap(), forwarded);

    let deleted = FileRecord {
        deleted_at_ms: Some(6),
        ..file(StoredFileStatus::Deleted)
    };
    let item = file_item(&deleted);
    assert_eq!(shape(&item), plus(&base, &[("deleted_at", "N")]));
    assert_eq!(file_from_item(&item).unwrap(), deleted);

    let multipart = FileRecord {
        multipart: Some(MultipartState {
            upload_id: "u1".into(),
            part_size: 16 << 20,
            checksum_sha256: Some("q83vEjRWeJA=-3".into()),
        }),
        ..available.clone()
    };
    let item = file_item(&multipart);
    let own = [
        ("multipart_upload_id", "S"),
        ("multipart_part_size", "N"),
        ("multipart_checksum", "S"),
    ];
    assert_eq!(shape(&item), plus(&available_attributes, &own));
    assert_eq!(file_from_item(&item).unwrap(), multipart);

    // An image whose preview job ran: its size, status and the list of preview sizes.
    let previewed = FileRecord {
        content_type: "image/jpeg".into(),
        preview: PreviewRecord {
            status: Some(PreviewStatus::Ready),
            reason: None,
            width: Some(4000),
            height: Some(3000),
            sizes: vec![PreviewDimensions {
                size: PreviewSize::Small,
                width: 320,
                height: 240,
            }],
        },
        ..available.clone()
    };
    let item = file_item(&previewed);
    let own = [
        ("width", "N"),
        ("height", "N"),
        ("preview_status", "S"),
        ("preview_sizes", "L"),
    ];
    assert_eq!(shape(&item), plus(&available_attributes, &own));
    assert_eq!(item["preview_status"], AttributeValue::S("ready".into()));
    let AttributeValue::L(sizes) = &item["preview_sizes"] else {
        panic!("a list")
    };
    let AttributeValue::M(small) = &sizes[0] else {
        panic!("a map")
    };
    assert_eq!(small["size"], AttributeValue::S("small".into()));
    assert_eq!(small["width"], AttributeValue::N("320".into()));
    assert_eq!(small["height"], AttributeValue::N("240".into()));
    assert_eq!(file_from_item(&item).unwrap(), previewed);

    let refused = FileRecord {
        preview: PreviewRecord {
            status: Some(PreviewStatus::None),
            reason: Some(NoPreviewReason::TooLarge),
            ..PreviewRecord::default()
        },
        ..available
    };
    let item = file_item(&refused);
    assert_eq!(
        item["preview_reason"],
        AttributeValue::S("too_large".into())
    );
    assert_eq!(file_from_item(&item).unwrap(), refused);
}

#[test]
fn idempotency_layout() {
    let item = idempotency_item("c", "msg#alice#k", 4, 1_000_000);
    assert_eq!(
        shape(&item),
        expect(&[
            ("conversation_id", "S"),
            ("request_key", "S"),
            ("seq", "N"),
            ("expires_at_s", "N"),
        ])
    );
    assert_eq!(
        item["expires_at_s"],
        AttributeValue::N((1_000 + super::append::IDEMPOTENCY_WINDOW_SECS).to_string())
    );
}
