//! What the processor checks besides the Rust types, worked out from the schemas once, here:
//! each column's constraints ([`constraints`]) and the table's column order as declared
//! ([`declared_order`]). Emitted into each table's `META`.

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

/// The names of a JSON Schema's `properties`, in the order the schema text lists them
/// (`serde_json::Value` keeps object members sorted by name). `None` when the text is not a JSON
/// object.
pub(crate) fn declared_order(schema_json: &str) -> Option<Vec<String>> {
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Names(Vec<String>);
    impl<'de> Deserialize<'de> for Names {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Names(Vec::new()))
        }
    }
    impl<'de> Visitor<'de> for Names {
        type Value = Names;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Names, A::Error> {
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                self.0.push(name);
            }
            Ok(self)
        }
    }
    struct Properties(Vec<String>);
    impl<'de> Visitor<'de> for Properties {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON Schema object")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Vec<String>, A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "properties" {
                    self.0 = map.next_value::<Names>()?.0;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(self.0)
        }
    }
    serde_json::Deserializer::from_str(schema_json)
        .deserialize_map(Properties(Vec::new()))
        .ok()
}

/// The constraints of one column its Rust type does not enforce (`cdc_models::Constraints`).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Constraints {
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    decimal_scale: Option<u32>,
    enum_values: Option<Vec<String>>,
    pattern: Option<String>,
    format: Option<String>,
    integers: bool,
    nested_schema: Option<String>,
}

