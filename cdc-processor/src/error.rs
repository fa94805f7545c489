//! Error categories of the pipeline (the seed's table, plus oversize).

use serde::{Deserialize, Serialize};

/// Category of a failed record: decides whether it is dead-lettered or retried.
///
/// | code | handling | retryable |
/// |---|---|---|
/// | `PARSE_ERROR` | dead-letter, continue | no |
/// | `VALIDATION_ERROR` | dead-letter, continue | no |
/// | `ENTRY_TOO_LARGE` | dead-letter, continue | no |
/// | `TRANSFORMATION_ERROR` | retry, then dead-letter | yes |
/// | `EVENTBRIDGE_ERROR` | retry transient codes, dead-letter permanent ones | depends on the code |
/// | `STATE_ERROR` | retry (report the record as failed) | yes |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Bad base64, invalid UTF-8, invalid JSON, unknown record shape, broken KPL framing.
    ParseError,
    /// Unknown table, a row the schema rejects, a value that cannot be normalized.
    ValidationError,
    /// The EventBridge entry is larger than the configured limit.
    EntryTooLarge,
    /// Transformation failed (retryable in the seed's table).
    TransformationError,
    /// EventBridge rejected or failed the entry.
    EventbridgeError,
    /// Checkpoint or state store failed.
    StateError,
}

impl ErrorCode {
    /// The wire name (`PARSE_ERROR`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::EntryTooLarge => "ENTRY_TOO_LARGE",
            ErrorCode::TransformationError => "TRANSFORMATION_ERROR",
            ErrorCode::EventbridgeError => "EVENTBRIDGE_ERROR",
            ErrorCode::StateError => "STATE_ERROR",
        }
    }

    /// Whether a record failing with this category is retried (reported to Lambda as a batch
    /// item failure) rather than dead-lettered: `TRANSFORMATION_ERROR` and `STATE_ERROR`.
    /// `EVENTBRIDGE_ERROR` is dead-lettered when EventBridge rejected the entry; a transient
    /// EventBridge failure is a `PublishOutcome::Failed`, retried without a category.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::TransformationError | ErrorCode::StateError)
    }

    /// Every category.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::ParseError,
        ErrorCode::ValidationError,
        ErrorCode::EntryTooLarge,
        ErrorCode::TransformationError,
        ErrorCode::EventbridgeError,
        ErrorCode::StateError,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A categorized failure of one record. The message names columns, paths and reasons, never
/// column values (it ends up in logs, metrics and dead letters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RecordError {
    /// Category.
    pub code: ErrorCode,
    /// What went wrong, without row values.
    pub message: String,
}

impl RecordError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RecordError {
            code,
            message: message.into(),
        }
    }
}
