//! The `sqs` poller against moto: receive, parse, hand to the callback, delete on success; leave
//! unreadable and failed messages in the queue.

use crate::common::{build, example, sqs_body, Opts};
use cdc_models::{Operation, Table};
use consumer_sdk::sqs::SqsPoller;
use consumer_sdk::{Event, FailureReason};
use std::ops::ControlFlow;

fn body(id: u64) -> String {
    let row = example(Table::QueueMetrics);
    let opts = Opts {
        id,
        ..Opts::default()
    };
    sqs_body(
        &build(
            Table::QueueMetrics,
            Operation::Update,
            Some(&row),
            Some(&row),
            &opts,
        )
        .detail,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_deletes_handled_messages_and_leaves_the_rest() {
    let moto = testkit::Moto::start();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name("wallboards")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut unreadable: serde_json::Value = serde_json::from_str(&body(2)).unwrap();
    unreadable["detail"] = serde_json::json!(42);
    for b in [body(1), unreadable.to_string(), body(3), body(4)] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(b)
            .send()
            .await
            .unwrap();
    }

    let poller = SqsPoller::new(sqs.clone(), &url)
        .wait_time_seconds(1)
        .visibility_timeout(1);
    let refuse = crate::common::event_id(3);
    let mut handled: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    let mut deleted = 0;
    let mut idle = 0;
    poller
        .run(
            async |e: Event| {
                if e.dedupe_key() == refuse {
                    return Err(format!("cannot apply {}", e.dedupe_key()));
                }
                handled.push(e.dedupe_key().to_string());
                Ok(())
            },
            |outcome| {
                deleted += outcome.deleted;
                failures.extend(outcome.failures);
                if outcome.received == 0 {
                    idle += 1;
                }
                // Stop once everything was seen once (moto may split the batch) or when idle.
                if failures.len() >= 2 && deleted >= 2 || idle >= 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .await
        .unwrap();
    handled.sort();
    assert_eq!(
        handled,
        [crate::common::event_id(1), crate::common::event_id(4)]
    );
    assert_eq!(deleted, 2);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures
        .iter()
        .any(|f| matches!(&f.reason, FailureReason::Parse(e) if e.path() == "$.detail")));
    assert!(failures
        .iter()
        .any(|f| matches!(&f.reason, FailureReason::Handler(m) if m.contains(&refuse))));

    // The two failed messages are still in the queue and come back after the visibility timeout;
    // the handled ones are gone.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut again = Vec::new();
    for _ in 0..3 {
        let out = poller
            .poll_once(async |e: Event| {
                again.push(e.dedupe_key().to_string());
                Err::<(), _>("still failing")
            })
            .await
            .unwrap();
        if out.received == 0 && !again.is_empty() {
            break;
        }
    }
    assert_eq!(again, [crate::common::event_id(3)]);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let visible: u32 = attrs[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap();
    let in_flight: u32 = attrs
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
        .parse()
        .unwrap();
    assert_eq!(visible + in_flight, 2, "the two failed messages remain");
}
