//! What the pipeline publishes, with in-memory ports: KPL aggregates de-aggregated in order, changes
//! of one key in order, the detail contract and the generated event schemas, sequence numbers
//! compared as numbers, repeated positions, raw records and tables not captured, source positions.

use super::*;

#[tokio::test]
async fn kpl_aggregates_are_deaggregated_in_order() {
    let users: Vec<Vec<u8>> = (0..4).map(user_insert).collect();
    let agg = AggregatedRecord {
        partition_key_table: vec!["a".into(), "b".into()],
        explicit_hash_key_table: vec![],
        records: users
            .iter()
            .enumerate()
            .map(|(i, d)| Record {
                partition_key_index: (i % 2) as u64,
                explicit_hash_key_index: None,
                data: d.clone(),
                tags: vec![],
            })
            .collect(),
    };
    let good = aggregate(&agg);
    let mut broken_md5 = good.clone();
    let n = broken_md5.len();
    broken_md5[n - 1] ^= 0x55;
    let truncated = good[..good.len() / 2].to_vec();
    let event = kinesis_event(vec![good, broken_md5, truncated, user_insert(9)]);
    let p = pipeline(redacting_config());
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.records_in, 4 + 1 + 1 + 1);
    assert_eq!(report.counts.published, 5);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ParseError], 2);
    assert_eq!(
        published_names(&p),
        vec!["User 0", "User 1", "User 2", "User 3", "User 9"]
    );
    // User records keep the parent sequence number plus a sub-sequence number.
    let subs: Vec<Option<u64>> = report
        .records
        .iter()
        .map(|r| r.sub_sequence_number)
        .collect();
    assert_eq!(
        subs,
        vec![Some(0), Some(1), Some(2), Some(3), None, None, None]
    );
    let d = detail(&p.publisher().published()[2]);
    assert_eq!(d["metadata"]["subSequenceNumber"], json!(2));
    assert_eq!(d["metadata"]["sequenceNumber"], json!(seq(0)));
    // A broken MD5 passes through as a plain record (here: binary, so not JSON).
    let letters = p.dead_letters().letters();
    assert_eq!(letters[0].kinesis.sub_sequence_number, None);
    assert!(
        letters[0].error.message.contains("UTF-8"),
        "{}",
        letters[0].error.message
    );
    // The checkpoint of an aggregate counts its sub-records: a retry skips them all.
    let again = p.process_kinesis_event(&event, "test").await;
    assert_eq!(again.counts.skipped, 7);
}

#[tokio::test]
async fn changes_to_one_key_stay_in_order() {
    // 30 updates to 3 users interleaved with inserts of others: per-key order must hold.
    let mut records = Vec::new();
    for i in 0..30 {
        let mut row = crate::support::example("users");
        row.insert(
            "id".into(),
            json!(format!("00000000-0000-4000-8000-{:012}", i % 3)),
        );
        row.insert("name".into(), json!(format!("v{i}")));
        records.push(trigger("users", "UPDATE", Value::Null, Value::Object(row)));
        records.push(user_insert(100 + i));
    }
    let p = pipeline(redacting_config());
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.counts.published, 60);
    let mut last: std::collections::HashMap<String, usize> = Default::default();
    for e in p.publisher().published() {
        let d = detail(&e);
        let name = d["after"]["name"].as_str().unwrap();
        if let Some(v) = name.strip_prefix('v') {
            let v: usize = v.parse().unwrap();
            let id = d["keys"]["id"].as_str().unwrap().to_string();
            if let Some(prev) = last.insert(id, v) {
                assert!(prev < v, "key reordered: {prev} after {v}");
            }
        }
    }
    // 10 entries per request wherever keys allow it.
    let requests = p.publisher().requests();
    assert!(requests.len() <= 10, "{requests:?}");
}

