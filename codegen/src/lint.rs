//! Checks a schema against the project's conventions before typify sees it.

use crate::names::{field_name, looks_personal};
use crate::schema::{ColumnSchema, Kind, Policy, TableSchema};
use crate::{Error, SchemaError};
use serde_json::Value;
use std::collections::BTreeMap;

const CATEGORIES: &[&str] = &[
    "user",
    "agent",
    "communication",
    "queue",
    "reporting",
    "organization",
    "commerce",
    "compliance",
];

/// Keywords typify 0.8 cannot read (2020-12 only, or conditional) — it would panic or misread them.
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "if",
    "then",
    "else",
    "prefixItems",
    "$dynamicRef",
    "$dynamicAnchor",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentSchemas",
    "dependentRequired",
    "$recursiveRef",
];

/// Checks every source; all problems are returned together.
pub(crate) fn check_all(sources: &[(String, String)]) -> Result<Vec<TableSchema>, Error> {
    let mut errors = Vec::new();
    let mut tables = Vec::new();
    for (file, text) in sources {
        match check_one(file, text) {
            Ok(t) => tables.push(t),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    let mut titles: BTreeMap<&str, &str> = BTreeMap::new();
    for t in &tables {
        if let Some(other) = names.insert(&t.name, &t.file) {
            errors.push(SchemaError::new(
                &t.file,
                "/x-cdc/table",
                format!("duplicate table name `{}` (also in {other})", t.name),
            ));
        }
        if let Some(other) = titles.insert(&t.title, &t.file) {
            errors.push(SchemaError::new(
                &t.file,
                "/title",
                format!("duplicate type name `{}` (also in {other})", t.title),
            ));
        }
    }
    if errors.is_empty() {
        Ok(tables)
    } else {
        Err(Error::Schemas(errors))
    }
}

struct Ctx<'a> {
    file: &'a str,
    errors: Vec<SchemaError>,
}

impl Ctx<'_> {
    fn err(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.errors
            .push(SchemaError::new(self.file, pointer, reason));
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn check_one(file: &str, text: &str) -> Result<TableSchema, Vec<SchemaError>> {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
    };
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            cx.err("", format!("not valid JSON: {e}"));
            return Err(cx.errors);
        }
    };
    let Some(obj) = root.as_object() else {
        cx.err("", "a table schema must be a JSON object");
        return Err(cx.errors);
    };
    let stem = file.strip_suffix(".json").unwrap_or(file);

    match obj.get("$schema").and_then(Value::as_str) {
        Some("http://json-schema.org/draft-07/schema#") => {}
        Some(other) => cx.err(
            "/$schema",
            format!("draft-07 is required (typify 0.8 reads draft-07), found `{other}`"),
        ),
        None => cx.err("/$schema", "missing `$schema` (draft-07 is required)"),
    }
    walk_unsupported(&root, String::new(), &mut cx);

    if obj.get("type").and_then(Value::as_str) != Some("object") {
        cx.err("/type", "a table schema must have `\"type\": \"object\"`");
    }
    if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
        cx.err(
            "/additionalProperties",
            "`additionalProperties: false` would reject columns added later; leave it out",
        );
    }
    let title = obj.get("title").and_then(Value::as_str).unwrap_or_default();
    if title.is_empty()
        || !title.starts_with(|c: char| c.is_ascii_uppercase())
        || !title.chars().all(|c| c.is_ascii_alphanumeric())
    {
        cx.err("/title", "`title` must be a PascalCase Rust type name");
    }
    let description = obj
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if description.trim().is_empty() {
        cx.err("/description", "every table needs a description");
    }

    // x-cdc
    let empty = serde_json::Map::new();
    let xcdc = match obj.get("x-cdc").and_then(Value::as_object) {
        Some(x) => x,
        None => {
            cx.err("/x-cdc", "missing `x-cdc` table annotation");
            &empty
        }
    };
    let table = xcdc
        .get("table")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if table != stem {
        cx.err(
            "/x-cdc/table",
            format!("table name `{table}` must equal the file name `{stem}`"),
        );
    }
    if !table
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || table.is_empty()
    {
        cx.err("/x-cdc/table", "table names are snake_case");
    }
    let event_type = xcdc
        .get("eventType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !event_type.ends_with(".changed") {
        cx.err(
            "/x-cdc/eventType",
            "event type must look like `<entity>.changed`",
        );
    }
    let category = xcdc
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !CATEGORIES.contains(&category.as_str()) {
        cx.err(
            "/x-cdc/category",
            format!(
                "unknown category `{category}` (one of {})",
                CATEGORIES.join(", ")
            ),
        );
    }
    let captured_by_default = match xcdc.get("capturedByDefault") {
        Some(Value::Bool(b)) => *b,
        _ => {
            cx.err("/x-cdc/capturedByDefault", "must be true or false");
            false
        }
    };
    let version = match xcdc.get("version").and_then(Value::as_u64) {
        Some(v @ 1..=0xFFFF_FFFF) => v as u32,
        _ => {
            cx.err(
                "/x-cdc/version",
                "the table's schema version is required: an integer from 1, bumped (with a line in \
                 model-schemas/CHANGELOG.md) by every breaking or privacy-relevant change",
            );
            1
        }
    };
    let primary_key: Vec<String> = match xcdc.get("primaryKey").and_then(Value::as_array) {
        Some(a) if !a.is_empty() && a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => {
            cx.err(
                "/x-cdc/primaryKey",
                "must be a non-empty array of column names",
            );
            Vec::new()
        }
    };
    let include: Option<Vec<String>> = match xcdc.get("includeFields").and_then(Value::as_array) {
        Some(a) if a.len() == 1 && a[0] == "*" => None,
        Some(a) if !a.is_empty() && a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => {
            cx.err(
                "/x-cdc/includeFields",
                "must be [\"*\"] or a non-empty array of column names",
            );
            None
        }
    };

    // columns
    let props = match obj.get("properties").and_then(Value::as_object) {
        Some(p) if !p.is_empty() => p.clone(),
        _ => {
            cx.err("/properties", "a table needs at least one column");
            serde_json::Map::new()
        }
    };
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for r in &required {
        if !props.contains_key(*r) {
            cx.err(
                "/required",
                format!("required column `{r}` is not in properties"),
            );
        }
    }
    let mut rust_names: BTreeMap<String, String> = BTreeMap::new();
    let mut columns = Vec::new();
    let mut sorted: Vec<_> = props.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    if sorted.len() > 128 {
        cx.err("/properties", "at most 128 columns per table");
    }
    for (name, schema) in sorted {
        let ptr = format!("/properties/{}", escape(name));
        let key = primary_key.iter().any(|k| k == name);
        if let Some(col) = check_column(&mut cx, &ptr, name, schema, key) {
            if !required.contains(&name.as_str()) {
                cx.err(
                    "/required",
                    format!(
                        "column `{name}` must be listed in `required` (nullable columns use a type union with \"null\")"
                    ),
                );
            }
            if let Some(other) = rust_names.insert(col.rust_name.clone(), name.clone()) {
                cx.err(
                    &ptr,
                    format!(
                        "columns `{other}` and `{name}` both map to the Rust field `{}`",
                        col.rust_name
                    ),
                );
            }
            columns.push(col);
        }
    }
    for (i, k) in primary_key.iter().enumerate() {
        match columns.iter().find(|c| &c.name == k) {
            None => cx.err(
                format!("/x-cdc/primaryKey/{i}"),
                format!("key column `{k}` does not exist"),
            ),
            Some(c) if c.nullable => cx.err(
                format!("/x-cdc/primaryKey/{i}"),
                format!("key column `{k}` must not be nullable"),
            ),
            Some(c) if matches!(c.kind, Kind::Number | Kind::Object | Kind::Array) => cx.err(
                format!("/x-cdc/primaryKey/{i}"),
                format!("key column `{k}` must be a string, uuid, date, integer or boolean"),
            ),
            Some(_) => {}
        }
    }
    if let Some(inc) = &include {
        for (i, f) in inc.iter().enumerate() {
            if !props.contains_key(f) {
                cx.err(
                    format!("/x-cdc/includeFields/{i}"),
                    format!("included column `{f}` does not exist"),
                );
            }
        }
    }

    // The table's column order: `serde_json::Value` sorts members, the text keeps them.
    let declared_order = crate::rules::declared_order(text).unwrap_or_default();
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(TableSchema {
        declared_order,
        file: file.to_string(),
        name: table,
        title: title.to_string(),
        description: description.to_string(),
        event_type,
        category,
        primary_key,
        include,
        captured_by_default,
        version,
        columns,
        raw: root,
    })
}

