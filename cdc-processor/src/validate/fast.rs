//! The fast image reader: one streaming pass from an image's text (or, in [`crate::one_pass`], a
//! whole record) into the table's typed image. Columns are looked up in the generated metadata
//! as they stream by, the column the table declares next tried first; unknown columns are
//! skipped and named; columns with constraints, and columns this format encodes differently,
//! are looked at on their raw text and normalized on the spot, as the careful path
//! ([`super::read`]) would. Whatever it cannot settle it declines (an error the caller never
//! shows), and the careful path reads the image and names the problem.

use super::read::{has_debezium_placeholder, ImageReader};
use super::rules::{ColumnRules, TableRules};
use crate::config::EpochUnit;
use crate::formats::normalize;
use crate::formats::object;
use crate::formats::{DebeziumSchema, SourceFormat};
use cdc_models::{AnyImage, ColumnKind, FieldMeta, Table};
use serde_json::value::RawValue;
use serde_json::Value;

impl<'a> ImageReader<'a> {
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

    /// One pass from the image's text into the typed image: unknown columns are skipped (and
    /// named), columns with schema constraints are checked on their raw text, every other value is
    /// parsed straight into its Rust type. `None` when anything does not fit (a value needing
    /// normalization, a constraint violated, a Debezium placeholder): the caller then takes the
    /// column-by-column path, which normalizes or names the problem.
    pub(super) fn fast_read(
        &mut self,
        which: &str,
        raw: &'a RawValue,
    ) -> Option<Option<Box<AnyImage>>> {
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
            // Decimals in every format: one the careful path would rewrite (`0620.50`) is
            // normalized here too.
            || kind == ColumnKind::Decimal
            // Timestamps in every format: the image type's reader falls back to `chrono`'s
            // lenient `FromStr` (`2026-11-25T1 :02:05Z` is read as 01:02:05), which the careful
            // path refuses; only the layout `parse_timestamp` reads goes on unchecked.
            || kind == ColumnKind::DateTime
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
            decimal_scale: field.constraints.decimal_scale,
            hint: schema.and_then(|s| s.hint(self.after, field.name)),
        };
        let new = normalize::normalize(field, raw, &ctx).ok()??;
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

/// Whether a decimal column's value is `null` or a string that normalization keeps as it is (its
/// digits rescaled to the column's scale and written out give the same text: not `0620.50`).
fn decimal_is_canonical(field: &FieldMeta, raw: &RawValue) -> bool {
    raw.get() == "null"
        || plain_string(raw).is_some_and(|t| {
            crate::formats::decimal::Decimal::parse(t)
                .and_then(|d| match field.constraints.decimal_scale {
                    Some(scale) => d.rescale(scale).ok(),
                    None => Some(d),
                })
                .is_some_and(|d| d.to_plain_string() == t)
        })
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
            match self.ctx.table.meta().field_index_after(previous, &key) {
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
        // A timestamp in a database layout (DMS: `2024-07-29 01:09:25.366257`, zone-less = UTC,
        // as normalization reads it): handed on in RFC 3339, the layout the column reads, as the
        // careful path does (RFC 3339 text goes on as it is, below).
        if field.kind == ColumnKind::DateTime && !rules.constrained() && !timestamp_fits(raw) {
            if let Some(t) = plain_string(raw).and_then(|t| {
                cdc_models::json::parse_timestamp(t, cdc_models::json::Zone::UtcIfMissing)
            }) {
                let mut buf = [0u8; 32];
                let owned;
                let text = match cdc_models::json::format_datetime_in(&t, &mut buf) {
                    Some(text) => text,
                    None => {
                        owned = normalize::format_datetime(t);
                        &owned
                    }
                };
                return seed.deserialize(serde::de::value::StrDeserializer::<A::Error>::new(text));
            }
        }
        // A decimal the schema declares binary is base64 text: a string, like a decimal in
        // `decimal.handling.mode=string`, but never one to read as it is.
        let fits = !type_mismatch(field.kind, raw)
            && (field.kind != ColumnKind::Decimal
                || (!self.ctx.binary_decimal(field) && decimal_is_canonical(field, raw)))
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

/// Whether the value's JSON type differs from what the column's Rust type reads (cheap: looks at
/// the first bytes only).
pub(super) fn type_mismatch(kind: ColumnKind, raw: &RawValue) -> bool {
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
