//! The EventBridge envelope and the three input forms.

use crate::change::{parse_detail, Change};
use crate::detail::{null_as_default, DETAIL_TYPE};
use crate::error::{self, deserialize_at, Error, ErrorKind, JsonPath, JsonType};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The EventBridge envelope around a detail, as a Lambda target or an SQS queue (rule target)
/// receives it.
///
/// Emulators may leave out `account` (moto does for SQS targets), so it is optional, as are
/// `version`, `region` and `resources`.
///
/// ```
/// use consumer_sdk::Event;
/// let lines = std::fs::read_to_string(concat!(
///     env!("CARGO_MANIFEST_DIR"), "/examples/wallboard-events.jsonl")).unwrap();
/// let event = Event::from_json(lines.lines().next().unwrap()).unwrap();
/// let envelope = event.envelope.unwrap();
/// assert_eq!(envelope.detail_type, consumer_sdk::DETAIL_TYPE);
/// assert_eq!(envelope.source, "cdc-pipeline");
/// assert_eq!(envelope.account.as_deref(), Some("123456789012"));
/// assert_eq!(envelope.replay_name, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Envelope {
    /// EventBridge's envelope version, `"0"` (not the detail's schema version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// EventBridge's id of this delivery. A new id for every `PutEvents`, so **not** a dedupe
    /// key: use [`Event::dedupe_key`].
    pub id: String,
    /// `CDC.TableChange`.
    pub detail_type: String,
    /// The publisher's source (`cdc-pipeline` by default).
    pub source: String,
    /// The AWS account of the bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The event's time (the change's source timestamp).
    pub time: DateTime<Utc>,
    /// The AWS region of the bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Resource ARNs (the pipeline sets none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<String>,
    /// Set by EventBridge on events re-sent by an archive replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_name: Option<String>,
}

/// A received event: the envelope, when there was one, and the typed change.
///
/// ```
/// use consumer_sdk::Event;
/// let body = r#"{"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
///   "detail-type": "CDC.TableChange", "source": "cdc-pipeline",
///   "time": "2026-11-25T10:38:52Z", "region": "us-east-1", "resources": [],
///   "detail": {"version": "1.0", "eventId": "9f2c4e0b7a1d5e3f8c6b2a4d1e0f9c8b",
///     "eventType": "agent_state.changed", "table": "agent_states", "operation": "DELETE",
///     "timestamp": "2026-11-25T10:38:52Z",
///     "before": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000"}, "beforeImage": "partial",
///     "after": null, "afterImage": null,
///     "keys": {"agent_id": "7f3e2d1c-0b9a-4877-a665-544332211000"}, "redactions": {},
///     "metadata": {"sourceFormat": "dms", "snapshot": false}}}"#;
/// let event = Event::from_sqs_body(body).unwrap(); // an SQS body has no `account` here
/// assert_eq!(event.dedupe_key(), "9f2c4e0b7a1d5e3f8c6b2a4d1e0f9c8b");
/// assert!(!event.is_replay());
/// assert_eq!(event.envelope.as_ref().unwrap().source, "cdc-pipeline");
/// assert_eq!(event.change.table_name(), "agent_states");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The EventBridge envelope; `None` when a bare detail was parsed.
    pub envelope: Option<Envelope>,
    /// The change the detail describes.
    pub change: Change,
}

