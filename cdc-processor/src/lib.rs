//! The CDC pipeline: Kinesis records → typed, redacted `CDC.TableChange` events on EventBridge.
//!
//! Stages, one module each, in the order a record passes them:
//! [`decode`] (base64, KPL aggregates, JSON lines) → [`formats`] (CoreDB trigger, Debezium, DMS →
//! one internal change) → [`validate`] (typed images of the table) → [`transform`] (projection and
//! redaction) → [`event`] (the EventBridge entry) → [`plan`] (PutEvents requests).
//! [`pipeline`] runs them per shard with checkpoints and dead letters; [`ports`] holds the
//! interfaces to publishing, checkpoints and dead letters; [`local`] implements them with files
//! (the local mode, no AWS). [`aws`] implements them on AWS and holds the Lambda handlers; it and
//! the binaries need the default `aws` feature (without it the crate builds without the AWS SDK).

/// The deployed function: the ports on EventBridge, DynamoDB and SQS, and the Lambda handler
/// (the default `aws` feature).
#[cfg(feature = "aws")]
pub mod aws;
pub mod change;
pub mod config;
pub mod decode;
pub mod error;
pub mod event;
pub mod formats;
pub mod local;
mod one_pass;
pub mod pipeline;
pub mod plan;
pub mod ports;
pub mod sequence;
pub mod transform;
pub mod validate;

/// In-memory implementations of the ports, for tests (this crate's, the AWS integration's and the
/// fault tests').
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::PipelineConfig;
pub use error::{ErrorCode, RecordError};
pub use pipeline::{BatchReport, Counts, Pipeline};
