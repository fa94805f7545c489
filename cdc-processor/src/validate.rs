//! Validation: a [`RawChange`] becomes a typed [`Change`] of a known table.
//!
//! Each image is read straight from its raw JSON into the table's generated image type
//! ([`AnyImage::deserialize`]), column by column from borrowed `(name, raw value)` pairs, so:
//!
//! - columns the schema does not know are dropped, counted and named in the change (never
//!   published: they have no redaction policy);
//! - the image is read in one pass first; when a value does not fit as it is (another JSON type,
//!   another timestamp layout or decimal scale, a constraint, a Debezium placeholder), the
//!   careful path splits it into columns, normalizes each column once (see
//!   [`crate::formats::normalize`]) and reads the typed image once more; a row that still does not
//!   fit is checked column by column to name the column that fails;
//! - constraints the Rust types do not carry (`minimum`/`maximum`, `minLength`/`maxLength`,
//!   nested constraints, `format: email`) are checked from the table's JSON Schema;
//! - errors name the image, the column and the reason, never the value.
//!
//! Full and partial images are told apart ([`Completeness`]): INSERT and SNAPSHOT require a full
//! `after`; Debezium `before` under `REPLICA IDENTITY DEFAULT` and DMS deletes are partial.

use crate::config::EpochUnit;
use crate::decode::RecordPointer;
use crate::error::{ErrorCode, RecordError};
use crate::formats::normalize::{self, Level};
use crate::formats::object::{self, json_type};
use crate::formats::{DebeziumSchema, RawChange, SourceFormat};
use crate::text::ShortStr;
use cdc_models::{AnyImage, AnyKey, ColumnKind, FieldMeta, Operation, Table};
use chrono::{DateTime, Utc};
use serde::de::value::MapDeserializer;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// Whether an image holds every column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Completeness {
    /// The source sent every column.
    Full,
    /// The source sent only some columns (or, for DMS deletes, the key and placeholder nulls).
    Partial,
}

impl Completeness {
    /// `full` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Completeness::Full => "full",
            Completeness::Partial => "partial",
        }
    }
}

/// A typed row image and whether it is complete.
#[derive(Clone, Debug)]
pub struct Image {
    /// The typed image (boxed: the largest tables' images are kilobytes).
    pub image: Box<AnyImage>,
    /// Full or partial.
    pub completeness: Completeness,
}

/// One change of a known table, typed: what every input format maps to.
#[derive(Clone, Debug)]
pub struct Change {
    /// The table.
    pub table: Table,
    /// What happened.
    pub operation: Operation,
    /// When it happened at the source.
    pub timestamp: DateTime<Utc>,
    /// Source transaction id.
    pub transaction_id: Option<ShortStr>,
    /// Whether it comes from a snapshot.
    pub snapshot: bool,
    /// The format it was read from.
    pub format: SourceFormat,
    /// The row before the change.
    pub before: Option<Image>,
    /// The row after the change.
    pub after: Option<Image>,
    /// The primary key (from `after`, or `before` for DELETE); `None` only for TRUNCATE.
    pub key: Option<AnyKey>,
    /// Source columns the schema does not know (dropped, never published).
    pub dropped_columns: Vec<String>,
    /// For an UPDATE that changed the primary key: the old key (from `before`), published as
    /// `metadata.previousKeys` so consumers learn that the row under the old key is gone.
    pub previous_key: Option<AnyKey>,
    /// Where the record came from.
    pub pointer: RecordPointer,
}

/// Options of validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValidateOptions {
    /// Unit of integer timestamps without a Debezium schema.
    pub epoch_unit: EpochUnit,
}

fn invalid(message: impl Into<String>) -> RecordError {
    RecordError::new(ErrorCode::ValidationError, message)
}

/// Validates a change of `table` (already resolved from the record's table name).
pub fn validate(
    raw: RawChange<'_>,
    table: Table,
    pointer: RecordPointer,
    options: &ValidateOptions,
) -> Result<Change, RecordError> {
    let mut reader = ImageReader::new(table, raw.format, options, raw.debezium_schema);
    let before = match raw.before {
        Some(r) => reader.read("before", r)?,
        None => None,
    };
    let after = match raw.after {
        Some(r) => reader.read("after", r)?,
        None => None,
    };
    let envelope = Envelope {
        format: raw.format,
        operation: raw.operation,
        timestamp: raw.timestamp,
        transaction_id: raw.transaction_id,
        snapshot: raw.snapshot,
        before_has_placeholder_nulls: raw.before_has_placeholder_nulls,
        source_position: raw.source_position,
    };
    assemble(
        table,
        envelope,
        before,
        after,
        reader.into_dropped(),
        pointer,
    )
}

/// What a change carries besides its table and images (from [`RawChange`]).
pub(crate) struct Envelope {
    pub(crate) format: SourceFormat,
    pub(crate) operation: Operation,
    pub(crate) timestamp: Option<DateTime<Utc>>,
    pub(crate) transaction_id: Option<ShortStr>,
    pub(crate) snapshot: bool,
    pub(crate) before_has_placeholder_nulls: bool,
    /// See [`RawChange::source_position`].
    pub(crate) source_position: Option<String>,
}

/// The change of the images read: the operation's rules on them (which images, full rows, keys,
/// NOT NULL), the key, and each image's completeness.
pub(crate) fn assemble(
    table: Table,
    raw: Envelope,
    before: Option<Box<AnyImage>>,
    after: Option<Box<AnyImage>>,
    dropped_columns: Vec<String>,
    mut pointer: RecordPointer,
) -> Result<Change, RecordError> {
    // A change that carries its source position publishes under the id of that position
    // (`docs/cdc-event.md`), the same wherever in the stream a resend lands.
    if let Some(position) = &raw.source_position {
        pointer.event_id = crate::decode::event_id_for_source_position(position);
    }
    let op = raw.operation;
    let placeholder_nulls = raw.before_has_placeholder_nulls;
    match op {
        Operation::Insert | Operation::Snapshot => {
            let a = after
                .as_ref()
                .ok_or_else(|| invalid(format!("{op} without an `after` image")))?;
            check("after", a, true, true, false)?;
            // An INSERT or SNAPSHOT has no `before` (`docs/cdc-event.md`), as a DELETE has no
            // `after`: publishing one would tell consumers the row existed before.
            if before.is_some() {
                return Err(invalid(format!("{op} with a `before` image")));
            }
        }
        Operation::Update => {
            let a = after
                .as_ref()
                .ok_or_else(|| invalid("UPDATE without an `after` image"))?;
            check("after", a, false, true, false)?;
            if let Some(b) = &before {
                check("before", b, false, false, false)?;
            }
        }
        Operation::Delete => {
            if after.is_some() {
                return Err(invalid("DELETE with an `after` image"));
            }
            let b = before
                .as_ref()
                .ok_or_else(|| invalid("DELETE without a `before` image (its key is needed)"))?;
            check("before", b, false, true, placeholder_nulls)?;
        }
        Operation::Truncate => {
            if before.is_some() || after.is_some() {
                return Err(invalid("TRUNCATE with a row image"));
            }
        }
        _ => return Err(invalid(format!("unsupported operation {op}"))),
    }
    let key = match op {
        Operation::Truncate => None,
        Operation::Delete => before.as_ref().and_then(|b| b.key()),
        _ => after.as_ref().and_then(|a| a.key()),
    };
    if key.is_none() && op != Operation::Truncate {
        // `check` requires the key columns, so this cannot happen; keep it an error, not a panic.
        return Err(invalid("the change has no primary key"));
    }
    let timestamp = raw
        .timestamp
        .ok_or_else(|| invalid("the record carries no timestamp"))?;
    let completeness = |image: &AnyImage, placeholders: bool| {
        if image.as_dyn().is_full() && !placeholders {
            Completeness::Full
        } else {
            Completeness::Partial
        }
    };
    let before = before.map(|image| Image {
        completeness: completeness(&image, placeholder_nulls),
        image,
    });
    let after = after.map(|image| Image {
        completeness: completeness(&image, false),
        image,
    });
    // An UPDATE that moves the row to another key (`docs/cdc-event.md`): the old key, when
    // `before` carries it and it differs.
    let previous_key = match (op, &before) {
        (Operation::Update, Some(b)) => b.image.key().filter(|k| Some(k) != key.as_ref()),
        _ => None,
    };
    Ok(Change {
        previous_key,
        table,
        operation: op,
        timestamp,
        transaction_id: raw.transaction_id,
        snapshot: raw.snapshot,
        format: raw.format,
        before,
        after,
        key,
        dropped_columns,
        pointer,
    })
}

