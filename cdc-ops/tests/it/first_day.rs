//! docs/ops.md "First day": every `$` line of the walk-through runs, in order, against moto,
//! with the exit status the line states (`# exit N`, else 0). A line that stops working, or a
//! command added to the doc that does not work, fails here.

use crate::support::*;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The walk-through's `$` lines and their expected exit status.
fn commands() -> Vec<(String, i32)> {
    let doc = std::fs::read_to_string(repo().join("docs/ops.md")).unwrap();
    let start = doc.find("<!-- first-day:begin -->").expect("begin marker");
    let end = doc.find("<!-- first-day:end -->").expect("end marker");
    doc[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(|l| {
            let (command, comment) = l.split_once("    # ").unwrap_or((l, ""));
            let status = comment
                .strip_prefix("exit ")
                .and_then(|c| c.split(':').next())
                .map_or(0, |n| n.trim().parse().expect("exit status"));
            (command.trim().to_string(), status)
        })
        .collect()
}

#[tokio::test]
async fn every_command_of_the_first_day_runs() -> Result<()> {
    let commands = commands();
    assert!(commands.len() >= 10, "{commands:?}");
    let s = Stack::start().await?;
    // The template's bus archive.
    let eb = aws_sdk_eventbridge::Client::new(&s.sdk);
    let bus_arn = eb
        .describe_event_bus()
        .name(BUS)
        .send()
        .await?
        .arn
        .context("bus")?;
    eb.create_archive()
        .archive_name(format!("{BUS}-archive"))
        .event_source_arn(&bus_arn)
        .event_pattern(format!(r#"{{"source": ["{SOURCE}"]}}"#))
        .send()
        .await?;
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_cdc-ops"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (command, expected) in commands {
        let o = Command::new("sh")
            .args(["-c", &command])
            .env_clear()
            .env("PATH", &path)
            .env("AWS_ENDPOINT_URL", s.moto_endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("DLQ_REDRIVE_DELAY_SECONDS", "0")
            .env("CONSUMER_QUEUE_URL", &s.routed)
            .current_dir(repo())
            .stdin(std::process::Stdio::null())
            .output()?;
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(expected),
            "`{command}`:\n{out}\n{err}"
        );
        // Nothing a command prints carries the sample's personal values.
        for pii in [
            "priya.raman@acme-support.example",
            "Priya Raman",
            "QQ 12 34 56 C",
        ] {
            assert!(
                !out.contains(pii) && !err.contains(pii),
                "`{command}` printed {pii}"
            );
        }
    }
    // What the day left behind: the consumer got the sample's users/agents/orders changes (twice
    // published: before and after the reset, plus the replay), and the bad records wait in the
    // DLQ (dead-lettered again by the re-drive, and again by the second invoke).
    let routed = s.drain(&s.routed).await?;
    assert!(routed.len() >= 3, "{}", routed.len());
    let depth = cdc_ops::ops::queue_depth(&s.sqs(), &s.dlq).await?;
    assert!(depth >= 3, "dead letters waiting: {depth}");
    Ok(())
}
