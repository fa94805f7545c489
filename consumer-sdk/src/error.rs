//! Parse errors that name what was wrong and where, never a value of the row.

use cdc_models::{ColumnKind, TableMeta};
use serde_json::Value;
use std::fmt;

/// Why an event could not be read, and where in the JSON document.
///
/// The message names the JSON path (`$.detail.after.state_version`), what was expected (from the
/// table's schema or the event contract) and the JSON *type* that was found — never the value that
/// was found, so an error can be logged without leaking the personal data a row may hold.
///
/// ```
/// use consumer_sdk::{Change, ErrorKind};
/// let detail = r#"{"version": "1.0", "eventId": "e1", "eventType": "agent_state.changed",
///   "table": "agent_states", "operation": "UPDATE", "timestamp": "2026-11-25T10:38:52Z",
///   "before": null, "after": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000",
///   "state_version": "priya@example.com"},
///   "beforeImage": null, "afterImage": "partial",
///   "keys": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000"}, "redactions": {},
///   "metadata": {"sourceFormat": "debezium", "snapshot": false}}"#;
/// let err = Change::from_detail_json(detail).unwrap_err();
/// assert_eq!(err.path(), "$.after.state_version");
/// assert!(matches!(err.kind(), ErrorKind::WrongType { .. }));
/// assert_eq!(err.to_string(), "$.after.state_version: expected an integer, found a string");
/// assert!(!err.to_string().contains("priya"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct Error {
    path: String,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(path: impl Into<String>, kind: ErrorKind) -> Self {
        Error {
            path: path.into(),
            kind,
        }
    }

    /// Where the problem is, as a JSON path from the document root (`$`), e.g.
    /// `$.detail.metadata` or `$.detail.after.email`. Inside a column that holds nested JSON, the
    /// nested object keys are shown as `*` (they may be data).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the problem is.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// What was wrong with an event. Part of [`Error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not JSON at all (the message is serde_json's, which never quotes the input).
    #[error("not valid JSON ({message})")]
    Syntax {
        /// What the JSON parser reported, with line and column.
        message: String,
    },
    /// A required field is missing from the object at the path.
    #[error("missing required field `{field}`")]
    MissingField {
        /// The missing field's name.
        field: String,
    },
    /// The value at the path has the wrong JSON type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the schema or contract expects there.
        expected: String,
        /// The JSON type that was found.
        found: JsonType,
    },
    /// The value at the path has the right JSON type but is not acceptable (a malformed UUID or
    /// timestamp, a value outside an enum, a number out of range, a string that breaks a pattern).
    #[error("invalid value: expected {expected}, found {found}")]
    InvalidValue {
        /// What the schema or contract expects there.
        expected: String,
        /// The JSON type that was found.
        found: JsonType,
    },
    /// The detail's major `version` is one this crate does not read. Upgrade `consumer-sdk`.
    #[error("unsupported detail version {found}: this consumer-sdk reads version {supported}.x")]
    UnsupportedVersion {
        /// The version the event carries.
        found: String,
        /// The major version this crate reads.
        supported: u32,
    },
    /// The envelope's `detail-type` is not `CDC.TableChange`.
    #[error("detail-type is `{found}`, expected `CDC.TableChange`")]
    NotATableChange {
        /// The detail type that was found.
        found: String,
    },
}

/// The type of a JSON value, used in errors instead of the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonType {
    /// The key is not there.
    Missing,
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number without a fractional part.
    Integer,
    /// A number with a fractional part or an exponent.
    Float,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type of `value`.
    ///
    /// ```
    /// use consumer_sdk::JsonType;
    /// assert_eq!(JsonType::of(&serde_json::json!(3)), JsonType::Integer);
    /// assert_eq!(JsonType::of(&serde_json::json!("x")).to_string(), "a string");
    /// ```
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
            Value::Number(_) => JsonType::Float,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonType::Missing => "nothing",
            JsonType::Null => "null",
            JsonType::Boolean => "a boolean",
            JsonType::Integer => "an integer",
            JsonType::Float => "a non-integer number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        })
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
    /// A nested object key inside a column value: may be data, never shown.
    Hidden,
}

/// A JSON path, rendered `$.a.b[0]["c-d"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath(Vec<Seg>);

impl JsonPath {
    pub(crate) fn root() -> Self {
        JsonPath(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) if is_plain_key(k) => write!(f, ".{k}")?,
                Seg::Key(k) => write!(f, "[{}]", Value::String(k.clone()))?,
                Seg::Index(i) => write!(f, "[{i}]")?,
                Seg::Hidden => f.write_str(".*")?,
            }
        }
        Ok(())
    }
}

/// A syntax error of the whole input (serde_json's syntax messages never quote the input).
pub(crate) fn syntax(err: &serde_json::Error) -> Error {
    Error::new(
        "$",
        ErrorKind::Syntax {
            message: err.to_string(),
        },
    )
}

/// Human description of what a column of this kind holds.
fn describe_kind(kind: ColumnKind, nullable: bool) -> String {
    let base = match kind {
        ColumnKind::String => "a string",
        ColumnKind::Uuid => "a UUID string",
        ColumnKind::DateTime => "an RFC 3339 date-time string",
        ColumnKind::Date => "a date string (YYYY-MM-DD)",
        ColumnKind::Integer => "an integer",
        ColumnKind::Number => "a number",
        ColumnKind::Boolean => "a boolean",
        ColumnKind::Decimal => "a decimal string",
        ColumnKind::Object => "an object",
        ColumnKind::Array => "an array",
        _ => "a value of the column's type",
    };
    if nullable {
        format!("{base} or null")
    } else {
        base.to_string()
    }
}

