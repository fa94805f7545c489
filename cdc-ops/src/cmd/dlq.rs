//! `cdc-ops dlq list|process`: peeking at and re-driving dead letters.

use crate::*;
// ------------------------------------------------------------------------------------------------
// dlq list / process
// ------------------------------------------------------------------------------------------------

pub(crate) fn letter_cells(l: &DeadLetterSummary) -> Vec<String> {
    vec![
        l.message_id.clone(),
        or_dash(l.code.as_ref()),
        or_dash(l.table.as_ref()),
        or_dash(l.source_format.as_ref()),
        or_dash(l.attempts),
        or_dash(l.last_attempt.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
        or_dash(l.shard.as_ref()),
        or_dash(l.sequence_number.as_ref()),
    ]
}

pub(crate) const LETTER_HEADERS: [&str; 8] = [
    "MESSAGE ID",
    "CODE",
    "TABLE",
    "FORMAT",
    "ATTEMPTS",
    "LAST ATTEMPT",
    "SHARD",
    "SEQUENCE",
];

pub(crate) async fn dlq_list(
    ctx: &mut Ctx,
    queue: &QueueArgs,
    parking: bool,
    visibility: u64,
) -> Result<ExitCode> {
    let url = match (&queue.queue_url, parking) {
        (Some(u), _) => u.clone(),
        (None, true) => {
            ctx.resolve_queue("DLQ_PARKING_QUEUE_URL", "cdc-pipeline-dlq-parking")
                .await?
        }
        (None, false) => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?
        }
    };
    let letters =
        peek_dead_letters(&ctx.sqs(), &url, queue.max, Duration::from_secs(visibility)).await?;
    if ctx.json {
        print_json(&json!({ "queueUrl": url, "messages": letters }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({} shown)", short_queue(&url), letters.len());
    if !letters.is_empty() {
        let mut headers = LETTER_HEADERS.to_vec();
        headers.extend(["RECEIVES", "ERROR"]);
        print_table(
            &headers,
            &letters
                .iter()
                .map(|l| {
                    let mut c = letter_cells(l);
                    c.push(or_dash(l.receive_count));
                    c.push(clip(l.error.as_deref().unwrap_or("-"), 80));
                    c
                })
                .collect::<Vec<_>>(),
        );
        eprintln!(
            "note: peeking counts as a receive toward the queue's maxReceiveCount (RECEIVES); the messages were released, not deleted"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn outcome_detail(o: &RedriveOutcome) -> String {
    match o {
        RedriveOutcome::Published { event_id } => format!("event {event_id}"),
        RedriveOutcome::AlreadyRedriven { event_id } => {
            format!("event {event_id} already re-driven: nothing published")
        }
        RedriveOutcome::Acknowledged { reason, .. } => reason.clone(),
        RedriveOutcome::DeadLetteredAgain { code, attempts } => {
            format!("{code}, attempts {attempts}: back in the DLQ")
        }
        RedriveOutcome::Parked {
            code,
            attempts,
            reason,
        } => format!(
            "{}{}: {reason}",
            or_dash(code.map(|c| c.as_str())),
            attempts
                .map(|a| format!(", attempts {a}"))
                .unwrap_or_default()
        ),
        RedriveOutcome::Retry { reason } => format!("left in the queue: {}", clip(reason, 100)),
    }
}

pub(crate) async fn dlq_process(
    ctx: &mut Ctx,
    queue: &QueueArgs,
    visibility: u64,
    yes: bool,
) -> Result<ExitCode> {
    let url = match &queue.queue_url {
        Some(u) => u.clone(),
        None => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?
        }
    };
    if !yes {
        // Like `checkpoint reset`: say what will change, then ask.
        let depth = cdc_ops::ops::queue_depth(&ctx.sqs(), &url).await?;
        eprintln!(
            "Re-drive up to {} of about {depth} dead letter(s) in {} through the pipeline: \
             published ones are deleted, failing ones go back to the queue or are parked.",
            queue.max,
            short_queue(&url)
        );
        if !crate::cmd::checkpoint::confirm("Re-drive them?", "re-drive dead letters")? {
            eprintln!("aborted: nothing changed");
            return Ok(ExitCode::from(1));
        }
    }
    ctx.resolve_queue("DLQ_PARKING_QUEUE_URL", "cdc-pipeline-dlq-parking")
        .await?;
    if env("DLQ_QUEUE_URL").is_none() {
        // Letters that fail again go back to the queue being processed.
        ctx.defaults.insert("DLQ_QUEUE_URL", url.clone());
    }
    ctx.set_function("cdc-dead-letter-processor");
    let redriver = Redriver::init(ctx.lookup(), &ctx.sdk, MetricsSink::memory().0).await?;
    let processed: Vec<ProcessedMessage> = process_dead_letters(
        &redriver,
        &ctx.sqs(),
        &url,
        queue.max,
        Duration::from_secs(visibility),
    )
    .await?;
    if ctx.json {
        print_json(&json!({ "queueUrl": url, "messages": processed }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({} processed)", short_queue(&url), processed.len());
    if !processed.is_empty() {
        print_table(
            &[
                "MESSAGE ID",
                "CODE",
                "TABLE",
                "ATTEMPTS",
                "OUTCOME",
                "DETAIL",
            ],
            &processed
                .iter()
                .map(|p| {
                    vec![
                        p.message_id.clone(),
                        or_dash(p.letter.code.as_ref()),
                        or_dash(p.letter.table.as_ref()),
                        or_dash(p.letter.attempts),
                        p.outcome.kind().to_string(),
                        outcome_detail(&p.outcome),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
