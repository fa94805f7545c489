//! Fuzz target: see `fuzz/checks/normalize_value.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::normalize_value::run(data));
