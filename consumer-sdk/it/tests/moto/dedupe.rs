//! The durable dedupe store (feature `dedupe-dynamodb`) against moto: one claim per event id,
//! across store instances, released on failure, expiring through TTL, errors naming the table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use consumer_sdk::dedupe::{DynamoDedupe, Seen};
use std::time::Duration;

async fn table(client: &aws_sdk_dynamodb::Client, name: &str, key: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_id_is_claimed_once_until_released() {
    let moto = testkit::Moto::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    table(&client, "seen-events", "eventId").await;
    let id = "0123456789abcdef0123456789abcdef";

    let store = DynamoDedupe::new(client.clone(), "seen-events");
    assert_eq!(store.claim(id).await.unwrap(), Seen::First);
    assert_eq!(store.claim(id).await.unwrap(), Seen::Duplicate);
    // Another instance of the service (a new store, same table) sees the claim too.
    let other = DynamoDedupe::new(client.clone(), "seen-events");
    assert_eq!(other.claim(id).await.unwrap(), Seen::Duplicate);
    assert_eq!(
        other
            .claim("ffffffffffffffffffffffffffffffff")
            .await
            .unwrap(),
        Seen::First
    );

    // The claim carries its expiry for DynamoDB TTL.
    let item = client
        .get_item()
        .table_name("seen-events")
        .key("eventId", AttributeValue::S(id.into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("claimed");
    let claimed: u64 = item["claimedAt"].as_n().unwrap().parse().unwrap();
    let expires: u64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires - claimed, 7 * 86_400);

    // Handling failed: released, the redelivery is handled again.
    store.release(id).await.unwrap();
    assert_eq!(store.claim(id).await.unwrap(), Seen::First);

    // Concurrent claims of one id: exactly one is first.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.claim("abababababababababababababababab").await })
        })
        .collect();
    let mut firsts = 0;
    for r in racers {
        if r.await.unwrap().unwrap() == Seen::First {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_key_and_ttl_and_a_missing_table() {
    let moto = testkit::Moto::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    table(&client, "dedupe", "pk").await;
    let store = DynamoDedupe::new(client.clone(), "dedupe")
        .with_key_attribute("pk")
        .with_ttl(Duration::from_secs(3_600));
    assert_eq!(store.claim("a").await.unwrap(), Seen::First);
    assert_eq!(store.claim("a").await.unwrap(), Seen::Duplicate);
    let item = client
        .get_item()
        .table_name("dedupe")
        .key("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let claimed: u64 = item["claimedAt"].as_n().unwrap().parse().unwrap();
    let expires: u64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires - claimed, 3_600);

    let missing = DynamoDedupe::new(client, "no-such-table");
    let err = missing.claim("a").await.unwrap_err();
    assert_eq!(err.table, "no-such-table");
    assert_eq!(err.operation, "PutItem");
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
}
