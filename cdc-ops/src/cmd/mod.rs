//! One module per `cdc-ops` subcommand.

pub(crate) mod checkpoint;
pub(crate) mod dlq;
pub(crate) mod health;
pub(crate) mod invoke;
pub(crate) mod logs;
pub(crate) mod replay;
