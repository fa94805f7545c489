//! The real binary on the Lambda Runtime API emulator, killed with SIGKILL mid-batch and run again.

use super::check::{check, check_checkpoints, Row};
use super::workload::workload;
use super::{N_SIGKILL, SHARDS};
use crate::support::lambda::*;
use crate::support::STREAM_ARN;
use anyhow::{ensure, Context, Result};
use cdc_processor::aws::dynamodb::decode_position;
use cdc_processor::sequence::Position;
use serde_json::Value;
use std::time::{Duration, Instant};
use testkit::stack::CHECKPOINT_TABLE as CHECKPOINTS;
use testkit::Stack;

/// A shard's durable checkpoint, read straight from moto.
async fn checkpoint_of(w: &Stack, shard: &str) -> Result<Option<Position>> {
    let item = w
        .dynamodb()
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
    w.proxy().capture_bodies(true);
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
                    if w.proxy().accepted_entries() >= point {
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
                    w.proxy().accepted_entries(),
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
                for ex in w.proxy().exchanges() {
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
    let letters = w.drain_json(&w.dlq).await?;
    let exchanges = w.proxy().exchanges();
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
    let ddb = w.dynamodb();
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
