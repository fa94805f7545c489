//! The same benchmark with mimalloc as the global allocator (baseline and typed path alike), to
//! see how much of the difference is the allocator. See docs/benchmarks.md.
//!
//! `cargo bench -p cdc-processor --bench pipeline_mimalloc`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "data.rs"]
mod data;

use cdc_models::Table;
use cdc_processor::config::{PipelineConfig, Redaction};
use cdc_processor::testing::MemoryDeadLetterSink;
use cdc_processor::Pipeline;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use data::{Fmt, NullCheckpoints, NullPublisher};
use std::time::Duration;

const BATCH: usize = 1000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pipeline-mimalloc");
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
                    Redaction::with_key(b"bench-hmac-key-0123456789".to_vec()).unwrap()
                } else {
                    Redaction::Disabled
                };
                let mut config = PipelineConfig::new(r);
                config
                    .set_table_allow_list(Table::ALL.iter().map(|t| t.name()))
                    .unwrap();
                let pipeline = Pipeline::new(
                    config,
                    NullPublisher::default(),
                    NullCheckpoints,
                    MemoryDeadLetterSink::new(),
                );
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
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
