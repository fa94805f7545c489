//! Operating the CDC pipeline, on top of `cdc-processor`'s AWS adapters:
//!
//! | module | what |
//! |---|---|
//! | [`health`] | the `health-check` function: bus, stream, tables, DLQ depth, checkpoint age |
//! | [`redrive`] | the `dead-letter-processor` function: re-drives dead letters through the pipeline |
//! | [`ops`] | operator actions behind the `cdc-ops` CLI (checkpoints, dead letters) |
//! | [`shared`] | what they share: the operator error, the ops variables, EMF lines |
//!
//! Module dependencies are one-way: `ops → redrive → shared`, `health → shared`.
//! Nothing here logs, measures or puts in an error message a column value.

pub mod health;
pub mod ops;
pub mod redrive;
pub mod shared;
