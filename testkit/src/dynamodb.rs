//! DynamoDB tables the way the tests and benchmarks create them on moto.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// Creates an on-demand table `name` with the string hash key `key` (the shape of the pipeline's
/// checkpoint and state tables).
pub async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .expect("name and key type are set"),
        )
        .send()
        .await?;
    Ok(())
}
