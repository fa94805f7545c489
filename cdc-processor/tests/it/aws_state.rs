//! Checkpoints and processor state in DynamoDB (moto): forward-only in numeric order, conditional
//! conflicts between concurrent writers, the seed's `save_state` / `get_state`.

use crate::support::STREAM_ARN;
use aws_sdk_dynamodb::types::AttributeValue;
use cdc_processor::aws::dynamodb::{
    checkpoint_id, encode_position, DynamoCheckpointStore, DynamoStateStore,
};
use cdc_processor::ports::{
    Advance, CheckpointKey, CheckpointStore, ProcessorState, StateError, StateStore,
};
use cdc_processor::sequence::Position;
use chrono::{TimeZone, Utc};
use testkit::stack::{CHECKPOINT_TABLE as CHECKPOINTS, STATE_TABLE as STATE};
use testkit::Stack;

fn pos(seq: &str, sub: Option<u64>) -> Position {
    Position {
        sequence: seq.parse().unwrap(),
        sub_sequence: sub,
    }
}

fn key(shard: &str) -> CheckpointKey {
    CheckpointKey {
        processor: "cdc-processor".into(),
        stream: STREAM_ARN.into(),
        shard: shard.into(),
    }
}

/// moto with the checkpoint and state tables.
async fn setup() -> (Stack, aws_sdk_dynamodb::Client) {
    let stack = Stack::builder().start().await.unwrap();
    let ddb = stack.dynamodb();
    (stack, ddb)
}

