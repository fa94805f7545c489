//! The checks a column's Rust type does not make, on a value's raw JSON text: the generated
//! [`Constraints`] of each column (bounds, lengths, `enum`, 64-bit integers), and the generated
//! nested checks ([`cdc_models::NestedSchema`], walked by the private `validate::nested` module) for the few
//! columns whose constraints are inside the value (`format: email`, item counts, members' and
//! items' constraints). No JSON Schema validator on the record path.

use super::nested::NestedRules;
use cdc_models::{ColumnKind, Constraints, FieldMeta, Table};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::OnceLock;

/// The checks of one column its Rust type does not make.
pub struct ColumnRules {
    /// The column's generated constraints.
    pub constraints: Constraints,
    /// The column's nested checks, when [`Constraints::nested`] is set.
    nested: Option<NestedRules>,
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
        let nested = field.constraints.nested.map(NestedRules::new);
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
        if let Some(nested) = &self.nested {
            let value: Value =
                serde_json::from_str(text).map_err(|_| "not valid JSON".to_string())?;
            if let Some(reason) = nested.first_error(&value) {
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
