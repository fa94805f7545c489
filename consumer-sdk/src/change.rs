//! Typed changes: one variant per table, plus the raw change of a table this crate does not know.

use crate::detail::{ChangeInfo, DetailVersion, Metadata, Redaction, WireDetail};
use crate::error::{self, deserialize_at, Error, ErrorKind, JsonPath, JsonType};
use crate::SUPPORTED_MAJOR_VERSION;
use cdc_models::{DynImage, Operation, RedactPolicy, Table, TableImage};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Which row image of a change.
///
/// ```
/// use consumer_sdk::{Change, ColumnState, ImageSide};
/// let change = Change::from_detail_json(r#"{"version": "1.0", "eventId": "e1",
///   "eventType": "team.changed", "table": "teams", "operation": "DELETE",
///   "timestamp": "2026-11-25T10:38:52Z", "before": {"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"},
///   "beforeImage": "partial", "after": null, "afterImage": null,
///   "keys": {"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}, "redactions": {},
///   "metadata": {"sourceFormat": "dms"}}"#).unwrap();
/// assert_eq!(change.column_state(ImageSide::Before, "id"), ColumnState::Value);
/// assert_eq!(change.column_state(ImageSide::After, "id"), ColumnState::Absent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageSide {
    /// The row before the change (`before`).
    Before,
    /// The row after the change (`after`).
    After,
}

/// What an image says about one column, taking the event's `redactions` into account.
///
/// ```
/// use consumer_sdk::{Change, ColumnState, ImageSide, Redaction};
/// let change = Change::from_detail_json(r#"{"version": "1.0", "eventId": "e1",
///   "eventType": "customer.changed", "table": "customers", "operation": "INSERT",
///   "timestamp": "2026-11-25T10:38:52Z", "before": null, "beforeImage": null,
///   "after": {"id": 48213, "email": "hmac-sha256:00", "phone": null},
///   "afterImage": "full", "keys": {"id": 48213},
///   "redactions": {"email": "hash", "date_of_birth": "remove"},
///   "metadata": {"sourceFormat": "coredb-trigger", "snapshot": false}}"#).unwrap();
/// let state = |c| change.column_state(ImageSide::After, c);
/// assert_eq!(state("email"), ColumnState::Redacted(Redaction::Hash));
/// assert_eq!(state("date_of_birth"), ColumnState::Redacted(Redaction::Remove));
/// assert_eq!(state("phone"), ColumnState::Null);
/// assert_eq!(state("id"), ColumnState::Value);
/// assert_eq!(state("company_name"), ColumnState::Absent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnState {
    /// Not in the image: the source did not send it (partial image), the projection does not
    /// publish it, the image itself is `null`, or the column is unknown.
    Absent,
    /// In the image and SQL `NULL` (`NULL` is never redacted).
    Null,
    /// In the image with its real value.
    Value,
    /// Redacted: removed from the image (`remove`), or present with a replacement value (`mask`,
    /// `hash`, `partial`).
    Redacted(Redaction),
}

impl ColumnState {
    fn resolve(presence: Presence, redaction: Option<&Redaction>) -> ColumnState {
        match (presence, redaction) {
            (Presence::Null, _) => ColumnState::Null,
            (Presence::Absent, Some(Redaction::Remove)) => ColumnState::Redacted(Redaction::Remove),
            (Presence::Absent, _) => ColumnState::Absent,
            (Presence::Value, Some(r)) if *r != Redaction::Remove => {
                ColumnState::Redacted(r.clone())
            }
            (Presence::Value, _) => ColumnState::Value,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Absent,
    Null,
    Value,
}

/// Which columns an UPDATE changed, from comparing `before` and `after`.
///
/// Only columns present in both images can be compared. A column present in one image only (a
/// partial image) and a redacted column whose replacement values are equal but may hide different
/// values (`mask`, equal `partial` tails) are *undetermined*. `hash` pseudonyms compare like the
/// values they replace.
///
/// See [`Change::changed_columns`] for an example.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnChanges<'a> {
    /// Columns whose value certainly changed.
    pub changed: Vec<&'a str>,
    /// Columns that may or may not have changed.
    pub undetermined: Vec<&'a str>,
}

fn compute_changes<'a>(
    operation: Operation,
    columns: impl IntoIterator<Item = &'a str>,
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
    redactions: &BTreeMap<String, Redaction>,
) -> ColumnChanges<'a> {
    let mut out = ColumnChanges::default();
    if operation != Operation::Update {
        return out;
    }
    for column in columns {
        let a = after.and_then(|m| m.get(column));
        let b = before.and_then(|m| m.get(column));
        match (b, a) {
            (None, None) => {}
            (Some(b), Some(a)) if b != a => out.changed.push(column),
            (Some(_), Some(_)) => {
                if redactions
                    .get(column)
                    .is_some_and(|r| !r.preserves_equality())
                {
                    out.undetermined.push(column);
                }
            }
            _ => out.undetermined.push(column),
        }
    }
    out
}

