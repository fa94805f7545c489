//! Pieces the operator CLI and the `health-check` / `dead-letter-processor` functions share: the
//! operator error type and writing EMF lines (their variables are read by
//! [`cdc_processor::aws::config::Reader`], as the processor's are). Depends on
//! nothing else in this crate, so `ops → redrive → shared` and `health → shared` stay acyclic.

use aws_smithy_types::error::display::DisplayErrorContext;
use cdc_processor::aws::truncate;

/// An operator action failed: the AWS operation and its error (codes and messages only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// An AWS call failed.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The operation (`Scan (checkpoints)`, `ReceiveMessage`, …).
        operation: String,
        /// The SDK's error, without request contents.
        message: String,
    },
    /// The AWS default credential chain found no credentials.
    #[error(
        "{operation}: no AWS credentials found: set AWS_PROFILE (after `aws sso login` for SSO), or \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for an emulator, AWS_ENDPOINT_URL with dummy keys"
    )]
    NoCredentials {
        /// The operation (`GetQueueUrl (cdc-pipeline-dlq)`, …).
        operation: String,
    },
    /// The table, queue or stream named in the operation does not exist (in this region).
    #[error("{operation}: not found ({code})")]
    NotFound {
        /// The operation, with the resource's name (`Scan (cdc-pipeline-checkpoints)`, …).
        operation: String,
        /// The service's error code.
        code: String,
    },
    /// Something the operator asked for does not exist or cannot be done.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn aws_error<E>(
    operation: &str,
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> OpsError
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let text = DisplayErrorContext(err).to_string();
    // The credential chain found nothing: say so instead of a dispatch failure's dump.
    if matches!(err, SdkError::DispatchFailure(_))
        && (text.contains("no credentials found")
            || text.contains("credential provider was not enabled")
            || text.contains("failed to load credentials"))
    {
        return OpsError::NoCredentials {
            operation: operation.to_string(),
        };
    }
    if let Some(code) = err.as_service_error().and_then(|e| e.code()) {
        if matches!(
            code,
            "ResourceNotFoundException"
                | "QueueDoesNotExist"
                | "AWS.SimpleQueueService.NonExistentQueue"
                | "ResourceNotFound"
        ) {
            return OpsError::NotFound {
                operation: operation.to_string(),
                code: code.to_string(),
            };
        }
    }
    OpsError::Aws {
        operation: operation.to_string(),
        message: truncate(&text, 512),
    }
}

// ------------------------------------------------------------------------------------------------
// EMF
// ------------------------------------------------------------------------------------------------

/// One EMF document: the processor's own writer, so every function's lines share one shape.
pub use cdc_processor::aws::metrics::emf_document;

/// Reads `.env` in the current directory into the environment, as the `.env.example` at the
/// repository root describes: variables already set in the environment win over the file's. A
/// missing file is not an error; an unreadable or malformed one is reported on stderr (the line,
/// never the values) and ignored. Binaries call it first, before any thread starts.
pub fn load_dotenv(program: &str) {
    match dotenvy::from_path(".env") {
        Ok(()) => {}
        Err(e) if e.not_found() => {}
        Err(dotenvy::Error::LineParse(_, index)) => {
            eprintln!("{program}: .env: cannot parse it at character {index}; the lines from there on are ignored")
        }
        Err(e) => eprintln!("{program}: .env: {e}; the file is ignored"),
    }
}
