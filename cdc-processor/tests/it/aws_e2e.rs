//! End to end against moto: records of all three formats (and bad ones) put on a Kinesis stream,
//! read back with GetRecords into the Lambda event shape, handled by the real handler; events routed
//! by an EventBridge rule (source, detail-type, `detail.table`) into SQS; checkpoints and state in
//! DynamoDB; dead letters in SQS; a second run publishes nothing new.

use crate::support::aws::{drain, drain_messages, processor_with};
use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;
use base64::Engine;
use cdc_processor::aws::dynamodb::encode_position;
use cdc_processor::aws::lambda::{handler, lenient_handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use cdc_processor::ports::StateStore;
use cdc_processor::sequence::Position;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use testkit::stack::{CHECKPOINT_TABLE, SOURCE, STREAM};
use testkit::Stack;

/// The name of the HMAC key's secret.
const SECRET: &str = "cdc/redaction-hmac-key";
const TABLES: &[&str] = &["users", "orders", "agents", "agent_states"];

const USER_ID: &str = "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21";
const USER2_ID: &str = "6c1d2e0f-7b4a-4b68-8e3f-1a5c8d9b2f32";
const ORDER_ID: &str = "9a1f3c2e-7b4d-4e8a-b1c0-3d2e5f6a7b81";
const AGENT_ID: &str = "7f3e2d1c-0b9a-4877-a665-544332211000";
const EMAIL: &str = "priya.raman@acme-support.example";
const SSN: &str = "QQ 12 34 56 C";
const IP: &str = "203.0.113.47";
const PAN: &str = "4111111111111111";

fn example(table: &str) -> Value {
    let path = testkit::workspace_root().join(format!("model-schemas/examples/{table}.json"));
    serde_json::from_slice(&std::fs::read(path).expect("example row")).expect("example JSON")
}

fn user(id: &str, status: &str) -> Value {
    let mut u = example("users");
    u["id"] = json!(id);
    u["status"] = json!(status);
    u
}

/// One record to put: partition key, data, and what the test expects of it.
struct Put {
    key: String,
    data: Vec<u8>,
    expect: Expect,
}

#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Event {
        table: &'static str,
        operation: &'static str,
    },
    DeadLetter(&'static str),
}