/// A change of a table this crate knows, with typed images and key.
///
/// `I` is the table's generated image type, e.g.
/// [`AgentStateImage`](cdc_models::generated::agent_states::AgentStateImage): every column is a
/// [`Column`](cdc_models::Column) (`Absent`, `Null` or `Value`), so partial and projected images
/// fit. Columns the schema does not know are ignored.
///
/// ```
/// use consumer_sdk::{Change, ImageSide};
/// use cdc_models::Column;
/// use cdc_models::generated::agent_states::AgentStateState;
///
/// let detail = r#"{"version": "1.0", "eventId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
///   "eventType": "agent_state.changed", "table": "agent_states", "operation": "UPDATE",
///   "timestamp": "2026-11-25T10:38:52Z",
///   "before": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000", "state": "available"},
///   "after": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000", "state": "on_call",
///             "added_later": true},
///   "beforeImage": "partial", "afterImage": "partial",
///   "keys": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000"}, "redactions": {},
///   "metadata": {"transactionId": "884213", "sequenceNumber": "4959033827149025660855969",
///                "subSequenceNumber": null, "shardId": "shardId-000000000006",
///                "sourceFormat": "debezium", "snapshot": false}}"#;
/// let Change::AgentStates(change) = Change::from_detail_json(detail).unwrap() else {
///     panic!("an agent_states change")
/// };
/// let after = change.after.as_ref().unwrap();
/// assert_eq!(after.state, Column::Value(AgentStateState::OnCall));
/// assert!(after.team_id.is_absent());
/// assert_eq!(change.changed_columns(), ["state"]);
/// assert_eq!(change.keys.unwrap().agent_id.to_string(), "7f3e2d1c-0b9a-4877-a665-544332211000");
/// assert_eq!(change.info.metadata.transaction_id.as_deref(), Some("884213"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TableChange<I: TableImage> {
    /// The table-independent fields (event id, operation, timestamp, metadata, …).
    pub info: ChangeInfo,
    /// The primary key (from `after`, or `before` for a DELETE); never redacted. `None` only for
    /// a TRUNCATE, which concerns no row.
    pub keys: Option<I::Key>,
    /// The row before the change; `None` for INSERT, SNAPSHOT and TRUNCATE, and for an UPDATE
    /// whose source sends no old row.
    pub before: Option<I>,
    /// The row after the change; `None` for DELETE and TRUNCATE.
    pub after: Option<I>,
}

impl<I: TableImage> TableChange<I> {
    /// The table.
    pub fn table(&self) -> Table {
        I::TABLE
    }

    /// The dedupe key: the detail's `eventId`.
    pub fn dedupe_key(&self) -> &str {
        &self.info.event_id
    }

    /// The image on one side.
    pub fn image(&self, side: ImageSide) -> Option<&I> {
        match side {
            ImageSide::Before => self.before.as_ref(),
            ImageSide::After => self.after.as_ref(),
        }
    }

