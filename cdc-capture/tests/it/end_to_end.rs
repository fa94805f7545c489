//! End to end: a real PostgreSQL with the generated capture SQL, three concurrent writers
//! (inserts, updates, deletes, multi-statement transactions; then a TRUNCATE) on `users` and
//! `orders`, the relay draining the outbox into moto Kinesis while they write, GetRecords into the
//! Lambda event shape, the processor's Lambda handler, moto EventBridge → rule → SQS, and every
//! message parsed with consumer-sdk.
//!
//! The relay is the `cdc-relay` binary, SIGKILLed three times while rows wait in the outbox (a
//! backlog of orders first, so there always are), then run to the end and stopped with SIGTERM.
//!
//! It proves: every committed change arrives exactly once per event id (a consumer deduplicating
//! on the id sees as many events as the workload committed; a copy the relay sent again after a
//! kill has its first copy's id and detail), per key in commit order (each UPDATE/DELETE `before`
//! equals the previous `after` on the columns both publish unredacted), replaying the events
//! rebuilds both tables' final contents (redacted columns aside), and nothing is dead-lettered.

use anyhow::{ensure, Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use cdc_processor::aws::lambda::handler;
use consumer_sdk::{ColumnState, Event, ImageSide, Operation};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::{Moto, Postgres};

use crate::support::chain::{aws, drain, lambda_events, STREAM, TABLES};

/// Users writer 1 inserts (it deletes the last two).
const USERS: usize = 16;
/// Orders inserted before the relay starts (two rows a round: many rounds to kill the relay in).
const BACKLOG: usize = 200;
/// Multi-statement transactions of writers 1 and 2 each.
const ROUNDS: usize = 3;

fn user_id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn order_id(n: usize) -> String {
    format!("00000000-0000-4000-9000-{n:012}")
}

fn example(table: &str) -> Value {
    Value::Object(testkit::example_row(table))
}

async fn connect(pg: &Postgres) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .context("connect to the test server")?;
    tokio::spawn(connection);
    Ok(client)
}

/// Inserts one row of `table` (its example row with `id`; orders of user 0); returns the rows
/// changed.
async fn insert(db: &impl tokio_postgres::GenericClient, table: &str, id: &str) -> Result<u64> {
    let mut row = example(table);
    row["id"] = json!(id);
    if table == "orders" {
        row["user_id"] = json!(user_id(0));
    }
    let sql = format!(
        "INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, $1::text::jsonb)).*"
    );
    Ok(db.execute(&sql, &[&row.to_string()]).await?)
}

/// Writer 1: users' lifecycle. Returns the number of row changes it committed.
async fn writer_users(mut db: tokio_postgres::Client) -> Result<u64> {
    let mut n = 0;
    for i in 0..USERS {
        n += insert(&db, "users", &user_id(i)).await?;
    }
    let first: Vec<String> = (0..8).map(user_id).collect();
    for r in 0..ROUNDS {
        // Multi-statement transaction; `updated_at` moves so every update changes the row.
        let tx = db.transaction().await?;
        let a = tx
            .execute(
                "UPDATE users SET name = $1, updated_at = clock_timestamp() \
                 WHERE id::text = ANY($2)",
                &[&format!("writer 1 round {r}"), &first],
            )
            .await?;
        let b = tx
            .execute(
                "UPDATE users SET status = 'inactive', updated_at = clock_timestamp() \
                 WHERE id::text = $1",
                &[&user_id(10 + r)],
            )
            .await?;
        tx.commit().await?;
        n += a + b;
    }
    let gone: Vec<String> = (USERS - 2..USERS).map(user_id).collect();
    n += db
        .execute("DELETE FROM users WHERE id::text = ANY($1)", &[&gone])
        .await?;
    Ok(n)
}

/// Writer 2: orders, and in the same transactions the users writer 1 updates (row locks order
/// the two writers' changes of a user). Locks orders before users, writer 1 only users: no
/// deadlock.
async fn writer_orders(mut db: tokio_postgres::Client) -> Result<u64> {
    let mut n = 0;
    for i in 0..10 {
        n += insert(&db, "orders", &order_id(i)).await?;
    }
    let some: Vec<String> = (0..5).map(order_id).collect();
    for r in 0..ROUNDS {
        let tx = db.transaction().await?;
        let a = tx
            .execute(
                "UPDATE orders SET total = total + 1, status = 'refunded', \
                 updated_at = clock_timestamp() WHERE id::text = ANY($1)",
                &[&some],
            )
            .await?;
        let b = tx
            .execute(
                "UPDATE users SET locale = $1, updated_at = clock_timestamp() \
                 WHERE id::text = $2",
                &[&format!("en-{r}"), &user_id(r)],
            )
            .await?;
        tx.commit().await?;
        n += a + b;
    }
    let gone: Vec<String> = (8..10).map(order_id).collect();
    n += db
        .execute("DELETE FROM orders WHERE id::text = ANY($1)", &[&gone])
        .await?;
    Ok(n)
}

