//! `Serialize`/`Deserialize` for [`Change`] and [`Event`]: a change serializes to its detail and an
//! event to its EventBridge envelope (or the bare detail when it had none), so both can be stored
//! and read back, and [`Change`] can be the `detail` type of `aws_lambda_events`'
//! `EventBridgeEvent<T>`.
//!
//! Reading goes through the same parser as [`Change::from_detail_json`] /
//! [`Event::from_json`]; errors keep their JSON path and never quote a value.

use crate::change::Change;
use crate::envelope::Event;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

impl Change {
    /// The change as a detail object, as the processor publishes it (absent columns left out;
    /// columns this crate's schema does not know are not in typed images, so they are not
    /// written back; a [`Change::Unknown`] keeps everything).
    ///
    /// ```
    /// use consumer_sdk::Change;
    /// let detail = r#"{"version": "1.0", "schemaVersion": 1, "eventId": "e1",
    ///   "eventType": "team.changed", "table": "teams", "operation": "DELETE",
    ///   "timestamp": "2026-11-25T10:38:52Z", "before": {"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"},
    ///   "beforeImage": "partial", "after": null, "afterImage": null,
    ///   "keys": {"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}, "redactions": {},
    ///   "metadata": {"sourceFormat": "dms", "snapshot": false}}"#;
    /// let change = Change::from_detail_json(detail).unwrap();
    /// let again = Change::from_detail_value(&change.to_detail_value()).unwrap();
    /// assert_eq!(again, change);
    /// // `serde` too: store it, read it back.
    /// let stored = serde_json::to_string(&change).unwrap();
    /// assert_eq!(serde_json::from_str::<Change>(&stored).unwrap(), change);
    /// ```
    pub fn to_detail_value(&self) -> Value {
        let info = self.info();
        let mut m = Map::new();
        m.insert("version".into(), Value::String(info.version.to_string()));
        if let Some(v) = info.schema_version {
            m.insert("schemaVersion".into(), Value::from(v));
        }
        m.insert("eventId".into(), Value::String(info.event_id.clone()));
        m.insert("eventType".into(), Value::String(info.event_type.clone()));
        m.insert("table".into(), Value::String(info.table.clone()));
        m.insert("operation".into(), to(&info.operation));
        m.insert("timestamp".into(), to(&info.timestamp));
        m.insert("before".into(), self.before_json().unwrap_or(Value::Null));
        m.insert("after".into(), self.after_json().unwrap_or(Value::Null));
        m.insert("beforeImage".into(), to(&info.before_image));
        m.insert("afterImage".into(), to(&info.after_image));
        m.insert("keys".into(), self.keys_json());
        m.insert("redactions".into(), to(&info.redactions));
        m.insert("metadata".into(), to(&info.metadata));
        Value::Object(m)
    }
}

/// A detail field as JSON. The crate's own field types always serialize (string keys, no
/// floats), so this cannot fail.
fn to<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("detail fields serialize to JSON")
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_detail_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Change::from_detail_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Event {
    /// The event as JSON: the EventBridge envelope with the detail, or the bare detail when it
    /// was read without an envelope. [`Event::from_value`] reads it back.
    pub fn to_value(&self) -> Value {
        let detail = self.change.to_detail_value();
        match &self.envelope {
            None => detail,
            Some(envelope) => {
                let mut m = match serde_json::to_value(envelope) {
                    Ok(Value::Object(m)) => m,
                    _ => unreachable!("an envelope serializes to an object"),
                };
                m.insert("detail".into(), detail);
                Value::Object(m)
            }
        }
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Event::from_value(&value).map_err(serde::de::Error::custom)
    }
}
