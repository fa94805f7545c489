//! Checkpoints and processor state in DynamoDB.
//!
//! ## Checkpoints (`CHECKPOINT_TABLE_NAME`, partition key `pk` (S), TTL attribute `expiresAt`)
//!
//! One item per (processor, stream, shard), `pk = "<processor>#<stream>#<shard>"`:
//!
//! | attribute | type | value |
//! |---|---|---|
//! | `position` | S | the sortable position: the sequence number zero-padded to 129 digits, `.`, then 20 digits for the sub-sequence (`0` for a plain record, `n + 1` for user record `n` of a KPL aggregate) |
//! | `sequenceNumber` | S | the sequence number as Kinesis writes it |
//! | `subSequenceNumber` | N | the sub-sequence number, when there is one |
//! | `processor`, `stream`, `shard` | S | the parts of the key |
//! | `updatedAt` | S | RFC 3339 time of the write |
//! | `expiresAt` | N | epoch seconds after which DynamoDB may delete the item (`CHECKPOINT_TTL_DAYS` after the write; idle shards, closed shards after a reshard) |
//!
//! Sequence numbers have up to 129 digits, beyond DynamoDB's 38-digit numbers, so they are compared
//! as fixed-width strings: for equal widths, byte order is numeric order. A write carries the
//! condition `attribute_not_exists(position) OR position < :position`, so a checkpoint only moves
//! forward; when it fails (another invocation is already at or past the position) the answer is
//! [`Advance::AlreadyAhead`], not an error.
//!
//! ## State (`STATE_TABLE_NAME`, partition key `processor` (S))
//!
//! The seed's state manager: `lastProcessedSequence` (S), `processedCount` (N), `lastUpdated`
//! (S, RFC 3339). [`DynamoStateStore::record_progress`] updates it atomically after each batch
//! (the count is added, the sequence only moves forward).

use super::truncate;
use crate::ports::{
    Advance, CheckpointKey, CheckpointStore, ProcessorState, StateError, StateStore,
};
use crate::sequence::{Position, SequenceNumber, MAX_DIGITS};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;

/// Width of the sub-sequence part of an encoded position (`u64::MAX + 1` has 20 digits).
const SUB_DIGITS: usize = 20;

/// Encodes a position as a fixed-width string whose byte order is the positions' numeric order.
///
/// ```
/// use cdc_processor::aws::dynamodb::{decode_position, encode_position};
/// use cdc_processor::sequence::Position;
/// let p = |s: &str, sub| Position { sequence: s.parse().unwrap(), sub_sequence: sub };
/// assert!(encode_position(&p("9", None)) < encode_position(&p("10", None)));
/// assert!(encode_position(&p("10", None)) < encode_position(&p("10", Some(0))));
/// assert_eq!(decode_position(&encode_position(&p("10", Some(3)))), Some(p("10", Some(3))));
/// ```
pub fn encode_position(p: &Position) -> String {
    let sub = p.sub_sequence.map_or(0u128, |s| u128::from(s) + 1);
    format!(
        "{:0>width$}.{:0>sub_width$}",
        p.sequence.as_str(),
        sub,
        width = MAX_DIGITS,
        sub_width = SUB_DIGITS
    )
}

/// Decodes [`encode_position`]'s output.
pub fn decode_position(s: &str) -> Option<Position> {
    let (seq, sub) = s.split_once('.')?;
    if seq.len() != MAX_DIGITS || sub.len() != SUB_DIGITS {
        return None;
    }
    let sequence: SequenceNumber = seq.parse().ok()?;
    let sub: u128 = sub.parse().ok()?;
    let sub_sequence = match sub {
        0 => None,
        n => Some(u64::try_from(n - 1).ok()?),
    };
    Some(Position {
        sequence,
        sub_sequence,
    })
}

/// The `pk` of a key.
pub fn checkpoint_id(key: &CheckpointKey) -> String {
    format!("{}#{}#{}", key.processor, key.stream, key.shard)
}

