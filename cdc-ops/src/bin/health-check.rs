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

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    Cli::parse();
    cdc_ops::health::run().await
}
