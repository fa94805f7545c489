//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `cargo xtask codegen`: regenerate `cdc-models/src/generated/` and the capture SQL in
//!   `cdc-capture/sql/generated/` from `model-schemas/`.
//! - `cargo xtask codegen --check`: fail, listing stale, missing and leftover files, when the
//!   generated code is not what the schemas produce. A `#[test]` runs the same check, so a plain
//!   `cargo test` fails on stale output (rust-analyzer's pattern).
//! - `cargo xtask demo`: the whole chain from a PostgreSQL write to a consumer, on this machine
//!   (see `demo.rs`).
//! - `cargo xtask schema-diff [--against <git-ref>]`: classify every change of `model-schemas/`
//!   against a revision (default `HEAD`) as additive, breaking or privacy-relevant, and fail on a
//!   breaking or privacy-relevant one without a version bump and a CHANGELOG line.

mod codegen;
mod demo;
mod schema_diff;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let mode = match args.get(1).map(String::as_str) {
                None => codegen::Mode::Overwrite,
                Some("--check") => codegen::Mode::Check,
                Some(other) => bail!("unknown codegen flag `{other}` (expected --check)"),
            };
            codegen::run(mode)
        }
        Some("demo") => demo::run(),
        Some("schema-diff") => schema_diff::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check] | demo | schema-diff [--against <git-ref>]"
            );
            bail!("unknown or missing command")
        }
    }
}
