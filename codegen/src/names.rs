//! Naming rules shared by the checks and the emitter.

/// The Rust field name typify gives a property (snake case, keywords suffixed with `_`).
pub(crate) fn field_name(property: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in property.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("x_{out}");
    }
    if is_keyword(&out) {
        return format!("{out}_");
    }
    out
}

/// PascalCase of a snake_case table name: `agent_state_history` → `AgentStateHistory`.
pub(crate) fn pascal(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "break"
            | "const"
            | "continue"
            | "crate"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "Self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "async"
            | "await"
            | "dyn"
            | "abstract"
            | "become"
            | "box"
            | "do"
            | "final"
            | "macro"
            | "override"
            | "priv"
            | "typeof"
            | "unsized"
            | "virtual"
            | "yield"
            | "try"
            | "gen"
    )
}

/// Words that make a column name look like personal or secret data.
const PII_SEGMENTS: &[&str] = &[
    "email", "phone", "ssn", "address", "ip", "card", "iban", "password", "token", "dob", "birth",
    "secret", "passport", "postcode", "zip", "msisdn", "ani",
];
const PII_PHRASES: &[&str] = &[
    "first_name",
    "last_name",
    "full_name",
    "national_id",
    "date_of_birth",
    "user_agent",
];

/// Whether a column name looks like it holds personal or secret data.
pub fn looks_personal(column: &str) -> bool {
    let lower = column.to_ascii_lowercase();
    lower.split('_').any(|seg| {
        PII_SEGMENTS.contains(&seg)
            || seg.starts_with("email")
            || seg.starts_with("phone")
            || seg.starts_with("password")
            || seg.starts_with("token")
    }) || PII_PHRASES.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(field_name("userId"), "user_id");
        assert_eq!(field_name("user_id"), "user_id");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(pascal("agent_state_history"), "AgentStateHistory");
        assert!(looks_personal("caller_phone_number"));
        assert!(looks_personal("client_ip"));
        assert!(looks_personal("first_name"));
        assert!(!looks_personal("skip_count"));
        assert!(!looks_personal("description"));
    }
}
