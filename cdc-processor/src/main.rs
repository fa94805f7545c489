//! `cdc-processor`: the Lambda function (no subcommand), the local mode and row validation.
//!
//! The `local` and `validate` subcommands (clap, dotenvy, anyhow, the local mode) come with the
//! default `cli` feature. The deployed function is built without it
//! (`--no-default-features --features aws`): then the binary is the Lambda function alone, and
//! carries none of them (docs/benchmarks.md, "Binary size").

#[cfg(feature = "cli")]
use anyhow::{bail, Context};
#[cfg(feature = "cli")]
use cdc_models::Table;
#[cfg(feature = "cli")]
use cdc_processor::config::{parse_format_choice, PipelineConfig};
#[cfg(feature = "cli")]
use cdc_processor::local::{self, LocalOptions};
#[cfg(feature = "cli")]
use clap::{Parser, Subcommand};
#[cfg(feature = "cli")]
use std::io::Read;
#[cfg(feature = "cli")]
use std::path::PathBuf;
use std::process::ExitCode;

/// The CDC processor: Kinesis change records → typed, redacted `CDC.TableChange` events.
///
/// Without a subcommand it runs as the AWS Lambda function (configuration from the environment).
#[cfg(feature = "cli")]
#[derive(Parser, Debug)]
#[command(name = "cdc-processor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[cfg(feature = "cli")]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole pipeline locally: no AWS, no emulator.
    ///
    /// Reads a Lambda Kinesis event (JSON) or JSON lines of raw change records, writes EventBridge
    /// entries as JSON lines, keeps checkpoints under the state directory (a second run over the
    /// same input publishes nothing again), writes dead letters to a JSON-lines file and prints a
    /// summary on stderr. Other settings come from the same environment variables as the Lambda
    /// (EVENT_SOURCE, EVENT_BUS_NAME, REDACTION_HMAC_KEY, CDC_TABLES, CDC_TABLE_OVERRIDES,
    /// MAX_EVENT_SIZE_BYTES, DMS_BEFORE_IMAGE_FIELD, DEBEZIUM_EPOCH_UNIT).
    Local {
        /// A Lambda Kinesis event JSON file, or JSON lines of raw change records (read as a
        /// stream: memory stays flat however long the file).
        #[arg(required_unless_present = "event")]
        input: Option<PathBuf>,
        /// The input file, as INPUT (the spelling `cdc-ops invoke` uses).
        #[arg(long, value_name = "FILE", conflicts_with = "input")]
        event: Option<PathBuf>,
        /// Write entries to this file (appended) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Directory of the embedded checkpoint store.
        #[arg(long, default_value = ".state")]
        state_dir: PathBuf,
        /// Dead-letter file (JSON lines); default `<state-dir>/dead-letters.jsonl`.
        #[arg(long)]
        dead_letters: Option<PathBuf>,
        /// Input format: detected per record, or forced.
        #[arg(long, default_value = "auto", value_parser = ["auto", "coredb-trigger", "debezium", "dms"])]
        format: String,
        /// Publish column values unredacted (as ENABLE_DATA_REDACTION=false, which is honoured
        /// too).
        #[arg(long)]
        no_redaction: bool,
        /// Processor name in checkpoint keys (a different name starts over: nothing is skipped).
        #[arg(long, default_value = "local")]
        processor: String,
    },
    /// Validate one full row of a table against its JSON Schema and its Rust type.
    ///
    /// Exits 0 when valid; otherwise prints each problem as `column path: reason` (never the
    /// value) and exits 1.
    Validate {
        /// Table name (e.g. `users`).
        #[arg(long)]
        table: String,
        /// A JSON file holding one row (`-` for stdin).
        row: PathBuf,
    },
}

#[cfg(feature = "cli")]
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cdc-processor: cannot start the async runtime: {e}");
            ExitCode::from(2)
        })
}

/// The Lambda function alone (built without the `cli` feature: the deployed binary).
#[cfg(not(feature = "cli"))]
fn main() -> ExitCode {
    cdc_processor::aws::lambda::main()
}

