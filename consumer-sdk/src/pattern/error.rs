//! [`PatternError`]: why an event pattern cannot be built.

/// Why an [`EventPattern`](super::EventPattern) cannot be built.
///
/// ```
/// use consumer_sdk::{Condition, EventPattern, PatternError, Table};
/// let err = EventPattern::new()
///     .tables([Table::Customers])
///     .after("first_name", Condition::prefix("A"))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, PatternError::RedactedColumn { policy: "mask", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// No selected table has this column (or, for `keys`, no such key column).
    #[error("no table among {} has a column for `{field}`", .tables.join(", "))]
    UnknownColumn {
        /// `after.<column>`, `before.<column>` or `keys.<column>`.
        field: String,
        /// The selected tables.
        tables: Vec<String>,
    },
    /// The condition can never match the column's type (e.g. numeric on a string column).
    #[error("a {condition} condition cannot match `{field}` of table {table} (wrong column type)")]
    IncompatibleCondition {
        /// The field.
        field: String,
        /// The table whose column type does not fit.
        table: String,
        /// The kind of condition.
        condition: &'static str,
    },
    /// The column is redacted in events (removed, masked or partially masked), so a condition on
    /// its value would not see the real value. Use `exists`/`absent`/`null`, or
    /// [`EventPattern::allow_redacted_columns`](super::EventPattern::allow_redacted_columns) when redaction is off.
    #[error("`{field}` of table {table} is redacted with `{policy}` in events: its value cannot be matched")]
    RedactedColumn {
        /// The field.
        field: String,
        /// The table.
        table: String,
        /// The column's redaction policy.
        policy: &'static str,
    },
    /// The condition itself is malformed.
    #[error("invalid condition on `{field}`: {reason}")]
    InvalidCondition {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// `any_of` needs at least two alternatives, none of them empty.
    #[error("any_of needs at least two alternatives, each with at least one condition")]
    BadAlternatives,
}
