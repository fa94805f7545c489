//! The relay: outbox rows → Kinesis `PutRecords`, deleted only after Kinesis acknowledged them.
//!
//! One round ([`Relay::drain_once`]) reads the oldest rows in id order and takes at most one row
//! per partition key (a key's later changes wait for the next round, so a failed record is never
//! overtaken by a later change of its row), split into up to `in_flight` `PutRecords` calls of at
//! most [`MAX_RECORDS`] records and [`MAX_BYTES`] bytes sent at the same time: a key's rows are
//! never in two calls in flight. Records Kinesis rejected stay in the outbox and are sent again; a
//! relay that stops between the ack and the delete sends them again after a restart (duplicates,
//! never loss, and the same event id downstream: see [`outbox::record`]).
//!
//! One relay per outbox, or one per hash bucket of partition keys ([`Bucket`]): [`Relay::lock`]
//! takes the session advisory locks that keep it so.

use crate::outbox::{self, OutboxRow};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use std::collections::HashSet;

/// PutRecords' limit on records per call.
pub const MAX_RECORDS: usize = 500;
/// PutRecords' limit on bytes per call (data plus partition keys).
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// The advisory lock key of the outbox (`hashtext('cdc.outbox')` is not stable across versions,
/// so a constant): held exclusively by a whole-outbox relay, shared by bucket relays.
pub const LOCK_KEY: i64 = 0x0cdc_0ca7;
/// The first key of a bucket relay's own lock (two-key form: this and `count << 16 | index`).
pub const BUCKET_LOCK_CLASS: i32 = 0x0cdc;
/// Most buckets.
pub const MAX_BUCKETS: u32 = 256;

/// One hash bucket of partition keys, `index/count`: the rows whose
/// `(hashtext(partition_key) + 2^31) % count` is `index`. Every change of a key is in one bucket,
/// so one relay per bucket keeps each key's order; all bucket relays of an outbox must use the
/// same `count` ([`Relay::lock`] refuses another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// This bucket, `0..count`.
    pub index: u32,
    /// How many buckets, `1..=`[`MAX_BUCKETS`].
    pub count: u32,
}

/// A bucket that is not `i/n` with `0 <= i < n <= 256`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a bucket is i/n with 0 <= i < n <= {MAX_BUCKETS}")]
pub struct InvalidBucket;

