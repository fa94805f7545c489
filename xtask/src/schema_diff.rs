//! `cargo xtask schema-diff [--against <git-ref>]`: what changed between two sets of model
//! schemas, and whether it may land.
//!
//! Every change is classified (see `README.md`, "Changing a table"):
//!
//! - **additive** — consumers built against the old schemas keep working: a new table, a new
//!   nullable column, a new member inside a jsonb object, a new enum value, a new description,
//!   a column added to `includeFields`;
//! - **breaking** — a consumer may fail or misread: a table or column removed (a rename is a
//!   removal and an addition), a type or format changed, nullability changed either way, a new NOT
//!   NULL column, an enum value removed, another constraint changed (pattern, limits), the key or
//!   event type changed, a column taken out of `includeFields`, a redaction strengthened (the
//!   published value changes);
//! - **privacy** — needs a privacy review: a redaction policy removed or weakened (`remove` >
//!   `mask` > `hash` > `partial`, and `partial` keeping more characters), or a column whose name
//!   looks personal added without a policy (or with `"none"`).
//!
//! The check fails on a breaking or privacy-relevant change of a table unless that table's
//! `x-cdc.version` is higher than before **and** `model-schemas/CHANGELOG.md` has a line naming
//! the table and its new version (`- agent_states v2: …`); a removed table needs a line naming it
//! with the word `removed`. Schemas from before versions existed count as version 1.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::process::Command;

/// How a change affects consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    /// Safe for consumers of the old schemas.
    Additive,
    /// May break consumers of the old schemas.
    Breaking,
    /// Needs a privacy review.
    Privacy,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Additive => "additive",
            Class::Breaking => "breaking",
            Class::Privacy => "privacy",
        })
    }
}

/// One classified change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The table.
    pub table: String,
    /// Where in the table (`/properties/state/enum`, `x-cdc/primaryKey`, or empty).
    pub at: String,
    /// What changed.
    pub what: String,
    /// Its class.
    pub class: Class,
}

/// Schemas by table name (the file stem).
pub(crate) type Schemas = BTreeMap<String, Value>;

/// The outcome of [`check`]: every finding, and what blocks the change.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Every change found, table by table.
    pub findings: Vec<Finding>,
    /// Why the change may not land (empty: it may).
    pub blocked: Vec<String>,
}

fn find(out: &mut Vec<Finding>, table: &str, at: &str, what: String, class: Class) {
    out.push(Finding {
        table: table.to_string(),
        at: at.to_string(),
        what,
        class,
    });
}

/// The table's schema version (`x-cdc.version`; 1 when absent, as before versions existed).
pub(crate) fn version(schema: &Value) -> u64 {
    schema["x-cdc"]["version"].as_u64().unwrap_or(1)
}

/// The non-null JSON types a schema node allows, and whether it allows `null`.
fn types(node: &Value) -> (BTreeSet<String>, bool) {
    let list: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let nullable = list.contains(&"null")
        || node
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.contains(&Value::Null));
    let set = list
        .into_iter()
        .filter(|t| *t != "null")
        .map(str::to_string)
        .collect();
    (set, nullable)
}

/// Keywords compared on their own; any other keyword that differs is a changed constraint.
const HANDLED: &[&str] = &[
    "type",
    "format",
    "enum",
    "properties",
    "required",
    "items",
    "description",
    "title",
    "examples",
    "default",
    "x-redact",
    "x-redact-reason",
];

