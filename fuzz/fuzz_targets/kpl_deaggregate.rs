//! Fuzz target: see `fuzz/checks/kpl_deaggregate.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::kpl_deaggregate::run(data));
