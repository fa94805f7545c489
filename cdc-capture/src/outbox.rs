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
}

/// Reads up to `limit` rows in id order. Rows are not locked: one reader per outbox (the relay
/// holds an advisory lock), and rows are deleted only after they were delivered.
pub async fn fetch(client: &tokio_postgres::Client, limit: i64) -> Result<Vec<OutboxRow>, Error> {
    let rows = client
        .query(
            "SELECT id, partition_key, payload::text FROM cdc.outbox ORDER BY id LIMIT $1",
            &[&limit],
        )
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
        })
        .collect())
}

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
