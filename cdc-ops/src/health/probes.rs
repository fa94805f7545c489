//! The checks themselves: one AWS call (or two) each, read into a status, a message and details.

use super::*;

fn call_failed(what: &str, e: &CallError) -> String {
    format!("{what} failed: {}: {}", e.code, e.message)
}

impl HealthChecker {
    pub(super) async fn check_bus(&self) -> (CheckStatus, String, Map<String, Value>) {
        match self
            .clients
            .eventbridge
            .describe_event_bus()
            .name(&self.config.event_bus_name)
            .send()
            .await
        {
            Ok(out) => {
                let mut d = Map::new();
                if let Some(arn) = out.arn() {
                    d.insert("arn".into(), json!(arn));
                }
                (CheckStatus::Ok, "the bus exists".into(), d)
            }
            Err(e) => (
                CheckStatus::Fail,
                call_failed("DescribeEventBus", &classify(&e)),
                Map::new(),
            ),
        }
    }

    /// The stream check, then (with the stream's ARN) the checkpoint age of each open shard.
    pub(super) async fn stream_and_checkpoints(&self) -> (CheckResult, Vec<CheckResult>) {
        let stream_name = &self.config.settings.kinesis_stream_name;
        let mut arn = None;
        let stream = self
            .timed("stream", stream_name, async {
                match self
                    .clients
                    .kinesis
                    .describe_stream_summary()
                    .stream_name(stream_name)
                    .send()
                    .await
                {
                    Ok(out) => match out.stream_description_summary() {
                        Some(sum) => {
                            arn = Some(sum.stream_arn().to_string());
                            let status = sum.stream_status();
                            let mut d = Map::new();
                            d.insert("streamStatus".into(), json!(status.as_str()));
                            d.insert("openShardCount".into(), json!(sum.open_shard_count()));
                            d.insert(
                                "retentionPeriodHours".into(),
                                json!(sum.retention_period_hours()),
                            );
                            if let Some(mode) = sum.stream_mode_details() {
                                d.insert("streamMode".into(), json!(mode.stream_mode().as_str()));
                            }
                            let check = match status {
                                StreamStatus::Active => CheckStatus::Ok,
                                StreamStatus::Updating => CheckStatus::Warn,
                                _ => CheckStatus::Fail,
                            };
                            (
                                check,
                                format!(
                                    "{}, {} open shard(s)",
                                    status.as_str(),
                                    sum.open_shard_count()
                                ),
                                d,
                            )
                        }
                        None => (
                            CheckStatus::Fail,
                            "DescribeStreamSummary returned no summary".into(),
                            Map::new(),
                        ),
                    },
                    Err(e) => (
                        CheckStatus::Fail,
                        call_failed("DescribeStreamSummary", &classify(&e)),
                        Map::new(),
                    ),
                }
            })
            .await;
        let checkpoints = match arn {
            _ if self.config.settings.kinesis_parallelization_factor > 1 => vec![CheckResult {
                name: "checkpointAge".into(),
                target: stream_name.clone(),
                status: CheckStatus::Ok,
                latency_ms: 0,
                message: "not checked: the processor keeps no checkpoints with KINESIS_PARALLELIZATION_FACTOR above 1".into(),
                details: Map::new(),
            }],
            Some(arn) => self.check_checkpoints(&arn).await,
            None => vec![CheckResult {
                name: "checkpointAge".into(),
                target: stream_name.clone(),
                status: CheckStatus::Warn,
                latency_ms: 0,
                message: "not checked: the stream could not be described".into(),
                details: Map::new(),
            }],
        };
        (stream, checkpoints)
    }

