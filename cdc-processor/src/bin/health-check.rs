//! The `health-check` Lambda function (scheduled): see `cdc_processor::aws::health`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cdc_processor::aws::health::run().await
}