#[cfg(feature = "cli")]
fn main() -> ExitCode {
    // `.env` in the current directory (variables already set win), before clap and any thread.
    match dotenvy::from_path(".env") {
        Ok(()) => {}
        Err(e) if e.not_found() => {}
        Err(dotenvy::Error::LineParse(_, index)) => eprintln!(
            "cdc-processor: .env: cannot parse it at character {index}; the lines from there on are ignored"
        ),
        Err(e) => eprintln!("cdc-processor: .env: {e}; the file is ignored"),
    }
    let cli = Cli::parse();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(run(cli))
}

#[cfg(feature = "cli")]
async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => cdc_processor::aws::lambda::run()
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| anyhow::anyhow!(e)),
        Some(Command::Local {
            input,
            event,
            out,
            state_dir,
            dead_letters,
            format,
            no_redaction,
            processor,
        }) => {
            init_tracing();
            let options = LocalOptions {
                input: input.or(event).expect("clap requires one"),
                out,
                state_dir,
                dead_letters,
                processor,
            };
            run_local(options, &format, no_redaction).await
        }
        Some(Command::Validate { table, row }) => run_validate(&table, &row),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cdc-processor: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "cli")]
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .finish()
        .with(cdc_processor::aws::lambda::sensitive_caps())
        .try_init();
}

#[cfg(feature = "cli")]
async fn run_local(
    options: LocalOptions,
    format: &str,
    no_redaction: bool,
) -> anyhow::Result<ExitCode> {
    let env_key = std::env::var("REDACTION_HMAC_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    // `--no-redaction` or ENABLE_DATA_REDACTION=false (the environment or `.env`).
    let env_redaction = std::env::var("ENABLE_DATA_REDACTION")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let no_redaction = no_redaction || env_redaction.as_deref() == Some("false");
    if no_redaction {
        eprintln!("cdc-processor local: redaction is off: entries carry column values as they are");
    }
    let ephemeral_key = if no_redaction || env_key.is_some() {
        None
    } else {
        eprintln!(
            "cdc-processor local: REDACTION_HMAC_KEY is not set; `hash` pseudonyms use a random \
             key for this run only (set it for stable pseudonyms)"
        );
        Some(random_key()?)
    };
    let config = PipelineConfig::from_lookup(|name| match name {
        // An invalid value is the configuration's error, as in the Lambda.
        "ENABLE_DATA_REDACTION" if no_redaction => Some("false".to_string()),
        "ENABLE_DATA_REDACTION" => env_redaction.clone().or_else(|| Some("true".to_string())),
        "REDACTION_HMAC_KEY" => env_key.clone().or_else(|| ephemeral_key.clone()),
        "CDC_SOURCE_FORMAT" => Some(format.to_string()),
        other => std::env::var(other).ok(),
    })
    .context("configuration")?;
    // The flag was validated by clap; this keeps the two lists in step.
    parse_format_choice(format).context("--format")?;
    let report = local::run(&options, config).await?;
    eprint!("{}", local::summary(&report, &options));
    Ok(if report.batch_item_failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(feature = "cli")]
fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("no random source for an ephemeral HMAC key; set REDACTION_HMAC_KEY")?;
    Ok(hex::encode(bytes))
}

#[cfg(feature = "cli")]
fn run_validate(table: &str, row: &PathBuf) -> anyhow::Result<ExitCode> {
    let Some(t) = Table::from_name(table) else {
        bail!(
            "{} (the tables are the file names in model-schemas/)",
            cdc_processor::config::unknown_table(table)
        );
    };
    let text = if row.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(row).with_context(|| format!("reading {}", row.display()))?
    };
    match cdc_processor::validate::validate_row_with_notes(t, &text) {
        Ok(notes) => {
            for n in &notes {
                println!("{}: note: {n}", row.display());
            }
            println!("{}: valid row of `{table}`", row.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", row.display());
            }
            Ok(ExitCode::from(1))
        }
    }
}
