//! The pipeline's AWS resources in moto, built once for every crate's tests: [`Stack`].
//!
//! The names are the SAM template's defaults (`deploy/template.yaml`): the Kinesis stream
//! [`STREAM`], the EventBridge bus [`BUS`] with its events' source [`SOURCE`], the DynamoDB
//! checkpoint and state tables, the dead-letter queue [`DLQ`] and its parking queue. A test asks
//! for the parts it needs with [`Stack::builder`]:
//!
//! ```no_run
//! # async fn f() -> Result<(), testkit::stack::Error> {
//! use testkit::stack::Stack;
//! let stack = Stack::builder()
//!     .stream(2)                          // the stream, two shards
//!     .route("wallboards", &["users"])    // a bus rule on `detail.table` into a new queue
//!     .hmac_key_secret("cdc/redaction-hmac-key")
//!     .start()
//!     .await?;
//! let env = stack.env(); // the processor's variables, pointing at moto
//! # Ok(()) }
//! ```
//!
//! The bus, both tables and the DLQ are always there. [`StackBuilder::fault_proxy`] puts a
//! [`FaultProxy`] between the code under test and moto: [`Stack::env`] and
//! [`Stack::client_sdk`] then reach moto through it, while [`Stack::sdk`] (set-up, ground truth)
//! goes straight to moto.

use crate::fault_proxy::{sdk_config_with_timeout, FaultProxy};
use crate::Moto;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The Kinesis stream.
pub const STREAM: &str = "coredb-cdc-stream";
/// The EventBridge bus.
pub const BUS: &str = "cdc-events";
/// The `source` of the published events.
pub const SOURCE: &str = "cdc-pipeline";
/// The checkpoint table (hash key `pk`).
pub const CHECKPOINT_TABLE: &str = "cdc-pipeline-checkpoints";
/// The state table (hash key `processor`).
pub const STATE_TABLE: &str = "cdc-pipeline-state";
/// The dead-letter queue.
pub const DLQ: &str = "cdc-pipeline-dlq";
/// The dead-letter processor's parking queue.
pub const PARKING: &str = "cdc-pipeline-dlq-parking";
/// The HMAC key of `hash` redaction (≥ 32 bytes): in [`Stack::env`] as `REDACTION_HMAC_KEY`, or
/// stored as the secret named with [`StackBuilder::hmac_key_secret`].
pub const HMAC_KEY: &str = "stack-test-hmac-key-0123456789abcdef-0123";
/// The region every client and ARN uses.
pub const REGION: &str = "us-east-1";

/// A failed set-up call, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Error {
    what: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Wraps an SDK error (with its whole chain of causes) in an [`Error`] saying what was done.
fn context<E>(what: impl Into<String>) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let what = what.into();
    move |e| Error {
        what,
        source: aws_smithy_types::error::display::DisplayErrorContext(e)
            .to_string()
            .into(),
    }
}

impl Error {
    fn missing(what: &str) -> Error {
        Error {
            what: what.to_string(),
            source: "missing in the answer".into(),
        }
    }
}

/// What [`Stack::builder`] creates.
#[derive(Clone, Debug, Default)]
pub struct StackBuilder {
    shards: Option<i32>,
    route: Option<(String, Vec<String>)>,
    secret: Option<String>,
    parking: bool,
    missing_dlq: bool,
    proxy_attempt_timeout: Option<Duration>,
}

impl StackBuilder {
    /// The Kinesis stream [`STREAM`] with this many shards.
    pub fn stream(mut self, shards: i32) -> Self {
        self.shards = Some(shards);
        self
    }

    /// A rule on the bus sending the `CDC.TableChange` events of [`SOURCE`] whose `detail.table`
    /// is one of `tables` (every table when empty) to a new SQS queue `queue` ([`Stack::routed`]).
    pub fn route(mut self, queue: &str, tables: &[&str]) -> Self {
        self.route = Some((
            queue.to_string(),
            tables.iter().map(|t| t.to_string()).collect(),
        ));
        self
    }

    /// Stores [`HMAC_KEY`] in Secrets Manager under `name`; [`Stack::env`] then names the secret
    /// (`REDACTION_HMAC_KEY_SECRET_ARN`) instead of carrying the key.
    pub fn hmac_key_secret(mut self, name: &str) -> Self {
        self.secret = Some(name.to_string());
        self
    }

    /// The parking queue [`PARKING`] of the dead-letter processor.
    pub fn parking_queue(mut self) -> Self {
        self.parking = true;
        self
    }

