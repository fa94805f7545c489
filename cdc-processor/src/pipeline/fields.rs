//! The record's tracing fields: the `record_event!` macro (a log event naming its record). The
//! record span's fields known only once the record is read (`table`, `operation`,
//! `source_format`) are recorded into it with `Span::record`, in `stages.rs`.

/// A log event about one record, with the record's identity as fields. The record span is at
/// DEBUG: at INFO, creating it and recording its fields cost more than the rest of a record's
/// processing (docs/benchmarks.md, "Logging"), so events at INFO and above name the record
/// themselves (and still carry the span when DEBUG is on).
macro_rules! record_event {
    ($level:ident, $shard:expr, $sequence:expr, $unit:expr, $($rest:tt)+) => {
        $unit.span.in_scope(|| {
            tracing::$level!(
                shard = %$shard,
                sequence_number = %$sequence,
                sub_sequence_number = $unit.sub_sequence,
                event_id = $unit.event_id.as_deref(),
                table = $unit.table,
                operation = $unit.operation,
                source_format = $unit.format.map($crate::formats::SourceFormat::as_str),
                $($rest)+
            )
        })
    };
}
pub(super) use record_event;
