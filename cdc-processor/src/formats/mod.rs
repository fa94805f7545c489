//! Input formats: the CoreDB trigger format, Debezium (with or without the JsonConverter
//! `{schema, payload}` wrapper) and AWS DMS, detected per record or forced by configuration.
//!
//! Every format is read into one [`RawChange`]: table, operation, timestamp, transaction id and the
//! before/after images as borrowed JSON (they are deserialized into the table's typed image by
//! [`crate::validate`], normalizing the format's column encodings on the way, see [`normalize`]).
//! Records that are not table changes (Debezium tombstones, transaction markers and messages, DMS
//! control records) are [`Decoded::Acknowledged`]. See `docs/formats.md`.

pub(crate) mod coredb;
mod debezium;
pub mod decimal;
mod dms;
pub mod normalize;
pub(crate) mod object;

use crate::error::{ErrorCode, RecordError};
use cdc_models::Operation;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;

pub use debezium::{DebeziumSchema, FieldHint, SCHEMA_CACHE_ENTRIES, SCHEMA_CACHE_MAX_TEXT};
pub(crate) use object::Fields;

/// A change-record format, and an unknown format name: the event contract's, in `cdc-models`.
pub use cdc_models::contract::{SourceFormat, UnknownFormat};

/// Why a record is acknowledged without publishing a table change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AckReason {
    /// A Debezium tombstone (null or empty value after a delete, for log compaction).
    Tombstone,
    /// A Debezium transaction BEGIN/END marker.
    TransactionMarker,
    /// A Debezium logical-decoding message (`op: m`), not a table change.
    Message,
    /// A DMS control record (create-table, drop-table, …).
    DmsControl,
    /// A change of a table the configuration does not capture.
    TableNotCaptured,
    /// A KPL aggregate that holds no user records.
    EmptyAggregate,
}

impl AckReason {
    /// Short name for logs and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            AckReason::Tombstone => "tombstone",
            AckReason::TransactionMarker => "transaction-marker",
            AckReason::Message => "message",
            AckReason::DmsControl => "dms-control",
            AckReason::TableNotCaptured => "table-not-captured",
            AckReason::EmptyAggregate => "empty-aggregate",
        }
    }
}

/// One change as read from any format, before typed validation. Images are borrowed JSON.
#[derive(Debug, Clone)]
pub struct RawChange<'a> {
    /// The format it was read from.
    pub format: SourceFormat,
    /// Source table name.
    pub table: Cow<'a, str>,
    /// What happened.
    pub operation: Operation,
    /// When it happened at the source (commit time when the format carries it).
    pub timestamp: Option<DateTime<Utc>>,
    /// Source transaction id.
    pub transaction_id: Option<Arc<str>>,
    /// Whether the change comes from a snapshot.
    pub snapshot: bool,
    /// The row before the change (`None`: not sent).
    pub before: Option<&'a RawValue>,
    /// The row after the change (`None`: not sent).
    pub after: Option<&'a RawValue>,
    /// The Debezium JsonConverter `schema` block, when the record has one.
    pub debezium_schema: Option<&'a RawValue>,
    /// DMS deletes carry the key and `null` for every other column: those nulls are not values.
    pub before_has_placeholder_nulls: bool,
    /// The change's position at its source, when the record carries one (the CoreDB trigger
    /// format's `position`; Debezium's `source.lsn` with the server, table, transaction and
    /// operation; DMS's `transaction-id` with `transaction-record-id`): the format's name and the
    /// fields, one a line. The event id is derived from it
    /// ([`crate::decode::event_id_for_source_position`]), so a resent change keeps its id.
    pub source_position: Option<String>,
}

/// What a record is.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    /// A table change.
    Change(RawChange<'a>),
    /// Not a table change; acknowledged and not published.
    Acknowledged(AckReason),
}

/// Options of format reading.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// Read every record as this format instead of detecting it.
    pub forced: Option<SourceFormat>,
    /// Name of the DMS before-image field.
    pub dms_before_image_field: String,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            forced: None,
            dms_before_image_field: crate::config::DEFAULT_DMS_BEFORE_IMAGE_FIELD.to_string(),
        }
    }
}

pub(crate) fn parse_error(message: impl Into<String>) -> RecordError {
    RecordError::new(ErrorCode::ParseError, message)
}