fn records() -> Vec<Put> {
    let mut out = Vec::new();
    let mut push = |key: &str, v: Value, expect: Expect| {
        out.push(Put {
            key: key.into(),
            data: v.to_string().into_bytes(),
            expect,
        })
    };
    let ev = |table, operation| Expect::Event { table, operation };

    // CoreDB trigger format: an insert then an update of the same user (per-key order), another
    // user, and an agent state whose IP is `hash`-redacted.
    push(
        &format!("users#{USER_ID}"),
        json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T08:00:00Z",
               "transaction_id": "txn-1", "before": null, "after": user(USER_ID, "active")}),
        ev("users", "INSERT"),
    );
    push(
        &format!("users#{USER2_ID}"),
        json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T08:00:01Z",
               "transaction_id": "txn-2", "before": null, "after": user(USER2_ID, "active")}),
        ev("users", "INSERT"),
    );
    push(
        &format!("users#{USER_ID}"),
        json!({"table": "users", "operation": "UPDATE", "timestamp": "2026-11-25T08:05:00Z",
               "transaction_id": "txn-3", "before": {"id": USER_ID, "status": "active"},
               "after": user(USER_ID, "inactive")}),
        ev("users", "UPDATE"),
    );
    push(
        &format!("agent_states#{AGENT_ID}"),
        json!({"table": "agent_states", "operation": "INSERT", "timestamp": "2026-11-25T10:38:52Z",
               "transaction_id": "txn-4", "before": null, "after": example("agent_states")}),
        ev("agent_states", "INSERT"),
    );

    // Debezium (no schema wrapper): an order created then updated.
    let order = example("orders");
    let mut paid = order.clone();
    paid["status"] = json!("refunded");
    let src = |tx: u64| {
        json!({"version": "2.7.0.Final", "connector": "postgresql", "name": "coredb", "ts_ms": 1764065700000u64,
               "snapshot": "false", "db": "coredb", "schema": "public", "table": "orders", "txId": tx, "lsn": 24023128})
    };
    push(
        &format!("orders#{ORDER_ID}"),
        json!({"before": null, "after": order, "source": src(901), "op": "c", "ts_ms": 1764065700100u64}),
        ev("orders", "INSERT"),
    );
    push(
        &format!("orders#{ORDER_ID}"),
        json!({"before": order, "after": paid, "source": src(902), "op": "u", "ts_ms": 1764065760100u64}),
        ev("orders", "UPDATE"),
    );

    // AWS DMS: an agent inserted.
    push(
        &format!("agents#{AGENT_ID}"),
        json!({"data": example("agents"),
               "metadata": {"timestamp": "2026-11-25T10:40:00.000000Z", "record-type": "data",
                            "operation": "insert", "partition-key-type": "schema-table",
                            "schema-name": "public", "table-name": "agents", "transaction-id": 1139}}),
        ev("agents", "INSERT"),
    );

    // Bad records, one of each non-retryable kind, between the good ones.
    out.push(Put {
        key: "bad#1".into(),
        data: b"{not json".to_vec(),
        expect: Expect::DeadLetter("PARSE_ERROR"),
    });
    let mut push = |key: &str, v: Value, expect: Expect| {
        out.push(Put {
            key: key.into(),
            data: v.to_string().into_bytes(),
            expect,
        })
    };
    push(
        "bad#2",
        json!({"table": "no_such_table", "operation": "INSERT", "timestamp": "2026-11-25T08:00:00Z",
               "before": null, "after": {"id": 1}}),
        Expect::DeadLetter("VALIDATION_ERROR"),
    );
    let mut incomplete = user(USER2_ID, "active");
    incomplete.as_object_mut().unwrap().remove("email");
    incomplete["mfa_enabled"] = json!("definitely");
    push(
        &format!("users#{USER2_ID}"),
        json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T08:00:02Z",
               "before": null, "after": incomplete}),
        Expect::DeadLetter("VALIDATION_ERROR"),
    );
    let mut huge = example("agents");
    huge["tags"] = json!(vec!["x".repeat(1000); 300]);
    push(
        &format!("agents#{AGENT_ID}"),
        json!({"table": "agents", "operation": "UPDATE", "timestamp": "2026-11-25T10:45:00Z",
               "before": null, "after": huge}),
        Expect::DeadLetter("ENTRY_TOO_LARGE"),
    );
    // And a last good one after them.
    let mut push = |key: &str, v: Value, expect: Expect| {
        out.push(Put {
            key: key.into(),
            data: v.to_string().into_bytes(),
            expect,
        })
    };
    push(
        &format!("users#{USER_ID}"),
        json!({"table": "users", "operation": "DELETE", "timestamp": "2026-11-25T09:00:00Z",
               "transaction_id": "txn-9", "before": user(USER_ID, "inactive"), "after": null}),
        ev("users", "DELETE"),
    );
    out
}

struct World {
    stack: Stack,
    metrics: Arc<Mutex<Vec<String>>>,
    state: AppState,
}

/// The function's variables: the stack's, with the key's secret, two retries and every `users`
/// column included.
fn env(stack: &Stack) -> HashMap<String, String> {
    let mut vars = stack.env();
    vars.insert("MAX_RETRY_ATTEMPTS".into(), "2".into());
    vars.insert(
        "CDC_TABLE_OVERRIDES".into(),
        r#"{"users": {"includeFields": ["*"]}}"#.into(),
    );
    vars
}

