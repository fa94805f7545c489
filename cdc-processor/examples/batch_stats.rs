//! Peak memory of a 10,000-record batch and PutEvents requests per 1,000 events.
//!
//! `cargo run --release -p cdc-processor --example batch_stats`
//!
//! Builds a Lambda Kinesis event of 10,000 records (the four source encodings, a narrow and a wide
//! table, distinct keys), processes it once with redaction on, and prints the process's resident
//! memory before and its peak during processing (Linux `/proc/self/status` VmRSS / VmHWM, the
//! peak reset through `/proc/self/clear_refs` before processing), the time taken, and the PutEvents
//! requests made per 1,000 published events.

#[path = "../benches/data.rs"]
mod data;

use cdc_models::Table;
use cdc_processor::config::Redaction;
use data::Fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    const N: usize = 10_000;
    let per = N / 8;
    let mut records = Vec::with_capacity(N);
    for table in [Table::TeamMembers, Table::Calls] {
        for fmt in Fmt::ALL {
            records.extend(data::records(fmt, table, per));
        }
    }
    let event = data::event(&records);
    let input_bytes: usize = event.records.iter().map(|r| r.kinesis.data.len()).sum();
    drop(records);

    let pipeline = data::pipeline(
        Redaction::with_key(b"bench-hmac-key-0123456789abcdef-0123".to_vec()).expect("key"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    let rss_before = status_kib("VmRSS:").unwrap_or(0);
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    let report = rt.block_on(pipeline.process_lenient_event(&event, "stats"));
    let elapsed = started.elapsed();
    let peak = status_kib("VmHWM:").unwrap_or(0);

    let published = report.counts.published;
    let requests = pipeline.publisher().requests.load(Ordering::Relaxed);
    let entries = pipeline.publisher().entries.load(Ordering::Relaxed);
    println!(
        "records: {N} ({} KiB of base64 data in the event)",
        input_bytes / 1024
    );
    println!(
        "published: {published}, dead-lettered: {}, failed: {}",
        report.counts.dead_lettered_total(),
        report.counts.failed
    );
    println!(
        "time: {:.1} ms ({:.0} records/s)",
        elapsed.as_secs_f64() * 1e3,
        N as f64 / elapsed.as_secs_f64()
    );
    println!(
        "RSS before processing: {:.1} MiB",
        rss_before as f64 / 1024.0
    );
    println!(
        "peak RSS while processing: {:.1} MiB{}",
        peak as f64 / 1024.0,
        if reset {
            ""
        } else {
            " (peak not reset: includes building the input)"
        }
    );
    println!(
        "PutEvents requests: {requests} for {entries} entries = {:.1} per 1,000 events",
        requests as f64 * 1000.0 / entries.max(1) as f64
    );
    assert_eq!(published, N as u64, "every record is published");
}