/// Reads one user record. `detected` is set to the format as soon as it is known (also when the
/// record then fails), for dead letters and metrics.
///
/// Empty data and JSON `null` are Debezium tombstones (the Debezium Server Kinesis sink writes a
/// tombstone as empty data) unless a format other than Debezium is forced.
pub fn decode<'a>(
    data: &'a [u8],
    options: &FormatOptions,
    detected: &mut Option<SourceFormat>,
) -> Result<Decoded<'a>, RecordError> {
    *detected = options.forced;
    let text = crate::decode::utf8(data).map_err(|e| {
        parse_error(format!(
            "record is not valid UTF-8 (invalid byte sequence at offset {})",
            e.valid_up_to()
        ))
    })?;
    let trimmed = text.trim_start();
    let tombstones_allowed = matches!(options.forced, None | Some(SourceFormat::Debezium));
    if trimmed.is_empty() || trimmed.trim_end() == "null" {
        return if tombstones_allowed {
            *detected = Some(SourceFormat::Debezium);
            Ok(Decoded::Acknowledged(AckReason::Tombstone))
        } else {
            Err(parse_error(
                "empty record (a tombstone, but the forced format has none)",
            ))
        };
    }
    if !trimmed.starts_with('{') {
        return Err(parse_error(match trimmed.as_bytes()[0] {
            b'[' => "record is a JSON array, expected one change record (a JSON object)",
            _ => "record is not a JSON object",
        }));
    }
    let fields = object::scan(text).map_err(|e| json_error("record", &e))?;
    reject_duplicates("record", &fields)?;
    let format = match options.forced {
        Some(f) => f,
        None => detect(&fields).ok_or_else(|| {
            parse_error(
                "unrecognized change record: not the CoreDB trigger format (table, operation), \
                 Debezium (op, source or schema/payload, or a transaction marker) or DMS (metadata \
                 with data or control)",
            )
        })?,
    };
    *detected = Some(format);
    match format {
        SourceFormat::CoredbTrigger => coredb::read(&fields),
        SourceFormat::Debezium => debezium::read(&fields),
        SourceFormat::Dms => dms::read(&fields, &options.dms_before_image_field),
    }
}

/// A member given twice is a `PARSE_ERROR` (`docs/formats.md`): JSON readers disagree on which
/// value counts, so taking either would guess. The member's name is quoted (names are the
/// format's, not column values); column names twice are the image reader's error.
pub(crate) fn reject_duplicates(what: &str, fields: &Fields<'_>) -> Result<(), RecordError> {
    match fields.duplicate() {
        None => Ok(()),
        Some(name) => {
            let name: String = name.chars().take(64).collect();
            Err(parse_error(format!(
                "{what} has the member `{name}` more than once"
            )))
        }
    }
}

/// Detects the format from the record's top-level keys.
fn detect(fields: &Fields<'_>) -> Option<SourceFormat> {
    if fields.has("metadata") && (fields.has("data") || fields.has("control")) {
        Some(SourceFormat::Dms)
    } else if (fields.has("schema") && fields.has("payload"))
        || fields.has("op")
        || (fields.has("status") && fields.has("id") && !fields.has("table"))
    {
        Some(SourceFormat::Debezium)
    } else if fields.has("table") && fields.has("operation") {
        Some(SourceFormat::CoredbTrigger)
    } else {
        None
    }
}

/// A serde_json error as a PARSE_ERROR message: category and position only (serde_json's own
/// messages may quote input).
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> RecordError {
    use serde_json::error::Category;
    let reason = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected JSON structure",
        Category::Eof => "truncated JSON",
    };
    parse_error(format!(
        "{what}: {reason} at line {} column {}",
        e.line(),
        e.column()
    ))
}

/// Reads a string-or-number field (transaction ids) as text, exactly as written.
pub(crate) fn string_or_number(
    what: &str,
    raw: &RawValue,
) -> Result<Option<Arc<str>>, RecordError> {
    let text = raw.get();
    if text.starts_with('"') {
        Ok(json_str(raw).map(|s| Arc::from(&*s)))
    } else if text == "null" {
        Ok(None)
    } else if !text.starts_with(['{', '[', 't', 'f']) {
        Ok(Some(Arc::<str>::from(text)))
    } else {
        // Publishing `null` would hide that the source sent something else (`docs/formats.md`).
        Err(parse_error(format!(
            "{what} is {}, expected a string or a number",
            object::json_type(raw)
        )))
    }
}

/// A JSON string's contents, borrowed unless it has escapes (`None` for other values).
pub(crate) fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    // A raw value is one valid JSON value: quoted text with nothing JSON escapes is its own
    // contents. Anything else is read by `serde_json`.
    let text = raw.get();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if !cdc_models::json::needs_escape(inner) {
            return Some(Cow::Borrowed(inner));
        }
    }
    serde_json::from_str::<object::Key<'_>>(text)
        .ok()
        .map(|k| k.0)
}

