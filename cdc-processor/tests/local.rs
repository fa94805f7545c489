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
    local::run(&opts, config()).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("entries.jsonl")).unwrap();
    let sample =
        std::fs::read_to_string(repo().join("model-schemas/examples/customers.json")).unwrap();
    let customer: serde_json::Value = serde_json::from_str(&sample).unwrap();
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
