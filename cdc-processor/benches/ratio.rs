//! Typed ÷ baseline throughput, measured so that the ratio is reproducible on a noisy machine:
//! the two run alternately, one batch each, many rounds, and each side keeps its fastest batch
//! (the time least disturbed by other work). `pipeline` (criterion) gives rates with confidence
//! intervals; this gives the ratio the goal is about. See docs/benchmarks.md.
//!
//! `cargo bench -p cdc-processor --bench ratio [-- ROUNDS] [--batch RECORDS] [--redact] [--only ROW]`
//!
//! `--redact` runs the typed pipeline with redaction on (the HMAC key of a deployment; each
//! table's policies applied, as deployed) instead of `Redaction::Disabled`; the baseline is the
//! same either way.
//!
//! `--only ROW` runs one row of the table (`--only "dms team_members"`), for profiling one
//! format's typed path (`perf record`) without the other rows' samples.
//!
//! `--batch` sets the records per Lambda batch (default 1,000; the deployed template's
//! `KinesisBatchSize` defaults to 100). `scripts/bench-layouts.sh` runs it over several random
//! code layouts.

#[path = "data.rs"]
mod data;

use cdc_models::Table;
use cdc_processor::config::Redaction;
use data::Fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Records per batch unless `--batch` says otherwise.
const DEFAULT_BATCH: usize = 1000;

fn fastest(times: &[Duration]) -> f64 {
    times
        .iter()
        .min()
        .expect("at least one round")
        .as_secs_f64()
}

fn main() {
    let mut rounds = 200;
    let mut batch = DEFAULT_BATCH;
    let mut redact = false;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--batch" {
            batch = args
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .expect("--batch takes a number of records");
        } else if arg == "--only" {
            only = Some(
                args.next()
                    .expect("--only takes a row, e.g. \"dms team_members\""),
            );
        } else if arg == "--redact" {
            redact = true;
        } else if let Ok(n) = arg.parse() {
            rounds = n;
        }
        // Anything else is cargo's (`--bench`).
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let batches: Vec<_> = [Table::TeamMembers, Table::Calls]
        .into_iter()
        .flat_map(|table| Fmt::ALL.map(move |fmt| (fmt, table)))
        .filter(|(fmt, table)| {
            only.as_ref()
                .is_none_or(|row| *row == format!("{} {}", fmt.name(), table.name()))
        })
        .map(|(fmt, table)| {
            let event = data::event(&data::records(fmt, table, batch));
            let redaction = if redact {
                Redaction::with_key(b"ratio-benchmark-hmac-key-0123456789abcdef".to_vec())
                    .expect("a key of 32 bytes or more")
            } else {
                Redaction::Disabled
            };
            let pipeline = data::pipeline(redaction);
            let report = rt.block_on(pipeline.process_lenient_event(&event, "ratio"));
            assert_eq!(report.counts.published, batch as u64);
            (fmt, table, event, pipeline)
        })
        .collect();
    assert!(!batches.is_empty(), "--only matches no row");
    // Every round times every batch, so that a slow spell of the machine hits all of them alike.
    let mut times = vec![(Vec::new(), Vec::new()); batches.len()];
    for round in 0..rounds + 10 {
        for ((_, _, event, pipeline), (base, typed)) in batches.iter().zip(&mut times) {
            let t = Instant::now();
            black_box(data::baseline(black_box(event)));
            let b = t.elapsed();
            let t = Instant::now();
            black_box(rt.block_on(pipeline.process_lenient_event(black_box(event), "ratio")));
            let p = t.elapsed();
            // The first rounds warm caches and the allocator up.
            if round >= 10 {
                base.push(b);
                typed.push(p);
            }
        }
    }
    let redaction = if redact { "on" } else { "off" };
    println!("{batch} records per batch, {rounds} rounds, redaction {redaction}");
    println!(
        "| batch | baseline ns/record | typed ns/record | typed ÷ baseline, fastest | typed ÷ baseline, median round |"
    );
    println!("|---|---|---|---|---|");
    for ((fmt, table, _, _), (base, typed)) in batches.iter().zip(&times) {
        let (b, p) = (fastest(base), fastest(typed));
        // Each round's two batches ran back to back: their ratio is the least disturbed by drift.
        let mut paired: Vec<f64> = base
            .iter()
            .zip(typed)
            .map(|(b, p)| b.as_secs_f64() / p.as_secs_f64())
            .collect();
        paired.sort_by(f64::total_cmp);
        println!(
            "| {} {} | {:.0} | {:.0} | {:.2}× | {:.2}× |",
            fmt.name(),
            table.name(),
            b * 1e9 / batch as f64,
            p * 1e9 / batch as f64,
            b / p,
            paired[paired.len() / 2]
        );
    }
}
