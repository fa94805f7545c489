//! The careful image reader: column by column, normalizing every column once, then the typed
//! image; when the row still does not fit, each column alone, to name the one that fails. It runs
//! when the fast reader ([`super::fast`]) declines, and alone in the differential test.

use super::rules::TableRules;
use super::ValidateOptions;
use crate::change::invalid;
use crate::config::EpochUnit;
use crate::error::RecordError;
use crate::formats::normalize;
use crate::formats::object::{self, json_type};
use crate::formats::{DebeziumSchema, SourceFormat};
use cdc_models::{AnyImage, Table};
use serde::de::value::MapDeserializer;
use serde_json::value::RawValue;
use std::sync::{Arc, OnceLock};

/// The raw text of one column value: borrowed from the record, or normalized.
pub(super) enum Val<'a> {
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
}

impl Val<'_> {
    pub(super) fn raw(&self) -> &RawValue {
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
pub(super) fn has_debezium_placeholder(text: &str) -> bool {
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
    pub(super) table: Table,
    pub(super) rules: &'static TableRules,
    pub(super) format: SourceFormat,
    pub(super) epoch_unit: EpochUnit,
    pub(super) schema_raw: Option<&'a RawValue>,
    pub(super) schema: Option<Result<Arc<DebeziumSchema>, RecordError>>,
    pub(super) dropped: Vec<String>,
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

    /// Reads one image; `None` for an image without any column (DMS `before-image: {}`): the
    /// fast path, and the careful path when it declines.
    pub(crate) fn read(
        &mut self,
        which: &'static str,
        raw: &'a RawValue,
    ) -> Result<Option<Box<AnyImage>>, RecordError> {
        let dropped_before = self.dropped.len();
        if raw.get().starts_with('{') {
            if let Some(result) = self.fast_read(which, raw) {
                return Ok(result);
            }
        }
        // The fast path declined: read column by column, normalizing, and find out why.
        self.dropped.truncate(dropped_before);
        self.careful_read(which, raw)
    }

    /// The careful path alone: the image split into columns, each normalized, the typed image
    /// read from them; a row that still does not fit is checked column by column to name the
    /// column that fails.
    pub(super) fn careful_read(
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
        let meta = self.table.meta();
        let fields = object::scan(raw.get())
            .map_err(|_| invalid(format!("`{which}` is not a JSON object")))?;
        let mut seen = 0u128;
        let mut cols: Vec<(usize, Val<'a>)> = Vec::with_capacity(fields.0.len());
        for (name, value) in fields.0 {
            match meta.field_index(&name).ok_or(()) {
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
        self.normalize_all(which, after, &mut cols)?;
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

    fn normalize_all(
        &mut self,
        which: &str,
        after: bool,
        cols: &mut [(usize, Val<'a>)],
    ) -> Result<(), RecordError> {
        let meta = self.table.meta();
        for (i, v) in cols.iter_mut() {
            let field = &meta.fields[*i];
            let format = self.format;
            let epoch_unit = self.epoch_unit;
            let schema = self.schema()?;
            let hint = schema.and_then(|s| s.hint(after, field.name));
            let ctx = normalize::Context {
                format,
                epoch_unit,
                decimal_scale: field.constraints.decimal_scale,
                hint,
            };
            match normalize::normalize(field, v.raw(), &ctx) {
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

pub(super) fn deserialize(
    table: Table,
    cols: &[(usize, Val<'_>)],
) -> Result<Box<AnyImage>, serde_json::Error> {
    let fields = table.meta().fields;
    let iter = cols.iter().map(|(i, v)| (fields[*i].name, v.raw()));
    AnyImage::deserialize_boxed(table, MapDeserializer::<_, serde_json::Error>::new(iter))
}