/// Checks key columns (present, not null), NOT NULL columns (unless the nulls are DMS
/// placeholders) and, when `full`, that every column is present.
fn check(
    which: &str,
    image: &AnyImage,
    full: bool,
    key_required: bool,
    placeholder_nulls: bool,
) -> Result<(), RecordError> {
    let d = image.as_dyn();
    let present = d.present_bits();
    let nulls = d.null_bits();
    let rules = TableRules::get(image.table());
    // The common case in a few bit operations; the names are only gathered for the error.
    let bad_keys = if key_required {
        rules.key_bits & (!present | nulls)
    } else {
        rules.key_bits & nulls
    };
    let bad_nulls = if placeholder_nulls {
        0
    } else {
        rules.not_null_bits & nulls
    };
    if bad_keys == 0 && bad_nulls == 0 && (!full || d.is_full()) {
        return Ok(());
    }
    let names = |bits: u128| -> String {
        d.meta()
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1u128 << i) != 0)
            .map(|(_, f)| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if bad_keys != 0 {
        let problem = if key_required {
            "missing or null"
        } else {
            "null"
        };
        return Err(invalid(format!(
            "{which}: key column(s) {} {problem}",
            names(bad_keys)
        )));
    }
    if bad_nulls != 0 {
        return Err(invalid(format!(
            "{which}: column(s) {} must not be null",
            names(bad_nulls)
        )));
    }
    Err(invalid(format!(
        "{which}: a full row is required; missing column(s) {}",
        d.missing_columns().join(", ")
    )))
}

/// The raw text of one column value: borrowed from the record, or normalized.
enum Val<'a> {
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
}

impl Val<'_> {
    fn raw(&self) -> &RawValue {
        match self {
            Val::Borrowed(r) => r,
            Val::Owned(r) => r,
        }
    }
}

/// Debezium's `unavailable.value.placeholder` (TOASTed columns not sent), as text and as base64.
const DEBEZIUM_UNAVAILABLE: [&str; 2] = [
    "\"__debezium_unavailable_value\"",
    "\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"",
];

/// Whether an image's text holds Debezium's placeholder anywhere (then the careful path reads it,
/// column by column). SIMD substring search: this runs on every Debezium image.
fn has_debezium_placeholder(text: &str) -> bool {
    static FINDERS: OnceLock<[memchr::memmem::Finder<'static>; 2]> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| {
        [
            memchr::memmem::Finder::new("__debezium_unavailable_value"),
            memchr::memmem::Finder::new("X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="),
        ]
    });
    finders.iter().any(|f| f.find(text.as_bytes()).is_some())
}

/// Reads the images of one change of a table: the fast path (one streaming read into the typed
/// image), and the careful path (column by column, normalizing) when the fast one declines.
pub(crate) struct ImageReader<'a> {
    table: Table,
    rules: &'static TableRules,
    format: SourceFormat,
    epoch_unit: EpochUnit,
    schema_raw: Option<&'a RawValue>,
    schema: Option<Result<Arc<DebeziumSchema>, RecordError>>,
    dropped: Vec<String>,
}

impl<'a> ImageReader<'a> {
    pub(crate) fn new(
        table: Table,
        format: SourceFormat,
        options: &ValidateOptions,
        schema_raw: Option<&'a RawValue>,
    ) -> Self {
        ImageReader {
            table,
            rules: TableRules::get(table),
            format,
            epoch_unit: options.epoch_unit,
            schema_raw,
            schema: None,
            dropped: Vec::new(),
        }
    }

    /// The source columns the schema does not know, of the images read so far.
    pub(crate) fn into_dropped(self) -> Vec<String> {
        self.dropped
    }

    /// The fast path on a deserializer positioned at an image of the CoreDB trigger format (a
    /// format without a Debezium schema or placeholder values): `Err` where [`Self::read`] would
    /// take the careful path, which the caller then runs on the whole record.
    pub(crate) fn read_in_stream<'de, D: serde::Deserializer<'de>>(
        &mut self,
        which: &str,
        de: D,
    ) -> Result<Option<Box<AnyImage>>, D::Error> {
        debug_assert!(self.format == SourceFormat::CoredbTrigger && self.schema_raw.is_none());
        self.stream(which, de)
    }

    /// The fast path's read of one image from `de` (`None`: an image without any column).
    fn stream<'de, D: serde::Deserializer<'de>>(
        &mut self,
        which: &str,
        de: D,
    ) -> Result<Option<Box<AnyImage>>, D::Error> {
        let schema = match &self.schema {
            None => Ok(None),
            Some(Ok(s)) => Ok(Some(&**s)),
            // The careful path reports the schema's problem if a column needs it.
            Some(Err(_)) => Err(()),
        };
        let mut ctx = FastContext {
            table: self.table,
            rules: self.rules,
            dropped: &mut self.dropped,
            columns: 0,
            format: self.format,
            epoch_unit: self.epoch_unit,
            schema,
            after: which == "after",
        };
        let image = AnyImage::deserialize_boxed(self.table, FastImage { de, ctx: &mut ctx })?;
        Ok((ctx.columns > 0).then_some(image))
    }

    fn schema(&mut self) -> Result<Option<&DebeziumSchema>, RecordError> {
        let Some(raw) = self.schema_raw else {
            return Ok(None);
        };
        match self
            .schema
            .get_or_insert_with(|| DebeziumSchema::parse_cached(raw))
        {
            Ok(s) => Ok(Some(&**s)),
            Err(e) => Err(e.clone()),
        }
    }