    /// The open shards (paginated `ListShards`), then one `GetItem` per shard.
    async fn check_checkpoints(&self, stream_arn: &str) -> Vec<CheckResult> {
        let stream_name = &self.config.settings.kinesis_stream_name;
        let started = Instant::now();
        let listed = tokio::time::timeout(self.config.check_timeout, async {
            let mut shards = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let req = self.clients.kinesis.list_shards();
                let req = match &token {
                    Some(t) => req.next_token(t),
                    None => req.stream_name(stream_name),
                };
                let out = req.send().await.map_err(|e| classify(&e))?;
                for s in out.shards() {
                    let open = s
                        .sequence_number_range()
                        .is_none_or(|r| r.ending_sequence_number().is_none());
                    if open {
                        shards.push(s.shard_id().to_string());
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
            Ok::<Vec<String>, CallError>(shards)
        })
        .await;
        let shards = match listed {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return vec![CheckResult {
                    name: "checkpointAge".into(),
                    target: stream_name.clone(),
                    status: CheckStatus::Fail,
                    latency_ms: started.elapsed().as_millis() as u64,
                    message: call_failed("ListShards", &e),
                    details: Map::new(),
                }]
            }
            Err(_) => {
                return vec![CheckResult {
                    name: "checkpointAge".into(),
                    target: stream_name.clone(),
                    status: CheckStatus::Fail,
                    latency_ms: started.elapsed().as_millis() as u64,
                    message: format!(
                        "ListShards timed out after {} ms",
                        self.config.check_timeout.as_millis()
                    ),
                    details: Map::new(),
                }]
            }
        };
        let mut out = Vec::with_capacity(shards.len());
        for shard in shards {
            let r = self
                .timed(
                    "checkpointAge",
                    &shard,
                    self.check_checkpoint(stream_arn, &shard),
                )
                .await;
            out.push(r);
        }
        out
    }

    /// One shard's checkpoint: the item keyed by the stream ARN (what Lambda records carry), or
    /// else by the stream name (records without an `eventSourceARN`).
    async fn check_checkpoint(
        &self,
        stream_arn: &str,
        shard: &str,
    ) -> (CheckStatus, String, Map<String, Value>) {
        let table = &self.config.settings.checkpoint_table_name;
        let mut item = None;
        for stream in [
            stream_arn,
            self.config.settings.kinesis_stream_name.as_str(),
        ] {
            let key = CheckpointKey {
                processor: self.config.processor_name.clone(),
                stream: stream.to_string(),
                shard: shard.to_string(),
            };
            match self
                .clients
                .dynamodb
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(checkpoint_id(&key)))
                .send()
                .await
            {
                Ok(out) => {
                    if let Some(i) = out.item() {
                        item = Some(i.clone());
                        break;
                    }
                }
                Err(e) => {
                    return (
                        CheckStatus::Fail,
                        call_failed("GetItem (checkpoint)", &classify(&e)),
                        Map::new(),
                    )
                }
            }
        }
        let Some(item) = item else {
            return (
                CheckStatus::Warn,
                format!(
                    "no checkpoint of processor `{}` for this shard: it has not finished a batch here (a new or idle shard) or its checkpoint expired",
                    self.config.processor_name
                ),
                Map::new(),
            );
        };
        let mut d = Map::new();
        if let Some(p) = item.get("position").and_then(|v| v.as_s().ok()) {
            if let Some(p) = decode_position(p) {
                d.insert("sequenceNumber".into(), json!(p.sequence.as_str()));
            }
        }
        let updated = item
            .get("updatedAt")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(updated) = updated else {
            return (
                CheckStatus::Warn,
                "the checkpoint has no readable updatedAt".into(),
                d,
            );
        };
        let age = (Utc::now() - updated).to_std().unwrap_or(Duration::ZERO);
        d.insert(
            "updatedAt".into(),
            json!(updated.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        d.insert("ageSeconds".into(), json!(age.as_secs()));
        let status = if self.config.checkpoint_age_fail.is_some_and(|f| age >= f) {
            CheckStatus::Fail
        } else if age >= self.config.checkpoint_age_warn {
            CheckStatus::Warn
        } else {
            CheckStatus::Ok
        };
        (
            status,
            format!("last advanced {} ago", human_duration(age)),
            d,
        )
    }

    pub(super) async fn check_table(
        &self,
        table: &str,
        expected_key: &str,
    ) -> (CheckStatus, String, Map<String, Value>) {
        match self
            .clients
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
        {
            Ok(out) => {
                let Some(t) = out.table() else {
                    return (
                        CheckStatus::Fail,
                        "DescribeTable returned no table".into(),
                        Map::new(),
                    );
                };
                let status = t.table_status().cloned();
                let mut d = Map::new();
                if let Some(s) = &status {
                    d.insert("tableStatus".into(), json!(s.as_str()));
                }
                let hash = t
                    .key_schema()
                    .iter()
                    .find(|k| k.key_type() == &KeyType::Hash)
                    .map(|k| k.attribute_name().to_string());
                if hash.as_deref() != Some(expected_key) {
                    return (
                        CheckStatus::Fail,
                        format!(
                            "partition key is {}, expected `{expected_key}`",
                            hash.map_or("missing".into(), |h| format!("`{h}`"))
                        ),
                        d,
                    );
                }
                match status {
                    Some(TableStatus::Active) | None => (CheckStatus::Ok, "ACTIVE".into(), d),
                    Some(
                        TableStatus::Deleting
                        | TableStatus::InaccessibleEncryptionCredentials
                        | TableStatus::Archiving
                        | TableStatus::Archived,
                    ) => (
                        CheckStatus::Fail,
                        status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                        d,
                    ),
                    Some(other) => (CheckStatus::Warn, other.as_str().to_string(), d),
                }
            }
            Err(e) => (
                CheckStatus::Fail,
                call_failed("DescribeTable", &classify(&e)),
                Map::new(),
            ),
        }
    }

    pub(super) async fn check_dlq(&self) -> (CheckStatus, String, Map<String, Value>) {
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&self.config.settings.dlq_queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await;
        match out {
            Ok(out) => {
                let get = |n: &QueueAttributeName| {
                    out.attributes()
                        .and_then(|a| a.get(n))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                let Some(depth) = get(&QueueAttributeName::ApproximateNumberOfMessages) else {
                    return (
                        CheckStatus::Fail,
                        "GetQueueAttributes returned no ApproximateNumberOfMessages".into(),
                        Map::new(),
                    );
                };
                let mut d = Map::new();
                d.insert("depth".into(), json!(depth));
                if let Some(n) = get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible) {
                    d.insert("inFlight".into(), json!(n));
                }
                let status = if self.config.dlq_depth_fail.is_some_and(|f| depth >= f) {
                    CheckStatus::Fail
                } else if depth >= self.config.dlq_depth_warn {
                    CheckStatus::Warn
                } else {
                    CheckStatus::Ok
                };
                let message = if depth == 0 {
                    "empty".to_string()
                } else {
                    format!("{depth} dead letter(s) waiting: their changes are not published")
                };
                (status, message, d)
            }
            Err(e) => (
                CheckStatus::Fail,
                call_failed("GetQueueAttributes", &classify(&e)),
                Map::new(),
            ),
        }
    }
}
