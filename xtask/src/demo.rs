//! `cargo xtask demo`: runs `cdc-capture`'s demo example (PostgreSQL → triggers → relay → moto
//! Kinesis → the processor's Lambda handler → moto EventBridge → SQS → consumer-sdk) and exits
//! with its status: 0 only when every change arrived. Needs moto (`scripts/setup.sh`) and the
//! PostgreSQL 15 server binaries (`pg_config --bindir`).

use anyhow::{bail, Context, Result};

/// Builds and runs the demo.
pub fn run() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--quiet", "-p", "cdc-capture", "--example", "demo"])
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("the demo failed ({status})");
    }
    Ok(())
}