#[tokio::test]
async fn detail_follows_the_contract() {
    let p = pipeline(redacting_config());
    let update = trigger(
        "users",
        "UPDATE",
        json!({"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "status": "active", "email": "a@example.com"}),
        Value::Object(crate::support::example("users")),
    );
    let report = p
        .process_kinesis_event(&kinesis_event(vec![update]), "test")
        .await;
    assert_eq!(report.counts.published, 1);
    let e = &p.publisher().published()[0];
    assert_eq!(&*e.source, "cdc-pipeline");
    assert_eq!(e.detail_type, "CDC.TableChange");
    assert_eq!(
        e.size,
        e.source.len() + e.detail_type.len() + e.detail.len() + 14
    );
    let d = detail(e);
    assert_eq!(d["version"], "1.0");
    assert_eq!(d["eventId"], json!(e.event_id));
    assert_eq!(d["eventId"].as_str().unwrap().len(), 32);
    assert_eq!(d["eventType"], "user.changed");
    assert_eq!(d["table"], "users");
    assert_eq!(d["operation"], "UPDATE");
    assert_eq!(d["timestamp"], "2026-11-25T10:14:31Z");
    assert_eq!(d["beforeImage"], "partial");
    // users' default projection is id, name, status, updated_at: the after image holds those.
    assert_eq!(d["afterImage"], "full");
    let after: BTreeSet<&str> = d["after"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        after,
        BTreeSet::from(["id", "name", "status", "updated_at"])
    );
    assert!(d["before"].get("email").is_none(), "not in the projection");
    assert_eq!(
        d["keys"],
        json!({"id": crate::support::example("users")["id"]})
    );
    assert_eq!(d["redactions"], json!({}));
    let m = &d["metadata"];
    assert_eq!(m["transactionId"], "txn-1");
    assert_eq!(m["sequenceNumber"], json!(seq(0)));
    assert_eq!(m["subSequenceNumber"], Value::Null);
    assert_eq!(m["shardId"], SHARD);
    assert_eq!(m["sourceFormat"], "coredb-trigger");
    assert_eq!(m["snapshot"], false);
    assert!(m.get("droppedColumns").is_none());

    // With every column published, redacted columns are listed; the event validates against the
    // generated event schema of the table.
    let mut config = redacting_config();
    config
        .set_table_override(
            "users",
            cdc_processor::config::TableOverride {
                event_type: Some("person.changed".into()),
                include_fields: Some(vec!["*".into()]),
            },
        )
        .unwrap();
    let p = pipeline(config);
    let mut row = crate::support::example("users");
    row.insert("favourite_colour".into(), json!("teal"));
    p.process_kinesis_event(
        &kinesis_event(vec![trigger(
            "users",
            "INSERT",
            Value::Null,
            Value::Object(row),
        )]),
        "test",
    )
    .await;
    let d = detail(&p.publisher().published()[0]);
    assert_eq!(d["eventType"], "person.changed");
    assert_eq!(
        d["redactions"],
        json!({"email": "mask", "phone": "mask", "ssn": "mask"})
    );
    assert_eq!(d["after"]["email"], "[REDACTED]");
    assert_eq!(d["metadata"]["droppedColumns"], json!(["favourite_colour"]));
    assert!(!e.detail.contains("teal"));
}

#[tokio::test]
async fn events_validate_against_the_generated_event_schemas() {
    let p = pipeline(redacting_config());
    let tables = [
        "users",
        "orders",
        "agents",
        "customers",
        "calls",
        "payments",
    ];
    let records: Vec<Vec<u8>> = tables.iter().map(|t| insert_example(t, &[])).collect();
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.counts.published, tables.len() as u64);
    for e in p.publisher().published() {
        let d = detail(&e);
        let table = d["table"].as_str().unwrap();
        let path = format!(
            "{}/../cdc-models/src/generated/event-schemas/{table}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&d).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{table}: {errors:?}");
    }
}

#[tokio::test]
async fn sequence_numbers_are_compared_as_numbers() {
    // 129-digit and shorter sequence numbers in one shard, an invalid one, and one with leading
    // zeros (the same number as the 56 nines, so not published again).
    let mut event = kinesis_event(vec![
        user_insert(0),
        user_insert(1),
        user_insert(2),
        user_insert(3),
    ]);
    let received = [
        "9".repeat(56),
        format!("1{}", "0".repeat(128)),
        "12x".into(),
        format!("000{}", "9".repeat(56)),
    ];
    for (r, s) in event.records.iter_mut().zip(&received) {
        r.kinesis.sequence_number = s.clone();
    }
    let p = pipeline(redacting_config());
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.published, 2);
    assert_eq!(report.counts.skipped, 1);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ParseError], 1);
    // The report carries each sequence number as received, leading zeros included.
    let reported: Vec<&str> = report.records.iter().map(|r| &*r.sequence_number).collect();
    assert_eq!(reported, received.each_ref().map(String::as_str));
    let cp = p.checkpoints().get(&key()).unwrap();
    assert_eq!(cp.sequence.as_str().len(), 129);
    // A 57-digit number is below the 129-digit checkpoint although it sorts after it as text.
    let mut again = kinesis_event(vec![user_insert(5)]);
    again.records[0].kinesis.sequence_number = "9".repeat(57);
    let report = p.process_kinesis_event(&again, "test").await;
    assert_eq!(report.counts.skipped, 1);
}