#[tokio::test]
async fn checkpoints_only_move_forward_in_numeric_order() {
    let (_moto, ddb) = setup().await;
    let store = DynamoCheckpointStore::new(ddb.clone(), CHECKPOINTS);
    let k = key("shardId-000000000000");
    assert_eq!(store.load(&k).await.unwrap(), None);

    // "9" < "10" numerically although not as strings.
    assert_eq!(
        store.advance(&k, &pos("9", None)).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(
        store.advance(&k, &pos("10", None)).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(store.load(&k).await.unwrap(), Some(pos("10", None)));
    assert_eq!(
        store.advance(&k, &pos("9", None)).await.unwrap(),
        Advance::AlreadyAhead
    );
    assert_eq!(
        store.advance(&k, &pos("10", None)).await.unwrap(),
        Advance::AlreadyAhead,
        "the same position does not move it"
    );
    // Sub-records of an aggregate come after the plain position, in order.
    assert_eq!(
        store.advance(&k, &pos("10", Some(0))).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(
        store.advance(&k, &pos("10", Some(2))).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(
        store.advance(&k, &pos("10", Some(1))).await.unwrap(),
        Advance::AlreadyAhead
    );
    // Real 56-digit sequence numbers, and the 129-digit maximum.
    let a = "49590338271490256608559692538361571095921575989136588898";
    let b = "49590338271490256608559692540925702759324208523137515618";
    assert_eq!(
        store.advance(&k, &pos(a, None)).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(
        store.advance(&k, &pos(b, None)).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(
        store.advance(&k, &pos(a, Some(9))).await.unwrap(),
        Advance::AlreadyAhead
    );
    let max = "9".repeat(129);
    assert_eq!(
        store.advance(&k, &pos(&max, None)).await.unwrap(),
        Advance::Moved
    );
    assert_eq!(store.load(&k).await.unwrap(), Some(pos(&max, None)));

    // Other shards are independent.
    let other = key("shardId-000000000001");
    assert_eq!(store.load(&other).await.unwrap(), None);
    assert_eq!(
        store.advance(&other, &pos("1", None)).await.unwrap(),
        Advance::Moved
    );

    // The item as documented.
    let item = ddb
        .get_item()
        .table_name(CHECKPOINTS)
        .key("pk", AttributeValue::S(checkpoint_id(&k)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["position"],
        AttributeValue::S(encode_position(&pos(&max, None)))
    );
    assert_eq!(item["sequenceNumber"], AttributeValue::S(max.clone()));
    assert_eq!(
        item["shard"],
        AttributeValue::S("shardId-000000000000".into())
    );
}

#[tokio::test]
async fn concurrent_writers_never_move_a_checkpoint_back() {
    let (_moto, ddb) = setup().await;
    let store = DynamoCheckpointStore::new(ddb, CHECKPOINTS);
    let k = key("shardId-000000000007");
    // 40 writers race with positions in a scrambled order; the conditional write must leave the
    // largest, and exactly the writes that were forward at their time report Moved.
    let seqs: Vec<u64> = (0..40).map(|i| (i * 17) % 40 + 1).collect();
    let results = futures_join_all(seqs.iter().map(|s| {
        let store = store.clone();
        let k = k.clone();
        let p = pos(&s.to_string(), None);
        async move { store.advance(&k, &p).await }
    }))
    .await;
    let moved = results
        .iter()
        .filter(|r| matches!(r, Ok(Advance::Moved)))
        .count();
    let ahead = results
        .iter()
        .filter(|r| matches!(r, Ok(Advance::AlreadyAhead)))
        .count();
    assert_eq!(moved + ahead, 40, "no errors: {results:?}");
    assert!(moved >= 1);
    assert_eq!(store.load(&k).await.unwrap(), Some(pos("40", None)));
}

/// Runs the futures concurrently on the runtime and collects their results in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn state_is_saved_and_read_back() {
    let (_moto, ddb) = setup().await;
    let store = DynamoStateStore::new(ddb.clone(), STATE);
    assert_eq!(store.get_state("processor-1").await.unwrap(), None);
    let state = ProcessorState {
        last_processed_sequence: "12345".into(),
        processed_count: 1000,
        last_updated: Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap(),
    };
    store.save_state("processor-1", &state).await.unwrap();
    assert_eq!(
        store.get_state("processor-1").await.unwrap(),
        Some(state.clone())
    );
    let newer = ProcessorState {
        last_processed_sequence: "49590338271490256608559692538361571095921575989136588898".into(),
        processed_count: 1001,
        last_updated: Utc.with_ymd_and_hms(2024, 1, 15, 10, 31, 0).unwrap(),
    };
    store.save_state("processor-1", &newer).await.unwrap();
    assert_eq!(store.get_state("processor-1").await.unwrap(), Some(newer));
    assert_eq!(store.get_state("processor-2").await.unwrap(), None);
    // The seed's attribute names.
    let item = ddb
        .get_item()
        .table_name(STATE)
        .key("processor", AttributeValue::S("processor-1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["processedCount"], AttributeValue::N("1001".into()));
    assert_eq!(
        item["lastUpdated"],
        AttributeValue::S("2024-01-15T10:31:00.000Z".into())
    );
}

#[tokio::test]
async fn progress_adds_counts_and_keeps_the_furthest_sequence() {
    let (_moto, ddb) = setup().await;
    let store = DynamoStateStore::new(ddb, STATE);
    let t = |m| Utc.with_ymd_and_hms(2024, 1, 15, 10, m, 0).unwrap();
    store
        .record_progress("p#shardId-0", &pos("100", None), 5, t(1))
        .await
        .unwrap();
    store
        .record_progress("p#shardId-0", &pos("99", None), 2, t(2))
        .await
        .unwrap();
    let s = store.get_state("p#shardId-0").await.unwrap().unwrap();
    assert_eq!(s.last_processed_sequence, "100", "never moves back");
    assert_eq!(s.processed_count, 7);
    assert_eq!(s.last_updated, t(2));
    store
        .record_progress("p#shardId-0", &pos("1000", None), 1, t(3))
        .await
        .unwrap();
    let s = store.get_state("p#shardId-0").await.unwrap().unwrap();
    assert_eq!(
        (s.last_processed_sequence.as_str(), s.processed_count),
        ("1000", 8)
    );
}

#[tokio::test]
async fn a_missing_table_is_a_state_error() {
    let moto = testkit::Moto::start();
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let store = DynamoCheckpointStore::new(ddb.clone(), "no-such-table");
    let err: StateError = store.load(&key("s")).await.unwrap_err();
    assert!(err.0.contains("ResourceNotFoundException"), "{err}");
    let err = store.advance(&key("s"), &pos("1", None)).await.unwrap_err();
    assert!(err.0.contains("ResourceNotFoundException"), "{err}");
    let err = DynamoStateStore::new(ddb, "no-such-table")
        .get_state("p")
        .await
        .unwrap_err();
    assert!(err.0.contains("ResourceNotFoundException"), "{err}");
}
