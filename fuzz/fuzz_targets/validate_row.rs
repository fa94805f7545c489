//! Fuzz target: see `fuzz/checks/validate_row.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::validate_row::run(data));
