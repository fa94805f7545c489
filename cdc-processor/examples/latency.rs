//! Latency-model benchmark (issue 19 §4): one shard's records through the Lambda handler, batch
//! after batch, while the fault proxy gives every AWS call a model latency — `PutEvents` 25 ms,
//! DynamoDB 6 ms, SQS 10 ms (and a tail variant: 1 `PutEvents` in 50 takes 250 ms). A benchmark,
//! not a test: it prints figures and asserts nothing about speed.
//!
//! ```text
//! cargo run --release -p cdc-processor --example latency
//! cargo run -p cdc-processor --example latency -- quick   # a smoke run, few records
//! target/release/examples/latency batch=10000 mode=default backend=proxy tail=both concurrency=32 ahead=4
//! ```
//!
//! Without arguments every row runs. `key=value` arguments pick rows while iterating: `batch=`
//! (100, 1000, 10000, comma-separated), `mode=` (sequential, default, seed), `backend=` (proxy,
//! moto), `tail=` (no, yes, both; default both); and change the default mode: `concurrency=`
//! (`PUBLISH_CONCURRENCY`), `ahead=` (how many windows past the records resolved in order
//! requests start, [`PipelineConfig::set_ahead_windows`]).
//!
//! Three modes side by side, in the same process:
//!
//! - **sequential**: what the processor did before requests went out together — one `PutEvents`
//!   at a time (`PUBLISH_CONCURRENCY=1`) and a checkpoint write after every request (a window of
//!   one request);
//! - **default**: the default configuration (`PUBLISH_CONCURRENCY` = 32 under the AIMD limit, a
//!   checkpoint per window);
//! - **seed**: the original Node service's pattern (`processWithCheckpoint` of the seed README):
//!   one `PutEvents` entry per record and a checkpoint write per record.
//!
//! Two back ends: **proxy** — the proxy answers `PutEvents` and `PutItem` itself after the delay
//! (`Fault::Succeed`), so moto's CPU time (milliseconds of Python per call on a shared 2-core
//! machine) does not set the figure; the other calls (checkpoint `GetItem`, state `UpdateItem`,
//! SQS dead letters) go to moto and are answered after the delay; and **moto** — every call goes
//! to moto and its answer is held for the delay (the delay adds to moto's own time).
//!
//! Each run prints one line a script can read:
//!
//! ```text
//! latency-model batch=<N> concurrency=<C> records_per_s=<R> putevents=<P> checkpoint_writes=<W> peak_rss_mib=<M> mode=<m> backend=<b> tail=<t> records=<n> seconds=<s> ahead=<windows>
//! ```
//!
//! `putevents` and `checkpoint_writes` are per 1,000 records (counted by the proxy's rules);
//! `peak_rss_mib` is this process's `VmHWM` during the run (reset before it), which includes the
//! proxy and moto's client side, so it is an upper bound for the handler alone.

use anyhow::{ensure, Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use cdc_processor::aws::config::Settings;
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use cdc_processor::config::PipelineConfig;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::Value;
use std::time::{Duration, Instant};
use testkit::fault_proxy::{Fault, Rule};
use testkit::Stack;

#[path = "support/workload.rs"]
mod workload;

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream";
const CHECKPOINTS: &str = testkit::stack::CHECKPOINT_TABLE;
const PUT_EVENTS_MS: u64 = 25;
const DYNAMODB_MS: u64 = 6;
const SQS_MS: u64 = 10;
const TAIL_MS: u64 = 250;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Sequential,
    Default,
    Seed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Default => "default",
            Mode::Seed => "seed",
        }
    }

    fn configure(self, config: &mut PipelineConfig, args: &Args) {
        match self {
            Mode::Sequential => {
                config.set_publish_concurrency(1);
                config.set_window_entries(Some(config.entries_per_request()));
            }
            Mode::Default => {
                if let Some(n) = args.concurrency {
                    config.set_publish_concurrency(n);
                }
                if let Some(n) = args.ahead {
                    config.set_ahead_windows(n);
                }
            }
            Mode::Seed => {
                config.set_publish_concurrency(1);
                config.set_entries_per_request(1);
                config.set_window_entries(Some(1));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Proxy,
    Moto,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Proxy => "proxy",
            Backend::Moto => "moto",
        }
    }

    /// The answer after `ms`: the proxy's own, or moto's held back.
    fn answer(self, ms: u64, self_answered: bool) -> Fault {
        let d = Duration::from_millis(ms);
        if self == Backend::Proxy && self_answered {
            Fault::Succeed(d)
        } else {
            Fault::SlowAnswer(d)
        }
    }
}

