//! [`DeadLetterSink`] on an SQS queue (`DLQ_QUEUE_URL`).
//!
//! Each [`DeadLetter`] is one message whose body is its JSON (the seed's `{originalEvent,
//! error{message, code, stack}, attempts, lastAttempt}` plus `kinesis`, `sourceFormat`, `eventId`),
//! sent with `SendMessageBatch` (≤ 10 messages and ≤ 256 KiB of bodies per request; a larger single
//! message goes alone). Message attributes `errorCode`, `sourceFormat` and `shardId` allow filtering
//! without reading bodies. A FIFO queue (URL ending in `.fifo`) gets the shard as message group and
//! a content-derived deduplication id.
//!
//! A letter SQS does not accept — a per-entry failure, a failed call after the SDK's retries, or a
//! body over SQS's 1 MiB message limit — is an `Err` for that letter: the pipeline then reports the
//! record to Lambda instead of dropping it.

use super::truncate;
use crate::ports::{DeadLetter, DeadLetterSink, SinkError};
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_smithy_types::error::display::DisplayErrorContext;
use sha2::{Digest, Sha256};

/// SQS's message size limit (body plus attributes).
pub const MAX_MESSAGE_BYTES: usize = 1_048_576;
/// Bodies per `SendMessageBatch` request, at most (a larger single message goes alone).
pub const BATCH_BYTES: usize = 262_144;
/// Entries per `SendMessageBatch` request.
pub const BATCH_ENTRIES: usize = 10;

/// Sends dead letters to one queue.
#[derive(Clone, Debug)]
pub struct SqsDeadLetterSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
}

impl SqsDeadLetterSink {
    /// A sink for `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        let fifo = queue_url.ends_with(".fifo");
        SqsDeadLetterSink {
            client,
            queue_url,
            fifo,
        }
    }

    fn entry(&self, id: usize, letter: &DeadLetter, body: String) -> SendMessageBatchRequestEntry {
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .expect("data type is set")
        };
        let mut b = SendMessageBatchRequestEntry::builder()
            .id(id.to_string())
            .message_attributes("errorCode", attr(letter.error.code.as_str()));
        if let Some(f) = &letter.source_format {
            b = b.message_attributes("sourceFormat", attr(f));
        }
        if let Some(shard) = &letter.kinesis.shard_id {
            b = b.message_attributes("shardId", attr(shard));
        }
        if self.fifo {
            let group = letter
                .kinesis
                .shard_id
                .clone()
                .unwrap_or_else(|| "cdc-dead-letters".to_string());
            b = b
                .message_group_id(group)
                .message_deduplication_id(hex::encode(Sha256::digest(body.as_bytes())));
        }
        b.message_body(body).build().expect("id and body are set")
    }

    /// One `SendMessageBatch`; returns the result of each `(index, body)`.
    async fn send_chunk(
        &self,
        letters: &[DeadLetter],
        chunk: Vec<(usize, String)>,
        results: &mut [Result<(), SinkError>],
    ) {
        let indices: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
        let entries: Vec<_> = chunk
            .into_iter()
            .enumerate()
            .map(|(k, (i, body))| self.entry(k, &letters[i], body))
            .collect();
        match self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                let mut answered = vec![false; indices.len()];
                for ok in out.successful() {
                    if let Some(k) = ok.id().parse::<usize>().ok().filter(|k| *k < indices.len()) {
                        answered[k] = true;
                        results[indices[k]] = Ok(());
                    }
                }
                for failed in out.failed() {
                    if let Some(k) = failed
                        .id()
                        .parse::<usize>()
                        .ok()
                        .filter(|k| *k < indices.len())
                    {
                        answered[k] = true;
                        results[indices[k]] = Err(SinkError(format!(
                            "SendMessageBatch entry failed: {} {}",
                            failed.code(),
                            truncate(failed.message().unwrap_or_default(), 256)
                        )));
                    }
                }
                for (k, done) in answered.into_iter().enumerate() {
                    if !done {
                        results[indices[k]] =
                            Err(SinkError("SendMessageBatch returned no result".into()));
                    }
                }
            }
            Err(e) => {
                let msg = format!(
                    "SendMessageBatch failed: {}",
                    truncate(&DisplayErrorContext(&e).to_string(), 512)
                );
                for i in indices {
                    results[i] = Err(SinkError(msg.clone()));
                }
            }
        }
    }
}

impl DeadLetterSink for SqsDeadLetterSink {
    async fn send(&self, letters: &[DeadLetter]) -> Vec<Result<(), SinkError>> {
        let mut results: Vec<Result<(), SinkError>> = (0..letters.len())
            .map(|_| Err(SinkError("not sent".into())))
            .collect();
        let mut chunk: Vec<(usize, String)> = Vec::new();
        let mut chunk_bytes = 0usize;
        for (i, letter) in letters.iter().enumerate() {
            let body = match serde_json::to_string(letter) {
                Ok(b) => b,
                Err(e) => {
                    results[i] = Err(SinkError(format!("dead letter not serializable: {e}")));
                    continue;
                }
            };
            // Attributes count towards the limit too; 1 KiB covers the three small ones.
            if body.len() + 1024 > MAX_MESSAGE_BYTES {
                results[i] = Err(SinkError(format!(
                    "dead letter is {} bytes, over the SQS message limit of {MAX_MESSAGE_BYTES}",
                    body.len()
                )));
                continue;
            }
            if !chunk.is_empty()
                && (chunk.len() == BATCH_ENTRIES || chunk_bytes + body.len() > BATCH_BYTES)
            {
                self.send_chunk(letters, std::mem::take(&mut chunk), &mut results)
                    .await;
                chunk_bytes = 0;
            }
            chunk_bytes += body.len();
            chunk.push((i, body));
        }
        if !chunk.is_empty() {
            self.send_chunk(letters, chunk, &mut results).await;
        }
        results
    }
}