/// The stream (two shards), the bus routing [`TABLES`] to a queue, the tables, the DLQ (or the
/// URL of a queue that does not exist), the key's secret, and the function's state.
async fn world(dlq_exists: bool, extra: &[(&str, &str)]) -> Result<World> {
    let mut builder = Stack::builder()
        .stream(2)
        .route("wallboards", TABLES)
        .hmac_key_secret(SECRET);
    if !dlq_exists {
        builder = builder.missing_dlq();
    }
    let stack = builder.start().await?;
    let mut vars = env(&stack);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (state, metrics) = processor_with(&stack, &vars).await?;
    Ok(World {
        stack,
        metrics,
        state,
    })
}

/// Puts the records; returns (shard, sequence number) of each.
async fn put_all(w: &World, puts: &[Put]) -> Result<Vec<(String, String)>> {
    let kinesis = w.stack.kinesis();
    let mut out = Vec::new();
    for p in puts {
        let r = kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key(&p.key)
            .data(Blob::new(p.data.clone()))
            .send()
            .await?;
        out.push((r.shard_id, r.sequence_number));
    }
    Ok(out)
}

/// GetRecords of every shard, in the shape Lambda hands the function: one event per shard.
async fn lambda_events(w: &World) -> Result<Vec<KinesisEvent>> {
    lambda_event_json(w)
        .await?
        .into_iter()
        .map(|v| Ok(serde_json::from_value(v)?))
        .collect()
}

/// The events of [`lambda_events`] as JSON, as the runtime receives them.
async fn lambda_event_json(w: &World) -> Result<Vec<Value>> {
    Ok(w.stack.lambda_events().await?)
}

