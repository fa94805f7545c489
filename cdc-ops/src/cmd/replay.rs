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
    pub shard: &'a str,
    pub from: &'a str,
    pub to: Option<&'a str>,
    pub batch: usize,
    pub processor: Option<&'a str>,
    pub dry_run: bool,
    pub yes: bool,
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
    let records = read_range(
        &kinesis,
        &stream,
        &stream_arn,
        &region,
        a.shard,
        a.from,
        a.to,
    )
    .await?;
    // Its own checkpoints: a range below the deployed processor's checkpoint would be skipped.
    let processor = a
        .processor
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}cdc-processor-replay", ctx.prefix));
    let range = format!(
        "{} {} {}..{}",
        short_stream(&stream_arn),
        a.shard,
        a.from,
        a.to.unwrap_or("(end)")
    );
    if a.dry_run {
        if ctx.json {
            print_json(&json!({ "range": range, "records": records.len(), "dryRun": true }))?;
        } else {
            println!(
                "{range}: {} record(s) would be replayed as `{processor}` (dry run: nothing sent)",
                records.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !a.yes {
        eprintln!(
            "Replay {} record(s) of {range} through the processor as `{processor}`: they are \
             published again under their own event ids (consumers deduplicate on them).",
            records.len()
        );
        if !crate::cmd::checkpoint::confirm("Replay them?", "replay records")? {
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
            break;
        }
    }
    print_metrics(&lines);
    if ctx.json {
        print_json(&json!({
            "range": range,
            "processor": processor,
            "records": records.len(),
            "batches": batches,
            "batchItemFailures": failures,
        }))?;
    } else {
        println!(
            "{range}: {} record(s) replayed in {batches} batch(es) as `{processor}`",
            records.len()
        );
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
                "rules": rule_arns,
                "dryRun": true,
            }))?;
        } else {
            println!("would replay {what} (dry run: nothing started)");
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