    /// No dead-letter queue: [`Stack::dlq`] is the URL of a queue that does not exist, so every
    /// dead letter fails to be written.
    pub fn missing_dlq(mut self) -> Self {
        self.missing_dlq = true;
        self
    }

    /// A [`FaultProxy`] in front of moto for the code under test, whose SDK clients give up an
    /// attempt after `attempt_timeout`.
    pub fn fault_proxy(mut self, attempt_timeout: Duration) -> Self {
        self.proxy_attempt_timeout = Some(attempt_timeout);
        self
    }

    /// Starts moto and creates the resources in it.
    ///
    /// # Errors
    /// When a set-up call to moto fails.
    pub async fn start(self) -> Result<Stack, Error> {
        let moto = Moto::start();
        let endpoint = moto.endpoint();
        self.create(Some(moto), endpoint).await
    }

    /// Creates the resources in a moto that is already running (and stays the caller's).
    ///
    /// # Errors
    /// When a set-up call to moto fails.
    pub async fn start_in(self, moto: &Moto) -> Result<Stack, Error> {
        self.create(None, moto.endpoint()).await
    }

    async fn create(self, moto: Option<Moto>, endpoint: String) -> Result<Stack, Error> {
        let sdk = crate::sdk_config_for(&endpoint).await;
        let (stream_arn, shards) = match self.shards {
            Some(n) => {
                let (arn, shards) = create_stream(&sdk, n).await?;
                (Some(arn), shards)
            }
            None => (None, Vec::new()),
        };
        let eb = aws_sdk_eventbridge::Client::new(&sdk);
        eb.create_event_bus()
            .name(BUS)
            .send()
            .await
            .map_err(context("creating the event bus"))?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let routed = match &self.route {
            Some((queue, tables)) => Some(route(&sdk, queue, tables).await?),
            None => None,
        };
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        for (table, key) in [(CHECKPOINT_TABLE, "pk"), (STATE_TABLE, "processor")] {
            crate::dynamodb::create_table(&ddb, table, key)
                .await
                .map_err(context(&format!("creating the table {table}")))?;
        }
        let dlq = if self.missing_dlq {
            format!("{endpoint}/123456789012/no-such-dlq")
        } else {
            create_queue(&sqs, DLQ).await?.0
        };
        let parking = match self.parking {
            true => Some(create_queue(&sqs, PARKING).await?.0),
            false => None,
        };
        if let Some(name) = &self.secret {
            aws_sdk_secretsmanager::Client::new(&sdk)
                .create_secret()
                .name(name)
                .secret_string(HMAC_KEY)
                .send()
                .await
                .map_err(context("creating the HMAC key secret"))?;
        }
        let (proxy, client_sdk) = match self.proxy_attempt_timeout {
            Some(timeout) => {
                let proxy = FaultProxy::start(&endpoint);
                let via = sdk_config_with_timeout(&proxy.endpoint(), timeout).await;
                (Some(proxy), via)
            }
            None => (None, sdk.clone()),
        };
        Ok(Stack {
            moto,
            endpoint,
            sdk,
            client_sdk,
            proxy,
            stream_arn,
            shards,
            routed,
            dlq,
            parking,
            secret: self.secret,
        })
    }
}

/// The pipeline's resources in moto (see the module docs). Owns the moto it started (stopped on
/// drop) and the fault proxy.
#[derive(Debug)]
pub struct Stack {
    moto: Option<Moto>,
    endpoint: String,
    /// SDK config straight to moto: set-up and ground truth, never faulted.
    pub sdk: aws_config::SdkConfig,
    client_sdk: aws_config::SdkConfig,
    proxy: Option<FaultProxy>,
    stream_arn: Option<String>,
    /// The stream's shard ids (empty without a stream).
    pub shards: Vec<String>,
    routed: Option<String>,
    /// The dead-letter queue's URL.
    pub dlq: String,
    parking: Option<String>,
    secret: Option<String>,
}

impl Stack {
    /// What to create; nothing but the bus, the tables and the DLQ until asked.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// moto's endpoint URL.
    pub fn moto_endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The moto this stack started (`None` with [`StackBuilder::start_in`]).
    pub fn moto(&self) -> Option<&Moto> {
        self.moto.as_ref()
    }

    /// The endpoint the code under test reaches: the fault proxy's, else moto's.
    pub fn endpoint(&self) -> String {
        match &self.proxy {
            Some(p) => p.endpoint(),
            None => self.endpoint.clone(),
        }
    }

    /// The SDK config of the code under test: through the fault proxy (with its attempt timeout)
    /// when there is one, else straight to moto.
    pub fn client_sdk(&self) -> &aws_config::SdkConfig {
        &self.client_sdk
    }

