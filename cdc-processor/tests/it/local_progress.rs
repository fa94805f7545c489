//! `cdc-processor local` through its binary on a JSON-lines file larger than one progress step:
//! stderr gets one progress line per `PROGRESS_EVERY` records (count and how much of the file was
//! read), and a small file gets none.

use cdc_processor::local::PROGRESS_EVERY;
use std::path::Path;
use std::process::{Command, Output};

fn local(dir: &Path, input: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdc-processor"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "off")
        .env(
            "REDACTION_HMAC_KEY",
            "local-progress-test-key-0123456789abcdef",
        )
        .current_dir(dir)
        .arg("local")
        .arg(input)
        .args(["--state-dir", "state", "--out", "out.jsonl"])
        .output()
        .unwrap()
}

fn progress_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("cdc-processor local: ") && l.contains("records read"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_large_file_prints_progress_and_a_small_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/coredb-trigger.jsonl"),
    )
    .unwrap();
    let good = sample.lines().next().unwrap();
    let n = PROGRESS_EVERY + 1_000;
    let mut text = String::with_capacity(good.len() * n as usize);
    for i in 0..n {
        text.push_str(&good.replace("txn-4471", &format!("txn-{i}")));
        text.push('\n');
    }
    let input = dir.path().join("large.jsonl");
    std::fs::write(&input, text).unwrap();
    let out = local(dir.path(), &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // One line, after the first PROGRESS_EVERY records: about 98 % of the file read then.
    let progress = progress_lines(&out);
    assert_eq!(progress.len(), 1, "{stderr}");
    let percent: u64 = progress[0]
        .strip_prefix(&format!(
            "cdc-processor local: {PROGRESS_EVERY} records read ("
        ))
        .and_then(|rest| rest.strip_suffix("%)"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected progress line: {}", progress[0]));
    assert!((95..=99).contains(&percent), "{}", progress[0]);
    // Every record was accounted for (published to --out).
    let published = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(published as u64, n);

    let small = dir.path().join("small.jsonl");
    std::fs::write(&small, format!("{good}\n")).unwrap();
    let out = local(dir.path(), &small);
    assert!(out.status.success());
    assert!(
        progress_lines(&out).is_empty(),
        "{:?}",
        progress_lines(&out)
    );
}