/// The command line: `quick` and `key=value` filters and settings (see the module docs).
#[derive(Default)]
struct Args {
    quick: bool,
    batches: Option<Vec<usize>>,
    modes: Option<Vec<String>>,
    backends: Option<Vec<String>>,
    tail: Option<String>,
    concurrency: Option<usize>,
    ahead: Option<usize>,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = Args::default();
        let list = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
        for arg in std::env::args().skip(1) {
            if arg == "quick" {
                args.quick = true;
                continue;
            }
            let (key, value) = arg
                .split_once('=')
                .with_context(|| format!("argument {arg}: quick or key=value"))?;
            match key {
                "batch" => {
                    args.batches = Some(
                        value
                            .split(',')
                            .map(str::parse)
                            .collect::<Result<_, _>>()
                            .context("batch=")?,
                    )
                }
                "mode" => args.modes = Some(list(value)),
                "backend" => args.backends = Some(list(value)),
                "tail" => args.tail = Some(value.to_string()),
                "concurrency" => args.concurrency = Some(value.parse().context("concurrency=")?),
                "ahead" => args.ahead = Some(value.parse().context("ahead=")?),
                _ => anyhow::bail!("unknown argument {arg}"),
            }
        }
        Ok(args)
    }

    /// Whether this row is asked for.
    fn wants(&self, backend: Backend, tail: bool, mode: Mode, batch: usize) -> bool {
        let has =
            |l: &Option<Vec<String>>, v: &str| l.as_ref().is_none_or(|l| l.iter().any(|x| x == v));
        let tail_ok = match self.tail.as_deref() {
            Some("no") => !tail,
            Some("yes") => tail,
            _ => true,
        };
        tail_ok
            && has(&self.modes, mode.name())
            && has(&self.backends, backend.name())
            && self.batches.as_ref().is_none_or(|b| b.contains(&batch))
    }
}

fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// One run's figures.
struct Figures {
    records: usize,
    seconds: f64,
    put_events: u64,
    checkpoint_writes: u64,
    peak_rss_kb: u64,
    concurrency: usize,
    ahead: usize,
}

struct Bench {
    stack: Stack,
    next_sequence: usize,
    runs: usize,
    args: Args,
}

