//! The two image readers compared: the fast reader (`validate/fast.rs`) and the careful reader
//! (`validate/read.rs`) run *separately* on the same image must give the same result, or the fast
//! one must decline (ARCHITECTURE.md, "fast paths agree"). [`readers_agree`] is the comparison;
//! [`Encoding`] writes a table's example row the way each source format writes it. The tests
//! below run it on every example row of every table in every format, and on every column of
//! each replaced by values of other types, layouts and ranges; the `image_readers` fuzz target
//! runs it on libFuzzer's inputs (`fuzz/checks/image_readers.rs`).

use super::read::ImageReader;
use super::ValidateOptions;
use crate::formats::SourceFormat;
use base64::Engine;
use cdc_models::{ColumnKind, Table};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// What the two image readers made of one image, run separately ([`readers_agree`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// The fast reader read the image, to exactly what the careful reader reads (the same typed
    /// image, or both no image, and the same dropped columns).
    Same,
    /// The fast reader declined: the careful reader's result (an image or an error) stands.
    Declined,
}

/// Runs the fast and the careful image reader *separately* on one image of `table` (as the
/// `which` image of a record in `format`, with the record's Debezium `schema` if any) and
/// compares them: ARCHITECTURE.md's "fast paths agree" invariant for images. `Err` says how they
/// differ (for tests and the `image_readers` fuzz target: it may quote the input).
pub fn readers_agree(
    table: Table,
    format: SourceFormat,
    options: &ValidateOptions,
    schema: Option<&RawValue>,
    which: &'static str,
    image: &RawValue,
) -> Result<Agreement, String> {
    let mut fast = ImageReader::new(table, format, options, schema);
    let mut careful = ImageReader::new(table, format, options, schema);
    let careful_image = careful.careful_read(which, image);
    // The fast reader is only ever given objects (`read` and the one-pass reader check first).
    if !image.get().starts_with('{') {
        return Ok(Agreement::Declined);
    }
    let Some(fast_image) = fast.fast_read(which, image) else {
        return Ok(Agreement::Declined);
    };
    match careful_image {
        Err(e) => Err(format!(
            "the fast reader read {}.{which} ({format:?}) that the careful one rejects ({}): {}",
            table.name(),
            e.message,
            image.get()
        )),
        Ok(c) if c != fast_image => Err(format!(
            "the readers differ on {}.{which} ({format:?}): fast {fast_image:?}, careful {c:?}, \
             input {}",
            table.name(),
            image.get()
        )),
        Ok(_) if fast.dropped != careful.dropped => Err(format!(
            "the readers drop different columns of {}.{which} ({format:?}): fast {:?}, careful \
             {:?}",
            table.name(),
            fast.dropped,
            careful.dropped
        )),
        Ok(_) => Ok(Agreement::Same),
    }
}

/// How a source writes a row image: the formats, and Debezium with and without its schema
/// (which decides how timestamps, dates and decimals are encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The CoreDB triggers (`row_to_json`): the schema's own types.
    Coredb,
    /// Debezium without the JsonConverter schema (`decimal.handling.mode=string`, ISO times).
    Debezium,
    /// Debezium with its schema: epoch microseconds, epoch days, binary decimals, JSON in
    /// strings.
    DebeziumSchema,
    /// AWS DMS: database timestamp layouts, JSON in strings.
    Dms,
}

impl Encoding {
    /// Every encoding.
    pub const ALL: [Encoding; 4] = [
        Encoding::Coredb,
        Encoding::Debezium,
        Encoding::DebeziumSchema,
        Encoding::Dms,
    ];

    /// The source format.
    pub fn format(self) -> SourceFormat {
        match self {
            Encoding::Coredb => SourceFormat::CoredbTrigger,
            Encoding::Debezium | Encoding::DebeziumSchema => SourceFormat::Debezium,
            Encoding::Dms => SourceFormat::Dms,
        }
    }

    /// The record's Debezium schema (JsonConverter `schema` member), for
    /// [`Encoding::DebeziumSchema`].
    pub fn schema(self, table: Table) -> Option<Box<RawValue>> {
        (self == Encoding::DebeziumSchema).then(|| debezium_schema(table))
    }