/// Writer 3: transactions that insert and update the same new order and touch a user; then one
/// that deletes an order of its own and one that rolls back (captures nothing).
async fn writer_mixed(mut db: tokio_postgres::Client) -> Result<u64> {
    let mut n = 0;
    for i in 0..3 {
        let tx = db.transaction().await?;
        let a = insert(&tx, "orders", &order_id(100 + i)).await?;
        let b = tx
            .execute(
                "UPDATE orders SET notes = $1, updated_at = clock_timestamp() WHERE id::text = $2",
                &[&format!("call back {i}"), &order_id(100 + i)],
            )
            .await?;
        let c = tx
            .execute(
                "UPDATE users SET mfa_enabled = NOT mfa_enabled, updated_at = clock_timestamp() \
                 WHERE id::text = $1",
                &[&user_id(5 + i)],
            )
            .await?;
        tx.commit().await?;
        n += a + b + c;
    }
    let tx = db.transaction().await?;
    n += tx
        .execute("DELETE FROM orders WHERE id::text = $1", &[&order_id(100)])
        .await?;
    tx.commit().await?;
    let tx = db.transaction().await?;
    insert(&tx, "orders", &order_id(999)).await?;
    tx.rollback().await?;
    Ok(n)
}

/// The columns of an image published with their real value (not redacted, not absent).
fn plain(event: &Event, side: ImageSide) -> Map<String, Value> {
    let image = match side {
        ImageSide::Before => event.change.before_json(),
        ImageSide::After => event.change.after_json(),
    };
    let Some(Value::Object(image)) = image else {
        return Map::new();
    };
    image
        .into_iter()
        .filter(|(c, _)| {
            matches!(
                event.change.column_state(side, c),
                ColumnState::Value | ColumnState::Null
            )
        })
        .collect()
}

/// Equal JSON values, timestamps compared as instants (the trigger writes microseconds, the
/// processor publishes RFC 3339 without trailing zero fractions).
fn same(table: &Value, published: &Value) -> bool {
    use consumer_sdk::chrono::DateTime;
    match (table, published) {
        (Value::String(a), Value::String(b)) if a != b => {
            match (
                DateTime::parse_from_rfc3339(a),
                DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            }
        }
        (a, b) => a == b,
    }
}