impl std::str::FromStr for Bucket {
    type Err = InvalidBucket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or(InvalidBucket)?;
        let index: u32 = i.trim().parse().map_err(|_| InvalidBucket)?;
        let count: u32 = n.trim().parse().map_err(|_| InvalidBucket)?;
        if count == 0 || count > MAX_BUCKETS || index >= count {
            return Err(InvalidBucket);
        }
        Ok(Bucket { index, count })
    }
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A relay error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Outbox(#[from] outbox::Error),
    /// The lock query failed.
    #[error("advisory lock: {0}")]
    Lock(#[source] tokio_postgres::Error),
    /// Another relay holds the outbox (or this bucket).
    #[error("another relay holds the outbox's advisory lock {LOCK_KEY} (or this bucket's)")]
    Locked,
    /// Bucket relays with another bucket count hold the outbox.
    #[error("bucket relays with another bucket count than {0} hold the outbox")]
    OtherBucketCount(u32),
    /// The PutRecords call failed as a whole.
    #[error("PutRecords to {stream}: {message}")]
    Kinesis {
        /// The stream.
        stream: String,
        /// The SDK's error, with its source chain.
        message: String,
    },
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Rows read from the outbox.
    pub read: usize,
    /// Records sent in the PutRecords call.
    pub sent: usize,
    /// Records Kinesis acknowledged (and rows deleted).
    pub acked: usize,
    /// Records Kinesis rejected (left in the outbox, sent again).
    pub failed: usize,
}

/// The relay of one outbox to one stream.
#[derive(Debug)]
pub struct Relay {
    db: tokio_postgres::Client,
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    read_limit: i64,
    in_flight: usize,
    bucket: Option<Bucket>,
    source: std::sync::OnceLock<outbox::Source>,
}

impl Relay {
    /// A relay reading up to `read_limit` rows a round.
    pub fn new(
        db: tokio_postgres::Client,
        kinesis: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        read_limit: i64,
    ) -> Self {
        Relay {
            db,
            kinesis,
            stream: stream.into(),
            read_limit: read_limit.max(1),
            in_flight: 1,
            bucket: None,
            source: std::sync::OnceLock::new(),
        }
    }

    /// Up to `calls` `PutRecords` calls in flight per round (at least 1; default 1).
    pub fn with_in_flight(mut self, calls: usize) -> Self {
        self.in_flight = calls.max(1);
        self
    }

    /// Relays only this bucket's rows.
    pub fn with_bucket(mut self, bucket: Bucket) -> Self {
        self.bucket = Some(bucket);
        self
    }

    /// Takes this session's advisory locks, or fails with [`Error::Locked`]: a whole-outbox relay
    /// the outbox's lock exclusively; a bucket relay that lock shared (no whole-outbox relay runs
    /// beside bucket relays) and its bucket's exclusively, and it fails with
    /// [`Error::OtherBucketCount`] while relays of another bucket count hold theirs.
    pub async fn lock(&self) -> Result<(), Error> {
        let Some(bucket) = self.bucket else {
            return self
                .try_lock("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
                .await;
        };
        self.try_lock("SELECT pg_try_advisory_lock_shared($1)", &[&LOCK_KEY])
            .await?;
        let key = bucket_key(bucket);
        let own = self
            .try_lock(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&BUCKET_LOCK_CLASS, &key],
            )
            .await;
        let others = match own {
            Ok(()) => self
                .db
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                       AND objsubid = 2 AND classid::text::bigint = $1 \
                       AND (objid::text::bigint >> 16) <> $2",
                    &[&i64::from(BUCKET_LOCK_CLASS), &i64::from(bucket.count)],
                )
                .await
                .map_err(Error::Lock)?
                .get::<_, i64>(0),
            Err(_) => 0,
        };
        if own.is_err() || others > 0 {
            // Whatever was taken goes back (this session holds no other advisory lock).
            self.db
                .batch_execute("SELECT pg_advisory_unlock_all()")
                .await
                .map_err(Error::Lock)?;
            own?;
            return Err(Error::OtherBucketCount(bucket.count));
        }
        Ok(())
    }

    async fn try_lock(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), Error> {
        let row = self.db.query_one(sql, params).await.map_err(Error::Lock)?;
        if row.get::<_, bool>(0) {
            Ok(())
        } else {
            Err(Error::Locked)
        }
    }

    /// The database client.
    pub fn db(&self) -> &tokio_postgres::Client {
        &self.db
    }

    /// One round: read, send (up to `in_flight` calls at once), delete what was acknowledged. A
    /// call that fails as a whole leaves its rows for the next round; the other calls' acknowledged
    /// rows are deleted before its error is returned.
    pub async fn drain_once(&self) -> Result<Round, Error> {
        let source = match self.source.get() {
            Some(s) => s,
            None => {
                let s = outbox::source(&self.db).await?;
                self.source.get_or_init(|| s)
            }
        };
        let rows = outbox::fetch_bucket(
            &self.db,
            self.read_limit,
            source.commit_times,
            self.bucket.map(|b| (b.index, b.count)),
        )
        .await?;
        let batches = select_batches(&rows, self.in_flight);
        let mut round = Round {
            read: rows.len(),
            sent: batches.iter().map(Vec::len).sum(),
            ..Round::default()
        };
        let mut calls = tokio::task::JoinSet::new();
        for batch in batches {
            let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
            let entries = batch
                .iter()
                .map(|r| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(&r.partition_key)
                        .data(Blob::new(outbox::record(r, &source.id)))
                        .build()
                        .expect("partition key and data are set")
                })
                .collect::<Vec<_>>();
            let call = self
                .kinesis
                .put_records()
                .stream_name(&self.stream)
                .set_records(Some(entries));
            calls.spawn(async move { (ids, call.send().await) });
        }
        let mut acked = Vec::with_capacity(round.sent);
        let mut error = None;
        while let Some(joined) = calls.join_next().await {
            let (ids, result) = match joined {
                Ok(done) => done,
                Err(e) => {
                    error.get_or_insert(Error::Kinesis {
                        stream: self.stream.clone(),
                        message: format!("PutRecords task: {e}"),
                    });
                    continue;
                }
            };
            match result {
                Ok(out) => {
                    let before = acked.len();
                    acked.extend(
                        ids.iter()
                            .zip(out.records())
                            .filter(|(_, result)| result.error_code().is_none())
                            .map(|(id, _)| *id),
                    );
                    round.failed += ids.len() - (acked.len() - before);
                }
                Err(e) => {
                    round.failed += ids.len();
                    error.get_or_insert(Error::Kinesis {
                        stream: self.stream.clone(),
                        message: aws_sdk_kinesis::error::DisplayErrorContext(e).to_string(),
                    });
                }
            }
        }
        round.acked = acked.len();
        if !acked.is_empty() {
            outbox::delete(&self.db, &acked).await?;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(round),
        }
    }
}

