//! The wallboard example's SQS mode end to end against moto (feature `sqs`): the example's own
//! code, included as a module, reads the queue an `EventPattern` rule feeds and must build the same
//! board as from the sample file.

use crate::wallboard;

const EVENTS: &str = include_str!("../../../examples/wallboard-events.jsonl");

/// The SQS mode end to end against moto: a bus, a rule built with `EventPattern` for the
/// wallboard's tables, its queue, the sample events put on the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_from_the_emulator_queue() {
    use consumer_sdk::{EventPattern, Table};
    let moto = testkit::Moto::start();
    let config = moto.sdk_config().await;
    let eb = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    eb.create_event_bus()
        .name("cdc-events")
        .send()
        .await
        .unwrap();
    let url = sqs
        .create_queue()
        .queue_name("wallboards")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let pattern = EventPattern::new()
        .sources(["cdc-pipeline"])
        .tables([Table::AgentStates, Table::QueueMetrics, Table::Teams])
        .build_string()
        .unwrap();
    eb.put_rule()
        .name("wallboards")
        .event_bus_name("cdc-events")
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("wallboards")
        .event_bus_name("cdc-events")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let details: Vec<serde_json::Value> = EVENTS
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["detail"].clone())
        .collect();
    // One PutEvents per entry keeps the order the file has (the queue is not FIFO, but moto
    // delivers in arrival order).
    for d in &details {
        eb.put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name("cdc-events")
                    .source("cdc-pipeline")
                    .detail_type("CDC.TableChange")
                    .detail(d.to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // The example reads AWS_* from the environment, as a service would.
    std::env::set_var("AWS_ENDPOINT_URL", moto.endpoint());
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let mut from_queue = wallboard::Board::default();
    wallboard::run_sqs(&mut from_queue, &url, Some(2))
        .await
        .unwrap();

    let mut from_file = wallboard::Board::default();
    wallboard::run_file(&mut from_file, EVENTS);
    assert_eq!(from_queue.agents, from_file.agents);
    assert_eq!(from_queue.queues, from_file.queues);
    assert_eq!(from_queue.team_names, from_file.team_names);
    // The rule kept `calls` and the unknown table out of the queue.
    assert_eq!(from_queue.counts.get("other tables"), None);
}