/// Reads the constraints of a column from its schema.
pub(crate) fn constraints(column: &Value) -> Constraints {
    let num = |k: &str| column.get(k).and_then(Value::as_f64);
    let int = |k: &str| column.get(k).and_then(Value::as_u64);
    let pattern = column.get("pattern").and_then(Value::as_str);
    let decimal_scale = pattern.and_then(|p| {
        let rest = &p[p.find("\\.[0-9]{")? + "\\.[0-9]{".len()..];
        rest[..rest.find('}')?].parse().ok()
    });
    let enum_values = column.get("enum").and_then(Value::as_array).map(|vs| {
        vs.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    let format = column.get("format").and_then(Value::as_str);
    let needs_validator = format == Some("email")
        || ["minItems", "maxItems", "uniqueItems"]
            .iter()
            .any(|k| column.get(*k).is_some())
        || ["items", "properties", "additionalProperties"]
            .iter()
            .filter_map(|k| column.get(*k))
            .any(has_constraints);
    let types: Vec<&str> = match column.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    // Arrays of strings (uuids, e-mails, tags) hold no numbers: their Rust type rejects any.
    let string_items = column
        .get("items")
        .and_then(|i| i.get("type"))
        .is_some_and(|t| t == "string");
    let integers = types
        .iter()
        .any(|t| matches!(*t, "integer" | "object") || (*t == "array" && !string_items));
    Constraints {
        minimum: num("minimum"),
        maximum: num("maximum"),
        exclusive_minimum: num("exclusiveMinimum"),
        exclusive_maximum: num("exclusiveMaximum"),
        min_length: int("minLength"),
        max_length: int("maxLength"),
        decimal_scale,
        enum_values,
        pattern: pattern.map(str::to_string),
        format: format.map(str::to_string),
        integers,
        nested_schema: needs_validator.then(|| column.to_string()),
    }
}

/// Whether a (nested) schema carries a constraint the Rust types do not check.
fn has_constraints(schema: &Value) -> bool {
    const KEYWORDS: [&str; 13] = [
        // Generated enums accept any string; a nested `enum` is checked by the validator.
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "multipleOf",
        "minProperties",
        "maxProperties",
    ];
    match schema {
        Value::Object(map) => {
            KEYWORDS.iter().any(|k| map.contains_key(*k))
                || map.get("format").and_then(Value::as_str) == Some("email")
                || map.values().any(has_constraints)
        }
        Value::Array(items) => items.iter().any(has_constraints),
        _ => false,
    }
}

impl Constraints {
    /// The `cdc_models::Constraints` value: only what differs from `Constraints::NONE` is written.
    pub(crate) fn tokens(&self, c: &syn::Path) -> TokenStream {
        fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> TokenStream) -> Option<TokenStream> {
            v.as_ref().map(|v| {
                let t = f(v);
                quote!(Some(#t))
            })
        }
        let float = |v: &f64| {
            let lit = proc_macro2::Literal::f64_unsuffixed(*v);
            quote!(#lit)
        };
        let members: Vec<(&str, Option<TokenStream>)> = vec![
            ("minimum", opt(&self.minimum, float)),
            ("maximum", opt(&self.maximum, float)),
            ("exclusive_minimum", opt(&self.exclusive_minimum, float)),
            ("exclusive_maximum", opt(&self.exclusive_maximum, float)),
            ("min_length", opt(&self.min_length, |v| quote!(#v))),
            ("max_length", opt(&self.max_length, |v| quote!(#v))),
            ("decimal_scale", opt(&self.decimal_scale, |v| quote!(#v))),
            (
                "enum_values",
                opt(&self.enum_values, |vs| quote!(&[#(#vs),*])),
            ),
            ("pattern", opt(&self.pattern, |v| quote!(#v))),
            ("format", opt(&self.format, |v| quote!(#v))),
            ("integers", self.integers.then(|| quote!(true))),
            ("nested_schema", opt(&self.nested_schema, |v| quote!(#v))),
        ];
        let set: Vec<TokenStream> = members
            .into_iter()
            .filter_map(|(name, v)| {
                let name = quote::format_ident!("{name}");
                v.map(|v| quote!(#name: #v))
            })
            .collect();
        if set.is_empty() {
            quote!(#c::Constraints::NONE)
        } else {
            quote!(#c::Constraints { #(#set,)* ..#c::Constraints::NONE })
        }
    }
}

/// A column's `cdc_models::FieldMeta` (`policy`: the tokens of its redaction policy, if any).
pub(crate) fn field_meta(
    col: &crate::schema::ColumnSchema,
    policy: Option<TokenStream>,
    c: &syn::Path,
) -> TokenStream {
    let name = &col.name;
    let kind = quote::format_ident!("{}", col.kind.variant());
    let (nullable, key) = (col.nullable, col.key);
    let policy = match policy {
        Some(p) => quote!(Some(#p)),
        None => quote!(None),
    };
    let constraints = constraints(&col.schema).tokens(c);
    quote!(#c::FieldMeta {
        name: #name,
        kind: #c::ColumnKind::#kind,
        nullable: #nullable,
        key: #key,
        policy: #policy,
        constraints: #constraints,
    })
}

/// The column order as declared, as indices into `names` (the columns sorted by name), and for
/// each column the index of the one declared after it (`names.len()` after the last), as
/// literals. Columns the declared order does not list (none: it is read from the same schema) go
/// last.
pub(crate) fn declared_indices(
    declared_order: &[String],
    names: &[&str],
) -> (Vec<proc_macro2::Literal>, Vec<proc_macro2::Literal>) {
    let n = names.len();
    let mut declared: Vec<usize> = declared_order
        .iter()
        .filter_map(|name| names.iter().position(|c| c == name))
        .collect();
    for i in 0..n {
        if !declared.contains(&i) {
            declared.push(i);
        }
    }
    let mut next = vec![n; n];
    for pair in declared.windows(2) {
        next[pair[0]] = pair[1];
    }
    // At most 128 columns (checked by the lint): every index fits in a `u8`.
    let index = |i: &usize| proc_macro2::Literal::u8_unsuffixed(*i as u8);
    (
        declared.iter().map(index).collect(),
        next.iter().map(index).collect(),
    )
}

/// A `u128` bit set as a binary literal (bit `i` = column `i`).
pub(crate) fn bits_literal(bits: u128) -> syn::LitInt {
    syn::LitInt::new(&format!("0b{bits:b}"), proc_macro2::Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_order_is_the_text_order() {
        let text = r#"{"title": "T", "properties": {"b": {}, "a": {"properties": {"z": 1}}, "c": {}}, "x": 1}"#;
        assert_eq!(
            declared_order(text).unwrap(),
            ["b".to_string(), "a".into(), "c".into()]
        );
        assert_eq!(declared_order("[]"), None);
    }

    #[test]
    fn constraints_from_a_column_schema() {
        let c = constraints(&serde_json::json!({
            "type": ["string", "null"], "pattern": "^-?[0-9]+\\.[0-9]{2}$", "maxLength": 20
        }));
        assert_eq!(c.decimal_scale, Some(2));
        assert_eq!(c.max_length, Some(20));
        assert!(!c.integers);
        assert!(c.nested_schema.is_none());
        let c = constraints(&serde_json::json!({"type": "integer", "minimum": 0}));
        assert!(c.integers);
        assert_eq!(c.minimum, Some(0.0));
        let c = constraints(
            &serde_json::json!({"type": "array", "items": {"type": "string", "format": "email"}}),
        );
        assert!(!c.integers);
        assert!(c.nested_schema.is_some());
        let c = constraints(&serde_json::json!({"type": "array", "items": {"type": "string"}}));
        assert_eq!(c, Constraints::default());
    }

    #[test]
    fn declared_indices_link_each_column_to_the_next() {
        let (declared, next) =
            declared_indices(&["b".into(), "c".into(), "a".into()], &["a", "b", "c"]);
        let text =
            |v: Vec<proc_macro2::Literal>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(text(declared), ["1", "2", "0"]);
        assert_eq!(text(next), ["3", "2", "0"]);
    }

    #[test]
    fn bit_sets_are_binary_literals() {
        assert_eq!(bits_literal(0b101).to_string(), "0b101");
        assert_eq!(bits_literal(0).to_string(), "0b0");
    }
}
