//! The outbox the generated triggers write (`cdc.outbox`): one row per change, with the
//! CoreDB-trigger-format record as its payload.

/// An outbox error (the database's message; it never holds column values of captured rows, which
/// only travel as query results).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed.
    #[error("outbox {action}: {source}")]
    Query {
        /// What was being done.
        action: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `cdc.source` has no row (an install older than it, or the row was deleted).
    #[error("cdc.source has no row: run install.sql again")]
    NoSource,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Identity id: per key, ids follow commit order.
    pub id: i64,
    /// `table:key` (or `table` for a TRUNCATE).
    pub partition_key: String,
    /// The record, as the trigger wrote it (member order kept: the column is `json`).
    pub payload: String,
    /// The commit time of the transaction that wrote the row (`pg_xact_commit_timestamp(xmin)`,
    /// RFC 3339 UTC with microseconds), when read with it and known.
    pub commit_time: Option<String>,
}

/// What the relay needs to know of the outbox once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The outbox's identity (`cdc.source`, random per install): the prefix of every position.
    pub id: String,
    /// Whether `track_commit_timestamp` is on (commit times can be read).
    pub commit_times: bool,
}

/// Reads the outbox's identity and whether commit times are tracked.
pub async fn source(client: &tokio_postgres::Client) -> Result<Source, Error> {
    let row = client
        .query_one(
            "SELECT (SELECT id::text FROM cdc.source), \
                    current_setting('track_commit_timestamp') = 'on'",
            &[],
        )
        .await
        .map_err(|source| Error::Query {
            action: "read the outbox identity (cdc.source; run install.sql again to upgrade)",
            source,
        })?;
    let id: Option<String> = row.get(0);
    Ok(Source {
        // Without it positions would not tell two installs' ids apart.
        id: id.ok_or(Error::NoSource)?,
        commit_times: row.get(1),
    })
}

/// Reads up to `limit` rows in id order, with their commit time when `commit_times` (reading it
/// fails when `track_commit_timestamp` is off). Rows are not locked: one reader per outbox (the
/// relay holds an advisory lock), and rows are deleted only after they were delivered.
pub async fn fetch(
    client: &tokio_postgres::Client,
    limit: i64,
    commit_times: bool,
) -> Result<Vec<OutboxRow>, Error> {
    fetch_bucket(client, limit, commit_times, None).await
}

/// [`fetch`] of one hash bucket `(index, count)` of partition keys: the rows whose
/// `(hashtext(partition_key) + 2^31) % count = index` (see [`crate::relay::Bucket`]).
pub async fn fetch_bucket(
    client: &tokio_postgres::Client,
    limit: i64,
    commit_times: bool,
    bucket: Option<(u32, u32)>,
) -> Result<Vec<OutboxRow>, Error> {
    let commit = if commit_times {
        "to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    } else {
        "NULL::text"
    };
    let (index, count) = bucket.unwrap_or((0, 1));
    let filter = if bucket.is_some() {
        "WHERE (hashtext(partition_key)::bigint + 2147483648) % $2 = $3"
    } else {
        "WHERE $2::bigint = 1 AND $3::bigint = 0"
    };
    let sql = format!(
        "SELECT id, partition_key, payload::text, {commit} FROM cdc.outbox {filter} \
         ORDER BY id LIMIT $1"
    );
    let rows = client
        .query(&sql, &[&limit, &i64::from(count), &i64::from(index)])
        .await
        .map_err(|source| Error::Query {
            action: "read",
            source,
        })?;
    Ok(rows
        .iter()
        .map(|r| OutboxRow {
            id: r.get(0),
            partition_key: r.get(1),
            payload: r.get(2),
            commit_time: r.get(3),
        })
        .collect())
}

/// The trigger's `timestamp` member as `json_build_object` writes it (the record's last member).
const TIMESTAMP_MEMBER: &str = ", \"timestamp\" : \"";

/// The record the relay sends for a row: its payload with `timestamp` replaced by the commit
/// time (when known and the trigger wrote `timestamp` last, as the generated `cdc.enqueue` does)
/// and `position` = `<source>/<id>` added last (docs/formats.md). A payload of another shape is
/// sent with `position` only; one that is not a JSON object, as it is.
pub fn record(row: &OutboxRow, source: &str) -> String {
    let payload = row.payload.trim_end();
    let Some(mut body) = payload.strip_suffix('}') else {
        return row.payload.clone();
    };
    let mut timestamp = None;
    if let (Some(commit), Some(at)) = (&row.commit_time, body.rfind(TIMESTAMP_MEMBER)) {
        let value = &body[at + TIMESTAMP_MEMBER.len()..];
        if value
            .strip_suffix('"')
            .is_some_and(|v| !v.is_empty() && !v.contains(['"', '\\']))
        {
            body = &body[..at];
            timestamp = Some(commit.as_str());
        }
    }
    let mut out = String::with_capacity(payload.len() + RECORD_GROWTH);
    out.push_str(body);
    if let Some(t) = timestamp {
        out.push_str(TIMESTAMP_MEMBER);
        out.push_str(t);
        out.push('"');
    }
    out.push_str(", \"position\" : \"");
    out.push_str(source);
    out.push('/');
    out.push_str(&row.id.to_string());
    out.push_str("\"}");
    out
}

