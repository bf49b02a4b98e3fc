//! The DynamoDB table of connections and subscriptions (behaviour contract, section 3), and of
//! each stream's head, event markers and recent messages (history, under `stream#…` keys).
//!
//! The layout comes from [`wspush_contract::table`], which the runtime's store writes with, so the
//! two cannot drift: the quick start's `pk`/`sk` on the table, `GSI1PK`/`GSI1SK` on the one
//! index, which finds a user's connections and an entity's subscribers, and the TTL attribute
//! that expires records whose `$disconnect` never arrived and stream items past retention. On-demand billing because traffic follows connected clients, and
//! point-in-time recovery because the table is the only state the service has.

use pulumi_gestalt_rust::{Context, Output};

use crate::aws::dynamodb::table::{self, TableArgs};
use crate::aws::types::dynamodb::{
    TableAttribute, TableGlobalSecondaryIndex, TableGlobalSecondaryIndexKeySchema,
    TablePointInTimeRecovery, TableTtl,
};
use crate::config::StackConfig;
use wspush_contract::table::{
    INDEX_PARTITION_KEY, INDEX_SORT_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE,
};

/// What the functions need from the table.
pub struct Table {
    pub name: Output<String>,
    pub arn: Output<String>,
    /// `{table arn}/index/{index name}`: what a Query on the index is authorised against.
    pub index_arn: Output<String>,
}

/// The table, with its index, TTL and point-in-time recovery.
pub fn declare(ctx: &Context, config: &StackConfig) -> Table {
    let created = table::create(
        ctx,
        "connections-table",
        TableArgs::builder()
            .name(config.table_name.clone())
            .billing_mode("PAY_PER_REQUEST")
            .hash_key(PARTITION_KEY)
            .range_key(SORT_KEY)
            .attributes(key_attributes())
            .global_secondary_indexes(vec![index(&config.index_name)])
            .ttl(
                TableTtl::builder()
                    .attribute_name(TTL_ATTRIBUTE.to_string())
                    .enabled(true)
                    .build_struct(),
            )
            .point_in_time_recovery(
                TablePointInTimeRecovery::builder()
                    .enabled(true)
                    .build_struct(),
            )
            .build_struct(),
    );
    let index = config.index_name.clone();
    let index_arn = created.arn.map(move |arn| format!("{arn}/index/{index}"));
    Table {
        name: created.name,
        arn: created.arn,
        index_arn,
    }
}

/// The keys of the table and of the index, all strings (DynamoDB declares only key attributes).
fn key_attributes() -> Vec<TableAttribute> {
    [PARTITION_KEY, SORT_KEY, INDEX_PARTITION_KEY, INDEX_SORT_KEY]
        .into_iter()
        .map(|name| {
            TableAttribute::builder()
                .name(name.to_string())
                .type_("S".to_string())
                .build_struct()
        })
        .collect()
}

/// The one index: a user's connections and an entity's subscribers.
fn index(name: &str) -> TableGlobalSecondaryIndex {
    let key = |attribute: &str, key_type: &str| {
        TableGlobalSecondaryIndexKeySchema::builder()
            .attribute_name(attribute.to_string())
            .key_type(key_type.to_string())
            .build_struct()
    };
    TableGlobalSecondaryIndex::builder()
        .name(name.to_string())
        .key_schemas(vec![
            key(INDEX_PARTITION_KEY, "HASH"),
            key(INDEX_SORT_KEY, "RANGE"),
        ])
        // The runtime reads only `pk` (the connection id) from the index: keys suffice, and
        // every write to the table costs less than with ALL.
        .projection_type("KEYS_ONLY".to_string())
        .build_struct()
}