    /// A row (column name → value in the schema's own types) as this encoding writes it, its
    /// columns in the table's declared order.
    pub fn encode(self, table: Table, row: &Map<String, Value>) -> String {
        let meta = table.meta();
        let members: Vec<String> = meta
            .declared_names()
            .filter_map(|name| {
                let field = meta.field(name)?;
                let v = row.get(name)?;
                let v = self.encode_value(field.kind, field.constraints.decimal_scale, v);
                Some(format!("{}:{v}", json!(name)))
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    fn encode_value(self, kind: ColumnKind, scale: Option<u32>, v: &Value) -> Value {
        let text = v.as_str();
        match (self, kind) {
            (_, _) if v.is_null() => Value::Null,
            (Encoding::DebeziumSchema, ColumnKind::DateTime) => text
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or_else(|| v.clone(), |t| json!(t.timestamp_micros())),
            (Encoding::DebeziumSchema, ColumnKind::Date) => text
                .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map_or_else(
                    || v.clone(),
                    |d| json!((d - chrono::NaiveDate::default()).num_days()),
                ),
            (Encoding::DebeziumSchema, ColumnKind::Decimal) => text
                .filter(|s| {
                    let decimals = s.split_once('.').map_or(0, |(_, f)| f.len());
                    decimals == scale.unwrap_or(2) as usize
                })
                .and_then(|s| s.replace('.', "").parse::<i128>().ok())
                .map_or_else(|| v.clone(), |unscaled| json!(twos_complement(unscaled))),
            (Encoding::DebeziumSchema | Encoding::Dms, ColumnKind::Object) => json!(v.to_string()),
            (Encoding::Dms, ColumnKind::DateTime) => text
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or_else(
                    || v.clone(),
                    |t| json!(t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
                ),
            _ => v.clone(),
        }
    }
}

/// Base64 of the shortest big-endian two's complement of `v` (Kafka Connect's `Decimal`).
fn twos_complement(v: i128) -> String {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    base64::engine::general_purpose::STANDARD.encode(&bytes[start..])
}

/// A JsonConverter schema for a Debezium record of `table`, declaring timestamps as
/// `MicroTimestamp`, dates as `Date`, decimals as binary `Decimal` of the column's scale and
/// objects as `Json`.
fn debezium_schema(table: Table) -> Box<RawValue> {
    let fields: Vec<Value> = table
        .meta()
        .fields
        .iter()
        .map(|f| {
            let (t, name) = match f.kind {
                ColumnKind::DateTime => ("int64", Some("io.debezium.time.MicroTimestamp")),
                ColumnKind::Date => ("int32", Some("io.debezium.time.Date")),
                ColumnKind::Decimal => ("bytes", Some("org.apache.kafka.connect.data.Decimal")),
                ColumnKind::Object => ("string", Some("io.debezium.data.Json")),
                ColumnKind::Integer => ("int64", None),
                ColumnKind::Number => ("double", None),
                ColumnKind::Boolean => ("boolean", None),
                ColumnKind::Array => ("array", None),
                _ => ("string", None),
            };
            let mut v = json!({"type": t, "optional": f.nullable, "field": f.name});
            if let Some(n) = name {
                v["name"] = json!(n);
            }
            if f.kind == ColumnKind::Decimal {
                let scale = f.constraints.decimal_scale.unwrap_or(2).to_string();
                v["parameters"] = json!({"scale": scale});
            }
            v
        })
        .collect();
    let schema = json!({"type": "struct", "optional": false, "fields": [
        {"type": "struct", "optional": true, "field": "before", "fields": fields},
        {"type": "struct", "optional": true, "field": "after", "fields": fields},
        {"type": "string", "optional": false, "field": "op"}
    ]});
    RawValue::from_string(schema.to_string()).expect("a JSON value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EpochUnit;

    fn example(table: Table) -> Map<String, Value> {
        let path = format!(
            "{}/../model-schemas/examples/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            table.name()
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Values of other JSON types, layouts, ranges and encodings, put into every column in turn.
    const MUTANTS: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "1.5",
        "-0.0",
        "1e3",
        "1.2345678901234567E17",
        "100001",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1709283600000000",
        "19737",
        r#""""#,
        r#""x""#,
        r#""t""#,
        r#""1""#,
        r#""12.34""#,
        r#""12.345""#,
        r#""0012.30""#,
        r#""-0.00""#,
        r#""-0.5""#,
        r#""1e2""#,
        r#""AeJA""#,
        r#""BNI=""#,
        r#""2024-01-15""#,
        r#""2024-01-15T00:00:00Z""#,
        r#""2024-01-15 10:30:00""#,
        r#""2024-01-15 10:30:00.123456+02""#,
        r#""2024-01-15T10:30:00+05:30""#,
        r#""2024-02-30T10:30:00Z""#,
        // `chrono`'s lenient `FromStr` reads these; RFC 3339 and the careful reader do not.
        r#""2026-11-25T1 :02:05Z""#,
        r#""2024-1-15T10:30:00Z""#,
        r#""5B0C1D9E-6A3F-4A57-9D2E-0F4B7C8A1E21""#,
        r#""5b0c1d9e6a3f4a579d2e0f4b7c8a1e21""#,
        r#""a@example.com""#,
        r#""a@EXAMPLE.COM""#,
        r#""\ud800""#,
        r#""caf\u00e9""#,
        r#""__debezium_unavailable_value""#,
        r#""{\"a\":1}""#,
        r#""[1,2]""#,
        "{}",
        r#"{"a":1}"#,
        r#"{"scale":2,"value":"AQ=="}"#,
        "[]",
        "[1,2]",
        r#"["a","b"]"#,
        r#"[99999999999999999999]"#,
    ];

    /// Every way a row image is varied besides its values: dropped, added, repeated and
    /// reordered columns.
    fn shapes(table: Table, row: &Map<String, Value>, enc: Encoding) -> Vec<String> {
        let full = enc.encode(table, row);
        let mut out = vec![full.clone(), "{}".into(), "[]".into(), "null".into()];
        // Every other column; the key columns only.
        let mut half = row.clone();
        let mut i = 0;
        half.retain(|_, _| {
            i += 1;
            i % 2 == 0
        });
        out.push(enc.encode(table, &half));
        let mut keys = row.clone();
        keys.retain(|name, _| table.meta().field(name).is_some_and(|f| f.key));
        out.push(enc.encode(table, &keys));
        // The columns reversed (not the declared order), an unknown column, a repeated one.
        let inner = &full[1..full.len() - 1];
        let mut members: Vec<&str> = split_members(inner);
        members.reverse();
        out.push(format!("{{{}}}", members.join(",")));
        out.push(format!(r#"{{"not_a_column":{{"x":[1,"two"]}},{inner}}}"#));
        if let Some(first) = members.last() {
            out.push(format!("{{{inner},{first}}}"));
        }
        out
    }

    /// The top-level members of an object's inside (no member of the encoded rows holds a
    /// top-level comma outside a string or a nested value).
    fn split_members(inner: &str) -> Vec<&str> {
        let (mut depth, mut in_string, mut escaped, mut start) = (0i32, false, false, 0);
        let mut out = Vec::new();
        for (i, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '{' | '[' if !in_string => depth += 1,
                '}' | ']' if !in_string => depth -= 1,
                ',' if !in_string && depth == 0 => {
                    out.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if start < inner.len() {
            out.push(&inner[start..]);
        }
        out
    }

    /// Runs both readers on one image as each of `images` (`before`, `after`); failures are
    /// collected.
    fn compare(
        table: Table,
        enc: Encoding,
        options: &ValidateOptions,
        (image, images): (&str, &[&'static str]),
        counts: &mut [usize; 2],
        failures: &mut Vec<String>,
    ) {
        let Ok(raw) = serde_json::from_str::<Box<RawValue>>(image) else {
            return;
        };
        let schema = enc.schema(table);
        for &which in images {
            match readers_agree(table, enc.format(), options, schema.as_deref(), which, &raw) {
                Ok(Agreement::Same) => counts[0] += 1,
                Ok(Agreement::Declined) => counts[1] += 1,
                Err(e) => failures.push(e),
            }
        }
    }

    /// Every example row of every table in every encoding, in every shape: the fast reader
    /// reads the full rows (it is not a reader that always declines), and what it reads the
    /// careful reader reads too.
    #[test]
    fn the_readers_agree_on_every_example_row_in_every_format() {
        let options = ValidateOptions::default();
        let mut failures = Vec::new();
        for enc in Encoding::ALL {
            let mut counts = [0usize; 2];
            for &table in Table::ALL {
                let row = example(table);
                let full = enc.encode(table, &row);
                let raw: Box<RawValue> = serde_json::from_str(&full).unwrap();
                let schema = enc.schema(table);
                assert_eq!(
                    readers_agree(
                        table,
                        enc.format(),
                        &options,
                        schema.as_deref(),
                        "after",
                        &raw
                    ),
                    Ok(Agreement::Same),
                    "the fast reader does not take {table:?}'s example row in {enc:?}: {full}"
                );
                for image in shapes(table, &row, enc) {
                    let images = ["before", "after"];
                    compare(
                        table,
                        enc,
                        &options,
                        (&image, &images),
                        &mut counts,
                        &mut failures,
                    );
                }
            }
            assert!(counts[0] >= Table::ALL.len() * 2, "{enc:?}: {counts:?}");
        }
        assert!(
            failures.is_empty(),
            "{} disagreements, the first ones:\n{}",
            failures.len(),
            failures[..failures.len().min(10)].join("\n")
        );
    }

    /// Every column of every example row replaced by each of [`MUTANTS`], in the encodings in
    /// turn (and with each epoch unit, as `before` and `after` in turn): both readers,
    /// separately; identical results or a decline. (Every column × mutant in every encoding is
    /// four times the work for little more: the encodings differ in a few column kinds, which
    /// every table has several of.)
    #[test]
    fn the_readers_agree_on_mutated_rows() {
        let mut failures = Vec::new();
        let mut counts = [0usize; 2];
        for (t, &table) in Table::ALL.iter().enumerate() {
            let options = ValidateOptions {
                epoch_unit: [
                    EpochUnit::Auto,
                    EpochUnit::Millis,
                    EpochUnit::Micros,
                    EpochUnit::Nanos,
                ][t % 4],
            };
            let row = example(table);
            let encoded = Encoding::ALL.map(|enc| enc.encode(table, &row));
            for i in 0..table.meta().fields.len().min(row.len()) {
                for (k, mutant) in MUTANTS.iter().enumerate() {
                    let e = (t + i + k) % Encoding::ALL.len();
                    let (enc, full) = (Encoding::ALL[e], &encoded[e]);
                    let mut members = split_members(&full[1..full.len() - 1]);
                    let Some(member) = members.get(i) else {
                        continue;
                    };
                    let name_end = member.find("\":").expect("a member") + 2;
                    let replaced = format!("{}{mutant}", &member[..name_end]);
                    members[i] = &replaced;
                    let image = format!("{{{}}}", members.join(","));
                    let which = [["before"], ["after"]][(i + k / 4) % 2];
                    compare(
                        table,
                        enc,
                        &options,
                        (&image, &which),
                        &mut counts,
                        &mut failures,
                    );
                }
            }
        }
        // Mutants the fast reader takes (nulls, values of the right type) and ones it declines.
        assert!(counts[0] > 1_000 && counts[1] > 1_000, "{counts:?}");
        assert!(
            failures.is_empty(),
            "{} disagreements, the first ones:\n{}",
            failures.len(),
            failures[..failures.len().min(10)].join("\n")
        );
    }

    #[test]
    fn twos_complement_is_the_shortest_form() {
        let decode = |s: String| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(decode(twos_complement(123_456)), [0x01, 0xE2, 0x40]);
        assert_eq!(decode(twos_complement(-123_456)), [0xFE, 0x1D, 0xC0]);
        assert_eq!(decode(twos_complement(0)), [0]);
        assert_eq!(decode(twos_complement(128)), [0, 0x80]);
        assert_eq!(decode(twos_complement(-1)), [0xff]);
    }
}
