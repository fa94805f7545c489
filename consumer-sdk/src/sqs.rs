//! An SQS poller (feature `sqs`): receive from a queue that is an EventBridge rule target, parse,
//! hand each event to a callback, delete it when the callback succeeds.
//!
//! A message whose body cannot be read, or whose callback fails, is left in the queue: it becomes
//! visible again after the visibility timeout and, after the queue's `maxReceiveCount`, moves to
//! its dead-letter queue. Deliveries are at least once; deduplicate on [`Event::dedupe_key`].
//!
//! ```no_run
//! # async fn demo(sdk_config: &aws_config::SdkConfig) -> Result<(), consumer_sdk::sqs::PollError> {
//! use consumer_sdk::sqs::SqsPoller;
//! use std::ops::ControlFlow;
//!
//! let poller = SqsPoller::new(aws_sdk_sqs::Client::new(sdk_config), "https://sqs…/wallboards");
//! let mut count = 0;
//! poller
//!     .run(
//!         async |event| {
//!             count += 1;
//!             println!("{} {}", event.change.operation(), event.change.table_name());
//!             Ok::<(), std::convert::Infallible>(())
//!         },
//!         |outcome| {
//!             for failure in &outcome.failures {
//!                 eprintln!("{}: {}", failure.message_id, failure.reason);
//!             }
//!             ControlFlow::Continue(())
//!         },
//!     )
//!     .await
//! # }
//! ```

use crate::{BatchFailure, Event, FailureReason};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use std::ops::ControlFlow;

pub use aws_sdk_sqs;

/// Why a poll failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// `ReceiveMessage` failed.
    #[error("ReceiveMessage from {queue_url} failed: {message}")]
    Receive {
        /// The queue.
        queue_url: String,
        /// The SDK error with its causes.
        message: String,
        /// The SDK error.
        #[source]
        source: Box<aws_sdk_sqs::Error>,
    },
}

/// What one poll did.
#[derive(Debug)]
#[non_exhaustive]
pub struct PollOutcome<E> {
    /// Messages received.
    pub received: usize,
    /// Messages handled successfully and deleted.
    pub deleted: usize,
    /// Messages left in the queue, and why.
    pub failures: Vec<BatchFailure<E>>,
}

/// Polls one SQS queue; see the [module docs](self) for an example.
#[derive(Debug, Clone)]
pub struct SqsPoller {
    client: Client,
    queue_url: String,
    max_messages: i32,
    wait_time_seconds: i32,
    visibility_timeout: Option<i32>,
}

impl SqsPoller {
    /// A poller of `queue_url`: up to 10 messages per receive, 20 s long polling, the queue's
    /// visibility timeout.
    pub fn new(client: Client, queue_url: impl Into<String>) -> SqsPoller {
        SqsPoller {
            client,
            queue_url: queue_url.into(),
            max_messages: 10,
            wait_time_seconds: 20,
            visibility_timeout: None,
        }
    }

    /// Messages per receive, clamped to SQS's 1–10.
    pub fn max_messages(mut self, n: i32) -> SqsPoller {
        self.max_messages = n.clamp(1, 10);
        self
    }

    /// Long-polling wait, clamped to SQS's 0–20 seconds.
    pub fn wait_time_seconds(mut self, seconds: i32) -> SqsPoller {
        self.wait_time_seconds = seconds.clamp(0, 20);
        self
    }

    /// Visibility timeout of received messages, instead of the queue's: how long a failed
    /// message stays hidden before it is received again.
    pub fn visibility_timeout(mut self, seconds: i32) -> SqsPoller {
        self.visibility_timeout = Some(seconds.max(0));
        self
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Receives one batch, hands each readable event to `handler` in order, and deletes the
    /// messages it handled successfully.
    pub async fn poll_once<E>(
        &self,
        mut handler: impl AsyncFnMut(Event) -> Result<(), E>,
    ) -> Result<PollOutcome<E>, PollError> {
        let mut receive = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.max_messages)
            .wait_time_seconds(self.wait_time_seconds);
        if let Some(v) = self.visibility_timeout {
            receive = receive.visibility_timeout(v);
        }
        let output = receive.send().await.map_err(|e| {
            let source = aws_sdk_sqs::Error::from(e);
            PollError::Receive {
                queue_url: self.queue_url.clone(),
                message: DisplayErrorContext(&source).to_string(),
                source: Box::new(source),
            }
        })?;
        let messages = output.messages.unwrap_or_default();
        let mut outcome = PollOutcome {
            received: messages.len(),
            deleted: 0,
            failures: Vec::new(),
        };
        let mut to_delete = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let message_id = message.message_id().unwrap_or_default().to_string();
            let parsed = Event::from_sqs_body(message.body().unwrap_or_default());
            let reason = match parsed {
                Err(e) => FailureReason::Parse(e),
                Ok(event) => match handler(event).await {
                    Ok(()) => {
                        if let Some(handle) = message.receipt_handle() {
                            to_delete.push((i, message_id, handle.to_string()));
                        }
                        continue;
                    }
                    Err(e) => FailureReason::Handler(e),
                },
            };
            outcome.failures.push(BatchFailure { message_id, reason });
        }
        if to_delete.is_empty() {
            return Ok(outcome);
        }
        let entries = to_delete
            .iter()
            .map(|(i, _, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect::<Vec<_>>();
        let result = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match result {
            Ok(out) => {
                outcome.deleted = out.successful().len();
                for failed in out.failed() {
                    let Some((_, message_id, _)) = to_delete
                        .iter()
                        .find(|(i, _, _)| i.to_string() == failed.id())
                    else {
                        continue;
                    };
                    outcome.failures.push(BatchFailure {
                        message_id: message_id.clone(),
                        reason: FailureReason::Delete(format!(
                            "{}: {}",
                            failed.code(),
                            failed.message().unwrap_or_default()
                        )),
                    });
                }
            }
            Err(e) => {
                let text = DisplayErrorContext(&aws_sdk_sqs::Error::from(e)).to_string();
                for (_, message_id, _) in to_delete {
                    outcome.failures.push(BatchFailure {
                        message_id,
                        reason: FailureReason::Delete(text.clone()),
                    });
                }
            }
        }
        Ok(outcome)
    }

    /// Polls until `after_batch` breaks, calling it with the outcome of every poll (also of
    /// empty ones, so it can stop when the queue is idle). Stops at the first [`PollError`].
    pub async fn run<E>(
        &self,
        mut handler: impl AsyncFnMut(Event) -> Result<(), E>,
        mut after_batch: impl FnMut(PollOutcome<E>) -> ControlFlow<()>,
    ) -> Result<(), PollError> {
        loop {
            let outcome = self.poll_once(&mut handler).await?;
            if after_batch(outcome).is_break() {
                return Ok(());
            }
        }
    }
}
