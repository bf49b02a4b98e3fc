//! Which store the runtime gets: the embedded one (default) or DynamoDB at an endpoint.
//!
//! Both honour the runtime's `ConnectionStore` contract (the suite in
//! `runtime/tests/store_contract.rs` runs against each). For DynamoDB, typically DynamoDB Local, the
//! table and its GSI are created when missing, in the deployed layout, so
//! `--dynamodb-endpoint http://127.0.0.1:8000` works against a fresh, empty instance.

use std::sync::Arc;

use wspush_runtime::aws;
use wspush_runtime::store::{ConnectionStore, DynamoStore, MemoryStore};

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
#[error("DynamoDB at {endpoint}: {message}")]
pub struct StoreSetupError {
    pub endpoint: String,
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
            let client = aws::dynamodb_client(&aws::local_sdk_config(region), endpoint);
            let store = DynamoStore::new(client, table, index);
            store.ensure_table().await.map_err(|e| StoreSetupError {
                endpoint: endpoint.clone(),
                message: e.to_string(),
            })?;
            Ok(Arc::new(store))
        }
    }
}
