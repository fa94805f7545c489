//! The function's configuration: environment variables, validated once at init, and the SDK clients
//! built from them once.
//!
//! Every variable read here is listed in [`VARIABLES`] (and in `docs/configuration.md`,
//! `.env.example`). The pipeline's own variables — `EVENT_BUS_NAME`, `EVENT_SOURCE`,
//! `ENABLE_DATA_REDACTION`, `REDACTION_HMAC_KEY`, `MAX_EVENT_SIZE_BYTES`, the table overrides — are
//! read by [`crate::config::PipelineConfig::from_lookup`] from the same environment, once, at the
//! same init. A missing or invalid variable fails init with its name and the expected form; the
//! value itself is never echoed.
//!
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) is honoured natively by
//! `aws-config`'s default chain; this module only checks its form so a typo fails at init.

use super::http_client;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// One environment variable the function reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// The expected form.
    pub expected: &'static str,
    /// Its default, `None` when it is required (or optional without a default).
    pub default: Option<&'static str>,
    /// Whether init fails without it.
    pub required: bool,
}

impl Variable {
    /// A variable of a `VARIABLES` table: its name, expected form, default and whether init fails
    /// without it (`const`, for the tables of this module and of the ops functions).
    pub const fn new(
        name: &'static str,
        expected: &'static str,
        default: Option<&'static str>,
        required: bool,
    ) -> Variable {
        Variable {
            name,
            expected,
            default,
            required,
        }
    }
}

/// Minimum length of the HMAC key in bytes.
pub const MIN_HMAC_KEY_BYTES: usize = cdc_models::MIN_KEY_BYTES;

/// Every variable the function reads, in the order of `docs/configuration.md`.
pub const VARIABLES: &[Variable] = &[
    Variable::new("AWS_REGION", "an AWS region name such as `us-east-1` (set by Lambda)", None, true),
    Variable::new("KINESIS_STREAM_NAME", "the source stream's name (1-128 of `a-zA-Z0-9_.-`); names the stream in checkpoints when a record carries no eventSourceARN", None, true),
    Variable::new("KINESIS_BATCH_SIZE", "an integer 1..=10000, the event source mapping's batch size (a larger batch is logged as a warning)", Some("100"), false),
    Variable::new("KINESIS_PARALLELIZATION_FACTOR", "an integer 1..=10, the event source mapping's ParallelizationFactor; above 1 checkpoints are not used to skip records (docs/configuration.md)", Some("1"), false),
    Variable::new("STATE_TABLE_NAME", "a DynamoDB table name (3-255 of `a-zA-Z0-9_.-`) with partition key `processor` (S)", None, true),
    Variable::new("CHECKPOINT_TABLE_NAME", "a DynamoDB table name (3-255 of `a-zA-Z0-9_.-`) with partition key `pk` (S)", None, true),
    Variable::new("MAX_RETRY_ATTEMPTS", "an integer 0..=10: retries after the first attempt for transient AWS failures", Some("3"), false),
    Variable::new("DLQ_QUEUE_URL", "the dead-letter SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or an emulator's `http://…`)", None, true),
    Variable::new("MAX_EVENT_SIZE_BYTES", "an integer 1024..=1048576: the EventBridge entry size limit (256 KiB, or 1 MiB on buses that allow it); a larger entry is dead-lettered as ENTRY_TOO_LARGE", Some("262144"), false),
    Variable::new("REDACTION_HMAC_KEY", "the HMAC-SHA256 key of `hash` redaction, at least 32 bytes, for local runs; required (or REDACTION_HMAC_KEY_SECRET_ARN) when ENABLE_DATA_REDACTION=true", None, false),
    Variable::new("REDACTION_HMAC_KEY_SECRET_ARN", "the ARN (or name) of a Secrets Manager secret whose SecretString is the HMAC key, read once at init; the deployed way to give REDACTION_HMAC_KEY (set at most one of the two)", None, false),
    Variable::new("CHECKPOINT_TTL_DAYS", "an integer 1..=3650: days after its last write a checkpoint item may expire (`expiresAt`)", Some("30"), false),
    Variable::new("AWS_ENDPOINT_URL", "an `http://` or `https://` URL of an AWS emulator (local runs and tests only; honoured by aws-config)", None, false),
    Variable::new("AWS_LAMBDA_FUNCTION_NAME", "the processor name in checkpoints and state (set by Lambda)", Some("cdc-processor"), false),
    Variable::new("METRICS_NAMESPACE", "the CloudWatch namespace of the EMF metrics", Some("CdcPipeline"), false),
    Variable::new("RUST_LOG", "a tracing filter such as `info` or `cdc_processor=debug`", Some("info"), false),
];

