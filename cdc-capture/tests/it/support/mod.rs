//! Test support shared by the integration tests and `examples/demo.rs` (each uses a part).
#![allow(dead_code)]

pub mod chain;
pub mod demo;
