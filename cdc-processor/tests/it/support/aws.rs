//! The moto side: the pipeline's resources ([`testkit::Stack`]) and reading queues.

use anyhow::Result;
use cdc_processor::aws::lambda::AppState;
use cdc_processor::aws::metrics::MetricsSink;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use testkit::Stack;

/// Every message of a queue (deleted), bodies as JSON, in arrival order.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<Value>> {
    Ok(drain_messages(sqs, url)
        .await?
        .into_iter()
        .map(|m| m.0)
        .collect())
}

/// Like [`drain`], with each message's (string) attributes.
pub async fn drain_messages(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Vec<(Value, HashMap<String, String>)>> {
    Ok(testkit::stack::drain_json(sqs, url).await?)
}

/// The processor's init, in process, with these variables and the SDK config of the code under
/// test (through the fault proxy when the stack has one); metrics kept in memory.
pub async fn processor_with(
    stack: &Stack,
    vars: &HashMap<String, String>,
) -> Result<(AppState, Arc<Mutex<Vec<String>>>)> {
    let (sink, lines) = MetricsSink::memory();
    let state = AppState::init(|k| vars.get(k).cloned(), stack.client_sdk(), sink).await?;
    Ok((state, lines))
}
