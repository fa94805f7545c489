//! The PII canary sweep (issue 7 §4).
//!
//! Every column with a redaction policy, of every table, gets a unique canary value — strings and
//! e-mail addresses carrying the marker `CNRYX7Q` and a number, unique dates and numbers where the
//! column needs one — in the example row of its table. The rows go through the pipeline in every
//! format (CoreDB trigger, Debezium, DMS), as INSERT, UPDATE (canaries in both images) and DELETE,
//! with redaction on and **every column included** (so redaction, not projection, is what keeps
//! them out), plus records that fail with a canary inside (a row the schema rejects, a canary of
//! the wrong type, an unknown column) and EventBridge failures (throttling, and `InvalidArgument`
//! dead letters).
//!
//! Then everything the pipeline emits is scanned, and must hold **no** canary: what the function
//! sent to AWS (every request and response through the fault proxy: `PutEvents` entries,
//! DynamoDB items, dead letters outside `originalEvent`), the events as a consumer receives them
//! (an EventBridge rule into SQS), the DLQ's messages outside `originalEvent`, logs at every level
//! (a TRACE subscriber in a process of its own, and the real binary with `RUST_LOG=trace` on the Lambda
//! Runtime API emulator), the EMF metrics, every record outcome's error message, and the CLI's
//! output (`cdc-processor local` on a JSON-lines file and on a Kinesis event, `cdc-processor
//! validate`). Base64 runs in scanned text are decoded and scanned too, so a raw record that
//! escapes into a log is found even though it is encoded.

use crate::support::aws::processor_with;
use crate::support::lambda::*;
use crate::support::process::alone;
use crate::support::{HMAC_KEY, STREAM_ARN};
use anyhow::{Context, Result};
use base64::Engine;
use cdc_models::{ColumnKind, RedactPolicy, Table};
use cdc_processor::config::{PipelineConfig, Redaction, TableOverride};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;
use testkit::fault_proxy::{Fault, Rule};

/// The marker every string canary carries; it appears nowhere else.
const MARKER: &str = "CNRYX7Q";

/// The canaries planted so far: their unique parts (for a scan) and where they were planted.
#[derive(Default)]
struct Canaries {
    /// Exact values without the marker (dates, numbers), with their labels.
    exact: Vec<(String, String)>,
    /// Marker ids → label.
    labels: std::collections::HashMap<String, String>,
    next: u32,
}

impl Canaries {
    /// A canary for a column of this kind; `None` for kinds no redacted column has.
    fn make(&mut self, kind: ColumnKind, label: String, email: bool) -> Value {
        self.next += 1;
        let n = self.next;
        let id = format!("{MARKER}{n:06}");
        self.labels.insert(id.clone(), label.clone());
        match kind {
            ColumnKind::Date => {
                // Unique dates in the 1900s: no example row uses them.
                let d = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap()
                    + chrono::Duration::days(i64::from(n) * 7);
                let s = d.format("%Y-%m-%d").to_string();
                self.exact.push((s.clone(), label));
                json!(s)
            }
            ColumnKind::Number | ColumnKind::Integer => {
                let v = 11.0 + f64::from(n) / 1_000.0 + 0.000_123_4;
                let text = serde_json::to_string(&v).unwrap();
                self.exact.push((text, label));
                json!(v)
            }
            ColumnKind::Object => {
                json!({"note": format!("{id}-object"), "nested": {"x": format!("{id}-nested")}})
            }
            ColumnKind::Array => {
                if email {
                    json!([format!("{}@canary.example", id.to_lowercase())])
                } else {
                    json!([{"note": format!("{id}-item")}])
                }
            }
            _ if email => json!(format!("{}@canary.example", id.to_lowercase())),
            // Long enough that a `partial` policy's visible tail never includes the marker.
            _ => json!(format!("{id}-private-value-tail")),
        }
    }

