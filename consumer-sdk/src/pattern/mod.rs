//! Building the event pattern of an EventBridge rule that selects `CDC.TableChange` events.

mod condition;
mod error;

pub use condition::Condition;
pub use error::PatternError;

use crate::detail::{SourceFormat, DETAIL_TYPE};
use cdc_models::{Operation, RedactPolicy, Table, TableMeta};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Which part of the detail a field condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Before,
    After,
    Keys,
    Metadata,
}

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Before => "before",
            Section::After => "after",
            Section::Keys => "keys",
            Section::Metadata => "metadata",
        }
    }
}

/// Conditions on the detail: tables, operations and field conditions, all of which must hold.
/// Used for the alternatives of [`EventPattern::any_of`] (and inside [`EventPattern`]).
///
/// ```
/// use consumer_sdk::{Condition, DetailFilter, Table};
/// let busy_queues = DetailFilter::new()
///     .tables([Table::QueueMetrics])
///     .after("contacts_waiting", Condition::greater_than(10.0));
/// # let _ = busy_queues;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetailFilter {
    tables: Vec<String>,
    operations: Vec<Operation>,
    fields: Vec<(Section, String, Condition)>,
}

impl DetailFilter {
    /// A filter that matches every detail.
    pub fn new() -> DetailFilter {
        DetailFilter::default()
    }

    /// Only changes of these tables (adds to earlier calls).
    pub fn tables(mut self, tables: impl IntoIterator<Item = Table>) -> DetailFilter {
        self.tables
            .extend(tables.into_iter().map(|t| t.name().to_string()));
        self
    }

    /// Only changes of tables with these names, known to this crate or not (adds to earlier
    /// calls).
    pub fn table_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> DetailFilter {
        self.tables.extend(names.into_iter().map(Into::into));
        self
    }

    /// Only these operations (adds to earlier calls).
    pub fn operations(mut self, operations: impl IntoIterator<Item = Operation>) -> DetailFilter {
        self.operations.extend(operations);
        self
    }

    /// A condition on a column of the `after` image.
    pub fn after(mut self, column: impl Into<String>, condition: Condition) -> DetailFilter {
        self.fields.push((Section::After, column.into(), condition));
        self
    }

    /// A condition on a column of the `before` image.
    pub fn before(mut self, column: impl Into<String>, condition: Condition) -> DetailFilter {
        self.fields
            .push((Section::Before, column.into(), condition));
        self
    }

    /// A condition on a primary-key column (`keys`).
    pub fn key(mut self, column: impl Into<String>, condition: Condition) -> DetailFilter {
        self.fields.push((Section::Keys, column.into(), condition));
        self
    }

    /// A condition on a `metadata` field (`transactionId`, `shardId`, `snapshot`, …).
    pub fn metadata(mut self, field: impl Into<String>, condition: Condition) -> DetailFilter {
        self.fields
            .push((Section::Metadata, field.into(), condition));
        self
    }

    /// Only changes read from these source formats (`metadata.sourceFormat`).
    pub fn source_formats(self, formats: impl IntoIterator<Item = SourceFormat>) -> DetailFilter {
        let names: Vec<String> = formats
            .into_iter()
            .map(|f| f.as_str().to_string())
            .collect();
        self.metadata("sourceFormat", Condition::one_of(names))
    }

    fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.operations.is_empty() && self.fields.is_empty()
    }

    /// Checks the field conditions against the schemas of `tables` (the filter's own, else the
    /// enclosing pattern's) and renders the detail object.
    fn render(
        &self,
        outer_tables: &[String],
        allow_redacted: bool,
    ) -> Result<Map<String, Value>, PatternError> {
        let scope = if self.tables.is_empty() {
            outer_tables
        } else {
            &self.tables
        };
        let metas: Vec<&'static TableMeta> = scope
            .iter()
            .filter_map(|t| Table::from_name(t))
            .map(|t| t.meta())
            .collect();
        let all_known = !scope.is_empty() && metas.len() == scope.len();

        let mut out = Map::new();
        if !self.tables.is_empty() {
            out.insert("table".into(), json!(dedup(self.tables.clone())));
        }
        if !self.operations.is_empty() {
            let ops: Vec<String> = self
                .operations
                .iter()
                .map(|o| o.as_str().to_string())
                .collect();
            out.insert("operation".into(), json!(dedup(ops)));
        }
        let mut grouped: BTreeMap<(Section, &str), Vec<Value>> = BTreeMap::new();
        for (section, name, condition) in &self.fields {
            let field = format!("{}.{}", section.key(), name);
            condition.check(&field)?;
            if matches!(section, Section::Before | Section::After | Section::Keys) {
                check_column(
                    *section,
                    name,
                    condition,
                    &metas,
                    all_known,
                    scope,
                    allow_redacted,
                )?;
            }
            grouped
                .entry((*section, name.as_str()))
                .or_default()
                .extend(condition.to_json());
        }
        for ((section, name), values) in grouped {
            let obj = out
                .entry(section.key())
                .or_insert_with(|| Value::Object(Map::new()));
            obj.as_object_mut()
                .expect("sections are objects")
                .insert(name.to_string(), Value::Array(values));
        }
        Ok(out)
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

fn check_column(
    section: Section,
    column: &str,
    condition: &Condition,
    metas: &[&'static TableMeta],
    all_known: bool,
    scope: &[String],
    allow_redacted: bool,
) -> Result<(), PatternError> {
    let with_column: Vec<_> = metas
        .iter()
        .filter_map(|m| m.field(column).map(|f| (m, f)))
        .filter(|(m, _)| section != Section::Keys || m.primary_key.contains(&column))
        .collect();
    if all_known && with_column.is_empty() {
        return Err(PatternError::UnknownColumn {
            field: format!("{}.{column}", section.key()),
            tables: scope.to_vec(),
        });
    }
    for (meta, field) in with_column {
        if !condition.fits(field.kind) {
            return Err(PatternError::IncompatibleCondition {
                field: format!("{}.{column}", section.key()),
                table: meta.name.to_string(),
                condition: condition.name(),
            });
        }
        if allow_redacted || !condition.reads_value() {
            continue;
        }
        if let Some(policy) = field.policy {
            if matches!(
                policy,
                RedactPolicy::Remove | RedactPolicy::Mask | RedactPolicy::Partial { .. }
            ) {
                return Err(PatternError::RedactedColumn {
                    field: format!("{}.{column}", section.key()),
                    table: meta.name.to_string(),
                    policy: policy.as_str(),
                });
            }
        }
    }
    Ok(())
}

/// Builds the event pattern of an EventBridge rule that selects `CDC.TableChange` events by
/// source, table, operation and column values.
///
/// [`EventPattern::build`] checks column conditions against the selected tables' schemas (the
/// column exists, the condition fits its type, its value is not redacted in events) and returns
/// the JSON a rule's `EventPattern` takes.
///
/// ```
/// use consumer_sdk::{Condition, DetailFilter, EventPattern, Operation, Table};
/// use serde_json::json;
///
/// let pattern = EventPattern::new()
///     .sources(["cdc-pipeline"])
///     .tables([Table::AgentStates, Table::QueueMetrics])
///     .operations([Operation::Insert, Operation::Update])
///     .any_of([
///         DetailFilter::new().after("state", Condition::anything_but(["offline"])),
///         DetailFilter::new().after("contacts_waiting", Condition::numeric(5.0..)),
///     ])
///     .build()
///     .unwrap();
/// assert_eq!(pattern, json!({
///     "source": ["cdc-pipeline"],
///     "detail-type": ["CDC.TableChange"],
///     "detail": {
///         "table": ["agent_states", "queue_metrics"],
///         "operation": ["INSERT", "UPDATE"],
///         "$or": [
///             {"after": {"state": [{"anything-but": ["offline"]}]}},
///             {"after": {"contacts_waiting": [{"numeric": [">=", 5.0]}]}}
///         ]
///     }
/// }));
///
/// // Checked against the schemas:
/// let err = EventPattern::new().tables([Table::AgentStates])
///     .after("contacts_waiting", Condition::greater_than(1.0)).build().unwrap_err();
/// assert!(err.to_string().contains("after.contacts_waiting"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPattern {
    sources: Vec<String>,
    base: DetailFilter,
    any_of: Vec<DetailFilter>,
    allow_redacted: bool,
}

impl EventPattern {
    /// A pattern matching every `CDC.TableChange` event.
    pub fn new() -> EventPattern {
        EventPattern::default()
    }

    /// Only events from these sources (the processor's `EVENT_SOURCE`, `cdc-pipeline` by default).
    pub fn sources<S: Into<String>>(
        mut self,
        sources: impl IntoIterator<Item = S>,
    ) -> EventPattern {
        self.sources.extend(sources.into_iter().map(Into::into));
        self
    }

    /// Only changes of these tables; see [`DetailFilter::tables`].
    pub fn tables(mut self, tables: impl IntoIterator<Item = Table>) -> EventPattern {
        self.base = self.base.tables(tables);
        self
    }

    /// Only changes of tables with these names; see [`DetailFilter::table_names`].
    pub fn table_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> EventPattern {
        self.base = self.base.table_names(names);
        self
    }

    /// Only these operations; see [`DetailFilter::operations`].
    pub fn operations(mut self, operations: impl IntoIterator<Item = Operation>) -> EventPattern {
        self.base = self.base.operations(operations);
        self
    }

    /// A condition on a column of the `after` image; see [`DetailFilter::after`].
    pub fn after(mut self, column: impl Into<String>, condition: Condition) -> EventPattern {
        self.base = self.base.after(column, condition);
        self
    }

    /// A condition on a column of the `before` image; see [`DetailFilter::before`].
    pub fn before(mut self, column: impl Into<String>, condition: Condition) -> EventPattern {
        self.base = self.base.before(column, condition);
        self
    }

    /// A condition on a primary-key column; see [`DetailFilter::key`].
    pub fn key(mut self, column: impl Into<String>, condition: Condition) -> EventPattern {
        self.base = self.base.key(column, condition);
        self
    }

    /// A condition on a `metadata` field; see [`DetailFilter::metadata`].
    pub fn metadata(mut self, field: impl Into<String>, condition: Condition) -> EventPattern {
        self.base = self.base.metadata(field, condition);
        self
    }

    /// Only changes read from these source formats; see [`DetailFilter::source_formats`].
    pub fn source_formats(
        mut self,
        formats: impl IntoIterator<Item = SourceFormat>,
    ) -> EventPattern {
        self.base = self.base.source_formats(formats);
        self
    }

    /// Besides everything else, at least one of these alternatives must hold (EventBridge `$or`
    /// inside `detail`). An alternative without tables is checked against the pattern's tables.
    /// Adds to earlier calls: there is one `$or` per pattern.
    pub fn any_of(mut self, alternatives: impl IntoIterator<Item = DetailFilter>) -> EventPattern {
        self.any_of.extend(alternatives);
        self
    }

    /// Allows value conditions on columns that events redact (for deployments that run with
    /// `ENABLE_DATA_REDACTION=false`).
    pub fn allow_redacted_columns(mut self) -> EventPattern {
        self.allow_redacted = true;
        self
    }

    /// The pattern as the JSON an EventBridge rule takes.
    pub fn build(&self) -> Result<Value, PatternError> {
        let mut detail = self.base.render(&[], self.allow_redacted)?;
        if !self.any_of.is_empty() {
            if self.any_of.len() < 2 || self.any_of.iter().any(DetailFilter::is_empty) {
                return Err(PatternError::BadAlternatives);
            }
            let alternatives = self
                .any_of
                .iter()
                .map(|alt| {
                    alt.render(&self.base.tables, self.allow_redacted)
                        .map(Value::Object)
                })
                .collect::<Result<Vec<_>, _>>()?;
            detail.insert("$or".into(), Value::Array(alternatives));
        }
        let mut pattern = Map::new();
        if !self.sources.is_empty() {
            pattern.insert("source".into(), json!(dedup(self.sources.clone())));
        }
        pattern.insert("detail-type".into(), json!([DETAIL_TYPE]));
        if !detail.is_empty() {
            pattern.insert("detail".into(), Value::Object(detail));
        }
        Ok(Value::Object(pattern))
    }

    /// The pattern as a JSON string (what `PutRule`'s `EventPattern` parameter takes).
    ///
    /// ```
    /// use consumer_sdk::{EventPattern, Operation};
    /// let s = EventPattern::new().operations([Operation::Delete]).build_string().unwrap();
    /// let parsed: serde_json::Value = serde_json::from_str(&s).unwrap();
    /// assert_eq!(parsed, serde_json::json!({
    ///     "detail-type": ["CDC.TableChange"], "detail": {"operation": ["DELETE"]}
    /// }));
    /// ```
    pub fn build_string(&self) -> Result<String, PatternError> {
        self.build().map(|v| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_pattern_selects_every_table_change() {
        assert_eq!(
            EventPattern::new().build().unwrap(),
            json!({"detail-type": ["CDC.TableChange"]})
        );
    }

    #[test]
    fn conditions_on_one_field_are_alternatives() {
        let p = EventPattern::new()
            .tables([Table::AgentStates])
            .after("state", Condition::equals("on_call"))
            .after("state", Condition::prefix("on_"))
            .after("team_id", Condition::null())
            .key("agent_id", Condition::exists())
            .source_formats([SourceFormat::Debezium, SourceFormat::Dms])
            .build()
            .unwrap();
        assert_eq!(
            p["detail"],
            json!({
                "table": ["agent_states"],
                "after": {"state": ["on_call", {"prefix": "on_"}], "team_id": [null]},
                "keys": {"agent_id": [{"exists": true}]},
                "metadata": {"sourceFormat": ["debezium", "dms"]}
            })
        );
    }

    #[test]
    fn columns_are_checked_against_the_schemas() {
        let base = || EventPattern::new().tables([Table::AgentStates]);
        assert!(matches!(
            base().after("no_such", Condition::exists()).build(),
            Err(PatternError::UnknownColumn { .. })
        ));
        assert!(matches!(
            base().after("state", Condition::numeric(1.0..)).build(),
            Err(PatternError::IncompatibleCondition { .. })
        ));
        assert!(matches!(
            base()
                .after("state_version", Condition::prefix("1"))
                .build(),
            Err(PatternError::IncompatibleCondition { .. })
        ));
        assert!(matches!(
            base().key("state", Condition::exists()).build(),
            Err(PatternError::UnknownColumn { .. })
        ));
        // Customers' date_of_birth is removed, email hashed.
        let customers = || EventPattern::new().tables([Table::Customers]);
        assert!(matches!(
            customers()
                .after("date_of_birth", Condition::prefix("19"))
                .build(),
            Err(PatternError::RedactedColumn {
                policy: "remove",
                ..
            })
        ));
        assert!(customers()
            .after("date_of_birth", Condition::absent())
            .build()
            .is_ok());
        assert!(customers()
            .after("date_of_birth", Condition::prefix("19"))
            .allow_redacted_columns()
            .build()
            .is_ok());
        assert!(customers()
            .after("email", Condition::prefix("hmac-sha256:"))
            .build()
            .is_ok());
        // Unknown tables: nothing to check against.
        assert!(EventPattern::new()
            .table_names(["coffee_machines"])
            .after("beans", Condition::numeric(..3.0))
            .build()
            .is_ok());
    }

    #[test]
    fn malformed_conditions_are_refused() {
        let e = |c: Condition| EventPattern::new().after("x", c).build().unwrap_err();
        assert!(matches!(
            e(Condition::numeric(..)),
            PatternError::InvalidCondition { .. }
        ));
        assert!(matches!(
            e(Condition::numeric(10.0..=1.0)),
            PatternError::InvalidCondition { .. }
        ));
        assert!(matches!(
            e(Condition::greater_than(1e12)),
            PatternError::InvalidCondition { .. }
        ));
        assert!(matches!(
            e(Condition::equals(json!([1]))),
            PatternError::InvalidCondition { .. }
        ));
        assert!(matches!(
            e(Condition::anything_but([json!("a"), json!(1)])),
            PatternError::InvalidCondition { .. }
        ));
        let one = EventPattern::new()
            .any_of([DetailFilter::new().after("x", Condition::exists())])
            .build();
        assert_eq!(one, Err(PatternError::BadAlternatives));
    }
}
