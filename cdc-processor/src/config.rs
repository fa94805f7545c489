//! Pipeline configuration: event source and bus, redaction, per-table overrides, table allow-list,
//! input format, size limits.
//!
//! A [`PipelineConfig`] is always valid: setters that can fail check their input (unknown tables,
//! unknown columns, short HMAC keys) and say what is wrong. [`PipelineConfig::from_lookup`] reads
//! the seed's environment variables (plus this crate's own) and names the variable and the
//! expected form when one is invalid.

use cdc_models::contract::SourceFormat;
use cdc_models::{Projection, Redactor, Table};
use std::collections::BTreeMap;

/// Default `EVENT_SOURCE` and the `DetailType` of every published entry: the event contract's
/// constants, defined in `cdc-models` for the processor and `consumer-sdk` alike.
pub use cdc_models::contract::{DEFAULT_EVENT_SOURCE, DETAIL_TYPE};
/// Default `EVENT_BUS_NAME`.
pub const DEFAULT_EVENT_BUS_NAME: &str = "cdc-events";
/// Default maximum EventBridge entry size: 256 KiB (buses created since 2026 may accept 1 MiB).
pub const DEFAULT_MAX_ENTRY_SIZE: usize = 256 * 1024;
/// Default maximum size of one PutEvents request (sum of its entries' sizes).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 256 * 1024;
/// The largest `MAX_EVENT_SIZE_BYTES` accepted: EventBridge's entry limit on buses that allow
/// 1 MiB events.
pub const MAX_EVENT_SIZE_LIMIT: usize = 1024 * 1024;
/// Maximum number of entries in one PutEvents request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;
/// PutEvents requests of one shard's window in flight together by default (`PUBLISH_CONCURRENCY`):
/// the most the adaptive limit allows (throttling and attempt timeouts halve it, successes raise
/// it back: `aws::aimd`). At 25 ms per request, 32 requests of 10 entries bound a shard near
/// 12,800 records/s (docs/benchmarks.md, latency model: 16 missed the 6,000 records/s goal at
/// batch 10,000).
pub const DEFAULT_PUBLISH_CONCURRENCY: usize = 32;
/// The largest accepted `PUBLISH_CONCURRENCY`.
pub const MAX_PUBLISH_CONCURRENCY: usize = 256;
/// How far past the records resolved in order a shard's requests start, in windows, by default:
/// a slow answer (or a request retrying) holds publishing back that far, which bounds the
/// duplicate window and the checkpoint's lag (docs/reliability.md).
pub const DEFAULT_AHEAD_WINDOWS: usize = 2;
/// Default name of the DMS before-image field (`BeforeImageSettings.FieldName`).
pub const DEFAULT_DMS_BEFORE_IMAGE_FIELD: &str = "before-image";

/// A configuration value that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem} (expected {expected})")]
pub struct ConfigError {
    /// The setting or environment variable.
    pub setting: String,
    /// What is wrong.
    pub problem: String,
    /// The expected form.
    pub expected: String,
}

