//! Change capture from CoreDB (PostgreSQL).
//!
//! The SQL comes from the table schemas (`cargo xtask codegen` writes `sql/generated/`, see
//! `codegen::sql`): [`TABLES_SQL`] creates the tables (tests and new environments),
//! [`INSTALL_SQL`] installs the outbox and one trigger pair per table (idempotent; also the
//! upgrade), [`UNINSTALL_SQL`] removes them. [`outbox`] reads and deletes the outbox rows the
//! triggers write; [`relay`] sends them to Kinesis.

pub mod config;
pub mod outbox;
pub mod relay;

/// `CREATE TABLE IF NOT EXISTS` for every table of `model-schemas/`.
pub const TABLES_SQL: &str = include_str!("../sql/generated/tables.sql");
/// The `cdc` schema, `cdc.outbox` and every table's capture triggers; idempotent.
pub const INSTALL_SQL: &str = include_str!("../sql/generated/install.sql");
/// Drops the `cdc` schema with its triggers, functions and outbox.
pub const UNINSTALL_SQL: &str = include_str!("../sql/generated/uninstall.sql");