    /// Reads one image; `None` for an image without any column (DMS `before-image: {}`).
    fn read(
        &mut self,
        which: &'static str,
        raw: &'a RawValue,
    ) -> Result<Option<Box<AnyImage>>, RecordError> {
        if !raw.get().starts_with('{') {
            return Err(invalid(format!(
                "`{which}` is {}, expected a JSON object",
                json_type(raw)
            )));
        }
        let dropped_before = self.dropped.len();
        if let Some(result) = self.fast_read(which, raw) {
            return Ok(result);
        }
        // The fast path declined or failed: read column by column, normalizing, and find out why.
        self.dropped.truncate(dropped_before);
        let fields = object::scan(raw.get())
            .map_err(|_| invalid(format!("`{which}` is not a JSON object")))?;
        let meta = self.table.meta();
        let mut seen = 0u128;
        let mut cols: Vec<(usize, Val<'a>)> = Vec::with_capacity(fields.0.len());
        for (name, value) in fields.0 {
            match self.rules.index(&name).ok_or(()) {
                Ok(i) => {
                    if seen & (1u128 << i) != 0 {
                        return Err(invalid(format!("{which}.{name}: column appears twice")));
                    }
                    seen |= 1u128 << i;
                    if self.format == SourceFormat::Debezium
                        && DEBEZIUM_UNAVAILABLE.contains(&value.get())
                    {
                        // Not sent by the source: the column is absent from this image.
                        continue;
                    }
                    cols.push((i, Val::Borrowed(value)));
                }
                Err(_) => {
                    if !self.dropped.iter().any(|d| *d == name) {
                        self.dropped.push(name.into_owned());
                    }
                }
            }
        }
        if cols.is_empty() && seen == 0 {
            return Ok(None);
        }
        let after = which == "after";
        // The fast path found a value that does not fit as it is: normalize every column (values of
        // another JSON type, and strings in other layouts), then read once more.
        self.normalize_all(which, after, &mut cols, Level::Full)?;
        let image = match deserialize(self.table, &cols) {
            Ok(image) => image,
            Err(_) => return Err(self.isolate(which, &cols)),
        };
        for (i, v) in &cols {
            self.rules.columns[*i]
                .check(v.raw())
                .map_err(|reason| invalid(format!("{which}.{}: {reason}", meta.fields[*i].name)))?;
        }
        Ok(Some(image))
    }

    /// One pass from the image's text into the typed image: unknown columns are skipped (and
    /// named), columns with schema constraints are checked on their raw text, every other value is
    /// parsed straight into its Rust type. `None` when anything does not fit (a value needing
    /// normalization, a constraint violated, a Debezium placeholder): the caller then takes the
    /// column-by-column path, which normalizes or names the problem.
    fn fast_read(&mut self, which: &str, raw: &'a RawValue) -> Option<Option<Box<AnyImage>>> {
        let text = raw.get();
        if self.format == SourceFormat::Debezium && has_debezium_placeholder(text) {
            return None;
        }
        if self.schema.is_none() {
            if let Some(raw) = self.schema_raw {
                self.schema = Some(DebeziumSchema::parse_cached(raw));
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let image = self.stream(which, &mut de).ok()?;
        de.end().ok()?;
        Some(image)
    }

    fn normalize_all(
        &mut self,
        which: &str,
        after: bool,
        cols: &mut [(usize, Val<'a>)],
        level: Level,
    ) -> Result<(), RecordError> {
        let meta = self.table.meta();
        for (i, v) in cols.iter_mut() {
            let field = &meta.fields[*i];
            if level == Level::Mismatch && !type_mismatch(field.kind, v.raw()) {
                continue;
            }
            let rules = self.rules;
            let format = self.format;
            let epoch_unit = self.epoch_unit;
            let schema = self.schema()?;
            let hint = schema.and_then(|s| s.hint(after, field.name));
            let ctx = normalize::Context {
                format,
                epoch_unit,
                decimal_scale: rules.columns[*i].decimal_scale,
                hint,
            };
            match normalize::normalize(field, v.raw(), level, &ctx) {
                Ok(Some(new)) => *v = Val::Owned(new),
                Ok(None) => {}
                Err(reason) => {
                    return Err(invalid(format!("{which}.{}: {reason}", field.name)));
                }
            }
        }
        Ok(())
    }

    /// Finds the first column the typed image rejects and says why, without its value.
    /// A more precise reason than "got X, expected Y" for a value its column type rejects
    /// (issue 22, 11), as a suffix to the column's path; never the value.
    fn why_not(&self, i: usize, raw: &RawValue) -> Option<String> {
        // A constraint the type carries (`minimum: 1` as a non-zero integer, …).
        if let Err(why) = self.rules.columns[i].check(raw) {
            return Some(format!(": {why}"));
        }
        let text = raw.get();
        // A string escape that is not Unicode text.
        if text.starts_with('"') && serde_json::from_str::<String>(text).is_err() {
            return Some(
                ": a string holding a lone UTF-16 surrogate escape, which is not Unicode text"
                    .into(),
            );
        }
        // An array: the first item the column's item type rejects. Each item is tried alone, as
        // every item of an array of the same length (fixed-size array types keep their length),
        // so the item's own type needs no separate description.
        if text.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            for (k, item) in items.iter().enumerate() {
                let same = vec![item.get(); items.len()].join(",");
                let candidate = RawValue::from_string(format!("[{same}]")).ok()?;
                if deserialize(self.table, &[(i, Val::Owned(candidate))]).is_err() {
                    let what = if item
                        .get()
                        .starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                        && serde_json::from_str::<i64>(item.get()).is_err()
                    {
                        "a number out of the item type's range (or not an integer)".to_string()
                    } else {
                        format!(
                            "{}, which the column's item type does not accept",
                            json_type(item)
                        )
                    };
                    return Some(format!("[{k}]: got {what}"));
                }
            }
        }
        None
    }

    fn isolate(&self, which: &str, cols: &[(usize, Val<'a>)]) -> RecordError {
        let meta = self.table.meta();
        for (i, v) in cols {
            let one = [(*i, Val::Borrowed(v.raw()))];
            if deserialize(self.table, &one).is_err() {
                let field = &meta.fields[*i];
                if let Some(why) = self.why_not(*i, v.raw()) {
                    return invalid(format!("{which}.{}{why}", field.name));
                }
                return invalid(format!(
                    "{which}.{}: got {}, expected {}",
                    field.name,
                    json_type(v.raw()),
                    self.rules.columns[*i].expected(field)
                ));
            }
        }
        invalid(format!(
            "{which}: the row does not match table `{}`",
            meta.name
        ))
    }
}

/// State of a one-pass image read.
struct FastContext<'r> {
    table: Table,
    rules: &'static TableRules,
    dropped: &'r mut Vec<String>,
    columns: usize,
    format: SourceFormat,
    epoch_unit: EpochUnit,
    /// The Debezium schema, when the record has one; `Err` when it does not parse (then nothing is
    /// normalized here: the careful path reports it).
    schema: Result<Option<&'r DebeziumSchema>, ()>,
    after: bool,
}

impl FastContext<'_> {
    /// Whether the fast path looks at this column's raw text before reading it: columns with
    /// schema constraints, and, for formats whose encodings differ from the schema types, the
    /// kinds they encode differently.
    fn inspects(&self, kind: ColumnKind, rules: &ColumnRules) -> bool {
        rules.constrained()
            || (self.format != SourceFormat::CoredbTrigger
                && matches!(
                    kind,
                    ColumnKind::DateTime
                        | ColumnKind::Date
                        | ColumnKind::Decimal
                        | ColumnKind::Object
                        | ColumnKind::Array
                        | ColumnKind::Boolean
                        | ColumnKind::Integer
                        | ColumnKind::Number
                ))
    }

    /// Whether the record's Debezium schema declares the column a binary decimal.
    fn binary_decimal(&self, field: &FieldMeta) -> bool {
        let hint = match self.schema {
            Ok(Some(s)) => s.hint(self.after, field.name),
            _ => None,
        };
        normalize::is_binary_decimal(hint.and_then(|h| h.name.as_deref()))
    }

    /// The value normalized the way the careful path would (`None`: leave it to that path).
    fn normalize(
        &self,
        field: &FieldMeta,
        rules: &ColumnRules,
        raw: &RawValue,
    ) -> Option<Box<RawValue>> {
        let schema = self.schema.ok()?;
        let ctx = normalize::Context {
            format: self.format,
            epoch_unit: self.epoch_unit,
            decimal_scale: rules.decimal_scale,
            hint: schema.and_then(|s| s.hint(self.after, field.name)),
        };
        let new = normalize::normalize(field, raw, Level::Full, &ctx).ok()??;
        (!type_mismatch(field.kind, &new) && rules.check(&new).is_ok()).then_some(new)
    }
}

/// The contents of a JSON string without escapes (`None` for other values).
fn plain_string(raw: &RawValue) -> Option<&str> {
    raw.get()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.contains('\\'))
}

/// Whether a timestamp column's value is a string in the layout the image type reads directly.
fn timestamp_fits(raw: &RawValue) -> bool {
    raw.get() == "null"
        || plain_string(raw).is_some_and(|t| {
            cdc_models::json::parse_timestamp(t, cdc_models::json::Zone::Required).is_some()
        })
}

/// The typed image's deserializer for the fast path: a JSON object whose members are looked up in
/// the table's metadata as they stream by.
///
/// `D` is serde_json's deserializer (the members are captured as `RawValue`s where they are
/// inspected): on the image's own text, or on the whole record in [`crate::one_pass`].
struct FastImage<'d, 'r, D> {
    de: D,
    ctx: &'d mut FastContext<'r>,
}

impl<'de, D: serde::Deserializer<'de>> serde::Deserializer<'de> for FastImage<'_, '_, D> {
    type Error = D::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.de.deserialize_map(FastVisitor {
            inner: visitor,
            ctx: self.ctx,
        })
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct FastVisitor<'d, 'r, V> {
    inner: V,
    ctx: &'d mut FastContext<'r>,
}

impl<'de, V: serde::de::Visitor<'de>> serde::de::Visitor<'de> for FastVisitor<'_, '_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(FastMap {
            map,
            ctx: self.ctx,
            current: 0,
        })
    }
}

