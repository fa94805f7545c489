//! Generator errors.

use std::fmt;

/// One problem in one schema: the file, the JSON pointer and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Schema file name (`users.json`).
    pub file: String,
    /// JSON pointer into the file (`/properties/email/x-redact`).
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

impl SchemaError {
    pub(crate) fn new(file: &str, pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        SchemaError {
            file: file.to_string(),
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{}#{}: {}", self.file, pointer, self.reason)
    }
}

/// Why generation failed. Nothing is written when generation fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema directory could not be read.
    #[error("reading schema directory {dir}: {source}")]
    Io {
        /// The directory.
        dir: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// One or more schemas are invalid.
    #[error("{} schema problem(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Schemas(Vec<SchemaError>),
}