impl ConfigError {
    fn new(setting: &str, problem: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.to_string(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// "unknown table `user`; did you mean `users`?": the message for a name that is not a table,
/// with the closest table name when one is close (Jaro–Winkler ≥ 0.8).
pub fn unknown_table(name: &str) -> String {
    let best = Table::ALL
        .iter()
        .map(|t| (strsim::jaro_winkler(name, t.name()), t.name()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, table)) if score >= 0.8 => {
            format!("unknown table `{name}`; did you mean `{table}`?")
        }
        _ => format!("unknown table `{name}`"),
    }
}

/// Whether and how rows are redacted (`ENABLE_DATA_REDACTION`).
#[derive(Clone, Debug)]
pub enum Redaction {
    /// Publish column values as they are (`ENABLE_DATA_REDACTION=false`).
    Disabled,
    /// Apply every column's `x-redact` policy. Without a key, `hash` columns cannot be
    /// pseudonymized: a record that holds a value in one fails with `TRANSFORMATION_ERROR`
    /// (retryable) rather than being published unredacted.
    Enabled {
        /// The keyed pseudonymizer used by `hash`.
        redactor: Option<Redactor>,
    },
}

impl Redaction {
    /// Redaction on, with this HMAC key (at least [`cdc_models::MIN_KEY_BYTES`] bytes).
    pub fn with_key(key: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let key = key.into();
        let len = key.len();
        // One statement of the rule: "…: the key is 5 bytes long (expected at least 32 bytes)".
        let redactor = Redactor::new(key).map_err(|_| {
            ConfigError::new(
                "REDACTION_HMAC_KEY",
                format!("the key is {len} bytes long"),
                format!("at least {} bytes", cdc_models::MIN_KEY_BYTES),
            )
        })?;
        Ok(Redaction::Enabled {
            redactor: Some(redactor),
        })
    }

    /// Whether redaction is on.
    pub fn is_enabled(&self) -> bool {
        matches!(self, Redaction::Enabled { .. })
    }
}

/// How integers in timestamp columns are read when no Debezium schema says their unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpochUnit {
    /// By magnitude: `1e11 ≤ |v| < 1e14` milliseconds, `1e14 ≤ |v| < 1e17` microseconds,
    /// `|v| ≥ 1e17` nanoseconds (unambiguous for instants after 1973); smaller values are rejected.
    #[default]
    Auto,
    /// Milliseconds since the epoch (`io.debezium.time.Timestamp`).
    Millis,
    /// Microseconds since the epoch (`io.debezium.time.MicroTimestamp`).
    Micros,
    /// Nanoseconds since the epoch (`io.debezium.time.NanoTimestamp`).
    Nanos,
}

impl std::str::FromStr for EpochUnit {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(EpochUnit::Auto),
            "ms" | "millis" => Ok(EpochUnit::Millis),
            "us" | "micros" => Ok(EpochUnit::Micros),
            "ns" | "nanos" => Ok(EpochUnit::Nanos),
            _ => Err(ConfigError::new(
                "DEBEZIUM_EPOCH_UNIT",
                "unknown unit",
                "auto, ms, us or ns",
            )),
        }
    }
}

/// Per-table override of the generated defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableOverride {
    /// Event type instead of the schema's `x-cdc.eventType`.
    pub event_type: Option<String>,
    /// Columns to publish instead of the schema's `x-cdc.includeFields` (`["*"]` for all; key
    /// columns are always published).
    pub include_fields: Option<Vec<String>>,
}

/// What the pipeline does for one table, after defaults and overrides.
#[derive(Clone, Debug)]
pub struct TableSettings {
    /// The table.
    pub table: Table,
    /// Whether changes of this table are published (allow-list, or `capturedByDefault`).
    pub captured: bool,
    /// The detail's `eventType` (the generated default, or a configured override).
    pub event_type: String,
    /// Columns published.
    pub projection: Projection,
}

/// Configuration of a [`crate::Pipeline`].
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    event_source: String,
    event_bus_name: String,
    redaction: Redaction,
    tables: Vec<TableSettings>,
    forced_format: Option<SourceFormat>,
    max_entry_size: usize,
    max_request_size: usize,
    dms_before_image_field: String,
    epoch_unit: EpochUnit,
    publish_concurrency: usize,
    entries_per_request: usize,
    window_entries: Option<usize>,
    ahead_windows: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self::new(Redaction::Disabled)
    }
}

impl PipelineConfig {
    /// Defaults (source `cdc-pipeline`, bus `cdc-events`, tables captured by default, formats
    /// detected per record, 256 KiB entries) with this redaction setting.
    pub fn new(redaction: Redaction) -> Self {
        let tables = Table::ALL
            .iter()
            .map(|&table| {
                let meta = table.meta();
                TableSettings {
                    table,
                    captured: meta.captured_by_default,
                    event_type: meta.event_type.to_string(),
                    projection: meta.default_projection(),
                }
            })
            .collect();
        PipelineConfig {
            event_source: DEFAULT_EVENT_SOURCE.to_string(),
            event_bus_name: DEFAULT_EVENT_BUS_NAME.to_string(),
            redaction,
            tables,
            forced_format: None,
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            dms_before_image_field: DEFAULT_DMS_BEFORE_IMAGE_FIELD.to_string(),
            epoch_unit: EpochUnit::Auto,
            publish_concurrency: DEFAULT_PUBLISH_CONCURRENCY,
            entries_per_request: MAX_ENTRIES_PER_REQUEST,
            window_entries: None,
            ahead_windows: DEFAULT_AHEAD_WINDOWS,
        }
    }

