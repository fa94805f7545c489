//! The `dead-letter-processor` Lambda (SQS trigger on the DLQ, partial batch response) and the
//! re-drive behind `cdc-ops dlq process`.
//!
//! Each message's [`DeadLetter`] is re-driven through the same [`Pipeline`] as the
//! `cdc-processor` (same configuration, redaction key, EventBridge publisher), from its
//! `originalEvent` — the raw Kinesis record with its pointer — so the record gets the **same event
//! id** as on its first attempt (the id is derived from the Kinesis pointer).
//!
//! ## Idempotency: a per-record checkpoint
//!
//! The re-drive uses the pipeline's checkpoint semantics on a checkpoint of its own per dead-lettered
//! user record, in the checkpoint table: processor [`REDRIVE_PROCESSOR`], the record's stream, and
//! shard `<shard id>@<event id>` (so `pk = dlq-redrive#<stream>#<shard>@<event id>`). Before the
//! re-drive the pipeline loads it; after a publish (or an acknowledgement) it is moved to the
//! record's position. A second re-drive of the same letter — the same SQS message delivered
//! again, the CLI and the Lambda both taking it, a copy sent by hand — finds the record at its
//! checkpoint and skips it: nothing is published again ([`RedriveOutcome::AlreadyRedriven`]). The
//! items expire with the processor's checkpoints (`CHECKPOINT_TTL_DAYS`, 30 days: longer than the
//! DLQ's and the parking queue's retention). Two re-drives running at the same moment can both
//! publish; they publish the same event id, which consumers deduplicate on.
//!
//! The processor's own checkpoints are neither read nor moved: the dead-lettered record is behind
//! them by construction.
//!
//! ## One user record of a KPL aggregate
//!
//! A dead letter of a user record inside a KPL aggregate holds the whole aggregate. The re-drive
//! handles only that user record: the records before it are below the per-record checkpoint's
//! floor (skipped), and the ports of the re-drive drop what the records after it would publish or
//! dead-letter (each of them was published, or has a dead letter of its own, when the aggregate was
//! first processed).
//!
//! ## Outcomes
//!
//! | the record now | outcome | the SQS message |
//! |---|---|---|
//! | published | [`RedriveOutcome::Published`] (per-record checkpoint moved) | deleted |
//! | at its per-record checkpoint | [`RedriveOutcome::AlreadyRedriven`] | deleted |
//! | acknowledged (tombstone, table not captured…) | [`RedriveOutcome::Acknowledged`] | deleted |
//! | fails for a permanent reason, attempts + 1 < `DLQ_MAX_ATTEMPTS` | [`RedriveOutcome::DeadLetteredAgain`]: the letter with `attempts` + 1, the new error and `lastAttempt` is sent to the DLQ (delayed by `DLQ_REDRIVE_DELAY_SECONDS`) | deleted |
//! | the same, attempts + 1 ≥ `DLQ_MAX_ATTEMPTS` | [`RedriveOutcome::Parked`]: the updated letter goes to `DLQ_PARKING_QUEUE_URL` | deleted |
//! | the body is not a dead letter | [`RedriveOutcome::Parked`]: the body goes to the parking queue unchanged | deleted |
//! | fails transiently (EventBridge throttling or outage, checkpoint table errors, `TRANSFORMATION_ERROR`), or the updated letter cannot be sent | [`RedriveOutcome::Retry`] | reported in `batchItemFailures`: SQS retries it, and after the queue's `maxReceiveCount` moves it to the parking queue |
//!
//! The max attempts stop an endless loop under an always-on trigger: a letter that keeps failing
//! for a permanent reason is parked after `DLQ_MAX_ATTEMPTS` attempts in all (the first one by the
//! processor).

mod letters;
mod scope;

pub use scope::dead_letter_table;
use scope::{
    input_of, target_record, CaptureSink, RedriveCheckpoints, RedriveInput, ScopedPublisher,
};

