//! The CoreDB trigger format read in one pass: the envelope and the typed images together.
//!
//! The general path ([`crate::formats::decode`], then [`crate::validate::validate`]) first reads a
//! record's top-level members, keeping each image as raw JSON text, and then reads the images into
//! their typed form: every image is scanned twice. The triggers write `table` first
//! (`docs/formats.md`), so by the time the images come the table is known and they can be read
//! typed as they stream by.
//!
//! This reader only takes the common shape, and declines anything else (`None`), leaving the record
//! to the general path, which then reads it from the start:
//!
//! - `table` first, naming a captured table; then only `operation`, `timestamp`,
//!   `transaction_id`, `snapshot`, `schema`, `position`, `before` and `after`, each at most once, `before`
//!   before `after`;
//! - values the general path accepts (`operation` a known operation, `timestamp` a timestamp,
//!   `snapshot` a boolean), and images its fast path reads;
//! - nothing after the object.
//!
//! Whatever it accepts, it reads to exactly what the general path makes of it (tests compare the
//! two on every fixture and on every table's example rows), so taking it changes no result, only
//! the time. No error comes from here: a record it declines gets its error (and category) from
//! the general path.

use crate::formats::{self, coredb, object::Key};
use crate::validate::{Envelope, ImageReader, ValidateOptions};
use cdc_models::{AnyImage, Table};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use std::fmt;

/// A record read in one pass.
pub(crate) struct OnePass {
    /// The table (captured).
    pub(crate) table: Table,
    /// Operation, timestamp, transaction id, snapshot flag.
    pub(crate) envelope: Envelope,
    /// The before image (`None`: absent, `null`, or without any column).
    pub(crate) before: Option<Box<AnyImage>>,
    /// The after image.
    pub(crate) after: Option<Box<AnyImage>>,
    /// Source columns the schema does not know.
    pub(crate) dropped_columns: Vec<String>,
}

/// Reads `data` as a CoreDB trigger record in one pass; `None` when it is not in the shape this
/// reader takes (see the module documentation). `captured` resolves a table name to a table whose
/// changes are published.
pub(crate) fn read(
    data: &[u8],
    captured: &dyn Fn(&str) -> Option<Table>,
    options: &ValidateOptions,
) -> Option<OnePass> {
    // Other formats (and other member orders) are declined before any work.
    if !starts_with_table(data) {
        return None;
    }
    let text = crate::decode::utf8(data).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let read = de
        .deserialize_map(RecordVisitor { captured, options })
        .ok()?;
    de.end().ok()?;
    Some(read)
}

/// Whether the record starts with `{"table"` (JSON whitespace allowed around the brace).
fn starts_with_table(data: &[u8]) -> bool {
    let json_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut rest = data.iter().skip_while(|b| json_space(b));
    rest.next() == Some(&b'{')
        && rest
            .skip_while(|b| json_space(b))
            .take(7)
            .eq(b"\"table\"".iter())
}

/// The error that declines a record (its text is never shown).
fn decline<E: serde::de::Error>() -> E {
    E::custom("not in the one-pass shape")
}

/// A member of a record after `table` that the one-pass reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    Operation,
    Timestamp,
    TransactionId,
    Snapshot,
    Before,
    After,
    Schema,
    Position,
}

impl Member {
    fn of(key: &str) -> Option<Member> {
        Some(match key {
            "operation" => Member::Operation,
            "timestamp" => Member::Timestamp,
            "transaction_id" => Member::TransactionId,
            "snapshot" => Member::Snapshot,
            "before" => Member::Before,
            "after" => Member::After,
            "schema" => Member::Schema,
            "position" => Member::Position,
            _ => return None,
        })
    }

