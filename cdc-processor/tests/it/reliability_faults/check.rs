//! The invariants, checked against the ground truth (what moto accepted, as the fault proxy saw
//! it, and what the DLQ holds): lost = 0, duplicates only from retries, per-key order, and
//! checkpoints that only move forward; and the results table's rows.

use super::workload::{expected_event_id, Expect, Workload};
use super::SHARDS;
use crate::support::lambda::delivery_key;
use crate::support::STREAM_ARN;
use anyhow::{ensure, Context, Result};
use cdc_processor::aws::dynamodb::decode_position;
use cdc_processor::sequence::Position;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use testkit::fault_proxy::Exchange;
use testkit::stack::CHECKPOINT_TABLE as CHECKPOINTS;

/// A row of the results table.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) fault: String,
    pub(super) records: usize,
    pub(super) published: usize,
    pub(super) dead_lettered: usize,
    pub(super) duplicates: usize,
    pub(super) lost: usize,
    pub(super) injected: u64,
    pub(super) invocations: usize,
    pub(super) redeliveries: usize,
    pub(super) seconds: f64,
}

impl Row {
    pub(super) fn print(&self) {
        let line = format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ({} redeliveries) | {:.1} s |",
            self.fault,
            self.records,
            self.published,
            self.dead_lettered,
            self.duplicates,
            self.lost,
            self.injected,
            self.invocations,
            self.redeliveries,
            self.seconds
        );
        println!("{line}");
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability_faults.md");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Checks the invariants against the ground truth; returns the counts.
pub(super) fn check(
    w: &Workload,
    exchanges: &[Exchange],
    letters: &[Value],
    deliveries: &HashMap<String, u32>,
) -> Result<Counts> {
    // Publications, in the order moto accepted them.
    let mut pubs: HashMap<String, Vec<String>> = HashMap::new();
    let mut unacked: HashMap<String, u32> = HashMap::new();
    let mut first_order: Vec<String> = Vec::new();
    for ex in exchanges {
        for f in &ex.entries {
            if !f.accepted {
                continue;
            }
            let d: Value = serde_json::from_str(&f.detail).context("published detail")?;
            let id = d["eventId"].as_str().context("eventId")?.to_string();
            let u = w.users.get(&id).with_context(|| {
                format!(
                    "published an event id of no input record: {id} (metadata {})",
                    d["metadata"]
                )
            })?;
            // The id is the record's: the detail points at the same Kinesis position.
            ensure!(
                d["metadata"]["shardId"] == u.shard
                    && d["metadata"]["sequenceNumber"] == u.sequence.as_str()
                    && d["metadata"]["subSequenceNumber"] == json!(u.sub),
                "event {id} carries another record's position: {}",
                d["metadata"]
            );
            let list = pubs.entry(id.clone()).or_default();
            if list.is_empty() {
                first_order.push(id.clone());
            }
            list.push(f.detail.clone());
        }
        for f in ex.unacknowledged_publications() {
            let d: Value = serde_json::from_str(&f.detail)?;
            *unacked
                .entry(d["eventId"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    // Dead letters, by record.
    let mut dead: HashMap<String, Vec<String>> = HashMap::new();
    for l in letters {
        let k = &l["kinesis"];
        let shard = k["shardId"].as_str().context("letter shardId")?;
        let seq = k["sequenceNumber"].as_str().context("letter sequence")?;
        let sub = k["subSequenceNumber"].as_u64();
        let id = expected_event_id(STREAM_ARN, shard, seq, sub);
        ensure!(
            w.users.contains_key(&id),
            "a dead letter for no input record: {shard} {seq} {sub:?}"
        );
        ensure!(
            l["eventId"].is_null() || l["eventId"] == id.as_str(),
            "dead letter eventId {} is not the record's {id}",
            l["eventId"]
        );
        dead.entry(id)
            .or_default()
            .push(l["error"]["code"].as_str().unwrap_or("").to_string());
    }

    let mut lost = 0;
    let mut duplicate_events = 0;
    let mut duplicate_letters = 0;
    for (id, u) in &w.users {
        let p = pubs.get(id).map_or(0, Vec::len);
        let dl = dead.get(id).map_or(0, Vec::len);
        if p == 0 && dl == 0 {
            lost += 1;
            continue;
        }
        match &u.expect {
            Expect::Published => ensure!(
                p > 0 && dl == 0,
                "good record {} {} {:?} was dead-lettered: {:?}",
                u.shard,
                u.sequence,
                u.sub,
                dead.get(id)
            ),
            Expect::DeadLettered(code) => {
                ensure!(
                    p == 0,
                    "bad record {} {} was published",
                    u.shard,
                    u.sequence
                );
                ensure!(
                    dead[id].iter().all(|c| c == code),
                    "record {} {}: dead-lettered as {:?}, expected {code}",
                    u.shard,
                    u.sequence,
                    dead[id]
                );
            }
        }
        let redelivered = deliveries
            .get(&delivery_key(u.shard, &u.sequence))
            .copied()
            .unwrap_or(1)
            .saturating_sub(1);
        if p > 1 {
            let details = &pubs[id];
            ensure!(
                details.iter().all(|d| d == &details[0]),
                "event {id} published with different details"
            );
            let explained = unacked.get(id).copied().unwrap_or(0) + redelivered;
            ensure!(
                (p - 1) as u32 <= explained,
                "event {id} published {p} times with {} unacknowledged publications and {redelivered} redeliveries: a duplicate not caused by a retry",
                unacked.get(id).copied().unwrap_or(0)
            );
        }
        if dl > 1 {
            ensure!(
                (dl - 1) as u32 <= redelivered,
                "record {} {} dead-lettered {dl} times with {redelivered} redeliveries",
                u.shard,
                u.sequence
            );
        }
        duplicate_events += p.saturating_sub(1);
        duplicate_letters += dl.saturating_sub(1);
    }
    ensure!(lost == 0, "{lost} records lost");

    // Per-key order of first publications.
    let mut last: HashMap<&str, usize> = HashMap::new();
    for id in &first_order {
        let u = &w.users[id];
        if let Some(prev) = last.insert(&u.key, u.rank) {
            ensure!(
                prev < u.rank,
                "key {} out of order: record {} published after record {}",
                u.key,
                u.rank,
                prev
            );
        }
    }
    Ok(Counts {
        published: pubs.len(),
        dead_lettered: dead.len(),
        duplicate_events,
        duplicate_letters,
        lost,
    })
}

/// Checkpoint monotonicity, from what reached DynamoDB: the checkpoint writes moto accepted
/// (`PutItem` on the checkpoint table answered 200, as the proxy saw them), in the order moto
/// answered, move each shard's position strictly forward, and the last one stands at the shard's
/// last record (unless the shard's latest write was failed by an injected fault). Needs the
/// proxy's body capture on. Returns the number of accepted writes.
pub(super) fn check_checkpoints(w: &Workload, exchanges: &[Exchange]) -> Result<usize> {
    let mut last: HashMap<String, Position> = HashMap::new();
    // Shards whose latest checkpoint write was answered by an injected fault (a conditional
    // conflict or an outage): the invocation moved on and the checkpoint may stand behind.
    let mut faulted_last: std::collections::HashSet<String> = Default::default();
    let mut writes = 0;
    for ex in exchanges {
        if ex.target != "DynamoDB_20120810.PutItem" {
            continue;
        }
        let body: Value = serde_json::from_slice(
            ex.request_body
                .as_deref()
                .context("the proxy captures bodies")?,
        )?;
        if body["TableName"] != CHECKPOINTS {
            continue;
        }
        let pk = body["Item"]["pk"]["S"].as_str().context("pk")?.to_string();
        if ex.upstream_status != Some(200) {
            if ex.fault.is_some() {
                faulted_last.insert(pk);
            }
            continue;
        }
        let position = decode_position(body["Item"]["position"]["S"].as_str().context("position")?)
            .context("a valid position")?;
        if let Some(prev) = last.get(&pk) {
            ensure!(
                &position > prev,
                "the checkpoint of {pk} moved from {prev:?} to {position:?}: not forward"
            );
        }
        faulted_last.remove(&pk);
        last.insert(pk, position);
        writes += 1;
    }
    for (s, records) in w.shards.iter().enumerate() {
        let pk = format!("cdc-processor#{STREAM_ARN}#{}", SHARDS[s]);
        let end = last
            .get(&pk)
            .with_context(|| format!("no checkpoint written for {pk}"))?;
        let want = records
            .last()
            .context("records")?
            .kinesis
            .sequence_number
            .parse()?;
        ensure!(
            end.sequence == want || faulted_last.contains(&pk),
            "the checkpoint of {pk} ends at {end:?}, not at the shard's last record"
        );
    }
    Ok(writes)
}

/// What [`check`] counted.
#[derive(Debug)]
pub(super) struct Counts {
    /// Records published (at least once).
    pub(super) published: usize,
    /// Records dead-lettered (at least once).
    pub(super) dead_lettered: usize,
    /// Extra publications of an event id.
    pub(super) duplicate_events: usize,
    /// Extra dead letters of a record.
    pub(super) duplicate_letters: usize,
    /// Records neither published nor dead-lettered.
    pub(super) lost: usize,
}

impl Counts {
    pub(super) fn duplicates(&self) -> usize {
        self.duplicate_events + self.duplicate_letters
    }
}