    /// The fault proxy.
    ///
    /// # Panics
    /// Without [`StackBuilder::fault_proxy`].
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy
            .as_ref()
            .expect("the stack has no fault proxy: build it with .fault_proxy(..)")
    }

    /// The stream's ARN.
    ///
    /// # Panics
    /// Without [`StackBuilder::stream`].
    pub fn stream_arn(&self) -> &str {
        self.stream_arn
            .as_deref()
            .expect("the stack has no stream: build it with .stream(..)")
    }

    /// The URL of the queue the bus's rule routes events to.
    ///
    /// # Panics
    /// Without [`StackBuilder::route`].
    pub fn routed(&self) -> &str {
        self.routed
            .as_deref()
            .expect("the stack has no routed queue: build it with .route(..)")
    }

    /// The parking queue's URL.
    ///
    /// # Panics
    /// Without [`StackBuilder::parking_queue`].
    pub fn parking(&self) -> &str {
        self.parking
            .as_deref()
            .expect("the stack has no parking queue: build it with .parking_queue()")
    }

    /// The processor's variables as the SAM template sets them, pointing at [`Stack::endpoint`]:
    /// region, stream, bus and source, tables, redaction on with the key (or its secret), the
    /// DLQ (and the parking queue). Tests add their own (`MAX_RETRY_ATTEMPTS`, overrides).
    pub fn env(&self) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = [
            ("AWS_REGION", REGION.to_string()),
            ("KINESIS_STREAM_NAME", STREAM.to_string()),
            ("EVENT_BUS_NAME", BUS.to_string()),
            ("EVENT_SOURCE", SOURCE.to_string()),
            ("STATE_TABLE_NAME", STATE_TABLE.to_string()),
            ("CHECKPOINT_TABLE_NAME", CHECKPOINT_TABLE.to_string()),
            ("ENABLE_DATA_REDACTION", "true".to_string()),
            ("DLQ_QUEUE_URL", self.dlq.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        match &self.secret {
            Some(name) => vars.insert("REDACTION_HMAC_KEY_SECRET_ARN".into(), name.clone()),
            None => vars.insert("REDACTION_HMAC_KEY".into(), HMAC_KEY.to_string()),
        };
        if let Some(parking) = &self.parking {
            vars.insert("DLQ_PARKING_QUEUE_URL".into(), parking.clone());
        }
        vars
    }

    /// An SQS client straight to moto.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// A DynamoDB client straight to moto.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// A Kinesis client straight to moto.
    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.sdk)
    }

    /// Every message of a queue, deleted (see [`drain`]).
    ///
    /// # Errors
    /// When an SQS call fails.
    pub async fn drain(&self, url: &str) -> Result<Vec<aws_sdk_sqs::types::Message>, Error> {
        drain(&self.sqs(), url).await
    }

    /// The bodies of [`Stack::drain`] as JSON.
    ///
    /// # Errors
    /// When an SQS call fails or a body is not JSON.
    pub async fn drain_json(&self, url: &str) -> Result<Vec<Value>, Error> {
        Ok(drain_json(&self.sqs(), url)
            .await?
            .into_iter()
            .map(|(body, _)| body)
            .collect())
    }

    /// Every record of the stream, read with GetRecords from `TRIM_HORIZON`, in the shape Lambda
    /// hands the function: one event (`{"Records": [...]}`) per shard that has records, in
    /// sequence order.
    ///
    /// # Errors
    /// When a Kinesis call fails.
    ///
    /// # Panics
    /// Without [`StackBuilder::stream`].
    pub async fn lambda_events(&self) -> Result<Vec<Value>, Error> {
        let kinesis = self.kinesis();
        let mut events = Vec::new();
        for shard in &self.shards {
            let records = lambda_records(&kinesis, STREAM, self.stream_arn(), shard).await?;
            if !records.is_empty() {
                events.push(json!({ "Records": records }));
            }
        }
        Ok(events)
    }
}

async fn create_stream(
    sdk: &aws_config::SdkConfig,
    shards: i32,
) -> Result<(String, Vec<String>), Error> {
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(shards)
        .send()
        .await
        .map_err(context("creating the stream"))?;
    let arn = kinesis
        .describe_stream_summary()
        .stream_name(STREAM)
        .send()
        .await
        .map_err(context("describing the stream"))?
        .stream_description_summary
        .ok_or_else(|| Error::missing("the stream summary"))?
        .stream_arn;
    let ids = kinesis
        .list_shards()
        .stream_name(STREAM)
        .send()
        .await
        .map_err(context("listing the shards"))?
        .shards()
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    Ok((arn, ids))
}

