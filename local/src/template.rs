//! Table definitions read from `template.yaml`, so the local stack and the tests create exactly
//! the tables the deployed stack has (keys, indexes, TTL) without restating them.

use serde_yaml::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPart {
    pub attribute: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub keys: Vec<KeyPart>,
    pub projection: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// Logical id in the template, e.g. `MessagesTable`.
    pub logical_id: String,
    /// Environment variable the functions read the table name from, e.g. `MESSAGES_TABLE`.
    pub env_var: String,
    /// Attribute name and type (`S`, `N`, `B`).
    pub attributes: Vec<(String, String)>,
    pub keys: Vec<KeyPart>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`, for tables whose changes feed a function.
    pub stream_view_type: Option<String>,
}

/// The template at the workspace root.
pub fn workspace_template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Every `AWS::DynamoDB::Table` in the template, with the env var that names it.
pub fn table_specs(template: &str) -> Result<Vec<TableSpec>, String> {
    let doc: Value = serde_yaml::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let env = &doc["Globals"]["Function"]["Environment"]["Variables"];
    let env = env
        .as_mapping()
        .ok_or("Globals.Function.Environment.Variables missing")?;
    let resources = doc["Resources"].as_mapping().ok_or("Resources missing")?;
    let mut specs = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let id = id.as_str().ok_or("non-string resource id")?.to_string();
        let env_var = env
            .iter()
            .find(|(_, v)| ref_target(v) == Some(id.as_str()))
            .and_then(|(k, _)| k.as_str())
            .ok_or_else(|| format!("no environment variable refers to {id}"))?
            .to_string();
        let p = &resource["Properties"];
        let attributes = p["AttributeDefinitions"]
            .as_sequence()
            .ok_or_else(|| format!("{id}: AttributeDefinitions missing"))?
            .iter()
            .map(|a| Ok((text(&a["AttributeName"])?, text(&a["AttributeType"])?)))
            .collect::<Result<_, String>>()?;
        let indexes = match p["GlobalSecondaryIndexes"].as_sequence() {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .map(|g| {
                    Ok(IndexSpec {
                        name: text(&g["IndexName"])?,
                        keys: key_schema(&g["KeySchema"])?,
                        projection: text(&g["Projection"]["ProjectionType"])?,
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        specs.push(TableSpec {
            env_var,
            attributes,
            keys: key_schema(&p["KeySchema"])?,
            indexes,
            ttl_attribute: p["TimeToLiveSpecification"]["AttributeName"]
                .as_str()
                .map(str::to_string),
            stream_view_type: p["StreamSpecification"]["StreamViewType"]
                .as_str()
                .map(str::to_string),
            logical_id: id,
        });
    }
    Ok(specs)
}

/// How an event source mapping of a table's stream retries a batch the function failed: its
/// entry under the function's `Events` in the template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRetry {
    /// Retries after the first attempt (`MaximumRetryAttempts`).
    pub max_retry_attempts: u32,
    /// Records older than this are discarded, not retried (`MaximumRecordAgeInSeconds`).
    pub max_record_age: std::time::Duration,
}

/// The retry rules of `function`'s mapping of `table`'s stream (logical ids).
pub fn stream_retry(template: &str, function: &str, table: &str) -> Result<StreamRetry, String> {
    let doc: Value = serde_yaml::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let events = doc["Resources"][function]["Properties"]["Events"]
        .as_mapping()
        .ok_or_else(|| format!("{function} has no Events"))?;
    let stream = format!("{table}.StreamArn");
    let mapping = events
        .values()
        .map(|event| &event["Properties"])
        .find(|p| matches!(&p["Stream"], Value::Tagged(t) if t.tag == "GetAtt" && t.value.as_str() == Some(stream.as_str())))
        .ok_or_else(|| format!("{function} has no mapping of {table}'s stream"))?;
    let number = |name: &str| {
        mapping[name]
            .as_u64()
            .ok_or_else(|| format!("{function}'s mapping of {table}: {name} missing"))
    };
    Ok(StreamRetry {
        max_retry_attempts: u32::try_from(number("MaximumRetryAttempts")?)
            .map_err(|e| e.to_string())?,
        max_record_age: std::time::Duration::from_secs(number("MaximumRecordAgeInSeconds")?),
    })
}

/// How a queue (or an asynchronous invocation) gives up on a message: after this many
/// deliveries it is moved to the failure queue, the template's `dead_letter` (logical id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redrive {
    pub max_receive_count: u32,
    pub dead_letter: String,
}

/// An `AWS::SQS::Queue`'s `VisibilityTimeout` (seconds) and `RedrivePolicy`.
pub fn queue_redelivery(
    template: &str,
    queue: &str,
) -> Result<(Option<i32>, Option<Redrive>), String> {
    let doc: Value = serde_yaml::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let p = &doc["Resources"][queue]["Properties"];
    if p.is_null() {
        return Err(format!("no queue {queue}"));
    }
    let visibility = p["VisibilityTimeout"]
        .as_i64()
        .map(|v| i32::try_from(v).map_err(|e| format!("{queue}: {e}")))
        .transpose()?;
    let redrive = match &p["RedrivePolicy"] {
        Value::Null => None,
        policy => Some(Redrive {
            max_receive_count: policy["maxReceiveCount"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{queue}: maxReceiveCount missing"))?,
            dead_letter: get_att_resource(&policy["deadLetterTargetArn"])
                .ok_or_else(|| format!("{queue}: deadLetterTargetArn is not a GetAtt"))?
                .to_string(),
        }),
    };
    Ok((visibility, redrive))
}

/// How Lambda gives up on an asynchronous event for `function` (`EventInvokeConfig`): after the
/// first attempt and `MaximumRetryAttempts` retries, to its `OnFailure` destination.
pub fn async_redrive(template: &str, function: &str) -> Result<Redrive, String> {
    let doc: Value = serde_yaml::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let config = &doc["Resources"][function]["Properties"]["EventInvokeConfig"];
    let retries = config["MaximumRetryAttempts"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{function}: EventInvokeConfig.MaximumRetryAttempts missing"))?;
    let dead_letter = get_att_resource(&config["DestinationConfig"]["OnFailure"]["Destination"])
        .ok_or_else(|| format!("{function}: no OnFailure destination"))?;
    Ok(Redrive {
        max_receive_count: 1 + retries,
        dead_letter: dead_letter.to_string(),
    })
}

/// `X` of `!GetAtt X.Arn`.
fn get_att_resource(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t.value.as_str()?.strip_suffix(".Arn"),
        _ => None,
    }
}

fn ref_target(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    }
}

fn text(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("expected text, found {v:?}"))
}

fn key_schema(v: &Value) -> Result<Vec<KeyPart>, String> {
    v.as_sequence()
        .ok_or("KeySchema missing")?
        .iter()
        .map(|k| {
            Ok(KeyPart {
                attribute: text(&k["AttributeName"])?,
                key_type: text(&k["KeyType"])?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_queue(template: &str, id: &str) -> bool {
        let doc: Value = serde_yaml::from_str(template).unwrap();
        doc["Resources"][id]["Type"].as_str() == Some("AWS::SQS::Queue")
    }

    /// What the local queues copy from the template parses, and names the template's queues.
    #[test]
    fn the_local_queues_redelivery_is_read_from_the_template() {
        let template = workspace_template();
        let (visibility, redrive) = queue_redelivery(&template, "PreviewQueue").unwrap();
        assert!(visibility.is_some_and(|v| v > 0));
        assert!(is_queue(&template, &redrive.unwrap().dead_letter));
        let uploads = async_redrive(&template, "UploadCompletedFunction").unwrap();
        assert!(uploads.max_receive_count > 1);
        assert!(is_queue(&template, &uploads.dead_letter));
        assert!(stream_retry(&template, "PushFanoutFunction", "MessagesTable").is_ok());
    }
}
