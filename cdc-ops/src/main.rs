//! `cdc-ops`: the operator CLI of the CDC pipeline (the seed's `npm run` scripts, one to one; see
//! `docs/ops.md`).
//!
//! Human tables by default, `--json` for scripts. Reaches AWS with aws-config's default chain
//! (profile, SSO, environment credentials) or an emulator through `AWS_ENDPOINT_URL`. Resource
//! names default to the SAM template's (with `--name-prefix`), and the same environment variables
//! as the functions override them.

use anyhow::{bail, Context, Result};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use cdc_ops::health;
use cdc_ops::health::{human_duration, CheckStatus, HealthChecker, HealthStatus};
use cdc_ops::ops::{
    apply_reset, list_checkpoints, list_state, parse_position, peek_dead_letters, plan_reset,
    process_dead_letters, queue_url, CheckpointRow, DeadLetterSummary, ProcessedMessage,
};
use cdc_ops::redrive::{self, RedriveOutcome, Redriver};
use cdc_processor::aws::http_client;
use cdc_processor::aws::lambda::{handler as processor_handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use clap::{Args, Parser, Subcommand};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Operator CLI of the CDC pipeline: checkpoints, health, dead letters, local invokes, logs.
///
/// Credentials and region come from the AWS default chain (AWS_PROFILE, AWS_REGION, …);
/// AWS_ENDPOINT_URL points every call at an emulator. Resource names default to the SAM
/// template's; the functions' variables (CHECKPOINT_TABLE_NAME, DLQ_QUEUE_URL, EVENT_BUS_NAME, …)
/// override them.
#[derive(Parser, Debug)]
#[command(name = "cdc-ops", version, about, long_about)]
struct Cli {
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// AWS region (default: the AWS default chain, e.g. AWS_REGION).
    #[arg(long, global = true)]
    region: Option<String>,
    /// The stack's NamePrefix (function, queue and secret names).
    #[arg(long, global = true, env = "CDC_NAME_PREFIX", default_value = "")]
    name_prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Processor checkpoints (`npm run checkpoint:status`, `checkpoint:reset`).
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// The pipeline's health (`npm run health:check`).
    #[command(subcommand)]
    Health(HealthCommand),
    /// The dead-letter queue (`npm run dlq:process`).
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Run a function's handler here on an event file (`npm run invoke:local`), against the AWS
    /// resources (or emulator) the environment points at.
    Invoke(InvokeArgs),
    /// Function logs (`npm run logs:tail`): runs `aws logs tail /aws/lambda/<function> --follow`.
    #[command(subcommand)]
    Logs(LogsCommand),
}

#[derive(Subcommand, Debug)]
enum CheckpointCommand {
    /// Show every checkpoint (processor, stream, shard, position, age) and the processor state.
    Status {
        /// Only this processor's checkpoints and state.
        #[arg(long)]
        processor: Option<String>,
        /// Also show the dead-letter processor's re-drive records.
        #[arg(long)]
        include_redrive: bool,
    },
    /// Delete a processor's checkpoints (nothing is skipped any more), or set them to a position.
    ///
    /// Asks for confirmation on a terminal; refuses without --yes when not on one.
    Reset {
        /// Processor name (the cdc-processor function's name).
        #[arg(long)]
        processor: String,
        /// Only this shard.
        #[arg(long)]
        shard: Option<String>,
        /// Set the checkpoint to this sequence number (`SEQ` or `SEQ/SUB` for a user record of a
        /// KPL aggregate) instead of deleting it; may move it backwards.
        #[arg(long)]
        to: Option<String>,
        /// The stream (as in the checkpoint: the stream ARN) of a checkpoint to create with --to
        /// and --shard when none exists.
        #[arg(long)]
        stream: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
enum HealthCommand {
    /// Run the health-check function's checks and print them. Exit status: 0 healthy, 3 degraded,
    /// 1 unhealthy.
    Check,
}

#[derive(Args, Debug)]
struct QueueArgs {
    /// Queue URL (default: DLQ_QUEUE_URL, or the template's `cdc-pipeline-dlq`).
    #[arg(long)]
    queue_url: Option<String>,
    /// At most this many messages.
    #[arg(long, default_value_t = 50)]
    max: usize,
}

#[derive(Subcommand, Debug)]
enum DlqCommand {
    /// Peek at dead letters without deleting them: id, code, table, format, attempts, last
    /// attempt — never the record. Each peek counts as a receive toward the queue's
    /// maxReceiveCount.
    List {
        #[command(flatten)]
        queue: QueueArgs,
        /// The parking queue instead (DLQ_PARKING_QUEUE_URL, or `cdc-pipeline-dlq-parking`).
        #[arg(long, conflicts_with = "queue_url")]
        parking: bool,
        /// Seconds the peeked messages stay hidden while listing (they are released after).
        #[arg(long, default_value_t = 30)]
        visibility_timeout: u64,
    },
    /// Re-drive dead letters through the pipeline, with the dead-letter-processor's logic.
    Process {
        #[command(flatten)]
        queue: QueueArgs,
        /// Seconds a message retried after a transient failure stays hidden.
        #[arg(long, default_value_t = 60)]
        visibility_timeout: u64,
    },
}

#[derive(Args, Debug)]
struct InvokeArgs {
    /// cdc-processor, health-check or dead-letter-processor.
    #[arg(long)]
    function: String,
    /// The event (JSON): a Kinesis event, a scheduled event (optional for the health check) or an
    /// SQS event.
    #[arg(long)]
    event: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum LogsCommand {
    /// `aws logs tail /aws/lambda/<function> --follow` (needs the AWS CLI v2; printed instead
    /// when it is not on PATH, or with --print).
    Tail {
        /// cdc-processor, health-check or dead-letter-processor.
        #[arg(long, default_value = "cdc-processor")]
        function: String,
        /// How far back to start, e.g. `10m`, `1h`.
        #[arg(long)]
        since: Option<String>,
        /// Print what is there and stop instead of following.
        #[arg(long)]
        no_follow: bool,
        /// Only print the command.
        #[arg(long)]
        print: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cdc-ops: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cdc-ops: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs on stderr (warnings by default; RUST_LOG for more). They carry codes, positions and
/// counts, never column values.
fn init_tracing() {
    let filter = cdc_processor::aws::lambda::cap_sensitive_targets(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Logs(LogsCommand::Tail {
        function,
        since,
        no_follow,
        print,
    }) = &cli.command
    {
        return logs_tail(&cli, function, since.as_deref(), !no_follow, *print);
    }
    let mut ctx = Ctx::new(&cli).await?;
    match &cli.command {
        Command::Checkpoint(CheckpointCommand::Status {
            processor,
            include_redrive,
        }) => checkpoint_status(&ctx, processor.as_deref(), *include_redrive).await,
        Command::Checkpoint(CheckpointCommand::Reset {
            processor,
            shard,
            to,
            stream,
            yes,
        }) => {
            checkpoint_reset(
                &ctx,
                processor,
                shard.as_deref(),
                to.as_deref(),
                stream.as_deref(),
                *yes,
            )
            .await
        }
        Command::Health(HealthCommand::Check) => health_check(&mut ctx).await,
        Command::Dlq(DlqCommand::List {
            queue,
            parking,
            visibility_timeout,
        }) => dlq_list(&mut ctx, queue, *parking, *visibility_timeout).await,
        Command::Dlq(DlqCommand::Process {
            queue,
            visibility_timeout,
        }) => dlq_process(&mut ctx, queue, *visibility_timeout).await,
        Command::Invoke(args) => invoke(&mut ctx, args).await,
        Command::Logs(_) => unreachable!("handled above"),
    }
}

// ------------------------------------------------------------------------------------------------
// Configuration: the functions' variables, with the template's names as defaults
// ------------------------------------------------------------------------------------------------

struct Ctx {
    sdk: SdkConfig,
    json: bool,
    prefix: String,
    defaults: HashMap<&'static str, String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Ctx {
    async fn new(cli: &Cli) -> Result<Ctx> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(r) = &cli.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .context("no AWS region: set AWS_REGION (or a profile's region), or pass --region")?;
        let p = &cli.name_prefix;
        let mut defaults: HashMap<&'static str, String> = [
            ("AWS_REGION", region),
            ("KINESIS_STREAM_NAME", "coredb-cdc-stream".into()),
            ("STATE_TABLE_NAME", "cdc-pipeline-state".into()),
            ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints".into()),
            ("EVENT_BUS_NAME", "cdc-events".into()),
            ("CDC_PROCESSOR_NAME", format!("{p}cdc-processor")),
        ]
        .into_iter()
        .collect();
        let redaction_off = env("ENABLE_DATA_REDACTION").as_deref() == Some("false");
        if !redaction_off
            && env("REDACTION_HMAC_KEY").is_none()
            && env("REDACTION_HMAC_KEY_SECRET_ARN").is_none()
        {
            // The secret the template creates.
            defaults.insert(
                "REDACTION_HMAC_KEY_SECRET_ARN",
                format!("{p}cdc-pipeline/redaction-hmac-key"),
            );
        }
        Ok(Ctx {
            sdk,
            json: cli.json,
            prefix: p.clone(),
            defaults,
        })
    }

    /// A variable: the environment, else the CLI's default.
    fn var(&self, name: &str) -> Option<String> {
        env(name).or_else(|| self.defaults.get(name).cloned())
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.var(name)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// Makes `var` (a queue URL variable) known: the environment, or `GetQueueUrl` of the
    /// template's queue name.
    async fn resolve_queue(&mut self, var: &'static str, name: &str) -> Result<String> {
        if let Some(url) = self.var(var) {
            return Ok(url);
        }
        let name = format!("{}{name}", self.prefix);
        let url = queue_url(&self.sqs(), &name)
            .await
            .with_context(|| format!("{var} is not set and the queue `{name}` was not found"))?;
        self.defaults.insert(var, url.clone());
        Ok(url)
    }

    fn set_function(&mut self, function: &str) {
        self.defaults.insert(
            "AWS_LAMBDA_FUNCTION_NAME",
            format!("{}{function}", self.prefix),
        );
    }

    fn table(&self, var: &str) -> String {
        self.var(var).unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------------------------
// Output
// ------------------------------------------------------------------------------------------------

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A plain text table: headers, then rows, columns padded to their widest cell.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn short_stream(stream: &str) -> &str {
    if stream.starts_with("arn:") {
        stream.rsplit('/').next().unwrap_or(stream)
    } else {
        stream
    }
}

fn short_queue(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

// ------------------------------------------------------------------------------------------------
// checkpoint status / reset
// ------------------------------------------------------------------------------------------------

async fn checkpoint_status(
    ctx: &Ctx,
    processor: Option<&str>,
    include_redrive: bool,
) -> Result<ExitCode> {
    let ddb = ctx.dynamodb();
    let checkpoint_table = ctx.table("CHECKPOINT_TABLE_NAME");
    let state_table = ctx.table("STATE_TABLE_NAME");
    let all = list_checkpoints(&ddb, &checkpoint_table).await?;
    let redrive_records = all.iter().filter(|r| r.is_redrive_record()).count();
    let rows: Vec<&CheckpointRow> = all
        .iter()
        .filter(|r| include_redrive || !r.is_redrive_record())
        .filter(|r| processor.is_none_or(|p| r.processor == p))
        .collect();
    let state: Vec<_> = list_state(&ddb, &state_table)
        .await?
        .into_iter()
        .filter(|s| {
            processor.is_none_or(|p| s.processor == p || s.processor.starts_with(&format!("{p}#")))
        })
        .collect();
    let now = chrono::Utc::now();
    if ctx.json {
        let checkpoints: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                v["ageSeconds"] = json!(r.age(now).map(|a| a.as_secs()));
                v
            })
            .collect();
        print_json(&json!({
            "checkpointTable": checkpoint_table,
            "stateTable": state_table,
            "checkpoints": checkpoints,
            "redriveRecords": redrive_records,
            "state": state,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Checkpoints (table {checkpoint_table})");
    if rows.is_empty() {
        println!("  none");
    } else {
        print_table(
            &["PROCESSOR", "STREAM", "SHARD", "SEQUENCE", "UPDATED", "AGE"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.processor.clone(),
                        short_stream(&r.stream).to_string(),
                        r.shard.clone(),
                        match (&r.sequence_number, r.sub_sequence_number) {
                            (Some(s), Some(sub)) => format!("{s}/{sub}"),
                            (s, _) => or_dash(s.as_ref()),
                        },
                        or_dash(r.updated_at.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                        or_dash(r.age(now).map(human_duration)),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    if !include_redrive && redrive_records > 0 {
        println!(
            "  ({redrive_records} re-drive record(s) of the dead-letter processor not shown: --include-redrive)"
        );
    }
    println!();
    println!("State (table {state_table})");
    if state.is_empty() {
        println!("  none");
    } else {
        print_table(
            &["PROCESSOR#SHARD", "LAST SEQUENCE", "PROCESSED", "UPDATED"],
            &state
                .iter()
                .map(|s| {
                    vec![
                        s.processor.clone(),
                        or_dash(s.last_processed_sequence.as_ref()),
                        or_dash(s.processed_count),
                        or_dash(s.last_updated.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; `Ok(false)` when the operator declines. Refuses when stdin is not a
/// terminal.
fn confirm(question: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("refusing to change checkpoints without confirmation: stdin is not a terminal; re-run with --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

async fn checkpoint_reset(
    ctx: &Ctx,
    processor: &str,
    shard: Option<&str>,
    to: Option<&str>,
    stream: Option<&str>,
    yes: bool,
) -> Result<ExitCode> {
    let ddb = ctx.dynamodb();
    let table = ctx.table("CHECKPOINT_TABLE_NAME");
    let to = to.map(parse_position).transpose()?;
    let rows = list_checkpoints(&ddb, &table).await?;
    let plans = plan_reset(&rows, processor, shard, to.as_ref(), stream)?;
    if !ctx.json || !yes {
        eprintln!("Checkpoint reset (table {table}):");
        for p in &plans {
            eprintln!(
                "  {} {} {}: {} -> {}",
                p.key.processor,
                short_stream(&p.key.stream),
                p.key.shard,
                p.from.as_deref().unwrap_or("(none)"),
                p.to.as_deref().unwrap_or("(deleted: nothing is skipped)")
            );
        }
    }
    if !yes && !confirm(&format!("Reset {} checkpoint(s)?", plans.len()))? {
        eprintln!("aborted: nothing changed");
        return Ok(ExitCode::from(1));
    }
    let ttl_days: u64 = ctx
        .var("CHECKPOINT_TTL_DAYS")
        .and_then(|d| d.parse().ok())
        .unwrap_or(30);
    for p in &plans {
        apply_reset(
            &ddb,
            &table,
            &p.key,
            to.as_ref(),
            Duration::from_secs(ttl_days * 86_400),
        )
        .await?;
    }
    if ctx.json {
        print_json(&json!({ "table": table, "reset": plans }))?;
    } else {
        println!("reset {} checkpoint(s)", plans.len());
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------------------------------------
// health check
// ------------------------------------------------------------------------------------------------

async fn health_check(ctx: &mut Ctx) -> Result<ExitCode> {
    ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
        .await?;
    ctx.set_function("cdc-health-check");
    let checker = HealthChecker::init(ctx.lookup(), &ctx.sdk, MetricsSink::memory().0)?;
    let report = checker.check().await;
    if ctx.json {
        print_json(&report)?;
    } else {
        print_table(
            &["CHECK", "TARGET", "STATUS", "LATENCY", "RESULT"],
            &report
                .checks
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        short_queue(&c.target).to_string(),
                        c.status.as_str().to_uppercase(),
                        format!("{} ms", c.latency_ms),
                        c.message.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let problems = report
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Ok)
            .count();
        println!();
        println!(
            "overall: {} ({} checks, {} not ok, {} ms)",
            report.status.as_str(),
            report.checks.len(),
            problems,
            report.duration_ms
        );
    }
    Ok(match report.status {
        HealthStatus::Healthy => ExitCode::SUCCESS,
        HealthStatus::Degraded => ExitCode::from(3),
        HealthStatus::Unhealthy => ExitCode::from(1),
    })
}

// ------------------------------------------------------------------------------------------------
// dlq list / process
// ------------------------------------------------------------------------------------------------

fn letter_cells(l: &DeadLetterSummary) -> Vec<String> {
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

const LETTER_HEADERS: [&str; 8] = [
    "MESSAGE ID",
    "CODE",
    "TABLE",
    "FORMAT",
    "ATTEMPTS",
    "LAST ATTEMPT",
    "SHARD",
    "SEQUENCE",
];

async fn dlq_list(
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

fn outcome_detail(o: &RedriveOutcome) -> String {
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

async fn dlq_process(ctx: &mut Ctx, queue: &QueueArgs, visibility: u64) -> Result<ExitCode> {
    let url = match &queue.queue_url {
        Some(u) => u.clone(),
        None => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?
        }
    };
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

// ------------------------------------------------------------------------------------------------
// invoke
// ------------------------------------------------------------------------------------------------

/// The template's function name for a short or full name.
fn function_name(f: &str) -> Result<&'static str> {
    Ok(match f {
        "cdc-processor" | "processor" => "cdc-processor",
        "health-check" | "cdc-health-check" => "cdc-health-check",
        "dead-letter-processor" | "cdc-dead-letter-processor" => "cdc-dead-letter-processor",
        other => bail!(
            "unknown function `{other}`: cdc-processor, health-check or dead-letter-processor"
        ),
    })
}

fn read_event(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn typed_event<T: serde::de::DeserializeOwned>(value: Value, path: &Path, what: &str) -> Result<T> {
    // The error names the position and category only (the event may hold record contents).
    serde_json::from_value(value).map_err(|e| {
        anyhow::anyhow!(
            "{} is not {what} ({:?} error)",
            path.display(),
            e.classify()
        )
    })
}

fn print_metrics(lines: &Arc<Mutex<Vec<String>>>) {
    for l in lines.lock().expect("metrics lock").iter() {
        eprintln!("{l}");
    }
}

async fn invoke(ctx: &mut Ctx, args: &InvokeArgs) -> Result<ExitCode> {
    let function = function_name(&args.function)?;
    let event = match &args.event {
        Some(p) => Some((read_event(p)?, p.as_path())),
        None if function == "cdc-health-check" => None,
        None => bail!("--event is required for {function}"),
    };
    ctx.set_function(function);
    let (sink, lines) = MetricsSink::memory();
    let response: Value = match function {
        "cdc-processor" => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?;
            let state = AppState::init(ctx.lookup(), &ctx.sdk, sink).await?;
            let (value, path) = event.expect("required above");
            let payload = typed_event(value, path, "a Lambda Kinesis event")?;
            let response =
                processor_handler(&state, LambdaEvent::new(payload, LambdaContext::default()))
                    .await
                    .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            serde_json::to_value(response)?
        }
        "cdc-health-check" => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?;
            let checker = HealthChecker::init(ctx.lookup(), &ctx.sdk, sink)?;
            let payload = event.map(|(v, _)| v).unwrap_or_else(|| json!({}));
            let report = health::handler(
                &checker,
                LambdaEvent::new(payload, LambdaContext::default()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            serde_json::to_value(report)?
        }
        _ => {
            ctx.resolve_queue("DLQ_QUEUE_URL", "cdc-pipeline-dlq")
                .await?;
            ctx.resolve_queue("DLQ_PARKING_QUEUE_URL", "cdc-pipeline-dlq-parking")
                .await?;
            let redriver = Redriver::init(ctx.lookup(), &ctx.sdk, sink).await?;
            let (value, path) = event.expect("required above");
            let payload = typed_event(value, path, "an SQS event")?;
            let response = redrive::handler(
                &redriver,
                LambdaEvent::new(payload, LambdaContext::default()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
            serde_json::to_value(response)?
        }
    };
    // The metrics the function would have logged, on stderr; the response on stdout.
    print_metrics(&lines);
    print_json(&response)?;
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------------------------------------
// logs tail
// ------------------------------------------------------------------------------------------------

/// An executable called `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

fn logs_tail(
    cli: &Cli,
    function: &str,
    since: Option<&str>,
    follow: bool,
    print: bool,
) -> Result<ExitCode> {
    let name = format!("{}{}", cli.name_prefix, function_name(function)?);
    let mut args = vec![
        "logs".to_string(),
        "tail".to_string(),
        format!("/aws/lambda/{name}"),
    ];
    if follow {
        args.push("--follow".into());
    }
    if let Some(s) = since {
        args.push("--since".into());
        args.push(s.to_string());
    }
    if let Some(r) = &cli.region {
        args.push("--region".into());
        args.push(r.clone());
    }
    // `aws logs tail` exists in the AWS CLI v2 only.
    let aws = on_path("aws").filter(|aws| {
        std::process::Command::new(aws)
            .arg("--version")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains("aws-cli/2")
                    || String::from_utf8_lossy(&o.stderr).contains("aws-cli/2")
            })
    });
    if print || aws.is_none() {
        if cli.json {
            let command: Vec<String> = std::iter::once("aws".to_string())
                .chain(args.iter().cloned())
                .collect();
            print_json(&json!({ "command": command }))?;
        } else {
            println!("aws {}", args.join(" "));
        }
        if !print {
            eprintln!(
                "cdc-ops: the AWS CLI v2 is not on PATH (`aws logs tail` needs v2); run the command above where it is"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(aws.expect("checked above"))
        .args(&args)
        .exec();
    Err(anyhow::anyhow!("cannot run aws: {err}"))
}
