//! consumer-sdk against moto, one binary: the SQS poller, `EventPattern` rules on a real bus, the
//! wallboard example's SQS mode, and durable dedupe on DynamoDB. They live in this package, not in
//! consumer-sdk, so that building consumer-sdk's examples builds no AWS SDK dev-dependency.

#[path = "../../../tests/it/common.rs"]
mod common;
mod dedupe;
mod moto_patterns;
mod sqs_poller;
#[allow(dead_code)]
#[path = "../../../examples/wallboard.rs"]
mod wallboard;
mod wallboard_sqs;