    /// The canaries found in `text` (literally, or inside a base64 run).
    fn find(&self, text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        self.find_literal(text, &mut found);
        for run in base64_runs(text) {
            for engine in [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE,
            ] {
                if let Ok(bytes) = engine.decode(run) {
                    self.find_literal(&String::from_utf8_lossy(&bytes), &mut found);
                    break;
                }
            }
        }
        found
    }

    fn find_literal(&self, text: &str, found: &mut BTreeSet<String>) {
        let lower = text.to_lowercase();
        let marker = MARKER.to_lowercase();
        let mut at = 0;
        while let Some(i) = lower[at..].find(&marker) {
            let start = at + i;
            let id_end = (start + MARKER.len() + 6).min(lower.len());
            let id =
                lower[start..id_end]
                    .to_uppercase()
                    .replacen(&MARKER.to_uppercase(), MARKER, 1);
            found.insert(
                self.labels
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| format!("marker {id}")),
            );
            at = start + marker.len();
        }
        for (value, label) in &self.exact {
            if text.contains(value.as_str()) {
                found.insert(label.clone());
            }
        }
    }
}

/// Runs of base64 characters of at least 16 characters.
fn base64_runs(text: &str) -> Vec<&str> {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_');
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_b64(b[i]) {
            let start = i;
            while i < b.len() && is_b64(b[i]) {
                i += 1;
            }
            if i - start >= 16 {
                out.push(&text[start..i]);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// A dead letter with its `originalEvent` (the only place canaries may be) taken out.
fn without_original(letter: &Value) -> Value {
    let mut l = letter.clone();
    if let Some(o) = l.as_object_mut() {
        assert!(
            o.remove("originalEvent").is_some(),
            "a dead letter keeps the raw record"
        );
    }
    l
}

fn example(table: Table) -> Map<String, Value> {
    testkit::example_row(table.name())
}

fn is_email_column(table: Table, column: &str) -> bool {
    let schema: Value = serde_json::from_str(table.schema_json()).unwrap();
    let p = &schema["properties"][column];
    p["format"] == "email" || p["items"]["format"] == "email"
}

/// The example row of `table` with a fresh canary in every redacted column.
fn canary_row(c: &mut Canaries, table: Table, label: &str) -> Map<String, Value> {
    canary_row_except(c, table, label, None)
}

/// The same, leaving out one column (the caller puts its own canary there).
fn canary_row_except(
    c: &mut Canaries,
    table: Table,
    label: &str,
    except: Option<&str>,
) -> Map<String, Value> {
    let mut row = example(table);
    for f in table
        .meta()
        .fields
        .iter()
        .filter(|f| f.policy.is_some() && Some(f.name) != except)
    {
        let v = c.make(
            f.kind,
            format!("{}.{} ({label})", table.name(), f.name),
            is_email_column(table, f.name),
        );
        row.insert(f.name.to_string(), v);
    }
    row
}

fn redacted_string_column(table: Table) -> Option<&'static str> {
    table
        .meta()
        .fields
        .iter()
        .find(|f| {
            f.policy.is_some()
                && !f.key
                && matches!(f.kind, ColumnKind::String)
                && !is_email_column(table, f.name)
        })
        .map(|f| f.name)
}

/// The records of the sweep: every table, every format, INSERT/UPDATE/DELETE, plus failing ones.
/// Returns (data, whether it is expected to be published).
fn records(c: &mut Canaries) -> Vec<(Vec<u8>, bool)> {
    let ts = "2026-11-25T10:14:31Z";
    let mut out = Vec::new();
    for &table in Table::ALL {
        let name = table.name();
        let row = |c: &mut Canaries, label: &str| Value::Object(canary_row(c, table, label));
        // CoreDB trigger.
        let trig = |op: &str, before: Value, after: Value| {
            json!({"table": name, "operation": op, "timestamp": ts, "transaction_id": "txn-1",
                   "before": before, "after": after})
            .to_string()
            .into_bytes()
        };
        out.push((trig("INSERT", Value::Null, row(c, "trigger insert")), true));
        out.push((
            trig(
                "UPDATE",
                row(c, "trigger update before"),
                row(c, "trigger update after"),
            ),
            true,
        ));
        out.push((trig("DELETE", row(c, "trigger delete"), Value::Null), true));
        // Debezium (no schema wrapper).
        let dbz = |op: &str, before: Value, after: Value| {
            json!({"before": before, "after": after, "op": op, "ts_ms": 1_764_065_700_100u64,
                   "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "coredb",
                              "ts_ms": 1_764_065_700_000u64, "snapshot": "false", "db": "coredb",
                              "schema": "public", "table": name, "txId": 901, "lsn": 24023128}})
            .to_string()
            .into_bytes()
        };
        out.push((dbz("c", Value::Null, row(c, "debezium c")), true));
        out.push((
            dbz("u", row(c, "debezium u before"), row(c, "debezium u after")),
            true,
        ));
        out.push((dbz("d", row(c, "debezium d"), Value::Null), true));
        // DMS.
        let dms = |op: &str, data: Value, before: Option<Value>| {
            let mut v = json!({"data": data,
                   "metadata": {"timestamp": "2026-11-25T10:40:00.000000Z", "record-type": "data",
                                "operation": op, "partition-key-type": "schema-table",
                                "schema-name": "public", "table-name": name, "transaction-id": 1139}});
            if let Some(b) = before {
                v["before-image"] = b;
            }
            v.to_string().into_bytes()
        };
        out.push((dms("insert", row(c, "dms insert"), None), true));
        out.push((
            dms(
                "update",
                row(c, "dms update after"),
                Some(row(c, "dms update before")),
            ),
            true,
        ));
        out.push((dms("delete", row(c, "dms delete"), None), true));
        // Failing records with canaries inside: no key (VALIDATION_ERROR), a canary of the wrong
        // type in a redacted column, a canary in a column the schema does not know (published,
        // the column dropped).
        let mut keyless = canary_row(c, table, "no key");
        for k in table.meta().primary_key {
            keyless.remove(*k);
        }
        out.push((trig("INSERT", Value::Null, Value::Object(keyless)), false));
        if let Some(col) = redacted_string_column(table) {
            let mut wrong = canary_row_except(c, table, "wrong type", Some(col));
            let id = c.make(
                ColumnKind::Object,
                format!("{name}.{col} as an object"),
                false,
            );
            wrong.insert(col.to_string(), id);
            out.push((trig("UPDATE", Value::Null, Value::Object(wrong)), false));
        }
        let mut unknown = canary_row(c, table, "unknown column");
        let v = c.make(
            ColumnKind::String,
            format!("{name}.ssn_backup (unknown column)"),
            false,
        );
        unknown.insert("ssn_backup".into(), v);
        out.push((trig("INSERT", Value::Null, Value::Object(unknown)), true));
    }
    out
}

/// Every table captured, every column included: redaction alone must keep the canaries out.
fn include_all() -> String {
    let overrides: Map<String, Value> = Table::ALL
        .iter()
        .map(|t| (t.name().to_string(), json!({"includeFields": ["*"]})))
        .collect();
    Value::Object(overrides).to_string()
}

fn all_tables() -> String {
    Table::ALL
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn kinesis_records(
    data: &[(Vec<u8>, bool)],
    shard: &str,
) -> Vec<aws_lambda_events::event::kinesis::KinesisEventRecord> {
    data.iter()
        .enumerate()
        .map(|(i, (d, _))| {
            let seq = format!(
                "4959033827149025660855969253836157109592157598{:010}",
                i + 1
            );
            let mut r = aws_lambda_events::event::kinesis::KinesisEventRecord::default();
            r.event_id = Some(format!("{shard}:{seq}"));
            r.event_source_arn = Some(STREAM_ARN.to_string());
            r.event_source = Some("aws:kinesis".to_string());
            r.kinesis.sequence_number = seq;
            r.kinesis.partition_key = format!("pk-{i}");
            r.kinesis.data.0 = d.clone();
            r
        })
        .collect()
}

/// Every log line of this process, at every level, with every span field: a global TRACE
/// subscriber, so the test that calls it runs alone in its own process ([`alone`]).
fn logs() -> &'static crate::support::LogBuffer {
    static LOGS: OnceLock<crate::support::LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = crate::support::LogBuffer::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
}

/// Collects what each place emitted, and which canaries it holds.
struct Sweep<'c> {
    canaries: &'c Canaries,
    leaks: Vec<String>,
    scanned: Vec<(String, usize)>,
}

