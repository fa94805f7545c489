//! The workload of the scenarios: CoreDB trigger, Debezium and DMS updates of many `users` keys over
//! two shards, KPL aggregates and bad records, and what each record must become.

use super::{KEYS_PER_SHARD, SHARDS};
use crate::support::STREAM_ARN;
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use cdc_processor::decode::kpl::{aggregate, AggregatedRecord, Record};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// What a user record must become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    Published,
    DeadLettered(&'static str),
}

/// One user record of the workload.
#[derive(Clone, Debug)]
pub(super) struct UserRec {
    pub(super) shard: &'static str,
    pub(super) sequence: String,
    pub(super) sub: Option<u64>,
    /// Ordering key (table + primary key) for good records.
    pub(super) key: String,
    /// Position in its shard's stream, for the order check.
    pub(super) rank: usize,
    pub(super) expect: Expect,
}

pub(super) struct Workload {
    /// Per shard, the Kinesis records in order.
    pub(super) shards: Vec<Vec<KinesisEventRecord>>,
    /// By event id.
    pub(super) users: HashMap<String, UserRec>,
}

impl Workload {
    pub(super) fn records(&self) -> usize {
        self.users.len()
    }
}

/// The event id of a Kinesis pointer, derived here independently of the library (docs/cdc-event.md:
/// the first 16 bytes, in hex, of SHA-256 over `stream ARN \n shard id \n sequence number \n`
/// followed by the sub-sequence number in decimal for a KPL sub-record). A change of the formula
/// in the processor would re-key every consumer's deduplication: the scenarios see it.
pub(super) fn expected_event_id(
    stream_arn: &str,
    shard: &str,
    sequence: &str,
    sub: Option<u64>,
) -> String {
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
pub(super) fn expected_position_event_id(position: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"source-position\n");
    h.update(position.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The source position of the Debezium change `change(i, …)` writes (`txId` `i`, `lsn`
/// `1000 + i`), as docs/cdc-event.md spells it: `debezium` and the JSON text of `source.name`,
/// `source.db`, `source.schema`, `source.table`, `source.txId`, `source.lsn`, then `op`, one a line.
pub(super) fn debezium_position(i: usize) -> String {
    format!(
        "debezium\n\"coredb\"\n\"coredb\"\n\"public\"\n\"users\"\n{i}\n{}\nu",
        1000 + i
    )
}

pub(super) fn example_user() -> Value {
    Value::Object(testkit::example_row("users"))
}

pub(super) fn user_id(shard: usize, key: usize) -> String {
    format!("00000000-0000-4000-8000-{:06}{:06}", shard, key)
}

pub(super) fn user_row(base: &Value, shard: usize, key: usize, version: usize) -> Value {
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

pub(super) fn timestamp(i: usize) -> String {
    let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z").unwrap()
        + chrono::Duration::seconds(i as i64);
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One change of a users row in the format chosen by `variant`.
pub(super) fn change(variant: usize, row: Value, i: usize) -> Vec<u8> {
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
pub(super) fn sequence(i: usize) -> String {
    // 56 digits, increasing.
    format!("4959033827149025660855969253836157109592157598{:010}", i)
}

/// `n` user records over two shards; one in `bad_every` Kinesis records is bad (alternately bad
/// JSON and an unknown table); every 20th is a KPL aggregate of three changes of one key, one in
/// four of them with a bad user record in the middle.
pub(super) fn workload(n: usize, bad_every: usize) -> Workload {
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