/// The second key of a bucket's lock.
fn bucket_key(bucket: Bucket) -> i32 {
    // count ≤ 256 and index < count: fits in 31 bits.
    ((bucket.count << 16) | bucket.index) as i32
}

/// The rows of up to `calls` PutRecords calls sent at the same time: in id order, the first row of
/// each partition key (over all the calls), each call within the record and byte limits. A key's
/// later rows wait: sending them in the same round could reorder them (PutRecords is neither
/// ordered nor atomic, and calls in flight finish in any order).
pub fn select_batches(rows: &[OutboxRow], calls: usize) -> Vec<Vec<&OutboxRow>> {
    let mut seen = HashSet::new();
    let mut batches = Vec::new();
    let mut current: Vec<&OutboxRow> = Vec::new();
    let mut bytes = 0;
    for row in rows {
        if !seen.insert(row.partition_key.as_str()) {
            continue;
        }
        let size = row.payload.len() + outbox::RECORD_GROWTH + row.partition_key.len();
        if current.len() == MAX_RECORDS || (bytes + size > MAX_BYTES && !current.is_empty()) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
            if batches.len() == calls.max(1) {
                return batches;
            }
        }
        bytes += size;
        current.push(row);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The rows of one PutRecords call ([`select_batches`] with one call).
pub fn select_batch(rows: &[OutboxRow]) -> Vec<&OutboxRow> {
    select_batches(rows, 1)
        .into_iter()
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, key: &str, len: usize) -> OutboxRow {
        OutboxRow {
            id,
            partition_key: key.to_string(),
            payload: "x".repeat(len),
            commit_time: None,
        }
    }

    #[test]
    fn one_record_per_key_in_id_order() {
        let rows = [
            row(1, "a", 1),
            row(2, "b", 1),
            row(3, "a", 1),
            row(4, "c", 1),
        ];
        let ids: Vec<i64> = select_batch(&rows).iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2, 4]);
    }

    #[test]
    fn calls_in_flight_never_share_a_key() {
        // 1,200 rows of 700 keys: each key's first row once over all calls, in id order.
        let rows: Vec<OutboxRow> = (0..1200)
            .map(|i| row(i, &format!("k{}", i % 700), 10))
            .collect();
        let batches = select_batches(&rows, 4);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [500, 200]);
        let ids: Vec<i64> = batches.iter().flatten().map(|r| r.id).collect();
        assert_eq!(ids, (0..700).collect::<Vec<_>>());
        // Two calls at most: the third batch's rows are not taken.
        let rows: Vec<OutboxRow> = (0..1600).map(|i| row(i, &format!("k{i}"), 10)).collect();
        let batches = select_batches(&rows, 2);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].last().unwrap().id, 999);
    }

    #[test]
    fn buckets_parse() {
        assert_eq!(
            "2/4".parse::<Bucket>().unwrap(),
            Bucket { index: 2, count: 4 }
        );
        for bad in ["4/4", "0/0", "1", "a/2", "0/257", "-1/2"] {
            assert!(bad.parse::<Bucket>().is_err(), "{bad}");
        }
        assert_eq!(bucket_key(Bucket { index: 3, count: 4 }), 0x0004_0003);
    }

    #[test]
    fn limits_records_and_bytes() {
        let rows: Vec<OutboxRow> = (0..600).map(|i| row(i, &format!("k{i}"), 10)).collect();
        assert_eq!(select_batch(&rows).len(), MAX_RECORDS);
        let rows: Vec<OutboxRow> = (0..10)
            .map(|i| row(i, &format!("k{i}"), 1024 * 1024))
            .collect();
        assert_eq!(select_batch(&rows).len(), 4);
    }
}