use crate::shared::{aws_error, emf_document};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine;
use cdc_models::Table;
use cdc_processor::aws::config::{
    load_sdk_config, Clients, ConfigError, Reader, Settings, Variable,
};
use cdc_processor::aws::dynamodb::DynamoCheckpointStore;
use cdc_processor::aws::eventbridge::EventBridgePublisher;
use cdc_processor::aws::lambda::{AppState, InitError};
use cdc_processor::aws::metrics::MetricsSink;
use cdc_processor::decode::kinesis::shard_id;
use cdc_processor::decode::{deaggregate, LenientKinesisEvent, LenientKinesisRecord, RawInput};
use cdc_processor::error::ErrorCode;
use cdc_processor::formats::{self, Decoded, FormatOptions};
use cdc_processor::pipeline::{BatchReport, Disposition, Pipeline, RecordOutcome};
use cdc_processor::ports::{
    Advance, CheckpointKey, CheckpointStore, DeadLetter, DeadLetterError, DeadLetterSink,
    PreparedEntry, PublishOutcome, Publisher, SinkError, StateError,
};
use cdc_processor::sequence::Position;
use chrono::Utc;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The processor name of the re-drive's per-record checkpoints (idempotency records) in the
/// checkpoint table.
pub const REDRIVE_PROCESSOR: &str = "dlq-redrive";

/// The dead-letter processor's own variables (besides the `cdc-processor`'s, which it reads the
/// same way: [`AppState::init`]).
pub const VARIABLES: &[Variable] = &[
    Variable::new("DLQ_PARKING_QUEUE_URL", "the parking SQS queue URL, where letters go after DLQ_MAX_ATTEMPTS attempts (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or an emulator's `http://…`)", None, true),
    Variable::new("DLQ_MAX_ATTEMPTS", "an integer 2..=100: attempts (the processor's first one included) after which a letter that still fails permanently is parked", Some("5"), false),
    Variable::new("DLQ_REDRIVE_DELAY_SECONDS", "an integer 0..=900: delay of a letter dead-lettered again before the DLQ delivers it (standard queues only)", Some("60"), false),
];

/// The dead-letter processor's own configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedriveConfig {
    /// `DLQ_PARKING_QUEUE_URL`.
    pub parking_queue_url: String,
    /// `DLQ_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// `DLQ_REDRIVE_DELAY_SECONDS`.
    pub redrive_delay: Duration,
}

impl RedriveConfig {
    /// Reads the variables through `lookup`; a missing or invalid one is named with its expected
    /// form, never its value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let v = Reader::new(&lookup, VARIABLES);
        Ok(RedriveConfig {
            parking_queue_url: v.url("DLQ_PARKING_QUEUE_URL")?,
            max_attempts: v.integer("DLQ_MAX_ATTEMPTS", 2u32..=100)?,
            redrive_delay: Duration::from_secs(v.integer("DLQ_REDRIVE_DELAY_SECONDS", 0..=900)?),
        })
    }
}

/// What re-driving one message did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    tag = "outcome",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum RedriveOutcome {
    /// The record was published (under its original event id).
    Published {
        /// The event id.
        event_id: String,
    },
    /// The record had already been re-driven: nothing published again.
    AlreadyRedriven {
        /// The event id.
        event_id: String,
    },
    /// The record is not a change to publish any more (tombstone, control record, a table no
    /// longer captured): acknowledged, nothing published.
    Acknowledged {
        /// The event id.
        event_id: Option<String>,
        /// Why.
        reason: String,
    },
    /// It failed again for a permanent reason: the updated letter is back in the DLQ.
    DeadLetteredAgain {
        /// The new error's category.
        code: ErrorCode,
        /// Attempts so far.
        attempts: u32,
    },
    /// Moved to the parking queue: attempts exhausted, or the body is not a dead letter.
    Parked {
        /// The last error's category, when the body is a dead letter.
        code: Option<ErrorCode>,
        /// Attempts so far, when the body is a dead letter.
        attempts: Option<u32>,
        /// Why.
        reason: String,
    },
    /// A transient failure: the message is reported for SQS to deliver again.
    Retry {
        /// Why (no record contents).
        reason: String,
    },
}

impl RedriveOutcome {
    /// Whether the message must be reported in `batchItemFailures` (kept in the queue).
    pub fn is_retry(&self) -> bool {
        matches!(self, RedriveOutcome::Retry { .. })
    }