/// The rule `{BUS}-to-{queue}` on the bus into a new queue; returns the queue's URL.
async fn route(
    sdk: &aws_config::SdkConfig,
    queue: &str,
    tables: &[String],
) -> Result<String, Error> {
    let eb = aws_sdk_eventbridge::Client::new(sdk);
    let (url, arn) = create_queue(&aws_sdk_sqs::Client::new(sdk), queue).await?;
    let mut pattern = json!({"source": [SOURCE], "detail-type": ["CDC.TableChange"]});
    if !tables.is_empty() {
        pattern["detail"] = json!({ "table": tables });
    }
    let rule = format!("{BUS}-to-{queue}");
    eb.put_rule()
        .name(&rule)
        .event_bus_name(BUS)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(context("creating the rule"))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(arn)
        .build()
        .map_err(context("the rule's target"))?;
    eb.put_targets()
        .rule(&rule)
        .event_bus_name(BUS)
        .targets(target)
        .send()
        .await
        .map_err(context("setting the rule's target"))?;
    Ok(url)
}

/// Creates a queue; returns its URL and ARN.
///
/// # Errors
/// When an SQS call fails.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), Error> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(context(&format!("creating the queue {name}")))?
        .queue_url
        .ok_or_else(|| Error::missing("the queue URL"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(context("reading the queue's ARN"))?
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::missing("the queue ARN"))?
        .clone();
    Ok((url, arn))
}

/// How long a queue must stay empty for [`drain`] to end.
const QUIET: Duration = Duration::from_millis(500);
/// The longest [`drain`] reads.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Reads every message of a queue (with all their attributes) and deletes them, until none has
/// arrived for 500 ms; in arrival order.
///
/// # Errors
/// When an SQS call fails, or the queue is still not empty after 120 s.
pub async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Vec<aws_sdk_sqs::types::Message>, Error> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < QUIET {
        if started.elapsed() > DRAIN_LIMIT {
            return Err(Error::missing(&format!(
                "an empty queue {url} after {DRAIN_LIMIT:?}"
            )));
        }
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(context("receiving messages"))?;
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        quiet_since = Instant::now();
        let mut entries = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            entries.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .map_err(context("a delete entry"))?,
            );
        }
        sqs.delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(context("deleting messages"))?;
        out.extend(messages);
    }
    Ok(out)
}

/// [`drain`], each message as its body (JSON) and its string attributes.
///
/// # Errors
/// When an SQS call fails or a body is not JSON.
pub async fn drain_json(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Vec<(Value, HashMap<String, String>)>, Error> {
    drain(sqs, url)
        .await?
        .iter()
        .map(|m| {
            let body = serde_json::from_str(m.body().unwrap_or_default())
                .map_err(context("a message body as JSON"))?;
            let attributes = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_string()))
                .collect();
            Ok((body, attributes))
        })
        .collect()
}

/// Every record of one shard of `stream` (whose ARN is `stream_arn`) from `TRIM_HORIZON`, as the records of a Lambda Kinesis event.
///
/// # Errors
/// When a Kinesis call fails.
pub async fn lambda_records(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    stream_arn: &str,
    shard: &str,
) -> Result<Vec<Value>, Error> {
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(context("a shard iterator"))?
        .shard_iterator;
    let mut records = Vec::new();
    while let Some(it) = iterator {
        let got = kinesis
            .get_records()
            .shard_iterator(it)
            .limit(10_000)
            .send()
            .await
            .map_err(context("reading records"))?;
        if got.records().is_empty() {
            break;
        }
        for r in got.records() {
            records.push(lambda_record(r, shard, stream_arn));
        }
        iterator = got.next_shard_iterator;
    }
    Ok(records)
}

/// One Kinesis record of `shard` of the stream `stream_arn` as the record of a Lambda Kinesis event
/// (what Lambda's event source mapping hands the function).
pub fn lambda_record(r: &aws_sdk_kinesis::types::Record, shard: &str, stream_arn: &str) -> Value {
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": r.partition_key(),
            "sequenceNumber": r.sequence_number(),
            "data": base64::engine::general_purpose::STANDARD.encode(r.data().as_ref()),
            "approximateArrivalTimestamp": r
                .approximate_arrival_timestamp()
                .map(|t| t.as_secs_f64())
                .unwrap_or_default(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{shard}:{}", r.sequence_number()),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/cdc-processor",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
    })
}
