//! Lambda adapters (feature `lambda`): [`aws_lambda_events`] EventBridge and SQS events to typed
//! changes, and SQS partial batch responses.
//!
//! The crate does not depend on a Lambda runtime; register these handlers with `lambda_runtime`
//! (`lambda_runtime::run(service_fn(|e: LambdaEvent<SqsEvent>| async move { Ok(handler(e.payload).await) }))`)
//! or any other runtime. The SQS event source mapping needs `ReportBatchItemFailures`.
//!
//! ```
//! use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
//!
//! async fn handler(event: SqsEvent) -> SqsBatchResponse {
//!     let outcome = consumer_sdk::lambda::handle_sqs_event(&event, async |e| {
//!         // Your code: Ok(()) lets Lambda delete the message, Err retries it.
//!         println!("{} {} {}", e.dedupe_key(), e.change.operation(), e.change.table_name());
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .await;
//!     for failure in &outcome.failures {
//!         eprintln!("{failure}"); // never holds row values
//!     }
//!     outcome.into_response()
//! }
//! # let response = tokio::runtime::Builder::new_current_thread().build().unwrap()
//! #     .block_on(handler(SqsEvent::default()));
//! # assert!(response.batch_item_failures.is_empty());
//! ```

use crate::change::parse_detail;
use crate::envelope::check_detail_type;
use crate::error::JsonPath;
use crate::{BatchFailure, Envelope, Error, ErrorKind, Event, FailureReason};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;

pub use aws_lambda_events;

impl Event {
    /// The typed event from the payload a Lambda target of an EventBridge rule receives.
    ///
    /// ```
    /// use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    /// use consumer_sdk::Event;
    /// let payload: EventBridgeEvent = serde_json::from_str(r#"{"version": "0",
    ///   "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "CDC.TableChange",
    ///   "source": "cdc-pipeline", "account": "123456789012", "time": "2026-11-25T10:38:52Z",
    ///   "region": "eu-west-1", "resources": [], "replay-name": "wallboards-backfill",
    ///   "detail": {"version": "1.0", "eventId": "e1", "eventType": "team.changed",
    ///     "table": "teams", "operation": "TRUNCATE", "timestamp": "2026-11-25T10:38:52Z",
    ///     "before": null, "after": null, "beforeImage": null, "afterImage": null,
    ///     "keys": {}, "redactions": {}, "metadata": {"sourceFormat": "debezium"}}}"#).unwrap();
    /// let event = Event::from_lambda_eventbridge(&payload).unwrap();
    /// assert!(event.is_replay());
    /// assert_eq!(event.change.table_name(), "teams");
    /// ```
    pub fn from_lambda_eventbridge(event: &EventBridgeEvent<Value>) -> Result<Event, Error> {
        check_detail_type(&event.detail_type)?;
        let missing = |field: &str| {
            Error::new(
                "$",
                ErrorKind::MissingField {
                    field: field.to_string(),
                },
            )
        };
        let envelope = Envelope {
            version: event.version.clone(),
            id: event.id.clone().ok_or_else(|| missing("id"))?,
            detail_type: event.detail_type.clone(),
            source: event.source.clone(),
            account: event.account.clone(),
            time: event.time.ok_or_else(|| missing("time"))?,
            region: event.region.clone(),
            resources: event.resources.clone().unwrap_or_default(),
            replay_name: event
                .other
                .get("replay-name")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let change = parse_detail(&event.detail, &JsonPath::root().key("detail"))?;
        Ok(Event {
            envelope: Some(envelope),
            change,
        })
    }
}

/// One message of an [`SqsEvent`], parsed.
#[derive(Debug)]
#[non_exhaustive]
pub struct SqsItem<'a> {
    /// The SQS message id (what a partial batch response names); empty if Lambda gave none.
    pub message_id: &'a str,
    /// The event in the body, or why it could not be read.
    pub event: Result<Event, Error>,
}