/// Runs `cdc-relay` (two rows a round), SIGKILLs it three times while rows wait in the outbox,
/// then runs one more until `done` and an empty outbox, and stops it with SIGTERM. Returns the
/// number of kills made with rows waiting.
async fn relay_killed_three_times(
    url: String,
    endpoint: String,
    done: Arc<AtomicBool>,
) -> Result<u32> {
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_cdc-relay"))
            .env("CDC_RELAY_DATABASE_URL", &url)
            .env("CDC_RELAY_STREAM", STREAM)
            .env("CDC_RELAY_BATCH", "2")
            .env("CDC_RELAY_POLL_INTERVAL_MS", "10")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("cdc-relay starts")
    };
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let depth = || cdc_capture::outbox::depth(&db);
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while kills < 3 {
        let mut relay = spawn()?;
        // Let it relay a few rounds, then kill it while rows wait (mid-flight).
        tokio::time::sleep(Duration::from_millis(150 + 100 * kills as u64)).await;
        loop {
            ensure!(Instant::now() < deadline, "rows to kill the relay over");
            if depth().await? > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        relay.kill()?;
        relay.wait()?;
        kills += 1;
    }
    let mut relay = spawn()?;
    while !(done.load(Ordering::SeqCst) && depth().await? == 0) {
        ensure!(Instant::now() < deadline, "the outbox drains");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill -TERM");
    ensure!(relay.wait()?.success(), "SIGTERM exits 0");
    Ok(kills)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_arrive_once_in_commit_order_and_replay_to_the_tables() -> Result<()> {
    let pg = Postgres::start();
    let moto = Moto::start();
    let aws = aws(&moto).await?;
    let kinesis = aws_sdk_kinesis::Client::new(&aws.sdk);
    let admin = connect(&pg).await?;
    admin.batch_execute(cdc_capture::TABLES_SQL).await?;
    admin.batch_execute(cdc_capture::INSTALL_SQL).await?;

    // The relay binary drains while the writers write (two rows a round, so many rounds), and
    // is SIGKILLed three times while rows wait: what it sent and had not deleted is sent again.
    // A backlog first (orders the TRUNCATE removes later), so that every kill finds rows waiting.
    let mut committed = 0;
    for i in 0..BACKLOG {
        committed += insert(&admin, "orders", &order_id(1000 + i)).await?;
    }
    let done = Arc::new(AtomicBool::new(false));
    let relays = tokio::spawn(relay_killed_three_times(
        pg.url(),
        moto.endpoint(),
        done.clone(),
    ));

    let writers = [
        tokio::spawn(writer_users(connect(&pg).await?)),
        tokio::spawn(writer_orders(connect(&pg).await?)),
        tokio::spawn(writer_mixed(connect(&pg).await?)),
    ];
    for w in writers {
        committed += w.await??;
    }
    // Then a TRUNCATE (one record, no row), and new orders after it.
    admin.batch_execute("TRUNCATE orders").await?;
    committed += 1;
    for i in 200..202 {
        committed += insert(&admin, "orders", &order_id(i)).await?;
    }
    done.store(true, Ordering::SeqCst);
    let kills = relays.await??;
    assert_eq!(kills, 3, "three relays killed mid-flight");
    assert_eq!(cdc_capture::outbox::depth(&admin).await?, 0);

    // Kinesis → the processor's Lambda handler, shard by shard in sequence order.
    let events = lambda_events(&kinesis, &aws.stream_arn).await?;
    let total: usize = events
        .iter()
        .map(|e| e["Records"].as_array().unwrap().len())
        .sum();
    assert!(total as u64 >= committed, "records on the stream: {total}");
    for e in events {
        let event: KinesisEvent = serde_json::from_value(e)?;
        let response = handler(
            &aws.state,
            LambdaEvent::new(event, LambdaContext::default()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
    }

    // EventBridge → rule → SQS → consumer-sdk.
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    let bodies = drain(&sqs, &aws.routed).await?;
    let received: Vec<Event> = bodies
        .iter()
        .map(|b| Event::from_sqs_body(b))
        .collect::<Result<_, _>>()?;
    let details: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).map(|v| v["detail"].clone()))
        .collect::<Result<_, _>>()?;
    assert!(drain(&sqs, &aws.dlq).await?.is_empty(), "dead letters");
    assert_eq!(received.len(), total, "every record published");
    // A consumer deduplicates on the event id: a resent change has its first copy's id and
    // detail (only its Kinesis position differs). Exactly one event per committed change.
    let mut first: HashMap<&str, &Value> = HashMap::new();
    let mut resent = 0;
    for (e, detail) in received.iter().zip(&details) {
        match first.get(e.dedupe_key()) {
            None => {
                first.insert(e.dedupe_key(), detail);
            }
            Some(f) => {
                resent += 1;
                let (mut a, mut b) = ((*f).clone(), detail.clone());
                for d in [&mut a, &mut b] {
                    for k in ["sequenceNumber", "shardId", "subSequenceNumber"] {
                        d["metadata"].as_object_mut().context("metadata")?.remove(k);
                    }
                }
                ensure!(a == b, "a resend under id {} differs", e.dedupe_key());
            }
        }
    }
    assert_eq!(
        first.len() as u64,
        committed,
        "one event id per committed change ({resent} resent copies)"
    );
    eprintln!("{total} records for {committed} changes: {resent} resent after the kills");
    let mut received: Vec<Event> = received;
    received.sort_by_key(|e| e.change.metadata().sequence_number.clone());
    let mut kept = HashSet::new();
    received.retain(|e| kept.insert(e.dedupe_key().to_string()));
    assert_eq!(received.len() as u64, committed);

    // Per key, in Kinesis order (one key, one shard): INSERT first, and each UPDATE/DELETE
    // `before` is the previous `after` on the columns both publish unredacted.
    let mut truncated: HashMap<&str, Vec<&Event>> = HashMap::new();
    let mut per_key: BTreeMap<(String, String), Vec<&Event>> = BTreeMap::new();
    for e in &received {
        let table = e.change.table_name();
        if e.change.operation() == Operation::Truncate {
            truncated.entry(table).or_default().push(e);
            continue;
        }
        let image = e
            .change
            .after_json()
            .or_else(|| e.change.before_json())
            .context("an image")?;
        let id = image["id"].as_str().context("id")?.to_string();
        per_key.entry((table.to_string(), id)).or_default().push(e);
    }
    assert_eq!(truncated.len(), 1, "one TRUNCATE of orders");
    assert_eq!(truncated["orders"].len(), 1);
    let truncate_at = truncated["orders"][0].change.timestamp();
    let mut updates = 0;
    for ((table, id), changes) in &mut per_key {
        changes.sort_by_key(|e| e.change.metadata().sequence_number.clone());
        let shards: HashSet<_> = changes
            .iter()
            .map(|e| &e.change.metadata().shard_id)
            .collect();
        assert_eq!(shards.len(), 1, "{table} {id} on one shard");
        let mut previous: Option<&Event> = None;
        for e in changes.iter() {
            let op = e.change.operation();
            // `timestamp` is the commit time: a key's changes commit one after the other.
            if let Some(p) = previous {
                ensure!(
                    e.change.timestamp() >= p.change.timestamp(),
                    "{table} {id}: commit times out of order"
                );
            }
            match (previous.map(|p| p.change.operation()), op) {
                (None | Some(Operation::Delete), Operation::Insert) => {}
                (
                    Some(Operation::Insert | Operation::Update),
                    Operation::Update | Operation::Delete,
                ) => {
                    let before = plain(e, ImageSide::Before);
                    let prev_after = plain(previous.unwrap(), ImageSide::After);
                    let common: Vec<&String> = before
                        .keys()
                        .filter(|c| prev_after.contains_key(*c))
                        .collect();
                    ensure!(
                        common.len() >= 4,
                        "{table} {id}: too few comparable columns"
                    );
                    for c in common {
                        ensure!(
                            before[c] == prev_after[c],
                            "{table} {id}: {op:?} before.{c} is not the previous after.{c}"
                        );
                    }
                    updates += 1;
                }
                (p, o) => anyhow::bail!("{table} {id}: {o:?} after {p:?}"),
            }
            previous = Some(e);
        }
    }
    assert!(updates > 30, "updates and deletes checked: {updates}");

    // Replay: the last image of each key, keys whose last change precedes the TRUNCATE of their
    // table dropped (`timestamp` is the commit time: the TRUNCATE committed after every writer's
    // transaction, the later inserts after it).
    let mut replayed: BTreeMap<(String, String), Map<String, Value>> = BTreeMap::new();
    for ((table, id), changes) in &per_key {
        let last = changes.last().unwrap();
        if table == "orders" && last.change.timestamp() <= truncate_at {
            continue;
        }
        if last.change.operation() != Operation::Delete {
            replayed.insert((table.clone(), id.clone()), plain(last, ImageSide::After));
        }
    }

    // The tables' contents, in the trigger's own rendering (SNAPSHOT records of the generated
    // `cdc.snapshot`, read straight from the outbox).
    let mut actual: BTreeMap<(String, String), Map<String, Value>> = BTreeMap::new();
    for table in TABLES {
        cdc_capture::outbox::snapshot(&admin, table).await?;
    }
    for row in admin
        .query("DELETE FROM cdc.outbox RETURNING payload::text", &[])
        .await?
    {
        let payload: Value = serde_json::from_str(row.get(0))?;
        let after = payload["after"].as_object().context("after")?.clone();
        let table = payload["table"].as_str().context("table")?.to_string();
        let id = after["id"].as_str().context("id")?.to_string();
        actual.insert((table, id), after);
    }
    assert_eq!(
        replayed.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>(),
        "the replayed keys are the tables' keys"
    );
    assert_eq!(
        actual.len(),
        USERS - 2 + 2,
        "users left, orders after the TRUNCATE"
    );
    for (key, image) in &replayed {
        let row = &actual[key];
        ensure!(image.len() >= 4, "{key:?}: few published columns");
        for (c, v) in image {
            ensure!(
                row.get(c).is_some_and(|r| same(r, v)),
                "{key:?}: replayed {c} differs from the table"
            );
        }
    }
    drop(moto);
    Ok(())
}
