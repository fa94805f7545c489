//! Log levels of `cdc-ops`: the caps on payload-carrying targets only lower a level. With
//! `RUST_LOG=info` (or the default) no DEBUG line is printed, from any target — the AWS SDK's
//! included — and with `RUST_LOG=trace` the SDK's and the HTTP stack's TRACE lines (request and
//! response contents) stay off.

use std::process::{Command, Output};

/// `cdc-ops health check` against a closed port: the SDK logs its attempts and fails fast.
fn health_check(rust_log: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cdc-ops"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .current_dir(std::env::temp_dir())
        .args(["health", "check"]);
    if let Some(l) = rust_log {
        c.env("RUST_LOG", l);
    }
    c.output().expect("cdc-ops runs")
}

fn lines_at(out: &Output, level: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(level))
        .map(str::to_string)
        .collect()
}

#[test]
fn info_prints_no_debug_line_from_any_target() {
    for rust_log in [None, Some("info")] {
        let out = health_check(rust_log);
        let debug = lines_at(&out, "DEBUG");
        assert!(debug.is_empty(), "RUST_LOG={rust_log:?}: {debug:#?}");
    }
}

#[test]
fn payload_targets_trace_stays_off_at_trace() {
    let out = health_check(Some("trace"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The check can fail: at `trace` the SDK does log, at DEBUG (its cap).
    assert!(
        !lines_at(&out, "DEBUG").is_empty(),
        "expected the SDK's DEBUG lines at RUST_LOG=trace: {stderr}"
    );
    // Request/response bodies and headers are the SDK's, the signer's and hyper's TRACE lines.
    let trace: Vec<_> = lines_at(&out, "TRACE")
        .into_iter()
        .filter(|l| l.contains("body") || l.contains("headers"))
        .collect();
    assert!(trace.is_empty(), "{trace:#?}");
}