struct FastMap<'d, 'r, A> {
    map: A,
    ctx: &'d mut FastContext<'r>,
    current: usize,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for FastMap<'_, '_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(object::Key(key)) = self.map.next_key::<object::Key<'de>>()? else {
                return Ok(None);
            };
            let previous = (self.ctx.columns > 0).then_some(self.current);
            match self.ctx.rules.index_after(previous, &key) {
                Some(i) => {
                    self.current = i;
                    self.ctx.columns += 1;
                    // The generated image declares its fields in metadata order, so the field's
                    // index identifies it (serde's derived field visitor reads indices).
                    let key = serde::de::value::U64Deserializer::<A::Error>::new(i as u64);
                    return seed.deserialize(key).map(Some);
                }
                None => {
                    self.map.next_value::<serde::de::IgnoredAny>()?;
                    if !self.ctx.dropped.iter().any(|d| *d == key) {
                        self.ctx.dropped.push(key.into_owned());
                    }
                }
            }
        }
    }

    fn next_value_seed<S: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        let rules = &self.ctx.rules.columns[self.current];
        let field = &self.ctx.table.meta().fields[self.current];
        if !self.ctx.inspects(field.kind, rules) {
            return self.map.next_value_seed(seed);
        }
        let raw: &'de RawValue = self.map.next_value()?;
        // A timestamp: read it once, in RFC 3339 or a database layout (DMS:
        // `2024-07-29 01:09:25.366257`, zone-less = UTC, as normalization reads it), and hand the
        // instant over without formatting and parsing it again.
        if field.kind == ColumnKind::DateTime && !rules.constrained() {
            if let Some(instant) = plain_string(raw)
                .and_then(|t| {
                    cdc_models::json::parse_timestamp(t, cdc_models::json::Zone::UtcIfMissing)
                })
                .and_then(|t| cdc_models::json::InstantDeserializer::<A::Error>::new(&t))
            {
                return seed.deserialize(instant);
            }
        }
        // A decimal the schema declares binary is base64 text: a string, like a decimal in
        // `decimal.handling.mode=string`, but never one to read as it is.
        let fits = !type_mismatch(field.kind, raw)
            && (field.kind != ColumnKind::Decimal || !self.ctx.binary_decimal(field))
            && (field.kind != ColumnKind::DateTime || timestamp_fits(raw))
            && rules.check(raw).is_ok();
        if fits {
            return seed.deserialize(raw).map_err(serde::de::Error::custom);
        }
        // Normalize this value while streaming, as the careful path would; anything it cannot
        // settle goes to the careful path, which names the problem.
        match self.ctx.normalize(field, rules, raw) {
            // An owned value: the seed reads with the input's lifetime, which `new` does not have.
            Some(new) => {
                let value: Value =
                    serde_json::from_str(new.get()).map_err(serde::de::Error::custom)?;
                seed.deserialize(value).map_err(serde::de::Error::custom)
            }
            None => Err(serde::de::Error::custom("column needs the careful path")),
        }
    }
}

fn deserialize(
    table: Table,
    cols: &[(usize, Val<'_>)],
) -> Result<Box<AnyImage>, serde_json::Error> {
    let fields = table.meta().fields;
    let iter = cols.iter().map(|(i, v)| (fields[*i].name, v.raw()));
    AnyImage::deserialize_boxed(table, MapDeserializer::<_, serde_json::Error>::new(iter))
}

/// Whether the value's JSON type differs from what the column's Rust type reads (cheap: looks at
/// the first bytes only).
fn type_mismatch(kind: ColumnKind, raw: &RawValue) -> bool {
    let text = raw.get();
    if text == "null" {
        return false;
    }
    let first = text.as_bytes()[0];
    let number = first == b'-' || first.is_ascii_digit();
    match kind {
        ColumnKind::String
        | ColumnKind::Uuid
        | ColumnKind::DateTime
        | ColumnKind::Date
        | ColumnKind::Decimal => first != b'"',
        ColumnKind::Integer => !number || text.contains(['.', 'e', 'E']),
        ColumnKind::Number => !number,
        ColumnKind::Boolean => text != "true" && text != "false",
        ColumnKind::Object => first != b'{',
        ColumnKind::Array => first != b'[',
        _ => false,
    }
}

/// Constraints of one column that its Rust type does not enforce, from the table's JSON Schema.
#[derive(Default)]
pub struct ColumnRules {
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    /// Scale required by a `decimal` column's pattern (`\.[0-9]{2}$` → 2).
    pub decimal_scale: Option<u32>,
    enum_values: Option<Vec<String>>,
    has_pattern: bool,
    nested: Option<jsonschema::Validator>,
    /// The column can hold JSON integers (integer, object or array columns): each must fit in an
    /// `i64`, the only integers EventBridge's `PutEvents` accepts (and serde_json would turn
    /// larger ones into lossy floats inside jsonb columns).
    integers: bool,
}

impl std::fmt::Debug for ColumnRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnRules")
            .field("minimum", &self.minimum)
            .field("maximum", &self.maximum)
            .field("max_length", &self.max_length)
            .field("decimal_scale", &self.decimal_scale)
            .field("nested", &self.nested.is_some())
            .finish_non_exhaustive()
    }
}

