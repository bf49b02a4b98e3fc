//! Which store the runtime gets: the embedded one (default) or DynamoDB at an endpoint.
//!
//! Both honour the runtime's `ConnectionStore` contract (the suite in
//! `tests/store_contract.rs` runs against each). For DynamoDB, typically DynamoDB Local, the
//! table and its GSI are created when missing, in the deployed layout, so
//! `--dynamodb-endpoint http://127.0.0.1:8000` works against a fresh, empty instance.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use wspush_runtime::store::{ConnectionStore, DynamoStore, MemoryStore};

use crate::sdk;

/// Where connections and subscriptions are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    Embedded,
    DynamoDb {
        endpoint: String,
        table: String,
        index: String,
    },
}

impl StoreChoice {
    /// A short description for the start banner.
    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Embedded => "embedded (in memory)".into(),
            StoreChoice::DynamoDb {
                endpoint, table, ..
            } => format!("DynamoDB at {endpoint}, table {table}"),
        }
    }
}

/// A store that could not be made ready.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB at {endpoint}: {operation} failed: {message}")]
pub struct StoreSetupError {
    pub endpoint: String,
    pub operation: &'static str,
    pub message: String,
}

/// Builds the chosen store, creating the DynamoDB table when it is missing.
pub async fn build(
    choice: &StoreChoice,
    region: &str,
) -> Result<Arc<dyn ConnectionStore>, StoreSetupError> {
    match choice {
        StoreChoice::Embedded => Ok(Arc::new(MemoryStore::new())),
        StoreChoice::DynamoDb {
            endpoint,
            table,
            index,
        } => {
            let client = dynamodb_client(endpoint, region);
            ensure_table(&client, table, index)
                .await
                .map_err(|(operation, message)| StoreSetupError {
                    endpoint: endpoint.clone(),
                    operation,
                    message,
                })?;
            Ok(Arc::new(DynamoStore::new(client, table, index)))
        }
    }
}

/// A DynamoDB client for `endpoint` with the offline SDK configuration.
pub fn dynamodb_client(endpoint: &str, region: &str) -> Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk::local_config(region))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, (&'static str, String)> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| ("CreateTable", e.to_string()))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, (&'static str, String)> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| ("CreateTable", e.to_string()))
}

/// Creates `table` with `pk`/`sk` and the GSI `index` on `GSI1PK`/`GSI1SK` unless it exists,
/// waits until it is active, and turns TTL on (`ttl`), as deployed.
pub async fn ensure_table(
    client: &Client,
    table: &str,
    index: &str,
) -> Result<(), (&'static str, String)> {
    let exists = match client.describe_table().table_name(table).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(("DescribeTable", DisplayErrorContext(e).to_string())),
    };
    if !exists {
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key("GSI1PK", KeyType::Hash)?)
            .key_schema(key("GSI1SK", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| ("CreateTable", e.to_string()))?;
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attribute("pk")?)
            .attribute_definitions(string_attribute("sk")?)
            .attribute_definitions(string_attribute("GSI1PK")?)
            .attribute_definitions(string_attribute("GSI1SK")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match created {
            Ok(_) => tracing::info!(table, "created DynamoDB table"),
            // Another gateway (or test) created it meanwhile.
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(("CreateTable", DisplayErrorContext(e).to_string())),
        }
    }
    for _ in 0..100 {
        let status = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| ("DescribeTable", DisplayErrorContext(e).to_string()))?
            .table
            .and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !exists {
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("ttl")
            .enabled(true)
            .build()
            .map_err(|e| ("UpdateTimeToLive", e.to_string()))?;
        if let Err(e) = client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            // TTL only removes stale records; the gateway works without it.
            tracing::warn!(table, error = %DisplayErrorContext(e), "could not enable TTL");
        }
    }
    Ok(())
}
