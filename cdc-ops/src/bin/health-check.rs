//! The `health-check` Lambda function (scheduled): see `cdc_ops::health`.

use clap::Parser;

/// The `health-check` Lambda function: checks the bus, the stream, the tables, the dead-letter
/// queue's depth and the checkpoints' age, and writes `HealthCheckFailed` (EMF) on every run.
///
/// Runs under the Lambda runtime (AWS_LAMBDA_RUNTIME_API, AWS_REGION, … set by Lambda); its
/// variables are listed in docs/lambdas/health-check.md. To run the same checks from a terminal:
/// `cdc-ops health check`.
#[derive(Parser, Debug)]
#[command(name = "health-check", version, about, long_about)]
struct Cli {}

fn main() -> Result<(), lambda_runtime::Error> {
    // `.env` (local runs; variables already set win) before clap and before any thread starts.
    cdc_ops::shared::load_dotenv("health-check");
    Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(cdc_ops::health::run())
}