/// At most how many bytes [`record`] adds to a payload (the position; a commit time replaces a
/// timestamp of the same length).
pub const RECORD_GROWTH: usize = 96;

/// Deletes delivered rows; returns how many were deleted.
pub async fn delete(client: &tokio_postgres::Client, ids: &[i64]) -> Result<u64, Error> {
    client
        .execute("DELETE FROM cdc.outbox WHERE id = ANY($1)", &[&ids])
        .await
        .map_err(|source| Error::Query {
            action: "delete",
            source,
        })
}

/// Rows waiting in the outbox.
pub async fn depth(client: &tokio_postgres::Client) -> Result<i64, Error> {
    let row = client
        .query_one("SELECT count(*) FROM cdc.outbox", &[])
        .await
        .map_err(|source| Error::Query {
            action: "count",
            source,
        })?;
    Ok(row.get(0))
}

/// Age in seconds of the oldest waiting row (0 when the outbox is empty).
pub async fn oldest_age_seconds(client: &tokio_postgres::Client) -> Result<f64, Error> {
    let row = client
        .query_one(
            "SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0)::float8 \
             FROM cdc.outbox",
            &[],
        )
        .await
        .map_err(|source| Error::Query {
            action: "age",
            source,
        })?;
    Ok(row.get(0))
}

/// Writes SNAPSHOT records of every row of `table` into the outbox (the generated
/// `cdc.snapshot(table)`; rows are read `FOR SHARE`, so no concurrent change is lost or
/// overtaken); returns how many. An uncaptured table is an error.
pub async fn snapshot(client: &tokio_postgres::Client, table: &str) -> Result<i64, Error> {
    let row = client
        .query_one("SELECT cdc.snapshot($1)", &[&table])
        .await
        .map_err(|source| Error::Query {
            action: "snapshot",
            source,
        })?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: &str, commit_time: Option<&str>) -> OutboxRow {
        OutboxRow {
            id: 42,
            partition_key: "users:1".into(),
            payload: payload.into(),
            commit_time: commit_time.map(str::to_string),
        }
    }

    const TRIGGER: &str = r#"{"table" : "users", "operation" : "INSERT", "transaction_id" : "7", "before" : null, "after" : {"id": "1", "timestamp": "x"}, "timestamp" : "2026-12-06T04:00:00.000001Z"}"#;

    #[test]
    fn replaces_the_timestamp_with_the_commit_time_and_adds_the_position() {
        let sent = record(&row(TRIGGER, Some("2026-12-06T04:00:00.250000Z")), "abc");
        assert_eq!(
            sent,
            TRIGGER.replace(
                r#""timestamp" : "2026-12-06T04:00:00.000001Z"}"#,
                r#""timestamp" : "2026-12-06T04:00:00.250000Z", "position" : "abc/42"}"#
            )
        );
        let v: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(v["timestamp"], "2026-12-06T04:00:00.250000Z");
        assert_eq!(v["position"], "abc/42");
        assert!(sent.len() <= TRIGGER.len() + RECORD_GROWTH);
    }

    #[test]
    fn keeps_the_timestamp_without_a_commit_time_or_in_another_shape() {
        let sent = record(&row(TRIGGER, None), "abc");
        assert_eq!(
            sent,
            format!(
                r#"{}, "position" : "abc/42"}}"#,
                &TRIGGER[..TRIGGER.len() - 1]
            )
        );
        // An older install's record (`timestamp` third): only the position is added.
        let old = r#"{"table" : "users", "operation" : "DELETE", "timestamp" : "2026-12-06T04:00:00.000001Z", "transaction_id" : "7", "before" : {"id": "1"}, "after" : null}"#;
        let sent = record(&row(old, Some("2026-12-06T05:00:00.000000Z")), "abc");
        assert_eq!(
            sent,
            format!(r#"{}, "position" : "abc/42"}}"#, &old[..old.len() - 1])
        );
        assert_eq!(record(&row("[]", None), "abc"), "[]");
    }
}