impl Sweep<'_> {
    fn scan(&mut self, place: &str, text: &str) {
        self.scanned.push((place.to_string(), text.len()));
        for leak in self.canaries.find(text) {
            self.leaks.push(format!("{place}: {leak}"));
        }
    }

    fn finish(self) {
        for (place, bytes) in &self.scanned {
            println!("scanned {place}: {bytes} bytes");
        }
        assert!(
            self.leaks.is_empty(),
            "{} canaries found:\n{}",
            self.leaks.len(),
            self.leaks.join("\n")
        );
    }
}

#[test]
fn the_canary_scanner_finds_what_it_must() {
    let mut c = Canaries::default();
    let s = c.make(ColumnKind::String, "users.ssn (test)".into(), false);
    let s = s.as_str().unwrap().to_string();
    let e = c.make(ColumnKind::String, "users.email (test)".into(), true);
    let d = c.make(ColumnKind::Date, "x.dob (test)".into(), false);
    assert_eq!(c.find(&format!("log {s} end")).len(), 1);
    assert_eq!(
        c.find(&format!("x {}", e.as_str().unwrap().to_uppercase()))
            .len(),
        1
    );
    assert_eq!(c.find(d.as_str().unwrap()).len(), 1);
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{{\"ssn\": \"{s}\"}}"));
    assert_eq!(
        c.find(&format!("\"data\":\"{b64}\"")).len(),
        1,
        "found inside base64"
    );
    // `partial` keeps the last 4 characters: they carry no marker.
    let mut partial = s.clone();
    cdc_models::Redactor::new(b"0123456789abcdef0123456789abcdef".to_vec())
        .unwrap()
        .apply_str(RedactPolicy::Partial { keep_last: 4 }, &mut partial);
    assert!(c.find(&partial).is_empty(), "{partial}");
    assert!(c.find("nothing here, hmac-sha256:00ff").is_empty());
}

