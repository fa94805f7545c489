//! The generated nested checks (`nested.rs`) against a JSON Schema validator (`jsonschema` 0.61
//! with [`schema_options`], what the record path used before): for every column with nested
//! rules, on its example values and on values damaged at every position, both must accept or
//! both reject with the same first error ([`describe_schema_error`]'s words).

use super::nested::NestedRules;
use super::schema::{describe_schema_error, schema_options};
use cdc_models::{FieldMeta, JsonTypes, Limit, NestedFormat, NestedSchema, Table};
use serde_json::{json, Map, Value};

/// Values put at every position of every example value.
fn generic_mutants() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1),
        json!(1.0),
        json!(0.4),
        json!(0.5),
        json!(3),
        json!(3.5),
        json!(-0.0),
        json!(1e3),
        json!(9_007_199_254_740_993_i64),
        json!(-9_223_372_036_854_775_808_i64),
        json!(""),
        json!("x"),
        json!([]),
        json!([1]),
        json!(["x", "x"]),
        json!({}),
        json!({"x": 1}),
    ]
}

/// Strings put at every string position: e-mail, UUID, timestamp, HH:MM and decimal edge cases.
const STRINGS: &[&str] = &[
    // e-mail
    "a@b",
    "a@b.c",
    "a@[127.0.0.1]",
    "a@[IPv6:::1]",
    "a@[ipv6:::1]",
    "a@[300.0.0.1]",
    "a@[::1]",
    "A.B@EXAMPLE.COM",
    "a@EXAMPLE.com",
    "a@xn--4gbrim.xn--wgbh1c",
    "a@XN--4GBRIM.XN--WGBH1C",
    "a@xn--zz.com",
    "a@ab--cd.com",
    "a@münchen.de",
    "ü@example.com",
    "\"\"@example.com",
    "\"a b\"@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example.com.",
    "a..b@example.com",
    ".a@example.com",
    "a@",
    "@b.c",
    "a b@c.d",
    "a@b@c.d",
    "first.last+tag@sub.example.co.uk",
    // UUID
    "123e4567-e89b-12d3-a456-426614174000",
    "123E4567-E89B-12D3-A456-426614174000",
    "123e4567e89b12d3a456426614174000",
    "{123e4567-e89b-12d3-a456-426614174000}",
    "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
    "123e4567-e89b-12d3-a456-42661417400g",
    "123e4567-e89b-12d3-a456-4266141740",
    // date-time
    "2026-11-25T08:00:00Z",
    "2026-11-25t08:00:00z",
    "2026-11-25T08:00:00.123456+01:00",
    "2026-11-25T08:00:00-23:59",
    "2026-11-25 08:00:00Z",
    "2026-11-25T08:00:00",
    "2026-02-29T08:00:00Z",
    "2024-02-29T08:00:00Z",
    "2026-13-01T08:00:00Z",
    "2026-11-25T24:00:00Z",
    "2026-12-31T23:59:60Z",
    "2026-12-31T22:59:60-01:00",
    "2026-11-25T08:00:00.Z",
    "2026-11-25T08:00:00+0100",
    "2026-11-25",
    // HH:MM
    "08:30",
    "23:59",
    "24:00",
    "8:30",
    "08:60",
    // decimal
    "12.34",
    "-12.34",
    "12.3",
    "12.345",
    "12",
    "1234567890123.45",
    "12345678901234.56",
    "1e2",
    // enum-like
    "voice",
    "VOICE",
    "open_time",
    "eq",
    "all",
    "tenant",
    "in_app",
];

#[derive(Clone, Debug)]
enum Seg {
    Index(usize),
    Member(String),
}