/// Compares two schema nodes of one column (recursively for jsonb members and array items).
fn compare_node(out: &mut Vec<Finding>, table: &str, at: &str, old: &Value, new: &Value) {
    let (old_types, old_null) = types(old);
    let (new_types, new_null) = types(new);
    if old_types != new_types {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("|");
        let what = format!("type {} → {}", list(&old_types), list(&new_types));
        find(out, table, at, what, Class::Breaking);
    }
    match (old_null, new_null) {
        (true, false) => find(
            out,
            table,
            at,
            "nullable → NOT NULL".into(),
            Class::Breaking,
        ),
        (false, true) => find(
            out,
            table,
            at,
            "NOT NULL → nullable (consumers' row types hold no null)".into(),
            Class::Breaking,
        ),
        _ => {}
    }
    if old.get("format") != new.get("format") {
        let f = |v: &Value| {
            v.get("format")
                .and_then(Value::as_str)
                .unwrap_or("none")
                .to_string()
        };
        let what = format!("format {} → {}", f(old), f(new));
        find(out, table, at, what, Class::Breaking);
    }
    compare_enum(out, table, at, old.get("enum"), new.get("enum"));
    for key in ["description", "title"] {
        if old.get(key) != new.get(key) {
            find(out, table, at, format!("{key} changed"), Class::Additive);
        }
    }
    // Members of a jsonb object.
    let empty = Map::new();
    let props = |v: &Value| v.get("properties").and_then(Value::as_object).cloned();
    let required = |v: &Value| -> BTreeSet<String> {
        v.get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let (Some(op), Some(np)) = (props(old), props(new)) {
        let (or, nr) = (required(old), required(new));
        for (name, o) in &op {
            let here = format!("{at}/{name}");
            match np.get(name) {
                Some(n) => compare_node(out, table, &here, o, n),
                None => find(out, table, &here, "member removed".into(), Class::Breaking),
            }
        }
        for name in np.keys().filter(|k| !op.contains_key(*k)) {
            let here = format!("{at}/{name}");
            let class = if nr.contains(name) {
                Class::Breaking
            } else {
                Class::Additive
            };
            find(out, table, &here, "member added".into(), class);
        }
        for name in nr.difference(&or).filter(|n| op.contains_key(*n)) {
            let here = format!("{at}/{name}");
            find(
                out,
                table,
                &here,
                "member made required".into(),
                Class::Breaking,
            );
        }
    } else if props(old).is_some() != props(new).is_some() {
        find(
            out,
            table,
            at,
            "object members declared or dropped".into(),
            Class::Breaking,
        );
    }
    if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
        compare_node(out, table, &format!("{at}[]"), o, n);
    } else if old.get("items") != new.get("items") {
        find(
            out,
            table,
            at,
            "array items changed".into(),
            Class::Breaking,
        );
    }
    let (om, nm) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
    for k in keys {
        if HANDLED.contains(&k.as_str()) || om.get(k) == nm.get(k) {
            continue;
        }
        find(
            out,
            table,
            at,
            format!("constraint `{k}` changed"),
            Class::Breaking,
        );
    }
}

fn compare_enum(
    out: &mut Vec<Finding>,
    table: &str,
    at: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) {
    let values = |v: Option<&Value>| -> Option<Vec<Value>> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter(|x| !x.is_null()).cloned().collect())
    };
    match (values(old), values(new)) {
        (Some(o), Some(n)) => {
            for v in o.iter().filter(|v| !n.contains(v)) {
                find(
                    out,
                    table,
                    at,
                    format!("enum value {v} removed"),
                    Class::Breaking,
                );
            }
            for v in n.iter().filter(|v| !o.contains(v)) {
                find(
                    out,
                    table,
                    at,
                    format!("enum value {v} added"),
                    Class::Additive,
                );
            }
        }
        (None, Some(_)) => find(
            out,
            table,
            at,
            "values restricted to an enum".into(),
            Class::Breaking,
        ),
        (Some(_), None) => find(
            out,
            table,
            at,
            "enum lifted (type changes)".into(),
            Class::Breaking,
        ),
        (None, None) => {}
    }
}

/// A redaction policy's strength: higher hides more. `partial` keeping fewer characters hides
/// more, so its strength falls as `keepLast` grows.
fn strength(policy: Option<&Value>) -> (u8, i64) {
    match policy {
        Some(Value::String(p)) => match p.as_str() {
            "remove" => (4, 0),
            "mask" => (3, 0),
            "hash" => (2, 0),
            _ => (0, 0),
        },
        Some(Value::Object(o)) if o.get("policy").and_then(Value::as_str) == Some("partial") => {
            (1, -o.get("keepLast").and_then(Value::as_i64).unwrap_or(0))
        }
        _ => (0, 0),
    }
}

