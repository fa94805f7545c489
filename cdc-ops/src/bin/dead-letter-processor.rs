//! The `dead-letter-processor` Lambda function (SQS trigger on the dead-letter queue): see
//! `cdc_ops::redrive`.

use clap::Parser;

/// The `dead-letter-processor` Lambda function: re-drives the dead letters of its SQS trigger
/// through the pipeline; a letter that fails again goes back to the queue, or to the parking
/// queue after DLQ_MAX_ATTEMPTS.
///
/// Runs under the Lambda runtime (AWS_LAMBDA_RUNTIME_API, AWS_REGION, … set by Lambda); its
/// variables are listed in docs/lambdas/dead-letter-processor.md. To re-drive from a terminal:
/// `cdc-ops dlq process`.
#[derive(Parser, Debug)]
#[command(name = "dead-letter-processor", version, about, long_about)]
struct Cli {}

fn main() -> Result<(), lambda_runtime::Error> {
    // `.env` (local runs; variables already set win) before clap and before any thread starts.
    cdc_ops::shared::load_dotenv("dead-letter-processor");
    Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(cdc_ops::redrive::run())
}