impl ColumnRules {
    fn from_schema(column: &Value) -> ColumnRules {
        let num = |k: &str| column.get(k).and_then(Value::as_f64);
        let int = |k: &str| column.get(k).and_then(Value::as_u64);
        let pattern = column.get("pattern").and_then(Value::as_str);
        let decimal_scale = pattern.and_then(|p| {
            let rest = &p[p.find("\\.[0-9]{")? + "\\.[0-9]{".len()..];
            rest[..rest.find('}')?].parse().ok()
        });
        let enum_values = column.get("enum").and_then(Value::as_array).map(|vs| {
            vs.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        });
        let needs_validator = column.get("format").and_then(Value::as_str) == Some("email")
            || ["minItems", "maxItems", "uniqueItems"]
                .iter()
                .any(|k| column.get(*k).is_some())
            || ["items", "properties", "additionalProperties"]
                .iter()
                .filter_map(|k| column.get(*k))
                .any(has_constraints);
        let nested = needs_validator.then(|| {
            schema_options()
                .build(column)
                .expect("model schemas are valid draft-07 (checked by cdc-models tests)")
        });
        let types: Vec<&str> = match column.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        // Arrays of strings (uuids, e-mails, tags) hold no numbers: their Rust type rejects any.
        let string_items = column
            .get("items")
            .and_then(|i| i.get("type"))
            .is_some_and(|t| t == "string");
        let integers = types
            .iter()
            .any(|t| matches!(*t, "integer" | "object") || (*t == "array" && !string_items));
        ColumnRules {
            integers,
            minimum: num("minimum"),
            maximum: num("maximum"),
            exclusive_minimum: num("exclusiveMinimum"),
            exclusive_maximum: num("exclusiveMaximum"),
            min_length: int("minLength"),
            max_length: int("maxLength"),
            decimal_scale,
            enum_values,
            has_pattern: pattern.is_some(),
            nested,
        }
    }

    /// Whether the column has a constraint its Rust type does not check.
    fn constrained(&self) -> bool {
        self.minimum.is_some()
            || self.maximum.is_some()
            || self.exclusive_minimum.is_some()
            || self.exclusive_maximum.is_some()
            || self.min_length.is_some()
            || self.max_length.is_some()
            || self.nested.is_some()
            || self.integers
            || self.enum_values.is_some()
    }

    /// Checks a (normalized) value; the reason never quotes it.
    pub fn check(&self, raw: &RawValue) -> Result<(), String> {
        let text = raw.get();
        if text == "null" {
            return Ok(());
        }
        if self.integers && !integers_fit_i64(text) {
            return Err("holds an integer outside the signed 64-bit range".to_string());
        }
        let bounded = self.minimum.is_some()
            || self.maximum.is_some()
            || self.exclusive_minimum.is_some()
            || self.exclusive_maximum.is_some();
        if bounded {
            if let Ok(v) = text.parse::<f64>() {
                if let Some(m) = self.minimum.filter(|m| v < *m) {
                    return Err(format!("below the minimum {m}"));
                }
                if let Some(m) = self.maximum.filter(|m| v > *m) {
                    return Err(format!("above the maximum {m}"));
                }
                if let Some(m) = self.exclusive_minimum.filter(|m| v <= *m) {
                    return Err(format!("not above the exclusive minimum {m}"));
                }
                if let Some(m) = self.exclusive_maximum.filter(|m| v >= *m) {
                    return Err(format!("not below the exclusive maximum {m}"));
                }
            }
        }
        // The generated enums accept any string (forward-compatible consumers, issue 22): the
        // schema's `enum` list is the contract, checked here on input.
        if let Some(values) = &self.enum_values {
            if let Ok(s) = serde_json::from_str::<Cow<'_, str>>(text) {
                if !values.iter().any(|v| *v == s) {
                    return Err(format!(
                        "not a value the schema lists, expected {}",
                        enum_list(values)
                    ));
                }
            }
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            if let Ok(s) = serde_json::from_str::<Cow<'_, str>>(text) {
                let n = s.chars().count() as u64;
                if let Some(m) = self.max_length.filter(|m| n > *m) {
                    return Err(format!("longer than {m} characters"));
                }
                if let Some(m) = self.min_length.filter(|m| n < *m) {
                    return Err(format!("shorter than {m} characters"));
                }
            }
        }
        if let Some(validator) = &self.nested {
            let value: Value =
                serde_json::from_str(text).map_err(|_| "not valid JSON".to_string())?;
            let first = validator
                .iter_errors(&value)
                .next()
                .map(|e| describe_schema_error(&e));
            if let Some(reason) = first {
                return Err(reason);
            }
        }
        Ok(())
    }

    fn expected(&self, field: &FieldMeta) -> String {
        if let Some(values) = &self.enum_values {
            return enum_list(values);
        }
        match field.kind {
            ColumnKind::String if self.has_pattern => {
                "a string matching the column's pattern".into()
            }
            ColumnKind::String => "a string".into(),
            ColumnKind::Uuid => "a UUID string".into(),
            ColumnKind::DateTime => "an RFC 3339 timestamp".into(),
            ColumnKind::Date => "a YYYY-MM-DD date".into(),
            ColumnKind::Integer => "a 64-bit integer".into(),
            ColumnKind::Number => "a number".into(),
            ColumnKind::Boolean => "a boolean".into(),
            ColumnKind::Decimal => match self.decimal_scale {
                Some(s) => format!("a decimal string with {s} decimal places"),
                None => "a decimal string".into(),
            },
            ColumnKind::Object => "a JSON object of the column's shape".into(),
            ColumnKind::Array => "a JSON array of the column's item type".into(),
            _ => "a value of the column's type".into(),
        }
    }
}

/// `one of: a, b, c` (or a shorter phrase for long lists).
fn enum_list(values: &[String]) -> String {
    let list = values.join(", ");
    if list.len() <= 200 {
        format!("one of: {list}")
    } else {
        "one of the column's enum values".to_string()
    }
}

/// Whether every integer literal of a JSON text (outside strings) fits in an `i64`.
fn integers_fit_i64(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let token = &text[start..i];
                if !token.contains(['.', 'e', 'E']) && token.parse::<i64>().is_err() {
                    return false;
                }
            }
            _ => i += 1,
        }
    }
    true
}

