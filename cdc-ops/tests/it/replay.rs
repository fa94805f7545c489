//! `cdc-ops replay kinesis` against moto: a shard's sequence range re-read from the stream and
//! run through the processor's handler, with a counting dry run and a confirmation like `reset`.

use crate::support::*;
use anyhow::{Context, Result};
use aws_sdk_kinesis::primitives::Blob;

#[tokio::test]
async fn a_range_is_counted_confirmed_and_replayed_once() -> Result<()> {
    let s = Stack::start().await?;
    let kinesis = aws_sdk_kinesis::Client::new(&s.sdk);
    // Four records of one key (one shard); the range is the middle two and the last.
    let mut put = Vec::new();
    for n in 0..4 {
        let mut agent = example("agents");
        agent["display_name"] = serde_json::json!(format!("agent {n}"));
        let out = kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key("agents#replay")
            .data(Blob::new(insert("agents", agent)))
            .send()
            .await?;
        put.push((out.shard_id, out.sequence_number));
    }
    let shard = put[0].0.clone();
    assert!(put.iter().all(|(s, _)| *s == shard));
    let (from, to) = (put[1].1.clone(), put[2].1.clone());

    // --- dry run: counts, sends nothing ---
    let o = s
        .cdc_ops()
        .args([
            "--json",
            "replay",
            "kinesis",
            "--shard",
            &shard,
            "--from",
            &from,
            "--to",
            &to,
            "--dry-run",
        ])
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(v["records"], 2, "{v}");
    assert!(s.drain(&s.routed).await?.is_empty());

    // --- without --yes and without a terminal: refused ---
    let o = s
        .cdc_ops()
        .args(["replay", "kinesis", "--shard", &shard, "--from", &from])
        .output()?;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("Replay 3 record(s)"), "{err}");
    assert!(err.contains("re-run with --yes"), "{err}");
    assert!(s.drain(&s.routed).await?.is_empty());

    // --- replayed: the two records of the range are published, in order ---
    let o = s
        .cdc_ops()
        .args([
            "--json", "replay", "kinesis", "--shard", &shard, "--from", &from, "--to", &to,
            "--yes", "--batch", "1",
        ])
        .output()?;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(v["records"], 2, "{v}");
    assert_eq!(v["batches"], 2, "{v}");
    assert_eq!(v["processor"], "cdc-processor-replay");
    assert_eq!(v["batchItemFailures"], serde_json::json!([]));
    let routed = s.drain(&s.routed).await?;
    let names: Vec<&str> = routed
        .iter()
        .map(|e| {
            e["detail"]["after"]["display_name"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names, ["agent 1", "agent 2"], "{routed:?}");
    let ids: Vec<String> = routed
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().unwrap().to_string())
        .collect();

    // --- again: below the replay's own checkpoint, nothing is published twice ---
    let o = s
        .cdc_ops()
        .args([
            "replay", "kinesis", "--shard", &shard, "--from", &from, "--to", &to, "-y",
        ])
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"Skipped\":2"));
    assert!(s.drain(&s.routed).await?.is_empty());

    // --- from the on-failure queue: the pointer Lambda leaves for a batch it gave up on ---
    let sqs = s.sqs();
    let failures = sqs
        .create_queue()
        .queue_name("cdc-kinesis-failures")
        .send()
        .await?
        .queue_url
        .context("queue url")?;
    let pointer = serde_json::json!({
        "requestContext": {"requestId": "c9b8fa9f-5a7f-4e5d-8b5c-1d2e3f4a5b6c", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-25T10:20:00.000Z",
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": put[3].1,
            "endSequenceNumber": put[3].1,
            "approximateArrivalOfFirstRecord": "2026-11-25T10:14:31.000Z",
            "approximateArrivalOfLastRecord": "2026-11-25T10:14:31.000Z",
            "batchSize": 1,
            "streamArn": s.stream_arn,
        }
    });
    sqs.send_message()
        .queue_url(&failures)
        .message_body(pointer.to_string())
        .send()
        .await?;
    let o = s
        .cdc_ops()
        .args([
            "--json",
            "replay",
            "kinesis",
            "--failure-queue",
            "--dry-run",
        ])
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(v["records"], 1, "{v}");
    assert_eq!(
        cdc_ops::ops::queue_depth(&sqs, &failures).await?,
        1,
        "the pointer stays"
    );
    let o = s
        .cdc_ops()
        .args(["--json", "replay", "kinesis", "--failure-queue", "--yes"])
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let routed = s.drain(&s.routed).await?;
    assert_eq!(routed.len(), 1, "{routed:?}");
    assert_eq!(routed[0]["detail"]["after"]["display_name"], "agent 3");
    assert_eq!(
        cdc_ops::ops::queue_depth(&sqs, &failures).await?,
        0,
        "the pointer is done"
    );
    let mut ids = ids;
    ids.push(routed[0]["detail"]["eventId"].as_str().unwrap().to_string());

    // --- the deployed processor's run of the same records publishes the same event ids
    // (consumers deduplicate a replay of something already published) ---
    let events = s.put_and_read(&[]).await?;
    let event = events
        .iter()
        .find(|e| !e.records.is_empty())
        .context("the shard's records")?;
    let p = s.processor(&[]).await?;
    s.process(&p, std::slice::from_ref(event)).await?;
    let routed = s.drain(&s.routed).await?;
    for id in &ids {
        assert!(
            routed
                .iter()
                .any(|e| e["detail"]["eventId"] == *id.as_str()),
            "{id} not among {routed:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn archived_events_are_replayed_to_the_named_rule() -> Result<()> {
    let s = Stack::start().await?;
    let eb = aws_sdk_eventbridge::Client::new(&s.sdk);
    let bus_arn = eb
        .describe_event_bus()
        .name(BUS)
        .send()
        .await?
        .arn
        .context("bus arn")?;
    eb.create_archive()
        .archive_name(format!("{BUS}-archive"))
        .event_source_arn(&bus_arn)
        .event_pattern(format!(r#"{{"source": ["{SOURCE}"]}}"#))
        .send()
        .await?;
    let before = chrono::Utc::now() - chrono::Duration::minutes(5);
    let events = s
        .put_and_read(&[("agents#a", insert("agents", example("agents")))])
        .await?;
    let p = s.processor(&[]).await?;
    s.process(&p, &events).await?;
    let first = s.drain(&s.routed).await?;
    assert_eq!(first.len(), 1);
    let after = chrono::Utc::now() + chrono::Duration::minutes(5);
    let (from, to) = (before.to_rfc3339(), after.to_rfc3339());
    let rule = format!("{BUS}-to-wallboards-cdc-events");

    // --- dry run: the archive and the rule, nothing started ---
    let o = s
        .cdc_ops()
        .args([
            "--json",
            "replay",
            "archive",
            "--rule",
            &rule,
            "--from",
            &from,
            "--to",
            &to,
            "--dry-run",
        ])
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(v["archive"], format!("{BUS}-archive"));
    assert!(v["rules"][0].as_str().unwrap().ends_with(&rule), "{v}");
    // The range cannot be counted, and the output says why rather than showing a wrong number.
    assert!(v["eventsInRange"].is_null(), "{v}");
    let note = v["eventsInRangeNote"].as_str().context("the note")?;
    assert!(note.contains("no API that lists or counts"), "{note}");
    let o = s
        .cdc_ops()
        .args([
            "replay",
            "archive",
            "--rule",
            &rule,
            "--from",
            &from,
            "--to",
            &to,
            "--dry-run",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("would replay archive"), "{text}");
    assert!(
        text.contains("events in the range: not counted. EventBridge has no API"),
        "{text}"
    );
    assert!(s.drain(&s.routed).await?.is_empty());

    // --- a rule is required; without --yes and a terminal it refuses ---
    let o = s
        .cdc_ops()
        .args(["replay", "archive", "--from", &from, "--to", &to])
        .output()?;
    assert_eq!(o.status.code(), Some(2));
    let o = s
        .cdc_ops()
        .args([
            "replay", "archive", "--rule", &rule, "--from", &from, "--to", &to,
        ])
        .output()?;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("re-run with --yes"), "{err}");

    // --- started: the consumer's queue gets the archived event again, same eventId ---
    let o = s
        .cdc_ops()
        .args([
            "--json", "replay", "archive", "--rule", &rule, "--from", &from, "--to", &to, "--yes",
        ])
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let name = v["replayName"].as_str().context("replay name")?.to_string();
    assert!(name.starts_with("cdc-replay-"), "{v}");
    let replay = eb.describe_replay().replay_name(&name).send().await?;
    assert!(replay.replay_arn().is_some());
    let again = s.drain(&s.routed).await?;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0]["detail"]["eventId"], first[0]["detail"]["eventId"]);
    Ok(())
}