/// In process, against moto through the proxy: the handler, every request it sends, the routed
/// events, the DLQ, TRACE logs, metrics; and the in-memory pipeline's record outcomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_leaves_the_pipeline() -> Result<()> {
    if !alone(concat!(module_path!(), "::no_canary_leaves_the_pipeline")) {
        return Ok(());
    }
    let logs = logs();
    let logs_from = logs.0.lock().unwrap().len();
    let mut c = Canaries::default();
    let data = records(&mut c);
    let w = world(Duration::from_secs(5), true).await?;
    w.proxy().capture_bodies(true);
    let mut vars = function_env(&w, 2);
    vars.insert("CDC_TABLES".into(), all_tables());
    vars.insert("CDC_TABLE_OVERRIDES".into(), include_all());
    let (state, metrics) = processor_with(&w, &vars).await?;
    // Throttled entries (retried, logged) and rejected ones (dead-lettered as EVENTBRIDGE_ERROR).
    w.proxy().add_rule(
        Rule::new(
            "AWSEvents.PutEvents",
            Fault::fail_entries(0.1, &["ThrottlingException", "InvalidArgument"]),
        )
        .seed(7),
    );
    println!(
        "{} records, {} canaries in {} tables",
        data.len(),
        c.labels.len(),
        Table::ALL.len()
    );
    let records = kinesis_records(&data, "shardId-000000000000");
    let drive = drive_shard(
        &state,
        &records,
        Bounds {
            batch_size: 200,
            max_invocations: 200,
            max_time: Duration::from_secs(240),
        },
    )
    .await?;
    w.proxy().clear_rules();
    assert!(drive.invocations >= 4);

    // Error messages of every record outcome, from the pipeline core with in-memory ports.
    let mut config = PipelineConfig::new(Redaction::with_key(HMAC_KEY.as_bytes().to_vec())?);
    config.set_table_allow_list(Table::ALL.iter().map(|t| t.name()))?;
    for t in Table::ALL {
        config.set_table_override(
            t.name(),
            TableOverride {
                event_type: None,
                include_fields: Some(vec!["*".into()]),
            },
        )?;
    }
    let p = crate::support::pipeline(config);
    let mut event = aws_lambda_events::event::kinesis::KinesisEvent::default();
    event.records = records.clone();
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.records_in as usize, data.len());
    assert!(report.batch_item_failures.is_empty());
    let expected_published = data.iter().filter(|(_, p)| *p).count() as u64;
    assert_eq!(
        report.counts.published, expected_published,
        "{}",
        report.counts
    );
    // Logs of the function and the pipeline only: the test's own reads of the queues below go
    // through the SDK too, whose TRACE logs print response bodies (dead letters' raw records).
    let log_text = String::from_utf8_lossy(&logs.0.lock().unwrap()[logs_from..]).to_string();

    let mut sweep = Sweep {
        canaries: &c,
        leaks: Vec::new(),
        scanned: Vec::new(),
    };
    // Everything sent to AWS and answered, dead letters without their raw record.
    let exchanges = w.proxy().exchanges();
    let mut put_events = 0;
    for ex in &exchanges {
        let req = ex.request_body.clone().unwrap_or_default();
        let resp = ex.response_body.clone().unwrap_or_default();
        let mut req: Value = serde_json::from_slice(&req).unwrap_or(Value::Null);
        if ex.target == "AmazonSQS.SendMessageBatch" {
            for e in req["Entries"].as_array_mut().context("Entries")? {
                let letter: Value = serde_json::from_str(e["MessageBody"].as_str().unwrap_or(""))?;
                e["MessageBody"] = without_original(&letter);
            }
        }
        if ex.target == "AWSEvents.PutEvents" {
            put_events += ex.entries.len();
        }
        sweep.scan(&format!("request {}", ex.target), &req.to_string());
        sweep.scan(
            &format!("response {}", ex.target),
            &String::from_utf8_lossy(&resp),
        );
    }
    let expected_published = data.iter().filter(|(_, p)| *p).count();
    assert!(
        put_events > expected_published,
        "entries were published (and retried)"
    );
    // The events as consumers receive them.
    let routed = w.drain_json(w.routed()).await?;
    assert!(
        routed.len() > data.len() / 2,
        "{} events routed",
        routed.len()
    );
    sweep.scan("routed events (SQS)", &serde_json::to_string(&routed)?);
    // The DLQ.
    let letters = w.drain_json(&w.dlq).await?;
    let codes: BTreeSet<String> = letters
        .iter()
        .map(|l| l["error"]["code"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        codes.contains("VALIDATION_ERROR") && codes.contains("EVENTBRIDGE_ERROR"),
        "{codes:?}"
    );
    let stripped: Vec<Value> = letters.iter().map(without_original).collect();
    sweep.scan(
        "dead letters outside originalEvent",
        &serde_json::to_string(&stripped)?,
    );
    // Metrics and logs.
    sweep.scan("EMF metrics", &metrics.lock().unwrap().join("\n"));

    sweep.scan(
        "record outcomes (error messages)",
        &serde_json::to_string(&report)?,
    );
    sweep.scan("record outcomes (Debug)", &format!("{report:?}"));
    let entries: Vec<Value> = p
        .publisher()
        .published()
        .iter()
        .map(crate::support::detail)
        .collect();
    sweep.scan(
        "in-memory published entries",
        &serde_json::to_string(&entries)?,
    );
    sweep.scan(
        "in-memory dead letters outside originalEvent",
        &serde_json::to_string(
            &p.dead_letters()
                .letters()
                .iter()
                .map(|l| without_original(&serde_json::to_value(l).unwrap()))
                .collect::<Vec<_>>(),
        )?,
    );
    assert!(
        log_text.contains("\"level\":\"TRACE\""),
        "TRACE logs captured"
    );
    assert!(
        log_text.contains("dropped source columns"),
        "dropped-column warnings logged"
    );
    for line in log_text.lines() {
        if !c.find(line).is_empty() {
            let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            let what = v["fields"]["message"]
                .as_str()
                .unwrap_or(&line[..line.len().min(80)]);
            let place = format!("log line `{what}` ({} {})", v["level"], v["target"]);
            if !sweep.leaks.iter().any(|l| l.starts_with(&place)) {
                sweep.leaks.push(format!("{place}: record contents"));
            }
        }
    }
    sweep.scan("logs (TRACE, in process)", &log_text);
    // The canaries were really there to be found: the raw records hold every one.
    let raw: String = data
        .iter()
        .map(|(d, _)| String::from_utf8_lossy(d).to_string())
        .collect();
    assert_eq!(
        c.find(&raw).len(),
        c.labels.len(),
        "every canary is in the input"
    );
    sweep.finish();
    Ok(())
}