impl Bench {
    /// Drives `total` records of a fresh shard through the handler in batches of `batch`.
    async fn run(
        &mut self,
        mode: Mode,
        backend: Backend,
        tail: bool,
        batch: usize,
        total: usize,
    ) -> Result<Figures> {
        self.runs += 1;
        let stream = format!("{STREAM_ARN}-{}", self.runs);
        let mut vars = self.stack.env();
        vars.insert("KINESIS_BATCH_SIZE".into(), "10000".into());
        let lookup = |k: &str| vars.get(k).cloned();
        let settings = Settings::from_lookup(lookup)?;
        let mut config = PipelineConfig::from_lookup(lookup)?;
        mode.configure(&mut config, &self.args);
        let (concurrency, ahead) = (config.publish_concurrency(), config.ahead_windows());
        let (sink, metrics) = MetricsSink::memory();
        let state = AppState::build(settings, config, self.stack.client_sdk(), sink);

        // The latency model, counted per rule.
        self.stack.proxy().clear_rules();
        if tail {
            self.stack.proxy().add_rule(
                Rule::new("AWSEvents.PutEvents", backend.answer(TAIL_MS, true))
                    .probability(0.02)
                    .seed(19),
            );
        }
        let put_events = self.stack.proxy().add_rule(Rule::new(
            "AWSEvents.PutEvents",
            backend.answer(PUT_EVENTS_MS, true),
        ));
        let checkpoint_writes = self.stack.proxy().add_rule(
            Rule::new(
                "DynamoDB_20120810.PutItem",
                backend.answer(DYNAMODB_MS, true),
            )
            .body_contains(CHECKPOINTS),
        );
        self.stack.proxy().add_rule(Rule::new(
            "DynamoDB_20120810.PutItem",
            backend.answer(DYNAMODB_MS, true),
        ));
        self.stack.proxy().add_rule(Rule::new(
            "DynamoDB_20120810.*",
            backend.answer(DYNAMODB_MS, false),
        ));
        self.stack
            .proxy()
            .add_rule(Rule::new("AmazonSQS.*", backend.answer(SQS_MS, false)));

        let all = workload::records(total, self.next_sequence, &stream);
        self.next_sequence += total + 1;
        let payloads: Vec<Vec<u8>> = all
            .chunks(batch)
            .map(workload::event_json)
            .collect::<Result<_>>()?;
        drop(all);
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let started = Instant::now();
        for bytes in &payloads {
            let event: KinesisEvent = serde_json::from_slice(bytes)?;
            let response = handler(&state, LambdaEvent::new(event, LambdaContext::default()))
                .await
                .map_err(|e| anyhow::anyhow!("handler: {e}"))?;
            let failures = serde_json::to_value(&response)?["batchItemFailures"]
                .as_array()
                .map_or(0, Vec::len);
            ensure!(failures == 0, "{failures} records reported for retry");
        }
        let seconds = started.elapsed().as_secs_f64();
        let peak_rss_kb = status_kb("VmHWM:").unwrap_or(0);
        let calls: u64 = metrics
            .lock()
            .expect("metrics")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["PutEventsCalls"].as_u64())
            .sum();
        let counted = self.stack.proxy().fired(put_events);
        ensure!(
            calls >= counted,
            "the proxy saw {counted} PutEvents at 25 ms, the metrics count {calls} in all"
        );
        Ok(Figures {
            records: total,
            seconds,
            put_events: calls,
            checkpoint_writes: self.stack.proxy().fired(checkpoint_writes),
            peak_rss_kb,
            concurrency,
            ahead,
        })
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // moto with the function's resources, behind the fault proxy (10 s attempts).
    let stack = Stack::builder()
        .fault_proxy(Duration::from_secs(10))
        .start()
        .await?;
    stack.proxy().keep_log(false);
    let args = Args::parse()?;
    let quick = args.quick;
    let mut bench = Bench {
        stack,
        next_sequence: 1,
        runs: 0,
        args,
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "# Latency model ({profile}): PutEvents {PUT_EVENTS_MS} ms, DynamoDB {DYNAMODB_MS} ms, SQS {SQS_MS} ms; tail: 1 PutEvents in 50 takes {TAIL_MS} ms\n"
    );
    // (batch, records per run): enough batches for the per-batch calls to count, few enough that
    // the whole benchmark takes minutes. The seed pattern (a request and a checkpoint per record)
    // costs ~31 ms per record whatever the batch, so it runs 1,000 records and not the
    // 10,000-record batch (about 5 minutes on its own).
    // `-- quick`: a smoke run of every mode with few records (checks the example, not a figure).
    let plan: Vec<(usize, usize)> = if quick {
        vec![(100, 200), (1_000, 1_000)]
    } else {
        vec![(100, 1_000), (1_000, 2_000), (10_000, 10_000)]
    };
    let mut runs: Vec<(Backend, bool, Mode, usize, usize)> = Vec::new();
    for backend in [Backend::Proxy, Backend::Moto] {
        for &(batch, total) in &plan {
            for mode in [Mode::Sequential, Mode::Default, Mode::Seed] {
                if mode == Mode::Seed && batch > 1_000 {
                    continue;
                }
                let total = if mode == Mode::Seed {
                    total.min(if quick { 100 } else { 1_000 })
                } else {
                    total
                };
                runs.push((backend, false, mode, batch, total));
            }
        }
        for &(batch, total) in &plan {
            runs.push((backend, true, Mode::Default, batch, total));
        }
    }
    runs.retain(|&(backend, tail, mode, batch, _)| bench.args.wants(backend, tail, mode, batch));
    for (backend, tail, mode, batch, total) in runs {
        let f = bench.run(mode, backend, tail, batch, total).await?;
        let per_k = |n: u64| n as f64 * 1000.0 / f.records as f64;
        println!(
            "latency-model batch={batch} concurrency={} records_per_s={:.0} putevents={:.1} checkpoint_writes={:.1} peak_rss_mib={:.1} mode={} backend={} tail={} records={} seconds={:.2} ahead={}",
            f.concurrency,
            f.records as f64 / f.seconds,
            per_k(f.put_events),
            per_k(f.checkpoint_writes),
            f.peak_rss_kb as f64 / 1024.0,
            mode.name(),
            backend.name(),
            if tail { "1in50x250ms" } else { "none" },
            f.records,
            f.seconds,
            f.ahead,
        );
    }
    Ok(())
}