    /// This member's bit in a set of members seen.
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

struct RecordVisitor<'c> {
    captured: &'c dyn Fn(&str) -> Option<Table>,
    options: &'c ValidateOptions,
}

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = OnePass;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CoreDB trigger record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OnePass, A::Error> {
        match map.next_key::<Key<'de>>()? {
            Some(Key(k)) if k == "table" => {}
            _ => return Err(decline()),
        }
        let Key(name) = map.next_value::<Key<'de>>()?;
        let table = (self.captured)(&name).ok_or_else(decline)?;
        let mut reader = ImageReader::new(
            table,
            formats::SourceFormat::CoredbTrigger,
            self.options,
            None,
        );
        // The members seen so far, one bit each.
        let mut seen = 0u8;
        let mut members = coredb::Members::default();
        let mut before = None;
        let mut after = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let member = Member::of(&key).ok_or_else(decline)?;
            // Duplicates (the general path reads the first), and `after` before `before` (the
            // general path reads `before` first, which orders the dropped columns).
            if seen & member.bit() != 0
                || (member == Member::Before && seen & Member::After.bit() != 0)
            {
                return Err(decline());
            }
            seen |= member.bit();
            match member {
                Member::Operation => members.operation = Some(map.next_value()?),
                Member::Timestamp => members.timestamp = Some(map.next_value()?),
                Member::TransactionId => members.transaction_id = Some(map.next_value()?),
                Member::Snapshot => members.snapshot = Some(map.next_value()?),
                Member::Position => members.position = Some(map.next_value()?),
                // The database schema name: ignored by the format (`docs/formats.md`).
                Member::Schema => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Member::Before => {
                    before = map.next_value_seed(ImageSeed {
                        reader: &mut reader,
                        which: "before",
                    })?;
                }
                Member::After => {
                    after = map.next_value_seed(ImageSeed {
                        reader: &mut reader,
                        which: "after",
                    })?;
                }
            }
        }
        // What the general path would make of the members, or its error: declined.
        let header = coredb::header(&members).map_err(|_| decline::<A::Error>())?;
        Ok(OnePass {
            table,
            envelope: Envelope {
                format: formats::SourceFormat::CoredbTrigger,
                operation: header.operation,
                timestamp: Some(header.timestamp),
                transaction_id: header.transaction_id,
                snapshot: header.snapshot,
                before_has_placeholder_nulls: false,
                source_position: header.source_position,
            },
            before,
            after,
            dropped_columns: reader.into_dropped(),
        })
    }
}

/// An image member: `null`, or an object read by the validating fast path.
struct ImageSeed<'r, 'a> {
    reader: &'r mut ImageReader<'a>,
    which: &'static str,
}

impl<'de> DeserializeSeed<'de> for ImageSeed<'_, '_> {
    type Value = Option<Box<AnyImage>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ImageSeed<'_, '_> {
    type Value = Option<Box<AnyImage>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row image or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.reader.read_in_stream(self.which, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PipelineConfig, Redaction};
    use crate::decode::RecordPointer;
    use crate::error::ErrorCode;
    use crate::event::{self, EventOptions};
    use crate::formats::{AckReason, Decoded, FormatOptions};
    use crate::sequence::Position;
    use crate::{transform, validate};
    use serde_json::{json, Map, Value};
    use std::path::PathBuf;
    use std::sync::Arc;

    /// Every table captured but the last one.
    fn config() -> PipelineConfig {
        let mut config = PipelineConfig::new(Redaction::Disabled);
        let last = Table::ALL.len() - 1;
        config
            .set_table_allow_list(Table::ALL[..last].iter().map(|t| t.name()))
            .unwrap();
        config
    }

    fn pointer() -> RecordPointer {
        RecordPointer {
            stream: Arc::<str>::from("stream"),
            shard: Arc::<str>::from("shard"),
            position: Position {
                sequence: "7".parse().unwrap(),
                sub_sequence: None,
            },
            event_id: "0123456789abcdef0123456789abcdef".parse().unwrap(),
        }
    }

    /// How a record ends: its event detail (which holds every value and the dropped columns), or
    /// its error, or why it is acknowledged.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Detail(String),
        Error(ErrorCode, String),
        Acknowledged(AckReason),
    }

    fn finish(
        config: &PipelineConfig,
        change: Result<validate::Change, crate::RecordError>,
    ) -> Outcome {
        let change = match change {
            Ok(c) => c,
            Err(e) => return Outcome::Error(e.code, e.message),
        };
        let settings = config.table(change.table);
        let redacted = match transform::apply(change, settings, config.redaction()) {
            Ok(r) => r,
            Err(e) => return Outcome::Error(e.code, e.message),
        };
        let options = EventOptions {
            source: "cdc-pipeline".into(),
            max_entry_size: 1 << 20,
        };
        match event::build(&redacted, &options) {
            Ok(entry) => Outcome::Detail(entry.detail),
            Err(e) => Outcome::Error(e.code, e.message),
        }
    }

    /// The general path, as the pipeline runs it.
    fn general(config: &PipelineConfig, data: &[u8]) -> Outcome {
        let raw = match formats::decode(data, &FormatOptions::default(), &mut None) {
            Err(e) => return Outcome::Error(e.code, e.message),
            Ok(Decoded::Acknowledged(r)) => return Outcome::Acknowledged(r),
            Ok(Decoded::Change(raw)) => raw,
        };
        let Some(table) = Table::from_name(&raw.table) else {
            return Outcome::Error(ErrorCode::ValidationError, "unknown table".into());
        };
        if !config.table(table).captured {
            return Outcome::Acknowledged(AckReason::TableNotCaptured);
        }
        let change = validate::validate(raw, table, pointer(), &ValidateOptions::default());
        finish(config, change)
    }

