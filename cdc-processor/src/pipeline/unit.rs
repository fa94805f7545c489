//! A user record in flight through a shard's processing, and where it stands.

use super::input::Input;
use crate::decode::EventId;
use crate::error::{ErrorCode, RecordError};
use crate::formats::{AckReason, SourceFormat};
use crate::sequence::PositionRef;

/// One user record in flight.
pub(super) struct Unit {
    /// Its Kinesis record, in the shard's inputs.
    pub input: usize,
    pub sub_sequence: Option<u64>,
    pub event_id: Option<EventId>,
    pub format: Option<SourceFormat>,
    pub table: Option<&'static str>,
    pub operation: Option<&'static str>,
    /// The record's span (DEBUG level; see [`super::fields::record_event`]).
    pub span: tracing::Span,
    pub state: State,
}

/// Where a unit stands.
pub(super) enum State {
    /// Its entry, at this index of the shard's prepared entries (in unit order).
    Entry(usize),
    Pending,
    Published,
    Acknowledged(AckReason),
    Skipped,
    Error(RecordError),
    DeadLettered(ErrorCode, String),
    Failed(String),
}

impl Unit {
    /// The unit's position, from its input's sequence number (without a copy of it: a copy is an
    /// atomic increment and decrement per record); `None` when that sequence number is invalid.
    pub fn at<'i>(&self, inputs: &'i [Input<'_>]) -> Option<PositionRef<'i>> {
        let sequence = inputs.get(self.input)?.sequence.as_ref().ok()?;
        Some((sequence, self.sub_sequence))
    }
}

impl State {
    /// Done with: published, acknowledged, skipped or dead-lettered.
    pub fn resolved(&self) -> bool {
        matches!(
            self,
            State::Published | State::Acknowledged(_) | State::Skipped | State::DeadLettered(..)
        )
    }
}
