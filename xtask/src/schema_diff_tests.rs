//! Fixture pairs for every class of `schema-diff` (old schema → new schema → expected findings),
//! and the gate: a version bump plus a CHANGELOG line lets a breaking change land.

use super::*;
use serde_json::json;

/// A small table, as `model-schemas/` writes them.
fn base() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Ticket",
        "description": "A support ticket.",
        "type": "object",
        "x-cdc": {"table": "tickets", "version": 1, "primaryKey": ["id"],
                  "eventType": "ticket.changed", "category": "communication",
                  "includeFields": ["*"], "capturedByDefault": true},
        "required": ["id", "status", "subject", "customer_email", "meta", "tags"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "Id."},
            "status": {"type": "string", "enum": ["open", "closed"], "description": "Status."},
            "subject": {"type": ["string", "null"], "maxLength": 200, "description": "Subject."},
            "customer_email": {"type": ["string", "null"], "format": "email", "description": "E-mail.",
                               "x-redact": "hash"},
            "meta": {"type": "object", "description": "Meta.", "additionalProperties": true,
                     "properties": {"source": {"type": "string", "enum": ["web", "phone"]}}},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."}
        }
    })
}

/// Sets (or adds) the member at `pointer`.
fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = v.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}"));
    parent
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    v
}

fn one(schema: Value) -> Schemas {
    Schemas::from([("tickets".to_string(), schema)])
}

/// The findings of changing the base table into `new`, as `(class, at, what)`.
fn findings(new: Value) -> Vec<(Class, String, String)> {
    diff(&one(base()), &one(new))
        .into_iter()
        .map(|f| (f.class, f.at, f.what))
        .collect()
}

fn only(new: Value, class: Class, at: &str, what: &str) {
    assert_eq!(
        findings(new),
        vec![(class, at.to_string(), what.to_string())]
    );
}

#[test]
fn no_change_no_findings() {
    assert!(findings(base()).is_empty());
}

#[test]
fn additive_changes() {
    use Class::Additive;
    // A new table.
    let mut two = one(base());
    two.insert("notes".into(), set(base(), "/x-cdc/table", json!("notes")));
    let f = diff(&one(base()), &two);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].class, f[0].table.as_str(), f[0].what.as_str()),
        (Additive, "notes", "table added")
    );
    // A new nullable column.
    only(
        set(
            base(),
            "/properties/priority",
            json!({"type": ["integer", "null"], "description": "P."}),
        ),
        Additive,
        "/properties/priority",
        "nullable column added",
    );
    // A new enum value, also inside a jsonb member.
    only(
        set(
            base(),
            "/properties/status/enum",
            json!(["open", "closed", "pending"]),
        ),
        Additive,
        "/properties/status",
        "enum value \"pending\" added",
    );
    only(
        set(
            base(),
            "/properties/meta/properties/source/enum",
            json!(["web", "phone", "chat"]),
        ),
        Additive,
        "/properties/meta/source",
        "enum value \"chat\" added",
    );
    // A new optional jsonb member.
    only(
        set(
            base(),
            "/properties/meta/properties/campaign",
            json!({"type": "string"}),
        ),
        Additive,
        "/properties/meta/campaign",
        "member added",
    );
    // A new description.
    only(
        set(
            base(),
            "/properties/subject/description",
            json!("The subject line."),
        ),
        Additive,
        "/properties/subject",
        "description changed",
    );
    only(
        set(base(), "/description", json!("A customer support ticket.")),
        Additive,
        "",
        "description changed",
    );
}

#[test]
fn breaking_changes() {
    use Class::Breaking;
    only(
        remove(base(), "/properties/subject"),
        Breaking,
        "/properties/subject",
        "column removed (or renamed)",
    );
    // A rename is a removal and an addition.
    let renamed = set(
        remove(base(), "/properties/subject"),
        "/properties/title",
        json!({"type": ["string", "null"], "description": "Subject."}),
    );
    assert_eq!(
        findings(renamed).iter().filter(|f| f.0 == Breaking).count(),
        1
    );
    only(
        set(base(), "/properties/tags/items/type", json!("integer")),
        Breaking,
        "/properties/tags[]",
        "type string → integer",
    );
    only(
        set(base(), "/properties/id/format", json!("uri")),
        Breaking,
        "/properties/id",
        "format uuid → uri",
    );
    only(
        set(base(), "/properties/subject/type", json!("string")),
        Breaking,
        "/properties/subject",
        "nullable → NOT NULL",
    );
    only(
        set(base(), "/properties/status/enum", json!(["open"])),
        Breaking,
        "/properties/status",
        "enum value \"closed\" removed",
    );
    only(
        set(base(), "/properties/subject/maxLength", json!(100)),
        Breaking,
        "/properties/subject",
        "constraint `maxLength` changed",
    );
    only(
        set(base(), "/x-cdc/primaryKey", json!(["id", "status"])),
        Breaking,
        "x-cdc/primaryKey",
        "primary key [\"id\"] → [\"id\",\"status\"]",
    );
    only(
        set(base(), "/x-cdc/eventType", json!("ticket.updated")),
        Breaking,
        "x-cdc/eventType",
        "event type \"ticket.changed\" → \"ticket.updated\"",
    );
    only(
        set(
            base(),
            "/properties/priority",
            json!({"type": "integer", "description": "P."}),
        ),
        Breaking,
        "/properties/priority",
        "NOT NULL column added (older images lack it)",
    );
    let f = diff(&one(base()), &Schemas::new());
    assert_eq!(
        (f[0].class, f[0].what.as_str()),
        (Breaking, "table removed")
    );
}

