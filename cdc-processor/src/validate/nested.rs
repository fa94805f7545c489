//! The nested checks of a column ([`cdc_models::NestedSchema`], generated): a walk over the
//! value that gives the first error a JSON Schema validator (`jsonschema` 0.61, draft 7, formats
//! checked) gives, in the same words ([`super::describe_schema_error`]'s): the keyword and its
//! limit, and where (array indices and schema-defined member names), never the value.
//!
//! Keywords are checked in `jsonschema`'s order (cheap ones first: `type`, `enum`, the bounds,
//! the lengths and counts, `required`, `pattern`, `format`, `uniqueItems`, then the members and
//! the items). Patterns are ECMAScript regular expressions (`regress`), searched for anywhere
//! in the string; formats are [`super::format`]'s.

use super::format::{date_time_is_valid, email_is_valid};
use super::rules::path_shape;
use cdc_models::{JsonTypes, Limit, NestedFormat, NestedSchema};
use serde_json::{Map, Number, Value};

/// A column's nested schema with its patterns compiled (once, when the table's rules are built).
pub(crate) struct NestedRules {
    schema: &'static NestedSchema,
    patterns: Vec<(&'static str, regress::Regex)>,
}

impl std::fmt::Debug for NestedRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NestedRules")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl NestedRules {
    /// Compiles the schema's patterns.
    pub(crate) fn new(schema: &'static NestedSchema) -> NestedRules {
        let patterns = schema
            .patterns()
            .into_iter()
            .map(|p| {
                let re = regress::Regex::new(p)
                    .expect("generated patterns are ECMAScript regular expressions (codegen)");
                (p, re)
            })
            .collect();
        NestedRules { schema, patterns }
    }

    /// The first error of the value, described (never quoting it).
    pub(crate) fn first_error(&self, value: &Value) -> Option<String> {
        let mut path = String::new();
        let (what, at) = self.walk(self.schema, value, &mut path)?;
        Some(if at.is_empty() {
            what
        } else {
            format!("{what} (at {})", path_shape(&at))
        })
    }