/// Why the configuration was refused. The message names the variable and the expected form, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{name} is not set; expected {expected}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// Its expected form.
        expected: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("{name} is invalid ({problem}); expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its expected form.
        expected: &'static str,
        /// What is wrong with it (never the value).
        problem: String,
    },
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `AWS_REGION`.
    pub region: String,
    /// `KINESIS_STREAM_NAME`.
    pub kinesis_stream_name: String,
    /// `KINESIS_BATCH_SIZE`.
    pub kinesis_batch_size: u32,
    /// `KINESIS_PARALLELIZATION_FACTOR`.
    pub kinesis_parallelization_factor: u32,
    /// `STATE_TABLE_NAME`.
    pub state_table_name: String,
    /// `CHECKPOINT_TABLE_NAME`.
    pub checkpoint_table_name: String,
    /// `MAX_RETRY_ATTEMPTS`: retries after the first attempt.
    pub max_retry_attempts: u32,
    /// `DLQ_QUEUE_URL`.
    pub dlq_queue_url: String,
    /// `REDACTION_HMAC_KEY_SECRET_ARN`, when set.
    pub redaction_hmac_key_secret: Option<String>,
    /// `CHECKPOINT_TTL_DAYS`.
    pub checkpoint_ttl_days: u32,
    /// `AWS_ENDPOINT_URL`, when set (aws-config applies it).
    pub endpoint_url: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the processor name in checkpoints and state.
    pub processor_name: String,
    /// `METRICS_NAMESPACE`.
    pub metrics_namespace: String,
}

/// Reads variables listed in a `VARIABLES` table through a lookup (the process environment, or a
/// map in tests): the one environment reader of the functions (this module's [`Settings`] and the
/// ops functions' own variables in `cdc-ops`). Values are trimmed, blank counts as unset, and every
/// error names the variable and its expected form from the table, never the value.
pub struct Reader<'a, F> {
    lookup: F,
    table: &'a [Variable],
}

impl<'a, F: Fn(&str) -> Option<String>> Reader<'a, F> {
    /// A reader of the variables in `table` through `lookup`.
    pub fn new(lookup: F, table: &'a [Variable]) -> Self {
        Reader { lookup, table }
    }

