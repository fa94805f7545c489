//! The relay against a real PostgreSQL and moto Kinesis: everything in the outbox arrives, per
//! partition key in id order; one relay per outbox; a relay that dies between the Kinesis ack and
//! the delete makes the next one resend (duplicates, never loss).

use cdc_capture::relay::{Error, Relay};
use std::collections::{BTreeMap, HashMap};
use testkit::{Moto, Postgres};

const STREAM: &str = "coredb-changes";

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// Inserts `n` copies of the example `users` row, each with a new id, in one statement.
pub(crate) async fn insert_users(admin: &tokio_postgres::Client, n: i32) {
    let example = std::fs::read_to_string(
        testkit::workspace_root().join("model-schemas/examples/users.json"),
    )
    .unwrap();
    admin
        .execute(
            "INSERT INTO users SELECT (jsonb_populate_record(NULL::users, \
               jsonb_set($1::text::jsonb, '{id}', to_jsonb(gen_random_uuid()::text)))).* \
             FROM generate_series(1, $2) g",
            &[&example, &n],
        )
        .await
        .unwrap();
}

/// Every record of `stream`, `(partition key, data)`, per shard in sequence order.
pub(crate) async fn stream_records(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<(String, String)> {
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(it) = iterator {
            let got = kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .unwrap();
            if got.records().is_empty() {
                break;
            }
            for r in got.records() {
                out.push((
                    r.partition_key().unwrap_or_default().to_string(),
                    String::from_utf8(r.data().as_ref().to_vec()).unwrap(),
                ));
            }
            iterator = got.next_shard_iterator;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_everything_in_key_order_and_resends_after_a_crash() {
    let pg = Postgres::start();
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(2)
        .send()
        .await
        .unwrap();

    let admin = connect(&pg.url()).await;
    admin.batch_execute(cdc_capture::TABLES_SQL).await.unwrap();
    admin.batch_execute(cdc_capture::INSTALL_SQL).await.unwrap();
    // A relay role that may read the outbox but not delete from it: its rounds die between the
    // Kinesis ack and the delete, as a relay killed there would.
    admin
        .batch_execute(
            "CREATE ROLE crashing LOGIN; GRANT USAGE ON SCHEMA cdc TO crashing; \
             GRANT SELECT ON cdc.outbox, cdc.source TO crashing;",
        )
        .await
        .unwrap();
    // 300 users, then 3 updates of each in multi-statement transactions: 1,200 changes.
    insert_users(&admin, 300).await;
    for i in 0..3 {
        admin
            .batch_execute(&format!(
                "BEGIN; UPDATE users SET name = 'round {i}' WHERE id::text < '8'; \
                 UPDATE users SET name = 'round {i}' WHERE id::text >= '8'; COMMIT;"
            ))
            .await
            .unwrap();
    }
    let outbox: Vec<(i64, String, String)> = admin
        .query(
            "SELECT id, partition_key, payload::text FROM cdc.outbox ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(outbox.len(), 1_200);

    // One relay per outbox.
    let first = Relay::new(connect(&pg.url()).await, kinesis.clone(), STREAM, 1_000);
    first.lock().await.unwrap();
    let second = Relay::new(connect(&pg.url()).await, kinesis.clone(), STREAM, 1_000);
    assert!(matches!(second.lock().await, Err(Error::Locked)));
    drop(first);
    drop(second);

    // The crashing relay sends one round (300 keys, one record each) and fails to delete it.
    let crashing_url = pg.url().replace("user=postgres", "user=crashing");
    let crashing = Relay::new(connect(&crashing_url).await, kinesis.clone(), STREAM, 1_000);
    // Its session lock is taken once the earlier sessions are gone.
    let mut locked = false;
    for _ in 0..50 {
        match crashing.lock().await {
            Ok(()) => {
                locked = true;
                break;
            }
            Err(Error::Locked) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(locked, "the lock is released with its session");
    let err = crashing.drain_once().await.expect_err("no right to delete");
    assert!(err.to_string().contains("delete"), "{err}");
    drop(crashing);

    // A new relay resends them and drains the rest.
    let relay = Relay::new(connect(&pg.url()).await, kinesis.clone(), STREAM, 1_000);
    for _ in 0..50 {
        if relay.lock().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut rounds = 0;
    loop {
        let round = relay.drain_once().await.unwrap();
        assert_eq!(round.failed, 0);
        if round.read == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 100, "the outbox drains");
    }
    assert_eq!(cdc_capture::outbox::depth(relay.db()).await.unwrap(), 0);

    let received = stream_records(&kinesis, STREAM).await;
    assert_eq!(
        received.len(),
        1_200 + 300,
        "every change once, the crashed round twice"
    );
    // No loss, and per key every change in id order (duplicates adjacent to their first copy);
    // a resent record is the same bytes (same position, so the same event id downstream).
    let source = cdc_capture::outbox::source(relay.db()).await.unwrap();
    let mut by_key: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut sent: HashMap<i64, &str> = HashMap::new();
    for (key, data) in &received {
        let record: serde_json::Value = serde_json::from_str(data).unwrap();
        let position = record["position"].as_str().expect("a position");
        let (prefix, id) = position.rsplit_once('/').unwrap();
        assert_eq!(prefix, source.id);
        let id: i64 = id.parse().unwrap();
        assert_eq!(
            *sent.entry(id).or_insert(data),
            data.as_str(),
            "resend of {id}"
        );
        by_key.entry(key).or_default().push(id);
    }
    let mut expected: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (id, key, payload) in &outbox {
        expected.entry(key).or_default().push(*id);
        // The payload as the trigger wrote it, with the commit time and the position.
        let relayed: serde_json::Value = serde_json::from_str(sent[id]).unwrap();
        let mut written: serde_json::Value = serde_json::from_str(payload).unwrap();
        written["timestamp"] = relayed["timestamp"].clone();
        written["position"] = relayed["position"].clone();
        assert_eq!(relayed, written);
    }
    assert_eq!(by_key.len(), expected.len());
    for (key, want) in &expected {
        let mut got = by_key[key].clone();
        got.dedup();
        assert_eq!(&got, want, "changes of {key}");
    }
}

/// Four bucket relays, each with four PutRecords calls in flight, drain 1,200 changes of 300 keys
/// at the same time: every change arrives once, per key in id order. Bucket locks: one relay per
/// bucket, no whole-outbox relay beside bucket relays, no other bucket count.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_relays_with_calls_in_flight_keep_each_keys_order() {
    use cdc_capture::relay::Bucket;
    let pg = Postgres::start();
    let moto = Moto::start();
    let kinesis = aws_sdk_kinesis::Client::new(&moto.sdk_config().await);
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(4)
        .send()
        .await
        .unwrap();
    let admin = connect(&pg.url()).await;
    admin.batch_execute(cdc_capture::TABLES_SQL).await.unwrap();
    admin.batch_execute(cdc_capture::INSTALL_SQL).await.unwrap();
    insert_users(&admin, 300).await;
    for i in 0..3 {
        admin
            .execute(&format!("UPDATE users SET name = 'round {i}'"), &[])
            .await
            .unwrap();
    }
    let outbox: Vec<(i64, String)> = admin
        .query("SELECT id, partition_key FROM cdc.outbox ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(outbox.len(), 1_200);

    let relay = |bucket: Option<&str>| {
        let url = pg.url();
        let kinesis = kinesis.clone();
        let bucket = bucket.map(|b| b.parse::<Bucket>().unwrap());
        async move {
            // Small reads: many rounds, each with several calls in flight.
            let r = Relay::new(connect(&url).await, kinesis, STREAM, 120).with_in_flight(4);
            match bucket {
                Some(b) => r.with_bucket(b),
                None => r,
            }
        }
    };
    let mut relays = Vec::new();
    for i in 0..4 {
        let r = relay(Some(&format!("{i}/4"))).await;
        r.lock().await.unwrap();
        relays.push(r);
    }
    assert!(matches!(
        relay(Some("1/4")).await.lock().await,
        Err(Error::Locked)
    ));
    assert!(matches!(relay(None).await.lock().await, Err(Error::Locked)));
    assert!(matches!(
        relay(Some("0/2")).await.lock().await,
        Err(Error::OtherBucketCount(2))
    ));

    let tasks: Vec<_> = relays
        .into_iter()
        .map(|r| {
            tokio::spawn(async move {
                let mut sent = 0;
                loop {
                    let round = r.drain_once().await.unwrap();
                    assert_eq!(round.failed, 0);
                    sent += round.acked;
                    if round.read == 0 {
                        return sent;
                    }
                }
            })
        })
        .collect();
    let mut per_bucket = Vec::new();
    for t in tasks {
        per_bucket.push(t.await.unwrap());
    }
    assert_eq!(per_bucket.iter().sum::<usize>(), 1_200);
    assert!(
        per_bucket.iter().all(|&n| n > 0),
        "every bucket has keys: {per_bucket:?}"
    );
    assert_eq!(cdc_capture::outbox::depth(&admin).await.unwrap(), 0);

    let received = stream_records(&kinesis, STREAM).await;
    assert_eq!(received.len(), 1_200, "every change once");
    let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
    for (key, data) in &received {
        let record: serde_json::Value = serde_json::from_str(data).unwrap();
        let id: i64 = record["position"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap()
            .1
            .parse()
            .unwrap();
        by_key.entry(key.clone()).or_default().push(id);
    }
    let mut expected: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (id, key) in outbox {
        expected.entry(key).or_default().push(id);
    }
    for (key, want) in &expected {
        assert_eq!(&by_key[key], want, "changes of {key} in id order");
    }

    // Without the outbox's identity a relay sends nothing (its positions would be ambiguous).
    admin.execute("DELETE FROM cdc.source", &[]).await.unwrap();
    admin
        .execute("UPDATE users SET name = 'after'", &[])
        .await
        .unwrap();
    let err = relay(None)
        .await
        .drain_once()
        .await
        .expect_err("no identity");
    assert!(err.to_string().contains("install.sql"), "{err}");
    assert_eq!(cdc_capture::outbox::depth(&admin).await.unwrap(), 300);
}

/// The test emulator keeps every record of concurrent `PutRecords` calls into one shard (moto
/// alone can give two records one sequence number and drop one: `testkit/moto_server.py`). The
/// relay tests with calls in flight rely on it, so it is checked here: 16 calls of 500 records at
/// once, one shard, all 8,000 read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_emulator_keeps_every_record_of_concurrent_calls() {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    let moto = Moto::start();
    let kinesis = aws_sdk_kinesis::Client::new(&moto.sdk_config().await);
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let calls: Vec<_> = (0..16)
        .map(|call| {
            let kinesis = kinesis.clone();
            tokio::spawn(async move {
                let entries = (0..500)
                    .map(|i| {
                        PutRecordsRequestEntry::builder()
                            .partition_key(format!("k{call}-{i}"))
                            .data(Blob::new(format!("{call}/{i}")))
                            .build()
                            .unwrap()
                    })
                    .collect::<Vec<_>>();
                let out = kinesis
                    .put_records()
                    .stream_name(STREAM)
                    .set_records(Some(entries))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(out.failed_record_count(), Some(0));
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    let records = stream_records(&kinesis, STREAM).await;
    let distinct: std::collections::HashSet<_> = records.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(records.len(), 8_000, "every record stored once");
    assert_eq!(distinct.len(), 8_000);
}