    /// The newest image: `after`, or `before` when there is no `after` (DELETE).
    pub fn latest(&self) -> Option<&I> {
        self.after.as_ref().or(self.before.as_ref())
    }

    /// The `after` image as a full row struct, when every column is in it (not projected away,
    /// not removed by redaction, not left out by the source) and NOT NULL columns hold values.
    pub fn after_row(&self) -> Option<I::Row> {
        self.after.clone()?.into_row().ok()
    }

    /// The `before` image as a full row struct; see [`TableChange::after_row`].
    pub fn before_row(&self) -> Option<I::Row> {
        self.before.clone()?.into_row().ok()
    }

    /// What the image on `side` says about `column`; see [`ColumnState`]. A column the schema does
    /// not know is [`ColumnState::Absent`] (typed images ignore unknown columns).
    pub fn column_state(&self, side: ImageSide, column: &str) -> ColumnState {
        let presence = match (self.image(side), I::meta().field_index(column)) {
            (Some(image), Some(i)) => {
                if TableImage::null_bits(image) & (1 << i) != 0 {
                    Presence::Null
                } else if TableImage::present_bits(image) & (1 << i) != 0 {
                    Presence::Value
                } else {
                    Presence::Absent
                }
            }
            _ => Presence::Absent,
        };
        ColumnState::resolve(presence, self.info.redactions.get(column))
    }

    /// The schema's redaction policy of `column` (with `keep_last` for `partial`), when the event
    /// says the column was redacted.
    pub fn redaction_policy(&self, column: &str) -> Option<RedactPolicy> {
        self.info.redactions.get(column)?;
        I::meta().field(column)?.policy
    }

    /// Which columns an UPDATE changed (empty for other operations); see [`ColumnChanges`].
    pub fn column_changes(&self) -> ColumnChanges<'static> {
        let before = self.before.as_ref().map(DynImage::to_json_value);
        let after = self.after.as_ref().map(DynImage::to_json_value);
        compute_changes(
            self.info.operation,
            I::meta().fields.iter().map(|f| f.name),
            before.as_ref().and_then(Value::as_object),
            after.as_ref().and_then(Value::as_object),
            &self.info.redactions,
        )
    }

    /// The columns an UPDATE certainly changed, in schema order; see
    /// [`TableChange::column_changes`].
    pub fn changed_columns(&self) -> Vec<&'static str> {
        self.column_changes().changed
    }
}

/// A change of a table this version of the crate does not know: the images and key as JSON.
///
/// New tables may appear in any 1.x detail; they arrive as [`Change::Unknown`] instead of failing.
///
/// ```
/// use consumer_sdk::Change;
/// let change = Change::from_detail_json(r#"{"version": "1.0", "eventId": "e9",
///   "eventType": "coffee_machine.changed", "table": "coffee_machines", "operation": "DELETE",
///   "timestamp": "2026-11-25T10:38:52Z", "before": {"id": 7, "beans": "low"},
///   "beforeImage": "full", "after": null, "afterImage": null, "keys": {"id": 7},
///   "redactions": {}, "metadata": {"sourceFormat": "dms", "snapshot": false}}"#).unwrap();
/// let Change::Unknown(raw) = &change else { panic!() };
/// assert_eq!(raw.info.table, "coffee_machines");
/// assert_eq!(raw.keys["id"], 7);
/// assert_eq!(change.table(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RawChange {
    /// The table-independent fields.
    pub info: ChangeInfo,
    /// The primary-key columns (empty for a TRUNCATE).
    pub keys: Map<String, Value>,
    /// The row before the change, as JSON.
    pub before: Option<Map<String, Value>>,
    /// The row after the change, as JSON.
    pub after: Option<Map<String, Value>>,
}

impl RawChange {
    /// The image on one side.
    pub fn image(&self, side: ImageSide) -> Option<&Map<String, Value>> {
        match side {
            ImageSide::Before => self.before.as_ref(),
            ImageSide::After => self.after.as_ref(),
        }
    }

