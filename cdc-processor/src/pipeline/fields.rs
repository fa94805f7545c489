//! The record's tracing fields: the `record_event!` macro (a log event naming its record), and
//! the cache of the record span's fields recorded once the record is read.

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

/// The fields of a record's span that are recorded once the record is read (declared `Empty`
/// where the span is made, in `stages.rs`).
#[derive(Clone, Copy)]
pub(super) enum Late {
    SourceFormat,
    Operation,
    Table,
}

impl Late {
    const ALL: [Late; 3] = [Late::SourceFormat, Late::Operation, Late::Table];

    fn name(self) -> &'static str {
        match self {
            Late::SourceFormat => "source_format",
            Late::Operation => "operation",
            Late::Table => "table",
        }
    }
}

/// The [`Late`] fields of the record spans, by [`Late`] index. `Span::record` given a field's name
/// searches the span's fields for it, comparing names, on every call; these are looked up once.
struct LateFields([tracing::field::Field; 3]);

impl LateFields {
    /// The fields of `span`; `None` for a span without metadata or not made where the record
    /// spans are (then fields are recorded by name).
    fn of(span: &tracing::Span) -> Option<&'static LateFields> {
        static FIELDS: std::sync::OnceLock<Option<LateFields>> = std::sync::OnceLock::new();
        let meta = span.metadata()?;
        let fields = meta.fields();
        let late = FIELDS
            .get_or_init(|| {
                let [a, b, c] = Late::ALL.map(|l| fields.field(l.name()));
                Some(LateFields([a?, b?, c?]))
            })
            .as_ref()?;
        // A field belongs to the callsite it was looked up in.
        (late.0[0].callsite() == meta.callsite()).then_some(late)
    }

    fn get(&self, which: Late) -> &tracing::field::Field {
        &self.0[which as usize]
    }
}

/// Records one of the [`Late`] fields in a record's span.
pub(super) fn record_late(span: &tracing::Span, which: Late, value: &str) {
    match LateFields::of(span) {
        Some(late) => span.record(late.get(which), value),
        None => span.record(which.name(), value),
    };
}
