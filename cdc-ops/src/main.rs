//! `cdc-ops`: the operator CLI of the CDC pipeline (the seed's `npm run` scripts, one to one; see
//! `docs/ops.md`).
//!
//! Human tables by default, `--json` for scripts. Reaches AWS with aws-config's default chain
//! (profile, SSO, environment credentials) or an emulator through `AWS_ENDPOINT_URL`. Resource
//! names default to the SAM template's (with `--name-prefix`), and the same environment variables
//! as the functions override them.

mod cmd;

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
use cdc_ops::shared::OpsError;
use cdc_processor::aws::http_client;
use cdc_processor::aws::lambda::{lenient_handler as processor_handler, AppState};
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
    /// Processor checkpoints.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// The pipeline's health.
    #[command(subcommand)]
    Health(HealthCommand),
    /// The dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Run a function's handler here on an event file, against the AWS
    /// resources (or emulator) the environment points at.
    Invoke(InvokeArgs),
    /// Replay: archived events to a consumer's rule, or a shard's sequence range from the stream
    /// (e.g. an on-failure pointer's) through the processor's handler.
    #[command(subcommand)]
    Replay(ReplayCommand),
    /// Function logs: runs `aws logs tail /aws/lambda/<function> --follow`.
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
        /// Processor name (default: CDC_PROCESSOR_NAME, or the template's `<prefix>cdc-processor`,
        /// as `invoke` and the deployed function use).
        #[arg(long)]
        processor: Option<String>,
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
    ///
    /// Publishes events and deletes, re-queues or parks letters: asks for confirmation on a
    /// terminal (after showing the queue's depth); refuses without --yes when not on one.
    Process {
        #[command(flatten)]
        queue: QueueArgs,
        /// Seconds a message retried after a transient failure stays hidden.
        #[arg(long, default_value_t = 60)]
        visibility_timeout: u64,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Args, Debug)]
struct InvokeArgs {
    /// cdc-processor, health-check or dead-letter-processor.
    #[arg(long, default_value = "cdc-processor")]
    function: String,
    /// The event (JSON): a Kinesis event, a scheduled event (optional for the health check) or an
    /// SQS event. Also accepted as the positional EVENT (as `cdc-processor local` takes its input).
    #[arg(long, value_name = "FILE")]
    event: Option<PathBuf>,
    /// The event file, as --event.
    #[arg(value_name = "EVENT", conflicts_with = "event")]
    event_file: Option<PathBuf>,
}

impl InvokeArgs {
    /// The event file, given either way; checked to exist before anything reaches for AWS.
    fn event_path(&self) -> Result<Option<&Path>> {
        let path = self.event.as_deref().or(self.event_file.as_deref());
        if let Some(p) = path {
            if !p.is_file() {
                bail!("event file {} not found", p.display());
            }
        }
        Ok(path)
    }
}