    /// The first error below `schema` as (description, JSON pointer of the instance).
    fn walk(
        &self,
        schema: &'static NestedSchema,
        value: &Value,
        path: &mut String,
    ) -> Option<(String, String)> {
        let here = |what: String| Some((what, path.clone()));
        if let Some(types) = schema.types {
            if !has_type(types, value) {
                return here(format!("wrong JSON type (expected {})", type_kind(types)));
            }
        }
        if let Some(values) = schema.enum_values {
            if !value.as_str().is_some_and(|s| values.contains(&s)) {
                return here("not one of the allowed values".into());
            }
        }
        if let Some(n) = value.as_number() {
            if let Some(what) = bounds(schema, n) {
                return here(what);
            }
        }
        if let Value::String(s) = value {
            if schema.min_length.is_some() || schema.max_length.is_some() {
                let chars = s.chars().count() as u64;
                if let Some(m) = schema.min_length.filter(|m| chars < *m) {
                    return here(format!("shorter than {m} characters"));
                }
                if let Some(m) = schema.max_length.filter(|m| chars > *m) {
                    return here(format!("longer than {m} characters"));
                }
            }
        }
        if let Value::Array(items) = value {
            let n = items.len() as u64;
            if let Some(m) = schema.min_items.filter(|m| n < *m) {
                return here(format!("fewer than {m} items"));
            }
            if let Some(m) = schema.max_items.filter(|m| n > *m) {
                return here(format!("more than {m} items"));
            }
        }
        if let Value::Object(members) = value {
            if !required_after_members(schema) {
                if let Some(name) = schema.required.iter().find(|r| !members.contains_key(**r)) {
                    return here(missing(name));
                }
            }
        }
        if let Value::String(s) = value {
            if let Some(pattern) = schema.pattern {
                if !self.matches(pattern, s) {
                    return here(format!("does not match the pattern {pattern}"));
                }
            }
            if let Some(format) = schema.format {
                if !format_is_valid(format, s) {
                    return here(format!("not a valid `{}`", format.as_str()));
                }
            }
        }
        if let Value::Array(items) = value {
            if schema.unique_items && !all_unique(items) {
                return here("items are not unique".into());
            }
        }
        if let Value::Object(members) = value {
            if let Some(found) = self.members(schema, members, path) {
                return Some(found);
            }
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.items) {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(itoa::Buffer::new().format(i));
                let found = self.walk(item_schema, item, path);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    /// `properties` and `additionalProperties`: the members in name order (`serde_json`'s
    /// objects are sorted); members the schema does not name are refused after the others are
    /// checked, when `additionalProperties` is `false`.
    fn members(
        &self,
        schema: &'static NestedSchema,
        members: &Map<String, Value>,
        path: &mut String,
    ) -> Option<(String, String)> {
        let mut unexpected = false;
        for (name, member) in members {
            let Some(member_schema) = schema.property(name) else {
                unexpected |= !schema.additional_properties;
                continue;
            };
            let len = path.len();
            path.push('/');
            path.push_str(&name.replace('~', "~0").replace('/', "~1"));
            let found = self.walk(member_schema, member, path);
            path.truncate(len);
            if found.is_some() {
                return found;
            }
        }
        if unexpected {
            return Some((
                "has members the schema does not allow".to_string(),
                path.clone(),
            ));
        }
        if required_after_members(schema) {
            // The one required name counts when it is a member `properties` names.
            let name = schema.required[0];
            if schema.property(name).is_none() || !members.contains_key(name) {
                return Some((missing(name), path.clone()));
            }
        }
        None
    }

    fn matches(&self, pattern: &str, s: &str) -> bool {
        self.patterns
            .iter()
            .find(|(p, _)| *p == pattern)
            .is_some_and(|(_, re)| re.find(s).is_some())
    }
}

/// Whether `required` is checked after the members: `jsonschema` checks a single required name
/// of a closed object (`additionalProperties: false` with `properties`) in the same walk over the
/// members, and reports it last.
fn required_after_members(schema: &NestedSchema) -> bool {
    !schema.additional_properties && !schema.properties.is_empty() && schema.required.len() == 1
}

/// `missing required member "name"` (the name as a JSON string, as `jsonschema` prints it).
fn missing(name: &str) -> String {
    format!(
        "missing required member {}",
        Value::String(name.to_string())
    )
}

/// Whether the value has one of the types (an integral number is an `integer`).
fn has_type(types: JsonTypes, value: &Value) -> bool {
    let t = match value {
        Value::Null => JsonTypes::NULL,
        Value::Bool(_) => JsonTypes::BOOLEAN,
        Value::Number(n) if is_integer(n) => {
            return types.contains(JsonTypes::INTEGER) || types.contains(JsonTypes::NUMBER)
        }
        Value::Number(_) => JsonTypes::NUMBER,
        Value::String(_) => JsonTypes::STRING,
        Value::Array(_) => JsonTypes::ARRAY,
        Value::Object(_) => JsonTypes::OBJECT,
    };
    types.contains(t)
}

fn is_integer(n: &Number) -> bool {
    n.is_u64() || n.is_i64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// The expected types as `jsonschema`'s `TypeKind` prints them (`Single(String)`,
/// `Multiple((null, string))`).
fn type_kind(types: JsonTypes) -> String {
    let mut names = types.names();
    if types.len() == 1 {
        let name = names.next().unwrap_or_default();
        let mut variant = name.to_string();
        variant[..1].make_ascii_uppercase();
        format!("Single({variant})")
    } else {
        format!("Multiple(({}))", names.collect::<Vec<_>>().join(", "))
    }
}

/// `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, in that order.
fn bounds(schema: &NestedSchema, n: &Number) -> Option<String> {
    let v = n.as_f64()?;
    let fails = |limit: Option<Limit>, bad: fn(f64, f64) -> bool| {
        limit.filter(|l| bad(v, l.value)).map(|l| l.text)
    };
    if let Some(t) = fails(schema.minimum, |v, l| v < l) {
        return Some(format!("below the minimum {t}"));
    }
    if let Some(t) = fails(schema.maximum, |v, l| v > l) {
        return Some(format!("above the maximum {t}"));
    }
    if let Some(t) = fails(schema.exclusive_minimum, |v, l| v <= l) {
        return Some(format!("not above the exclusive minimum {t}"));
    }
    if let Some(t) = fails(schema.exclusive_maximum, |v, l| v >= l) {
        return Some(format!("not below the exclusive maximum {t}"));
    }
    None
}

fn format_is_valid(format: NestedFormat, s: &str) -> bool {
    match format {
        NestedFormat::Email => email_is_valid(s),
        NestedFormat::DateTime => date_time_is_valid(s),
    }
}

/// Whether no two items are equal (numbers by value: `1` and `1.0` are equal).
fn all_unique(items: &[Value]) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, a)| items[i + 1..].iter().all(|b| !json_equal(a, b)))
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
