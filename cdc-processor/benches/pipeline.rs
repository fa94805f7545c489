//! Throughput of the typed pipeline against a baseline measured in the same run: base64 decode +
//! `serde_json::Value` parse + serialize of the same records. Per format, a narrow table
//! (`team_members`, 10 columns) and a wide one (`calls`, 31 columns), redaction on and off;
//! batches of 1,000 records. See docs/benchmarks.md.
//!
//! `cargo bench -p cdc-processor --bench pipeline`

#[path = "data.rs"]
mod data;

use cdc_models::Table;
use cdc_processor::config::Redaction;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use data::Fmt;
use std::time::Duration;

const BATCH: usize = 1000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pipeline");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for table in [Table::TeamMembers, Table::Calls] {
        for fmt in Fmt::ALL {
            let event = data::event(&data::records(fmt, table, BATCH));
            let id = format!("{}/{}", fmt.name(), table.name());
            group.bench_with_input(BenchmarkId::new("baseline", &id), &event, |b, e| {
                b.iter(|| data::baseline(e))
            });
            for redaction in [true, false] {
                let r = if redaction {
                    Redaction::with_key(b"bench-hmac-key-0123456789abcdef-0123".to_vec()).unwrap()
                } else {
                    Redaction::Disabled
                };
                let pipeline = data::pipeline(r);
                let report = rt.block_on(pipeline.process_lenient_event(&event, "bench"));
                assert_eq!(
                    report.counts.published,
                    BATCH as u64,
                    "{id}: {:?}",
                    report.records.first()
                );
                let name = if redaction {
                    "typed+redaction"
                } else {
                    "typed"
                };
                group.bench_with_input(BenchmarkId::new(name, &id), &event, |b, e| {
                    b.iter(|| rt.block_on(pipeline.process_lenient_event(e, "bench")))
                });
                // With the Lambda's log subscriber (JSON, `info`) writing to a sink: what logging
                // costs in production, where the others measure none (docs/benchmarks.md).
                if !redaction {
                    let logs = tracing::Dispatch::new(cdc_processor::aws::lambda::json_subscriber(
                        std::io::sink,
                    ));
                    group.bench_with_input(BenchmarkId::new("typed+logs", &id), &event, |b, e| {
                        b.iter(|| {
                            tracing::dispatcher::with_default(&logs, || {
                                rt.block_on(pipeline.process_lenient_event(e, "bench"))
                            })
                        })
                    });
                }
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