/// Parses an RFC 3339 timestamp (any offset, converted to UTC).
pub(crate) fn parse_timestamp(what: &str, raw: &RawValue) -> Result<DateTime<Utc>, RecordError> {
    let s = json_str(raw).ok_or_else(|| parse_error(format!("{what} is not a string")))?;
    if s.as_bytes().get(10) == Some(&b'T') {
        if let Some(t) = cdc_models::json::parse_timestamp(&s, cdc_models::json::Zone::Required) {
            return Ok(t);
        }
    }
    let t = DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| parse_error(format!("{what} is not an RFC 3339 timestamp")))?;
    cdc_models::json::check_fallback(&s, t).map_err(|why| parse_error(format!("{what} is {why}")))
}

/// Converts an epoch value in the given unit (1 = seconds, 1000 = ms, …) to a UTC instant.
pub(crate) fn epoch_to_datetime(value: i64, per_second: i64) -> Option<DateTime<Utc>> {
    let secs = value.div_euclid(per_second);
    let rem = value.rem_euclid(per_second);
    let nanos = rem.checked_mul(1_000_000_000 / per_second)?;
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?).filter(cdc_models::json::publishable)
}

/// A source position's text: its lines joined by `\n` (`docs/cdc-event.md`). One allocation,
/// not `format!`'s formatting machinery: this runs once per record (≈ 4 % of a narrow DMS
/// record's typed path when it was `format!`, docs/benchmarks.md).
pub(crate) fn position_text(lines: &[&str]) -> String {
    lines.join("\n")
}

/// The JSON text of a member, `""` when it is absent or `null`.
pub(crate) fn raw_text(raw: Option<&RawValue>) -> &str {
    non_null(raw).map(RawValue::get).unwrap_or("")
}

/// `None` for JSON `null`, the value otherwise.
pub(crate) fn non_null(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<Decoded<'_>, RecordError> {
        decode(s.as_bytes(), &FormatOptions::default(), &mut None)
    }

    /// The borrowed fast path of `json_str` agrees with `serde_json` on plain, escaped and
    /// non-ASCII strings and on other values.
    #[test]
    fn json_str_reads_like_serde_json() {
        for text in [
            r#""users""#,
            r#""""#,
            r#""a\"b""#,
            r#""tab\there""#,
            r#""\u00e9t\u00e9""#,
            r#""été 🚀""#,
            r#""back\\slash""#,
            "5",
            "null",
            "true",
            r#"{"a":1}"#,
            r#"["x"]"#,
        ] {
            let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
            let expected = serde_json::from_str::<String>(text).ok();
            assert_eq!(json_str(&raw).map(Cow::into_owned), expected, "{text}");
            if !text.contains('\\') && text.starts_with('"') {
                assert!(matches!(json_str(&raw), Some(Cow::Borrowed(_))), "{text}");
            }
        }
    }

    #[test]
    fn tombstones_and_garbage() {
        assert!(matches!(
            dec("").unwrap(),
            Decoded::Acknowledged(AckReason::Tombstone)
        ));
        assert!(matches!(
            dec(" null\n").unwrap(),
            Decoded::Acknowledged(AckReason::Tombstone)
        ));
        assert_eq!(dec("[1]").unwrap_err().code, ErrorCode::ParseError);
        assert_eq!(dec("{\"a\":").unwrap_err().code, ErrorCode::ParseError);
        assert_eq!(dec("{\"a\": 1}").unwrap_err().code, ErrorCode::ParseError);
        let err = decode(&[b'{', 0xff, b'}'], &FormatOptions::default(), &mut None).unwrap_err();
        assert!(err.message.contains("UTF-8"));
        let forced = FormatOptions {
            forced: Some(SourceFormat::Dms),
            ..FormatOptions::default()
        };
        assert_eq!(
            decode(b"", &forced, &mut None).unwrap_err().code,
            ErrorCode::ParseError
        );
    }

    #[test]
    fn json_errors_do_not_quote_input() {
        let e = dec("{\"secret-value\": tru}").unwrap_err();
        assert!(!e.message.contains("secret"), "{}", e.message);
    }

    #[test]
    fn epoch_conversion() {
        let t = epoch_to_datetime(1_465_491_411_815, 1000).unwrap();
        assert_eq!(t.to_rfc3339(), "2016-06-09T16:56:51.815+00:00");
        let t = epoch_to_datetime(-1, 1_000_000).unwrap();
        assert_eq!(t.timestamp_subsec_micros(), 999_999);
    }
}
