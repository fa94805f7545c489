//! The `dead-letter-processor` Lambda function (SQS trigger on the dead-letter queue): see
//! `cdc_ops::redrive`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cdc_ops::redrive::run().await
}