fn state_error<E>(
    what: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> StateError
where
    E: std::error::Error + 'static,
{
    StateError(format!(
        "{what}: {}",
        truncate(&DisplayErrorContext(err).to_string(), 512)
    ))
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Default time to live of a checkpoint after its last write.
pub const DEFAULT_CHECKPOINT_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// [`CheckpointStore`] on a DynamoDB table (see the module docs for the item).
#[derive(Clone, Debug)]
pub struct DynamoCheckpointStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl: std::time::Duration,
}

impl DynamoCheckpointStore {
    /// Checkpoints in `table`, expiring [`DEFAULT_CHECKPOINT_TTL`] after their last write.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCheckpointStore {
            client,
            table: table.into(),
            ttl: DEFAULT_CHECKPOINT_TTL,
        }
    }

    /// Sets the time to live after a write (`expiresAt`). A checkpoint only has to outlive the
    /// redelivery of the records it covers (Lambda's retries, bounded by the mapping's maximum
    /// record age and the stream's retention), so it may expire on a shard that went quiet.
    pub fn with_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

impl CheckpointStore for DynamoCheckpointStore {
    async fn load(&self, key: &CheckpointKey) -> Result<Option<Position>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(checkpoint_id(key)))
            .consistent_read(true)
            .projection_expression("#p")
            .expression_attribute_names("#p", "position")
            .send()
            .await
            .map_err(|e| state_error("GetItem (checkpoint)", &e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        match item.get("position") {
            Some(AttributeValue::S(p)) => decode_position(p).map(Some).ok_or_else(|| {
                StateError(format!(
                    "checkpoint {} has a malformed position",
                    checkpoint_id(key)
                ))
            }),
            _ => Err(StateError(format!(
                "checkpoint {} has no position",
                checkpoint_id(key)
            ))),
        }
    }

    async fn advance(&self, key: &CheckpointKey, to: &Position) -> Result<Advance, StateError> {
        let mut item = HashMap::from([
            ("pk".to_string(), s(checkpoint_id(key))),
            ("position".to_string(), s(encode_position(to))),
            ("sequenceNumber".to_string(), s(to.sequence.as_str())),
            ("processor".to_string(), s(&key.processor)),
            ("stream".to_string(), s(&key.stream)),
            ("shard".to_string(), s(&key.shard)),
            ("updatedAt".to_string(), s(now_rfc3339())),
            (
                "expiresAt".to_string(),
                AttributeValue::N((Utc::now().timestamp() + self.ttl.as_secs() as i64).to_string()),
            ),
        ]);
        if let Some(sub) = to.sub_sequence {
            item.insert(
                "subSequenceNumber".into(),
                AttributeValue::N(sub.to_string()),
            );
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#p) OR #p < :p")
            .expression_attribute_names("#p", "position")
            .expression_attribute_values(":p", s(encode_position(to)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Advance::Moved),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Advance::AlreadyAhead)
            }
            Err(e) => Err(state_error("PutItem (checkpoint)", &e)),
        }
    }
}

/// The function's checkpoints: in DynamoDB, or off when the event source mapping's
/// parallelization factor is above 1 (`KINESIS_PARALLELIZATION_FACTOR`).
///
/// With several concurrent batches per shard, a per-shard position does not mean "everything
/// before it is done", and skipping on it could lose a retried record; then nothing is skipped and
/// a retried batch republishes under the same stable `eventId` (docs/configuration.md).
#[derive(Clone, Debug)]
pub enum ShardCheckpoints {
    /// Per-shard checkpoints in DynamoDB.
    Dynamo(DynamoCheckpointStore),
    /// No checkpoints: `load` finds none and `advance` stores nothing.
    Off,
}

impl CheckpointStore for ShardCheckpoints {
    async fn load(&self, key: &CheckpointKey) -> Result<Option<Position>, StateError> {
        match self {
            ShardCheckpoints::Dynamo(d) => d.load(key).await,
            ShardCheckpoints::Off => Ok(None),
        }
    }

    async fn advance(&self, key: &CheckpointKey, to: &Position) -> Result<Advance, StateError> {
        match self {
            ShardCheckpoints::Dynamo(d) => d.advance(key, to).await,
            ShardCheckpoints::Off => Ok(Advance::Moved),
        }
    }
}