fn walk_unsupported(v: &Value, ptr: String, cx: &mut Ctx<'_>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{ptr}/{}", escape(k));
                if UNSUPPORTED_KEYWORDS.contains(&k.as_str()) {
                    cx.err(
                        &p,
                        format!(
                            "`{k}` is not supported by typify 0.8 (draft-07 without conditionals)"
                        ),
                    );
                }
                if k == "$ref" {
                    match child.as_str() {
                        Some(r) if r.starts_with("#/") => {}
                        _ => cx.err(&p, "`$ref` to another file is not supported; only local `#/definitions/...` references"),
                    }
                }
                walk_unsupported(child, p, cx);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                walk_unsupported(child, format!("{ptr}/{i}"), cx);
            }
        }
        _ => {}
    }
}

fn check_column(
    cx: &mut Ctx<'_>,
    ptr: &str,
    name: &str,
    schema: &Value,
    key: bool,
) -> Option<ColumnSchema> {
    let Some(obj) = schema.as_object() else {
        cx.err(ptr, "a column schema must be an object");
        return None;
    };
    if obj
        .get("description")
        .and_then(Value::as_str)
        .is_none_or(|d| d.trim().is_empty())
    {
        cx.err(
            format!("{ptr}/description"),
            "every column needs a description",
        );
    }
    let (ty, nullable) = match obj.get("type") {
        Some(Value::String(t)) => (t.clone(), false),
        Some(Value::Array(a)) => {
            let non_null: Vec<&str> = a
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            if non_null.len() != 1 || a.len() > 2 {
                cx.err(
                    format!("{ptr}/type"),
                    "a column has one type, optionally with \"null\"",
                );
                return None;
            }
            (non_null[0].to_string(), a.len() == 2)
        }
        _ => {
            cx.err(format!("{ptr}/type"), "every column needs a `type`");
            return None;
        }
    };
    let format = obj.get("format").and_then(Value::as_str);
    let kind = match (ty.as_str(), format) {
        ("string", Some("uuid")) => Kind::Uuid,
        ("string", Some("date-time")) => Kind::DateTime,
        ("string", Some("date")) => Kind::Date,
        ("string", Some("decimal")) => Kind::Decimal,
        ("string", _) => Kind::String,
        ("integer", _) => Kind::Integer,
        ("number", _) => Kind::Number,
        ("boolean", _) => Kind::Boolean,
        ("object", _) => Kind::Object,
        ("array", _) => Kind::Array,
        (other, _) => {
            cx.err(format!("{ptr}/type"), format!("unknown type `{other}`"));
            return None;
        }
    };

    let policy = match obj.get("x-redact") {
        None => {
            if looks_personal(name) {
                cx.err(
                    ptr,
                    format!(
                        "column `{name}` looks like personal data but has no `x-redact` policy (use `\"x-redact\": \"none\"` with an `x-redact-reason` if it is not)"
                    ),
                );
            }
            None
        }
        Some(Value::String(s)) if s == "none" => {
            if obj
                .get("x-redact-reason")
                .and_then(Value::as_str)
                .is_none_or(|r| r.trim().is_empty())
            {
                cx.err(
                    format!("{ptr}/x-redact"),
                    "`\"x-redact\": \"none\"` needs an `x-redact-reason`",
                );
            }
            None
        }
        Some(Value::String(s)) => {
            match s.as_str() {
                "remove" => Some(Policy::Remove),
                "mask" => Some(Policy::Mask),
                "hash" => Some(Policy::Hash),
                "partial" => {
                    cx.err(
                    format!("{ptr}/x-redact"),
                    "`partial` needs the object form {\"policy\": \"partial\", \"keepLast\": N}",
                );
                    return None;
                }
                other => {
                    cx.err(
                    format!("{ptr}/x-redact"),
                    format!("unknown redaction policy `{other}` (remove, mask, hash, partial, none)"),
                );
                    return None;
                }
            }
        }
        Some(Value::Object(o)) => match o.get("policy").and_then(Value::as_str) {
            Some("partial") => match o.get("keepLast").and_then(Value::as_u64) {
                Some(n @ 1..=16) => Some(Policy::Partial(n as u8)),
                _ => {
                    cx.err(
                        format!("{ptr}/x-redact/keepLast"),
                        "`keepLast` must be an integer from 1 to 16",
                    );
                    return None;
                }
            },
            Some(p @ ("remove" | "mask" | "hash")) => Some(match p {
                "remove" => Policy::Remove,
                "mask" => Policy::Mask,
                _ => Policy::Hash,
            }),
            other => {
                cx.err(
                    format!("{ptr}/x-redact/policy"),
                    format!(
                        "unknown redaction policy `{}`",
                        other.unwrap_or("<missing>")
                    ),
                );
                return None;
            }
        },
        Some(_) => {
            cx.err(
                format!("{ptr}/x-redact"),
                "`x-redact` is a policy name or an object with `policy`",
            );
            return None;
        }
    };
    if let Some(p) = policy {
        if key {
            cx.err(
                format!("{ptr}/x-redact"),
                format!(
                    "key column `{name}` cannot be redacted: keys are always published as they are"
                ),
            );
        }
        if p != Policy::Remove {
            let constrained = ["pattern", "enum", "maxLength", "minLength", "const"]
                .iter()
                .find(|k| obj.contains_key(**k));
            let plain = kind == Kind::String && matches!(format, None | Some("email"));
            if !plain || constrained.is_some() {
                let why = match constrained {
                    Some(k) if plain => format!("its `{k}` would reject the redacted value"),
                    _ => format!(
                        "a {} column cannot hold the redacted string",
                        format.unwrap_or(ty.as_str())
                    ),
                };
                cx.err(
                    format!("{ptr}/x-redact"),
                    format!(
                        "policy `{}` does not fit column `{name}`: {why} (use `remove`)",
                        match p {
                            Policy::Mask => "mask",
                            Policy::Hash => "hash",
                            _ => "partial",
                        }
                    ),
                );
            }
        }
    }
    if crate::rules::needs_nested(schema) {
        if let Err((at, why)) = crate::rules::nested(schema, "") {
            cx.err(format!("{ptr}{at}"), why);
        }
    }
    Some(ColumnSchema {
        name: name.to_string(),
        rust_name: field_name(name),
        kind,
        nullable,
        key,
        policy,
        schema: schema.clone(),
    })
}