    /// `published`, `already-redriven`, `acknowledged`, `dead-lettered-again`, `parked`, `retry`.
    pub fn kind(&self) -> &'static str {
        match self {
            RedriveOutcome::Published { .. } => "published",
            RedriveOutcome::AlreadyRedriven { .. } => "already-redriven",
            RedriveOutcome::Acknowledged { .. } => "acknowledged",
            RedriveOutcome::DeadLetteredAgain { .. } => "dead-lettered-again",
            RedriveOutcome::Parked { .. } => "parked",
            RedriveOutcome::Retry { .. } => "retry",
        }
    }
}

/// Why init failed: a variable of the processor's, of the re-drive's, or the key's secret.
#[derive(Debug, thiserror::Error)]
pub enum RedriveInitError {
    /// The pipeline's and AWS side's configuration (as for the `cdc-processor`).
    #[error(transparent)]
    App(#[from] InitError),
    /// The re-drive's own variables.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Everything built once at init: the processor's state (pipeline configuration, publisher),
/// the SQS client, the per-record checkpoint store.
pub struct Redriver {
    app: AppState,
    sqs: aws_sdk_sqs::Client,
    idempotency: DynamoCheckpointStore,
    config: RedriveConfig,
    metrics: MetricsSink,
}

impl std::fmt::Debug for Redriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redriver")
            .field("app", &self.app)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Redriver {
    /// Init from variables given by `lookup`, with a ready SDK configuration: the processor's
    /// configuration exactly as the `cdc-processor` reads it (HMAC key from its secret included),
    /// plus [`RedriveConfig`]. `metrics` receives the re-drive's EMF lines.
    pub async fn init(
        lookup: impl Fn(&str) -> Option<String>,
        sdk: &SdkConfig,
        metrics: MetricsSink,
    ) -> Result<Self, RedriveInitError> {
        let config = RedriveConfig::from_lookup(&lookup)?;
        let app = AppState::init(&lookup, sdk, metrics.clone()).await?;
        let settings = app.settings();
        let clients = Clients::new(sdk, settings);
        let idempotency =
            DynamoCheckpointStore::new(clients.dynamodb, &settings.checkpoint_table_name).with_ttl(
                Duration::from_secs(u64::from(settings.checkpoint_ttl_days) * 86_400),
            );
        Ok(Redriver {
            app,
            sqs: clients.sqs,
            idempotency,
            config,
            metrics,
        })
    }

    /// Init from the process environment (credentials, region and `AWS_ENDPOINT_URL` through
    /// aws-config's default chain); metrics to stdout.
    pub async fn from_env() -> Result<Self, RedriveInitError> {
        let settings = Settings::from_env().map_err(InitError::from)?;
        let sdk = load_sdk_config(&settings).await;
        Redriver::init(|k| std::env::var(k).ok(), &sdk, MetricsSink::Stdout).await
    }

    /// The re-drive's configuration.
    pub fn config(&self) -> &RedriveConfig {
        &self.config
    }

    /// The processor's settings (DLQ URL, tables, names).
    pub fn settings(&self) -> &Settings {
        self.app.settings()
    }

    /// Re-drives one SQS message's body (see the [module docs](self) for the outcomes). The
    /// message id is only logged.
    pub async fn redrive_message(&self, message_id: &str, body: &str) -> RedriveOutcome {
        let outcome = match serde_json::from_str::<DeadLetter>(body) {
            Ok(letter) => self.redrive(letter).await,
            Err(e) => {
                let reason = format!(
                    "the message body is not a dead letter ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                );
                match self.park_raw(body).await {
                    Ok(()) => RedriveOutcome::Parked {
                        code: None,
                        attempts: None,
                        reason,
                    },
                    Err(e) => RedriveOutcome::Retry {
                        reason: format!("{reason}; and it could not be parked: {e}"),
                    },
                }
            }
        };
        match &outcome {
            RedriveOutcome::Retry { reason } => {
                tracing::warn!(message_id, outcome = outcome.kind(), reason = %reason, "re-drive")
            }
            RedriveOutcome::DeadLetteredAgain { code, attempts } => {
                tracing::warn!(message_id, outcome = outcome.kind(), code = %code, attempts, "re-drive")
            }
            RedriveOutcome::Parked { reason, .. } => {
                tracing::warn!(message_id, outcome = outcome.kind(), reason = %reason, "re-drive")
            }
            _ => tracing::info!(message_id, outcome = outcome.kind(), "re-drive"),
        }
        outcome
    }

    /// Re-drives one dead letter.
    pub async fn redrive(&self, letter: DeadLetter) -> RedriveOutcome {
        let target = letter.event_id.clone();
        let key = target.as_ref().map(|id| CheckpointKey {
            processor: REDRIVE_PROCESSOR.to_string(),
            stream: letter.kinesis.stream_arn.clone().unwrap_or_default(),
            shard: format!(
                "{}@{id}",
                letter.kinesis.shard_id.as_deref().unwrap_or("unknown")
            ),
        });
        let floor = match (
            letter
                .kinesis
                .sequence_number
                .as_deref()
                .map(str::parse::<cdc_processor::sequence::SequenceNumber>),
            letter.kinesis.sub_sequence_number,
        ) {
            (Some(Ok(sequence)), Some(n)) => Some(Position {
                sequence,
                sub_sequence: n.checked_sub(1),
            }),
            _ => None,
        };
        let input = input_of(&letter.original_event);
        if let RedriveInput::Unusable(reason) = &input {
            let error = DeadLetterError {
                message: reason.clone(),
                code: ErrorCode::ParseError,
                stack: "dead-letter-processor::redrive: PARSE_ERROR".into(),
            };
            return self.dead_letter_again(letter, error, None).await;
        }
        let sink = CaptureSink {
            target: target.clone(),
            captured: Mutex::new(Vec::new()),
        };
        let pipeline = Pipeline::new(
            self.app.pipeline().config().clone(),
            ScopedPublisher {
                inner: self.app.pipeline().publisher(),
                target: target.clone(),
            },
            RedriveCheckpoints {
                store: &self.idempotency,
                key: key.clone(),
                floor,
            },
            sink,
        );
        let report = match &input {
            RedriveInput::Kinesis(event) => {
                pipeline
                    .process_lenient_event(event, REDRIVE_PROCESSOR)
                    .await
            }
            RedriveInput::Raw(raw) => {
                pipeline
                    .process_raw_records(vec![raw.clone()], REDRIVE_PROCESSOR)
                    .await
            }
            RedriveInput::Unusable(_) => unreachable!("handled above"),
        };
        let Some(record) = target_record(&report, target.as_deref()) else {
            if let Some(failed) = report.records.iter().find_map(|r| match &r.disposition {
                Disposition::Failed { reason } => Some(reason.clone()),
                _ => None,
            }) {
                return RedriveOutcome::Retry { reason: failed };
            }
            let error = DeadLetterError {
                message: "the original event no longer yields the dead-lettered record (its event id is not among the records it decodes to)".into(),
                code: ErrorCode::ParseError,
                stack: "dead-letter-processor::redrive: PARSE_ERROR".into(),
            };
            return self.dead_letter_again(letter, error, None).await;
        };
        let position = record
            .sequence_number
            .parse()
            .ok()
            .map(|sequence| Position {
                sequence,
                sub_sequence: record.sub_sequence_number,
            });
        match &record.disposition {
            Disposition::Published => {
                let event_id = record.event_id.as_deref().unwrap_or_default().to_string();
                self.remember(key.as_ref(), position.as_ref()).await;
                RedriveOutcome::Published { event_id }
            }
            Disposition::Skipped => RedriveOutcome::AlreadyRedriven {
                event_id: record.event_id.as_deref().unwrap_or_default().to_string(),
            },
            Disposition::Acknowledged { reason } => {
                self.remember(key.as_ref(), position.as_ref()).await;
                RedriveOutcome::Acknowledged {
                    event_id: record.event_id.as_deref().map(str::to_string),
                    reason: reason.as_str().to_string(),
                }
            }
            Disposition::Failed { reason } => RedriveOutcome::Retry {
                reason: reason.clone(),
            },
            Disposition::DeadLettered { code, message } => {
                let captured = pipeline
                    .dead_letters()
                    .captured
                    .lock()
                    .expect("not poisoned")
                    .pop();
                let (error, format) = match captured {
                    Some(c) => (c.error, c.source_format),
                    None => (
                        DeadLetterError {
                            message: message.clone(),
                            code: *code,
                            stack: format!("dead-letter-processor::redrive: {code}"),
                        },
                        None,
                    ),
                };
                self.dead_letter_again(letter, error, format).await
            }
        }
    }
}

/// One SQS batch: every message re-driven in order; the messages whose outcome is a retry are
/// returned in `batchItemFailures` (the others are deleted by Lambda); EMF lines written.
pub async fn handler(
    redriver: &Redriver,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let (payload, _context) = event.into_parts();
    let started = Utc::now();
    let mut response = SqsBatchResponse::default();
    let mut outcomes = Vec::with_capacity(payload.records.len());
    for m in &payload.records {
        let id = m.message_id.clone().unwrap_or_default();
        let outcome = redriver
            .redrive_message(&id, m.body.as_deref().unwrap_or(""))
            .await;
        if outcome.is_retry() {
            if id.is_empty() {
                tracing::error!("a message without a message id cannot be reported for retry");
            } else {
                response.add_failure(id);
            }
        }
        outcomes.push(outcome);
    }
    redriver
        .metrics
        .write(&redriver.emf_lines(&outcomes, started.timestamp_millis()));
    tracing::info!(
        messages = outcomes.len(),
        retried = response.batch_item_failures.len(),
        "batch done"
    );
    Ok(response)
}

/// The function's main loop: JSON logs, init once, then serve SQS batches.
pub async fn run() -> Result<(), Error> {
    cdc_processor::aws::lambda::init_tracing();
    let redriver = match Redriver::from_env().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            return Err(e.into());
        }
    };
    tracing::info!(
        max_attempts = redriver.config.max_attempts,
        delay_seconds = redriver.config.redrive_delay.as_secs(),
        "init done"
    );
    let redriver = &redriver;
    lambda_runtime::run(service_fn(move |event| handler(redriver, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn configuration() {
        let m: HashMap<&str, &str> = [("DLQ_PARKING_QUEUE_URL", "http://127.0.0.1:1/q/parking")]
            .into_iter()
            .collect();
        let c = RedriveConfig::from_lookup(|k| m.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.redrive_delay, Duration::from_secs(60));
        let err = RedriveConfig::from_lookup(|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("DLQ_PARKING_QUEUE_URL is not set"), "{err}");
        for (name, value) in [
            ("DLQ_MAX_ATTEMPTS", "101"),
            ("DLQ_REDRIVE_DELAY_SECONDS", "901"),
            ("DLQ_PARKING_QUEUE_URL", "parking-queue"),
        ] {
            let mut m = m.clone();
            m.insert(name, value);
            let err = RedriveConfig::from_lookup(|k| m.get(k).map(|v| v.to_string()))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(name), "{err}");
            assert!(!err.contains(value), "{err}");
        }
    }

    #[test]
    fn outcomes_serialize_with_their_kind() {
        let v = serde_json::to_value(RedriveOutcome::DeadLetteredAgain {
            code: ErrorCode::ValidationError,
            attempts: 3,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"outcome": "dead-lettered-again", "code": "VALIDATION_ERROR", "attempts": 3})
        );
        assert!(RedriveOutcome::Retry { reason: "x".into() }.is_retry());
    }

    #[test]
    fn unusable_original_events() {
        assert!(matches!(
            input_of(&json!({"eventSource": "local", "kinesis": {}})),
            RedriveInput::Unusable(_)
        ));
        assert!(matches!(input_of(&json!(42)), RedriveInput::Unusable(_)));
        // As aws_lambda_events serializes a Kinesis record: the arrival time as a string.
        assert!(matches!(
            input_of(
                &json!({"kinesis": {"data": "e30=", "sequenceNumber": "1", "partitionKey": "k",
                "approximateArrivalTimestamp": "1795707033.366"}, "eventID": "shardId-0:1"})
            ),
            RedriveInput::Kinesis(_)
        ));
        assert!(matches!(
            input_of(
                &json!({"kinesis": {"data": "e30=", "sequenceNumber": "1", "partitionKey": "k"}, "eventID": "shardId-0:1"})
            ),
            RedriveInput::Kinesis(_)
        ));
    }
}
