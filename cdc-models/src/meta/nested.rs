//! The generated description of a column's nested JSON Schema: the checks a column's Rust type
//! does not make inside its value (`format: email`, item counts, unique items, and the members'
//! and items' own constraints), as a small tree the processor walks over the value (issue 21,
//! item 7: no JSON Schema validator on the record path).
//!
//! codegen writes one [`NestedSchema`] per column whose [`Constraints::nested`](crate::Constraints)
//! is set, and refuses a keyword it does not model, so a schema cannot silently lose a check.

/// A set of JSON types: a schema's `type` (one type or a list).
///
/// The bits follow the order JSON Schema validators list types in (`null`, `boolean`,
/// `integer`, `number`, `string`, `array`, `object`), which [`Self::names`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JsonTypes(u8);

impl JsonTypes {
    /// `null`.
    pub const NULL: JsonTypes = JsonTypes(1 << 0);
    /// `boolean`.
    pub const BOOLEAN: JsonTypes = JsonTypes(1 << 1);
    /// `integer` (a number without a fractional part).
    pub const INTEGER: JsonTypes = JsonTypes(1 << 2);
    /// `number` (includes integers).
    pub const NUMBER: JsonTypes = JsonTypes(1 << 3);
    /// `string`.
    pub const STRING: JsonTypes = JsonTypes(1 << 4);
    /// `array`.
    pub const ARRAY: JsonTypes = JsonTypes(1 << 5);
    /// `object`.
    pub const OBJECT: JsonTypes = JsonTypes(1 << 6);

    /// Every type with its schema name, in the order of the bits.
    pub const NAMED: [(JsonTypes, &'static str); 7] = [
        (JsonTypes::NULL, "null"),
        (JsonTypes::BOOLEAN, "boolean"),
        (JsonTypes::INTEGER, "integer"),
        (JsonTypes::NUMBER, "number"),
        (JsonTypes::STRING, "string"),
        (JsonTypes::ARRAY, "array"),
        (JsonTypes::OBJECT, "object"),
    ];

    /// Both sets.
    pub const fn union(self, other: JsonTypes) -> JsonTypes {
        JsonTypes(self.0 | other.0)
    }

    /// Whether every type of `other` is in this set.
    pub const fn contains(self, other: JsonTypes) -> bool {
        self.0 & other.0 == other.0
    }

    /// The number of types in the set.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The schema names of the set's types, in the order of the bits.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        JsonTypes::NAMED
            .into_iter()
            .filter(move |(t, _)| self.contains(*t))
            .map(|(_, name)| name)
    }
}

/// A `format` the processor checks. Formats draft 07 does not define (`decimal`, `uuid`) are not
/// checked (a draft-07 validator ignores them too; the column's `pattern` checks a decimal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NestedFormat {
    /// `email`.
    Email,
    /// `date-time` (RFC 3339).
    DateTime,
}

impl NestedFormat {
    /// The format's name in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            NestedFormat::Email => "email",
            NestedFormat::DateTime => "date-time",
        }
    }
}

/// A numeric bound: its value, and its text as the schema writes it (for messages: `3`, not
/// `3.0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// The bound.
    pub value: f64,
    /// The bound as the schema writes it.
    pub text: &'static str,
}

/// One (sub)schema of a column: the keywords the processor checks, each `None`/empty when the
/// schema does not have it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NestedSchema {
    /// `type` (`None`: any type).
    pub types: Option<JsonTypes>,
    /// `enum` (string members only; codegen refuses others).
    pub enum_values: Option<&'static [&'static str]>,
    /// `minimum`.
    pub minimum: Option<Limit>,
    /// `maximum`.
    pub maximum: Option<Limit>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: Option<Limit>,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: Option<Limit>,
    /// `minLength` (characters).
    pub min_length: Option<u64>,
    /// `maxLength` (characters).
    pub max_length: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `required`, in the schema's order.
    pub required: &'static [&'static str],
    /// `pattern` (an ECMAScript regular expression, searched for anywhere in the string).
    pub pattern: Option<&'static str>,
    /// `format`, when it is one the processor checks.
    pub format: Option<NestedFormat>,
    /// `uniqueItems: true`.
    pub unique_items: bool,
    /// `properties`, sorted by member name.
    pub properties: &'static [(&'static str, NestedSchema)],
    /// `additionalProperties` (`false`: members `properties` does not name are refused; with
    /// exactly one `required` name, that name is then checked after the members, as
    /// `jsonschema` does).
    pub additional_properties: bool,
    /// `items` (one schema for every item).
    pub items: Option<&'static NestedSchema>,
}

impl NestedSchema {
    /// The schema without a keyword (accepts any value): the base generated values are written
    /// on.
    pub const ANY: NestedSchema = NestedSchema {
        types: None,
        enum_values: None,
        minimum: None,
        maximum: None,
        exclusive_minimum: None,
        exclusive_maximum: None,
        min_length: None,
        max_length: None,
        min_items: None,
        max_items: None,
        required: &[],
        pattern: None,
        format: None,
        unique_items: false,
        properties: &[],
        additional_properties: true,
        items: None,
    };

    /// The schema of the member `name`, if `properties` lists it.
    pub fn property(&self, name: &str) -> Option<&'static NestedSchema> {
        let properties = self.properties;
        properties
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| &properties[i].1)
    }

    /// Every pattern of the schema and its subschemas (each once, in tree order).
    pub fn patterns(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        self.collect_patterns(&mut out);
        out
    }

    fn collect_patterns(&self, out: &mut Vec<&'static str>) {
        if let Some(p) = self.pattern {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        for (_, s) in self.properties {
            s.collect_patterns(out);
        }
        if let Some(items) = self.items {
            items.collect_patterns(out);
        }
    }
}

impl Default for NestedSchema {
    fn default() -> Self {
        Self::ANY
    }
}
