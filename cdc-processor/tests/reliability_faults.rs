//! Faults with nothing lost (issue 7 §1), against moto through the fault proxy
//! (`testkit::fault_proxy`) with the real SDK clients and the real handler.
//!
//! Each test runs a workload — CoreDB trigger, Debezium and DMS updates of many `users` keys,
//! KPL aggregates, and bad records that must be dead-lettered — over two shards, the way Lambda
//! does (ReportBatchItemFailures: redeliver from the lowest reported sequence number), while one
//! kind of fault is injected. Then it checks, by event id, against the ground truth (what moto
//! accepted, as the proxy saw it on the wire, and what the DLQ holds in moto):
//!
//! - **lost = 0**: every record ends published (good records) or dead-lettered (bad ones, with the
//!   expected code); nothing else is published;
//! - **duplicates come only from retries**: every publication of an event id carries the same
//!   detail, and the extra publications of an id are at most its unacknowledged publications (moto
//!   accepted, the client was not told: a lie, a slow answer, a killed process) plus its
//!   redeliveries;
//! - **per-key order**: the first publications of each key's events are in stream order.
//!
//! Each test prints a row of the table in `docs/reliability.md` (run with `-- --nocapture`) and
//! appends it to `$CARGO_TARGET_TMPDIR/reliability_faults.md`.

mod fault_support;

use anyhow::{ensure, Context, Result};
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use cdc_processor::aws::dynamodb::decode_position;
use cdc_processor::decode::kpl::{aggregate, AggregatedRecord, Record};
use cdc_processor::sequence::Position;
use fault_support::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};
use testkit::fault_proxy::{Exchange, Fault, Rule};

const SHARDS: [&str; 2] = ["shardId-000000000000", "shardId-000000000001"];
/// Keys per shard: many updates per key, so per-key order is tested hard.
const KEYS_PER_SHARD: usize = 40;

// Records per scenario; together at least 10,000 (checked below).
const N_BASELINE: usize = 2_000;
const N_THROTTLING: usize = 1_000;
const N_LYING: usize = 1_000;
const N_5XX: usize = 1_500;
const N_SLOW: usize = 1_000;
const N_DYNAMODB: usize = 1_500;
const N_SQS: usize = 1_000;
const N_SIGKILL: usize = 2_000;
const N_ROUTED: usize = 300;
const N_SQS_ENTRIES: usize = 1_000;
const N_EARLY: usize = 1_000;
/// The per-attempt client timeout of the scenarios whose faults outlast it. Long enough that moto
/// on a loaded 2-core machine (answers of a second and more under three compilers) is not itself
/// a timeout storm, short enough that the scenarios stay quick.
const SHORT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a slow answer or a blackhole holds a request: well past [`SHORT_ATTEMPT_TIMEOUT`], so
/// the client has given up on it for certain.
const HELD: Duration = Duration::from_secs(5);
const _: () = assert!(
    N_BASELINE
        + N_THROTTLING
        + N_LYING
        + N_5XX
        + N_SLOW
        + N_DYNAMODB
        + N_SQS
        + N_SIGKILL
        + N_ROUTED
        + N_SQS_ENTRIES
        + N_EARLY
        >= 10_000
);

/// What a user record must become.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    Published,
    DeadLettered(&'static str),
}

/// One user record of the workload.
#[derive(Clone, Debug)]
struct UserRec {
    shard: &'static str,
    sequence: String,
    sub: Option<u64>,
    /// Ordering key (table + primary key) for good records.
    key: String,
    /// Position in its shard's stream, for the order check.
    rank: usize,
    expect: Expect,
}

struct Workload {
    /// Per shard, the Kinesis records in order.
    shards: Vec<Vec<KinesisEventRecord>>,
    /// By event id.
    users: HashMap<String, UserRec>,
}

impl Workload {
    fn records(&self) -> usize {
        self.users.len()
    }
}

