//! consumer-sdk's tests, one binary: typed changes of every table, errors, schema evolution, the
//! wallboard example's binary, and (feature `lambda`) the Lambda adapters (the dependency tree is
//! checked with the other crates' in `cdc-ops/tests/it/deps.rs`). The tests against moto (SQS
//! poller, EventBridge patterns, the wallboard's SQS mode, DynamoDB dedupe) are in the
//! `consumer-sdk-it` package (`consumer-sdk/it/`), so that the AWS SDK is no dev-dependency here.

mod common;
mod errors;
mod evolution;
#[cfg(feature = "lambda")]
mod lambda;
mod tables;
mod wallboard_cli;
