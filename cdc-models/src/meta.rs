//! Table and column metadata from the schemas' `x-cdc` and `x-redact` annotations.

use crate::RedactPolicy;
use serde::{Deserialize, Serialize};

mod nested;
pub use nested::{JsonTypes, Limit, NestedFormat, NestedSchema};

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

/// Constraints of one column that its Rust type does not enforce, from the column's JSON Schema
/// (generated: nothing re-reads the schema at run time).
///
/// The generated image types accept any string for an enum and any integer their type holds;
/// these are what the processor checks on input besides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constraints {
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: Option<f64>,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: Option<f64>,
    /// `minLength` (characters).
    pub min_length: Option<u64>,
    /// `maxLength` (characters).
    pub max_length: Option<u64>,
    /// Scale a `decimal` column's pattern requires (`\.[0-9]{2}$` → 2).
    pub decimal_scale: Option<u32>,
    /// The schema's `enum` list (the contract; the generated enums accept any string).
    pub enum_values: Option<&'static [&'static str]>,
    /// `pattern` (checked by the Rust type; kept for error messages).
    pub pattern: Option<&'static str>,
    /// `format` (`date-time`, `uuid`, `email`, …).
    pub format: Option<&'static str>,
    /// The column can hold JSON integers (integer, object or array columns whose items are not
    /// strings): each must fit in an `i64`.
    pub integers: bool,
    /// The checks over the whole value, generated from the column's schema, when it has
    /// constraints that only a walk over the value checks (`format: email`, item counts,
    /// constraints nested in items or members). The column's schema text itself is in
    /// [`crate::Table::schema_json`].
    pub nested: Option<&'static NestedSchema>,
}

impl Constraints {
    /// No constraint (the base the generated values are written on).
    pub const NONE: Constraints = Constraints {
        minimum: None,
        maximum: None,
        exclusive_minimum: None,
        exclusive_maximum: None,
        min_length: None,
        max_length: None,
        decimal_scale: None,
        enum_values: None,
        pattern: None,
        format: None,
        integers: false,
        nested: None,
    };

    /// Whether the column has a constraint its Rust type does not check (a value must be looked
    /// at before it is read).
    pub fn constrained(&self) -> bool {
        self.minimum.is_some()
            || self.maximum.is_some()
            || self.exclusive_minimum.is_some()
            || self.exclusive_maximum.is_some()
            || self.min_length.is_some()
            || self.max_length.is_some()
            || self.nested.is_some()
            || self.integers
            || self.enum_values.is_some()
    }
}

impl Default for Constraints {
    fn default() -> Self {
        Self::NONE
    }
}

/// Metadata of one column.
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// Constraints its Rust type does not enforce.
    pub constraints: Constraints,
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
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// The columns in the order the schema declares them (its `properties`), which is the
    /// table's column order: the order the triggers' `row_to_json`, Debezium and DMS write rows
    /// in. Indices into [`Self::fields`].
    pub declared_order: &'static [u8],
    /// For each column (by [`Self::fields`] index), the index of the column declared after it
    /// (`fields.len()` after the last).
    pub declared_next: &'static [u8],
    /// Bit `i` set when column `i` is a primary-key column.
    pub key_bits: u128,
    /// Bit `i` set when column `i` is NOT NULL.
    pub not_null_bits: u128,
}

impl TableMeta {
    /// The column with this name.
    pub fn field(&self, name: &str) -> Option<&'static FieldMeta> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    /// Index of the column with this name (the columns are sorted by name).
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.binary_search_by(|f| f.name.cmp(name)).ok()
    }

    /// [`Self::field_index`] of the column that follows `previous` in a row (`None`: the row's
    /// first column), trying the column the table declares next first: rows list their columns
    /// in the table's order (the triggers' `row_to_json`, Debezium and DMS all do), so one short
    /// comparison finds most, and any other order is found by the lookup.
    pub fn field_index_after(&self, previous: Option<usize>, name: &str) -> Option<usize> {
        let expected = match previous {
            None => self.declared_order.first().map(|&i| usize::from(i)),
            Some(i) => self.declared_next.get(i).map(|&i| usize::from(i)),
        };
        match expected.and_then(|i| Some((i, self.fields.get(i)?))) {
            Some((i, f)) if f.name == name => Some(i),
            _ => self.field_index(name),
        }
    }

    /// The column names in the order the schema declares them (the table's column order).
    pub fn declared_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let fields = self.fields;
        self.declared_order
            .iter()
            .map(move |&i| fields[usize::from(i)].name)
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
