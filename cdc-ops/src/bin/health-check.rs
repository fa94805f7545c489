//! The `health-check` Lambda function (scheduled): see `cdc_ops::health`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cdc_ops::health::run().await
}
