//! The generated capture SQL on a real PostgreSQL: it installs on every table of
//! `model-schemas/` (twice: idempotent), and INSERT, UPDATE, a key change, DELETE and TRUNCATE of
//! every table's example row, and a snapshot of it, write outbox records that the processor's own pipeline publishes
//! without a dead letter.

use cdc_processor::config::{PipelineConfig, Redaction};
use cdc_processor::decode::raw::RawInput;
use cdc_processor::pipeline::Pipeline;
use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use testkit::Postgres;

async fn connect(pg: &Postgres) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// Every example row, `(table, row)`, sorted by table.
fn examples() -> Vec<(String, Value)> {
    let dir = testkit::workspace_root().join("model-schemas/examples");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("model-schemas/examples")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let table = p.file_stem().unwrap().to_str().unwrap().to_string();
            let row = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (table, row)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A SQL expression giving a different value of the same type for the key column `col`.
async fn changed_key_expr(client: &tokio_postgres::Client, table: &str) -> (String, String) {
    let row = client
        .query_one(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary",
            &[&table],
        )
        .await
        .expect("the table's primary key");
    let col: String = row.get(0);
    let ty: String = row.get(1);
    let q = format!("\"{col}\"");
    let expr = match ty.as_str() {
        "uuid" => "gen_random_uuid()".to_string(),
        "bigint" => format!("{q} + 1"),
        "text" => format!("{q} || '-moved'"),
        "timestamp with time zone" => format!("{q} + interval '1 second'"),
        "date" => format!("{q} + 1"),
        other => panic!("no key change for a {other} key"),
    };
    (q, expr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_captures_every_operation_in_the_processors_format() {
    let pg = Postgres::start();
    let client = connect(&pg).await;
    client
        .batch_execute(cdc_capture::TABLES_SQL)
        .await
        .expect("tables.sql");
    client
        .batch_execute(cdc_capture::INSTALL_SQL)
        .await
        .expect("install.sql");
    client
        .batch_execute(cdc_capture::INSTALL_SQL)
        .await
        .expect("install.sql again (idempotent)");

    let examples = examples();
    assert_eq!(examples.len(), 75, "one example per table");
    let mut expected: Vec<(String, &str)> = Vec::new();
    for (table, row) in &examples {
        let t = format!("\"{table}\"");
        client
            .execute(
                &format!("INSERT INTO {t} SELECT * FROM jsonb_populate_record(NULL::{t}, $1::text::jsonb)"),
                &[&row.to_string()],
            )
            .await
            .unwrap_or_else(|e| panic!("insert into {table}: {e}"));
        let (key, changed) = changed_key_expr(&client, table).await;
        client
            .batch_execute(&format!(
                "UPDATE {t} SET {key} = {key}; UPDATE {t} SET {key} = {changed}; DELETE FROM {t}; \
                 INSERT INTO {t} SELECT * FROM jsonb_populate_record(NULL::{t}, '{}'::jsonb); \
                 SELECT cdc.snapshot('{table}'); TRUNCATE {t};",
                row.to_string().replace('\'', "''")
            ))
            .await
            .unwrap_or_else(|e| panic!("changes of {table}: {e}"));
        for op in [
            "INSERT", "UPDATE", "DELETE", "INSERT", "DELETE", "INSERT", "SNAPSHOT", "TRUNCATE",
        ] {
            expected.push((table.clone(), op));
        }
    }

    let err = client
        .query_one("SELECT cdc.snapshot('no_such_table')", &[])
        .await
        .expect_err("an unknown table is an error");
    assert!(format!("{err:?}").contains("is not captured"), "{err:?}");

    let source = cdc_capture::outbox::source(&client).await.expect("source");
    assert!(
        source.commit_times,
        "testkit turns track_commit_timestamp on"
    );
    assert_eq!(source.id.len(), 36, "a UUID: {}", source.id);
    let rows = cdc_capture::outbox::fetch(&client, 100_000, true)
        .await
        .expect("outbox");
    let mut expected_ids = BTreeSet::new();
    assert_eq!(rows.len(), expected.len());
    let mut lines = String::new();
    for (row, (table, op)) in rows.iter().zip(&expected) {
        let record: Value = serde_json::from_str(&row.payload).expect("payload is JSON");
        assert_eq!(record["table"], table.as_str(), "row {}", row.id);
        assert_eq!(record["operation"], *op, "row {} of {table}", row.id);
        assert!(
            row.payload.starts_with("{\"table\" : "),
            "`table` comes first: {}",
            &row.payload[..40]
        );
        let (b, a) = (
            row.payload.find("\"before\""),
            row.payload.find("\"after\""),
        );
        assert!(b.is_some() && b < a, "`before` before `after`");
        if *op == "TRUNCATE" {
            assert_eq!(row.partition_key, *table);
        } else {
            assert!(row.partition_key.starts_with(&format!("{table}:")));
        }
        // What the relay sends: the commit time for `timestamp`, and the position.
        let commit = row.commit_time.as_deref().expect("a commit time");
        let sent = cdc_capture::outbox::record(row, &source.id);
        let sent_json: Value = serde_json::from_str(&sent).expect("relayed record is JSON");
        assert_eq!(sent_json["timestamp"], commit);
        assert_eq!(
            sent_json["position"],
            format!("{}/{}", source.id, row.id).as_str()
        );
        expected_ids.insert(
            cdc_processor::decode::event_id_for_source_position(&format!(
                "coredb-trigger\n{}/{}",
                source.id, row.id
            ))
            .to_string(),
        );
        lines.push_str(&sent);
        lines.push('\n');
    }

    let mut config = PipelineConfig::new(
        Redaction::with_key(*b"capture-test-hmac-key-32-bytes!!").expect("a 32-byte key"),
    );
    config
        .set_table_allow_list(examples.iter().map(|(t, _)| t.as_str()))
        .expect("every example is a known table");
    let pipeline = Pipeline::new(
        config,
        MemoryPublisher::new(),
        MemoryCheckpointStore::new(),
        MemoryDeadLetterSink::new(),
    );
    let inputs = RawInput::from_json_lines("postgres-outbox", lines.as_bytes());
    let report = pipeline.process_raw_records(inputs, "capture-test").await;
    let letters: Vec<String> = pipeline
        .dead_letters()
        .letters()
        .iter()
        .map(|l| format!("{}: {}", l.error.code, l.error.message))
        .collect();
    assert!(letters.is_empty(), "dead letters: {letters:#?}");
    assert!(report.batch_item_failures.is_empty());
    assert_eq!(report.counts.records_in as usize, expected.len());
    let published = pipeline.publisher().published();
    assert_eq!(
        published.len(),
        expected.len(),
        "every change publishes one event"
    );
    let mut per_table: BTreeMap<String, usize> = BTreeMap::new();
    for e in &published {
        let detail: Value = serde_json::from_str(&e.detail).expect("event detail");
        *per_table
            .entry(detail["table"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_table.len(), 75, "{per_table:?}");
    let ids: BTreeSet<String> = published.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(ids, expected_ids, "each change under its position's id");
    assert!(per_table.values().all(|&n| n == 8), "{per_table:?}");

    let deleted =
        cdc_capture::outbox::delete(&client, &rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .await
            .expect("delete");
    assert_eq!(deleted as usize, rows.len());
    assert_eq!(cdc_capture::outbox::depth(&client).await.unwrap(), 0);

    client
        .batch_execute(cdc_capture::UNINSTALL_SQL)
        .await
        .expect("uninstall.sql");
    client
        .batch_execute(cdc_capture::UNINSTALL_SQL)
        .await
        .expect("uninstall.sql again (idempotent)");
    client
        .batch_execute("INSERT INTO \"users\" SELECT * FROM jsonb_populate_record(NULL::users, '{}'::jsonb) WHERE false")
        .await
        .expect("tables still work without capture");
}

/// A schema of 120 columns (`id` and the integers `c000`…`c118`): wider than one
/// `json_build_object` call takes (50 columns), so each image is spliced from three chunks.
fn wide_schema() -> Value {
    let mut props = serde_json::Map::new();
    let mut required = vec!["id".to_string()];
    props.insert(
        "id".into(),
        serde_json::json!({"description": "Key.", "type": "string", "format": "uuid"}),
    );
    for i in 0..119 {
        props.insert(
            format!("c{i:03}"),
            serde_json::json!({"description": "A column.", "type": ["integer", "null"]}),
        );
        required.push(format!("c{i:03}"));
    }
    serde_json::json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Wide",
        "description": "A wide table.",
        "type": "object",
        "x-cdc": {"table": "wide", "version": 1, "primaryKey": ["id"], "eventType": "wide.changed",
                  "category": "organization", "includeFields": ["*"], "capturedByDefault": false},
        "required": required,
        "properties": props
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_wider_than_one_call_is_captured_whole() {
    let files = codegen::Generator::new(codegen::Settings::new("unused"))
        .generate_sql_from_sources(vec![("wide.json".into(), wide_schema().to_string())])
        .expect("the wide schema generates");
    let sql = |name: &str| {
        files
            .iter()
            .find(|f| f.path.to_str() == Some(name))
            .map(|f| f.contents.clone())
            .unwrap()
    };
    let pg = Postgres::start();
    let client = connect(&pg).await;
    client.batch_execute(&sql("tables.sql")).await.unwrap();
    client.batch_execute(&sql("install.sql")).await.unwrap();
    let values: Vec<String> = (0..119).map(|i| format!("c{i:03} = {}", i * 7)).collect();
    client
        .batch_execute(&format!(
            "INSERT INTO wide (id) VALUES ('6d8c1f3e-0000-4000-8000-000000000001'); \
             UPDATE wide SET {}; UPDATE wide SET c118 = NULL, id = gen_random_uuid(); DELETE FROM wide",
            values.join(", ")
        ))
        .await
        .unwrap();
    let payloads: Vec<Value> = client
        .query("SELECT payload::text FROM cdc.outbox ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).expect("a JSON record"))
        .collect();
    let ops: Vec<&str> = payloads
        .iter()
        .map(|p| p["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["INSERT", "UPDATE", "DELETE", "INSERT", "DELETE"]);
    for p in &payloads {
        for image in [&p["before"], &p["after"]] {
            if let Some(obj) = image.as_object() {
                assert_eq!(obj.len(), 120, "every column in the image");
            }
        }
    }
    assert!(payloads[0]["after"]["c000"].is_null());
    let after = &payloads[1]["after"];
    for i in 0..119 {
        assert_eq!(after[format!("c{i:03}")], i * 7, "c{i:03}");
    }
    assert_eq!(payloads[1]["before"], payloads[0]["after"]);
    assert_eq!(payloads[2]["before"], payloads[1]["after"]);
    assert!(payloads[3]["after"]["c118"].is_null());
    assert_eq!(payloads[3]["after"]["c117"], 117 * 7);
    assert_eq!(payloads[4]["before"], payloads[3]["after"]);
}

/// An install from before the images were `json` has `cdc.enqueue(…, jsonb, jsonb)`; installing
/// today's drops it, so TRUNCATE (which passes two NULLs) still finds exactly one function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_an_install_with_the_jsonb_enqueue_keeps_truncate_working() {
    let pg = Postgres::start();
    let client = connect(&pg).await;
    client.batch_execute(cdc_capture::TABLES_SQL).await.unwrap();
    client
        .batch_execute(
            "CREATE SCHEMA cdc; CREATE FUNCTION cdc.enqueue(p_table text, p_operation text, \
               p_partition_key text, p_before jsonb, p_after jsonb) RETURNS void \
             LANGUAGE sql AS 'SELECT'",
        )
        .await
        .unwrap();
    client
        .batch_execute(cdc_capture::INSTALL_SQL)
        .await
        .expect("install.sql over the old install");
    client.batch_execute("TRUNCATE users").await.unwrap();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM cdc.outbox WHERE payload->>'operation' = 'TRUNCATE'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