/// The event id of a Kinesis pointer, derived here independently of the library (docs/cdc-event.md:
/// the first 16 bytes, in hex, of SHA-256 over `stream ARN \n shard id \n sequence number \n`
/// followed by the sub-sequence number in decimal for a KPL sub-record). A change of the formula
/// in the processor would re-key every consumer's deduplication: the scenarios see it.
fn expected_event_id(stream_arn: &str, shard: &str, sequence: &str, sub: Option<u64>) -> String {
    let mut h = Sha256::new();
    for part in [stream_arn, shard, sequence] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    if let Some(sub) = sub {
        h.update(sub.to_string().as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The id of a change that carries its source position, derived here from docs/cdc-event.md:
/// SHA-256 over `source-position\n` and the position text, first 16 bytes in hex.
fn expected_position_event_id(position: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"source-position\n");
    h.update(position.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The source position of the Debezium change `change(i, …)` writes (`txId` `i`, `lsn`
/// `1000 + i`), as docs/cdc-event.md spells it: `debezium` and the JSON text of `source.name`,
/// `source.db`, `source.schema`, `source.table`, `source.txId`, `source.lsn`, then `op`, one a line.
fn debezium_position(i: usize) -> String {
    format!(
        "debezium\n\"coredb\"\n\"coredb\"\n\"public\"\n\"users\"\n{i}\n{}\nu",
        1000 + i
    )
}

fn example_user() -> Value {
    let path = testkit::workspace_root().join("model-schemas/examples/users.json");
    serde_json::from_slice(&std::fs::read(path).expect("example row")).expect("example JSON")
}

fn user_id(shard: usize, key: usize) -> String {
    format!("00000000-0000-4000-8000-{:06}{:06}", shard, key)
}

fn user_row(base: &Value, shard: usize, key: usize, version: usize) -> Value {
    let mut u = base.clone();
    u["id"] = json!(user_id(shard, key));
    u["name"] = json!(format!("User {shard}-{key} v{version}"));
    u["status"] = json!(if version & 1 == 0 {
        "active"
    } else {
        "inactive"
    });
    u
}

fn timestamp(i: usize) -> String {
    let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z").unwrap()
        + chrono::Duration::seconds(i as i64);
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One change of a users row in the format chosen by `variant`.
fn change(variant: usize, row: Value, i: usize) -> Vec<u8> {
    let ts = timestamp(i);
    let v = match variant % 3 {
        0 => json!({"table": "users", "operation": "UPDATE", "timestamp": ts,
                    "transaction_id": format!("txn-{i}"), "before": null, "after": row}),
        1 => {
            json!({"before": null, "after": row, "op": "u", "ts_ms": 1_764_057_600_000u64 + i as u64,
                    "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "coredb",
                               "ts_ms": 1_764_057_600_000u64 + i as u64, "snapshot": "false", "db": "coredb",
                               "schema": "public", "table": "users", "txId": i, "lsn": 1000 + i}})
        }
        _ => json!({"data": row,
                    "metadata": {"timestamp": ts, "record-type": "data", "operation": "update",
                                 "partition-key-type": "schema-table", "schema-name": "public",
                                 "table-name": "users", "transaction-id": i}}),
    };
    v.to_string().into_bytes()
}

/// The `i`-th sequence number of a shard. Both shards use the same numbers (Kinesis sequence
/// numbers are only unique within a shard), so an id that forgot the shard would collide.
fn sequence(i: usize) -> String {
    // 56 digits, increasing.
    format!("4959033827149025660855969253836157109592157598{:010}", i)
}

/// `n` user records over two shards; one in `bad_every` Kinesis records is bad (alternately bad
/// JSON and an unknown table); every 20th is a KPL aggregate of three changes of one key, one in
/// four of them with a bad user record in the middle.
fn workload(n: usize, bad_every: usize) -> Workload {
    let base = example_user();
    let mut shards: Vec<Vec<KinesisEventRecord>> = vec![Vec::new(), Vec::new()];
    let mut users = HashMap::new();
    let mut version = vec![vec![0usize; KEYS_PER_SHARD]; 2];
    let mut rank = [0usize; 2];
    let mut i = 0usize;
    let mut made = 0usize;
    while made < n {
        let s = i % 2;
        let k = (i / 2) % KEYS_PER_SHARD;
        let seq = sequence(i / 2);
        let pk = format!("users#{}", user_id(s, k));
        let key = format!("users/{}", user_id(s, k));
        // A change with a source position (the Debezium ones, `variant` 1) has the position's
        // id; every other record the id of its Kinesis pointer.
        let mut push_user = |sub: Option<u64>,
                             expect: Expect,
                             position: Option<String>,
                             users: &mut HashMap<_, _>| {
            let id = match position {
                Some(p) => expected_position_event_id(&p),
                None => expected_event_id(STREAM_ARN, SHARDS[s], &seq, sub),
            };
            users.insert(
                id,
                UserRec {
                    shard: SHARDS[s],
                    sequence: seq.clone(),
                    sub,
                    key: key.clone(),
                    rank: rank[s],
                    expect,
                },
            );
            rank[s] += 1;
        };
        let data = if i % bad_every == bad_every - 1 {
            let (data, code) = if (i / bad_every) & 1 == 0 {
                (b"{not json".to_vec(), "PARSE_ERROR")
            } else {
                (
                    json!({"table": "no_such_table", "operation": "INSERT", "timestamp": timestamp(i),
                           "before": null, "after": {"id": 1}})
                    .to_string()
                    .into_bytes(),
                    "VALIDATION_ERROR",
                )
            };
            push_user(None, Expect::DeadLettered(code), None, &mut users);
            made += 1;
            data
        } else if i % 20 == 7 && n - made >= 3 {
            let with_bad = (i / 20) & 3 == 0;
            let mut records = Vec::new();
            for sub in 0..3u64 {
                let data = if with_bad && sub == 1 {
                    push_user(
                        Some(sub),
                        Expect::DeadLettered("PARSE_ERROR"),
                        None,
                        &mut users,
                    );
                    b"{\"table\": \"users\", \"operation\":".to_vec()
                } else {
                    version[s][k] += 1;
                    push_user(Some(sub), Expect::Published, None, &mut users);
                    change(
                        0,
                        user_row(&base, s, k, version[s][k]),
                        i * 10 + sub as usize,
                    )
                };
                records.push(Record {
                    partition_key_index: 0,
                    explicit_hash_key_index: None,
                    data,
                    tags: vec![],
                });
            }
            made += 3;
            aggregate(&AggregatedRecord {
                partition_key_table: vec![pk.clone()],
                explicit_hash_key_table: vec![],
                records,
            })
        } else {
            version[s][k] += 1;
            let position = (i % 3 == 1).then(|| debezium_position(i));
            push_user(None, Expect::Published, position, &mut users);
            made += 1;
            change(i, user_row(&base, s, k, version[s][k]), i)
        };
        let mut r = KinesisEventRecord::default();
        r.event_id = Some(format!("{}:{seq}", SHARDS[s]));
        r.event_source_arn = Some(STREAM_ARN.to_string());
        r.event_source = Some("aws:kinesis".to_string());
        r.event_name = Some("aws:kinesis:record".to_string());
        r.aws_region = Some("us-east-1".to_string());
        r.kinesis.sequence_number = seq.clone();
        r.kinesis.partition_key = pk;
        r.kinesis.data.0 = data;
        shards[s].push(r);
        i += 1;
    }
    Workload { shards, users }
}

/// A row of the results table.
#[derive(Debug)]
struct Row {
    fault: String,
    records: usize,
    published: usize,
    dead_lettered: usize,
    duplicates: usize,
    lost: usize,
    injected: u64,
    invocations: usize,
    redeliveries: usize,
    seconds: f64,
}

impl Row {
    fn print(&self) {
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
fn check(
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
fn check_checkpoints(w: &Workload, exchanges: &[Exchange]) -> Result<usize> {
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
struct Counts {
    /// Records published (at least once).
    published: usize,
    /// Records dead-lettered (at least once).
    dead_lettered: usize,
    /// Extra publications of an event id.
    duplicate_events: usize,
    /// Extra dead letters of a record.
    duplicate_letters: usize,
    /// Records neither published nor dead-lettered.
    lost: usize,
}

impl Counts {
    fn duplicates(&self) -> usize {
        self.duplicate_events + self.duplicate_letters
    }
}

/// Runs a workload through the in-process handler with the proxy's rules in place, then checks.
async fn scenario(
    fault: &str,
    n: usize,
    bad_every: usize,
    attempt_timeout: Duration,
    max_retry_attempts: u32,
    rules: Vec<Rule>,
    routed: bool,
) -> Result<Row> {
    let w = world(attempt_timeout, routed).await?;
    let vars = function_env(&w, max_retry_attempts);
    let (state, metrics) = app_state(&w, &vars).await?;
    let load = workload(n, bad_every);
    let ids: Vec<_> = rules.into_iter().map(|r| w.proxy.add_rule(r)).collect();
    w.proxy.capture_bodies(true);
    let started = Instant::now();
    let bounds = Bounds {
        batch_size: 250,
        max_invocations: 400,
        // A bound against livelock, not a speed check: on one core shared with a busy loop the
        // slowest scenario needs more than 240 s.
        max_time: Duration::from_secs(600),
    };
    let (a, b) = tokio::join!(
        drive_shard(&state, &load.shards[0], bounds),
        drive_shard(&state, &load.shards[1], bounds)
    );
    let mut drive = a?;
    drive.merge(b?);
    let seconds = started.elapsed().as_secs_f64();
    let injected: u64 = ids.iter().map(|id| w.proxy.fired(*id)).sum();
    w.proxy.clear_rules();
    let letters = drain(&w.direct, &w.dlq_url).await?;
    let exchanges = w.proxy.exchanges();
    let c = check(&load, &exchanges, &letters, &drive.deliveries)?;
    check_checkpoints(&load, &exchanges)?;
    if let Some(url) = &w.routed_url {
        // The ground truth is right: what the proxy saw moto accept is what the bus delivered.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for ex in &exchanges {
            for f in ex.entries.iter().filter(|f| f.accepted) {
                let d: Value = serde_json::from_str(&f.detail)?;
                *seen
                    .entry(d["eventId"].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        let mut routed: HashMap<String, usize> = HashMap::new();
        for m in drain(&w.direct, url).await? {
            *routed
                .entry(m["detail"]["eventId"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
        ensure!(
            routed == seen,
            "the bus delivered {} events, the proxy saw {} accepted",
            routed.values().sum::<usize>(),
            seen.values().sum::<usize>()
        );
    }
    // The EMF lines are valid JSON and count every invocation.
    let lines = metrics.lock().unwrap().clone();
    let totals = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("RecordsIn").is_some())
        .count();
    ensure!(
        totals == drive.invocations,
        "{totals} metric lines for {} invocations",
        drive.invocations
    );
    let row = Row {
        fault: fault.to_string(),
        records: load.records(),
        published: c.published,
        dead_lettered: c.dead_lettered,
        duplicates: c.duplicates(),
        lost: c.lost,
        injected,
        invocations: drive.invocations,
        redeliveries: drive.redeliveries,
        seconds,
    };
    row.print();
    Ok(row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fault_baseline() -> Result<()> {
    let row = scenario(
        "none (baseline)",
        N_BASELINE,
        50,
        Duration::from_secs(5),
        3,
        vec![],
        false,
    )
    .await?;
    assert_eq!(row.duplicates, 0, "no fault, no duplicate");
    assert_eq!(row.redeliveries, 0);
    Ok(())
}

/// The ground truth is right: under lies, resets and slow answers, what the proxy saw moto accept
/// is exactly what the bus delivered to a rule's target (an SQS queue), event id by event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_ground_truth_is_what_the_bus_delivered() -> Result<()> {
    let row = scenario(
        "EventBridge: lies, resets and slow answers, checked against the events a rule delivered",
        N_ROUTED,
        50,
        SHORT_ATTEMPT_TIMEOUT,
        3,
        vec![
            Rule::new("AWSEvents.PutEvents", Fault::SlowAnswer(HELD))
                .skip(2)
                .times(3),
            Rule::new("AWSEvents.PutEvents", Fault::Reset)
                .probability(0.05)
                .seed(61),
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::lie_about_entries(0.3, &["InternalFailure"]),
            )
            .seed(62),
        ],
        true,
    )
    .await?;
    assert!(row.duplicates > 0, "{row:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_throttling_and_partial_failures() -> Result<()> {
    let row = scenario(
        "EventBridge: 30% of entries ThrottlingException/InternalFailure, 10% of calls throttled",
        N_THROTTLING,
        50,
        Duration::from_secs(5),
        3,
        vec![
            Rule::new("AWSEvents.PutEvents", Fault::throttling())
                .probability(0.1)
                .seed(11),
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::fail_entries(0.3, &["ThrottlingException", "InternalFailure"]),
            )
            .seed(12),
        ],
        false,
    )
    .await?;
    assert!(row.injected > 50, "faults were injected: {row:?}");
    // Honest partial failures are never published: nothing can be duplicated except by a
    // redelivery of records published behind a reported one.
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_partial_failures_that_were_published_anyway() -> Result<()> {
    let row = scenario(
        "EventBridge: 30% of entries reported failed although published (lying)",
        N_LYING,
        50,
        Duration::from_secs(5),
        3,
        vec![Rule::new(
            "AWSEvents.PutEvents",
            Fault::lie_about_entries(0.3, &["InternalFailure", "ThrottlingException"]),
        )
        .seed(21)],
        false,
    )
    .await?;
    assert!(row.injected > 50, "{row:?}");
    assert!(
        row.duplicates > 0,
        "retried entries that had been published are duplicates (same id)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_5xx_and_resets() -> Result<()> {
    let row = scenario(
        "EventBridge: 15% of calls 500/503, 5% connections reset",
        N_5XX,
        50,
        Duration::from_secs(5),
        3,
        vec![
            Rule::new("AWSEvents.PutEvents", Fault::internal_error())
                .probability(0.08)
                .seed(31),
            Rule::new("AWSEvents.PutEvents", Fault::unavailable())
                .probability(0.07)
                .seed(32),
            Rule::new("AWSEvents.PutEvents", Fault::Reset)
                .probability(0.05)
                .seed(33),
        ],
        false,
    )
    .await?;
    assert!(row.injected > 10, "{row:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_answers_slower_than_the_client_timeout() -> Result<()> {
    // Client timeout 2 s per attempt; 15 answers held 5 s after moto accepted them (the client
    // retries entries that were published), 10 requests never answered.
    let row = scenario(
        "EventBridge: answers slower than the client timeout (published, unanswered), requests blackholed",
        N_SLOW,
        50,
        SHORT_ATTEMPT_TIMEOUT,
        3,
        vec![
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::SlowAnswer(HELD),
            )
            .skip(3)
            .probability(0.35)
            .times(15)
            .seed(41),
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::Blackhole(HELD),
            )
            .skip(5)
            .probability(0.3)
            .times(10)
            .seed(42),
        ],
        false,
    )
    .await?;
    assert_eq!(row.injected, 25, "{row:?}");
    assert!(
        row.duplicates > 0,
        "slow answers were published and retried"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_conditional_conflicts_and_outages() -> Result<()> {
    let row = scenario(
        "DynamoDB: 30% conditional conflicts on checkpoint and state writes; outages of reads and writes",
        N_DYNAMODB,
        50,
        Duration::from_secs(5),
        1,
        vec![
            // Outages: every DynamoDB call fails for a while, twice (SDK retries included).
            Rule::new("DynamoDB_20120810.*", Fault::unavailable())
                .skip(20)
                .times(12),
            Rule::new("DynamoDB_20120810.GetItem", Fault::Reset)
                .skip(6)
                .probability(0.3)
                .times(8)
                .seed(51),
            Rule::new("DynamoDB_20120810.PutItem", Fault::internal_error())
                .skip(60)
                .times(10),
            // Conflicts: another invocation "moved" the checkpoint or the state.
            Rule::new(
                "DynamoDB_20120810.PutItem",
                Fault::conditional_check_failed(),
            )
            .body_contains(CHECKPOINTS)
            .probability(0.3)
            .seed(52),
            Rule::new(
                "DynamoDB_20120810.UpdateItem",
                Fault::conditional_check_failed(),
            )
            .body_contains(STATE)
            .probability(0.3)
            .seed(53),
        ],
        false,
    )
    .await?;
    // One checkpoint write per window (not per request) makes fewer DynamoDB calls to hit.
    assert!(row.injected > 10, "{row:?}");
    assert!(
        row.redeliveries > 0,
        "outages made records reported: {row:?}"
    );
    Ok(())
}

/// The dead-letter queue accepts a `SendMessageBatch` but lists some of its messages under
/// `Failed`: those records must be reported and dead-lettered on the redelivery, never taken as
/// sent (the lost = 0 check reads the letters from moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_fails_some_messages_of_a_batch() -> Result<()> {
    let row = scenario(
        "SQS: 40% of the messages of 20 SendMessageBatch calls listed as Failed",
        N_SQS_ENTRIES,
        10,
        Duration::from_secs(5),
        1,
        vec![Rule::new(
            "AmazonSQS.SendMessageBatch",
            Fault::fail_entries(0.4, &["InternalError", "ServiceUnavailable"]),
        )
        .times(20)
        .seed(71)],
        false,
    )
    .await?;
    assert_eq!(row.injected, 20, "{row:?}");
    assert!(
        row.redeliveries > 0,
        "failed messages made records reported: {row:?}"
    );
    Ok(())
}

/// With requests in flight together, an early request of a window keeps failing (503 on every
/// attempt, retries included) while later requests of the window succeed: the early record and
/// everything after it is reported, the later requests' entries are published again on the
/// redelivery under the same event ids, nothing is lost and each key stays in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_request_fails_while_later_ones_succeed() -> Result<()> {
    // Sequence numbers are equal on both shards: the 4th record's requests on both shards fail
    // 1 + MAX_RETRY_ATTEMPTS (3) times each.
    let row = scenario(
        "EventBridge: an early request of the window fails through its retries, later ones succeed",
        N_EARLY,
        50,
        Duration::from_secs(5),
        3,
        vec![Rule::new("AWSEvents.PutEvents", Fault::unavailable())
            .body_contains(&sequence(3))
            .times(8)],
        false,
    )
    .await?;
    assert_eq!(row.injected, 8, "{row:?}");
    assert!(row.redeliveries > 0, "{row:?}");
    assert!(
        row.duplicates > 0,
        "later requests that succeeded were published again on the redelivery: {row:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_outage() -> Result<()> {
    // One record in ten is bad, so dead letters are frequent; SQS is down (5xx, then resets) for
    // the first 40 SendMessageBatch attempts (the SDK retries each call once).
    let row = scenario(
        "SQS: dead-letter queue unavailable (503, resets) for 40 calls",
        N_SQS,
        10,
        Duration::from_secs(5),
        1,
        vec![
            Rule::new("AmazonSQS.SendMessageBatch", Fault::unavailable()).times(30),
            Rule::new("AmazonSQS.SendMessageBatch", Fault::Reset).times(10),
        ],
        false,
    )
    .await?;
    assert_eq!(row.injected, 40, "{row:?}");
    assert!(row.redeliveries > 0, "{row:?}");
    Ok(())
}

/// A shard's durable checkpoint, read straight from moto.
async fn checkpoint_of(w: &World, shard: &str) -> Result<Option<Position>> {
    let item = aws_sdk_dynamodb::Client::new(&w.direct)
        .get_item()
        .table_name(CHECKPOINTS)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "cdc-processor#{STREAM_ARN}#{shard}"
            )),
        )
        .consistent_read(true)
        .send()
        .await?
        .item;
    Ok(match item {
        None => None,
        Some(item) => Some(
            decode_position(
                item["position"]
                    .as_s()
                    .map_err(|_| anyhow::anyhow!("position"))?,
            )
            .context("a valid position")?,
        ),
    })
}

/// The real binary on the Lambda Runtime API emulator, killed with SIGKILL mid-batch (twice in
/// the first shard's batch, once in the second's) and run again on the same batch, as Lambda
/// does after a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killed_mid_batch_and_run_again() -> Result<()> {
    let w = world(Duration::from_secs(5), false).await?;
    let vars = function_env(&w, 3);
    let load = workload(N_SIGKILL, 50);
    let api = testkit::lambda_runtime_api::RuntimeApi::start();
    w.proxy.capture_bodies(true);
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    // Kill points: accepted entries (overall) at which a running process is killed.
    let shard0_users = load.users.values().filter(|u| u.shard == SHARDS[0]).count();
    let mut kill_points = vec![250, 650, shard0_users + 300];
    kill_points.reverse();
    let mut kills = 0usize;
    let mut processes = 0usize;
    let mut warm: Option<FunctionProcess> = None;
    let mut expected_duplicates = 0usize;
    let mut drive = Drive::default();
    for records in &load.shards {
        let mut start = 0;
        while start < records.len() {
            ensure!(
                drive.invocations < 20 && started.elapsed() < Duration::from_secs(300),
                "not done after {} invocations",
                drive.invocations
            );
            let batch = &records[start..];
            for r in batch {
                *drive.deliveries.entry(record_delivery_key(r)).or_default() += 1;
            }
            let payload = event_json(batch, now_seconds())?;
            // A warm process is reused; after a kill Lambda starts a new execution environment.
            if warm.is_none() {
                warm = Some(FunctionProcess::start(&api, &vars, dir.path(), processes)?);
                processes += 1;
            }
            let process = warm.as_mut().expect("started above");
            let id = api.invoke(payload);
            drive.invocations += 1;
            let deadline = Instant::now() + Duration::from_secs(120);
            let killed = loop {
                if api.result(&id).is_some() {
                    break false;
                }
                if let Some(&point) = kill_points.last() {
                    if w.proxy.accepted_entries() >= point {
                        process.kill()?;
                        kill_points.pop();
                        break true;
                    }
                }
                if let Some(status) = process.child.try_wait()? {
                    anyhow::bail!("the function exited with {status}\n{}", process.output());
                }
                ensure!(
                    Instant::now() < deadline,
                    "no response from process {processes} (kills so far {kills}, invocation taken: {}, accepted entries {})\n{}",
                    api.taken(&id),
                    w.proxy.accepted_entries(),
                    process.output()
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
            if killed {
                ensure!(
                    api.result(&id).is_none(),
                    "the batch finished before the kill"
                );
                kills += 1;
                drive.redeliveries += 1;
                warm = None;
                // Requests the process had sent may still be reaching moto through the proxy.
                tokio::time::sleep(Duration::from_millis(300)).await;
                // The rerun publishes again exactly what was published above the durable
                // checkpoint: count it now.
                let shard = records[0]
                    .event_id
                    .as_deref()
                    .unwrap_or("")
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let checkpoint = checkpoint_of(&w, &shard).await?;
                let mut above = std::collections::HashSet::new();
                for ex in w.proxy.exchanges() {
                    for f in ex.entries.iter().filter(|f| f.accepted) {
                        let d: Value = serde_json::from_str(&f.detail)?;
                        let u = &load.users[d["eventId"].as_str().unwrap_or_default()];
                        let p = Position {
                            sequence: u.sequence.parse()?,
                            sub_sequence: u.sub,
                        };
                        if u.shard == shard && checkpoint.as_ref().is_none_or(|c| &p > c) {
                            above.insert(d["eventId"].as_str().unwrap_or_default().to_string());
                        }
                    }
                }
                expected_duplicates += above.len();
                continue; // the same batch again
            }
            let response = wait_response(&api, &id, process, Duration::from_secs(10))?;
            let failures = reported(&response)?;
            if failures.is_empty() {
                start = records.len();
            } else {
                drive.redeliveries += 1;
                start += resume_index(batch, &failures)?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    ensure!(kills == 3, "{kills} kills, expected 3");
    let letters = drain(&w.direct, &w.dlq_url).await?;
    let exchanges = w.proxy.exchanges();
    let c = check(&load, &exchanges, &letters, &drive.deliveries)?;
    check_checkpoints(&load, &exchanges)?;
    // Every duplicate is a record published above the durable checkpoint when the process was
    // killed, published again by the rerun; nothing else.
    ensure!(
        c.duplicate_events == expected_duplicates,
        "{} duplicate events, {expected_duplicates} published above the checkpoints at the kills",
        c.duplicate_events
    );
    let row = Row {
        fault: "cdc-processor process killed (SIGKILL) mid-batch 3 times, batch run again"
            .to_string(),
        records: load.records(),
        published: c.published,
        dead_lettered: c.dead_lettered,
        duplicates: c.duplicates(),
        lost: c.lost,
        injected: kills as u64,
        invocations: drive.invocations,
        redeliveries: drive.redeliveries,
        seconds,
    };
    row.print();
    // The shards' checkpoints stand at their last records.
    let ddb = aws_sdk_dynamodb::Client::new(&w.direct);
    for (s, records) in load.shards.iter().enumerate() {
        let item = ddb
            .get_item()
            .table_name(CHECKPOINTS)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "cdc-processor#{STREAM_ARN}#{}",
                    SHARDS[s]
                )),
            )
            .send()
            .await?
            .item
            .context("checkpoint")?;
        let last = records.last().unwrap();
        assert_eq!(
            item["sequenceNumber"].as_s().ok(),
            Some(&last.kinesis.sequence_number)
        );
    }
    Ok(())
}

/// The workload is what the tests claim: formats, aggregates, bad records, keys.
#[test]
fn workload_shape() {
    let w = workload(1_000, 50);
    assert_eq!(w.records(), 1_000);
    let bad: BTreeMap<&str, usize> = w.users.values().fold(BTreeMap::new(), |mut m, u| {
        if let Expect::DeadLettered(c) = u.expect {
            *m.entry(c).or_default() += 1;
        }
        m
    });
    assert!(
        bad["PARSE_ERROR"] >= 10 && bad["VALIDATION_ERROR"] >= 5,
        "{bad:?}"
    );
    let aggregated = w.users.values().filter(|u| u.sub.is_some()).count();
    assert!(aggregated >= 100, "{aggregated}");
    let keys: std::collections::HashSet<&str> = w.users.values().map(|u| u.key.as_str()).collect();
    assert!(keys.len() >= 2 * KEYS_PER_SHARD);
    let formats: std::collections::HashSet<usize> = (0..30)
        .map(|i| {
            let d: Value = serde_json::from_slice(&w.shards[i % 2][i / 2].kinesis.data.0)
                .unwrap_or(Value::Null);
            if d.get("op").is_some() {
                1
            } else if d.get("metadata").is_some() {
                2
            } else {
                0
            }
        })
        .collect();
    assert_eq!(formats.len(), 3, "all three formats");
}