/// Every position of a value (the root first), as paths.
fn positions(value: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(at.clone());
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                positions(item, at, out);
                at.pop();
            }
        }
        Value::Object(members) => {
            for (k, v) in members {
                at.push(Seg::Member(k.clone()));
                positions(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(value: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(value, |v, seg| match seg {
        Seg::Index(i) => &mut v[*i],
        Seg::Member(k) => &mut v[k.as_str()],
    })
}

/// The damaged copies of `base`: every generic mutant and edge-case string at every position,
/// and at arrays and objects: items duplicated, removed, added; members removed and added.
fn mutants(base: &Value) -> Vec<Value> {
    let mut paths = Vec::new();
    positions(base, &mut Vec::new(), &mut paths);
    let mut out = vec![base.clone()];
    for path in &paths {
        let here = at_mut(&mut base.clone(), path).clone();
        let mut put = |new: Value| {
            let mut v = base.clone();
            *at_mut(&mut v, path) = new;
            out.push(v);
        };
        for m in generic_mutants() {
            put(m);
        }
        if here.is_string() || path.is_empty() {
            for s in STRINGS {
                put(json!(s));
            }
        }
        match &here {
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    let mut dup = items.clone();
                    dup.push(first.clone());
                    put(Value::Array(dup));
                    let mut many = items.clone();
                    while many.len() < 30 {
                        many.push(first.clone());
                    }
                    put(Value::Array(many));
                    put(Value::Array(items[1..].to_vec()));
                    let mut wrong = items.clone();
                    wrong.push(json!(42));
                    put(Value::Array(wrong));
                }
                for n in [1, 4, 5, 6, 25, 26] {
                    put(Value::Array((0..n).map(|i| json!(i)).collect()));
                }
                put(json!(["voice", "chat", "voice"]));
            }
            Value::Object(members) => {
                for k in members.keys() {
                    let mut fewer = members.clone();
                    fewer.remove(k);
                    put(Value::Object(fewer));
                }
                for extra in ["extra", "a~b/c", "zzz"] {
                    let mut more = members.clone();
                    more.insert(extra.to_string(), json!(1));
                    put(Value::Object(more));
                }
                put(Value::Object(Map::new()));
            }
            _ => {}
        }
    }
    out
}

fn example(table: Table) -> Map<String, Value> {
    let path = format!(
        "{}/../model-schemas/examples/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        table.name()
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Both checkers on one value: `Err` says how they differ.
fn agree(
    checker: &NestedRules,
    validator: &jsonschema::Validator,
    value: &Value,
) -> Result<Option<String>, String> {
    let ours = checker.first_error(value);
    let theirs = validator
        .iter_errors(value)
        .next()
        .map(|e| describe_schema_error(&e));
    if ours == theirs {
        Ok(ours)
    } else {
        Err(format!(
            "generated {ours:?}, jsonschema {theirs:?}, value {value}"
        ))
    }
}

fn nested_columns() -> Vec<(Table, &'static FieldMeta)> {
    Table::ALL
        .iter()
        .flat_map(|t| t.meta().fields.iter().map(move |f| (*t, f)))
        .filter(|(_, f)| f.constraints.nested.is_some())
        .collect()
}

#[test]
fn the_generated_checks_give_jsonschemas_first_error() {
    let columns = nested_columns();
    assert_eq!(columns.len(), 24);
    let (mut compared, mut rejected) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (table, field) in columns {
        let schema = field.constraints.nested.unwrap();
        // The column's own schema, from the table's embedded schema text: the reference.
        let table_schema: Value = serde_json::from_str(table.schema_json()).unwrap();
        let validator = schema_options()
            .build(&table_schema["properties"][field.name])
            .unwrap();
        let checker = NestedRules::new(schema);
        let row = example(table);
        let base = row.get(field.name).cloned().unwrap_or(Value::Null);
        assert!(
            validator.is_valid(&base),
            "{}.{}: the example value is valid",
            table.name(),
            field.name
        );
        let mut bases = vec![base];
        // Nullable e-mail columns' examples may be null: give them a value to damage too.
        if schema.format.is_some() {
            bases.push(json!("someone@example.com"));
        }
        for base in &bases {
            for value in mutants(base) {
                compared += 1;
                match agree(&checker, &validator, &value) {
                    Ok(Some(_)) => rejected += 1,
                    Ok(None) => {}
                    Err(e) => failures.push(format!("{}.{}: {e}", table.name(), field.name)),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ, e.g.:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    // The damaged values must be mostly rejected, and some accepted, or the test proves little.
    assert!(compared > 8_000, "{compared} values compared");
    assert!(
        rejected > compared / 2 && rejected < compared,
        "{rejected} of {compared} rejected"
    );
}

/// The record path's `format` checks against `jsonschema`'s on every edge-case string.
#[test]
fn formats_answer_as_jsonschema_does() {
    let options = schema_options();
    for (format, ours) in [
        ("email", super::format::email_is_valid as fn(&str) -> bool),
        ("date-time", super::format::date_time_is_valid),
    ] {
        let validator = options
            .build(&json!({"type": "string", "format": format}))
            .unwrap();
        let (mut accepted, mut refused) = (0, 0);
        for s in STRINGS {
            let theirs = validator.is_valid(&json!(s));
            assert_eq!(ours(s), theirs, "{format}: {s:?}");
            if theirs {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            accepted > 0 && refused > 0,
            "{format}: {accepted} / {refused}"
        );
    }
}

/// Keywords the model schemas do not nest today, checked on a schema written here in both forms.
#[test]
fn keywords_no_column_nests_today_give_the_same_first_error() {
    static ITEM: NestedSchema = NestedSchema {
        types: Some(JsonTypes::OBJECT),
        required: &["code"],
        additional_properties: false,
        properties: &[
            (
                "code",
                NestedSchema {
                    types: Some(JsonTypes::STRING),
                    min_length: Some(2),
                    max_length: Some(4),
                    pattern: Some("^[A-Z]+$"),
                    ..NestedSchema::ANY
                },
            ),
            (
                "share",
                NestedSchema {
                    types: Some(JsonTypes::NUMBER.union(JsonTypes::NULL)),
                    exclusive_minimum: Some(Limit {
                        value: 0.0,
                        text: "0",
                    }),
                    exclusive_maximum: Some(Limit {
                        value: 1.5,
                        text: "1.5",
                    }),
                    ..NestedSchema::ANY
                },
            ),
            (
                "when",
                NestedSchema {
                    format: Some(NestedFormat::DateTime),
                    ..NestedSchema::ANY
                },
            ),
        ],
        ..NestedSchema::ANY
    };
    static PAIR: NestedSchema = NestedSchema {
        types: Some(JsonTypes::OBJECT),
        required: &["b", "a"],
        properties: &[
            (
                "a",
                NestedSchema {
                    types: Some(JsonTypes::INTEGER),
                    ..NestedSchema::ANY
                },
            ),
            (
                "b",
                NestedSchema {
                    items: Some(&ITEM),
                    unique_items: true,
                    min_items: Some(1),
                    ..NestedSchema::ANY
                },
            ),
        ],
        ..NestedSchema::ANY
    };
    let text = json!({
        "type": "object", "required": ["b", "a"],
        "properties": {
            "a": {"type": "integer"},
            "b": {"items": {
                "type": "object", "required": ["code"], "additionalProperties": false,
                "properties": {
                    "code": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[A-Z]+$"},
                    "share": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1.5},
                    "when": {"format": "date-time"}
                }
            }, "uniqueItems": true, "minItems": 1}
        }
    });
    let validator = schema_options().build(&text).unwrap();
    let checker = NestedRules::new(&PAIR);
    let base = json!({"a": 1, "b": [
        {"code": "AB", "share": 0.5, "when": "2026-11-25T08:00:00Z"},
        {"code": "ABCD", "share": null}
    ]});
    let mut failures = Vec::new();
    let values = mutants(&base);
    for value in &values {
        if let Err(e) = agree(&checker, &validator, value) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        values.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}