    /// The variable's entry in the table; reading a variable the table does not list is a bug.
    fn spec(&self, name: &str) -> &'a Variable {
        self.table
            .iter()
            .find(|v| v.name == name)
            .expect("every variable read is listed in its VARIABLES table")
    }

    /// The trimmed value, `None` when unset or blank.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value; [`ConfigError::Missing`] when unset or blank.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        let v = self.spec(name);
        self.raw(name).ok_or(ConfigError::Missing {
            name: v.name,
            expected: v.expected,
        })
    }

    /// The value, or the table's default (empty when it has none).
    pub fn with_default(&self, name: &str) -> String {
        self.raw(name)
            .unwrap_or_else(|| self.spec(name).default.unwrap_or_default().to_string())
    }

    /// [`ConfigError::Invalid`] for the variable, with `problem` (which must not hold the value).
    pub fn invalid(&self, name: &str, problem: impl Into<String>) -> ConfigError {
        let v = self.spec(name);
        ConfigError::Invalid {
            name: v.name,
            expected: v.expected,
            problem: problem.into(),
        }
    }

    /// The value (or default) as an integer in `range`.
    pub fn integer<T>(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + Copy,
    {
        let n: T = self
            .with_default(name)
            .parse()
            .map_err(|_| self.invalid(name, "not a non-negative integer"))?;
        if !range.contains(&n) {
            return Err(self.invalid(name, "out of range"));
        }
        Ok(n)
    }

    /// Checks that `value` (the variable's) is a name of `len` bytes of `a-zA-Z0-9_.-` and the
    /// `extra` characters (`b":/"` for names that may be ARNs).
    pub fn check_name(
        &self,
        name: &str,
        value: &str,
        len: std::ops::RangeInclusive<usize>,
        extra: &[u8],
    ) -> Result<(), ConfigError> {
        if !len.contains(&value.len()) {
            return Err(self.invalid(
                name,
                format!(
                    "length {} outside {}..={}",
                    value.len(),
                    len.start(),
                    len.end()
                ),
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b) || extra.contains(&b))
        {
            let extra = String::from_utf8_lossy(extra);
            return Err(self.invalid(
                name,
                format!("contains characters other than a-zA-Z0-9_.-{extra}"),
            ));
        }
        Ok(())
    }

    /// The value (or default), checked by [`Self::check_name`].
    pub fn name(
        &self,
        name: &str,
        len: std::ops::RangeInclusive<usize>,
        extra: &[u8],
    ) -> Result<String, ConfigError> {
        let value = self.with_default(name);
        self.check_name(name, &value, len, extra)?;
        Ok(value)
    }

    /// Checks that `value` (the variable's) is an `http://` or `https://` URL.
    pub fn check_url(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
                Ok(())
            }
            _ => Err(self.invalid(name, "not an http(s) URL")),
        }
    }

    /// The required value, checked by [`Self::check_url`].
    pub fn url(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.required(name)?;
        self.check_url(name, &value)?;
        Ok(value)
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map; [`Settings::from_env`] the process
    /// environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let r = Reader::new(lookup, VARIABLES);

        let region = r.required("AWS_REGION")?;
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || !region.contains('-')
        {
            return Err(r.invalid("AWS_REGION", "not a region name"));
        }

        let kinesis_stream_name = r.required("KINESIS_STREAM_NAME")?;
        r.check_name("KINESIS_STREAM_NAME", &kinesis_stream_name, 1..=128, b"")?;
        let kinesis_batch_size = r.integer("KINESIS_BATCH_SIZE", 1u32..=10_000)?;

        let kinesis_parallelization_factor =
            r.integer("KINESIS_PARALLELIZATION_FACTOR", 1u32..=10)?;
        let state_table_name = r.required("STATE_TABLE_NAME")?;
        r.check_name("STATE_TABLE_NAME", &state_table_name, 3..=255, b"")?;
        let checkpoint_table_name = r.required("CHECKPOINT_TABLE_NAME")?;
        r.check_name(
            "CHECKPOINT_TABLE_NAME",
            &checkpoint_table_name,
            3..=255,
            b"",
        )?;

        let max_retry_attempts = r.integer("MAX_RETRY_ATTEMPTS", 0u32..=10)?;
        let dlq_queue_url = r.url("DLQ_QUEUE_URL")?;
        if let Some(key) = r.raw("REDACTION_HMAC_KEY") {
            if key.len() < MIN_HMAC_KEY_BYTES {
                return Err(r.invalid(
                    "REDACTION_HMAC_KEY",
                    format!("{} bytes, fewer than {MIN_HMAC_KEY_BYTES}", key.len()),
                ));
            }
        }
        let redaction_hmac_key_secret = r.raw("REDACTION_HMAC_KEY_SECRET_ARN");
        if let Some(secret) = &redaction_hmac_key_secret {
            if secret.len() > 2048 || secret.contains(char::is_whitespace) {
                return Err(r.invalid("REDACTION_HMAC_KEY_SECRET_ARN", "not a secret ARN or name"));
            }
            if r.raw("REDACTION_HMAC_KEY").is_some() {
                return Err(r.invalid(
                    "REDACTION_HMAC_KEY_SECRET_ARN",
                    "set together with REDACTION_HMAC_KEY",
                ));
            }
        }
        let checkpoint_ttl_days = r.integer("CHECKPOINT_TTL_DAYS", 1u32..=3650)?;
        let endpoint_url = r.raw("AWS_ENDPOINT_URL");
        if let Some(u) = &endpoint_url {
            r.check_url("AWS_ENDPOINT_URL", u)?;
        }
        let processor_name = r.with_default("AWS_LAMBDA_FUNCTION_NAME");
        r.check_name("AWS_LAMBDA_FUNCTION_NAME", &processor_name, 1..=140, b"")?;
        let metrics_namespace = r.with_default("METRICS_NAMESPACE");
        if metrics_namespace.len() > 255 || metrics_namespace.starts_with(':') {
            return Err(r.invalid("METRICS_NAMESPACE", "not a CloudWatch namespace"));
        }

        Ok(Settings {
            region,
            kinesis_stream_name,
            kinesis_batch_size,
            kinesis_parallelization_factor,
            state_table_name,
            checkpoint_table_name,
            max_retry_attempts,
            dlq_queue_url,
            redaction_hmac_key_secret,
            checkpoint_ttl_days,
            endpoint_url,
            processor_name,
            metrics_namespace,
        })
    }

    /// The retry policy of every AWS call: the seed's base 100 ms, max 5 s, with jitter, and
    /// `MAX_RETRY_ATTEMPTS` retries.
    pub fn retry_policy(&self) -> super::RetryPolicy {
        super::RetryPolicy {
            max_retries: self.max_retry_attempts as usize,
            ..super::RetryPolicy::default()
        }
    }
}

