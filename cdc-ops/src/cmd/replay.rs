//! `cdc-ops replay kinesis`: re-reads a shard's sequence range from the stream (e.g. the range of
//! an on-failure pointer) and runs it through the processor's handler.

use crate::cmd::invoke::print_metrics;
use crate::*;
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine;

/// Decimal sequence numbers compared as numbers (they are longer than any integer type).
fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The range's records as Lambda would deliver them (a Kinesis event record each).
async fn read_range(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    stream_arn: &str,
    region: &str,
    shard: &str,
    from: &str,
    to: Option<&str>,
) -> Result<Vec<Value>> {
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(from)
        .send()
        .await
        .with_context(|| format!("GetShardIterator ({stream} {shard} at {from})"))?
        .shard_iterator;
    let mut out = Vec::new();
    // Empty answers in a row before concluding the shard has nothing more (GetRecords may
    // return nothing while records exist further on).
    let mut empty = 0;
    while let Some(it) = iterator.take() {
        let got = kinesis
            .get_records()
            .shard_iterator(it)
            .limit(1000)
            .send()
            .await
            .with_context(|| format!("GetRecords ({stream} {shard})"))?;
        for r in got.records() {
            if to.is_some_and(|to| seq_cmp(r.sequence_number(), to).is_gt()) {
                return Ok(out);
            }
            out.push(json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key(),
                    "sequenceNumber": r.sequence_number(),
                    "data": base64::engine::general_purpose::STANDARD.encode(r.data().as_ref()),
                    "approximateArrivalTimestamp": r.approximate_arrival_timestamp().map(|t| t.as_secs_f64()),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{}", r.sequence_number()),
                "eventName": "aws:kinesis:record",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }));
        }
        let caught_up = got.millis_behind_latest() == Some(0);
        empty = if got.records().is_empty() {
            empty + 1
        } else {
            0
        };
        if caught_up && got.records().is_empty() || empty >= 5 {
            break;
        }
        iterator = got.next_shard_iterator;
    }
    Ok(out)
}

/// Arguments of `replay kinesis`.
pub(crate) struct KinesisReplay<'a> {
    /// The range from the arguments (`None`: the failure queue's pointers).
    pub range: Option<(&'a str, &'a str, Option<&'a str>)>,
    pub batch: usize,
    pub processor: Option<&'a str>,
    pub dry_run: bool,
    pub yes: bool,
}

/// One range to replay, and the failure-queue message it came from.
struct Range {
    shard: String,
    from: String,
    to: Option<String>,
    receipt: Option<String>,
}

