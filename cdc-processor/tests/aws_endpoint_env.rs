//! `AWS_ENDPOINT_URL` is honoured by aws-config's default chain: [`AppState::from_env`] — the
//! function's own init, which does not pass an endpoint itself — reaches moto through it (reading
//! the HMAC key secret, then publishing). One test alone in this binary, because it sets process
//! environment variables.

mod aws_support;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_support::{bus_to_queue, create_queue, drain};
use base64::Engine;
use cdc_processor::aws::lambda::{handler, AppState};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use testkit::dynamodb::create_table;

#[tokio::test]
async fn init_from_the_environment_reaches_the_emulator_through_aws_endpoint_url() {
    let moto = testkit::Moto::start();
    let sdk = moto.sdk_config().await;
    let queue = bus_to_queue(&sdk, "cdc-events", "cdc-pipeline", &["agents"], "routed")
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&ddb, "cdc-pipeline-checkpoints", "pk")
        .await
        .unwrap();
    create_table(&ddb, "cdc-pipeline-state", "processor")
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (dlq, _) = create_queue(&sqs, "cdc-pipeline-dlq").await.unwrap();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("cdc/redaction-hmac-key")
        .secret_string("endpoint-test-hmac-key-0123456789abcdef")
        .send()
        .await
        .unwrap();

    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.endpoint().as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("KINESIS_STREAM_NAME", "coredb-cdc-stream"),
        ("STATE_TABLE_NAME", "cdc-pipeline-state"),
        ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints"),
        ("DLQ_QUEUE_URL", dlq.as_str()),
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
        Some(moto.endpoint().as_str())
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
    let routed = drain(&sqs, &queue).await.unwrap();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0]["detail"]["table"], "agents");
    assert_eq!(
        routed[0]["detail"]["metadata"]["sequenceNumber"],
        "49590338271490256608559692538361571095921575989136588898"
    );
}
