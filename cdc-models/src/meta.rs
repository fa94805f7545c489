//! Table and column metadata from the schemas' `x-cdc` and `x-redact` annotations.

use crate::RedactPolicy;
use serde::{Deserialize, Serialize};

/// Model category of a table (the seed's five plus the platform's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// Users, profiles, preferences, sessions.
    User,
    /// Agents, skills, availability, states.
    Agent,
    /// Calls, chats, emails, interactions.
    Communication,
    /// Queues, routing rules, priorities.
    Queue,
    /// Metrics, aggregations, summaries.
    Reporting,
    /// Tenants, sites, teams.
    Organization,
    /// Orders, payments, invoices.
    Commerce,
    /// Audit entries, consents.
    Compliance,
}

impl Category {
    /// The snake_case name used in schemas.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::User => "user",
            Category::Agent => "agent",
            Category::Communication => "communication",
            Category::Queue => "queue",
            Category::Reporting => "reporting",
            Category::Organization => "organization",
            Category::Commerce => "commerce",
            Category::Compliance => "compliance",
        }
    }
}

/// The JSON shape of a column, which the processor uses to normalize source encodings
/// (Debezium epoch timestamps, base64 decimals, DMS scientific notation, JSON held in strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ColumnKind {
    /// Text (possibly an enum or a pattern-checked string).
    String,
    /// A UUID string.
    Uuid,
    /// An RFC 3339 timestamp string (`format: date-time`).
    DateTime,
    /// A calendar date string (`format: date`).
    Date,
    /// A whole number.
    Integer,
    /// A floating-point number.
    Number,
    /// A boolean.
    Boolean,
    /// An exact decimal held as a string (`format: decimal`).
    Decimal,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

/// Metadata of one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMeta {
    /// Column name as on the wire.
    pub name: &'static str,
    /// JSON shape of the column.
    pub kind: ColumnKind,
    /// Whether the column may hold SQL `NULL`.
    pub nullable: bool,
    /// Whether the column is part of the primary key.
    pub key: bool,
    /// Redaction policy (`None` for public columns and explicit `"x-redact": "none"`).
    pub policy: Option<RedactPolicy>,
}

/// Which columns a table's events publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    /// Every column (`["*"]`).
    All,
    /// Only these columns (key columns are always published as well).
    Fields(&'static [&'static str]),
}

/// Metadata of one table, from its schema's `x-cdc` annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableMeta {
    /// Table name (= schema file name).
    pub name: &'static str,
    /// Rust type name of the full row.
    pub type_name: &'static str,
    /// Event type, e.g. `user.changed`.
    pub event_type: &'static str,
    /// Model category.
    pub category: Category,
    /// Primary-key column names, in key order.
    pub primary_key: &'static [&'static str],
    /// Default projection.
    pub include: Include,
    /// Whether the table is captured when no table list is configured.
    pub captured_by_default: bool,
    /// The table's schema version (`x-cdc.version`, from 1), published as the detail's
    /// `schemaVersion`: bumped by every breaking or privacy-relevant change of the table's schema
    /// (see `model-schemas/CHANGELOG.md`), never by an additive one.
    pub schema_version: u32,
    /// Every column, in schema order (sorted by name).
    pub fields: &'static [FieldMeta],
}

impl TableMeta {
    /// The column with this name.
    pub fn field(&self, name: &str) -> Option<&'static FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Index of the column with this name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Names of the columns that carry a redaction policy (the seed's `redactFields`).
    pub fn redact_fields(&self) -> impl Iterator<Item = &'static str> {
        self.fields
            .iter()
            .filter(|f| f.policy.is_some())
            .map(|f| f.name)
    }

    /// The default projection of this table.
    pub fn default_projection(&self) -> Projection {
        match self.include {
            Include::All => Projection::all(self),
            Include::Fields(names) => Projection::of(self, names.iter().copied())
                .expect("generated include lists name existing columns"),
        }
    }
}

/// A set of columns of one table, by column index; key columns are always in it.
///
/// ```
/// use cdc_models::{Projection, Table};
/// let meta = Table::Users.meta();
/// let p = meta.default_projection();
/// assert!(p.contains(meta.field_index("status").unwrap()));
/// assert!(!p.contains(meta.field_index("email").unwrap()));
/// assert!(Projection::of(meta, ["nope"]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Projection(u128);

impl Projection {
    /// Every column of the table.
    pub fn all(meta: &TableMeta) -> Self {
        let n = meta.fields.len();
        Projection(if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        })
    }

    /// The named columns plus the key columns; an unknown name is returned as the error.
    pub fn of<'a>(
        meta: &TableMeta,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut bits = 0u128;
        for name in names {
            if name == "*" {
                return Ok(Self::all(meta));
            }
            let i = meta.field_index(name).ok_or_else(|| name.to_string())?;
            bits |= 1 << i;
        }
        for (i, f) in meta.fields.iter().enumerate() {
            if f.key {
                bits |= 1 << i;
            }
        }
        Ok(Projection(bits))
    }

    /// Whether the column at this index is in the projection.
    pub fn contains(&self, index: usize) -> bool {
        index < 128 && self.0 & (1 << index) != 0
    }

    /// Whether this projection keeps every column of the table.
    pub fn is_all(&self, meta: &TableMeta) -> bool {
        *self == Self::all(meta)
    }
}
