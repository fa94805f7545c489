//! The local mode over the shipped samples (events/), run twice; and the CLI.

use cdc_processor::config::{PipelineConfig, Redaction};
use cdc_processor::local::{self, LocalOptions};
use cdc_processor::ErrorCode;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options(input: &str, dir: &Path) -> LocalOptions {
    LocalOptions {
        input: repo().join("events").join(input),
        out: Some(dir.join("entries.jsonl")),
        state_dir: dir.join("state"),
        dead_letters: Some(dir.join("dead-letters.jsonl")),
        processor: "local".into(),
    }
}

fn config() -> PipelineConfig {
    PipelineConfig::new(
        Redaction::with_key(b"local-test-key-0123456789abcdef-0123".to_vec()).unwrap(),
    )
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[tokio::test]
async fn samples_run_twice_publish_once() {
    // (file, published, acknowledged, dead letters by code)
    type Expectation<'a> = (&'a str, u64, u64, &'a [(ErrorCode, u64)]);
    let expectations: [Expectation<'_>; 4] = [
        (
            "coredb-trigger.jsonl",
            7,
            0,
            &[(ErrorCode::ParseError, 1), (ErrorCode::ValidationError, 2)],
        ),
        (
            "debezium.jsonl",
            5,
            3,
            &[(ErrorCode::ParseError, 1), (ErrorCode::ValidationError, 1)],
        ),
        (
            "dms.jsonl",
            6,
            1,
            &[(ErrorCode::ParseError, 1), (ErrorCode::ValidationError, 1)],
        ),
        (
            "sample-cdc-event.json",
            11,
            3,
            &[
                (ErrorCode::ParseError, 2),
                (ErrorCode::ValidationError, 1),
                (ErrorCode::EntryTooLarge, 1),
            ],
        ),
    ];
    for (file, published, acknowledged, dead) in expectations {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(file, dir.path());
        let first = local::run(&opts, config()).await.unwrap();
        assert_eq!(
            first.counts.published, published,
            "{file}: {:#?}",
            first.records
        );
        assert_eq!(first.counts.acknowledged, acknowledged, "{file}");
        for (code, n) in dead {
            assert_eq!(
                first.counts.dead_lettered.get(code),
                Some(n),
                "{file} {code}"
            );
        }
        assert!(first.batch_item_failures.is_empty(), "{file}");
        assert_eq!(lines(&dir.path().join("entries.jsonl")), published as usize);
        let letters = lines(&dir.path().join("dead-letters.jsonl"));
        assert_eq!(letters as u64, first.counts.dead_lettered_total());

        let second = local::run(&opts, config()).await.unwrap();
        assert_eq!(
            second.counts.published, 0,
            "{file}: nothing published again"
        );
        assert_eq!(second.counts.skipped, second.counts.records_in, "{file}");
        assert_eq!(lines(&dir.path().join("entries.jsonl")), published as usize);
        assert_eq!(lines(&dir.path().join("dead-letters.jsonl")), letters);
        let summary = local::summary(&second, &opts);
        assert!(summary.contains("skipped"), "{summary}");
    }
}

#[tokio::test]
async fn entries_are_put_events_entries() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options("sample-cdc-event.json", dir.path());
    let report = local::run(&opts, config()).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("entries.jsonl")).unwrap();
    let sample =
        std::fs::read_to_string(repo().join("model-schemas/examples/customers.json")).unwrap();
    let customer: serde_json::Value = serde_json::from_str(&sample).unwrap();
    assert!(report.counts.published > 0, "the sample publishes");
    assert_eq!(text.lines().count() as u64, report.counts.published);
    for l in text.lines() {
        let e: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(e["EventBusName"], "cdc-events");
        assert_eq!(e["Source"], "cdc-pipeline");
        assert_eq!(e["DetailType"], "CDC.TableChange");
        let d: serde_json::Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(d["version"], "1.0");
        assert_eq!(e["Time"], d["timestamp"]);
    }
    // Redaction is on: no personal value of the sample customer is in the output.
    for column in ["email", "first_name", "last_name", "phone"] {
        let v = customer[column].as_str().unwrap();
        assert!(!text.contains(v), "{column} leaked");
    }
}