/// Parses every message of an SQS event (bodies as an EventBridge rule target delivers them).
///
/// ```
/// use aws_lambda_events::event::sqs::SqsEvent;
/// let sqs: SqsEvent = serde_json::from_str(r#"{"Records": [
///   {"messageId": "m1", "body": "not json", "eventSource": "aws:sqs"}]}"#).unwrap();
/// let items: Vec<_> = consumer_sdk::lambda::sqs_items(&sqs).collect();
/// assert_eq!(items[0].message_id, "m1");
/// assert!(items[0].event.is_err());
/// ```
pub fn sqs_items(event: &SqsEvent) -> impl Iterator<Item = SqsItem<'_>> {
    event.records.iter().map(|m| SqsItem {
        message_id: m.message_id.as_deref().unwrap_or_default(),
        event: match m.body.as_deref() {
            Some(body) => Event::from_sqs_body(body),
            None => Err(Error::new(
                "$",
                ErrorKind::MissingField {
                    field: "body".into(),
                },
            )),
        },
    })
}

/// The outcome of a batch: which messages failed and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct SqsBatchOutcome<E> {
    /// How many messages the handler processed successfully.
    pub succeeded: usize,
    /// The messages to retry.
    pub failures: Vec<BatchFailure<E>>,
}

impl<E> SqsBatchOutcome<E> {
    /// The partial batch response to return from the function (its event source mapping must
    /// have `ReportBatchItemFailures`): Lambda deletes every other message of the batch.
    pub fn into_response(self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for f in self.failures {
            response.add_failure(f.message_id);
        }
        response
    }
}

/// Parses every message and hands each readable event to `handler`, in order. Unreadable
/// messages and messages whose handler fails are reported as failures (so SQS retries them and,
/// after `maxReceiveCount`, moves them to the dead-letter queue).
///
/// ```
/// # tokio_test_block(async {
/// use aws_lambda_events::event::sqs::SqsEvent;
/// let sqs: SqsEvent = serde_json::from_str(r#"{"Records": [
///   {"messageId": "m1", "body": "{}", "eventSource": "aws:sqs"}]}"#).unwrap();
/// let mut seen = 0;
/// let outcome = consumer_sdk::lambda::handle_sqs_event(&sqs, async |_event| {
///     seen += 1;
///     Ok::<(), std::convert::Infallible>(())
/// }).await;
/// assert_eq!(seen, 0); // `{}` is not an event
/// let response = outcome.into_response();
/// assert_eq!(response.batch_item_failures[0].item_identifier, "m1");
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn handle_sqs_event<E>(
    event: &SqsEvent,
    handler: impl AsyncFnMut(Event) -> Result<(), E>,
) -> SqsBatchOutcome<E> {
    handle(event, handler, false).await
}

/// Like [`handle_sqs_event`] for a FIFO queue: stops at the first failure and reports it and every
/// later message as failed, so messages of a group are never processed out of order.
pub async fn handle_sqs_fifo_event<E>(
    event: &SqsEvent,
    handler: impl AsyncFnMut(Event) -> Result<(), E>,
) -> SqsBatchOutcome<E> {
    handle(event, handler, true).await
}

async fn handle<E>(
    event: &SqsEvent,
    mut handler: impl AsyncFnMut(Event) -> Result<(), E>,
    fifo: bool,
) -> SqsBatchOutcome<E> {
    let mut outcome = SqsBatchOutcome {
        succeeded: 0,
        failures: Vec::new(),
    };
    for item in sqs_items(event) {
        if fifo && !outcome.failures.is_empty() {
            outcome.failures.push(BatchFailure {
                message_id: item.message_id.to_string(),
                reason: FailureReason::Skipped,
            });
            continue;
        }
        let reason = match item.event {
            Err(e) => FailureReason::Parse(e),
            Ok(event) => match handler(event).await {
                Ok(()) => {
                    outcome.succeeded += 1;
                    continue;
                }
                Err(e) => FailureReason::Handler(e),
            },
        };
        outcome.failures.push(BatchFailure {
            message_id: item.message_id.to_string(),
            reason,
        });
    }
    outcome
}