fn has_constraints(schema: &Value) -> bool {
    const KEYWORDS: [&str; 13] = [
        // Generated enums accept any string; a nested `enum` is checked by the validator.
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "multipleOf",
        "minProperties",
        "maxProperties",
    ];
    match schema {
        Value::Object(map) => {
            KEYWORDS.iter().any(|k| map.contains_key(*k))
                || map.get("format").and_then(Value::as_str) == Some("email")
                || map.values().any(has_constraints)
        }
        Value::Array(items) => items.iter().any(has_constraints),
        _ => false,
    }
}

/// A JSON Schema error as keyword and limit: never the instance (it may be personal data).
pub fn describe_schema_error(e: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let at = e.instance_path().as_str();
    let at = if at.is_empty() {
        String::new()
    } else {
        format!(" (at {})", path_shape(at))
    };
    let what = match e.kind() {
        K::Minimum { limit } => format!("below the minimum {limit}"),
        K::Maximum { limit } => format!("above the maximum {limit}"),
        K::ExclusiveMinimum { limit } => format!("not above the exclusive minimum {limit}"),
        K::ExclusiveMaximum { limit } => format!("not below the exclusive maximum {limit}"),
        K::MinLength { limit } => format!("shorter than {limit} characters"),
        K::MaxLength { limit } => format!("longer than {limit} characters"),
        K::MinItems { limit } => format!("fewer than {limit} items"),
        K::MaxItems { limit } => format!("more than {limit} items"),
        K::UniqueItems => "items are not unique".into(),
        K::Format { format } => format!("not a valid `{format}`"),
        K::Pattern { pattern } => format!("does not match the pattern {pattern}"),
        K::Enum { .. } => "not one of the allowed values".into(),
        K::Type { kind } => format!("wrong JSON type (expected {kind:?})"),
        K::Required { property } => format!("missing required member {property}"),
        K::AdditionalProperties { .. } => "has members the schema does not allow".into(),
        K::MultipleOf { .. } => "not a multiple of the required step".into(),
        _ => format!("violates the schema keyword `{}`", e.kind().keyword()),
    };
    format!("{what}{at}")
}

/// A JSON pointer with array indices kept and object member names kept only when they are
/// schema-defined identifiers (letters, digits, `_`), so no free-form data is echoed.
fn path_shape(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|seg| {
            if seg.len() <= 64 && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                seg
            } else {
                "…"
            }
        })
        .fold(String::new(), |mut acc, seg| {
            acc.push('/');
            acc.push_str(seg);
            acc
        })
}

/// Per-table constraints from the JSON Schema, built once per table on first use.
#[derive(Debug)]
pub struct TableRules {
    /// One per column, in [`cdc_models::TableMeta::fields`] order.
    pub columns: Vec<ColumnRules>,
    by_name: crate::plan::FxMap<&'static str, usize>,
    names: Vec<&'static str>,
    /// The columns in the order the schema declares them (its `properties`), which is the
    /// table's column order: the order the triggers' `row_to_json`, Debezium and DMS write rows
    /// in. `declared[0]` is the first column; `after[i]` the one declared after column `i`
    /// (`names.len()` after the last). Indices are [`cdc_models::TableMeta::fields`] indices.
    declared: Vec<usize>,
    after: Vec<usize>,
    /// Bit `i` set when column `i` is a key column.
    key_bits: u128,
    /// Bit `i` set when column `i` is NOT NULL.
    not_null_bits: u128,
}

impl TableRules {
    /// The rules of a table.
    pub fn get(table: Table) -> &'static TableRules {
        static ALL: OnceLock<Vec<OnceLock<TableRules>>> = OnceLock::new();
        let all = ALL.get_or_init(|| Table::ALL.iter().map(|_| OnceLock::new()).collect());
        all[table.index()].get_or_init(|| TableRules::build(table))
    }

    fn build(table: Table) -> TableRules {
        let schema: Value =
            serde_json::from_str(table.schema_json()).expect("generated schemas are valid JSON");
        let properties = schema.get("properties");
        let columns = table
            .meta()
            .fields
            .iter()
            .map(|f| {
                properties
                    .and_then(|p| p.get(f.name))
                    .map(ColumnRules::from_schema)
                    .unwrap_or_default()
            })
            .collect();
        let by_name = table
            .meta()
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name, i))
            .collect();
        let names: Vec<&'static str> = table.meta().fields.iter().map(|f| f.name).collect();
        let mut declared: Vec<usize> = declared_order(table.schema_json())
            .iter()
            .filter_map(|name| names.iter().position(|n| n == name))
            .collect();
        // Columns the schema does not list (none today) go last, in metadata order.
        for i in 0..names.len() {
            if !declared.contains(&i) {
                declared.push(i);
            }
        }
        let mut after = vec![names.len(); names.len()];
        for pair in declared.windows(2) {
            after[pair[0]] = pair[1];
        }
        let bits = |pred: fn(&FieldMeta) -> bool| {
            table
                .meta()
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| pred(f))
                .fold(0u128, |bits, (i, _)| bits | 1u128 << i)
        };
        TableRules {
            columns,
            by_name,
            names,
            declared,
            after,
            key_bits: bits(|f| f.key),
            not_null_bits: bits(|f| !f.nullable),
        }
    }

    /// Index of a column by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// [`Self::index`] of the column that follows `previous` in a row (`None`: the row's first
    /// column), trying the column the table declares next first: rows list their columns in the
    /// table's order (the triggers' `row_to_json`, Debezium and DMS all do), so one short
    /// comparison finds most, and any other order is found by the lookup.
    pub fn index_after(&self, previous: Option<usize>, name: &str) -> Option<usize> {
        let expected = match previous {
            None => self.declared.first().copied(),
            Some(i) => self.after.get(i).copied(),
        };
        match expected.and_then(|i| Some((i, *self.names.get(i)?))) {
            Some((i, n)) if same_name(n.as_bytes(), name.as_bytes()) => Some(i),
            _ => self.index(name),
        }
    }

    /// The table's column names in the order its schema declares them (the table's column
    /// order).
    pub fn declared_order(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.declared.iter().map(|&i| self.names[i])
    }
}

/// `a == b` for column names (short), in a few word comparisons rather than a call to `memcmp`.
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    match n {
        // Overlapping words cover the name.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        17..=32 => {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, n - 16) == word(b, n - 16)
                && word(a, n - 8) == word(b, n - 8)
        }
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// The names of a JSON Schema's `properties`, in the order the schema text lists them
/// (`serde_json::Value` keeps object members sorted by name).
fn declared_order(schema_json: &str) -> Vec<String> {
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Names(Vec<String>);
    impl<'de> Deserialize<'de> for Names {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Names(Vec::new()))
        }
    }
    impl<'de> Visitor<'de> for Names {
        type Value = Names;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Names, A::Error> {
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                self.0.push(name);
            }
            Ok(self)
        }
    }
    struct Properties(Vec<String>);
    impl<'de> Visitor<'de> for Properties {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON Schema object")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Vec<String>, A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "properties" {
                    self.0 = map.next_value::<Names>()?.0;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(self.0)
        }
    }
    serde_json::Deserializer::from_str(schema_json)
        .deserialize_map(Properties(Vec::new()))
        .expect("generated schemas are valid JSON")
}

