//! Durable deduplication on the event id (feature `dedupe-dynamodb`): a DynamoDB conditional put
//! per event, so redeliveries (SQS at-least-once, EventBridge retries) and archive replays are
//! recognised across restarts and across the instances of a service — where the wallboard
//! example's in-memory window forgets them.
//!
//! ```no_run
//! # async fn f(config: &aws_config::SdkConfig, event: &consumer_sdk::Event) -> Result<(), consumer_sdk::dedupe::DedupeError> {
//! use consumer_sdk::dedupe::{DynamoDedupe, Seen};
//! let dedupe = DynamoDedupe::new(aws_sdk_dynamodb::Client::new(config), "wallboards-seen-events");
//! let id = event.change.dedupe_key();
//! if dedupe.claim(id).await? == Seen::First {
//!     // handle the event; if that fails, `dedupe.release(id)` lets the redelivery through
//! }
//! # Ok(()) }
//! ```
//!
//! The table: partition key `eventId` (S) by default ([`DynamoDedupe::with_key_attribute`]),
//! with DynamoDB TTL on `expiresAt` (a claim expires after [`DynamoDedupe::with_ttl`], 7 days by
//! default — longer than the queue's retention and any replay you plan).

use aws_sdk_dynamodb::types::AttributeValue;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether this consumer has seen an event id before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// First time: the id is now claimed; handle the event.
    First,
    /// Claimed before (a redelivery or a replay): skip it.
    Duplicate,
}

/// A DynamoDB call of the dedupe store failed (the SDK's error, codes and messages only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dedupe table `{table}`: {operation} failed: {message}")]
pub struct DedupeError {
    /// The table.
    pub table: String,
    /// `PutItem` or `DeleteItem`.
    pub operation: &'static str,
    /// The SDK's error.
    pub message: String,
}

/// Event ids claimed with a conditional `PutItem` (`attribute_not_exists`).
#[derive(Clone, Debug)]
pub struct DynamoDedupe {
    client: aws_sdk_dynamodb::Client,
    table: String,
    key: String,
    ttl: Duration,
}

impl DynamoDedupe {
    /// The store in `table` (key attribute `eventId`, claims kept 7 days).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDedupe {
            client,
            table: table.into(),
            key: "eventId".into(),
            ttl: Duration::from_secs(7 * 86_400),
        }
    }

    /// The table's partition key attribute (a string attribute).
    pub fn with_key_attribute(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long a claim is kept (the `expiresAt` TTL attribute).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Claims `event_id`: [`Seen::First`] when no claim exists (one is written), otherwise
    /// [`Seen::Duplicate`]. Two concurrent claims of one id: exactly one is `First`.
    pub async fn claim(&self, event_id: &str) -> Result<Seen, DedupeError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let expires = (now + self.ttl).as_secs();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(&self.key, AttributeValue::S(event_id.to_string()))
            .item("claimedAt", AttributeValue::N(now.as_secs().to_string()))
            .item("expiresAt", AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", &self.key)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Seen::First),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Seen::Duplicate)
            }
            Err(e) => Err(self.error("PutItem", &e)),
        }
    }

    /// Removes the claim of `event_id` (handling it failed: its redelivery is handled again).
    pub async fn release(&self, event_id: &str) -> Result<(), DedupeError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(&self.key, AttributeValue::S(event_id.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("DeleteItem", &e))
    }

    fn error(&self, operation: &'static str, e: &dyn std::error::Error) -> DedupeError {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        DedupeError {
            table: self.table.clone(),
            operation,
            message,
        }
    }
}