    /// What the image on `side` says about `column`; see [`ColumnState`].
    pub fn column_state(&self, side: ImageSide, column: &str) -> ColumnState {
        let presence = match self.image(side).and_then(|m| m.get(column)) {
            None => Presence::Absent,
            Some(Value::Null) => Presence::Null,
            Some(_) => Presence::Value,
        };
        ColumnState::resolve(presence, self.info.redactions.get(column))
    }

    /// Which columns an UPDATE changed (empty for other operations); see [`ColumnChanges`].
    pub fn column_changes(&self) -> ColumnChanges<'_> {
        let mut columns: Vec<&str> = Vec::new();
        for m in [&self.after, &self.before].into_iter().flatten() {
            for k in m.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
        compute_changes(
            self.info.operation,
            columns,
            self.before.as_ref(),
            self.after.as_ref(),
            &self.info.redactions,
        )
    }
}

/// What every kind of change can answer, so [`Change`] can delegate without a 75-arm match per
/// method.
trait View {
    fn info(&self) -> &ChangeInfo;
    fn column_state(&self, side: ImageSide, column: &str) -> ColumnState;
    fn changes(&self) -> ColumnChanges<'_>;
    fn image_json(&self, side: ImageSide) -> Option<Value>;
    fn keys_json(&self) -> Value;
    fn image_dyn(&self, side: ImageSide) -> Option<&dyn DynImage>;
}

impl<I: TableImage> View for TableChange<I> {
    fn info(&self) -> &ChangeInfo {
        &self.info
    }
    fn column_state(&self, side: ImageSide, column: &str) -> ColumnState {
        TableChange::column_state(self, side, column)
    }
    fn changes(&self) -> ColumnChanges<'_> {
        self.column_changes()
    }
    fn image_json(&self, side: ImageSide) -> Option<Value> {
        self.image(side).map(DynImage::to_json_value)
    }
    fn keys_json(&self) -> Value {
        match &self.keys {
            Some(k) => serde_json::to_value(k).expect("generated key types serialize to JSON"),
            None => Value::Object(Map::new()),
        }
    }
    fn image_dyn(&self, side: ImageSide) -> Option<&dyn DynImage> {
        self.image(side).map(|i| i as &dyn DynImage)
    }
}

impl View for RawChange {
    fn info(&self) -> &ChangeInfo {
        &self.info
    }
    fn column_state(&self, side: ImageSide, column: &str) -> ColumnState {
        RawChange::column_state(self, side, column)
    }
    fn changes(&self) -> ColumnChanges<'_> {
        self.column_changes()
    }
    fn image_json(&self, side: ImageSide) -> Option<Value> {
        self.image(side).cloned().map(Value::Object)
    }
    fn keys_json(&self) -> Value {
        Value::Object(self.keys.clone())
    }
    fn image_dyn(&self, _side: ImageSide) -> Option<&dyn DynImage> {
        None
    }
}

