//! Per-message failures of a batch (SQS Lambda events, the SQS poller).

use crate::Error;
use std::fmt;

/// Why a message of a batch was not processed; it stays in (or returns to) the queue.
///
/// See [`BatchFailure`] for an example.
#[derive(Debug)]
#[non_exhaustive]
pub enum FailureReason<E> {
    /// The body is not a readable `CDC.TableChange` event.
    Parse(Error),
    /// The handler returned an error.
    Handler(E),
    /// Not processed: an earlier message of a FIFO batch failed.
    Skipped,
    /// Handled, but deleting the message from the queue failed (it will be received again).
    Delete(String),
}

impl<E: fmt::Display> fmt::Display for FailureReason<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Parse(e) => write!(f, "unreadable event: {e}"),
            FailureReason::Handler(e) => write!(f, "handler failed: {e}"),
            FailureReason::Skipped => f.write_str("skipped after an earlier failure (FIFO)"),
            FailureReason::Delete(e) => write!(f, "handled but not deleted: {e}"),
        }
    }
}

/// A message of a batch that failed, and why.
///
/// ```
/// use consumer_sdk::{BatchFailure, Event, FailureReason};
/// let failure: BatchFailure<std::io::Error> = BatchFailure {
///     message_id: "m1".into(),
///     reason: FailureReason::Parse(Event::from_json("[]").unwrap_err()),
/// };
/// assert_eq!(failure.to_string(),
///     "m1: unreadable event: $: expected an object (an EventBridge event or a CDC.TableChange detail), found an array");
/// ```
#[derive(Debug)]
pub struct BatchFailure<E> {
    /// The SQS message id.
    pub message_id: String,
    /// Why it failed.
    pub reason: FailureReason<E>,
}

impl<E: fmt::Display> fmt::Display for BatchFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.message_id, self.reason)
    }
}
