//! What the logs say about records: at INFO (the Lambdas' default) a record that goes wrong is
//! named by its own fields, and a record that publishes logs nothing; at DEBUG every record has
//! its span. Each test captures its own thread's logs, alone in a process of its own
//! ([`alone`]): which callsites are enabled is cached for the whole process, and other tests'
//! threads (with no subscriber) racing the capture leave spans out.

use crate::support::process::alone;
use crate::support::*;
use serde_json::{json, Value};

/// One good record, then one the schema rejects (dead-lettered), then one good record.
async fn run_batch() -> cdc_processor::BatchReport {
    let records = vec![
        insert_example("users", &[]),
        insert_example("users", &[("status", json!("on-holiday"))]),
        insert_example(
            "users",
            &[("id", json!("00000000-0000-4000-8000-000000000002"))],
        ),
    ];
    let p = pipeline(redacting_config());
    p.process_kinesis_event(&kinesis_event(records), "test")
        .await
}

#[tokio::test]
async fn at_info_a_failed_record_names_itself_and_published_ones_are_silent() {
    if !alone(concat!(
        module_path!(),
        "::at_info_a_failed_record_names_itself_and_published_ones_are_silent"
    )) {
        return;
    }
    let buf = LogBuffer::default();
    let writer = buf.clone();
    // The Lambdas' own subscriber, at its default level.
    let subscriber = cdc_processor::aws::lambda::json_subscriber(move || writer.clone());
    let report = {
        let _guard = tracing::subscriber::set_default(subscriber);
        run_batch().await
    };
    assert_eq!(report.counts.published, 2);
    assert_eq!(report.counts.dead_lettered_total(), 1);
    let lines = buf.json_lines();
    let dead: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "dead-lettered")
        .collect();
    assert_eq!(dead.len(), 1, "{lines:#?}");
    let f = &dead[0]["fields"];
    let outcome = &report.records[1];
    assert_eq!(f["shard"], SHARD);
    assert_eq!(f["sequence_number"], seq(1));
    assert_eq!(f["event_id"], json!(outcome.event_id.as_deref()));
    assert_eq!(f["table"], "users");
    assert_eq!(f["operation"], "INSERT");
    assert_eq!(f["source_format"], "coredb-trigger");
    assert_eq!(f["code"], "VALIDATION_ERROR");
    assert_eq!(dead[0]["level"], "WARN");
    // No record span at INFO, and nothing about the published records.
    assert!(lines.iter().all(|l| l.get("span").is_none()), "{lines:#?}");
    for published in [&report.records[0], &report.records[2]] {
        let id = published.event_id.as_deref().unwrap();
        assert!(
            lines.iter().all(|l| !l.to_string().contains(id)),
            "a published record was logged at INFO: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn at_debug_every_record_has_its_span() {
    if !alone(concat!(
        module_path!(),
        "::at_debug_every_record_has_its_span"
    )) {
        return;
    }
    let buf = LogBuffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();
    let report = {
        let _guard = tracing::subscriber::set_default(subscriber);
        run_batch().await
    };
    let lines = buf.json_lines();
    assert_eq!(report.records.len(), 3, "one outcome per record");
    for (i, outcome) in report.records.iter().enumerate() {
        let id = json!(outcome.event_id.as_deref());
        let in_span: Vec<&Value> = lines
            .iter()
            .filter(|l| l["span"]["name"] == "record" && l["span"]["event_id"] == id)
            .collect();
        assert!(!in_span.is_empty(), "record {i} has no span: {lines:#?}");
        let span = &in_span[0]["span"];
        assert_eq!(span["sequence_number"], seq(i));
        assert_eq!(span["table"], "users");
    }
}
