//! Fuzz target: see `fuzz/checks/pipeline_batch.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::pipeline_batch::run(data));
