//! Keeps local data across runs: the stand-in (moto) holds data in memory, so on shutdown every
//! table and object is written under `.local/data/`, and loaded back into fresh, empty tables on
//! the next start. A local-development convenience only: scans are fine here, never in the API.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use shared::config::Tables;

use crate::provision::Error;

fn table_list(t: &Tables) -> [(&'static str, &str); 5] {
    [
        ("conversations", &t.conversations),
        ("members", &t.members),
        ("messages", &t.messages),
        ("files", &t.files),
        ("idempotency", &t.idempotency),
    ]
}

pub async fn save(
    ddb: &aws_sdk_dynamodb::Client,
    s3: &aws_sdk_s3::Client,
    tables: &Tables,
    bucket: &str,
    dir: &Path,
) -> Result<(), Error> {
    let tmp = dir.with_extension("saving");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("objects"))?;
    for (role, table) in table_list(tables) {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = ddb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            items.extend(out.items.unwrap_or_default().iter().map(item_to_json));
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        std::fs::write(
            tmp.join(format!("{role}.json")),
            serde_json::to_vec(&items)?,
        )?;
    }
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await?;
        for o in out.contents.unwrap_or_default() {
            let key = o.key.unwrap_or_default();
            let got = s3.get_object().bucket(bucket).key(&key).send().await?;
            let content_type = got.content_type.clone();
            let bytes = got.body.collect().await?.into_bytes();
            let file = format!("{}", objects.len());
            std::fs::write(tmp.join("objects").join(&file), &bytes)?;
            objects.push(json!({"key": key, "file": file, "content_type": content_type}));
        }
        token = out.next_continuation_token;
        if token.is_none() {
            break;
        }
    }
    std::fs::write(tmp.join("objects.json"), serde_json::to_vec(&objects)?)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

/// Loads a snapshot into empty tables. Returns false if there is none.
pub async fn restore(
    ddb: &aws_sdk_dynamodb::Client,
    s3: &aws_sdk_s3::Client,
    tables: &Tables,
    bucket: &str,
    dir: &Path,
) -> Result<bool, Error> {
    if !dir.join("objects.json").exists() {
        return Ok(false);
    }
    for (role, table) in table_list(tables) {
        let items: Vec<Value> =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{role}.json")))?)?;
        for chunk in items.chunks(25) {
            let writes = chunk
                .iter()
                .map(|i| {
                    let item = json_to_item(i).ok_or("malformed snapshot item")?;
                    Ok(WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                        .build())
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let mut pending = HashMap::from([(table.to_string(), writes)]);
            while !pending.is_empty() {
                let out = ddb
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await?;
                pending = out.unprocessed_items.unwrap_or_default();
                pending.retain(|_, v| !v.is_empty());
            }
        }
    }
    let objects: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("objects.json"))?)?;
    for o in objects {
        let bytes = std::fs::read(
            dir.join("objects")
                .join(o["file"].as_str().unwrap_or_default()),
        )?;
        s3.put_object()
            .bucket(bucket)
            .key(o["key"].as_str().unwrap_or_default())
            .set_content_type(o["content_type"].as_str().map(str::to_string))
            .body(ByteStream::from(bytes))
            .send()
            .await?;
    }
    Ok(true)
}

fn item_to_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(l) => json!({"SS": l}),
        AttributeValue::Ns(l) => json!({"NS": l}),
        AttributeValue::L(l) => json!({"L": l.iter().map(value_to_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": item_to_json(m)}),
        _ => json!({"NULL": true}),
    }
}

fn json_to_item(v: &Value) -> Option<HashMap<String, AttributeValue>> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), json_to_value(v)?)))
        .collect()
}

fn json_to_value(v: &Value) -> Option<AttributeValue> {
    let (tag, inner): (&String, &Value) = v.as_object()?.iter().next()?;
    let strings = |x: &Value| -> Option<Vec<String>> {
        x.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    Some(match tag.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.into()),
        "N" => AttributeValue::N(inner.as_str()?.into()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(json_to_value)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(json_to_item(inner)?),
        _ => return None,
    })
}