/// [`StateStore`] on a DynamoDB table (see the module docs for the item).
#[derive(Clone, Debug)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStateStore {
    /// State in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStateStore {
            client,
            table: table.into(),
        }
    }

    /// After a batch: adds `processed` to `processedCount`, sets `lastUpdated`, and moves
    /// `lastProcessedSequence` to `last` unless the state is already further (concurrent
    /// invocations on one shard, or a retried batch). Atomic per item: two `UpdateItem` calls at
    /// most, each conditional or commutative.
    pub async fn record_progress(
        &self,
        processor: &str,
        last: &Position,
        processed: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let now = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let forward = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("processor", s(processor))
            .update_expression(
                "SET lastProcessedSequence = :seq, lastPosition = :pos, lastUpdated = :now ADD processedCount :n",
            )
            .condition_expression("attribute_not_exists(lastPosition) OR lastPosition < :pos")
            .expression_attribute_values(":seq", s(last.sequence.as_str()))
            .expression_attribute_values(":pos", s(encode_position(last)))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":n", AttributeValue::N(processed.to_string()))
            .send()
            .await;
        match forward {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("processor", s(processor))
                    .update_expression("SET lastUpdated = :now ADD processedCount :n")
                    .expression_attribute_values(":now", s(&now))
                    .expression_attribute_values(":n", AttributeValue::N(processed.to_string()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| state_error("UpdateItem (state)", &e))
            }
            Err(e) => Err(state_error("UpdateItem (state)", &e)),
        }
    }
}

impl StateStore for DynamoStateStore {
    async fn save_state(&self, processor: &str, state: &ProcessorState) -> Result<(), StateError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("processor", s(processor))
            .item("lastProcessedSequence", s(&state.last_processed_sequence))
            .item(
                "processedCount",
                AttributeValue::N(state.processed_count.to_string()),
            )
            .item(
                "lastUpdated",
                s(state
                    .last_updated
                    .to_rfc3339_opts(SecondsFormat::Millis, true)),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| state_error("PutItem (state)", &e))
    }

    async fn get_state(&self, processor: &str) -> Result<Option<ProcessorState>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("processor", s(processor))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| state_error("GetItem (state)", &e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let bad = |field: &str| StateError(format!("state of {processor}: bad or missing {field}"));
        let last_processed_sequence = match item.get("lastProcessedSequence") {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => return Err(bad("lastProcessedSequence")),
        };
        let processed_count = match item.get("processedCount") {
            Some(AttributeValue::N(v)) => v.parse().map_err(|_| bad("processedCount"))?,
            _ => return Err(bad("processedCount")),
        };
        let last_updated = match item.get("lastUpdated") {
            Some(AttributeValue::S(v)) => DateTime::parse_from_rfc3339(v)
                .map_err(|_| bad("lastUpdated"))?
                .with_timezone(&Utc),
            _ => return Err(bad("lastUpdated")),
        };
        Ok(Some(ProcessorState {
            last_processed_sequence,
            processed_count,
            last_updated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, sub: Option<u64>) -> Position {
        Position {
            sequence: s.parse().unwrap(),
            sub_sequence: sub,
        }
    }

    #[test]
    fn encoding_orders_like_positions() {
        let real = "49590338271490256608559692538361571095921575989136588898";
        let positions = [
            p("0", None),
            p("1", None),
            p("9", None),
            p("10", None),
            p("10", Some(0)),
            p("10", Some(u64::MAX)),
            p("11", None),
            p(real, None),
            p(real, Some(7)),
            p(&"9".repeat(128), None),
            p(&"1".repeat(129), None),
            p(&"9".repeat(129), Some(u64::MAX)),
        ];
        for a in &positions {
            let ea = encode_position(a);
            assert_eq!(ea.len(), MAX_DIGITS + 1 + SUB_DIGITS);
            assert_eq!(decode_position(&ea).as_ref(), Some(a));
            for b in &positions {
                assert_eq!(a.cmp(b), ea.cmp(&encode_position(b)), "{a:?} vs {b:?}");
            }
        }
        assert_eq!(decode_position("12.0"), None);
    }
}
