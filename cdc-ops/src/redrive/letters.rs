//! What follows a re-drive: the per-record checkpoint, the letter sent back to the DLQ or parked,
//! and the EMF lines of a batch.

use super::*;

impl Redriver {
    /// Moves the per-record checkpoint to the record's position (after a publish or an
    /// acknowledgement). A failure is logged: the event is out, and a later re-drive of the same
    /// letter would publish it again under the same event id.
    pub(super) async fn remember(&self, key: Option<&CheckpointKey>, position: Option<&Position>) {
        let (Some(key), Some(position)) = (key, position) else {
            return;
        };
        if let Err(e) = self.idempotency.advance(key, position).await {
            tracing::error!(error = %e, "re-drive checkpoint not written; a second re-drive of this letter would publish its event id again");
        }
    }

    /// The letter with `attempts` + 1, the new error and `lastAttempt` = now: back to the DLQ, or
    /// to the parking queue once the attempts reach `DLQ_MAX_ATTEMPTS`.
    pub(super) async fn dead_letter_again(
        &self,
        old: DeadLetter,
        error: DeadLetterError,
        source_format: Option<String>,
    ) -> RedriveOutcome {
        let attempts = old.attempts.saturating_add(1);
        let code = error.code;
        let letter = DeadLetter {
            error,
            attempts,
            last_attempt: Utc::now(),
            source_format: source_format.or(old.source_format),
            ..old
        };
        let park = attempts >= self.config.max_attempts;
        let (url, delay) = if park {
            (&self.config.parking_queue_url, Duration::ZERO)
        } else {
            (
                &self.app.settings().dlq_queue_url,
                self.config.redrive_delay,
            )
        };
        match self.send_letter(url, &letter, delay).await {
            Ok(()) if park => RedriveOutcome::Parked {
                code: Some(code),
                attempts: Some(attempts),
                reason: format!(
                    "failed {attempts} times (DLQ_MAX_ATTEMPTS = {})",
                    self.config.max_attempts
                ),
            },
            Ok(()) => RedriveOutcome::DeadLetteredAgain { code, attempts },
            Err(e) => RedriveOutcome::Retry {
                reason: format!("{code} again, and the updated dead letter could not be sent: {e}"),
            },
        }
    }

    /// Sends a letter with the processor's message attributes (`errorCode`, `sourceFormat`,
    /// `shardId`) plus `attempts`; FIFO queues get the shard as group and a content-derived
    /// deduplication id, standard queues the delay.
    pub(super) async fn send_letter(
        &self,
        url: &str,
        letter: &DeadLetter,
        delay: Duration,
    ) -> Result<(), SinkError> {
        let body = serde_json::to_string(letter)
            .map_err(|e| SinkError(format!("dead letter not serializable: {e}")))?;
        if body.len() + 1024 > cdc_processor::aws::sqs::MAX_MESSAGE_BYTES {
            return Err(SinkError(format!(
                "dead letter is {} bytes, over the SQS message limit",
                body.len()
            )));
        }
        let attr = |t: &str, v: &str| {
            MessageAttributeValue::builder()
                .data_type(t)
                .string_value(v)
                .build()
                .expect("data type is set")
        };
        let mut req = self
            .sqs
            .send_message()
            .queue_url(url)
            .message_attributes("errorCode", attr("String", letter.error.code.as_str()))
            .message_attributes("attempts", attr("Number", &letter.attempts.to_string()));
        if let Some(f) = &letter.source_format {
            req = req.message_attributes("sourceFormat", attr("String", f));
        }
        if let Some(s) = &letter.kinesis.shard_id {
            req = req.message_attributes("shardId", attr("String", s));
        }
        if url.ends_with(".fifo") {
            req = req
                .message_group_id(
                    letter
                        .kinesis
                        .shard_id
                        .clone()
                        .unwrap_or_else(|| "cdc-dead-letters".into()),
                )
                .message_deduplication_id(hex::encode(Sha256::digest(body.as_bytes())));
        } else if !delay.is_zero() {
            req = req.delay_seconds(delay.as_secs().min(900) as i32);
        }
        req.message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SinkError(aws_error("SendMessage", &e).to_string()))
    }

    /// Moves a body that is not a dead letter to the parking queue unchanged.
    pub(super) async fn park_raw(&self, body: &str) -> Result<(), SinkError> {
        let url = &self.config.parking_queue_url;
        let mut req = self.sqs.send_message().queue_url(url).message_attributes(
            "reason",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("not-a-dead-letter")
                .build()
                .expect("data type is set"),
        );
        if url.ends_with(".fifo") {
            req = req
                .message_group_id("cdc-dead-letters")
                .message_deduplication_id(hex::encode(Sha256::digest(body.as_bytes())));
        }
        let body = if body.is_empty() { "{}" } else { body };
        req.message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SinkError(aws_error("SendMessage", &e).to_string()))
    }

    /// The EMF lines of one invocation: totals (dimension `FunctionName`) — `RedriveMessages`,
    /// `RedrivePublished`, `RedriveAlreadyDone`, `RedriveAcknowledged`, `RedriveDeadLetteredAgain`,
    /// `RedriveParked`, `RedriveRetried` — and, per error code (`Category`), `RedriveDeadLetteredAgain`
    /// and `RedriveParked`.
    pub fn emf_lines(&self, outcomes: &[RedriveOutcome], timestamp_ms: i64) -> Vec<String> {
        let s = self.app.settings();
        let count = |kind: &str| outcomes.iter().filter(|o| o.kind() == kind).count();
        let mut lines = vec![emf_document(
            &s.metrics_namespace,
            &s.processor_name,
            None,
            timestamp_ms,
            &[
                ("RedriveMessages", "Count", json!(outcomes.len())),
                ("RedrivePublished", "Count", json!(count("published"))),
                (
                    "RedriveAlreadyDone",
                    "Count",
                    json!(count("already-redriven")),
                ),
                ("RedriveAcknowledged", "Count", json!(count("acknowledged"))),
                (
                    "RedriveDeadLetteredAgain",
                    "Count",
                    json!(count("dead-lettered-again")),
                ),
                ("RedriveParked", "Count", json!(count("parked"))),
                ("RedriveRetried", "Count", json!(count("retry"))),
            ],
        )];
        let mut by_code: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for o in outcomes {
            match o {
                RedriveOutcome::DeadLetteredAgain { code, .. } => {
                    *by_code
                        .entry(("RedriveDeadLetteredAgain", code.as_str()))
                        .or_default() += 1
                }
                RedriveOutcome::Parked { code, .. } => {
                    *by_code
                        .entry((
                            "RedriveParked",
                            code.map_or("NOT_A_DEAD_LETTER", ErrorCode::as_str),
                        ))
                        .or_default() += 1
                }
                _ => {}
            }
        }
        for ((metric, code), n) in by_code {
            lines.push(emf_document(
                &s.metrics_namespace,
                &s.processor_name,
                Some(code),
                timestamp_ms,
                &[(metric, "Count", json!(n))],
            ));
        }
        lines
    }
}
