//! Typed reader for the CoreDB CDC pipeline's `CDC.TableChange` EventBridge events.
//!
//! Downstream services never hand-parse the pipeline's events: this crate reads every form a
//! consumer receives — the EventBridge event delivered to a Lambda target, the SQS message body a
//! rule target delivers, or a bare `detail` — into a [`Change`] with one variant per CoreDB table,
//! carrying the same generated image and key types ([`cdc_models`]) the processor publishes from.
//!
//! - A table this version does not know becomes [`Change::Unknown`] (JSON), not an error; columns
//!   added after this version are ignored; an enum value added after this version is read into
//!   the enum's `Other(String)` variant and written back unchanged; any `1.x` detail is read and
//!   another major version is refused with [`ErrorKind::UnsupportedVersion`].
//!   [`Change::schema_version`] is the table's schema version, bumped by breaking changes of that
//!   table (compare it with `TableMeta::schema_version`).
//! - [`Change`] and [`Event`] implement `Serialize`/`Deserialize` (as the detail, and as the
//!   envelope with its detail): store them and read them back, or use [`Change`] as the detail
//!   type of `aws_lambda_events`' `EventBridgeEvent<Change>`.
//! - Every column of an image is a [`Column`] (`Absent`, `Null`, `Value`);
//!   [`Change::column_state`] also tells a redacted column apart ([`ColumnState::Redacted`]), and
//!   [`ChangeInfo::before_image`] / [`ChangeInfo::after_image`] say whether the source sent a full
//!   row or only part of it.
//! - Errors ([`Error`]) name the JSON path and what was expected, never a value of the row.
//! - Helpers: [`Change::changed_columns`], [`Event::dedupe_key`], [`Event::is_replay`], and
//!   [`EventPattern`], which builds the event pattern of an EventBridge rule.
//! - Optional adapters, off by default: feature `lambda` (module `lambda`: `aws_lambda_events`
//!   EventBridge and SQS events to typed changes, SQS partial batch responses) and feature `sqs`
//!   (module `sqs`: a poller over `aws-sdk-sqs`). Without them the crate pulls in no AWS SDK and no
//!   Lambda runtime.
//!
//! The event contract is `docs/cdc-event.md` in the pipeline's repository.
//!
//! ```
//! use consumer_sdk::{Change, Event, ImageSide, ColumnState, Redaction};
//! use cdc_models::Column;
//! use cdc_models::generated::agent_states::AgentStateState;
//!
//! let sqs_body = r#"{
//!   "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
//!   "detail-type": "CDC.TableChange", "source": "cdc-pipeline",
//!   "time": "2026-11-25T10:38:52Z", "region": "us-east-1", "resources": [],
//!   "detail": {
//!     "version": "1.0", "eventId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
//!     "eventType": "agent_state.changed", "table": "agent_states", "operation": "UPDATE",
//!     "timestamp": "2026-11-25T10:38:52Z",
//!     "before": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000", "state": "available"},
//!     "after": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000", "state": "on_call",
//!               "softphone_ip_address": "hmac-sha256:9a1f", "team_id": null},
//!     "beforeImage": "partial", "afterImage": "partial",
//!     "keys": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000"},
//!     "redactions": {"softphone_ip_address": "hash"},
//!     "metadata": {"transactionId": "884213", "sequenceNumber": "4959033827149025660855969",
//!                  "subSequenceNumber": null, "shardId": "shardId-000000000006",
//!                  "sourceFormat": "debezium", "snapshot": false}
//!   }
//! }"#;
//!
//! let event = Event::from_sqs_body(sqs_body)?;
//! assert_eq!(event.dedupe_key(), "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
//! match &event.change {
//!     Change::AgentStates(change) => {
//!         let after = change.after.as_ref().unwrap();
//!         assert_eq!(after.state, Column::Value(AgentStateState::OnCall));
//!         assert_eq!(change.changed_columns(), ["state"]);
//!     }
//!     other => println!("not interested in {}", other.table_name()),
//! }
//! let state = |column| event.change.column_state(ImageSide::After, column);
//! assert_eq!(state("softphone_ip_address"), ColumnState::Redacted(Redaction::Hash));
//! assert_eq!(state("team_id"), ColumnState::Null);
//! assert_eq!(state("site_id"), ColumnState::Absent);
//! # Ok::<(), consumer_sdk::Error>(())
//! ```

mod batch;
mod change;
mod detail;
mod envelope;
mod error;
mod pattern;
mod wire;

#[cfg(feature = "dedupe-dynamodb")]
pub mod dedupe;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "sqs")]
pub mod sqs;

pub use batch::{BatchFailure, FailureReason};
pub use change::{Change, ColumnChanges, ColumnState, ImageSide, RawChange, TableChange};
pub use detail::{
    ChangeInfo, DetailVersion, ImageCompleteness, InvalidVersion, Metadata, Redaction,
    SequenceNumber, SourceFormat, DETAIL_TYPE, SUPPORTED_MAJOR_VERSION,
};
pub use envelope::{Envelope, Event};
pub use error::{Error, ErrorKind, JsonType};
pub use pattern::{Condition, DetailFilter, EventPattern, PatternError};

/// The typed models this crate's changes carry (re-exported so consumers use the same version).
pub use cdc_models;
pub use cdc_models::{Column, Operation, Table};
/// The date-time library of [`ChangeInfo::timestamp`] (re-exported).
pub use chrono;
