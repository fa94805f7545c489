//! Dead letters in SQS (moto): the seed's message plus the Kinesis pointer and format, batching,
//! FIFO queues, and failures reported per letter.

use crate::support::aws::drain_messages;
use cdc_processor::aws::sqs::SqsDeadLetterSink;
use cdc_processor::error::ErrorCode;
use cdc_processor::ports::{DeadLetter, DeadLetterError, DeadLetterSink, KinesisPointer};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use testkit::stack::create_queue;

fn letter(n: u64, code: ErrorCode) -> DeadLetter {
    DeadLetter {
        original_event: json!({
            "eventID": format!("shardId-000000000000:{n}"),
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream",
            "kinesis": {
                "data": "bm90IGpzb24=",
                "partitionKey": format!("users#{n}"),
                "sequenceNumber": n.to_string(),
                "approximateArrivalTimestamp": 1705314600.0,
            }
        }),
        error: DeadLetterError {
            message: "invalid JSON at line 1 column 2".into(),
            code,
            stack: "decode: json".into(),
        },
        attempts: 1,
        last_attempt: Utc.with_ymd_and_hms(2024, 1, 15, 10, 35, 0).unwrap(),
        kinesis: KinesisPointer {
            stream_arn: Some(
                "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream".into(),
            ),
            shard_id: Some("shardId-000000000000".into()),
            sequence_number: Some(n.to_string()),
            sub_sequence_number: None,
            partition_key: Some(format!("users#{n}")),
        },
        source_format: Some("debezium".into()),
        event_id: None,
    }
}

#[tokio::test]
async fn twelve_letters_arrive_as_documented_over_two_batches() {
    let moto = testkit::Moto::start();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let (url, _) = create_queue(&sqs, "cdc-dlq").await.unwrap();
    let sink = SqsDeadLetterSink::new(sqs.clone(), &url);
    let letters: Vec<_> = (1..=12)
        .map(|n| {
            letter(
                n,
                if [3, 6, 9, 12].contains(&n) {
                    ErrorCode::ValidationError
                } else {
                    ErrorCode::ParseError
                },
            )
        })
        .collect();
    // 12 letters: more than SendMessageBatch takes (10), which moto enforces.
    let results = sink.send(&letters).await;
    assert_eq!(results.len(), 12);
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let mut got = drain_messages(&sqs, &url).await.unwrap();
    assert_eq!(got.len(), 12);
    got.sort_by_key(|(b, _)| {
        b["kinesis"]["sequenceNumber"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    for ((body, attrs), l) in got.iter().zip(&letters) {
        // The seed's structure plus pointer and format, exactly as serialized.
        assert_eq!(body, &serde_json::to_value(l).unwrap());
        for field in [
            "originalEvent",
            "error",
            "attempts",
            "lastAttempt",
            "kinesis",
            "sourceFormat",
        ] {
            assert!(body.get(field).is_some(), "{field} missing");
        }
        for field in ["message", "code", "stack"] {
            assert!(body["error"].get(field).is_some(), "error.{field} missing");
        }
        assert_eq!(body["error"]["code"], Value::from(l.error.code.as_str()));
        assert_eq!(body["lastAttempt"], "2024-01-15T10:35:00Z");
        assert_eq!(attrs["errorCode"], l.error.code.as_str());
        assert_eq!(attrs["sourceFormat"], "debezium");
        assert_eq!(attrs["shardId"], "shardId-000000000000");
    }
}

#[tokio::test]
async fn a_fifo_queue_gets_groups_and_deduplication_ids() {
    let moto = testkit::Moto::start();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let url = sqs
        .create_queue()
        .queue_name("cdc-dlq.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sink = SqsDeadLetterSink::new(sqs.clone(), &url);
    let letters = vec![
        letter(1, ErrorCode::ParseError),
        letter(2, ErrorCode::EntryTooLarge),
    ];
    assert!(sink.send(&letters).await.iter().all(Result::is_ok));
    let got = drain_messages(&sqs, &url).await.unwrap();
    let seqs: Vec<_> = got
        .iter()
        .map(|(b, _)| b["kinesis"]["sequenceNumber"].clone())
        .collect();
    assert_eq!(
        seqs,
        vec![json!("1"), json!("2")],
        "FIFO order within the shard's group"
    );
}

#[tokio::test]
async fn an_oversize_letter_fails_alone() {
    let moto = testkit::Moto::start();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let (url, _) = create_queue(&sqs, "cdc-dlq").await.unwrap();
    let sink = SqsDeadLetterSink::new(sqs.clone(), &url);
    let mut big = letter(2, ErrorCode::EntryTooLarge);
    big.original_event["kinesis"]["data"] = json!("A".repeat(1_100_000));
    let letters = vec![
        letter(1, ErrorCode::ParseError),
        big,
        letter(3, ErrorCode::ParseError),
    ];
    let results = sink.send(&letters).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    assert!(err.0.contains("over the SQS message limit"), "{err}");
    assert!(!err.0.contains("AAAA"), "record contents in the error");
    assert_eq!(drain_messages(&sqs, &url).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_missing_queue_fails_every_letter() {
    let moto = testkit::Moto::start();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let url = format!("{}/123456789012/no-such-queue", moto.endpoint());
    let sink = SqsDeadLetterSink::new(sqs, url);
    let results = sink
        .send(&[
            letter(1, ErrorCode::ParseError),
            letter(2, ErrorCode::ParseError),
        ])
        .await;
    assert_eq!(results.len(), 2);
    for r in results {
        let err = r.unwrap_err();
        assert!(err.0.contains("SendMessageBatch failed"), "{err}");
    }
}