/// The validator options for the model schemas: draft-07, formats checked, and `email` with
/// its domain read case-insensitively (`docs/formats.md`).
pub fn schema_options() -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .with_format("email", email_is_valid)
}

/// `format: email`, as the `jsonschema` crate checks it, except that the domain is compared
/// case-insensitively, as domain names are (RFC 4343): `a@F.XN--4GBRIM` is `a@f.xn--4gbrim`.
/// The local part is left as it is (it may be case-sensitive).
pub fn email_is_valid(s: &str) -> bool {
    static PLAIN: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(&serde_json::json!({"type": "string", "format": "email"}))
            .expect("a valid schema")
    });
    let lowered = match s.rfind('@') {
        Some(at) => format!("{}{}", &s[..=at], s[at + 1..].to_ascii_lowercase()),
        None => s.to_string(),
    };
    PLAIN.is_valid(&Value::String(lowered))
}

/// Validates one full row of a table, as the `validate` command does: against the table's JSON
/// Schema (a real validator, formats on) and by typed deserialization. Errors name the column
/// path and the reason, never the value. Columns the schema does not know are no problem (the
/// schemas allow them; the pipeline drops them): see [`validate_row_with_notes`].
pub fn validate_row(table: Table, row: &str) -> Result<(), Vec<String>> {
    validate_row_with_notes(table, row).map(|_| ())
}