/// The real binary: the Lambda on the runtime API emulator with `RUST_LOG=trace`, the `local`
/// command on JSON lines and on a Kinesis event, and `validate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_in_the_binary_output() -> Result<()> {
    let mut c = Canaries::default();
    let data = records(&mut c);
    let dir = tempfile::tempdir()?;
    let mut sweep_leaks = Vec::new();
    let mut scanned = Vec::new();

    // The Lambda.
    let w = world(Duration::from_secs(5), false).await?;
    let mut vars = function_env(&w, 2);
    vars.insert("CDC_TABLES".into(), all_tables());
    vars.insert("CDC_TABLE_OVERRIDES".into(), include_all());
    vars.insert("RUST_LOG".into(), "trace".into());
    let api = testkit::lambda_runtime_api::RuntimeApi::start();
    let mut process = FunctionProcess::start(&api, &vars, dir.path(), 0)?;
    let records = kinesis_records(&data, "shardId-000000000000");
    let id = api.invoke(event_json(&records, now_seconds())?);
    let response = wait_response(&api, &id, &mut process, Duration::from_secs(120))?;
    assert_eq!(reported(&response)?, Vec::<String>::new());
    process.kill()?;
    let output = process.output();
    assert!(
        output.contains("\"level\":\"TRACE\""),
        "the binary logged at TRACE"
    );
    assert!(output.contains("\"RecordsIn\""), "EMF metrics on stdout");
    let letters = w.drain_json(&w.dlq).await?;
    assert!(!letters.is_empty());
    // Say which log lines leak (their message), not only which canaries.
    for line in output.lines() {
        if !c.find(line).is_empty() {
            let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            let what = v["fields"]["message"]
                .as_str()
                .unwrap_or(&line[..line.len().min(80)])
                .to_string();
            let place = format!("Lambda binary log line `{what}` ({})", v["level"]);
            if !sweep_leaks.iter().any(|l: &String| l.starts_with(&place)) {
                sweep_leaks.push(format!("{place}: raw record contents"));
            }
        }
    }
    for (place, text) in [
        ("Lambda binary stdout+stderr (RUST_LOG=trace)", output),
        (
            "Lambda binary dead letters outside originalEvent",
            serde_json::to_string(&letters.iter().map(without_original).collect::<Vec<_>>())?,
        ),
    ] {
        scanned.push((place.to_string(), text.len()));
        sweep_leaks.extend(c.find(&text).into_iter().map(|l| format!("{place}: {l}")));
    }

    // `cdc-processor local` on JSON lines and on a Kinesis event.
    let lines: String = data
        .iter()
        .map(|(d, _)| format!("{}\n", String::from_utf8_lossy(d)))
        .collect();
    let jsonl = dir.path().join("canaries.jsonl");
    std::fs::write(&jsonl, lines)?;
    let event = dir.path().join("canaries-event.json");
    std::fs::write(&event, event_json(&records, now_seconds())?)?;
    for (n, input) in [jsonl, event].iter().enumerate() {
        let state = dir.path().join(format!("state-{n}"));
        let dead = dir.path().join(format!("dead-{n}.jsonl"));
        let out = std::process::Command::new(processor_binary())
            .arg("local")
            .arg(input)
            .arg("--state-dir")
            .arg(&state)
            .arg("--dead-letters")
            .arg(&dead)
            .env("RUST_LOG", "trace")
            .env("REDACTION_HMAC_KEY", HMAC_KEY)
            .env("CDC_TABLES", all_tables())
            .env("CDC_TABLE_OVERRIDES", include_all())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            stdout.lines().count() >= data.iter().filter(|(_, p)| *p).count(),
            "entries on stdout; stderr: {stderr}"
        );
        assert!(
            stderr.contains("dead-lettered"),
            "a summary on stderr: {stderr}"
        );
        let letters: Vec<Value> = std::fs::read_to_string(&dead)?
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).map(|v| without_original(&v)))
            .collect::<Result<_, _>>()?;
        assert!(!letters.is_empty());
        let mut state_files = String::new();
        let mut dirs = vec![state.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d)? {
                let p = e?.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    state_files.push_str(&String::from_utf8_lossy(&std::fs::read(&p)?));
                }
            }
        }
        assert!(!state_files.is_empty(), "the local mode keeps checkpoints");
        for (place, text) in [
            (format!("local {n}: stdout (entries)"), stdout),
            (
                format!("local {n}: stderr (logs at TRACE, summary)"),
                stderr,
            ),
            (
                format!("local {n}: dead letters outside originalEvent"),
                serde_json::to_string(&letters)?,
            ),
            (format!("local {n}: state directory"), state_files),
        ] {
            scanned.push((place.clone(), text.len()));
            sweep_leaks.extend(c.find(&text).into_iter().map(|l| format!("{place}: {l}")));
        }
    }

    // `cdc-processor validate` on rows that fail, with canaries in them.
    for &table in Table::ALL {
        let Some(col) = redacted_string_column(table) else {
            continue;
        };
        let mut row = canary_row_except(&mut c, table, "validate", Some(col));
        let id = c.make(
            ColumnKind::Object,
            format!("{}.{col} (validate)", table.name()),
            false,
        );
        row.insert(col.to_string(), id);
        let path = dir.path().join(format!("{}.json", table.name()));
        std::fs::write(&path, Value::Object(row).to_string())?;
        let out = std::process::Command::new(processor_binary())
            .args(["validate", "--table", table.name()])
            .arg(&path)
            .output()?;
        assert!(
            !out.status.success(),
            "{}: the row is invalid",
            table.name()
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let place = format!("validate {}", table.name());
        scanned.push((place.clone(), text.len()));
        sweep_leaks.extend(c.find(&text).into_iter().map(|l| format!("{place}: {l}")));
    }

    for (place, bytes) in &scanned {
        println!("scanned {place}: {bytes} bytes");
    }
    assert!(
        sweep_leaks.is_empty(),
        "{} canaries found:\n{}",
        sweep_leaks.len(),
        sweep_leaks.join("\n")
    );
    Ok(())
}
