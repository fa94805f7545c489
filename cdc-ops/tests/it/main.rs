//! The `cdc-ops` crate's integration tests, one binary: the CLI, the docs' claims, the
//! `health-check` and `dead-letter-processor` functions, all against moto (started by `testkit`).

mod cli;
mod deps;
mod docs;
mod errors;
mod first_day;
mod health;
mod help;
mod logging;
mod redrive;
mod replay;
mod support;