macro_rules! define_change {
    ($(($variant:ident, $module:ident, $row:ident, $image:ident, $key:ident)),* $(,)?) => {
        /// A parsed `CDC.TableChange` detail: one variant per table, each a
        /// [`TableChange`] of that table's generated image type, or [`Change::Unknown`] for a
        /// table this version of the crate does not know.
        ///
        /// `#[non_exhaustive]`: new tables are added in minor releases, so a `match` needs a
        /// `_` arm.
        ///
        /// ```
        /// use consumer_sdk::{Change, Operation};
        /// let change = Change::from_detail_json(r#"{"version": "1.0", "eventId": "e2",
        ///   "eventType": "queue_metric.changed", "table": "queue_metrics",
        ///   "operation": "UPDATE", "timestamp": "2026-11-25T10:32:00Z", "before": null,
        ///   "beforeImage": null,
        ///   "after": {"queue_id": "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f", "contacts_waiting": 4},
        ///   "afterImage": "partial",
        ///   "keys": {"queue_id": "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f"}, "redactions": {},
        ///   "metadata": {"sourceFormat": "dms", "snapshot": false}}"#).unwrap();
        /// match &change {
        ///     Change::QueueMetrics(c) => {
        ///         let waiting = c.after.as_ref().and_then(|a| a.contacts_waiting.value());
        ///         assert_eq!(waiting, Some(&4));
        ///     }
        ///     Change::AgentStates(_) => unreachable!(),
        ///     _ => {} // every other table, and tables added later
        /// }
        /// assert_eq!(change.operation(), Operation::Update);
        /// assert_eq!(change.table_name(), "queue_metrics");
        /// ```
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Change {
            $(
                #[doc = concat!("A change of table `", stringify!($module), "`.")]
                $variant(Box<TableChange<::cdc_models::generated::$module::$image>>),
            )*
            /// A change of a table this version of the crate does not know.
            Unknown(Box<RawChange>),
        }

        impl Change {
            fn parse_known(table: Table, detail: &Value, base: &JsonPath, version: DetailVersion) -> Result<Change, Error> {
                match table {
                    $(
                        Table::$variant => parse_typed::<::cdc_models::generated::$module::$image>(detail, base, version)
                            .map(|c| Change::$variant(Box::new(c))),
                    )*
                    _ => parse_raw(detail, base, version).map(|c| Change::Unknown(Box::new(c))),
                }
            }

            fn view(&self) -> &dyn View {
                match self {
                    $( Change::$variant(c) => &**c, )*
                    Change::Unknown(c) => &**c,
                }
            }
        }
    };
}

cdc_models::for_each_table!(define_change);

