//! The deployed function: the pipeline's ports implemented with the real aws-sdk-rust clients, and
//! the `cdc-processor` Lambda on the real Lambda runtime.
//!
//! | module | what |
//! |---|---|
//! | [`config`](crate::aws::config) | environment variables, validated at init; the SDK clients, built once |
//! | [`eventbridge`](crate::aws::eventbridge) | [`Publisher`](crate::ports::Publisher): `PutEvents`, per-entry retries |
//! | [`dynamodb`](crate::aws::dynamodb) | [`CheckpointStore`](crate::ports::CheckpointStore) (forward-only, numeric) and [`StateStore`](crate::ports::StateStore) |
//! | [`sqs`](crate::aws::sqs) | [`DeadLetterSink`](crate::ports::DeadLetterSink): `SendMessageBatch` to the DLQ |
//! | [`metrics`](crate::aws::metrics) | CloudWatch Embedded Metric Format lines on stdout |
//! | [`lambda`](crate::aws::lambda) | the handler and the runtime loop |
//!
//! The `health-check` and `dead-letter-processor` functions and the `cdc-ops` operator CLI are
//! the `cdc-ops` crate, built on these adapters.
//!
//! Nothing here logs, measures or puts in an error message a column value: errors carry AWS error
//! codes and messages, counts, sizes and Kinesis positions only.

pub mod aimd;
pub mod config;
pub mod dynamodb;
pub mod eventbridge;
pub mod lambda;
pub mod metrics;
pub mod sqs;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The HTTP client every SDK client uses: hyper with rustls on the `ring` crypto provider (the slim
/// build: no aws-lc C library).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// An SDK call's failure, reduced to what the adapters decide on and report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// Whether retrying can help: timeouts, I/O errors, throttling, 5xx.
    pub transient: bool,
    /// The AWS error code, or a transport category (`TimeoutError`, `DispatchFailure`, …).
    pub code: String,
    /// The error message (AWS messages name resources and reasons, never request contents).
    pub message: String,
}

/// AWS error codes that mean "slow down or try again".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "InternalException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an AWS error code (per entry or per call) is worth retrying.
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Classifies an SDK error: transport failures, timeouts, throttling and 5xx are transient; anything
/// else (validation, access, missing resources) is not.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = truncate(&DisplayErrorContext(err).to_string(), 512);
    match err {
        SdkError::TimeoutError(_) => CallError {
            transient: true,
            code: "TimeoutError".into(),
            message,
        },
        SdkError::DispatchFailure(f) => CallError {
            // I/O (connection refused or reset) and timeouts are worth another try; a broken
            // client configuration is not.
            transient: f.is_io() || f.is_timeout() || f.is_other(),
            code: "DispatchFailure".into(),
            message,
        },
        SdkError::ResponseError(_) => CallError {
            transient: true,
            code: "ResponseError".into(),
            message,
        },
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_string();
            let status = se.raw().status().as_u16();
            let transient = is_transient_code(&code) || status >= 500 || status == 429;
            let message = se.err().message().map_or(message, |m| truncate(m, 512));
            CallError {
                transient,
                code,
                message,
            }
        }
        _ => CallError {
            transient: false,
            code: "ConstructionFailure".into(),
            message,
        },
    }
}

/// Cuts a message to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Retry policy for transient AWS failures: exponential backoff from `base_delay`, doubling, capped
/// at `max_delay`, with jitter, at most `max_retries` retries after the first attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`MAX_RETRY_ATTEMPTS`).
    pub max_retries: usize,
    /// First delay (the seed's 100 ms).
    pub base_delay: std::time::Duration,
    /// Largest delay, jitter included (the seed's 5 s).
    pub max_delay: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: std::time::Duration::from_millis(100),
            max_delay: std::time::Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The `backon` backoff: delays `base · 2ⁿ` capped at `max`, plus jitter in `[0, delay)`.
    /// (The jittered delay is capped at `max_delay` again by the caller through `adjust`.)
    pub fn backoff(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}
