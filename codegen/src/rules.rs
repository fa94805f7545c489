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
    nested: Option<Nested>,
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
    let needs_validator = needs_nested(column);
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
        nested: needs_validator
            .then(|| nested(column, "").expect("column schemas are checked by lint::check_column")),
    }
}

/// Whether the column needs its nested rules ([`nested`]): constraints only a walk over the
/// whole value checks (`format: email`, item counts, constraints inside items or members).
pub(crate) fn needs_nested(column: &Value) -> bool {
    column.get("format").and_then(Value::as_str) == Some("email")
        || ["minItems", "maxItems", "uniqueItems"]
            .iter()
            .any(|k| column.get(*k).is_some())
        || ["items", "properties", "additionalProperties"]
            .iter()
            .filter_map(|k| column.get(*k))
            .any(has_constraints)
}

/// Annotation keywords a column schema may carry besides the ones [`Nested`] models: they
/// check nothing.
const ANNOTATIONS: [&str; 5] = ["description", "title", "$comment", "examples", "default"];

/// The checks of one (sub)schema, as `cdc_models::NestedSchema` describes them.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Nested {
    /// `type`, as schema names (`None`: any).
    types: Option<Vec<String>>,
    enum_values: Option<Vec<String>>,
    /// Bounds as (value, text as written).
    minimum: Option<(f64, String)>,
    maximum: Option<(f64, String)>,
    exclusive_minimum: Option<(f64, String)>,
    exclusive_maximum: Option<(f64, String)>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    required: Vec<String>,
    pattern: Option<String>,
    /// `NestedFormat` variant name (`None`: no format, or one no validator checks).
    format: Option<&'static str>,
    unique_items: bool,
    /// Sorted by name (`serde_json::Map` iterates so).
    properties: Vec<(String, Nested)>,
    additional_properties: bool,
    items: Option<Box<Nested>>,
}

/// Reads the nested rules of a (sub)schema at `ptr` (a JSON pointer relative to the column);
/// a keyword the processor does not check is an error (`(pointer, reason)`), so a new schema
/// cannot silently lose a check.
pub(crate) fn nested(schema: &Value, ptr: &str) -> Result<Nested, (String, String)> {
    let err = |key: &str, why: &str| Err((format!("{ptr}/{key}"), why.to_string()));
    let Some(map) = schema.as_object() else {
        return Err((
            ptr.to_string(),
            "a nested schema must be an object".to_string(),
        ));
    };
    let mut n = Nested {
        additional_properties: true,
        ..Nested::default()
    };
    for (key, value) in map {
        let bound = |v: &Value| match v {
            Value::Number(num) => num.as_f64().map(|f| (f, num.to_string())),
            _ => None,
        };
        let count = |v: &Value| v.as_u64();
        match key.as_str() {
            k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
            "type" => {
                let names: Option<Vec<String>> = match value {
                    Value::String(t) => Some(vec![t.clone()]),
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().map(str::to_string)).collect(),
                    _ => None,
                };
                const TYPES: [&str; 7] =
                    ["null", "boolean", "integer", "number", "string", "array", "object"];
                match names {
                    Some(ns) if !ns.is_empty() && ns.iter().all(|t| TYPES.contains(&t.as_str())) => {
                        n.types = Some(ns)
                    }
                    _ => return err(key, "`type` must be a type name or a list of them"),
                }
            }
            "enum" => match value.as_array().and_then(|vs| {
                vs.iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            }) {
                Some(vs) => n.enum_values = Some(vs),
                None => return err(key, "only an `enum` of strings is checked on records"),
            },
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                let Some(b) = bound(value) else {
                    return err(key, "a bound must be a number");
                };
                *match key.as_str() {
                    "minimum" => &mut n.minimum,
                    "maximum" => &mut n.maximum,
                    "exclusiveMinimum" => &mut n.exclusive_minimum,
                    _ => &mut n.exclusive_maximum,
                } = Some(b);
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" => {
                let Some(c) = count(value) else {
                    return err(key, "a count must be a non-negative integer");
                };
                *match key.as_str() {
                    "minLength" => &mut n.min_length,
                    "maxLength" => &mut n.max_length,
                    "minItems" => &mut n.min_items,
                    _ => &mut n.max_items,
                } = Some(c);
            }
            "required" => match value.as_array().and_then(|vs| {
                vs.iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            }) {
                Some(vs) => n.required = vs,
                None => return err(key, "`required` must list member names"),
            },
            "pattern" => match value.as_str() {
                Some(p) if regress::Regex::new(p).is_ok() => n.pattern = Some(p.to_string()),
                _ => return err(key, "`pattern` must be an ECMAScript regular expression"),
            },
            "format" => {
                n.format = match value.as_str() {
                    Some("email") => Some("Email"),
                    Some("date-time") => Some("DateTime"),
                    // Not draft-07 formats: a draft-07 validator ignores them, and so did the
                    // record path's (the decimal's `pattern` checks it; `uuid` is 2019-09's).
                    Some("decimal" | "uuid") => None,
                    _ => {
                        return err(
                            key,
                            "the processor checks only the formats email and date-time inside a \
                             column (and ignores decimal and uuid, as draft-07 does)",
                        )
                    }
                }
            }
            "uniqueItems" => match value.as_bool() {
                Some(b) => n.unique_items = b,
                None => return err(key, "`uniqueItems` must be a boolean"),
            },
            "additionalProperties" => match value.as_bool() {
                Some(b) => n.additional_properties = b,
                None => {
                    return err(
                        key,
                        "only a boolean `additionalProperties` is checked on records",
                    )
                }
            },
            "properties" => {
                let Some(members) = value.as_object() else {
                    return err(key, "`properties` must be an object");
                };
                for (name, member) in members {
                    let at = format!("{ptr}/properties/{}", name.replace('~', "~0").replace('/', "~1"));
                    n.properties.push((name.clone(), nested(member, &at)?));
                }
            }
            "items" => {
                if !value.is_object() {
                    return err(key, "only one `items` schema for every item is checked on records");
                }
                n.items = Some(Box::new(nested(value, &format!("{ptr}/items"))?));
            }
            _ => {
                return err(
                    key,
                    "a keyword the processor does not check on records: model it in                      cdc_models::NestedSchema and the processor's nested checker first",
                )
            }
        }
    }
    Ok(n)
}

