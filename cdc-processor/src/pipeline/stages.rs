//! The per-record stage chain: a Kinesis record's data → its user records (KPL) → decoded,
//! validated, projected and redacted change → EventBridge entry, each user record a [`Unit`]
//! whose [`State`] says how far it got.

use super::fields::record_event;
use super::input::{Data, Input};
use super::unit::{State, Unit};
use crate::config::PipelineConfig;
use crate::decode::{
    deaggregate, decode_base64_into, event_id_for_bytes, kpl, RecordPointer, ShardHasher,
    UserRecord,
};
use crate::error::{ErrorCode, RecordError};
use crate::event::{self, EventOptions};
use crate::formats::{self, AckReason, Decoded, FormatOptions, SourceFormat};
use crate::ports::PreparedEntry;
use crate::sequence::{Position, PositionRef};
use crate::transform;
use crate::validate::{self, Change, ValidateOptions};
use cdc_models::Table;
use std::borrow::Cow;
use std::sync::Arc;
use tracing::field::Empty;

/// The largest position seen in a shard's batch, to skip repeated ones. Kinesis delivers
/// increasing positions, so the common case is one comparison; a position at or below the largest
/// is looked up among the units decoded so far (rare).
#[derive(Default)]
struct Seen {
    /// The unit holding the largest position so far.
    max: Option<usize>,
}

impl Seen {
    /// `false` when the position was seen before; `true` when it was not, and the unit about to
    /// be pushed (at `units.len()`) holds it.
    fn insert(&mut self, p: PositionRef<'_>, units: &[Unit], inputs: &[Input<'_>]) -> bool {
        match self.max.and_then(|i| units.get(i)?.at(inputs)) {
            Some(m) if p <= m => !units.iter().any(|u| u.at(inputs) == Some(p)),
            _ => {
                self.max = Some(units.len());
                true
            }
        }
    }
}

/// What every record of a shard's batch is expanded against.
pub(super) struct ShardContext<'a> {
    /// The shard's stream and id, shared by its records' pointers.
    pub stream: &'a Arc<str>,
    pub shard: &'a Arc<str>,
    /// Event ids continue from the hashed stream/shard prefix.
    pub hasher: ShardHasher,
    /// Records at or below it are skipped.
    pub checkpoint: Option<&'a Position>,
}

/// A shard's records as they are decoded.
#[derive(Default)]
pub(super) struct Decoding {
    /// Every unit of the shard so far.
    pub units: Vec<Unit>,
    /// The entries of the units in [`State::Entry`] not yet taken into requests, in unit order.
    pub prepared: Vec<PreparedEntry>,
    seen: Seen,
    /// Source columns unknown to the schema, dropped.
    pub dropped_columns: u64,
    /// Where each entry's detail is written (see [`event::build_with_buffer`]).
    buffer: Vec<u8>,
    /// Where each record's base64 data is decoded.
    data: Vec<u8>,
}

/// The stages' settings, derived once from the configuration.
pub(super) struct Stages {
    pub config: PipelineConfig,
    format_options: FormatOptions,
    validate_options: ValidateOptions,
    event_options: EventOptions,
}

impl Stages {
    /// The stages of this configuration.
    pub fn new(config: PipelineConfig) -> Stages {
        let format_options = FormatOptions {
            forced: config.forced_format(),
            dms_before_image_field: config.dms_before_image_field().to_string(),
        };
        let validate_options = ValidateOptions {
            epoch_unit: config.epoch_unit(),
        };
        let event_options = EventOptions {
            source: config.event_source().into(),
            max_entry_size: config.max_entry_size(),
        };
        Stages {
            config,
            format_options,
            validate_options,
            event_options,
        }
    }

