//! Fuzz target: see `fuzz/checks/decode_record.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decode_record::run(data));