    /// Reads the configuration from the process environment; see [`Self::from_lookup`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from variables:
    ///
    /// | variable | default | form |
    /// |---|---|---|
    /// | `EVENT_SOURCE` | `cdc-pipeline` | non-empty string |
    /// | `EVENT_BUS_NAME` | `cdc-events` | non-empty string |
    /// | `ENABLE_DATA_REDACTION` | `true` | `true` or `false` |
    /// | `REDACTION_HMAC_KEY` | — (required when redaction is on) | at least 32 bytes |
    /// | `CDC_TABLES` | tables with `capturedByDefault` | comma-separated table names |
    /// | `CDC_SOURCE_FORMAT` | `auto` | `auto`, `coredb-trigger`, `debezium`, `dms` |
    /// | `CDC_TABLE_OVERRIDES` | none | JSON `{"table": {"eventType": "…", "includeFields": ["…"]}}` |
    /// | `MAX_EVENT_SIZE_BYTES` | `262144` | integer 1024–1048576 |
    /// | `MAX_REQUEST_SIZE_BYTES` | `262144` | integer 1024–1048576 |
    /// | `DMS_BEFORE_IMAGE_FIELD` | `before-image` | non-empty string |
    /// | `DEBEZIUM_EPOCH_UNIT` | `auto` | `auto`, `ms`, `us`, `ns` |
    /// | `PUBLISH_CONCURRENCY` | `32` | integer 1–256 |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let redaction = match get("ENABLE_DATA_REDACTION").as_deref().map(str::trim) {
            None | Some("true") => match get("REDACTION_HMAC_KEY") {
                Some(key) => Redaction::with_key(key.into_bytes())?,
                None => {
                    return Err(ConfigError::new(
                        "REDACTION_HMAC_KEY",
                        "missing while ENABLE_DATA_REDACTION is true",
                        format!("a secret of at least {} bytes", cdc_models::MIN_KEY_BYTES),
                    ))
                }
            },
            Some("false") => Redaction::Disabled,
            Some(_) => {
                return Err(ConfigError::new(
                    "ENABLE_DATA_REDACTION",
                    "invalid value",
                    "true or false",
                ))
            }
        };
        let mut config = PipelineConfig::new(redaction);
        if let Some(source) = get("EVENT_SOURCE") {
            config.event_source = source;
        }
        if let Some(bus) = get("EVENT_BUS_NAME") {
            config.event_bus_name = bus;
        }
        if let Some(tables) = get("CDC_TABLES") {
            let names: Vec<&str> = tables
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            config
                .set_table_allow_list(names)
                .map_err(|e| ConfigError::new("CDC_TABLES", e.problem, e.expected))?;
        }
        if let Some(format) = get("CDC_SOURCE_FORMAT") {
            config.forced_format = parse_format_choice(&format)
                .map_err(|e| ConfigError::new("CDC_SOURCE_FORMAT", e.problem, e.expected))?;
        }
        if let Some(json) = get("CDC_TABLE_OVERRIDES") {
            let overrides: BTreeMap<String, TableOverride> =
                serde_json::from_str(&json).map_err(|e| {
                    ConfigError::new(
                        "CDC_TABLE_OVERRIDES",
                        format!("not valid JSON: {e}"),
                        r#"{"<table>": {"eventType": "...", "includeFields": ["..."]}}"#,
                    )
                })?;
            for (table, o) in overrides {
                config
                    .set_table_override(&table, o)
                    .map_err(|e| ConfigError::new("CDC_TABLE_OVERRIDES", e.problem, e.expected))?;
            }
        }
        if get("MAX_ENTRY_SIZE_BYTES").is_some() {
            // The name of earlier versions: refuse it rather than silently ignore a limit.
            return Err(ConfigError::new(
                "MAX_ENTRY_SIZE_BYTES",
                "is no longer read",
                "MAX_EVENT_SIZE_BYTES (the same limit, under the name the deployment uses)",
            ));
        }
        if let Some(size) = get("MAX_EVENT_SIZE_BYTES") {
            let size = parse_size("MAX_EVENT_SIZE_BYTES", &size)?;
            config.set_max_entry_size(size)?;
        }
        if let Some(size) = get("MAX_REQUEST_SIZE_BYTES") {
            let size = parse_size("MAX_REQUEST_SIZE_BYTES", &size)?;
            config.set_max_request_size(size)?;
        }
        if let Some(field) = get("DMS_BEFORE_IMAGE_FIELD") {
            config.dms_before_image_field = field;
        }
        if let Some(n) = get("PUBLISH_CONCURRENCY") {
            let n = n
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PUBLISH_CONCURRENCY).contains(n))
                .ok_or_else(|| {
                    ConfigError::new(
                        "PUBLISH_CONCURRENCY",
                        "not an integer from 1 to 256",
                        "1 to 256 (default 16)",
                    )
                })?;
            config.publish_concurrency = n;
        }
        if let Some(unit) = get("DEBEZIUM_EPOCH_UNIT") {
            config.epoch_unit = unit.parse()?;
        }
        Ok(config)
    }

    /// `Source` of published entries.
    pub fn event_source(&self) -> &str {
        &self.event_source
    }

    /// Sets the `Source` of published entries.
    pub fn set_event_source(&mut self, source: impl Into<String>) -> &mut Self {
        self.event_source = source.into();
        self
    }

    /// The EventBridge bus (`EVENT_BUS_NAME`).
    pub fn event_bus_name(&self) -> &str {
        &self.event_bus_name
    }

    /// Sets the EventBridge bus.
    pub fn set_event_bus_name(&mut self, bus: impl Into<String>) -> &mut Self {
        self.event_bus_name = bus.into();
        self
    }

    /// The redaction setting.
    pub fn redaction(&self) -> &Redaction {
        &self.redaction
    }

    /// Sets the redaction setting.
    pub fn set_redaction(&mut self, redaction: Redaction) -> &mut Self {
        self.redaction = redaction;
        self
    }

    /// The input format forced for every record, or `None` to detect it per record.
    pub fn forced_format(&self) -> Option<SourceFormat> {
        self.forced_format
    }

    /// Forces the input format (`None`: detect per record).
    pub fn set_forced_format(&mut self, format: Option<SourceFormat>) -> &mut Self {
        self.forced_format = format;
        self
    }

    /// Largest EventBridge entry published; larger ones are dead-lettered as `ENTRY_TOO_LARGE`.
    pub fn max_entry_size(&self) -> usize {
        self.max_entry_size
    }

    /// Sets the largest entry size (1024 bytes up to [`MAX_EVENT_SIZE_LIMIT`]). The request size
    /// limit is not raised with it: an entry larger than the request cap is sent alone in its
    /// request, so requests of ordinary entries stay within 256 KiB whichever PutEvents request
    /// limit a 1 MiB bus has (docs/deploy.md "Event size"). The one check of
    /// `MAX_EVENT_SIZE_BYTES`, for local runs and the Lambdas alike.
    pub fn set_max_entry_size(&mut self, bytes: usize) -> Result<&mut Self, ConfigError> {
        if !(1024..=MAX_EVENT_SIZE_LIMIT).contains(&bytes) {
            return Err(ConfigError::new(
                "MAX_EVENT_SIZE_BYTES",
                if bytes < 1024 {
                    "too small"
                } else {
                    "too large"
                },
                "1024 to 1048576 bytes (EventBridge: 262144, or 1048576 on 1 MiB buses)",
            ));
        }
        self.max_entry_size = bytes;
        Ok(self)
    }

    /// Largest PutEvents request (sum of entry sizes) of two or more entries; an entry larger
    /// than this is sent alone.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// Sets the largest PutEvents request of two or more entries (1024 bytes up to
    /// [`MAX_EVENT_SIZE_LIMIT`]).
    pub fn set_max_request_size(&mut self, bytes: usize) -> Result<&mut Self, ConfigError> {
        if !(1024..=MAX_EVENT_SIZE_LIMIT).contains(&bytes) {
            return Err(ConfigError::new(
                "MAX_REQUEST_SIZE_BYTES",
                "out of range",
                "1024 to 1048576 bytes (default 262144)",
            ));
        }
        self.max_request_size = bytes;
        Ok(self)
    }

    /// Name of the DMS before-image field.
    pub fn dms_before_image_field(&self) -> &str {
        &self.dms_before_image_field
    }

    /// Sets the name of the DMS before-image field (`BeforeImageSettings.FieldName`).
    pub fn set_dms_before_image_field(&mut self, field: impl Into<String>) -> &mut Self {
        self.dms_before_image_field = field.into();
        self
    }

    /// Unit of integer timestamps without a Debezium schema.
    pub fn epoch_unit(&self) -> EpochUnit {
        self.epoch_unit
    }

    /// PutEvents requests of one shard's window in flight together (1: one after another).
    pub fn publish_concurrency(&self) -> usize {
        self.publish_concurrency
    }

    /// Sets the PutEvents requests of one shard's window in flight together (at least 1).
    pub fn set_publish_concurrency(&mut self, n: usize) -> &mut Self {
        self.publish_concurrency = n.clamp(1, MAX_PUBLISH_CONCURRENCY);
        self
    }

    /// Entries per `PutEvents` request, at most (1–10; default 10, the API's limit).
    pub fn entries_per_request(&self) -> usize {
        self.entries_per_request
    }

    /// Sets the entries per `PutEvents` request (clamped to 1–10). Fewer than 10 only models
    /// other publishing patterns (the latency benchmark's one-entry-per-record seed pattern).
    pub fn set_entries_per_request(&mut self, n: usize) -> &mut Self {
        self.entries_per_request = n.clamp(1, MAX_ENTRIES_PER_REQUEST);
        self
    }

    /// Entries of a shard's window: one checkpoint write per window. `None` (the default): at
    /// least 100 and enough for every request in flight together to be busy
    /// (`max(100, entries per request × PUBLISH_CONCURRENCY)`).
    pub fn window_entries(&self) -> Option<usize> {
        self.window_entries
    }

    /// Sets the entries of a shard's window (at least 1; `None`: the default). A window of one
    /// request's entries writes a checkpoint after every request, as before windows existed —
    /// the latency benchmark's sequential mode.
    pub fn set_window_entries(&mut self, n: Option<usize>) -> &mut Self {
        self.window_entries = n.map(|n| n.max(1));
        self
    }

    /// How far past the records resolved in order a shard's requests start, in windows (default
    /// [`DEFAULT_AHEAD_WINDOWS`]): a request starts only while its first record is less than this
    /// many windows' entries past them.
    pub fn ahead_windows(&self) -> usize {
        self.ahead_windows
    }

    /// Sets how far past the records resolved in order requests start, in windows (at least 1).
    /// Only the latency benchmark changes it, to measure the bound.
    pub fn set_ahead_windows(&mut self, n: usize) -> &mut Self {
        self.ahead_windows = n.max(1);
        self
    }

    /// Sets the unit of integer timestamps without a Debezium schema.
    pub fn set_epoch_unit(&mut self, unit: EpochUnit) -> &mut Self {
        self.epoch_unit = unit;
        self
    }

    /// Settings of one table.
    pub fn table(&self, table: Table) -> &TableSettings {
        &self.tables[table.index()]
    }

    /// Publishes exactly these tables (instead of those with `capturedByDefault`).
    pub fn set_table_allow_list<'a>(
        &mut self,
        tables: impl IntoIterator<Item = &'a str>,
    ) -> Result<&mut Self, ConfigError> {
        let mut wanted = Vec::new();
        for name in tables {
            let table = Table::from_name(name).ok_or_else(|| {
                ConfigError::new("tables", unknown_table(name), "a CoreDB table name")
            })?;
            wanted.push(table);
        }
        for settings in &mut self.tables {
            settings.captured = wanted.contains(&settings.table);
        }
        Ok(self)
    }

    /// Overrides a table's event type and/or projection.
    pub fn set_table_override(
        &mut self,
        table: &str,
        o: TableOverride,
    ) -> Result<&mut Self, ConfigError> {
        let t = Table::from_name(table).ok_or_else(|| {
            ConfigError::new(
                "table override",
                unknown_table(table),
                "a CoreDB table name",
            )
        })?;
        let meta = t.meta();
        let projection = match &o.include_fields {
            Some(fields) => Some(
                Projection::of(meta, fields.iter().map(String::as_str)).map_err(|column| {
                    ConfigError::new(
                        "table override",
                        format!("table `{table}` has no column `{column}`"),
                        "column names of the table's schema, or \"*\"",
                    )
                })?,
            ),
            None => None,
        };
        if let Some(event_type) = &o.event_type {
            if event_type.trim().is_empty() {
                return Err(ConfigError::new(
                    "table override",
                    format!("empty eventType for `{table}`"),
                    "a non-empty event type such as `user.changed`",
                ));
            }
        }
        let settings = &mut self.tables[t.index()];
        if let Some(p) = projection {
            settings.projection = p;
        }
        if let Some(e) = o.event_type {
            settings.event_type = e;
        }
        Ok(self)
    }
}

