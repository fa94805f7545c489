//! [`Condition`]: one field's condition in EventBridge's content-filter syntax.

use super::PatternError;
use cdc_models::ColumnKind;
use serde_json::{json, Value};
use std::ops::{Bound, RangeBounds};
/// The largest magnitude EventBridge's numeric matching accepts.
const NUMERIC_LIMIT: f64 = 5.0e9;

/// A condition on one field of the event, in EventBridge's content-filter syntax.
///
/// Several conditions on the same field are alternatives (any of them matches), as in
/// EventBridge.
///
/// ```
/// use consumer_sdk::Condition;
/// use serde_json::json;
/// assert_eq!(Condition::prefix("Billing").to_json(), [json!({"prefix": "Billing"})]);
/// assert_eq!(Condition::numeric(5.0..=10.0).to_json(), [json!({"numeric": [">=", 5.0, "<=", 10.0]})]);
/// assert_eq!(Condition::anything_but(["offline", "break"]).to_json(),
///            [json!({"anything-but": ["offline", "break"]})]);
/// assert_eq!(Condition::one_of(["on_call", "on_chat"]).to_json(), [json!("on_call"), json!("on_chat")]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Condition(Cond);

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    OneOf(Vec<Value>),
    EqualsIgnoreCase(String),
    Prefix(String),
    Suffix(String),
    Wildcard(String),
    AnythingBut(Vec<Value>),
    AnythingButPrefix(String),
    Exists(bool),
    Null,
    Numeric(Vec<(&'static str, f64)>),
}

impl Condition {
    /// The field equals `value` (a string, number or boolean).
    pub fn equals(value: impl Into<Value>) -> Condition {
        Condition(Cond::OneOf(vec![value.into()]))
    }

    /// The field equals one of `values`.
    pub fn one_of<V: Into<Value>>(values: impl IntoIterator<Item = V>) -> Condition {
        Condition(Cond::OneOf(values.into_iter().map(Into::into).collect()))
    }

    /// The field is a string equal to `value` ignoring ASCII case.
    pub fn equals_ignore_case(value: impl Into<String>) -> Condition {
        Condition(Cond::EqualsIgnoreCase(value.into()))
    }

    /// The field is a string starting with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Condition {
        Condition(Cond::Prefix(prefix.into()))
    }

    /// The field is a string ending with `suffix`.
    pub fn suffix(suffix: impl Into<String>) -> Condition {
        Condition(Cond::Suffix(suffix.into()))
    }

    /// The field is a string matching `pattern`, where `*` matches any run of characters.
    pub fn wildcard(pattern: impl Into<String>) -> Condition {
        Condition(Cond::Wildcard(pattern.into()))
    }

    /// The field is present and equals none of `values` (strings, or numbers).
    pub fn anything_but<V: Into<Value>>(values: impl IntoIterator<Item = V>) -> Condition {
        Condition(Cond::AnythingBut(
            values.into_iter().map(Into::into).collect(),
        ))
    }

    /// The field is present and is not a string starting with `prefix`.
    pub fn anything_but_prefix(prefix: impl Into<String>) -> Condition {
        Condition(Cond::AnythingButPrefix(prefix.into()))
    }

    /// The field is present (with any value, `null` included).
    pub fn exists() -> Condition {
        Condition(Cond::Exists(true))
    }

    /// The field is not present (for a column: absent from the image).
    pub fn absent() -> Condition {
        Condition(Cond::Exists(false))
    }

    /// The field is present and `null` (for a column: SQL `NULL`).
    pub fn null() -> Condition {
        Condition(Cond::Null)
    }

    /// The field is a number inside `range` (`5.0..`, `..10.0`, `5.0..=10.0`, `0.5..1.5`).
    pub fn numeric(range: impl RangeBounds<f64>) -> Condition {
        let mut ops = Vec::new();
        match range.start_bound() {
            Bound::Included(v) => ops.push((">=", *v)),
            Bound::Excluded(v) => ops.push((">", *v)),
            Bound::Unbounded => {}
        }
        match range.end_bound() {
            Bound::Included(v) => ops.push(("<=", *v)),
            Bound::Excluded(v) => ops.push(("<", *v)),
            Bound::Unbounded => {}
        }
        Condition(Cond::Numeric(ops))
    }

    /// The field is a number greater than `value`.
    pub fn greater_than(value: f64) -> Condition {
        Condition(Cond::Numeric(vec![(">", value)]))
    }

    /// The field is a number less than `value`.
    pub fn less_than(value: f64) -> Condition {
        Condition(Cond::Numeric(vec![("<", value)]))
    }

    /// The field is a number equal to `value` (numerically: `5` matches `5.0`).
    pub fn numeric_equals(value: f64) -> Condition {
        Condition(Cond::Numeric(vec![("=", value)]))
    }

    /// The JSON this condition adds to the field's array in the pattern.
    pub fn to_json(&self) -> Vec<Value> {
        match &self.0 {
            Cond::OneOf(vs) => vs.clone(),
            Cond::EqualsIgnoreCase(s) => vec![json!({ "equals-ignore-case": s })],
            Cond::Prefix(s) => vec![json!({ "prefix": s })],
            Cond::Suffix(s) => vec![json!({ "suffix": s })],
            Cond::Wildcard(s) => vec![json!({ "wildcard": s })],
            Cond::AnythingBut(vs) => vec![json!({ "anything-but": vs })],
            Cond::AnythingButPrefix(s) => vec![json!({ "anything-but": { "prefix": s } })],
            Cond::Exists(b) => vec![json!({ "exists": b })],
            Cond::Null => vec![Value::Null],
            Cond::Numeric(ops) => {
                let mut arr = Vec::new();
                for (op, v) in ops {
                    arr.push(json!(op));
                    arr.push(json!(v));
                }
                vec![json!({ "numeric": arr })]
            }
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match &self.0 {
            Cond::OneOf(_) => "equals",
            Cond::EqualsIgnoreCase(_) => "equals-ignore-case",
            Cond::Prefix(_) => "prefix",
            Cond::Suffix(_) => "suffix",
            Cond::Wildcard(_) => "wildcard",
            Cond::AnythingBut(_) => "anything-but",
            Cond::AnythingButPrefix(_) => "anything-but prefix",
            Cond::Exists(_) => "exists",
            Cond::Null => "null",
            Cond::Numeric(_) => "numeric",
        }
    }

    /// Whether the condition looks at the value (not just presence or `NULL`).
    pub(super) fn reads_value(&self) -> bool {
        !matches!(self.0, Cond::Exists(_) | Cond::Null)
    }

    /// Checks the condition on its own (JSON shapes, number ranges).
    pub(super) fn check(&self, field: &str) -> Result<(), PatternError> {
        let invalid = |reason: &str| PatternError::InvalidCondition {
            field: field.to_string(),
            reason: reason.to_string(),
        };
        match &self.0 {
            Cond::OneOf(vs) => {
                if vs.is_empty() {
                    return Err(invalid("one_of needs at least one value"));
                }
                if vs.iter().any(|v| v.is_array() || v.is_object()) {
                    return Err(invalid(
                        "equality matches strings, numbers, booleans or null, not arrays or objects",
                    ));
                }
            }
            Cond::AnythingBut(vs) => {
                if vs.is_empty() {
                    return Err(invalid("anything_but needs at least one value"));
                }
                if !(vs.iter().all(Value::is_string) || vs.iter().all(Value::is_number)) {
                    return Err(invalid("anything-but takes only strings or only numbers"));
                }
            }
            Cond::Numeric(ops) => {
                if ops.is_empty() {
                    return Err(invalid("a numeric range needs at least one bound"));
                }
                if ops
                    .iter()
                    .any(|(_, v)| !v.is_finite() || v.abs() > NUMERIC_LIMIT)
                {
                    return Err(invalid(
                        "EventBridge numeric matching takes finite numbers between -5e9 and 5e9",
                    ));
                }
                if let [(_, lo), (_, hi)] = ops.as_slice() {
                    if lo > hi {
                        return Err(invalid("the lower bound is above the upper bound"));
                    }
                }
            }
            Cond::Wildcard(s) if s.contains("**") => {
                return Err(invalid("a wildcard pattern cannot hold consecutive `*`"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the condition can match a column of this kind.
    pub(super) fn fits(&self, kind: ColumnKind) -> bool {
        let stringy = matches!(
            kind,
            ColumnKind::String
                | ColumnKind::Uuid
                | ColumnKind::DateTime
                | ColumnKind::Date
                | ColumnKind::Decimal
        );
        let numeric = matches!(kind, ColumnKind::Integer | ColumnKind::Number);
        let scalar_fits = |v: &Value| match v {
            Value::String(_) => stringy,
            Value::Number(_) => numeric,
            Value::Bool(_) => kind == ColumnKind::Boolean,
            Value::Null => true,
            _ => false,
        };
        match &self.0 {
            Cond::OneOf(vs) | Cond::AnythingBut(vs) => vs.iter().all(scalar_fits),
            Cond::EqualsIgnoreCase(_)
            | Cond::Prefix(_)
            | Cond::Suffix(_)
            | Cond::Wildcard(_)
            | Cond::AnythingButPrefix(_) => stringy,
            Cond::Numeric(_) => numeric,
            Cond::Exists(_) | Cond::Null => true,
        }
    }
}