/// Invokes the handler once per shard event; returns the reported failures.
async fn invoke_all(w: &World, events: &[KinesisEvent]) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    for e in events {
        let response = handler(
            &w.state,
            LambdaEvent::new(e.clone(), LambdaContext::default()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
        let v = serde_json::to_value(&response)?;
        for f in v["batchItemFailures"]
            .as_array()
            .context("batchItemFailures")?
        {
            failures.push(f["itemIdentifier"].as_str().context("id")?.to_string());
        }
    }
    Ok(failures)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn records_of_every_format_flow_from_kinesis_to_the_bus_once() -> Result<()> {
    let w = world(true, &[]).await?;
    let puts = records();
    let pointers = put_all(&w, &puts).await?;
    let events = lambda_events(&w).await?;
    assert_eq!(events.len(), 2, "the records spread over both shards");
    assert_eq!(
        events.iter().map(|e| e.records.len()).sum::<usize>(),
        puts.len()
    );

    // First run: nothing to retry.
    let failures = invoke_all(&w, &events).await?;
    assert!(failures.is_empty(), "unexpected failures: {failures:?}");

    // --- events routed by the rule into SQS ---
    let sqs = w.stack.sqs();
    let routed = drain(&sqs, w.stack.routed()).await?;
    let expected: Vec<(usize, &Put)> = puts
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.expect, Expect::Event { .. }))
        .collect();
    assert_eq!(routed.len(), expected.len(), "one event per good record");
    let all_bodies = serde_json::to_string(&routed)?;
    for secret in [EMAIL, SSN, IP, PAN] {
        assert!(
            !all_bodies.contains(secret),
            "redacted value {secret:?} was published"
        );
    }
    let mut by_seq: HashMap<String, &Value> = HashMap::new();
    for m in &routed {
        assert_eq!(m["source"], SOURCE);
        assert_eq!(m["detail-type"], "CDC.TableChange");
        let d = &m["detail"];
        assert_eq!(d["version"], "1.0");
        assert!(is_hex(d["eventId"].as_str().unwrap_or(""), 32), "{d}");
        // moto's sequence numbers count per shard: key by both.
        let pointer = format!(
            "{}:{}",
            d["metadata"]["shardId"].as_str().unwrap(),
            d["metadata"]["sequenceNumber"].as_str().unwrap()
        );
        assert!(
            by_seq.insert(pointer, m).is_none(),
            "two events for one record"
        );
    }
    let mut ids: Vec<&str> = routed
        .iter()
        .map(|m| m["detail"]["eventId"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), routed.len(), "event ids are unique");
    for (i, p) in &expected {
        let (shard, seq) = &pointers[*i];
        let m = by_seq
            .get(&format!("{shard}:{seq}"))
            .with_context(|| format!("no event for record {i}"))?;
        let d = &m["detail"];
        let Expect::Event { table, operation } = &p.expect else {
            unreachable!()
        };
        assert_eq!(d["table"], *table, "record {i}");
        assert_eq!(d["operation"], *operation, "record {i}");
    }
    let formats: Vec<&str> = routed
        .iter()
        .map(|m| m["detail"]["metadata"]["sourceFormat"].as_str().unwrap())
        .collect();
    for f in ["coredb-trigger", "debezium", "dms"] {
        assert!(formats.contains(&f), "no {f} event");
    }
    // Redaction as the schemas say: users' email/ssn masked (all columns included by override),
    // agent_states' IP hashed with the key, orders' payment details removed.
    let at = |i: usize| by_seq[&format!("{}:{}", pointers[i].0, pointers[i].1)];
    let users_insert = at(0);
    assert_eq!(users_insert["detail"]["after"]["email"], "[REDACTED]");
    assert_eq!(users_insert["detail"]["after"]["ssn"], "[REDACTED]");
    assert_eq!(users_insert["detail"]["keys"]["id"], USER_ID);
    assert_eq!(users_insert["detail"]["redactions"]["email"], "mask");
    let agent_state = at(3);
    let hashed = agent_state["detail"]["after"]["softphone_ip_address"]
        .as_str()
        .context("hashed ip")?;
    assert!(
        hashed.starts_with("hmac-sha256:") && is_hex(&hashed[12..], 64),
        "{hashed}"
    );
    let order = at(4);
    assert!(order["detail"]["after"].get("payment_details").is_none());
    // Per-key order: the queue holds each key's changes in sequence order.
    let mut last_per_key: HashMap<String, (String, Position)> = HashMap::new();
    for m in &routed {
        let d = &m["detail"];
        let key = format!("{}#{}", d["table"], d["keys"]);
        let seq: Position = Position {
            sequence: d["metadata"]["sequenceNumber"].as_str().unwrap().parse()?,
            sub_sequence: None,
        };
        if let Some((shard, prev)) = last_per_key.get(&key) {
            assert_eq!(shard, d["metadata"]["shardId"].as_str().unwrap());
            assert!(prev < &seq, "{key} out of order");
        }
        last_per_key.insert(
            key,
            (d["metadata"]["shardId"].as_str().unwrap().into(), seq),
        );
    }
    let users = routed
        .iter()
        .filter(|m| m["detail"]["keys"]["id"] == USER_ID && m["detail"]["table"] == "users")
        .map(|m| m["detail"]["operation"].as_str().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(users, ["INSERT", "UPDATE", "DELETE"]);

    // --- dead letters ---
    let letters = drain_messages(&sqs, &w.stack.dlq).await?;
    let bad: Vec<(usize, &Put)> = puts
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.expect, Expect::DeadLetter(_)))
        .collect();
    assert_eq!(letters.len(), bad.len());
    for (i, p) in &bad {
        let (shard, seq) = &pointers[*i];
        let (body, attrs) = letters
            .iter()
            .find(|(b, _)| {
                b["kinesis"]["sequenceNumber"] == seq.as_str()
                    && b["kinesis"]["shardId"] == shard.as_str()
            })
            .with_context(|| format!("no dead letter for record {i}"))?;
        let Expect::DeadLetter(code) = p.expect else {
            unreachable!()
        };
        assert_eq!(body["error"]["code"], code, "record {i}");
        assert_eq!(attrs["errorCode"], code);
        assert_eq!(body["attempts"], 1);
        assert_eq!(body["kinesis"]["shardId"], shard.as_str());
        assert_eq!(body["kinesis"]["streamArn"], w.stack.stream_arn());
        // The raw record is kept for re-drive.
        let data = body["originalEvent"]["kinesis"]["data"]
            .as_str()
            .context("data")?;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(data)?,
            p.data,
            "record {i}"
        );
        // The error message carries no values.
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        for secret in [EMAIL, SSN, "definitely"] {
            assert!(!msg.contains(secret), "{msg}");
        }
    }

    // --- checkpoints and state ---
    let ddb = w.stack.dynamodb();
    let mut last_per_shard: BTreeMap<&str, (&str, u64)> = BTreeMap::new();
    for (shard, seq) in &pointers {
        let e = last_per_shard.entry(shard).or_insert((seq, 0));
        let p = |s: &str| {
            s.parse::<cdc_processor::sequence::SequenceNumber>()
                .unwrap()
        };
        if p(seq) > p(e.0) {
            e.0 = seq;
        }
        e.1 += 1;
    }
    for (shard, (last, count)) in &last_per_shard {
        let item = ddb
            .get_item()
            .table_name(CHECKPOINT_TABLE)
            .key(
                "pk",
                AttributeValue::S(format!("cdc-processor#{}#{shard}", w.stack.stream_arn())),
            )
            .send()
            .await?
            .item
            .with_context(|| format!("no checkpoint for {shard}"))?;
        let want = encode_position(&Position {
            sequence: last.parse()?,
            sub_sequence: None,
        });
        assert_eq!(item["position"], AttributeValue::S(want), "{shard}");
        assert!(item.contains_key("expiresAt"));
        let state = w
            .state
            .state_store()
            .get_state(&format!("cdc-processor#{shard}"))
            .await?
            .with_context(|| format!("no state for {shard}"))?;
        assert_eq!(state.last_processed_sequence, *last);
        assert_eq!(state.processed_count, *count, "{shard}");
    }

    // --- metrics ---
    let lines = w.metrics.lock().unwrap().clone();
    let totals: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("RecordsIn").is_some())
        .collect();
    assert_eq!(totals.len(), 2, "one totals line per invocation");
    let sum = |name: &str| {
        totals
            .iter()
            .map(|v| v[name].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("RecordsIn"), puts.len() as u64);
    assert_eq!(sum("Published"), expected.len() as u64);
    assert_eq!(sum("DeadLettered"), bad.len() as u64);
    assert!(totals.iter().all(|v| v["BatchAge"].as_f64().is_some()));
    assert!(
        !lines.join("\n").contains(EMAIL),
        "record contents in metrics"
    );

    // --- the same batch again: nothing new is published or dead-lettered ---
    let failures = invoke_all(&w, &events).await?;
    assert!(failures.is_empty());
    assert!(
        drain(&sqs, w.stack.routed()).await?.is_empty(),
        "republished"
    );
    assert!(
        drain(&sqs, &w.stack.dlq).await?.is_empty(),
        "dead-lettered again"
    );
    for (shard, (_, count)) in &last_per_shard {
        let state = w
            .state
            .state_store()
            .get_state(&format!("cdc-processor#{shard}"))
            .await?
            .unwrap();
        assert_eq!(
            state.processed_count, *count,
            "skipped records are not counted again"
        );
    }

    // --- without checkpoints (e.g. a re-drive), the same records get the same event ids ---
    for shard in last_per_shard.keys() {
        ddb.delete_item()
            .table_name(CHECKPOINT_TABLE)
            .key(
                "pk",
                AttributeValue::S(format!("cdc-processor#{}#{shard}", w.stack.stream_arn())),
            )
            .send()
            .await?;
    }
    invoke_all(&w, &events).await?;
    let again = drain(&sqs, w.stack.routed()).await?;
    let mut ids_again: Vec<&str> = again
        .iter()
        .map(|m| m["detail"]["eventId"].as_str().unwrap())
        .collect();
    ids_again.sort();
    assert_eq!(ids_again, ids, "event ids are stable across runs");
    drop(w.stack);
    Ok(())
}