/// The Kinesis event source mapping's on-failure record (SQS destination): the batch's pointer.
#[derive(serde::Deserialize)]
struct FailureRecord {
    #[serde(rename = "KinesisBatchInfo")]
    batch: BatchInfo,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInfo {
    shard_id: String,
    start_sequence_number: String,
    end_sequence_number: String,
}

/// The pointers waiting in the failure queue (up to 10; hidden for 5 minutes while replayed).
async fn pointers(ctx: &mut Ctx) -> Result<(String, Vec<Range>)> {
    let url = ctx
        .resolve_queue("KINESIS_FAILURE_QUEUE_URL", "cdc-kinesis-failures")
        .await?;
    let got = ctx
        .sqs()
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .visibility_timeout(300)
        .wait_time_seconds(1)
        .send()
        .await
        .with_context(|| format!("ReceiveMessage ({})", short_queue(&url)))?;
    let mut ranges = Vec::new();
    for m in got.messages() {
        let body = m.body().unwrap_or_default();
        let record: FailureRecord = serde_json::from_str(body).map_err(|e| {
            anyhow::anyhow!(
                "message {} of {} is not a Kinesis on-failure record ({:?} error at line {} column {})",
                m.message_id().unwrap_or("-"),
                short_queue(&url),
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        ranges.push(Range {
            shard: record.batch.shard_id,
            from: record.batch.start_sequence_number,
            to: Some(record.batch.end_sequence_number),
            receipt: m.receipt_handle().map(str::to_string),
        });
    }
    Ok((url, ranges))
}

pub(crate) async fn replay_kinesis(ctx: &mut Ctx, a: KinesisReplay<'_>) -> Result<ExitCode> {
    let kinesis = aws_sdk_kinesis::Client::new(&ctx.sdk);
    let stream = ctx.table("KINESIS_STREAM_NAME");
    let stream_arn = kinesis
        .describe_stream_summary()
        .stream_name(&stream)
        .send()
        .await
        .with_context(|| format!("DescribeStreamSummary ({stream})"))?
        .stream_description_summary
        .map(|s| s.stream_arn)
        .context("DescribeStreamSummary returned no summary")?;
    let region = ctx.table("AWS_REGION");
    let (queue, ranges) = match a.range {
        Some((shard, from, to)) => (
            None,
            vec![Range {
                shard: shard.to_string(),
                from: from.to_string(),
                to: to.map(str::to_string),
                receipt: None,
            }],
        ),
        None => {
            let (url, ranges) = pointers(ctx).await?;
            (Some(url), ranges)
        }
    };
    let mut read = Vec::new();
    for r in &ranges {
        let records = read_range(
            &kinesis,
            &stream,
            &stream_arn,
            &region,
            &r.shard,
            &r.from,
            r.to.as_deref(),
        )
        .await?;
        let label = format!(
            "{} {} {}..{}",
            short_stream(&stream_arn),
            r.shard,
            r.from,
            r.to.as_deref().unwrap_or("(end)")
        );
        read.push((label, records));
    }
    let total: usize = read.iter().map(|(_, r)| r.len()).sum();
    // Its own checkpoints: a range below the deployed processor's checkpoint would be skipped.
    let processor = a
        .processor
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}cdc-processor-replay", ctx.prefix));
    let release = |ctx: &Ctx, queue: &Option<String>| {
        let (sqs, queue) = (ctx.sqs(), queue.clone());
        let receipts: Vec<String> = ranges.iter().filter_map(|r| r.receipt.clone()).collect();
        async move {
            if let Some(url) = queue {
                for receipt in receipts {
                    // Visible again at once: nothing was done with the pointer.
                    let _ = sqs
                        .change_message_visibility()
                        .queue_url(&url)
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .send()
                        .await;
                }
            }
        }
    };
    if a.dry_run {
        release(ctx, &queue).await;
        if ctx.json {
            let ranges: Vec<Value> = read
                .iter()
                .map(|(l, r)| json!({ "range": l, "records": r.len() }))
                .collect();
            print_json(&json!({ "ranges": ranges, "records": total, "dryRun": true }))?;
        } else {
            for (label, records) in &read {
                println!("{label}: {} record(s)", records.len());
            }
            println!(
                "{total} record(s) would be replayed as `{processor}` (dry run: nothing sent)"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !a.yes {
        eprintln!(
            "Replay {total} record(s) of {} range(s) through the processor as `{processor}`: they \
             are published again under their own event ids (consumers deduplicate on them).",
            read.len()
        );
        let ok = crate::cmd::checkpoint::confirm("Replay them?", "replay records");
        if !matches!(ok, Ok(true)) {
            release(ctx, &queue).await;
            ok?;
            eprintln!("aborted: nothing changed");
            return Ok(ExitCode::from(1));
        }
    }
    ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
        .await?;
    ctx.defaults
        .insert("AWS_LAMBDA_FUNCTION_NAME", processor.clone());
    ctx.defaults.insert("CDC_PROCESSOR_NAME", processor.clone());
    let (sink, lines) = MetricsSink::memory();
    let state = AppState::init(ctx.lookup(), &ctx.sdk, sink).await?;
    let mut failures: Vec<String> = Vec::new();
    let mut batches = 0;
    let mut done = Vec::new();
    'ranges: for ((label, records), range) in read.iter().zip(&ranges) {
        for chunk in records.chunks(a.batch.max(1)) {
            batches += 1;
            let payload = serde_json::from_value(json!({ "Records": chunk }))
                .context("building the Kinesis event")?;
            let response =
                processor_handler(&state, LambdaEvent::new(payload, LambdaContext::default()))
                    .await
                    .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            let response = serde_json::to_value(response)?;
            if let Some(f) = response["batchItemFailures"]
                .as_array()
                .filter(|f| !f.is_empty())
            {
                failures.extend(
                    f.iter()
                        .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_string)),
                );
                // As Lambda: nothing after a failed record; re-run from it.
                break 'ranges;
            }
        }
        done.push(label.clone());
        // The pointer is dealt with: delete it from the failure queue.
        if let (Some(url), Some(receipt)) = (&queue, &range.receipt) {
            ctx.sqs()
                .delete_message()
                .queue_url(url)
                .receipt_handle(receipt)
                .send()
                .await
                .with_context(|| format!("DeleteMessage ({})", short_queue(url)))?;
        }
    }
    print_metrics(&lines);
    if ctx.json {
        print_json(&json!({
            "ranges": done,
            "processor": processor,
            "records": total,
            "batches": batches,
            "batchItemFailures": failures,
        }))?;
    } else {
        for label in &done {
            println!("{label}: replayed as `{processor}`");
        }
        println!("{total} record(s) in {batches} batch(es)");
        if let Some(first) = failures.first() {
            println!("retry from sequence number {first} (a transient failure): run the replay again with --from {first}");
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Why `replay archive --dry-run` cannot say how many events the time range holds.
const UNCOUNTABLE_RANGE: &str = "EventBridge has no API that lists or counts an archive's events: \
    DescribeArchive gives only the archive's total (EventCount) and size, and archived events can \
    only be read by replaying them. Once started, `aws events describe-replay` shows the replay's \
    progress (EventLastReplayedTime).";

/// Arguments of `replay archive`.
pub(crate) struct ArchiveReplay<'a> {
    pub archive: Option<&'a str>,
    pub rules: &'a [String],
    pub from: &'a str,
    pub to: &'a str,
    pub dry_run: bool,
    pub yes: bool,
}

fn instant(what: &str, text: &str) -> Result<aws_smithy_types::DateTime> {
    let t = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("{what} `{text}` is not an RFC 3339 time (e.g. 2026-11-25T10:00:00Z)")
    })?;
    Ok(aws_smithy_types::DateTime::from_secs_and_nanos(
        t.timestamp(),
        t.timestamp_subsec_nanos(),
    ))
}

pub(crate) async fn replay_archive(ctx: &mut Ctx, a: ArchiveReplay<'_>) -> Result<ExitCode> {
    let from = instant("--from", a.from)?;
    let to = instant("--to", a.to)?;
    let events = aws_sdk_eventbridge::Client::new(&ctx.sdk);
    let bus = ctx.table("EVENT_BUS_NAME");
    let archive_name = a
        .archive
        .map(str::to_string)
        .unwrap_or_else(|| format!("{bus}-archive"));
    let archive = events
        .describe_archive()
        .archive_name(&archive_name)
        .send()
        .await
        .with_context(|| format!("DescribeArchive ({archive_name})"))?;
    let archive_arn = archive.archive_arn().unwrap_or_default().to_string();
    let bus_arn = archive.event_source_arn().unwrap_or_default().to_string();
    // Only the named consumers' rules get the replay, never every rule of the bus.
    let mut rule_arns = Vec::new();
    for rule in a.rules {
        let arn = events
            .describe_rule()
            .name(rule)
            .event_bus_name(&bus)
            .send()
            .await
            .with_context(|| format!("DescribeRule ({rule} on {bus})"))?
            .arn
            .with_context(|| format!("DescribeRule ({rule}) returned no ARN"))?;
        rule_arns.push(arn);
    }
    let what = format!(
        "archive {archive_name} ({} event(s) archived in all) from {} to {} to rule(s) {}",
        archive.event_count(),
        a.from,
        a.to,
        a.rules.join(", ")
    );
    if a.dry_run {
        if ctx.json {
            print_json(&json!({
                "archive": archive_name,
                "archivedEvents": archive.event_count(),
                "eventsInRange": null,
                "eventsInRangeNote": UNCOUNTABLE_RANGE,
                "rules": rule_arns,
                "dryRun": true,
            }))?;
        } else {
            println!("would replay {what} (dry run: nothing started)");
            println!("events in the range: not counted. {UNCOUNTABLE_RANGE}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !a.yes {
        eprintln!("Replay {what}: their targets receive the events again (consumers deduplicate on eventId).");
        if !crate::cmd::checkpoint::confirm("Start the replay?", "start a replay")? {
            eprintln!("aborted: nothing changed");
            return Ok(ExitCode::from(1));
        }
    }
    let name = format!(
        "{}cdc-replay-{}",
        ctx.prefix,
        chrono::Utc::now().format("%Y%m%dT%H%M%S")
    );
    let destination = aws_sdk_eventbridge::types::ReplayDestination::builder()
        .arn(&bus_arn)
        .set_filter_arns(Some(rule_arns))
        .build()
        .context("replay destination")?;
    let started = events
        .start_replay()
        .replay_name(&name)
        .event_source_arn(&archive_arn)
        .event_start_time(from)
        .event_end_time(to)
        .destination(destination)
        .send()
        .await
        .with_context(|| format!("StartReplay ({name})"))?;
    let state = started
        .state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if ctx.json {
        print_json(
            &json!({ "replayName": name, "replayArn": started.replay_arn(), "state": state }),
        )?;
    } else {
        println!("replay {name} started ({state}); follow it with `aws events describe-replay --replay-name {name}`");
    }
    Ok(ExitCode::SUCCESS)
}
