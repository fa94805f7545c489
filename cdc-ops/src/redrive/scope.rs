//! The pipeline's ports during a re-drive: where a letter's record is read from, a publisher that
//! publishes only the re-driven record, per-record checkpoints (idempotency records) and a sink
//! that captures dead letters instead of sending them.

use super::*;

/// Where the record of a letter is re-driven from.
pub(super) enum RedriveInput {
    Kinesis(LenientKinesisEvent),
    Raw(RawInput),
    Unusable(String),
}

pub(super) fn input_of(original: &Value) -> RedriveInput {
    if original.get("eventSource").and_then(Value::as_str) == Some("local") {
        // A local-mode record (its id is over its bytes).
        let raw = (|| {
            let stream = original.get("eventSourceARN")?.as_str()?.to_string();
            let shard = shard_id(original.get("eventID")?.as_str())?.to_string();
            let kinesis = original.get("kinesis")?;
            let sequence = kinesis.get("sequenceNumber")?.as_str()?.parse().ok()?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(kinesis.get("data")?.as_str()?)
                .ok()?;
            Some(RawInput {
                stream,
                shard,
                sequence,
                data,
            })
        })();
        return match raw {
            Some(r) => RedriveInput::Raw(r),
            None => RedriveInput::Unusable(
                "originalEvent is a local record without a usable pointer or base64 data".into(),
            ),
        };
    }
    // A letter written by the Lambda holds aws_lambda_events' serialization of the record, whose
    // `approximateArrivalTimestamp` is a decimal string; the lenient record reads a number.
    let mut original = original.clone();
    if let Some(ts) = original.pointer_mut("/kinesis/approximateArrivalTimestamp") {
        if let Some(s) = ts.as_str() {
            *ts = s.trim().parse::<f64>().map_or(Value::Null, |n| json!(n));
        }
    }
    match serde_json::from_value::<LenientKinesisRecord>(original) {
        Ok(record) => RedriveInput::Kinesis(LenientKinesisEvent {
            records: vec![record],
        }),
        Err(e) => RedriveInput::Unusable(format!(
            "originalEvent is not a Kinesis record ({:?} error)",
            e.classify()
        )),
    }
}

/// The table a dead letter's record changes, when its data can be read and names a known table.
/// Used to list letters without showing the record.
pub fn dead_letter_table(letter: &DeadLetter) -> Option<&'static str> {
    let data = letter.original_event.pointer("/kinesis/data")?.as_str()?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let users = deaggregate(&data);
    let user = users
        .iter()
        .find(|u| u.sub_sequence == letter.kinesis.sub_sequence_number)
        .or_else(|| users.first())?;
    let bytes = user.data.as_ref().ok()?;
    let mut detected = None;
    match formats::decode(bytes, &FormatOptions::default(), &mut detected) {
        Ok(Decoded::Change(raw)) => Table::from_name(&raw.table).map(Table::name),
        _ => None,
    }
}

/// The re-drive's publisher: sends only the re-driven record's entry. The entries of other user
/// records of the same KPL aggregate are outside the re-drive: answered as published, not sent.
pub(super) struct ScopedPublisher<'a> {
    pub(super) inner: &'a EventBridgePublisher,
    pub(super) target: Option<String>,
}

impl ScopedPublisher<'_> {
    fn in_scope(&self, event_id: &str) -> bool {
        self.target.as_deref().is_none_or(|t| t == event_id)
    }
}

impl Publisher for ScopedPublisher<'_> {
    async fn publish(&self, entries: &[PreparedEntry]) -> Vec<PublishOutcome> {
        let scoped: Vec<PreparedEntry> = entries
            .iter()
            .filter(|e| self.in_scope(&e.event_id))
            .cloned()
            .collect();
        let mut sent = if scoped.is_empty() {
            Vec::new()
        } else {
            self.inner.publish(&scoped).await
        }
        .into_iter();
        entries
            .iter()
            .map(|e| {
                if self.in_scope(&e.event_id) {
                    sent.next().unwrap_or(PublishOutcome::Failed {
                        code: "MissingOutcome".into(),
                        message: "the publisher returned fewer outcomes than entries".into(),
                    })
                } else {
                    PublishOutcome::Published
                }
            })
            .collect()
    }
}

/// The re-drive's checkpoints: the per-record checkpoint (or the floor below the record, inside a
/// KPL aggregate) is loaded; nothing is written here (the re-drive moves the per-record checkpoint
/// itself once it knows the record's outcome).
pub(super) struct RedriveCheckpoints<'a> {
    pub(super) store: &'a DynamoCheckpointStore,
    pub(super) key: Option<CheckpointKey>,
    pub(super) floor: Option<Position>,
}

impl CheckpointStore for RedriveCheckpoints<'_> {
    async fn load(&self, _key: &CheckpointKey) -> Result<Option<Position>, StateError> {
        let done = match &self.key {
            Some(k) => self.store.load(k).await?,
            None => None,
        };
        Ok(done.max(self.floor.clone()))
    }

    async fn advance(&self, _key: &CheckpointKey, _to: &Position) -> Result<Advance, StateError> {
        Ok(Advance::Moved)
    }
}

/// The re-drive's dead-letter sink: keeps the re-driven record's new letter (the re-drive sends it
/// with `attempts` + 1); other user records' letters are outside the re-drive and dropped.
pub(super) struct CaptureSink {
    pub(super) target: Option<String>,
    pub(super) captured: Mutex<Vec<DeadLetter>>,
}

impl DeadLetterSink for CaptureSink {
    async fn send(&self, letters: &[DeadLetter]) -> Vec<Result<(), SinkError>> {
        let mut captured = self.captured.lock().expect("not poisoned");
        for l in letters {
            if self.target.is_none() || l.event_id == self.target {
                captured.push(l.clone());
            }
        }
        letters.iter().map(|_| Ok(())).collect()
    }
}

/// The re-driven record's outcome in the report: the record with the letter's event id; for a
/// letter without one (its position was not a valid sequence number) the only record there is.
pub(super) fn target_record<'r>(
    report: &'r BatchReport,
    target: Option<&str>,
) -> Option<&'r RecordOutcome> {
    match target {
        Some(t) => report
            .records
            .iter()
            .find(|r| r.event_id.as_deref() == Some(t)),
        None => (report.records.len() == 1).then(|| &report.records[0]),
    }
}