/// The part of a serde message after the last `, expected `, when the message has one of serde's
/// standard shapes (whose tail is the *type's* description, never the input's value).
fn serde_expected(message: &str) -> Option<&str> {
    let standard = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
    ];
    if !standard.iter().any(|p| message.starts_with(p)) {
        return None;
    }
    message.rsplit_once(", expected ").map(|(_, tail)| tail)
}

/// Custom messages of the generated validated strings that describe the schema, not the value.
fn schema_message(message: &str) -> Option<&str> {
    let known = ["doesn't match pattern ", "longer than ", "shorter than "];
    known
        .iter()
        .any(|p| message.starts_with(p))
        .then_some(message)
}

/// What a contract field whose type reported a custom error holds.
fn contract_field(last: Option<&serde_path_to_error::Segment>) -> &'static str {
    match last {
        Some(serde_path_to_error::Segment::Map { key }) if key == "timestamp" || key == "time" => {
            "an RFC 3339 date-time string"
        }
        _ => "a valid value",
    }
}

/// The name in serde's `missing field `name`` message (a field of one of our own structs).
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    let name = rest.strip_suffix('`')?;
    is_plain_key(name).then_some(name)
}

fn lookup<'a>(root: &'a Value, segs: &[serde_path_to_error::Segment]) -> Option<&'a Value> {
    let mut cur = root;
    for seg in segs {
        cur = match seg {
            serde_path_to_error::Segment::Map { key } => cur.get(key.as_str())?,
            serde_path_to_error::Segment::Seq { index } => cur.get(*index)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Turns a serde error raised while deserializing `root` (found at `base`) into an [`Error`]
/// that names the path and types, never a value. `meta` describes the row images' columns.
pub(crate) fn from_serde(
    err: serde_path_to_error::Error<serde_json::Error>,
    root: &Value,
    base: &JsonPath,
    meta: Option<&TableMeta>,
) -> Error {
    let segs: Vec<_> = err.path().iter().cloned().collect();
    let message = err.inner().to_string();
    // The serde_json error appends " at line X column Y" only when parsing text; we deserialize
    // from a `Value`, so the message is the bare one.

    // Render the path. Inside `before`/`after`/`keys` the second segment is a column; anything
    // deeper is nested JSON inside a column, whose object keys may be data.
    let image_section = matches!(
        segs.first(),
        Some(serde_path_to_error::Segment::Map { key }) if key == "before" || key == "after" || key == "keys"
    );
    let mut path = base.clone();
    for (i, seg) in segs.iter().enumerate() {
        let s = match seg {
            serde_path_to_error::Segment::Map { .. } if image_section && i >= 2 => Seg::Hidden,
            serde_path_to_error::Segment::Map { key } => Seg::Key(key.clone()),
            serde_path_to_error::Segment::Seq { index } => Seg::Index(*index),
            _ => Seg::Hidden,
        };
        path.0.push(s);
    }

    if let Some(field) = missing_field(&message) {
        return Error::new(
            path.to_string(),
            ErrorKind::MissingField {
                field: field.to_string(),
            },
        );
    }

    let found = lookup(root, &segs).map_or(JsonType::Missing, JsonType::of);
    // A column of a row image: describe it from the schema.
    let column = match (image_section, segs.get(1)) {
        (true, Some(serde_path_to_error::Segment::Map { key })) if segs.len() == 2 => {
            meta.and_then(|m| m.field(key))
        }
        _ => None,
    };
    let wrong_type = message.starts_with("invalid type: ");
    let expected = match column {
        Some(field) if wrong_type => describe_kind(field.kind, field.nullable),
        Some(field) => match serde_expected(&message).or_else(|| schema_message(&message)) {
            Some(e) => e.to_string(),
            None => describe_kind(field.kind, field.nullable),
        },
        None => match serde_expected(&message).or_else(|| schema_message(&message)) {
            Some(e) => e.to_string(),
            None => contract_field(segs.last()).to_string(),
        },
    };
    let kind = if wrong_type {
        ErrorKind::WrongType { expected, found }
    } else {
        ErrorKind::InvalidValue { expected, found }
    };
    Error::new(path.to_string(), kind)
}

/// Deserializes `T` from `value`, mapping errors with [`from_serde`].
pub(crate) fn deserialize_at<'a, T: serde::Deserialize<'a>>(
    value: &'a Value,
    base: &JsonPath,
    meta: Option<&TableMeta>,
) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| from_serde(e, value, base, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_json_path() {
        let p = JsonPath::root().key("detail").key("detail-type");
        assert_eq!(p.to_string(), r#"$.detail["detail-type"]"#);
        let mut q = JsonPath::root().key("after");
        q.0.push(Seg::Index(2));
        q.0.push(Seg::Hidden);
        assert_eq!(q.to_string(), "$.after[2].*");
    }

    #[test]
    fn serde_expected_only_reads_standard_shapes() {
        assert_eq!(
            serde_expected(r#"invalid type: string "a, expected b", expected i64"#),
            Some("i64")
        );
        assert_eq!(serde_expected("UUID parsing failed, expected x"), None);
        assert_eq!(missing_field("missing field `eventId`"), Some("eventId"));
        assert_eq!(missing_field("missing field `a b`"), None);
    }
}
