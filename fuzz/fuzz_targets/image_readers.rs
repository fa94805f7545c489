//! Fuzz target: see `fuzz/checks/image_readers.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::image_readers::run(data));