impl Event {
    /// Parses any of the three forms a consumer receives: the envelope delivered to a Lambda
    /// target, the SQS body a rule target delivers (the same envelope, `account` possibly
    /// missing), or a bare detail (an input transformer's `$.detail`). An object with a `detail`
    /// key is an envelope.
    pub fn from_json(json: &str) -> Result<Event, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| error::syntax(&e))?;
        Event::from_value(&value)
    }

    /// Parses bytes; see [`Event::from_json`].
    pub fn from_slice(json: &[u8]) -> Result<Event, Error> {
        let value: Value = serde_json::from_slice(json).map_err(|e| error::syntax(&e))?;
        Event::from_value(&value)
    }

    /// Parses a JSON value; see [`Event::from_json`].
    pub fn from_value(value: &Value) -> Result<Event, Error> {
        match value.as_object() {
            Some(obj) if obj.contains_key("detail") => Event::from_envelope_value(value),
            Some(_) => Ok(Event {
                envelope: None,
                change: parse_detail(value, &JsonPath::root())?,
            }),
            None => Err(Error::new(
                "$",
                ErrorKind::WrongType {
                    expected: "an object (an EventBridge event or a CDC.TableChange detail)".into(),
                    found: JsonType::of(value),
                },
            )),
        }
    }

    /// Parses the body of an SQS message from a queue that is an EventBridge rule target; see
    /// [`Event::from_json`] (a rule with an input transformer may deliver a bare detail).
    pub fn from_sqs_body(body: &str) -> Result<Event, Error> {
        Event::from_json(body)
    }

    /// Parses an EventBridge envelope (a Lambda target's payload); the envelope is required.
    ///
    /// ```
    /// use consumer_sdk::{Event, ErrorKind};
    /// let err = Event::from_envelope_json(r#"{"id": "1", "source": "aws.ec2",
    ///   "detail-type": "EC2 Instance State-change Notification",
    ///   "time": "2026-11-25T10:38:52Z", "detail": {}}"#).unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::NotATableChange { .. }));
    /// assert_eq!(err.path(), r#"$["detail-type"]"#);
    /// ```
    pub fn from_envelope_json(json: &str) -> Result<Event, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| error::syntax(&e))?;
        Event::from_envelope_value(&value)
    }

    /// Parses an EventBridge envelope already parsed as JSON; see [`Event::from_envelope_json`].
    pub fn from_envelope_value(value: &Value) -> Result<Event, Error> {
        let root = JsonPath::root();
        let Some(obj) = value.as_object() else {
            return Err(Error::new(
                "$",
                ErrorKind::WrongType {
                    expected: "an object (an EventBridge event)".into(),
                    found: JsonType::of(value),
                },
            ));
        };
        let envelope: Envelope = deserialize_at(value, &root, None)?;
        check_detail_type(&envelope.detail_type)?;
        let Some(detail) = obj.get("detail") else {
            return Err(Error::new(
                "$",
                ErrorKind::MissingField {
                    field: "detail".into(),
                },
            ));
        };
        let change = parse_detail(detail, &root.key("detail"))?;
        Ok(Event {
            envelope: Some(envelope),
            change,
        })
    }

    /// The key to deduplicate on: the detail's `eventId`; see [`Change::dedupe_key`].
    pub fn dedupe_key(&self) -> &str {
        self.change.dedupe_key()
    }

    /// Whether EventBridge re-sent this event from an archive (`replay-name` is set).
    ///
    /// ```
    /// use consumer_sdk::Event;
    /// let json = r#"{"version": "0", "id": "1", "detail-type": "CDC.TableChange",
    ///   "source": "cdc-pipeline", "account": "123456789012", "time": "2026-11-25T10:38:52Z",
    ///   "region": "eu-west-1", "resources": [], "replay-name": "backfill-wallboards",
    ///   "detail": {"version": "1.0", "eventId": "e1", "eventType": "team.changed",
    ///     "table": "teams", "operation": "TRUNCATE", "timestamp": "2026-11-25T10:38:52Z",
    ///     "before": null, "after": null, "beforeImage": null, "afterImage": null,
    ///     "keys": {}, "redactions": {}, "metadata": {"sourceFormat": "debezium"}}}"#;
    /// let event = Event::from_json(json).unwrap();
    /// assert!(event.is_replay());
    /// assert_eq!(event.replay_name(), Some("backfill-wallboards"));
    /// ```
    pub fn is_replay(&self) -> bool {
        self.replay_name().is_some()
    }

    /// The archive replay's name, when EventBridge replayed this event.
    pub fn replay_name(&self) -> Option<&str> {
        self.envelope.as_ref()?.replay_name.as_deref()
    }
}

pub(crate) fn check_detail_type(detail_type: &str) -> Result<(), Error> {
    if detail_type != DETAIL_TYPE {
        return Err(Error::new(
            JsonPath::root().key("detail-type").to_string(),
            ErrorKind::NotATableChange {
                found: detail_type.to_string(),
            },
        ));
    }
    Ok(())
}