/// [`validate_row`], with notes on a valid row: one per column the schema does not know, which
/// the pipeline drops (never publishes) and lists in `metadata.droppedColumns`.
pub fn validate_row_with_notes(table: Table, row: &str) -> Result<Vec<String>, Vec<String>> {
    let mut problems = Vec::new();
    match serde_json::from_str::<Value>(row) {
        Err(e) => {
            return Err(vec![crate::formats::json_error("row", &e).message]);
        }
        Ok(value) => {
            let schema: Value = serde_json::from_str(table.schema_json())
                .expect("generated schemas are valid JSON");
            let validator = schema_options()
                .build(&schema)
                .expect("model schemas are valid draft-07");
            // Missing columns of the row itself are one line, not one per column.
            let mut missing = Vec::new();
            for e in validator.iter_errors(&value) {
                let column = path_shape(e.instance_path().as_str());
                if let (true, jsonschema::error::ValidationErrorKind::Required { property }) =
                    (column.is_empty(), e.kind())
                {
                    missing.push(
                        property
                            .as_str()
                            .map_or_else(|| property.to_string(), std::string::ToString::to_string),
                    );
                    continue;
                }
                let column = if column.is_empty() {
                    "(row)".to_string()
                } else {
                    column
                };
                problems.push(format!("schema: {column}: {}", describe_schema_error(&e)));
            }
            if !missing.is_empty() {
                problems.insert(
                    0,
                    format!(
                        "schema: (row): {} required column(s) missing: {}",
                        missing.len(),
                        missing.join(", ")
                    ),
                );
            }
        }
    }
    let schema_problems = !problems.is_empty();
    let raw: Box<RawValue> = match serde_json::from_str(row) {
        Ok(r) => r,
        Err(e) => return Err(vec![crate::formats::json_error("row", &e).message]),
    };
    let mut reader = ImageReader {
        table,
        rules: TableRules::get(table),
        format: SourceFormat::CoredbTrigger,
        epoch_unit: EpochUnit::Auto,
        schema_raw: None,
        schema: None,
        dropped: Vec::new(),
    };
    match reader.read("row", &raw) {
        Err(e) => problems.push(format!("typed: {}", e.message)),
        // An empty row: the schema's line above already says which columns are missing.
        Ok(None) if schema_problems => {}
        Ok(None) => problems.push("typed: row: the row has no column".into()),
        Ok(Some(image)) => {
            if let Err(e) = check("row", &image, true, true, false) {
                problems.push(format!("typed: {}", e.message));
            }
        }
    }
    let notes = reader
        .dropped
        .iter()
        .map(|d| {
            format!(
                "row.{d}: column not in the schema of `{}`: the pipeline drops it (never \
                 publishes it) and lists it in `metadata.droppedColumns`",
                table.name()
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(notes)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{decode, Decoded, FormatOptions};
    use crate::sequence::Position;
    use crate::text::ShortStr;

    #[test]
    fn debezium_placeholders_are_found_anywhere() {
        for (text, found) in [
            (r#"{"a":"__debezium_unavailable_value"}"#, true),
            (
                r#"{"a":1,"b":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="}"#,
                true,
            ),
            (r#"{"a":"__debezium_unavailable_valu"}"#, false),
            (r#"{"a":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ"}"#, false),
            ("{}", false),
        ] {
            assert_eq!(has_debezium_placeholder(text), found, "{text}");
        }
    }

    /// A Debezium record whose schema declares a binary decimal: the fast path normalizes it
    /// while streaming (before, it took the base64 text for a decimal string, failed the
    /// column's pattern and left the whole image to the careful path), and reads what the
    /// careful path reads.
    #[test]
    fn fast_path_reads_binary_decimals_the_schema_declares() {
        let schema: Box<RawValue> = RawValue::from_string(
            serde_json::json!({"type": "struct", "fields": [
                {"type": "struct", "optional": true, "field": "after", "fields": [
                    {"type": "bytes", "optional": true, "field": "carrier_cost",
                     "name": "org.apache.kafka.connect.data.Decimal",
                     "parameters": {"scale": "2"}}
                ]}
            ]})
            .to_string(),
        )
        .unwrap();
        // 1234 unscaled at scale 2 = 12.34, as two big-endian bytes.
        let image: Box<RawValue> =
            RawValue::from_string(serde_json::json!({"carrier_cost": "BNI="}).to_string()).unwrap();
        let options = ValidateOptions::default();
        let reader = || {
            ImageReader::new(
                Table::Calls,
                SourceFormat::Debezium,
                &options,
                Some(&schema),
            )
        };
        let fast = reader()
            .fast_read("after", &image)
            .expect("the fast path takes it")
            .expect("a column");
        let careful = reader().read("after", &image).unwrap().expect("a column");
        assert_eq!(fast, careful);
        let mut out = Vec::new();
        fast.as_dyn().write_json(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"carrier_cost":"12.34"}"#
        );
    }

    #[test]
    fn index_after_finds_columns_in_any_order() {
        let rules = TableRules::get(Table::TeamMembers);
        let fields = Table::TeamMembers.meta().fields;
        for (i, f) in fields.iter().enumerate() {
            for previous in [
                None,
                Some(0),
                Some(i),
                Some(fields.len() - 1),
                Some(usize::MAX),
            ] {
                assert_eq!(rules.index_after(previous, f.name), Some(i), "{}", f.name);
            }
        }
        assert_eq!(rules.index_after(None, "no_such_column"), None);
        assert_eq!(rules.index_after(Some(usize::MAX), "no_such_column"), None);
        // Prefixes, extensions and names of the same length are not the column.
        for name in ["team_i", "team_idx", "user_id ", "team_xd", ""] {
            assert_eq!(rules.index_after(None, name), None, "{name:?}");
        }
    }

    #[test]
    fn declared_order_is_the_schema_text_order_of_every_column() {
        let rules = TableRules::get(Table::TeamMembers);
        let declared: Vec<&str> = rules.declared_order().collect();
        assert_eq!(
            declared,
            [
                "team_id",
                "user_id",
                "tenant_id",
                "member_role",
                "is_primary_team",
                "allocation_percent",
                "added_by_user_id",
                "joined_at",
                "left_at",
                "updated_at"
            ]
        );
        for table in Table::ALL {
            let mut declared: Vec<&str> = TableRules::get(*table).declared_order().collect();
            declared.sort_unstable();
            let mut names: Vec<&str> = table.meta().fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            assert_eq!(declared, names, "{table:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn same_name_is_equality(a in "[a-z_]{0,40}", b in "[a-z_]{0,40}", copy in proptest::prelude::any::<bool>()) {
            let b = if copy { a.clone() } else { b };
            proptest::prop_assert_eq!(same_name(a.as_bytes(), b.as_bytes()), a == b);
            // One byte changed anywhere.
            for at in 0..a.len() {
                let mut c = a.clone().into_bytes();
                c[at] ^= 1;
                proptest::prop_assert!(!same_name(a.as_bytes(), &c));
            }
        }
    }

    fn pointer() -> RecordPointer {
        RecordPointer {
            stream: ShortStr::from("s"),
            shard: ShortStr::from("shard"),
            position: Position {
                sequence: "1".parse().unwrap(),
                sub_sequence: None,
            },
            event_id: "0".repeat(32).parse().unwrap(),
        }
    }

    fn example(table: &str) -> serde_json::Map<String, Value> {
        let path = format!(
            "{}/../model-schemas/examples/{table}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn run(record: &Value) -> Result<Change, RecordError> {
        let text = record.to_string();
        let Decoded::Change(raw) = decode(text.as_bytes(), &FormatOptions::default(), &mut None)?
        else {
            panic!("not a change")
        };
        let table = Table::from_name(&raw.table).unwrap();
        validate(raw, table, pointer(), &ValidateOptions::default())
    }

    fn trigger(op: &str, before: Value, after: Value) -> Value {
        serde_json::json!({"table": "users", "operation": op, "timestamp": "2024-01-15T10:30:00Z",
            "transaction_id": "t1", "before": before, "after": after})
    }

    #[test]
    fn full_insert_and_partial_update() {
        let row = Value::Object(example("users"));
        let c = run(&trigger("INSERT", Value::Null, row.clone())).unwrap();
        assert_eq!(c.after.unwrap().completeness, Completeness::Full);
        assert!(c.key.is_some());
        let mut partial = example("users");
        partial.retain(|k, _| k == "id" || k == "status");
        let c = run(&trigger("UPDATE", Value::Object(partial.clone()), row)).unwrap();
        assert_eq!(c.before.unwrap().completeness, Completeness::Partial);
        let err = run(&trigger("INSERT", Value::Null, Value::Object(partial))).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert!(err.message.contains("full row"), "{}", err.message);
    }

    #[test]
    fn unknown_columns_are_dropped_and_named() {
        let mut row = example("users");
        row.insert("shoe_size".into(), Value::from(44));
        let c = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap();
        assert_eq!(c.dropped_columns, vec!["shoe_size".to_string()]);
    }

    #[test]
    fn errors_name_the_column_not_the_value() {
        let mut row = example("users");
        row.insert("status".into(), Value::from("secret-status"));
        let err = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap_err();
        assert!(err.message.contains("after.status"), "{}", err.message);
        assert!(!err.message.contains("secret"), "{}", err.message);
        let mut row = example("users");
        row.insert("email".into(), Value::from(17));
        let err = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap_err();
        assert!(err.message.contains("after.email"), "{}", err.message);
        let mut row = example("users");
        row.insert("email".into(), Value::from("secret-not-an-email"));
        let err = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap_err();
        assert!(err.message.contains("after.email"), "{}", err.message);
        assert!(!err.message.contains("secret"), "{}", err.message);
    }

    #[test]
    fn integers_beyond_i64_are_found_outside_strings() {
        assert!(integers_fit_i64(
            r#"{"a": [1, -9223372036854775808, 1.5e400, "99999999999999999999"]}"#
        ));
        assert!(integers_fit_i64("9223372036854775807"));
        assert!(!integers_fit_i64("9223372036854775808"));
        assert!(!integers_fit_i64(
            r#"{"x": "\"", "big": 123456789012345678901234567890}"#
        ));
        assert!(!integers_fit_i64("[-9223372036854775809]"));
    }

    #[test]
    fn bounds_from_the_schema() {
        let mut row = example("calls");
        row.insert("wait_seconds".into(), Value::from(-5));
        let mut t = trigger("INSERT", Value::Null, Value::Object(row));
        t["table"] = Value::from("calls");
        let err = run(&t).unwrap_err();
        assert!(err.message.contains("wait_seconds"), "{}", err.message);
        assert!(err.message.contains("minimum"), "{}", err.message);
    }

    #[test]
    fn delete_needs_the_key_and_truncate_has_no_rows() {
        let err = run(&trigger(
            "DELETE",
            serde_json::json!({"status": "active"}),
            Value::Null,
        ))
        .unwrap_err();
        assert!(err.message.contains("key"), "{}", err.message);
        let c = run(&trigger("TRUNCATE", Value::Null, Value::Null)).unwrap();
        assert!(c.key.is_none());
    }

    #[test]
    fn validate_row_reports_paths() {
        let row = Value::Object(example("customers")).to_string();
        assert_eq!(validate_row(Table::Customers, &row), Ok(()));
        let mut bad = example("customers");
        bad.remove("email");
        bad.insert("id".into(), Value::from(0));
        let problems = validate_row(Table::Customers, &Value::Object(bad).to_string()).unwrap_err();
        let text = problems.join("\n");
        assert!(text.contains("email"), "{text}");
        assert!(text.contains("/id"), "{text}");
        // A column the schema does not know: valid (the pipeline drops it), with a note.
        let mut extra = example("customers");
        extra.insert("favourite_colour".into(), Value::from("teal"));
        let notes =
            validate_row_with_notes(Table::Customers, &Value::Object(extra).to_string()).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("row.favourite_colour"), "{notes:?}");
        assert!(!notes[0].contains("teal"));
    }

    /// Issue 22 (6): domain names are case-insensitive, IDNA labels included; the local part
    /// and the rest of the format are still checked.
    #[test]
    fn email_domains_are_case_insensitive() {
        for ok in [
            "a@f.f.xn--4gbrim",
            "a@F.F.XN--4GBRIM",
            "Priya.Raman@Example.COM",
        ] {
            assert!(email_is_valid(ok), "{ok}");
        }
        for bad in [
            "no-at-sign",
            "a@",
            "@example.com",
            "a@exa mple.com",
            "a@-x.com",
        ] {
            assert!(!email_is_valid(bad), "{bad}");
        }
    }
}