#[tokio::test]
async fn a_record_whose_dead_letter_cannot_be_written_is_reported_with_the_rest_of_its_shard(
) -> Result<()> {
    let w = world(false, &[]).await?;
    // All on one partition key, so on one shard, in this order.
    let good = |n: u32, status: &str| {
        json!({"table": "users", "operation": "UPDATE", "timestamp": format!("2026-11-25T08:0{n}:00Z"),
               "before": null, "after": user(USER_ID, status)})
        .to_string()
        .into_bytes()
    };
    let puts = vec![
        Put {
            key: "k".into(),
            data: good(1, "inactive"),
            expect: Expect::Event {
                table: "users",
                operation: "UPDATE",
            },
        },
        Put {
            key: "k".into(),
            data: b"not json".to_vec(),
            expect: Expect::DeadLetter("PARSE_ERROR"),
        },
        Put {
            key: "k".into(),
            data: good(2, "active"),
            expect: Expect::Event {
                table: "users",
                operation: "UPDATE",
            },
        },
    ];
    let pointers = put_all(&w, &puts).await?;
    let events = lambda_events(&w).await?;
    let failures = invoke_all(&w, &events).await?;
    // The bad record cannot be dead-lettered (no queue): it and the record after it are reported,
    // so Lambda retries from it in order. Dead letters go out beside the PutEvents requests, so
    // the record after it is published meanwhile too when its request (which waits for the
    // first record's: same row) starts before the letter's failure is known: the retry
    // republishes it with the same event id (the duplicate window of docs/reliability.md).
    assert_eq!(failures, vec![pointers[1].1.clone(), pointers[2].1.clone()]);
    let sqs = w.stack.sqs();
    let routed = drain(&sqs, w.stack.routed()).await?;
    let mut published: Vec<&str> = routed
        .iter()
        .map(|m| {
            m["detail"]["metadata"]["sequenceNumber"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    published.sort();
    let mut expected = vec![pointers[0].1.as_str(), pointers[2].1.as_str()];
    expected.sort();
    if published.len() == 1 {
        // Its request had not started when the failure was known.
        expected.retain(|p| *p == pointers[0].1);
    }
    assert_eq!(published, expected);
    // The checkpoint stops before the failed record.
    let shard = &pointers[0].0;
    let item = w
        .stack
        .dynamodb()
        .get_item()
        .table_name(CHECKPOINT_TABLE)
        .key(
            "pk",
            AttributeValue::S(format!("cdc-processor#{}#{shard}", w.stack.stream_arn())),
        )
        .send()
        .await?
        .item
        .context("checkpoint")?;
    assert_eq!(
        item["sequenceNumber"],
        AttributeValue::S(pointers[0].1.clone())
    );
    Ok(())
}

/// The message of the error init returns with the stack's variables, `remove`d and `set` ones.
async fn init_error(stack: &Stack, remove: &[&str], set: &[(&str, &str)]) -> String {
    let mut vars = env(stack);
    for k in remove {
        vars.remove(*k);
    }
    vars.extend(set.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    AppState::init(
        |k| vars.get(k).cloned(),
        &stack.sdk,
        MetricsSink::memory().0,
    )
    .await
    .map(|_| ())
    .expect_err("init fails")
    .to_string()
}

#[tokio::test]
async fn init_fails_naming_the_variable() -> Result<()> {
    // No secret in moto: the variables carry the key itself until asked otherwise.
    let stack = Stack::builder().start().await?;
    let err = init_error(&stack, &["STATE_TABLE_NAME"], &[]).await;
    assert!(err.starts_with("STATE_TABLE_NAME"), "{err}");

    // The key's secret does not exist in the emulator.
    let err = init_error(
        &stack,
        &["REDACTION_HMAC_KEY"],
        &[("REDACTION_HMAC_KEY_SECRET_ARN", SECRET)],
    )
    .await;
    assert!(err.starts_with("REDACTION_HMAC_KEY_SECRET_ARN"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    // A pipeline variable.
    let err = init_error(&stack, &[], &[("CDC_SOURCE_FORMAT", "xml")]).await;
    assert!(err.starts_with("CDC_SOURCE_FORMAT"), "{err}");

    // The size limit's old name is refused, not silently ignored.
    let err = init_error(&stack, &[], &[("MAX_ENTRY_SIZE_BYTES", "1048576")]).await;
    assert!(err.starts_with("MAX_ENTRY_SIZE_BYTES"), "{err}");
    assert!(err.contains("MAX_EVENT_SIZE_BYTES"), "{err}");

    // Out of range for EventBridge.
    let err = init_error(&stack, &[], &[("MAX_EVENT_SIZE_BYTES", "2000000")]).await;
    assert!(err.starts_with("MAX_EVENT_SIZE_BYTES"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_runtime_handler_dead_letters_a_record_with_bad_base64() -> Result<()> {
    let w = world(true, &[]).await?;
    let puts = vec![Put {
        key: format!("users#{USER_ID}"),
        data: json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T08:00:00Z",
                     "before": null, "after": user(USER_ID, "active")})
        .to_string()
        .into_bytes(),
        expect: Expect::Event {
            table: "users",
            operation: "INSERT",
        },
    }];
    put_all(&w, &puts).await?;
    let events = lambda_event_json(&w).await?;
    // The event as the runtime receives it, plus a record whose data is not base64 (the typed
    // `KinesisEvent` would refuse the whole batch).
    let mut raw = events[0].clone();
    let mut bad = raw["Records"][0].clone();
    bad["kinesis"]["data"] = json!("***not base64***");
    bad["kinesis"]["sequenceNumber"] = json!("999");
    bad["eventID"] = json!(format!(
        "{}:999",
        bad["eventID"].as_str().unwrap().rsplit_once(':').unwrap().0
    ));
    raw["Records"].as_array_mut().unwrap().push(bad);
    assert!(serde_json::from_value::<KinesisEvent>(raw.clone()).is_err());
    let lenient = serde_json::from_value(raw)?;
    let response = lenient_handler(
        &w.state,
        LambdaEvent::new(lenient, LambdaContext::default()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let sqs = w.stack.sqs();
    assert_eq!(drain(&sqs, w.stack.routed()).await?.len(), 1);
    let letters = drain(&sqs, &w.stack.dlq).await?;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["error"]["code"], "PARSE_ERROR");
    assert_eq!(
        letters[0]["originalEvent"]["kinesis"]["data"],
        "***not base64***"
    );
    assert_eq!(letters[0]["kinesis"]["sequenceNumber"], "999");
    Ok(())
}

#[tokio::test]
async fn with_a_parallelization_factor_above_one_nothing_is_skipped_and_ids_are_stable(
) -> Result<()> {
    let w = world(true, &[("KINESIS_PARALLELIZATION_FACTOR", "2")]).await?;
    let puts: Vec<Put> = (0..3)
        .map(|n| Put {
            key: format!("users#{n}"),
            data:
                json!({"table": "users", "operation": "UPDATE", "timestamp": "2026-11-25T08:00:00Z",
                         "before": null, "after": user(USER_ID, "active")})
                .to_string()
                .into_bytes(),
            expect: Expect::Event {
                table: "users",
                operation: "UPDATE",
            },
        })
        .collect();
    put_all(&w, &puts).await?;
    let events = lambda_events(&w).await?;
    let sqs = w.stack.sqs();
    let ids = |routed: &[Value]| {
        let mut v: Vec<String> = routed
            .iter()
            .map(|m| m["detail"]["eventId"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert!(invoke_all(&w, &events).await?.is_empty());
    let first = ids(&drain(&sqs, w.stack.routed()).await?);
    assert_eq!(first.len(), 3);
    // No checkpoint is written or read: a retried batch publishes again, under the same ids.
    let items = w
        .stack
        .dynamodb()
        .scan()
        .table_name(CHECKPOINT_TABLE)
        .send()
        .await?;
    assert_eq!(items.count(), 0);
    assert!(invoke_all(&w, &events).await?.is_empty());
    assert_eq!(ids(&drain(&sqs, w.stack.routed()).await?), first);
    Ok(())
}
