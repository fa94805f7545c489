//! The health-check function against moto: healthy, degraded (DLQ depth, stale checkpoint) and
//! unhealthy (missing bus, table, stream; very old checkpoint) pipelines through the real handler,
//! its EMF lines (`HealthCheckFailed` on every run), init without the HMAC key, and checks that
//! time out against an endpoint that never answers.

use crate::support::*;
use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use cdc_ops::health::{handler, CheckStatus, HealthChecker, HealthReport, HealthStatus};
use cdc_processor::aws::dynamodb::{checkpoint_id, encode_position, DynamoCheckpointStore};
use cdc_processor::aws::metrics::MetricsSink;
use cdc_processor::ports::{CheckpointKey, CheckpointStore};
use cdc_processor::sequence::Position;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The health check's environment: the template's Globals (no HMAC key, no secret) plus its own.
fn health_env(s: &Stack) -> HashMap<String, String> {
    let mut env = s.env();
    env.remove("REDACTION_HMAC_KEY_SECRET_ARN");
    env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), "cdc-health-check".into());
    env.insert("CDC_PROCESSOR_NAME".into(), PROCESSOR.into());
    env.insert("HEALTH_CHECKPOINT_AGE_WARN_SECONDS".into(), "600".into());
    env.insert("HEALTH_CHECKPOINT_AGE_FAIL_SECONDS".into(), "7200".into());
    env
}

fn checker(s: &Stack, env: &HashMap<String, String>) -> (HealthChecker, Arc<Mutex<Vec<String>>>) {
    let (sink, lines) = MetricsSink::memory();
    let c = HealthChecker::init(|k| env.get(k).cloned(), &s.sdk, sink).expect("health init");
    (c, lines)
}

async fn run(c: &HealthChecker) -> HealthReport {
    handler(
        c,
        LambdaEvent::new(
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
            LambdaContext::default(),
        ),
    )
    .await
    .expect("the handler returns a report")
}

fn find<'r>(r: &'r HealthReport, name: &str, target: &str) -> &'r cdc_ops::health::CheckResult {
    r.checks
        .iter()
        .find(|c| c.name == name && c.target.contains(target))
        .unwrap_or_else(|| panic!("no {name} check of {target}: {r:#?}"))
}

/// The totals line of the last run (dimension FunctionName only).
fn totals(lines: &Arc<Mutex<Vec<String>>>) -> Value {
    lines
        .lock()
        .unwrap()
        .iter()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v.get("Category").is_none())
        .expect("a totals line")
}

async fn checkpoint(s: &Stack, shard: &str) {
    DynamoCheckpointStore::new(s.dynamodb(), CHECKPOINT_TABLE)
        .advance(
            &CheckpointKey {
                processor: PROCESSOR.into(),
                stream: s.stream_arn.clone(),
                shard: shard.into(),
            },
            &Position {
                sequence: "7".parse().unwrap(),
                sub_sequence: None,
            },
        )
        .await
        .unwrap();
}