/// Parses `auto` or a format name.
pub fn parse_format_choice(s: &str) -> Result<Option<SourceFormat>, ConfigError> {
    if s == "auto" {
        return Ok(None);
    }
    s.parse::<SourceFormat>().map(Some).map_err(|_| {
        ConfigError::new(
            "format",
            "unknown format",
            "auto, coredb-trigger, debezium or dms",
        )
    })
}

fn parse_size(name: &str, s: &str) -> Result<usize, ConfigError> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| ConfigError::new(name, "not a whole number of bytes", "e.g. 262144"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_event_source_is_the_configured_text() {
        let mut c = PipelineConfig::default();
        c.set_event_source(String::from("billing"));
        assert_eq!(c.event_source(), "billing");
    }

    #[test]
    fn env_defaults_and_errors() {
        let err = PipelineConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(err.setting, "REDACTION_HMAC_KEY");
        let c = PipelineConfig::from_lookup(lookup(&[("ENABLE_DATA_REDACTION", "false")])).unwrap();
        assert_eq!(c.event_source(), "cdc-pipeline");
        assert_eq!(c.event_bus_name(), "cdc-events");
        assert!(!c.redaction().is_enabled());
        let err =
            PipelineConfig::from_lookup(lookup(&[("ENABLE_DATA_REDACTION", "yes")])).unwrap_err();
        assert_eq!(err.setting, "ENABLE_DATA_REDACTION");
        let err = PipelineConfig::from_lookup(lookup(&[
            ("ENABLE_DATA_REDACTION", "true"),
            ("REDACTION_HMAC_KEY", "short"),
        ]))
        .unwrap_err();
        assert_eq!(err.setting, "REDACTION_HMAC_KEY");
        // Entry size: 1024 bytes up to EventBridge's 1 MiB, here as in the Lambdas.
        for (size, ok) in [
            ("1023", false),
            ("1024", true),
            ("1048576", true),
            ("1048577", false),
        ] {
            let r = PipelineConfig::from_lookup(lookup(&[
                ("ENABLE_DATA_REDACTION", "false"),
                ("MAX_EVENT_SIZE_BYTES", size),
            ]));
            match r {
                Ok(_) => assert!(ok, "{size} accepted"),
                Err(e) => {
                    assert!(!ok, "{size} refused: {e:?}");
                    assert_eq!(e.setting, "MAX_EVENT_SIZE_BYTES");
                    assert!(
                        !e.to_string().contains(size),
                        "the value is not echoed: {e}"
                    );
                }
            }
        }
        // The Lambdas' rule: 31 bytes is too short here as well.
        let err = PipelineConfig::from_lookup(lookup(&[
            ("ENABLE_DATA_REDACTION", "true"),
            ("REDACTION_HMAC_KEY", "0123456789abcdef0123456789abcde"),
        ]))
        .unwrap_err();
        assert_eq!(err.setting, "REDACTION_HMAC_KEY");
        assert_eq!(err.expected, "at least 32 bytes");
        // The rule is stated once, with the length found.
        assert_eq!(
            err.to_string(),
            "REDACTION_HMAC_KEY: the key is 31 bytes long (expected at least 32 bytes)"
        );
    }

    #[test]
    fn unknown_tables_suggest_the_closest_name() {
        assert_eq!(
            unknown_table("user"),
            "unknown table `user`; did you mean `users`?"
        );
        assert_eq!(unknown_table("zzzzqqq"), "unknown table `zzzzqqq`");
        let err = PipelineConfig::new(Redaction::Disabled)
            .set_table_allow_list(["user"])
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("did you mean `users`?"), "{err}");
    }

    #[test]
    fn publish_concurrency() {
        let off = [("ENABLE_DATA_REDACTION", "false")];
        let c = PipelineConfig::from_lookup(lookup(&off)).unwrap();
        assert_eq!(c.publish_concurrency(), DEFAULT_PUBLISH_CONCURRENCY);
        let c =
            PipelineConfig::from_lookup(lookup(&[off[0], ("PUBLISH_CONCURRENCY", " 4 ")])).unwrap();
        assert_eq!(c.publish_concurrency(), 4);
        for bad in ["0", "257", "-1", "eight"] {
            let err = PipelineConfig::from_lookup(lookup(&[off[0], ("PUBLISH_CONCURRENCY", bad)]))
                .unwrap_err();
            assert_eq!(err.setting, "PUBLISH_CONCURRENCY");
        }
    }

    #[test]
    fn overrides_and_allow_list() {
        let c = PipelineConfig::from_lookup(lookup(&[
            ("ENABLE_DATA_REDACTION", "true"),
            ("REDACTION_HMAC_KEY", "0123456789abcdef0123456789abcdef"),
            ("CDC_TABLES", "users, orders"),
            (
                "CDC_TABLE_OVERRIDES",
                r#"{"users": {"eventType": "person.changed", "includeFields": ["email"]}}"#,
            ),
            ("MAX_EVENT_SIZE_BYTES", "1048576"),
            ("CDC_SOURCE_FORMAT", "dms"),
        ]))
        .unwrap();
        assert!(c.table(Table::Users).captured);
        assert!(!c.table(Table::Agents).captured);
        assert_eq!(c.table(Table::Users).event_type, "person.changed");
        let meta = Table::Users.meta();
        let p = c.table(Table::Users).projection;
        assert!(p.contains(meta.field_index("email").unwrap()));
        assert!(p.contains(meta.field_index("id").unwrap()));
        assert!(!p.contains(meta.field_index("name").unwrap()));
        assert_eq!(c.max_entry_size(), 1048576);
        assert_eq!(
            c.max_request_size(),
            262144,
            "the request cap does not follow the entry size"
        );
        assert_eq!(c.forced_format(), Some(SourceFormat::Dms));

        let err = PipelineConfig::from_lookup(lookup(&[
            ("ENABLE_DATA_REDACTION", "false"),
            (
                "CDC_TABLE_OVERRIDES",
                r#"{"users": {"includeFields": ["nope"]}}"#,
            ),
        ]))
        .unwrap_err();
        assert!(err.problem.contains("nope"), "{err}");
        let err = PipelineConfig::from_lookup(lookup(&[
            ("ENABLE_DATA_REDACTION", "false"),
            ("CDC_TABLES", "users,bogus"),
        ]))
        .unwrap_err();
        assert_eq!(err.setting, "CDC_TABLES");
    }
}