impl Change {
    /// Parses a bare `detail` object (what an EventBridge input transformer with `$.detail`
    /// delivers, or what the processor writes in local mode).
    ///
    /// A table this crate does not know gives [`Change::Unknown`]; a detail whose major `version`
    /// is not [`SUPPORTED_MAJOR_VERSION`] gives [`ErrorKind::UnsupportedVersion`].
    ///
    /// ```
    /// use consumer_sdk::{Change, ErrorKind};
    /// let err = Change::from_detail_json(r#"{"version": "2.0", "table": "users"}"#).unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::UnsupportedVersion { .. }));
    /// assert_eq!(err.path(), "$.version");
    /// ```
    pub fn from_detail_json(json: &str) -> Result<Change, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| error::syntax(&e))?;
        Change::from_detail_value(&value)
    }

    /// Parses a bare `detail` from bytes; see [`Change::from_detail_json`].
    pub fn from_detail_slice(json: &[u8]) -> Result<Change, Error> {
        let value: Value = serde_json::from_slice(json).map_err(|e| error::syntax(&e))?;
        Change::from_detail_value(&value)
    }

    /// Parses a bare `detail` already parsed as JSON; see [`Change::from_detail_json`].
    pub fn from_detail_value(detail: &Value) -> Result<Change, Error> {
        parse_detail(detail, &JsonPath::root())
    }

    /// The table-independent fields.
    pub fn info(&self) -> &ChangeInfo {
        self.view().info()
    }

    /// The table, or `None` for [`Change::Unknown`].
    pub fn table(&self) -> Option<Table> {
        Table::from_name(&self.info().table).filter(|_| !matches!(self, Change::Unknown(_)))
    }

    /// The CoreDB table name (also for unknown tables).
    pub fn table_name(&self) -> &str {
        &self.info().table
    }

    /// The detail's `eventId`.
    pub fn event_id(&self) -> &str {
        &self.info().event_id
    }

    /// The key to deduplicate on: the detail's `eventId`, stable across Lambda retries, DLQ
    /// re-drives and EventBridge replays (unlike the envelope `id`, which is new for every
    /// `PutEvents`).
    pub fn dedupe_key(&self) -> &str {
        &self.info().event_id
    }

    /// The table's event type, e.g. `agent_state.changed`.
    pub fn event_type(&self) -> &str {
        &self.info().event_type
    }

    /// The detail schema version.
    pub fn version(&self) -> DetailVersion {
        self.info().version
    }

    /// The table's schema version (`schemaVersion`), `None` in details written before it
    /// existed; see [`ChangeInfo::schema_version`].
    pub fn schema_version(&self) -> Option<u32> {
        self.info().schema_version
    }

    /// What happened to the row.
    pub fn operation(&self) -> Operation {
        self.info().operation
    }

    /// When the change happened at the source.
    pub fn timestamp(&self) -> DateTime<Utc> {
        self.info().timestamp
    }

    /// Where the change came from.
    pub fn metadata(&self) -> &Metadata {
        &self.info().metadata
    }

    /// Column → redaction, for every redacted column.
    pub fn redactions(&self) -> &BTreeMap<String, Redaction> {
        &self.info().redactions
    }

    /// What the image on `side` says about `column`; see [`ColumnState`].
    pub fn column_state(&self, side: ImageSide, column: &str) -> ColumnState {
        self.view().column_state(side, column)
    }

    /// Which columns an UPDATE changed (empty for other operations); see [`ColumnChanges`].
    pub fn column_changes(&self) -> ColumnChanges<'_> {
        self.view().changes()
    }

    /// The columns an UPDATE certainly changed; see [`Change::column_changes`].
    ///
    /// ```
    /// use consumer_sdk::Change;
    /// let change = Change::from_detail_json(r#"{"version": "1.0", "eventId": "e3",
    ///   "eventType": "user.changed", "table": "users", "operation": "UPDATE",
    ///   "timestamp": "2024-01-15T10:30:00Z",
    ///   "before": {"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "status": "active", "email": "[REDACTED]"},
    ///   "after": {"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "status": "inactive", "email": "[REDACTED]",
    ///             "name": "Priya Raman"},
    ///   "beforeImage": "partial", "afterImage": "full",
    ///   "keys": {"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21"}, "redactions": {"email": "mask"},
    ///   "metadata": {"sourceFormat": "debezium", "snapshot": false}}"#).unwrap();
    /// assert_eq!(change.changed_columns(), ["status"]);
    /// // `email` is masked on both sides and `name` is missing from `before`: unknown.
    /// assert_eq!(change.column_changes().undetermined, ["email", "name"]);
    /// ```
    pub fn changed_columns(&self) -> Vec<&str> {
        self.column_changes().changed
    }

    /// The `before` image as JSON (absent columns left out).
    pub fn before_json(&self) -> Option<Value> {
        self.view().image_json(ImageSide::Before)
    }

    /// The `after` image as JSON (absent columns left out).
    pub fn after_json(&self) -> Option<Value> {
        self.view().image_json(ImageSide::After)
    }

    /// The primary key as a JSON object.
    pub fn keys_json(&self) -> Value {
        self.view().keys_json()
    }

    /// The typed image on `side` behind the object-safe [`DynImage`] (metadata, presence,
    /// completeness, JSON); `None` when the image is `null` or the table is unknown.
    pub fn image_dyn(&self, side: ImageSide) -> Option<&dyn DynImage> {
        self.view().image_dyn(side)
    }
}

fn read_version(obj: &Map<String, Value>, base: &JsonPath) -> Result<DetailVersion, Error> {
    let path = base.key("version");
    match obj.get("version") {
        None => Err(Error::new(
            base.to_string(),
            ErrorKind::MissingField {
                field: "version".into(),
            },
        )),
        Some(Value::String(s)) => {
            let version: DetailVersion = s.parse().map_err(|_| {
                Error::new(
                    path.to_string(),
                    ErrorKind::InvalidValue {
                        expected: "a version MAJOR.MINOR such as \"1.0\"".into(),
                        found: JsonType::String,
                    },
                )
            })?;
            if version.major != SUPPORTED_MAJOR_VERSION {
                return Err(Error::new(
                    path.to_string(),
                    ErrorKind::UnsupportedVersion {
                        found: version.to_string(),
                        supported: SUPPORTED_MAJOR_VERSION,
                    },
                ));
            }
            Ok(version)
        }
        Some(other) => Err(Error::new(
            path.to_string(),
            ErrorKind::WrongType {
                expected: "a string".into(),
                found: JsonType::of(other),
            },
        )),
    }
}