#[test]
fn privacy_relevant_changes() {
    use Class::Privacy;
    only(
        remove(base(), "/properties/customer_email/x-redact"),
        Privacy,
        "/properties/customer_email",
        "redaction hash → none",
    );
    only(
        set(
            base(),
            "/properties/customer_email/x-redact",
            json!({"policy": "partial", "keepLast": 4}),
        ),
        Privacy,
        "/properties/customer_email",
        "redaction hash → {\"keepLast\":4,\"policy\":\"partial\"}",
    );
    // A personal-looking column added without a policy (or with "none").
    let added = set(
        base(),
        "/properties/caller_phone",
        json!({"type": ["string", "null"], "description": "Phone.", "x-redact": "none"}),
    );
    let f = findings(added);
    assert!(
        f.contains(&(
            Privacy,
            "/properties/caller_phone".into(),
            "personal-looking column added with redaction none".into()
        )),
        "{f:?}"
    );
    // Strengthening is not a privacy risk, but consumers see other values: breaking.
    only(
        set(
            base(),
            "/properties/customer_email/x-redact",
            json!("remove"),
        ),
        Class::Breaking,
        "/properties/customer_email",
        "redaction hash → remove",
    );
}

#[test]
fn breaking_changes_land_only_with_a_version_bump_and_a_changelog_line() {
    let old = one(base());
    let broken = remove(base(), "/properties/subject");
    let report = check(&old, &one(broken.clone()), "");
    assert_eq!(report.blocked.len(), 1, "{:?}", report.blocked);
    assert!(report.blocked[0].contains("without a version bump"));
    // Bumped, but no CHANGELOG line.
    let bumped = set(broken, "/x-cdc/version", json!(2));
    let report = check(&old, &one(bumped.clone()), "- tickets v1: first version\n");
    assert_eq!(report.blocked.len(), 1);
    assert!(
        report.blocked[0].contains("CHANGELOG"),
        "{:?}",
        report.blocked
    );
    // Both: it may land.
    let log = "# Changelog\n- tickets v2: `subject` removed (never filled since 2025).\n";
    assert!(check(&old, &one(bumped), log).blocked.is_empty());
    // A privacy-relevant change needs the same.
    let weakened = remove(base(), "/properties/customer_email/x-redact");
    assert_eq!(check(&old, &one(weakened), log).blocked.len(), 1);
    // Additive changes need neither.
    let added = set(
        base(),
        "/properties/status/enum",
        json!(["open", "closed", "pending"]),
    );
    assert!(check(&old, &one(added), "").blocked.is_empty());
    // A removed table needs a line naming it as removed.
    assert_eq!(check(&old, &Schemas::new(), "").blocked.len(), 1);
    assert!(check(
        &old,
        &Schemas::new(),
        "- tickets removed: merged into cases\n"
    )
    .blocked
    .is_empty());
    // A version never goes down.
    let down = set(
        set(base(), "/x-cdc/version", json!(3)),
        "/description",
        json!("x"),
    );
    let report = check(&one(down), &old, "");
    assert!(
        report.blocked.iter().any(|b| b.contains("went down")),
        "{:?}",
        report.blocked
    );
    // Schemas from before versions existed count as version 1.
    assert_eq!(version(&remove(base(), "/x-cdc/version")), 1);
}

#[test]
fn the_report_is_a_table_with_the_blockers_last() {
    let report = check(
        &one(base()),
        &one(remove(base(), "/properties/subject")),
        "",
    );
    let text = render(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TABLE"), "{text}");
    assert!(
        lines[1].contains("breaking") && lines[1].contains("/properties/subject"),
        "{text}"
    );
    assert!(lines.last().unwrap().starts_with("BLOCKED"), "{text}");
}

#[test]
fn the_current_tree_has_a_version_on_every_schema() {
    let root = crate::codegen::project_root();
    let schemas = read_dir(&root.join("model-schemas")).unwrap();
    assert!(schemas.len() > 50);
    for (table, s) in &schemas {
        assert!(
            s["x-cdc"]["version"].as_u64().is_some_and(|v| v >= 1),
            "{table}"
        );
    }
    // Against itself: nothing.
    assert!(diff(&schemas, &schemas).is_empty());
}

#[test]
fn a_git_revision_is_read_like_the_working_tree() {
    let root = crate::codegen::project_root();
    let Ok(at_head) = read_git(&root, "HEAD") else {
        // Not a git checkout (a source tarball): `run` reports the git error instead.
        return;
    };
    let tree = read_dir(&root.join("model-schemas")).unwrap();
    assert_eq!(
        at_head.keys().collect::<Vec<_>>(),
        tree.keys().collect::<Vec<_>>()
    );
    assert!(read_git(&root, "no-such-revision-anywhere").is_err());
}