    /// The one-pass reader (`None`: declined).
    fn one_pass(config: &PipelineConfig, data: &[u8]) -> Option<Outcome> {
        let captured = |name: &str| Table::from_name(name).filter(|t| config.table(*t).captured);
        let read = read(data, &captured, &ValidateOptions::default())?;
        let change = validate::assemble(
            read.table,
            read.envelope,
            read.before,
            read.after,
            read.dropped_columns,
            pointer(),
        );
        Some(finish(config, change))
    }

    /// Whether the one-pass reader took the record; when it did, its result must be the general
    /// path's.
    fn agrees(config: &PipelineConfig, data: &str) -> bool {
        match one_pass(config, data.as_bytes()) {
            None => false,
            Some(outcome) => {
                assert_eq!(outcome, general(config, data.as_bytes()), "{data}");
                true
            }
        }
    }

    fn example(table: Table) -> Map<String, Value> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../model-schemas/examples")
            .join(format!("{}.json", table.name()));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A record with its members in the triggers' order (`serde_json`'s maps sort keys).
    fn record(
        table: &str,
        operation: &str,
        before: impl fmt::Display,
        after: impl fmt::Display,
    ) -> String {
        format!(
            r#"{{"table":{},"operation":{},"timestamp":"2026-11-25T10:14:31.5+01:00","transaction_id":4471,"before":{before},"after":{after}}}"#,
            json!(table),
            json!(operation)
        )
    }

    #[test]
    fn every_table_and_operation_reads_as_the_general_path_does() {
        let config = config();
        let mut taken = 0;
        for &table in Table::ALL {
            let row = example(table);
            let key: Map<String, Value> = table
                .meta()
                .fields
                .iter()
                .filter(|f| f.key)
                .map(|f| (f.name.to_string(), row[f.name].clone()))
                .collect();
            let mut extra = row.clone();
            extra.insert("not_in_the_schema".into(), json!({"x": [1, "two"]}));
            // The columns in the schema's order, and reversed (serde_json's maps sort them).
            let in_order = |reverse: bool| {
                let mut fields: Vec<&cdc_models::FieldMeta> = table.meta().fields.iter().collect();
                if reverse {
                    fields.reverse();
                }
                let members: Vec<String> = fields
                    .iter()
                    .filter_map(|f| row.get(f.name).map(|v| format!("{}:{v}", json!(f.name))))
                    .collect();
                format!("{{{}}}", members.join(","))
            };
            let (schema_order, reversed) = (in_order(false), in_order(true));
            let mut partial = row.clone();
            partial.retain(|name, _| key.contains_key(name) || name.len() % 2 == 0);
            let name = table.name();
            let row = Value::Object(row);
            let key = Value::Object(key);
            for data in [
                record(name, "INSERT", Value::Null, row.clone()),
                record(name, "SNAPSHOT", Value::Null, row.clone()),
                record(name, "UPDATE", key.clone(), row.clone()),
                record(name, "UPDATE", row.clone(), Value::Object(partial.clone())),
                record(name, "DELETE", key.clone(), Value::Null),
                record(name, "DELETE", row.clone(), Value::Null),
                record(name, "TRUNCATE", Value::Null, Value::Null),
                record(name, "INSERT", Value::Null, Value::Object(extra.clone())),
                record(name, "INSERT", Value::Null, &schema_order),
                record(name, "INSERT", Value::Null, &reversed),
                record(name, "update", json!({}), row.clone()),
                // Rejected by `assemble`, with the general path's error.
                record(name, "INSERT", Value::Null, Value::Object(partial.clone())),
                record(name, "DELETE", Value::Null, row.clone()),
                record(name, "INSERT", Value::Null, Value::Null),
            ] {
                taken += usize::from(agrees(&config, &data));
            }
        }
        // Every record of a captured table is in the common shape (the last table is not
        // captured: the general path acknowledges its records).
        assert_eq!(taken, (Table::ALL.len() - 1) * 14);
    }

    #[test]
    fn envelope_variants_read_as_the_general_path_does() {
        let config = config();
        let after = r#"{"team_id":"5f0c3a3e-8a4e-4c55-9d8e-2a1b3c4d5e6f","user_id":"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","tenant_id":"0e9d8c7b-6a5f-4e4d-8c3b-2a1f0e9d8c7b","member_role":"team_lead","is_primary_team":true,"allocation_percent":75,"added_by_user_id":null,"joined_at":"2026-03-14T09:26:53.589Z","left_at":null,"updated_at":"2026-11-25T10:14:31.120Z"}"#;
        let taken = [
            format!(
                r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#
            ),
            format!(
                r#" {{ "table" : "team_members" , "operation":"INSERT","timestamp":"2026-11-25 10:14:31Z","transaction_id":"t-1","snapshot":null,"before":null,"after":{after} }} "#
            ),
            format!(
                r#"{{"table":"team_\u006dembers","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","transaction_id":1.5e3,"snapshot":true,"after":{after}}}"#
            ),
            format!(
                r#"{{"table":"team_members","after":{after},"timestamp":"2026-11-25T10:14:31Z","operation":"SNAPSHOT","snapshot":false,"transaction_id":"t-2"}}"#
            ),
            format!(
                r#"{{"table":"team_members","operation":"INSERT","after":{after},"timestamp":"2026-11-25T10:14:31Z","position":"9c1e/42"}}"#
            ),
            format!(
                r#"{{"table":"team_members","schema":"public","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#
            ),
        ];
        for data in &taken {
            assert!(agrees(&config, data), "declined: {data}");
        }
        // Declined: the general path decides (publishes, or names the problem).
        let declined = [
            // Not `table` first, duplicates, `after` before `before`, other members.
            format!(r#"{{"operation":"INSERT","table":"team_members","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","operation":"DELETE","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after},"before":null}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after},"op":"c"}}"#),
            format!(r#"{{"table":"team_members","schema":{{}},"payload":{{}},"operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"t\u0061ble":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"table":"team_members","schema":"public","schema":"x","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after},"metadata":{{}},"data":{{}}}}"#),
            // Unknown and uncaptured tables, bad envelope values.
            format!(r#"{{"table":"no_such_table","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"table":"{}","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#, Table::ALL[Table::ALL.len() - 1].name()),
            format!(r#"{{"table":"team_members","operation":"UPSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":null,"after":{after}}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","after":{after}}}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","snapshot":"yes","after":{after}}}"#),
            // A transaction id that is neither a string nor a number (issue 22).
            format!(r#"{{"table":"team_members","after":{after},"timestamp":"2026-11-25T10:14:31Z","operation":"SNAPSHOT","snapshot":false,"transaction_id":{{"x":1}}}}"#),
            // Images the fast path does not read: the careful path names the problem.
            r#"{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":"a row"}"#.to_string(),
            r#"{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{"team_id":"not-a-uuid"}}"#.to_string(),
            after.replace("75", "175").replace(r#"{"team_id""#, r#"{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{"team_id""#) + "}",
            // Invalid JSON, anywhere; something after the object; not an object; not UTF-8.
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}"#),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{}}}"#, after.replace("true", "tru")),
            format!(r#"{{"table":"team_members","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{after}}} x"#),
            "null".to_string(),
            String::new(),
        ];
        for data in &declined {
            assert!(
                one_pass(&config, data.as_bytes()).is_none(),
                "taken: {data}"
            );
            // And the general path still reads it (no panic), with its own result.
            let _ = general(&config, data.as_bytes());
        }
        assert!(read(&[b'{', 0xff, b'}'], &|_| None, &ValidateOptions::default()).is_none());
    }

    #[test]
    fn only_records_starting_with_table_are_tried() {
        for yes in [r#"{"table""#, " \n\t{\r \"table\":1}"] {
            assert!(starts_with_table(yes.as_bytes()), "{yes}");
        }
        for no in [
            "",
            "{",
            r#"{"tabl"#,
            r#"{"tables":1}"#,
            r#"{"op":"c"}"#,
            "\u{a0}{\"table\"",
            r#"["table"]"#,
        ] {
            assert!(!starts_with_table(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn fixtures_read_as_the_general_path_does() {
        let config = {
            let mut c = PipelineConfig::new(Redaction::Disabled);
            c.set_table_allow_list(Table::ALL.iter().map(|t| t.name()))
                .unwrap();
            c
        };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut taken = 0;
        for file in [
            "events/coredb-trigger.jsonl",
            "events/debezium.jsonl",
            "events/dms.jsonl",
        ] {
            for line in std::fs::read_to_string(root.join(file)).unwrap().lines() {
                if agrees(&config, line) {
                    assert!(file.contains("coredb"), "{file}: {line}");
                    taken += 1;
                }
            }
        }
        // The reference fixtures as the repository holds them (copied from `shared/formats`,
        // which is outside the repository and not beside every checkout).
        let fixtures = root.join("cdc-processor/tests/fixtures");
        for dir in ["debezium", "dms"] {
            for entry in std::fs::read_dir(fixtures.join(dir)).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                assert!(!agrees(&config, &text), "{dir}: {text}");
            }
        }
        assert!(taken >= 5, "only {taken} CoreDB fixtures taken");
    }
}
