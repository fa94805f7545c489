//! Error texts that point at the cause, and `.env`: the binaries as an operator runs them, against
//! moto (an empty one for "the stack is not there") or against nothing at all.

use crate::support::*;
use anyhow::Result;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A binary with only PATH and `vars` in its environment, in `dir`; no AWS config files.
fn bare(bin: &str, dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null());
    c
}

const OPS: &str = env!("CARGO_BIN_EXE_cdc-ops");

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn no_credentials_says_so_instead_of_a_missing_queue() {
    let dir = tempfile::tempdir().unwrap();
    let moto = testkit::Moto::start();
    let o = bare(
        OPS,
        dir.path(),
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &moto.endpoint()),
        ],
    )
    .args(["dlq", "list"])
    .output()
    .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(err.contains("AWS_PROFILE"), "{err}");
    assert!(!err.contains("was not found"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");
    assert!(!err.contains("Attempted"), "no chain dump: {err}");
}

#[test]
fn an_unknown_function_is_rejected_before_any_aws_setting_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let o = bare(OPS, dir.path(), &[])
        .args(["invoke", "--function", "foo", "--event", "x.json"])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown function `foo`"), "{err}");
    assert!(!err.contains("region"), "{err}");
    // A missing event file is also reported first, once.
    let o = bare(OPS, dir.path(), &[])
        .args(["invoke", "--event", "missing.json"])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("event file missing.json not found"), "{err}");
    assert!(!err.contains("region"), "{err}");
}

#[tokio::test]
async fn a_missing_stack_gives_failed_checks_and_named_tables() -> Result<()> {
    // moto with nothing in it: the stack is not deployed (or the region/prefix is wrong).
    let dir = tempfile::tempdir()?;
    let moto = testkit::Moto::start();
    let endpoint = moto.endpoint();
    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("REDACTION_HMAC_KEY", HMAC_KEY),
    ];
    let o = bare(OPS, dir.path(), &vars)
        .args(["health", "check"])
        .output()?;
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "unhealthy, not an error:\n{out}\n{err}"
    );
    assert!(out.contains("overall: unhealthy"), "{out}");
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains(DLQ), "{out}");

    let o = bare(OPS, dir.path(), &vars)
        .args(["checkpoint", "status"])
        .output()?;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(CHECKPOINT_TABLE), "names the table: {err}");
    assert!(
        err.contains("not found (ResourceNotFoundException)"),
        "{err}"
    );
    assert!(err.contains("hint: looked up in region us-east-1"), "{err}");
    assert!(err.contains("--name-prefix"), "{err}");

    let o = bare(OPS, dir.path(), &vars)
        .args(["--name-prefix", "dev-", "dlq", "list"])
        .output()?;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`dev-cdc-pipeline-dlq` does not exist"),
        "{err}"
    );
    assert!(err.contains("name prefix `dev-`"), "{err}");
    Ok(())
}

#[tokio::test]
async fn every_binary_reads_dot_env_and_the_environment_wins() -> Result<()> {
    let s = Stack::start().await?;
    let dir = tempfile::tempdir()?;
    // The operator's settings in `.env` only: the endpoint, dummy keys, the region, a prefix-less
    // stack, and a wrong checkpoint table name that the environment overrides below.
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "# local emulator\nAWS_ENDPOINT_URL={}\nAWS_ACCESS_KEY_ID=testing\n\
             AWS_SECRET_ACCESS_KEY=testing\nAWS_REGION=us-east-1\n\
             CHECKPOINT_TABLE_NAME=not-the-table\n",
            s.moto_endpoint()
        ),
    )?;
    let o = bare(OPS, dir.path(), &[])
        .args(["checkpoint", "status", "--json"])
        .output()?;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not-the-table"), ".env was read: {err}");
    let o = bare(
        OPS,
        dir.path(),
        &[("CHECKPOINT_TABLE_NAME", CHECKPOINT_TABLE)],
    )
    .args(["checkpoint", "status", "--json"])
    .output()?;
    let (out, err) = text(&o);
    assert!(o.status.success(), "the environment wins: {err}");
    let v: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(v["checkpointTable"], CHECKPOINT_TABLE);

    // The Lambda binaries read it too (a malformed `.env` is reported, without its contents).
    std::fs::write(dir.path().join(".env"), "GOOD=1\nBAD LINE secret-value\n")?;
    for bin in [
        env!("CARGO_BIN_EXE_health-check"),
        env!("CARGO_BIN_EXE_dead-letter-processor"),
        OPS,
    ] {
        let o = bare(bin, dir.path(), &[]).arg("--help").output()?;
        let (_, err) = text(&o);
        assert!(err.contains(".env: cannot parse it"), "{bin}: {err}");
        assert!(!err.contains("secret-value"), "{bin}: {err}");
        assert_eq!(o.status.code(), Some(0), "{bin}: {err}");
    }
    Ok(())
}
