//! The `cdc-processor` crate's integration tests, one binary (`cargo test -p cdc-processor --test
//! it`; one area: `--test it reliability_faults`). A module per area, named as its file was when
//! each was a binary of its own, and one [`support`] module they share: fixtures and the
//! in-memory pipeline, the moto stack (`testkit::Stack`), the Lambda-style driver and the real
//! binary on the Runtime API emulator.

mod support;

mod aws_config;
mod aws_dlq;
mod aws_e2e;
mod aws_endpoint_env;
mod aws_publisher;
mod aws_state;
mod bad_input;
mod contract;
mod contract_fidelity;
mod formats;
mod fuzz_regressions;
mod local;
mod local_progress;
mod logging;
mod pii_canary;
mod pipeline;
mod properties;
mod reliability_faults;