#[tokio::test]
async fn a_position_repeated_in_a_batch_is_published_once() {
    // Positions 10, 11, 10 again, 13, 12 (lower than the largest, never seen), 11 again.
    let sequences = ["10", "11", "10", "13", "12", "11"];
    let mut event = kinesis_event((0..sequences.len()).map(user_insert).collect());
    for (r, s) in event.records.iter_mut().zip(sequences) {
        r.kinesis.sequence_number = s.into();
    }
    let p = pipeline(redacting_config());
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.published, 4);
    assert_eq!(report.counts.skipped, 2);
    let skipped: Vec<&str> = report
        .records
        .iter()
        .filter(|r| matches!(r.disposition, Disposition::Skipped))
        .map(|r| &*r.sequence_number)
        .collect();
    assert_eq!(skipped, ["10", "11"]);
    assert_eq!(
        published_names(&p),
        ["User 0", "User 1", "User 3", "User 4"]
    );
}

#[tokio::test]
async fn raw_records_and_not_captured_tables() {
    let mut config = redacting_config();
    config.set_table_allow_list(["users"]).unwrap();
    let p = pipeline(config);
    let mut text = Vec::new();
    for r in [
        user_insert(0),
        insert_example("orders", &[]),
        b"null".to_vec(),
    ] {
        text.extend_from_slice(&r);
        text.push(b'\n');
    }
    let records = RawInput::from_json_lines("file:test.jsonl", &text);
    let report = p.process_raw_records(records, "local").await;
    assert_eq!(report.counts.published, 1);
    assert_eq!(report.counts.acknowledged, 2);
    let e = &p.publisher().published()[0];
    // Without a Kinesis pointer the id is over the record's bytes.
    assert_eq!(
        e.event_id,
        cdc_processor::decode::event_id_for_bytes(&user_insert(0))
    );
    assert_eq!(detail(e)["metadata"]["sequenceNumber"], "1");
}

/// `record` with a CoreDB trigger `position` member (appended last, as `cdc-relay` does).
fn with_position(record: Vec<u8>, position: &str) -> Vec<u8> {
    let mut text = String::from_utf8(record).unwrap();
    assert_eq!(text.pop(), Some('}'));
    text.push_str(&format!(r#", "position": "{position}"}}"#));
    text.into_bytes()
}

#[tokio::test]
async fn a_source_position_gives_the_same_id_wherever_a_resend_lands() {
    // A change sent twice (a relay restarted before it deleted it), another change, and a record
    // without a position (ids as before positions existed: from the Kinesis pointer).
    let records = vec![
        with_position(user_insert(0), "f3b1/1"),
        with_position(user_insert(0), "f3b1/1"),
        with_position(user_insert(1), "f3b1/2"),
        user_insert(2),
    ];
    let p = pipeline(redacting_config());
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.counts.published, 4);
    // In record order (the publisher may send one key's two entries in separate requests).
    let ids: Vec<String> = report
        .records
        .iter()
        .map(|r| r.event_id.expect("an id").to_string())
        .collect();
    let from_position = |p: &str| {
        cdc_processor::decode::event_id_for_source_position(&format!("coredb-trigger\n{p}"))
            .to_string()
    };
    assert_eq!(ids[0], from_position("f3b1/1"));
    assert_eq!(ids[1], ids[0], "a resend keeps its id");
    assert_eq!(ids[2], from_position("f3b1/2"));
    assert_eq!(
        ids[3],
        cdc_processor::decode::event_id_for_pointer(STREAM_ARN, SHARD, &seq(3), None).to_string()
    );
    // The entries published are under these ids, and their details carry them.
    let published: BTreeSet<String> = p
        .publisher()
        .published()
        .iter()
        .map(|e| e.event_id.to_string())
        .collect();
    assert_eq!(published, ids.iter().cloned().collect());
    for e in p.publisher().published() {
        assert_eq!(detail(&e)["eventId"], json!(e.event_id.to_string()));
    }
    // An empty or non-scalar position is a PARSE_ERROR, never an id from nothing.
    let bad = pipeline(redacting_config());
    let mut text = String::from_utf8(user_insert(0)).unwrap();
    text.pop();
    text.push_str(r#", "position": {"id": 1}}"#);
    let report = bad
        .process_kinesis_event(
            &kinesis_event(vec![with_position(user_insert(0), ""), text.into_bytes()]),
            "test",
        )
        .await;
    assert_eq!(
        report.counts.dead_lettered.get(&ErrorCode::ParseError),
        Some(&2)
    );
}