#[derive(Subcommand, Debug)]
enum ReplayCommand {
    /// Replay archived events (EventBridge StartReplay) of a time range to the named rules only.
    ///
    /// Asks for confirmation on a terminal; refuses without --yes when not on one. --dry-run shows
    /// the archive's event count and the rules.
    Archive {
        /// The archive (default `<EVENT_BUS_NAME>-archive`, the template's).
        #[arg(long)]
        archive: Option<String>,
        /// A rule on the bus whose targets get the replay (repeat for several).
        #[arg(long = "rule", required = true)]
        rules: Vec<String>,
        /// Start of the range (RFC 3339, e.g. 2026-11-25T10:00:00Z).
        #[arg(long)]
        from: String,
        /// End of the range (RFC 3339).
        #[arg(long)]
        to: String,
        /// Show what would be replayed; start nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Re-read `--from`..`--to` of one shard (GetShardIterator + GetRecords) and run the records
    /// through the processor's handler, under its own checkpoints (`<prefix>cdc-processor-replay`)
    /// so a range below the deployed processor's checkpoint is not skipped. Event ids are the
    /// records' own: consumers deduplicate a replay of something already published.
    ///
    /// Asks for confirmation on a terminal; refuses without --yes when not on one. --dry-run only
    /// counts.
    Kinesis {
        /// The shard (`shardId-…`), as in the failure pointer's `shardId`.
        #[arg(long, required_unless_present = "failure_queue", requires = "from")]
        shard: Option<String>,
        /// First sequence number (the pointer's `startSequenceNumber`).
        #[arg(long, requires = "shard")]
        from: Option<String>,
        /// Replay the ranges of the pointers waiting in the on-failure queue
        /// (KINESIS_FAILURE_QUEUE_URL, or the template's `<prefix>cdc-kinesis-failures`; up to 10);
        /// each pointer is deleted once its range is replayed.
        #[arg(long, conflicts_with_all = ["shard", "from", "to"])]
        failure_queue: bool,
        /// Last sequence number (the pointer's `endSequenceNumber`; default: the shard's end).
        #[arg(long)]
        to: Option<String>,
        /// Records per handler call (the mapping's batch size).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Processor name of the replay's checkpoints (default `<prefix>cdc-processor-replay`).
        #[arg(long)]
        processor: Option<String>,
        /// Count the records of the range; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
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
    // Before clap reads its `env` defaults and before any thread starts.
    cdc_ops::shared::load_dotenv("cdc-ops");
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
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .finish()
        .with(cdc_processor::aws::lambda::sensitive_caps())
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
        return cmd::logs::logs_tail(&cli, function, since.as_deref(), !no_follow, *print);
    }
    // Mistakes in the arguments are reported before anything reaches for AWS.
    if let Command::Invoke(args) = &cli.command {
        cmd::invoke::function_name(&args.function)?;
        args.event_path()?;
    }
    let mut ctx = Ctx::new(&cli).await?;
    let result = run_command(&cli, &mut ctx).await;
    // A missing table or queue: most often the wrong region or name prefix.
    result.map_err(|e| match e.chain().find_map(|c| c.downcast_ref::<OpsError>()) {
        Some(OpsError::NotFound { .. }) => anyhow::anyhow!(
            "{e:#}\nhint: looked up in region {} with name prefix `{}`: check --region \
             (AWS_REGION) and --name-prefix (CDC_NAME_PREFIX), or whether the stack is deployed there",
            ctx.var("AWS_REGION").unwrap_or_default(),
            ctx.prefix
        ),
        _ => e,
    })
}

async fn run_command(cli: &Cli, ctx: &mut Ctx) -> Result<ExitCode> {
    match &cli.command {
        Command::Checkpoint(CheckpointCommand::Status {
            processor,
            include_redrive,
        }) => cmd::checkpoint::checkpoint_status(ctx, processor.as_deref(), *include_redrive).await,
        Command::Checkpoint(CheckpointCommand::Reset {
            processor,
            shard,
            to,
            stream,
            yes,
        }) => {
            let processor = processor
                .clone()
                .unwrap_or_else(|| ctx.table("CDC_PROCESSOR_NAME"));
            cmd::checkpoint::checkpoint_reset(
                ctx,
                &processor,
                shard.as_deref(),
                to.as_deref(),
                stream.as_deref(),
                *yes,
            )
            .await
        }
        Command::Health(HealthCommand::Check) => cmd::health::health_check(ctx).await,
        Command::Dlq(DlqCommand::List {
            queue,
            parking,
            visibility_timeout,
        }) => cmd::dlq::dlq_list(ctx, queue, *parking, *visibility_timeout).await,
        Command::Dlq(DlqCommand::Process {
            queue,
            visibility_timeout,
            yes,
        }) => cmd::dlq::dlq_process(ctx, queue, *visibility_timeout, *yes).await,
        Command::Invoke(args) => cmd::invoke::invoke(ctx, args).await,
        Command::Replay(ReplayCommand::Archive {
            archive,
            rules,
            from,
            to,
            dry_run,
            yes,
        }) => {
            cmd::replay::replay_archive(
                ctx,
                cmd::replay::ArchiveReplay {
                    archive: archive.as_deref(),
                    rules,
                    from,
                    to,
                    dry_run: *dry_run,
                    yes: *yes,
                },
            )
            .await
        }
        Command::Replay(ReplayCommand::Kinesis {
            shard,
            from,
            to,
            failure_queue: _,
            batch,
            processor,
            dry_run,
            yes,
        }) => {
            cmd::replay::replay_kinesis(
                ctx,
                cmd::replay::KinesisReplay {
                    range: shard
                        .as_deref()
                        .zip(from.as_deref())
                        .map(|(s, f)| (s, f, to.as_deref())),
                    batch: *batch,
                    processor: processor.as_deref(),
                    dry_run: *dry_run,
                    yes: *yes,
                },
            )
            .await
        }
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
        let url = match queue_url(&self.sqs(), &name).await {
            Ok(url) => url,
            Err(e @ OpsError::NotFound { .. }) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "{var} is not set and the queue `{name}` does not exist"
                )))
            }
            // No credentials, no network, …: the cause itself, not "not found".
            Err(e) => return Err(e.into()),
        };
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
