//! The JSON Schema helpers of the `validate` command (`row.rs`) and of the tests that compare
//! the record path's generated checks with a validator: only with the `cli` feature (the
//! deployed Lambda carries no JSON Schema validator).

use super::rules::path_shape;
use serde_json::Value;

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

/// The validator options for the model schemas: draft-07, formats checked, and `email` with
/// its domain read case-insensitively (`docs/formats.md`).
pub fn schema_options() -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .with_format("email", email_is_valid)
}

/// `format: email` as `jsonschema` checks it, with the domain read case-insensitively: what
/// [`super::format::email_is_valid`] answers without a validator (the differential test,
/// `nested_differential.rs`, compares them through [`schema_options`]).
fn email_is_valid(s: &str) -> bool {
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
