//! Creates the template's tables and the bucket on local stand-ins (idempotently).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use shared::config::Tables;

use crate::template::{KeyPart, TableSpec};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Creates each table as `{prefix}-{LogicalId}` unless it exists; returns the names by role.
pub async fn create_tables(
    ddb: &aws_sdk_dynamodb::Client,
    specs: &[TableSpec],
    prefix: &str,
) -> Result<Tables, Error> {
    let existing = ddb
        .list_tables()
        .limit(100)
        .send()
        .await?
        .table_names
        .unwrap_or_default();
    let mut names = std::collections::HashMap::new();
    for spec in specs {
        let name = format!("{prefix}-{}", spec.logical_id);
        if !existing.contains(&name) {
            create_table(ddb, spec, &name).await?;
        } else {
            // Data kept from an older template: bring the table up to this one.
            reconcile_table(ddb, spec, &name).await?;
        }
        names.insert(spec.env_var.clone(), name);
    }
    let take = |var: &str| {
        names
            .get(var)
            .cloned()
            .ok_or_else(|| format!("template.yaml defines no table for {var}"))
    };
    Ok(Tables {
        conversations: take("CONVERSATIONS_TABLE")?,
        members: take("MEMBERS_TABLE")?,
        messages: take("MESSAGES_TABLE")?,
        files: take("FILES_TABLE")?,
        idempotency: take("IDEMPOTENCY_TABLE")?,
        connections: take("CONNECTIONS_TABLE")?,
        profiles: take("PROFILES_TABLE")?,
        invites: take("INVITES_TABLE")?,
        file_search: take("FILE_SEARCH_TABLE")?,
    })
}

async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    name: &str,
) -> Result<(), Error> {
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&spec.keys)?));
    for (attribute, kind) in &spec.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?,
        );
    }
    for index in &spec.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key_schema(&index.keys)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.as_str()))
                        .build(),
                )
                .build()?,
        );
    }
    if let Some(view) = &spec.stream_view_type {
        req = req.stream_specification(stream_specification(view)?);
    }
    req.send().await?;
    if let Some(attribute) = &spec.ttl_attribute {
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(())
}

fn stream_specification(view: &str) -> Result<StreamSpecification, Error> {
    Ok(StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(view))
        .build()?)
}

/// An existing table (kept in `.local/moto-data` across template changes) gets what the
/// template added since: its indexes and its stream. Keys and attribute types never change.
async fn reconcile_table(
    ddb: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    name: &str,
) -> Result<(), Error> {
    let table = ddb
        .describe_table()
        .table_name(name)
        .send()
        .await?
        .table
        .ok_or("DescribeTable answered no table")?;
    let existing: Vec<String> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_string))
        .collect();
    for index in spec.indexes.iter().filter(|i| !existing.contains(&i.name)) {
        let mut update = ddb.update_table().table_name(name);
        for (attribute, kind) in &spec.attributes {
            update = update.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()?,
            );
        }
        update
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder()
                    .create(
                        CreateGlobalSecondaryIndexAction::builder()
                            .index_name(&index.name)
                            .set_key_schema(Some(key_schema(&index.keys)?))
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::from(
                                        index.projection.as_str(),
                                    ))
                                    .build(),
                            )
                            .build()?,
                    )
                    .build(),
            )
            .send()
            .await?;
        tracing::info!(
            table = name,
            index = index.name,
            "added an index the template gained"
        );
    }
    let streaming = table
        .stream_specification()
        .is_some_and(|s| s.stream_enabled);
    if let (Some(view), false) = (&spec.stream_view_type, streaming) {
        ddb.update_table()
            .table_name(name)
            .stream_specification(stream_specification(view)?)
            .send()
            .await?;
        tracing::info!(table = name, "enabled the stream the template gained");
    }
    Ok(())
}

fn key_schema(keys: &[KeyPart]) -> Result<Vec<KeySchemaElement>, Error> {
    keys.iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

/// Creates the bucket unless it exists.
/// The bucket, versioned as the template declares it (completed uploads are pinned to their
/// version), with the template's CORS rule. Stand-ins without versioning or CORS (s3s-fs) keep
/// a bucket without.
pub async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), Error> {
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        s3.create_bucket().bucket(bucket).send().await?;
    }
    let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    match s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(versioning)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => {}
        Err(e) => return Err(e.into()),
    }
    // The template's CorsConfiguration (with its default `CorsAllowedOrigins: "*"`): browsers
    // post upload forms to the bucket and download from it cross-origin (the web client is
    // served from the API's port). Stand-ins without bucket CORS keep none.
    let rule = aws_sdk_s3::types::CorsRule::builder()
        .set_allowed_methods(Some(
            ["GET", "HEAD", "POST", "PUT"].map(String::from).to_vec(),
        ))
        .allowed_origins("*")
        .allowed_headers("*")
        .set_expose_headers(Some(
            [
                "Content-Disposition",
                "Content-Length",
                "Content-Range",
                "Content-Type",
                "ETag",
            ]
            .map(String::from)
            .to_vec(),
        ))
        .max_age_seconds(3600)
        .build()?;
    let cors = aws_sdk_s3::types::CorsConfiguration::builder()
        .cors_rules(rule)
        .build()?;
    match s3
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(cors)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