/// Per-attempt timeout of an AWS call (a hung connection must not eat the Lambda's time).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect timeout of an AWS call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Loads the shared SDK configuration from the environment (credentials, region, and
/// `AWS_ENDPOINT_URL` through aws-config's default chain) with the slim rustls-ring HTTP client and
/// the timeouts above.
pub async fn load_sdk_config(settings: &Settings) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .http_client(http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// Reads the HMAC key from Secrets Manager (`REDACTION_HMAC_KEY_SECRET_ARN`): the secret's
/// `SecretString`, trimmed. Called once at init; the key is never logged, and errors carry the
/// AWS error only.
pub async fn fetch_hmac_key(sdk: &SdkConfig, secret_id: &str) -> Result<String, ConfigError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let reader = Reader::new(|_: &str| None, VARIABLES);
    let invalid = |problem: String| reader.invalid("REDACTION_HMAC_KEY_SECRET_ARN", problem);
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            let e = super::classify(&e);
            invalid(format!("GetSecretValue failed: {} {}", e.code, e.message))
        })?;
    out.secret_string()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("the secret has no SecretString".into()))
}

/// The SDK clients, built once at init.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EventBridge, with the SDK's own retries off: [`super::eventbridge`] retries whole calls and
    /// failed entries with one policy (and counts the retries).
    pub eventbridge: aws_sdk_eventbridge::Client,
    /// DynamoDB, with the SDK's standard retries on the seed's policy.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS, with the SDK's standard retries on the seed's policy.
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Builds the clients from a shared SDK configuration.
    pub fn new(sdk: &SdkConfig, settings: &Settings) -> Clients {
        let policy = settings.retry_policy();
        let standard = RetryConfig::standard()
            .with_max_attempts(settings.max_retry_attempts + 1)
            .with_initial_backoff(policy.base_delay)
            .with_max_backoff(policy.max_delay);
        let eventbridge = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(sdk)
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .retry_config(standard.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .retry_config(standard)
                .build(),
        );
        Clients {
            eventbridge,
            dynamodb,
            sqs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        [
            ("AWS_REGION", "us-east-1"),
            ("KINESIS_STREAM_NAME", "coredb-cdc-stream"),
            ("STATE_TABLE_NAME", "cdc-pipeline-state"),
            ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints"),
            (
                "DLQ_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/cdc-dlq",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    fn load(m: &HashMap<&'static str, String>) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_apply() {
        let s = load(&base()).unwrap();
        assert_eq!(s.kinesis_batch_size, 100);
        assert_eq!(s.max_retry_attempts, 3);
        assert_eq!(s.processor_name, "cdc-processor");
        assert_eq!(s.endpoint_url, None);
        assert_eq!(s.metrics_namespace, "CdcPipeline");
        assert_eq!(s.checkpoint_ttl_days, 30);
    }

    #[test]
    fn every_required_variable_is_named_when_missing() {
        for v in VARIABLES.iter().filter(|v| v.required) {
            let mut m = base();
            m.remove(v.name);
            let err = load(&m).unwrap_err();
            assert_eq!(
                err,
                ConfigError::Missing {
                    name: v.name,
                    expected: v.expected
                }
            );
            assert!(err.to_string().starts_with(v.name));
        }
    }

    #[test]
    fn invalid_values_name_the_variable_not_the_value() {
        let cases = [
            ("KINESIS_BATCH_SIZE", "99999"),
            ("KINESIS_BATCH_SIZE", "ten"),
            ("MAX_RETRY_ATTEMPTS", "-1"),
            ("MAX_RETRY_ATTEMPTS", "11"),
            ("DLQ_QUEUE_URL", "sqs://queue"),
            ("AWS_ENDPOINT_URL", "localhost:4566"),
            ("AWS_LAMBDA_FUNCTION_NAME", "my function"),
            ("STATE_TABLE_NAME", "state table"),
            ("AWS_REGION", "US EAST"),
            ("CHECKPOINT_TTL_DAYS", "99999"),
            ("KINESIS_PARALLELIZATION_FACTOR", "11"),
            ("REDACTION_HMAC_KEY", "short-secret-value"),
        ];
        for (name, value) in cases {
            let mut m = base();
            m.insert(name, value.to_string());
            let err = load(&m).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(name), "{msg}");
            assert!(msg.contains("expected"), "{msg}");
            assert!(!msg.contains(value), "the value leaked: {msg}");
        }
    }
}