    /// Turns one Kinesis record into its user records' units.
    pub fn expand(
        &self,
        index: usize,
        inputs: &[Input<'_>],
        shard: &ShardContext<'_>,
        out: &mut Decoding,
    ) {
        let input = &inputs[index];
        let mut buffer = std::mem::take(&mut out.data);
        let data = match input.data {
            Data::Bytes(bytes) => Ok(bytes),
            Data::Base64(text) => match decode_base64_into(text.as_bytes(), &mut buffer) {
                Ok(()) => Ok(&buffer[..]),
                Err(_) => Err(RecordError::new(
                    ErrorCode::ParseError,
                    "Kinesis data is not valid base64",
                )),
            },
        };
        self.expand_data(index, inputs, data, shard, out);
        out.data = buffer;
    }

    /// [`Self::expand`] with the record's data decoded.
    fn expand_data(
        &self,
        index: usize,
        inputs: &[Input<'_>],
        data: Result<&[u8], RecordError>,
        shard: &ShardContext<'_>,
        out: &mut Decoding,
    ) {
        let input = &inputs[index];
        let sequence = match &input.sequence {
            Ok(s) => s,
            Err(e) => {
                let span = tracing::debug_span!("record", shard = %input.shard, sequence_number = %input.raw_sequence);
                out.units.push(Unit {
                    input: index,
                    sub_sequence: None,
                    event_id: None,
                    format: None,
                    table: None,
                    operation: None,
                    span,
                    state: State::Error(RecordError::new(ErrorCode::ParseError, e.clone())),
                });
                return;
            }
        };
        // A plain record is the common case: one user record, without a Vec.
        let (single, aggregated): (Option<UserRecord<'_>>, Vec<UserRecord<'_>>) = match &data {
            Err(e) => (
                Some(UserRecord {
                    sub_sequence: None,
                    partition_key: None,
                    data: Err(e.clone()),
                }),
                Vec::new(),
            ),
            Ok(data) if input.id_from_bytes || !kpl::has_magic(data) => (
                Some(UserRecord {
                    sub_sequence: None,
                    partition_key: None,
                    data: Ok(Cow::Borrowed(data)),
                }),
                Vec::new(),
            ),
            Ok(data) => (None, deaggregate(data)),
        };
        if single.is_none() && aggregated.is_empty() {
            let skipped = shard
                .checkpoint
                .is_some_and(|c| (sequence, None) <= c.borrowed());
            out.units.push(Unit {
                input: index,
                event_id: Some(shard.hasher.event_id(sequence.as_str(), None)),
                sub_sequence: None,
                format: None,
                table: None,
                operation: None,
                span: tracing::debug_span!("record", shard = %input.shard, sequence_number = %sequence),
                state: if skipped {
                    State::Skipped
                } else {
                    State::Acknowledged(AckReason::EmptyAggregate)
                },
            });
            return;
        }
        for user in single.into_iter().chain(aggregated) {
            let position = (sequence, user.sub_sequence);
            let event_id = match (&data, input.id_from_bytes) {
                (Ok(data), true) => event_id_for_bytes(data),
                _ => shard.hasher.event_id(sequence.as_str(), user.sub_sequence),
            };
            let span = tracing::debug_span!(
                "record",
                shard = %input.shard,
                sequence_number = %sequence,
                sub_sequence_number = user.sub_sequence,
                event_id = %event_id,
                table = Empty,
                operation = Empty,
                source_format = Empty,
            );
            let mut unit = Unit {
                input: index,
                sub_sequence: user.sub_sequence,
                event_id: Some(event_id),
                format: None,
                table: None,
                operation: None,
                span,
                state: State::Skipped,
            };
            if shard.checkpoint.is_some_and(|c| position <= c.borrowed())
                || !out.seen.insert(position, &out.units, inputs)
            {
                out.units.push(unit);
                continue;
            }
            let pointer = RecordPointer {
                stream: shard.stream.clone(),
                shard: shard.shard.clone(),
                position: Position {
                    sequence: sequence.clone(),
                    sub_sequence: user.sub_sequence,
                },
                event_id,
            };
            let span = unit.span.clone();
            let state = span.in_scope(|| match &user.data {
                Err(e) => State::Error(e.clone()),
                Ok(data) => self.process_user_record(data, pointer, &mut unit, out),
            });
            unit.state = state;
            out.units.push(unit);
        }
    }

    /// Decode → validate → transform → event, for one user record.
    fn process_user_record(
        &self,
        data: &[u8],
        pointer: RecordPointer,
        unit: &mut Unit,
        out: &mut Decoding,
    ) -> State {
        let mut change = match self.read_change(data, pointer, unit) {
            Ok(change) => change,
            Err(state) => return state,
        };
        // The id of the change's source position, when it carries one (`docs/cdc-event.md`).
        if unit.event_id != Some(change.pointer.event_id) {
            unit.event_id = Some(change.pointer.event_id);
            unit.span
                .record("event_id", tracing::field::display(change.pointer.event_id));
        }
        let settings = self.config.table(change.table);
        if !change.dropped_columns.is_empty() {
            out.dropped_columns += change.dropped_columns.len() as u64;
            let (shard, sequence) = (
                &change.pointer.shard,
                change.pointer.position.sequence.as_str(),
            );
            record_event!(warn, shard, sequence, unit, columns = ?change.dropped_columns, "dropped source columns unknown to the schema");
        }
        // In place: a change is a few hundred bytes, not worth moving (docs/benchmarks.md).
        let redacted =
            match transform::apply_in_place(&mut change, settings, self.config.redaction()) {
                Ok(r) => r,
                Err(e) => return State::Error(e),
            };
        match event::build_with_buffer(&redacted, &self.event_options, &mut out.buffer) {
            Ok(entry) => {
                out.prepared.push(entry);
                State::Entry(out.prepared.len() - 1)
            }
            Err(e) => State::Error(e),
        }
    }

    /// Decode → validate: the record's typed change (of a captured table), or how it ends.
    ///
    /// The CoreDB trigger format's common shape is read in one pass ([`crate::one_pass`], the
    /// same results in less time); every other record, and any that pass declines, the general
    /// way.
    fn read_change(
        &self,
        data: &[u8],
        pointer: RecordPointer,
        unit: &mut Unit,
    ) -> Result<Change, State> {
        if matches!(
            self.format_options.forced,
            None | Some(SourceFormat::CoredbTrigger)
        ) {
            let captured =
                |name: &str| Table::from_name(name).filter(|t| self.config.table(*t).captured);
            if let Some(read) = crate::one_pass::read(data, &captured, &self.validate_options) {
                identify(unit, SourceFormat::CoredbTrigger);
                unit.operation = Some(read.envelope.operation.as_str());
                unit.span
                    .record("operation", read.envelope.operation.as_str());
                unit.table = Some(read.table.name());
                unit.span.record("table", read.table.name());
                return validate::assemble(
                    read.table,
                    read.envelope,
                    read.before,
                    read.after,
                    read.dropped_columns,
                    pointer,
                )
                .map_err(State::Error);
            }
        }
        let mut detected = None;
        let decoded = formats::decode(data, &self.format_options, &mut detected);
        if let Some(f) = detected {
            identify(unit, f);
        }
        let raw = match decoded {
            Err(e) => return Err(State::Error(e)),
            Ok(Decoded::Acknowledged(reason)) => return Err(State::Acknowledged(reason)),
            Ok(Decoded::Change(raw)) => raw,
        };
        unit.operation = Some(raw.operation.as_str());
        unit.span.record("operation", raw.operation.as_str());
        let Some(table) = Table::from_name(&raw.table) else {
            return Err(State::Error(RecordError::new(
                ErrorCode::ValidationError,
                format!("unknown table {}", printable_name(&raw.table)),
            )));
        };
        unit.table = Some(table.name());
        unit.span.record("table", table.name());
        if !self.config.table(table).captured {
            return Err(State::Acknowledged(AckReason::TableNotCaptured));
        }
        validate::validate(raw, table, pointer, &self.validate_options).map_err(State::Error)
    }
}

/// Records the record's format on its unit and span.
fn identify(unit: &mut Unit, format: SourceFormat) {
    unit.format = Some(format);
    unit.span.record("source_format", format.as_str());
}

/// A table name as it may appear in messages: short identifiers only.
fn printable_name(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        format!("`{name}`")
    } else {
        "(a name that is not a plain identifier)".to_string()
    }
}
