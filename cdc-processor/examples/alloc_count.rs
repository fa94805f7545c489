//! Heap allocations per record: the typed pipeline beside the baseline, per format and table.
//!
//! `cargo run --release -p cdc-processor --example alloc_count`

#[path = "../benches/data.rs"]
mod data;

use cdc_models::Table;
use cdc_processor::config::Redaction;
use data::Fmt;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (incl. reallocations) and bytes allocated while `f` runs.
fn count<T>(f: impl FnOnce() -> T) -> (usize, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let s = region.change();
    drop(out);
    (
        s.allocations + s.reallocations,
        s.bytes_allocated + s.bytes_reallocated.max(0) as usize,
    )
}

fn main() {
    const N: usize = 1000;
    // Optional filter on "format/table", e.g. `coredb-trigger/team_members`.
    let filter = std::env::args().nth(1).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    println!(
        "| format | table | baseline allocs/record | typed allocs/record | typed bytes/record |"
    );
    println!("|---|---|---|---|---|");
    for table in [Table::TeamMembers, Table::Calls] {
        for fmt in Fmt::ALL {
            let id = format!("{}/{}", fmt.name(), table.name());
            if !id.contains(&filter) {
                continue;
            }
            let event = data::event(&data::records(fmt, table, N));
            let pipeline = data::pipeline(Redaction::Disabled);
            let (base, _) = count(|| data::baseline(&event));
            let (typed, bytes) =
                count(|| rt.block_on(pipeline.process_lenient_event(&event, "allocs")));
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.0} |",
                fmt.name(),
                table.name(),
                base as f64 / N as f64,
                typed as f64 / N as f64,
                bytes as f64 / N as f64
            );
        }
    }
}
