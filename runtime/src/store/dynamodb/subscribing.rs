//! Subscribing and unsubscribing, counted against the per-connection cap.
//!
//! The connection item counts its subscriptions (`subscriptionCount`). A subscribe first
//! takes a place in that count with a conditional update, which DynamoDB applies one at a time
//! per item, so the cap holds however many of a connection's subscribes run at once; then it
//! writes the subscription only if it is new, and gives the place back if it was not. No
//! transaction: concurrent transactions on one item fail with a conflict, and a client that
//! subscribes to fifty entities at once would see some of them fail.
//!
//! A write that fails between the two steps leaves the count one higher than the
//! subscriptions, never lower: the cap may then refuse one subscription early, but is never
//! exceeded. The connection's records, the count included, all go with the connection.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use wspush_contract::table::{
    CONNECTION_SORT_KEY, SUBSCRIPTION_COUNT, SUBSCRIPTION_PREFIX, TTL_ATTRIBUTE,
};

use super::{key, n, request_error, DynamoStore};
use crate::store::{StoreError, Subscribed, Subscription};

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

impl DynamoStore {
    pub(super) async fn add_subscription(
        &self,
        subscription: &Subscription<'_>,
        max_per_connection: usize,
    ) -> Result<Subscribed, StoreError> {
        let id = subscription.connection_id;
        if !self
            .take_place(id, subscription.expires_at, max_per_connection)
            .await?
        {
            // At the cap; repeating a subscription it holds is still no error.
            return Ok(if self.holds(id, subscription.entity_id).await? {
                Subscribed::AlreadySubscribed
            } else {
                Subscribed::LimitReached
            });
        }
        match self.put_new_subscription(subscription).await {
            Ok(true) => Ok(Subscribed::Added),
            Ok(false) => {
                self.give_place_back(id).await;
                Ok(Subscribed::AlreadySubscribed)
            }
            Err(e) => {
                self.give_place_back(id).await;
                Err(e)
            }
        }
    }

    pub(super) async fn remove_subscription(
        &self,
        connection_id: &str,
        entity_id: &str,
    ) -> Result<(), StoreError> {
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(connection_id, entity_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| request_error("DeleteItem(subscription)", &self.table, e))?;
        if removed.attributes.is_some_and(|old| !old.is_empty()) {
            self.give_place_back(connection_id).await;
        }
        Ok(())
    }

    /// Adds one to the connection's count unless it is at `max`; whether it did. The
    /// connection item keeps its TTL (set here if a subscription comes before the item).
    async fn take_place(
        &self,
        connection_id: &str,
        ttl: i64,
        max: usize,
    ) -> Result<bool, StoreError> {
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(connection_id, CONNECTION_SORT_KEY.to_string())))
            .update_expression("SET #ttl = if_not_exists(#ttl, :ttl) ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#count", SUBSCRIPTION_COUNT)
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(false),
            Err(e) => Err(request_error(
                "UpdateItem(subscription count)",
                &self.table,
                e,
            )),
        }
    }

    /// Subtracts one from the connection's count, if the connection item is still there. A
    /// failure leaves the count high (see the module doc) and is logged.
    async fn give_place_back(&self, connection_id: &str) {
        let given = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(connection_id, CONNECTION_SORT_KEY.to_string())))
            .update_expression("ADD #count :minus_one")
            .condition_expression("attribute_exists(#count) AND #count > :zero")
            .expression_attribute_names("#count", SUBSCRIPTION_COUNT)
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match given {
            Ok(_) => {}
            Err(e) if e.code() == Some(CONDITION_FAILED) => {}
            Err(e) => {
                let error = request_error("UpdateItem(subscription count)", &self.table, e);
                tracing::warn!(%connection_id, %error, "subscription count left one high");
            }
        }
    }

    /// Writes the subscription unless it exists; whether it was new.
    async fn put_new_subscription(
        &self,
        subscription: &Subscription<'_>,
    ) -> Result<bool, StoreError> {
        let item = self.subscription_item(subscription);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", wspush_contract::table::SORT_KEY)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(CONDITION_FAILED) => Ok(false),
            Err(e) => Err(request_error("PutItem(subscription)", &self.table, e)),
        }
    }

    /// Whether the connection holds a subscription to `entity_id` (a consistent read).
    async fn holds(&self, connection_id: &str, entity_id: &str) -> Result<bool, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(connection_id, entity_id)))
            .consistent_read(true)
            .projection_expression("#sk")
            .expression_attribute_names("#sk", wspush_contract::table::SORT_KEY)
            .send()
            .await
            .map_err(|e| request_error("GetItem(subscription)", &self.table, e))?;
        Ok(found.item.is_some_and(|item| !item.is_empty()))
    }
}

pub(super) fn subscription_key(connection_id: &str, entity_id: &str) -> super::Item {
    key(connection_id, format!("{SUBSCRIPTION_PREFIX}{entity_id}"))
}
