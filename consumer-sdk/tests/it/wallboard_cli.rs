//! The wallboard example as a user runs it, through its binary: the exit status on bad input
//! (1, with the board of the good lines still printed), on an unreadable file (1) and on a usage
//! error (2), and 0 for the shipped sample.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The example's binary, built (or found fresh) by cargo in this test's target directory, with the
/// features this test was built with: when they are all of consumer-sdk's (the README's test
/// command builds `--workspace --all-features`), as the workspace with all features, which the
/// test run has already built (fresh: no second build of consumer-sdk and its dependencies with
/// fewer features); otherwise consumer-sdk alone with this test's features.
fn wallboard() -> PathBuf {
    let features: Vec<&str> = [
        ("lambda", cfg!(feature = "lambda")),
        ("sqs", cfg!(feature = "sqs")),
        ("dedupe-dynamodb", cfg!(feature = "dedupe-dynamodb")),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "--example",
        "wallboard",
    ]);
    if features.len() == 3 {
        cargo.args(["--workspace", "--all-features"]);
    } else {
        cargo.args(["-p", "consumer-sdk", "--no-default-features"]);
        if !features.is_empty() {
            cargo.args(["--features", &features.join(",")]);
        }
    }
    // Without the variables cargo sets for this test's own package (`CARGO_MANIFEST_DIR`,
    // `CARGO_PKG_*`, …): build scripts that watch them (`ring`'s does, through `cc`) would see
    // them change and run again, here and once more in the next top-level cargo command.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("CARGO_BIN_")
            || matches!(
                name,
                "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR"
            )
        {
            cargo.env_remove(name);
        }
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "building the wallboard example failed");
    // This test runs from <target>/<profile>/deps/; the example is in <target>/<profile>/examples/.
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("<target>/<profile>");
    profile_dir.join("examples").join("wallboard")
}

fn run(args: &[&str]) -> Output {
    Command::new(wallboard())
        .args(args)
        .output()
        .expect("the wallboard runs")
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("wallboard-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn the_sample_exits_0_and_draws_the_board() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!out.stdout.is_empty());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_lines_exit_1_and_the_good_lines_still_make_the_board() {
    let sample = include_str!("../../examples/wallboard-events.jsonl");
    let good = run(&[]);
    let mixed = temp_file(
        "mixed.jsonl",
        &format!("{sample}this is not an event\n{{\"detail\": 1}}\n"),
    );
    let out = run(&[mixed.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        out.stdout, good.stdout,
        "the same board as from the sample alone"
    );
    assert!(stderr.contains("2 line(s)"), "{stderr}");
    let only_bad = temp_file("bad.jsonl", "{\n");
    let out = run(&[only_bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_file(mixed);
    let _ = std::fs::remove_file(only_bad);
}

#[test]
fn a_missing_file_exits_1_and_usage_errors_exit_2() {
    let out = run(&["/nonexistent/events.jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/events.jsonl"),
        "{stderr}"
    );
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--sqs-queue-url"));
}
