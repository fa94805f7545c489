//! AWS helpers (a copy of the subset of `cdc-processor/tests/aws_support` these tests need): resources in moto, an SQS reader, and a fault
//! injector for EventBridge.
#![allow(dead_code)] // each test binary uses a different subset

use anyhow::{anyhow, Context, Result};
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut, Output,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rule pattern of the tests' bus: source, detail-type and `detail.table`.
pub fn rule_pattern(source: &str, tables: &[&str]) -> String {
    serde_json::json!({
        "source": [source],
        "detail-type": ["CDC.TableChange"],
        "detail": { "table": tables },
    })
    .to_string()
}

/// Creates a queue and returns its URL and ARN.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url()
        .context("queue url")?
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .context("queue arn")?
        .clone();
    Ok((url, arn))
}

/// Creates an event bus whose rule (pattern on source, detail-type and `detail.table`) targets a
/// new SQS queue; returns the queue URL.
pub async fn bus_to_queue(
    sdk: &aws_config::SdkConfig,
    bus: &str,
    source: &str,
    tables: &[&str],
    queue: &str,
) -> Result<String> {
    let eb = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    eb.create_event_bus().name(bus).send().await?;
    let (url, arn) = create_queue(&sqs, queue).await?;
    eb.put_rule()
        .name(format!("{bus}-to-{queue}"))
        .event_bus_name(bus)
        .event_pattern(rule_pattern(source, tables))
        .send()
        .await?;
    eb.put_targets()
        .rule(format!("{bus}-to-{queue}"))
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()?,
        )
        .send()
        .await?;
    Ok(url)
}

/// Reads every message of a queue (deleting them) until none has arrived for a while; returns the
/// bodies in arrival order as JSON.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<Value>> {
    Ok(drain_messages(sqs, url)
        .await?
        .into_iter()
        .map(|m| m.0)
        .collect())
}

/// Like [`drain`], with each message's attributes.
pub async fn drain_messages(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Vec<(Value, HashMap<String, String>)>> {
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(300) {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await?;
        let msgs = got.messages();
        if msgs.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        quiet_since = Instant::now();
        for m in msgs {
            let body: Value =
                serde_json::from_str(m.body().context("body")?).context("JSON body")?;
            let attrs = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            out.push((body, attrs));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().context("receipt")?)
                .send()
                .await?;
        }
    }
    Ok(out)
}

pub use testkit::dynamodb::create_table;

/// What the fault injector does and saw.
#[derive(Debug, Default)]
pub struct FaultState {
    /// Per event id: the error codes its next attempts fail with (one per attempt).
    pub entry_faults: HashMap<String, VecDeque<String>>,
    /// The next this many calls fail in transport (connection refused) before reaching moto.
    pub transport_failures: u32,
    /// Every `PutEvents` call as the publisher sent it: the event ids of its entries.
    pub calls: Vec<Vec<String>>,
    /// Every call as it reached moto (faulted entries removed; empty when nothing was sent).
    pub forwarded: Vec<Vec<String>>,
    /// The current call's faulted entries: (index in the call, code).
    pending: Vec<(usize, String)>,
    /// The current call had every entry faulted: answer it without moto.
    synthesize: bool,
}

/// An interceptor on the EventBridge client that makes chosen entries fail with chosen per-entry
/// error codes (`ThrottlingException`, `InternalFailure`, …) the way EventBridge reports them: the
/// entries are taken out of the request before it is signed (so moto never receives them) and put
/// back into the answer as failed results at their positions, with `FailedEntryCount` raised. It
/// can also make whole calls fail in transport. Calls must be sequential (one publisher at a time).
#[derive(Clone, Debug, Default)]
pub struct Faults(pub Arc<Mutex<FaultState>>);

impl Faults {
    /// Makes the entry with `event_id` fail with `codes[n]` on its n-th attempt.
    pub fn fail_entry(&self, event_id: &str, codes: &[&str]) {
        self.0.lock().unwrap().entry_faults.insert(
            event_id.to_string(),
            codes.iter().map(|c| c.to_string()).collect(),
        );
    }

    /// Makes the next `n` calls fail in transport.
    pub fn fail_transport(&self, n: u32) {
        self.0.lock().unwrap().transport_failures = n;
    }

    /// The calls as sent by the publisher.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().calls.clone()
    }

    /// The calls as moto received them.
    pub fn forwarded(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().forwarded.clone()
    }
}

fn event_id_of(entry: &Value) -> String {
    entry["Detail"]
        .as_str()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|d| d["eventId"].as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "test-faults"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut st = self.0.lock().unwrap();
        let request = context.request_mut();
        let body = request
            .body()
            .bytes()
            .ok_or_else(|| anyhow!("PutEvents body is not in memory"))?;
        let mut json: Value = serde_json::from_slice(body)?;
        let entries = json["Entries"]
            .as_array_mut()
            .ok_or_else(|| anyhow!("no Entries"))?;
        let ids: Vec<String> = entries.iter().map(event_id_of).collect();
        st.calls.push(ids.clone());
        let mut pending = Vec::new();
        let mut kept = Vec::new();
        for (i, (entry, id)) in entries.drain(..).zip(&ids).enumerate() {
            match st.entry_faults.get_mut(id).and_then(|q| q.pop_front()) {
                Some(code) => pending.push((i, code)),
                None => kept.push((entry, id.clone())),
            }
        }
        let transport = st.transport_failures > 0;
        if transport {
            st.transport_failures -= 1;
        }
        st.synthesize = !transport && kept.is_empty();
        if transport || kept.is_empty() {
            // Nothing reaches moto: a closed port refuses the connection.
            request.set_uri("http://127.0.0.1:1/")?;
            st.forwarded.push(Vec::new());
        } else {
            st.forwarded
                .push(kept.iter().map(|(_, id)| id.clone()).collect());
        }
        *entries = kept.into_iter().map(|(e, _)| e).collect();
        let bytes = serde_json::to_vec(&json)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        st.pending = if transport { Vec::new() } else { pending };
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut st = self.0.lock().unwrap();
        let pending = std::mem::take(&mut st.pending);
        let synthesize = std::mem::replace(&mut st.synthesize, false);
        if pending.is_empty() {
            return Ok(());
        }
        let Some(result) = context.output_or_error_mut() else {
            return Ok(());
        };
        if synthesize {
            *result = Ok(Output::erase(
                PutEventsOutput::builder().failed_entry_count(0).build(),
            ));
        }
        let Ok(output) = result else {
            return Ok(());
        };
        let out = output
            .downcast_mut::<PutEventsOutput>()
            .ok_or_else(|| anyhow!("not a PutEvents output"))?;
        let entries = out.entries.get_or_insert_with(Vec::new);
        for (i, code) in &pending {
            entries.insert(
                *i,
                PutEventsResultEntry::builder()
                    .error_code(code)
                    .error_message(format!("injected {code}"))
                    .build(),
            );
        }
        out.failed_entry_count += pending.len() as i32;
        Ok(())
    }
}