/// Rewrites a shard's checkpoint as last written `age` ago.
async fn age_checkpoint(s: &Stack, shard: &str, age: chrono::Duration) {
    let key = CheckpointKey {
        processor: PROCESSOR.into(),
        stream: s.stream_arn.clone(),
        shard: shard.into(),
    };
    let pos = Position {
        sequence: "7".parse().unwrap(),
        sub_sequence: None,
    };
    s.dynamodb()
        .put_item()
        .table_name(CHECKPOINT_TABLE)
        .item("pk", AttributeValue::S(checkpoint_id(&key)))
        .item("position", AttributeValue::S(encode_position(&pos)))
        .item("processor", AttributeValue::S(PROCESSOR.into()))
        .item("stream", AttributeValue::S(s.stream_arn.clone()))
        .item("shard", AttributeValue::S(shard.into()))
        .item(
            "updatedAt",
            AttributeValue::S((chrono::Utc::now() - age).to_rfc3339()),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn healthy_then_degraded_then_unhealthy() -> Result<()> {
    let s = Stack::start().await?;
    for shard in &s.shards {
        checkpoint(&s, shard).await;
    }
    // No REDACTION_HMAC_KEY* at all, redaction on: the health check does not need the key.
    let env = health_env(&s);
    assert!(!env.keys().any(|k| k.starts_with("REDACTION_HMAC_KEY")));
    let (c, lines) = checker(&s, &env);

    // --- healthy ---
    let r = run(&c).await;
    assert_eq!(r.status, HealthStatus::Healthy, "{r:#?}");
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    for n in [
        "eventBus",
        "stream",
        "table",
        "deadLetterQueue",
        "checkpointAge",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    assert_eq!(find(&r, "table", STATE_TABLE).status, CheckStatus::Ok);
    assert_eq!(find(&r, "table", CHECKPOINT_TABLE).status, CheckStatus::Ok);
    let stream = find(&r, "stream", STREAM);
    assert_eq!(stream.details["streamStatus"], "ACTIVE");
    assert_eq!(stream.details["openShardCount"], 2);
    for shard in &s.shards {
        let cp = find(&r, "checkpointAge", shard);
        assert_eq!(cp.status, CheckStatus::Ok, "{cp:?}");
        assert!(cp.details["ageSeconds"].as_u64().unwrap() < 600);
        assert_eq!(cp.details["sequenceNumber"], "7");
    }
    assert_eq!(find(&r, "deadLetterQueue", DLQ).details["depth"], 0);
    let t = totals(&lines);
    assert_eq!(t["HealthCheckFailed"], 0);
    assert_eq!(t["HealthCheckDegraded"], 0);
    assert_eq!(t["FunctionName"], "cdc-health-check");
    assert_eq!(
        t["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "CdcPipeline"
    );
    assert_eq!(
        t["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"]])
    );
    assert_eq!(t["DeadLetterQueueDepth"], 0);
    let per_check: Vec<Value> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("Category").is_some())
        .collect();
    assert!(per_check
        .iter()
        .any(|v| v["Category"] == "checkpointAge"
            && v["CheckLatency"].as_array().unwrap().len() == 2));
    // The report is the function's JSON result.
    let as_json = serde_json::to_value(&r)?;
    assert_eq!(as_json["status"], "healthy");
    assert!(as_json["checks"][0]["latencyMs"].is_u64());

    // --- degraded: a dead letter waiting, and one shard's checkpoint 20 minutes old ---
    s.sqs()
        .send_message()
        .queue_url(&s.dlq)
        .message_body("{}")
        .send()
        .await?;
    age_checkpoint(&s, &s.shards[0], chrono::Duration::minutes(20)).await;
    let r = run(&c).await;
    assert_eq!(r.status, HealthStatus::Degraded, "{r:#?}");
    let dlq = find(&r, "deadLetterQueue", DLQ);
    assert_eq!(
        (dlq.status, dlq.details["depth"].as_u64()),
        (CheckStatus::Warn, Some(1))
    );
    assert_eq!(
        find(&r, "checkpointAge", &s.shards[0]).status,
        CheckStatus::Warn
    );
    assert_eq!(
        find(&r, "checkpointAge", &s.shards[1]).status,
        CheckStatus::Ok
    );
    let t = totals(&lines);
    assert_eq!(
        (
            t["HealthCheckFailed"].as_u64(),
            t["HealthCheckDegraded"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert!(t["CheckpointAgeMax"].as_u64().unwrap() >= 1200);

    // --- unhealthy: a checkpoint 3 hours old, and the bus is gone ---
    age_checkpoint(&s, &s.shards[1], chrono::Duration::hours(3)).await;
    aws_sdk_eventbridge::Client::new(&s.sdk)
        .delete_event_bus()
        .name(BUS)
        .send()
        .await?;
    let r = run(&c).await;
    assert_eq!(r.status, HealthStatus::Unhealthy, "{r:#?}");
    let bus = find(&r, "eventBus", BUS);
    assert_eq!(bus.status, CheckStatus::Fail);
    assert!(bus.message.contains("DescribeEventBus"), "{}", bus.message);
    assert_eq!(
        find(&r, "checkpointAge", &s.shards[1]).status,
        CheckStatus::Fail
    );
    assert_eq!(totals(&lines)["HealthCheckFailed"], 1);
    // HealthCheckFailed was written on every run.
    let failed_values: Vec<u64> = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["HealthCheckFailed"].as_u64())
        .collect();
    assert_eq!(failed_values, vec![0, 0, 1]);
    Ok(())
}

#[tokio::test]
async fn missing_resources_fail_each_check_and_still_report() -> Result<()> {
    let s = Stack::start().await?;
    let mut env = health_env(&s);
    env.insert("KINESIS_STREAM_NAME".into(), "no-such-stream".into());
    env.insert("STATE_TABLE_NAME".into(), "no-such-state".into());
    env.insert(
        "DLQ_QUEUE_URL".into(),
        format!("{}/123456789012/no-such-dlq", s.moto_endpoint()),
    );
    let (c, lines) = checker(&s, &env);
    let r = run(&c).await;
    assert_eq!(r.status, HealthStatus::Unhealthy);
    assert_eq!(
        find(&r, "stream", "no-such-stream").status,
        CheckStatus::Fail
    );
    assert_eq!(find(&r, "table", "no-such-state").status, CheckStatus::Fail);
    assert_eq!(find(&r, "table", CHECKPOINT_TABLE).status, CheckStatus::Ok);
    assert_eq!(
        find(&r, "deadLetterQueue", "no-such-dlq").status,
        CheckStatus::Fail
    );
    // Without the stream the checkpoints cannot be listed: said, not hidden.
    assert_eq!(
        find(&r, "checkpointAge", "no-such-stream").status,
        CheckStatus::Warn
    );
    assert_eq!(totals(&lines)["HealthCheckFailed"], 1);

    // A checkpoint table with the wrong key fails its check.
    let mut env = health_env(&s);
    testkit::dynamodb::create_table(&s.dynamodb(), "wrong-key-table", "id").await?;
    env.insert("CHECKPOINT_TABLE_NAME".into(), "wrong-key-table".into());
    let (c, _) = checker(&s, &env);
    let r = c.check().await;
    let t = find(&r, "table", "wrong-key-table");
    assert_eq!(t.status, CheckStatus::Fail);
    assert!(t.message.contains("expected `pk`"), "{}", t.message);
    // And reading checkpoints from it fails (GetItem with the wrong key).
    for shard in &s.shards {
        assert_eq!(find(&r, "checkpointAge", shard).status, CheckStatus::Fail);
    }
    Ok(())
}

#[tokio::test]
async fn shards_without_checkpoints_warn_and_parallelization_turns_the_check_off() -> Result<()> {
    let s = Stack::start().await?;
    let env = health_env(&s);
    let (c, _) = checker(&s, &env);
    let r = c.check().await;
    assert_eq!(r.status, HealthStatus::Degraded);
    for shard in &s.shards {
        let cp = find(&r, "checkpointAge", shard);
        assert_eq!(cp.status, CheckStatus::Warn);
        assert!(cp.message.contains("no checkpoint"), "{}", cp.message);
    }
    let mut env = health_env(&s);
    env.insert("KINESIS_PARALLELIZATION_FACTOR".into(), "4".into());
    let (c, _) = checker(&s, &env);
    let r = c.check().await;
    assert_eq!(r.status, HealthStatus::Healthy, "{r:#?}");
    assert_eq!(
        r.checks
            .iter()
            .filter(|c| c.name == "checkpointAge")
            .count(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn checks_time_out_against_an_endpoint_that_never_answers() -> Result<()> {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let sdk = testkit::sdk_config_for(&endpoint).await;
    let env: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("KINESIS_STREAM_NAME", STREAM.into()),
        ("STATE_TABLE_NAME", STATE_TABLE.into()),
        ("CHECKPOINT_TABLE_NAME", CHECKPOINT_TABLE.into()),
        ("DLQ_QUEUE_URL", format!("{endpoint}/123456789012/{DLQ}")),
        ("HEALTH_CHECK_TIMEOUT_MS", "400".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", "cdc-health-check".into()),
    ]
    .into_iter()
    .collect();
    let (sink, lines) = MetricsSink::memory();
    let c = HealthChecker::init(|k| env.get(k).cloned(), &sdk, sink).unwrap();
    let started = Instant::now();
    let r = run(&c).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, HealthStatus::Unhealthy);
    for check in r.checks.iter().filter(|c| c.name != "checkpointAge") {
        assert_eq!(check.status, CheckStatus::Fail, "{check:?}");
        assert!(check.message.contains("timed out"), "{check:?}");
    }
    assert_eq!(totals(&lines)["HealthCheckFailed"], 1);
    Ok(())
}
