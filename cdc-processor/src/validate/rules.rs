//! The checks a column's Rust type does not make, on a value's raw JSON text: the generated
//! [`Constraints`] of each column (bounds, lengths, `enum`, 64-bit integers), and a JSON Schema
//! validator for the few columns whose constraints only one can check (built once per table, on
//! first use, from the column's own schema text in `META`). Also the JSON Schema helpers of the
//! `validate` command.

use cdc_models::{ColumnKind, Constraints, FieldMeta, Table};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::OnceLock;

/// The checks of one column its Rust type does not make.
pub struct ColumnRules {
    /// The column's generated constraints.
    pub constraints: Constraints,
    /// A validator of the column's own schema, when [`Constraints::nested_schema`] is set.
    nested: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for ColumnRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnRules")
            .field("constraints", &self.constraints)
            .field("nested", &self.nested.is_some())
            .finish()
    }
}

impl ColumnRules {
    fn new(field: &FieldMeta) -> ColumnRules {
        let nested = field.constraints.nested_schema.map(|text| {
            let schema: Value =
                serde_json::from_str(text).expect("generated column schemas are valid JSON");
            schema_options()
                .build(&schema)
                .expect("model schemas are valid draft-07 (checked by cdc-models tests)")
        });
        ColumnRules {
            constraints: field.constraints,
            nested,
        }
    }

    /// Whether the column has a constraint its Rust type does not check.
    pub fn constrained(&self) -> bool {
        self.constraints.constrained()
    }

    /// Checks a (normalized) value; the reason never quotes it.
    pub fn check(&self, raw: &RawValue) -> Result<(), String> {
        let text = raw.get();
        if text == "null" {
            return Ok(());
        }
        if self.constraints.integers && !integers_fit_i64(text) {
            return Err("holds an integer outside the signed 64-bit range".to_string());
        }
        let bounded = self.constraints.minimum.is_some()
            || self.constraints.maximum.is_some()
            || self.constraints.exclusive_minimum.is_some()
            || self.constraints.exclusive_maximum.is_some();
        if bounded {
            if let Ok(v) = text.parse::<f64>() {
                if let Some(m) = self.constraints.minimum.filter(|m| v < *m) {
                    return Err(format!("below the minimum {m}"));
                }
                if let Some(m) = self.constraints.maximum.filter(|m| v > *m) {
                    return Err(format!("above the maximum {m}"));
                }
                if let Some(m) = self.constraints.exclusive_minimum.filter(|m| v <= *m) {
                    return Err(format!("not above the exclusive minimum {m}"));
                }
                if let Some(m) = self.constraints.exclusive_maximum.filter(|m| v >= *m) {
                    return Err(format!("not below the exclusive maximum {m}"));
                }
            }
        }
        // The generated enums accept any string (forward-compatible consumers, issue 22): the
        // schema's `enum` list is the contract, checked here on input.
        if let Some(values) = self.constraints.enum_values {
            if let Ok(s) = serde_json::from_str::<Cow<'_, str>>(text) {
                if !values.iter().any(|v| *v == s) {
                    return Err(format!(
                        "not a value the schema lists, expected {}",
                        enum_list(values)
                    ));
                }
            }
        }
        if self.constraints.min_length.is_some() || self.constraints.max_length.is_some() {
            if let Ok(s) = serde_json::from_str::<Cow<'_, str>>(text) {
                let n = s.chars().count() as u64;
                if let Some(m) = self.constraints.max_length.filter(|m| n > *m) {
                    return Err(format!("longer than {m} characters"));
                }
                if let Some(m) = self.constraints.min_length.filter(|m| n < *m) {
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

    pub(crate) fn expected(&self, field: &FieldMeta) -> String {
        if let Some(values) = self.constraints.enum_values {
            return enum_list(values);
        }
        match field.kind {
            ColumnKind::String if self.constraints.pattern.is_some() => {
                "a string matching the column's pattern".into()
            }
            ColumnKind::String => "a string".into(),
            ColumnKind::Uuid => "a UUID string".into(),
            ColumnKind::DateTime => "an RFC 3339 timestamp".into(),
            ColumnKind::Date => "a YYYY-MM-DD date".into(),
            ColumnKind::Integer => "a 64-bit integer".into(),
            ColumnKind::Number => "a number".into(),
            ColumnKind::Boolean => "a boolean".into(),
            ColumnKind::Decimal => match self.constraints.decimal_scale {
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
fn enum_list(values: &[&str]) -> String {
    let list = values.join(", ");
    if list.len() <= 200 {
        format!("one of: {list}")
    } else {
        "one of the column's enum values".to_string()
    }
}

/// Whether every integer literal of a JSON text (outside strings) fits in an `i64`.
pub(crate) fn integers_fit_i64(text: &str) -> bool {
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
pub(crate) fn path_shape(pointer: &str) -> String {
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

/// The checks of every column of a table, built once per table on first use.
#[derive(Debug)]
pub struct TableRules {
    /// One per column, in [`cdc_models::TableMeta::fields`] order.
    pub columns: Vec<ColumnRules>,
}

impl TableRules {
    /// The rules of a table.
    pub fn get(table: Table) -> &'static TableRules {
        static ALL: OnceLock<Vec<OnceLock<TableRules>>> = OnceLock::new();
        let all = ALL.get_or_init(|| Table::ALL.iter().map(|_| OnceLock::new()).collect());
        all[table.index()].get_or_init(|| TableRules {
            columns: table.meta().fields.iter().map(ColumnRules::new).collect(),
        })
    }
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
