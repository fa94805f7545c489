//! `AWS_ENDPOINT_URL` is honoured by aws-config's default chain: [`AppState::from_env`] — the
//! function's own init, which does not pass an endpoint itself — reaches moto through it (reading
//! the HMAC key secret, then publishing). The test runs alone in a process of its own
//! ([`crate::support::process::alone`]), because it sets process environment variables.

use crate::support::aws::drain;
use crate::support::process::alone;
use aws_lambda_events::event::kinesis::KinesisEvent;
use base64::Engine;
use cdc_processor::aws::lambda::{handler, AppState};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use testkit::stack::{CHECKPOINT_TABLE, STATE_TABLE, STREAM};
use testkit::Stack;

#[tokio::test]
async fn init_from_the_environment_reaches_the_emulator_through_aws_endpoint_url() {
    if !alone(concat!(
        module_path!(),
        "::init_from_the_environment_reaches_the_emulator_through_aws_endpoint_url"
    )) {
        return;
    }
    let stack = Stack::builder()
        .route("routed", &["agents"])
        .hmac_key_secret("cdc/redaction-hmac-key")
        .start()
        .await
        .unwrap();
    let sqs = stack.sqs();

    for (k, v) in [
        ("AWS_ENDPOINT_URL", stack.moto_endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("KINESIS_STREAM_NAME", STREAM),
        ("STATE_TABLE_NAME", STATE_TABLE),
        ("CHECKPOINT_TABLE_NAME", CHECKPOINT_TABLE),
        ("DLQ_QUEUE_URL", stack.dlq.as_str()),
        ("REDACTION_HMAC_KEY_SECRET_ARN", "cdc/redaction-hmac-key"),
    ] {
        std::env::set_var(k, v);
    }
    for k in [
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "REDACTION_HMAC_KEY",
    ] {
        std::env::remove_var(k);
    }
    let state = AppState::from_env()
        .await
        .expect("init from the environment");
    assert_eq!(
        state.settings().endpoint_url.as_deref(),
        Some(stack.moto_endpoint())
    );

    let row = std::fs::read(testkit::workspace_root().join("model-schemas/examples/agents.json"))
        .unwrap();
    let row: serde_json::Value = serde_json::from_slice(&row).unwrap();
    let data =
        json!({"table": "agents", "operation": "INSERT", "timestamp": "2026-11-25T10:00:00Z",
                      "before": null, "after": row})
        .to_string();
    let event: KinesisEvent = serde_json::from_value(json!({"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "agents#1",
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "approximateArrivalTimestamp": 1764064800.0
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream"
    }]}))
    .unwrap();
    let response = handler(&state, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let routed = drain(&sqs, stack.routed()).await.unwrap();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0]["detail"]["table"], "agents");
    assert_eq!(
        routed[0]["detail"]["metadata"]["sequenceNumber"],
        "49590338271490256608559692538361571095921575989136588898"
    );
}