impl Nested {
    /// The `cdc_models::NestedSchema` value: only what differs from `NestedSchema::ANY` is
    /// written.
    pub(crate) fn tokens(&self, c: &syn::Path) -> TokenStream {
        let limit = |(v, text): &(f64, String)| {
            let lit = proc_macro2::Literal::f64_unsuffixed(*v);
            quote!(#c::Limit { value: #lit, text: #text })
        };
        let types = |ts: &Vec<String>| {
            let consts = ts
                .iter()
                .map(|t| quote::format_ident!("{}", t.to_ascii_uppercase()));
            let mut consts = consts.map(|i| quote!(#c::JsonTypes::#i));
            let first = consts.next().expect("`type` lists at least one type");
            consts.fold(first, |acc, t| quote!(#acc.union(#t)))
        };
        let strings = |vs: &Vec<String>| quote!(&[#(#vs),*]);
        let properties = (!self.properties.is_empty()).then(|| {
            let members = self.properties.iter().map(|(name, s)| {
                let s = s.tokens(c);
                quote!((#name, #s))
            });
            quote!(&[#(#members),*])
        });
        let members: Vec<(&str, Option<TokenStream>)> = vec![
            ("types", some(&self.types, types)),
            ("enum_values", some(&self.enum_values, strings)),
            ("minimum", some(&self.minimum, limit)),
            ("maximum", some(&self.maximum, limit)),
            ("exclusive_minimum", some(&self.exclusive_minimum, limit)),
            ("exclusive_maximum", some(&self.exclusive_maximum, limit)),
            ("min_length", some(&self.min_length, |v| quote!(#v))),
            ("max_length", some(&self.max_length, |v| quote!(#v))),
            ("min_items", some(&self.min_items, |v| quote!(#v))),
            ("max_items", some(&self.max_items, |v| quote!(#v))),
            (
                "required",
                (!self.required.is_empty()).then(|| strings(&self.required)),
            ),
            ("pattern", some(&self.pattern, |v| quote!(#v))),
            (
                "format",
                some(&self.format, |v| {
                    let v = quote::format_ident!("{v}");
                    quote!(#c::NestedFormat::#v)
                }),
            ),
            ("unique_items", self.unique_items.then(|| quote!(true))),
            ("properties", properties),
            (
                "additional_properties",
                (!self.additional_properties).then(|| quote!(false)),
            ),
            (
                "items",
                self.items.as_ref().map(|s| {
                    let s = s.tokens(c);
                    quote!(Some(&#s))
                }),
            ),
        ];
        struct_literal(c, "NestedSchema", "ANY", members)
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
        let float = |v: &f64| {
            let lit = proc_macro2::Literal::f64_unsuffixed(*v);
            quote!(#lit)
        };
        let members: Vec<(&str, Option<TokenStream>)> = vec![
            ("minimum", some(&self.minimum, float)),
            ("maximum", some(&self.maximum, float)),
            ("exclusive_minimum", some(&self.exclusive_minimum, float)),
            ("exclusive_maximum", some(&self.exclusive_maximum, float)),
            ("min_length", some(&self.min_length, |v| quote!(#v))),
            ("max_length", some(&self.max_length, |v| quote!(#v))),
            ("decimal_scale", some(&self.decimal_scale, |v| quote!(#v))),
            (
                "enum_values",
                some(&self.enum_values, |vs| quote!(&[#(#vs),*])),
            ),
            ("pattern", some(&self.pattern, |v| quote!(#v))),
            ("format", some(&self.format, |v| quote!(#v))),
            ("integers", self.integers.then(|| quote!(true))),
            (
                "nested",
                self.nested.as_ref().map(|n| {
                    let n = n.tokens(c);
                    quote!(Some(&#n))
                }),
            ),
        ];
        struct_literal(c, "Constraints", "NONE", members)
    }
}

/// `Some(…)` of `v`'s tokens, or `None` (the member keeps its default) when `v` is unset.
fn some<T>(v: &Option<T>, f: impl Fn(&T) -> TokenStream) -> Option<TokenStream> {
    v.as_ref().map(|v| {
        let t = f(v);
        quote!(Some(#t))
    })
}

/// The struct literal `#c::#ty { name: value, …, ..#c::#ty::#default }` with the members that
/// have a value (`#c::#ty::#default` alone when none has): generated `META` spells out only what
/// differs from the type's default constant.
fn struct_literal(
    c: &syn::Path,
    ty: &str,
    default: &str,
    members: Vec<(&str, Option<TokenStream>)>,
) -> TokenStream {
    let (ty, default) = (
        quote::format_ident!("{ty}"),
        quote::format_ident!("{default}"),
    );
    let set: Vec<TokenStream> = members
        .into_iter()
        .filter_map(|(name, v)| {
            let name = quote::format_ident!("{name}");
            v.map(|v| quote!(#name: #v))
        })
        .collect();
    if set.is_empty() {
        quote!(#c::#ty::#default)
    } else {
        quote!(#c::#ty { #(#set,)* ..#c::#ty::#default })
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
        assert!(c.nested.is_none());
        let c = constraints(&serde_json::json!({"type": "integer", "minimum": 0}));
        assert!(c.integers);
        assert_eq!(c.minimum, Some(0.0));
        let c = constraints(
            &serde_json::json!({"type": "array", "items": {"type": "string", "format": "email"}}),
        );
        assert!(!c.integers);
        assert!(c.nested.is_some());
        let c = constraints(&serde_json::json!({"type": "array", "items": {"type": "string"}}));
        assert_eq!(c, Constraints::default());
    }

    #[test]
    fn nested_rules_from_a_column_schema() {
        let column = serde_json::json!({
            "type": "array", "description": "d", "x-redact": "remove", "maxItems": 5,
            "items": {
                "type": "object", "required": ["b", "a"], "additionalProperties": false,
                "properties": {
                    "b": {"type": ["string", "null"], "format": "uuid"},
                    "a": {"type": "number", "minimum": 0.5, "maximum": 3,
                          "enum": ["x"], "pattern": "^a$", "format": "decimal"}
                }
            }
        });
        assert!(needs_nested(&column));
        let n = nested(&column, "").unwrap();
        assert_eq!(n.max_items, Some(5));
        let item = n.items.as_deref().unwrap();
        assert_eq!(item.required, ["b", "a"]);
        assert!(!item.additional_properties);
        let names: Vec<&str> = item.properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["a", "b"], "members sorted by name");
        let a = &item.properties[0].1;
        assert_eq!(a.minimum, Some((0.5, "0.5".to_string())));
        assert_eq!(a.maximum, Some((3.0, "3".to_string())));
        assert_eq!(a.format, None, "decimal is not checked");
        assert_eq!(
            item.properties[1].1.format, None,
            "uuid is not a draft-07 format"
        );
        let c: syn::Path = syn::parse_quote!(crate);
        let text = |n: &Nested| n.tokens(&c).to_string().replace(' ', "");
        assert_eq!(
            text(&item.properties[1].1),
            "crate::NestedSchema{types:Some(crate::JsonTypes::STRING.union(crate::JsonTypes::NULL)),..crate::NestedSchema::ANY}"
        );
        assert_eq!(
            text(&nested(&serde_json::json!({"format": "date-time"}), "").unwrap()),
            "crate::NestedSchema{format:Some(crate::NestedFormat::DateTime),..crate::NestedSchema::ANY}"
        );
        assert_eq!(
            constraints(&serde_json::json!({"type": "string", "format": "email"})).nested,
            Some(Nested {
                types: Some(vec!["string".into()]),
                format: Some("Email"),
                additional_properties: true,
                ..Nested::default()
            })
        );
        assert!(!needs_nested(
            &serde_json::json!({"type": "string", "format": "uuid"})
        ));
    }

    #[test]
    fn unmodelled_nested_keywords_are_errors() {
        let bad = |schema: serde_json::Value| nested(&schema, "").unwrap_err();
        assert_eq!(
            bad(serde_json::json!({"type": "array", "items": {"oneOf": []}})).0,
            "/items/oneOf"
        );
        assert_eq!(
            bad(serde_json::json!({"properties": {"a": {"multipleOf": 2}}})).0,
            "/properties/a/multipleOf"
        );
        assert_eq!(bad(serde_json::json!({"format": "ipv4"})).0, "/format");
        assert_eq!(bad(serde_json::json!({"enum": [1, 2]})).0, "/enum");
        assert_eq!(
            bad(serde_json::json!({"additionalProperties": {"type": "string"}})).0,
            "/additionalProperties"
        );
        assert_eq!(bad(serde_json::json!({"items": [{}]})).0, "/items");
        assert!(bad(serde_json::json!({"$ref": "#/x"}))
            .1
            .contains("does not check on records"));
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