#[test]
fn cli_validate_exit_codes() {
    let exe = env!("CARGO_BIN_EXE_cdc-processor");
    let good = repo().join("model-schemas/examples/customers.json");
    let out = Command::new(exe)
        .args(["validate", "--table", "customers"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let mut row: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    row["email"] = serde_json::json!("secret-not-an-address");
    row["vip"] = serde_json::json!("secret-yes");
    row.as_object_mut().unwrap().remove("segment");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, row.to_string()).unwrap();
    let out = Command::new(exe)
        .args(["validate", "--table", "customers"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/email"), "{stderr}");
    assert!(stderr.contains("vip"), "{stderr}");
    assert!(stderr.contains("segment"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "values are never printed: {stderr}"
    );

    let out = Command::new(exe)
        .args(["validate", "--table", "nope"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cli_local_prints_a_summary() {
    let exe = env!("CARGO_BIN_EXE_cdc-processor");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(exe)
        .args(["local"])
        .arg(repo().join("events/dms.jsonl"))
        .arg("--state-dir")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out.jsonl"))
        .arg("--no-redaction")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("records in"), "{stderr}");
    assert!(stderr.contains("VALIDATION_ERROR 1"), "{stderr}");
    assert!(out.stdout.is_empty(), "entries went to --out");
    assert_eq!(lines(&dir.path().join("out.jsonl")), 6);
}

/// `cdc-processor local` in `dir` (where a `.env` may be) with only `env` and PATH in its
/// environment.
fn local_cli(dir: &Path, input: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cdc-processor"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "off")
        .envs(env.iter().copied())
        .current_dir(dir)
        .arg("local")
        .arg(input)
        .args(["--state-dir", "state", "--out", "out.jsonl"])
        .output()
        .unwrap()
}

/// The `customers` row of coredb-trigger.jsonl: its email is in the entries only unredacted.
const SAMPLE_EMAIL: &str = "annek@noanswer.org";

#[test]
fn local_honours_enable_data_redaction_false_and_reads_dot_env() {
    let input = repo().join("events/coredb-trigger.jsonl");
    let key = ("REDACTION_HMAC_KEY", "local-test-key-0123456789abcdef-0123");

    // The environment variable alone (no --no-redaction): column values as they are.
    let dir = tempfile::tempdir().unwrap();
    let out = local_cli(dir.path(), &input, &[("ENABLE_DATA_REDACTION", "false")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("redaction is off"), "{stderr}");
    let entries = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert!(entries.contains(SAMPLE_EMAIL), "unredacted");

    // The same from `.env` in the current directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# local settings\nENABLE_DATA_REDACTION=false\nCDC_TABLES=customers\n",
    )
    .unwrap();
    let out = local_cli(dir.path(), &input, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("redaction is off"), "{stderr}");
    let entries = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert!(entries.contains(SAMPLE_EMAIL), "unredacted through .env");
    // CDC_TABLES from .env: only customers published; the other tables acknowledged.
    for l in entries.lines() {
        let e: serde_json::Value = serde_json::from_str(l).unwrap();
        let d: serde_json::Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(d["table"], "customers", "{d}");
    }
    assert!(stderr.contains("table-not-captured"), "{stderr}");

    // A real environment variable wins over `.env`.
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    std::fs::remove_file(dir.path().join("out.jsonl")).unwrap();
    let out = local_cli(
        dir.path(),
        &input,
        &[("ENABLE_DATA_REDACTION", "true"), key],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("redaction is off"), "{stderr}");
    let entries = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert!(!entries.is_empty());
    assert!(
        !entries.contains(SAMPLE_EMAIL),
        "redacted: the environment won"
    );
}

#[test]
fn a_second_run_explains_skipped_and_how_to_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let input = repo().join("events/debezium.jsonl");
    let env = [("ENABLE_DATA_REDACTION", "false")];
    let first = local_cli(dir.path(), &input, &env);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("nothing to publish"), "{stderr}");
    assert!(stderr.contains("transaction-marker"), "{stderr}");
    assert!(!stderr.contains("to process them again"), "{stderr}");
    let second = local_cli(dir.path(), &input, &env);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("an earlier run handled them"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "to process them again: remove {}",
            Path::new("state").join("checkpoints").display()
        )),
        "{stderr}"
    );
    // Following the advice processes everything again.
    std::fs::remove_dir_all(dir.path().join("state/checkpoints")).unwrap();
    let third = local_cli(dir.path(), &input, &env);
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(!stderr.contains("an earlier run handled them"), "{stderr}");
    assert_eq!(
        lines(&dir.path().join("out.jsonl")),
        10,
        "5 published twice"
    );
}

#[tokio::test]
async fn json_lines_are_streamed_in_chunks_and_every_record_is_accounted_for() {
    // More than two chunks, with a bad record in the middle and blank lines: the counts cover
    // every record, sequence numbers stay line numbers, and a second run skips them all.
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(repo().join("events/coredb-trigger.jsonl")).unwrap();
    let good = sample.lines().next().unwrap();
    let n = local::CHUNK_RECORDS * 2 + 500;
    let mut text = String::new();
    for i in 0..n {
        if i == local::CHUNK_RECORDS + 7 {
            text.push_str("{\"table\": \"users\", \"operation\"\n\n");
        } else {
            // Distinct records: the transaction id differs.
            text.push_str(&good.replace("txn-4471", &format!("txn-{i}")));
            text.push('\n');
        }
    }
    let input = dir.path().join("many.jsonl");
    std::fs::write(&input, text).unwrap();
    let mut opts = options("unused", dir.path());
    opts.input = input;
    let first = local::run(&opts, config()).await.unwrap();
    assert_eq!(first.counts.records_in, n as u64);
    assert_eq!(first.counts.published, n as u64 - 1);
    assert_eq!(first.counts.dead_lettered_total(), 1);
    assert!(first.batch_item_failures.is_empty());
    // Only the outcome worth reading is kept: the dead letter, at its line number.
    assert_eq!(first.records.len(), 1, "{:?}", first.records);
    assert_eq!(
        &*first.records[0].sequence_number,
        (local::CHUNK_RECORDS + 8).to_string()
    );
    assert_eq!(lines(&dir.path().join("entries.jsonl")), n - 1);
    let second = local::run(&opts, config()).await.unwrap();
    assert_eq!(second.counts.skipped, n as u64);
    assert_eq!(second.counts.published, 0);
}

#[test]
fn input_errors_name_the_path_once_and_tables_suggest_a_name() {
    let exe = env!("CARGO_BIN_EXE_cdc-processor");
    let dir = tempfile::tempdir().unwrap();
    let out = local_cli(dir.path(), Path::new("no-such-file.jsonl"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-file.jsonl"), "{stderr}");

    // `--event FILE` is the same as the positional INPUT.
    let out = Command::new(exe)
        .env_clear()
        .current_dir(dir.path())
        .args([
            "local",
            "--no-redaction",
            "--state-dir",
            "s",
            "--out",
            "o.jsonl",
            "--event",
        ])
        .arg(repo().join("events/dms.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&dir.path().join("o.jsonl")), 6);

    // A short key: the rule once, with the length found.
    let out = local_cli(
        dir.path(),
        &repo().join("events/dms.jsonl"),
        &[("REDACTION_HMAC_KEY", "short")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the key is 5 bytes long (expected at least 32 bytes)"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("32 bytes").count(), 1, "{stderr}");

    let good = repo().join("model-schemas/examples/users.json");
    let out = Command::new(exe)
        .args(["validate", "--table", "user"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `users`?"), "{stderr}");

    // An empty row: one line naming the missing columns, not one line per column.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let out = Command::new(exe)
        .args(["validate", "--table", "users"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("required column(s) missing: "), "{stderr}");
    assert!(stderr.contains("email"), "{stderr}");
}

#[test]
fn read_input_tells_every_input_shape_apart() {
    use cdc_processor::local::{LocalError, LocalInput};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let record = r#"{"kinesis":{"partitionKey":"k","sequenceNumber":"1","data":"e30="}}"#;
    // The shipped event: one object with `Records`.
    let sample = repo().join("events/sample-cdc-event.json");
    let expected = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&sample).unwrap())
        .unwrap()["Records"]
        .as_array()
        .unwrap()
        .len();
    assert!(expected > 0);
    match local::read_input(&sample).unwrap() {
        LocalInput::KinesisEvent(e) => assert_eq!(e.records.len(), expected),
        other => panic!("sample event read as {other:?}"),
    }
    // (file text, Some(records of an event) or None for JSON lines with this many records)
    let cases: [(&str, String, Result<usize, usize>); 6] = [
        (
            "event",
            format!(r#"{{"Records":[{record},{record}]}}"#),
            Ok(2),
        ),
        ("empty event", r#"{"Records":[]}"#.to_string(), Ok(0)),
        ("null records", r#"{"Records":null}"#.to_string(), Err(1)),
        ("no records", r#"{"op":"c"}"#.to_string(), Err(1)),
        (
            "lines",
            "{\"a\":1}\n\n{\"b\":2}\n{\"c\":3}\n".to_string(),
            Err(3),
        ),
        // An event-like first line followed by more lines: JSON lines, not an event.
        (
            "event then lines",
            format!("{{\"Records\":[{record}]}}\n{{\"b\":2}}\n"),
            Err(2),
        ),
    ];
    for (name, text, want) in cases {
        let got = local::read_input(&write("in.json", &text)).unwrap();
        match (got, want) {
            (LocalInput::KinesisEvent(e), Ok(n)) => assert_eq!(e.records.len(), n, "{name}"),
            (LocalInput::Lines(l), Err(n)) => assert_eq!(l.len(), n, "{name}"),
            (got, want) => panic!("{name}: read as {got:?}, expected {want:?}"),
        }
    }
    // Looks like an event (one object with `Records`) but is not one: an error naming the path
    // and the position, never the value.
    let bad = write("bad.json", r#"{"Records":[{"kinesis":"secret-value"}]}"#);
    match local::read_input(&bad) {
        Err(e @ LocalError::BadEvent { .. }) => {
            let message = e.to_string();
            assert!(message.starts_with(&bad.display().to_string()), "{message}");
            assert!(!message.contains("secret-value"), "{message}");
        }
        other => panic!("a broken event read as {other:?}"),
    }
}