fn policy_name(policy: Option<&Value>) -> String {
    match policy {
        None => "none".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Compares one table's two schemas.
fn compare_table(out: &mut Vec<Finding>, table: &str, old: &Value, new: &Value) {
    let xo = &old["x-cdc"];
    let xn = &new["x-cdc"];
    for (key, what) in [("primaryKey", "primary key"), ("eventType", "event type")] {
        if xo.get(key) != xn.get(key) {
            let what = format!("{what} {} → {}", xo[key], xn[key]);
            find(out, table, &format!("x-cdc/{key}"), what, Class::Breaking);
        }
    }
    for key in ["category", "capturedByDefault"] {
        if xo.get(key) != xn.get(key) {
            let what = format!("{key} {} → {}", xo[key], xn[key]);
            find(out, table, &format!("x-cdc/{key}"), what, Class::Additive);
        }
    }
    if old.get("description") != new.get("description") {
        find(
            out,
            table,
            "",
            "description changed".into(),
            Class::Additive,
        );
    }
    let columns = |v: &Value| v["properties"].as_object().cloned().unwrap_or_default();
    let (oc, nc) = (columns(old), columns(new));
    // What each side publishes: `includeFields` (`*` = all) plus the key.
    let published = |v: &Value, cols: &Map<String, Value>| -> BTreeSet<String> {
        let x = &v["x-cdc"];
        let list: Vec<&str> = x["includeFields"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec!["*"]);
        let keys: Vec<&str> = x["primaryKey"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        cols.keys()
            .filter(|c| {
                list.contains(&"*") || list.contains(&c.as_str()) || keys.contains(&c.as_str())
            })
            .cloned()
            .collect()
    };
    let (op, np) = (published(old, &oc), published(new, &nc));
    for (name, o) in &oc {
        let at = format!("/properties/{name}");
        let Some(n) = nc.get(name) else {
            find(
                out,
                table,
                &at,
                "column removed (or renamed)".into(),
                Class::Breaking,
            );
            continue;
        };
        compare_node(out, table, &at, o, n);
        let (before, after) = (o.get("x-redact"), n.get("x-redact"));
        if before != after {
            let what = format!("redaction {} → {}", policy_name(before), policy_name(after));
            let class = match strength(after).cmp(&strength(before)) {
                std::cmp::Ordering::Less => Class::Privacy,
                std::cmp::Ordering::Greater => Class::Breaking,
                std::cmp::Ordering::Equal => Class::Additive,
            };
            find(out, table, &at, what, class);
        }
        match (op.contains(name), np.contains(name)) {
            (true, false) => find(
                out,
                table,
                &at,
                "no longer published (includeFields)".into(),
                Class::Breaking,
            ),
            (false, true) => {
                find(
                    out,
                    table,
                    &at,
                    "now published (includeFields)".into(),
                    Class::Additive,
                );
                if codegen::looks_personal(name) && strength(after).0 == 0 {
                    let what = "a personal-looking column now published without a policy".into();
                    find(out, table, &at, what, Class::Privacy);
                }
            }
            _ => {}
        }
    }
    for (name, n) in nc.iter().filter(|(k, _)| !oc.contains_key(*k)) {
        let at = format!("/properties/{name}");
        let (_, nullable) = types(n);
        if nullable {
            find(
                out,
                table,
                &at,
                "nullable column added".into(),
                Class::Additive,
            );
        } else {
            find(
                out,
                table,
                &at,
                "NOT NULL column added (older images lack it)".into(),
                Class::Breaking,
            );
        }
        if codegen::looks_personal(name) && strength(n.get("x-redact")).0 == 0 {
            let what = format!(
                "personal-looking column added with redaction {}",
                policy_name(n.get("x-redact"))
            );
            find(out, table, &at, what, Class::Privacy);
        }
    }
}

/// Classifies every change from `old` to `new`.
pub(crate) fn diff(old: &Schemas, new: &Schemas) -> Vec<Finding> {
    let mut out = Vec::new();
    for (table, o) in old {
        match new.get(table) {
            Some(n) => compare_table(&mut out, table, o, n),
            None => find(&mut out, table, "", "table removed".into(), Class::Breaking),
        }
    }
    for (table, n) in new.iter().filter(|(t, _)| !old.contains_key(*t)) {
        find(&mut out, table, "", "table added".into(), Class::Additive);
        let columns = n["properties"].as_object().cloned().unwrap_or_default();
        for (name, c) in &columns {
            if codegen::looks_personal(name) && strength(c.get("x-redact")).0 == 0 {
                let at = format!("/properties/{name}");
                let what = format!(
                    "personal-looking column with redaction {}",
                    policy_name(c.get("x-redact"))
                );
                find(&mut out, table, &at, what, Class::Privacy);
            }
        }
    }
    out
}

/// Whether a CHANGELOG line names `table` together with `needle` (`v2`, `removed`) as words.
fn changelog_has(changelog: &str, table: &str, needle: &str) -> bool {
    let words = |l: &str| -> Vec<String> {
        l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    changelog.lines().any(|l| {
        let w = words(l);
        w.iter().any(|x| x == table) && w.iter().any(|x| x == needle)
    })
}

/// Classifies every change and decides whether it may land (see the module docs).
pub(crate) fn check(old: &Schemas, new: &Schemas, changelog: &str) -> Report {
    let findings = diff(old, new);
    let mut blocked = Vec::new();
    let serious: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.class != Class::Additive)
        .map(|f| f.table.as_str())
        .collect();
    for table in serious {
        let Some(n) = new.get(table) else {
            if !changelog_has(changelog, table, "removed") {
                blocked.push(format!(
                    "{table}: table removed without a line in model-schemas/CHANGELOG.md naming it and `removed`"
                ));
            }
            continue;
        };
        let nv = version(n);
        if let Some(o) = old.get(table) {
            if nv <= version(o) {
                blocked.push(format!(
                    "{table}: breaking or privacy-relevant change without a version bump (x-cdc.version is {nv}, was {}): bump it",
                    version(o)
                ));
                continue;
            }
        }
        if !changelog_has(changelog, table, &format!("v{nv}")) {
            blocked.push(format!(
                "{table}: no line in model-schemas/CHANGELOG.md for version {nv} (write `- {table} v{nv}: <what changed and why>`)"
            ));
        }
    }
    for (table, n) in new {
        if let Some(o) = old.get(table) {
            if version(n) < version(o) {
                blocked.push(format!(
                    "{table}: x-cdc.version went down ({} → {})",
                    version(o),
                    version(n)
                ));
            }
        }
    }
    Report { findings, blocked }
}

/// The report as a table.
pub(crate) fn render(report: &Report) -> String {
    let mut s = String::new();
    if report.findings.is_empty() {
        s.push_str("no schema changes\n");
    } else {
        let w = report
            .findings
            .iter()
            .map(|f| f.table.len())
            .max()
            .unwrap_or(5)
            .max(5);
        s.push_str(&format!("{:<w$}  {:<8}  CHANGE\n", "TABLE", "CLASS"));
        for f in &report.findings {
            let at = if f.at.is_empty() {
                String::new()
            } else {
                format!("{}: ", f.at)
            };
            s.push_str(&format!(
                "{:<w$}  {:<8}  {at}{}\n",
                f.table,
                f.class.to_string(),
                f.what
            ));
        }
    }
    for b in &report.blocked {
        s.push_str(&format!("BLOCKED  {b}\n"));
    }
    s
}

/// Reads every `*.json` schema of a directory.
pub(crate) fn read_dir(dir: &Path) -> Result<Schemas> {
    let mut out = Schemas::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.insert(stem, value);
        }
    }
    Ok(out)
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads the `model-schemas/*.json` files of a git revision.
pub(crate) fn read_git(root: &Path, rev: &str) -> Result<Schemas> {
    let mut out = Schemas::new();
    let list = git(root, &["ls-tree", "--name-only", rev, "model-schemas/"])?;
    for path in list.lines().filter(|p| p.ends_with(".json")) {
        let text = git(root, &["show", &format!("{rev}:{path}")])?;
        let value =
            serde_json::from_str(&text).with_context(|| format!("{rev}:{path} is not JSON"))?;
        let stem = Path::new(path)
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        out.insert(stem, value);
    }
    Ok(out)
}

/// `cargo xtask schema-diff [--against <git-ref>]` (default `HEAD`): the working tree's schemas
/// against the revision's; fails when a change is blocked.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let against = match args {
        [] => "HEAD".to_string(),
        [flag, rev] if flag == "--against" => rev.clone(),
        _ => bail!("usage: cargo xtask schema-diff [--against <git-ref>]"),
    };
    let root = crate::codegen::project_root();
    let old = read_git(&root, &against)
        .with_context(|| format!("reading model-schemas at `{against}`"))?;
    let new = read_dir(&root.join("model-schemas"))?;
    let changelog_path = root.join("model-schemas/CHANGELOG.md");
    let changelog = std::fs::read_to_string(&changelog_path).unwrap_or_default();
    let report = check(&old, &new, &changelog);
    println!(
        "schema-diff: model-schemas/ against `{against}` ({} tables then, {} now)",
        old.len(),
        new.len()
    );
    print!("{}", render(&report));
    if !report.blocked.is_empty() {
        bail!(
            "{} table(s) changed in a breaking or privacy-relevant way without a version bump and a CHANGELOG line",
            report.blocked.len()
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "schema_diff_tests.rs"]
mod tests;