/// Parses a detail found at `base` in the input.
pub(crate) fn parse_detail(detail: &Value, base: &JsonPath) -> Result<Change, Error> {
    let Some(obj) = detail.as_object() else {
        return Err(Error::new(
            base.to_string(),
            ErrorKind::WrongType {
                expected: "an object (a CDC.TableChange detail)".into(),
                found: JsonType::of(detail),
            },
        ));
    };
    let version = read_version(obj, base)?;
    let table = match obj.get("table") {
        Some(Value::String(s)) => s,
        None => {
            return Err(Error::new(
                base.to_string(),
                ErrorKind::MissingField {
                    field: "table".into(),
                },
            ))
        }
        Some(other) => {
            return Err(Error::new(
                base.key("table").to_string(),
                ErrorKind::WrongType {
                    expected: "a string".into(),
                    found: JsonType::of(other),
                },
            ))
        }
    };
    match Table::from_name(table) {
        Some(t) => Change::parse_known(t, detail, base, version),
        None => parse_raw(detail, base, version).map(|c| Change::Unknown(Box::new(c))),
    }
}

fn finish_info<I, K>(
    wire: &WireDetail<I, K>,
    table: &str,
    version: DetailVersion,
    base: &JsonPath,
) -> Result<ChangeInfo, Error> {
    // An image without its completeness flag breaks the contract (`beforeImage`/`afterImage` say
    // whether absent columns were sent at all).
    for (present, flag, name) in [
        (wire.before.is_some(), wire.before_image, "beforeImage"),
        (wire.after.is_some(), wire.after_image, "afterImage"),
    ] {
        if present && flag.is_none() {
            return Err(Error::new(
                base.to_string(),
                ErrorKind::MissingField { field: name.into() },
            ));
        }
    }
    Ok(ChangeInfo {
        version,
        schema_version: wire.schema_version,
        event_id: wire.event_id.clone(),
        event_type: wire.event_type.clone(),
        table: table.to_string(),
        operation: wire.operation,
        timestamp: wire.timestamp,
        before_image: wire.before.as_ref().and(wire.before_image),
        after_image: wire.after.as_ref().and(wire.after_image),
        redactions: wire.redactions.clone(),
        metadata: wire.metadata.clone(),
    })
}

/// Re-reads only `keys`, so a key error's path is `$.keys.<column>`.
#[derive(serde::Deserialize)]
struct KeysOnly<K> {
    keys: K,
}

fn parse_typed<I: TableImage>(
    detail: &Value,
    base: &JsonPath,
    version: DetailVersion,
) -> Result<TableChange<I>, Error> {
    let meta = I::meta();
    let wire: WireDetail<I, Value> = deserialize_at(detail, base, Some(meta))?;
    let info = finish_info(&wire, meta.name, version, base)?;
    let no_keys = match &wire.keys {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    };
    let keys = if no_keys && info.operation == Operation::Truncate {
        None
    } else {
        let only: KeysOnly<I::Key> = deserialize_at(detail, base, Some(meta))?;
        Some(only.keys)
    };
    Ok(TableChange {
        info,
        keys,
        before: wire.before,
        after: wire.after,
    })
}

fn parse_raw(detail: &Value, base: &JsonPath, version: DetailVersion) -> Result<RawChange, Error> {
    let wire: WireDetail<Map<String, Value>, Value> = deserialize_at(detail, base, None)?;
    let keys = match &wire.keys {
        Value::Object(m) => m.clone(),
        Value::Null if wire.operation == Operation::Truncate => Map::new(),
        other => {
            return Err(Error::new(
                base.key("keys").to_string(),
                ErrorKind::WrongType {
                    expected: "an object".into(),
                    found: JsonType::of(other),
                },
            ))
        }
    };
    let table = detail
        .get("table")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let info = finish_info(&wire, table, version, base)?;
    Ok(RawChange {
        info,
        keys,
        before: wire.before,
        after: wire.after,
    })
}
