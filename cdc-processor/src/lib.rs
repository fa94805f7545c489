//! The CDC pipeline: Kinesis records → typed, redacted `CDC.TableChange` events on EventBridge.
//!
//! Stages, one module each, in the order a record passes them:
//! decode → validate → transform (redact, project) → event → publish plan.
//! [`ports`] holds the interfaces to publishing, checkpoints and dead letters.

pub mod error;
pub mod ports;
pub mod sequence;
