//! Normalization of source column encodings into the column's schema type, driven by the
//! column's [`ColumnKind`] and, for Debezium with the JsonConverter schema, the field's semantic
//! type name.
//!
//! | column kind | accepted besides the schema type | how |
//! |---|---|---|
//! | `date-time` | integer epoch | unit from the Debezium semantic type (`io.debezium.time.Timestamp` ms, `MicroTimestamp` µs, `NanoTimestamp` ns, `org.apache.kafka.connect.data.Timestamp` ms, `…Date` days); without a schema from configuration or by magnitude ([`EpochUnit`]) |
//! | `date-time` | string without `T`, without zone, or with a short offset (`2024-07-29 01:09:25.366257`, `…+00`) | zone-less values are UTC |
//! | `date` | integer | days since 1970-01-01 (`io.debezium.time.Date`) |
//! | `date` | timestamp string at midnight | its date |
//! | `integer` | number in decimal or scientific notation (DMS writes big integers as `1.2345678901234567E17`), numeric string, Debezium binary `Decimal` / `VariableScaleDecimal` | exact only: a fraction is an error |
//! | `number` | numeric string, Debezium binary `Decimal` / `VariableScaleDecimal` | |
//! | `decimal` | number, numeric string, Debezium binary `Decimal` (needs the schema's scale) / `VariableScaleDecimal` | rescaled to the column's scale without rounding |
//! | `boolean` | `0` / `1`, `"true"` / `"false"` / `"t"` / `"f"` | |
//! | `object` / `array` | a string holding JSON (`io.debezium.data.Json`, DMS JSON columns) | parsed |
//!
//! A value that cannot be normalized is an error naming the reason (never the value): the
//! record is dead-lettered as `VALIDATION_ERROR`, never published with a silently wrong value.

use super::decimal::Decimal;
use super::object::json_type;
use super::{epoch_to_datetime, FieldHint, SourceFormat};
use crate::config::EpochUnit;
use base64::Engine;
use cdc_models::{ColumnKind, FieldMeta};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// What normalization knows besides the value.
#[derive(Clone, Copy, Debug)]
pub struct Context<'h> {
    /// The record's format.
    pub format: SourceFormat,
    /// Unit of integer timestamps without a semantic type.
    pub epoch_unit: EpochUnit,
    /// The column's decimal scale (from its schema pattern), for `decimal` columns.
    pub decimal_scale: Option<u32>,
    /// The Debezium schema's declaration of the field.
    pub hint: Option<&'h FieldHint>,
}

/// Normalizes one column value. `Ok(None)`: use the value as it is.
pub fn normalize(
    field: &FieldMeta,
    raw: &RawValue,
    ctx: &Context<'_>,
) -> Result<Option<Box<RawValue>>, String> {
    let text = raw.get();
    let first = text.as_bytes().first().copied().unwrap_or(b'n');
    if text == "null" {
        return Ok(None);
    }
    let is_number = first == b'-' || first.is_ascii_digit();
    let semantic = ctx.hint.and_then(|h| h.name.as_deref());
    match field.kind {
        ColumnKind::DateTime => {
            if is_number {
                let v = parse_integer(text)?;
                let dt = match semantic {
                    Some(
                        "io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp",
                    ) => epoch_to_datetime(v, 1_000),
                    Some("io.debezium.time.MicroTimestamp") => epoch_to_datetime(v, 1_000_000),
                    Some("io.debezium.time.NanoTimestamp") => epoch_to_datetime(v, 1_000_000_000),
                    Some("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => {
                        days_to_date(v)?.and_hms_opt(0, 0, 0).map(|d| d.and_utc())
                    }
                    Some(other) if other.contains(".time.") || other.ends_with(".Time") => {
                        return Err(format!(
                            "a time of day ({}) cannot fill a timestamp column",
                            short_name(other)
                        ))
                    }
                    _ => epoch_by_unit(v, ctx.epoch_unit)?,
                }
                .ok_or("timestamp out of range")?;
                return Ok(Some(string_raw(&format_datetime(dt))));
            }
            if first == b'"' {
                let s = string_value(text)?;
                let dt = parse_datetime_lenient(&s).ok_or(
                    "not a timestamp (expected RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f][+HH[:MM]]`)",
                )?;
                return Ok(Some(string_raw(&format_datetime(dt))));
            }
            Err(format!("expected a timestamp, got {}", json_type(raw)))
        }
        ColumnKind::Date => {
            if is_number {
                match semantic {
                    None | Some("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => {
                    }
                    Some(other) => {
                        return Err(format!("{} cannot fill a date column", short_name(other)))
                    }
                }
                let d = days_to_date(parse_integer(text)?)?;
                return Ok(Some(string_raw(&d.format("%Y-%m-%d").to_string())));
            }
            if first == b'"' {
                let s = string_value(text)?;
                if NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_ok() {
                    return Ok(None);
                }
                let dt = parse_datetime_lenient(&s).ok_or("not a date (expected YYYY-MM-DD)")?;
                if dt.time() != chrono::NaiveTime::MIN {
                    return Err("a timestamp with a time of day cannot fill a date column".into());
                }
                return Ok(Some(string_raw(&dt.format("%Y-%m-%d").to_string())));
            }
            Err(format!("expected a date, got {}", json_type(raw)))
        }
        ColumnKind::Integer => {
            let dec = match first {
                b'"' => {
                    let s = string_value(text)?;
                    if is_binary_decimal(semantic) {
                        decode_binary_decimal(&s, ctx.hint.and_then(|h| h.scale))?
                    } else {
                        Decimal::parse(&s).ok_or("expected an integer, got a non-numeric string")?
                    }
                }
                b'{' => decode_variable_scale(text)?,
                _ if is_number => Decimal::parse(text).ok_or("not a number")?,
                _ => return Err(format!("expected an integer, got {}", json_type(raw))),
            };
            let v = dec.to_i64()?;
            Ok(Some(number_raw(&v.to_string())))
        }
        ColumnKind::Number => {
            let dec = match first {
                b'"' => {
                    let s = string_value(text)?;
                    if is_binary_decimal(semantic) {
                        decode_binary_decimal(&s, ctx.hint.and_then(|h| h.scale))?
                    } else {
                        Decimal::parse(&s).ok_or("expected a number, got a non-numeric string")?
                    }
                }
                b'{' => decode_variable_scale(text)?,
                _ if is_number => return Ok(None),
                _ => return Err(format!("expected a number, got {}", json_type(raw))),
            };
            let v: f64 = dec.to_plain_string().parse().map_err(|_| "not a number")?;
            if !v.is_finite() {
                return Err("number out of range of a double".into());
            }
            Ok(Some(number_raw(
                &serde_json::to_string(&v).map_err(|e| e.to_string())?,
            )))
        }
        ColumnKind::Decimal => {
            let dec = match first {
                b'"' => {
                    let s = string_value(text)?;
                    if is_binary_decimal(semantic) {
                        decode_binary_decimal(&s, ctx.hint.and_then(|h| h.scale))?
                    } else if let Some(d) = Decimal::parse(&s) {
                        d
                    } else if looks_like_base64(&s) && ctx.format == SourceFormat::Debezium {
                        return Err(
                            "binary-encoded decimal without the Debezium schema: its scale \
                                    is unknown (keep the JsonConverter schema or use \
                                    decimal.handling.mode=string)"
                                .into(),
                        );
                    } else {
                        return Err("not a decimal number".into());
                    }
                }
                b'{' => decode_variable_scale(text)?,
                _ if is_number => Decimal::parse(text).ok_or("not a number")?,
                _ => return Err(format!("expected a decimal, got {}", json_type(raw))),
            };
            let dec = match ctx.decimal_scale {
                Some(scale) => dec.rescale(scale)?,
                None => dec,
            };
            Ok(Some(string_raw(&dec.to_plain_string())))
        }
        ColumnKind::Boolean => match text {
            "true" | "false" => Ok(None),
            "0" | "\"false\"" | "\"f\"" => Ok(Some(bool_raw(false))),
            "1" | "\"true\"" | "\"t\"" => Ok(Some(bool_raw(true))),
            _ => Err(format!("expected a boolean, got {}", json_type(raw))),
        },
        ColumnKind::Object | ColumnKind::Array => {
            if first != b'"' {
                return Ok(None);
            }
            let s = string_value(text)?;
            let inner: Box<RawValue> = serde_json::from_str(&s)
                .map_err(|_| "a string that does not hold valid JSON".to_string())?;
            let wanted = if field.kind == ColumnKind::Object {
                '{'
            } else {
                '['
            };
            if !inner.get().starts_with(wanted) && inner.get() != "null" {
                return Err(format!(
                    "a string holding JSON {} where {} is expected",
                    json_type(&inner),
                    if wanted == '{' {
                        "an object"
                    } else {
                        "an array"
                    }
                ));
            }
            Ok(Some(inner))
        }
        _ => Ok(None),
    }
}

fn short_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Whether a Debezium schema's semantic type says the value is a binary (base64) decimal.
pub(crate) fn is_binary_decimal(semantic: Option<&str>) -> bool {
    semantic == Some("org.apache.kafka.connect.data.Decimal")
}

fn string_value(text: &str) -> Result<Cow<'_, str>, String> {
    serde_json::from_str::<Cow<'_, str>>(text).map_err(|_| "invalid string".to_string())
}

fn string_raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(serde_json::to_string(s).expect("strings serialize"))
        .expect("a JSON string is valid JSON")
}

fn number_raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).expect("formatted numbers are valid JSON")
}

fn bool_raw(b: bool) -> Box<RawValue> {
    RawValue::from_string(b.to_string()).expect("booleans are valid JSON")
}

fn parse_integer(text: &str) -> Result<i64, String> {
    Decimal::parse(text)
        .ok_or_else(|| "not a number".to_string())?
        .to_i64()
}

fn days_to_date(days: i64) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::TimeDelta::try_days(days)?))
        .ok_or_else(|| "date out of range".to_string())
}

fn epoch_by_unit(v: i64, unit: EpochUnit) -> Result<Option<DateTime<Utc>>, String> {
    let per_second = match unit {
        EpochUnit::Millis => 1_000,
        EpochUnit::Micros => 1_000_000,
        EpochUnit::Nanos => 1_000_000_000,
        EpochUnit::Auto => {
            let a = v.unsigned_abs();
            if a < 100_000_000_000 {
                return Err(
                    "an integer timestamp below 1e11 is ambiguous without the Debezium \
                            schema (set DEBEZIUM_EPOCH_UNIT or keep the JsonConverter schema)"
                        .into(),
                );
            } else if a < 100_000_000_000_000 {
                1_000
            } else if a < 100_000_000_000_000_000 {
                1_000_000
            } else {
                1_000_000_000
            }
        }
    };
    Ok(epoch_to_datetime(v, per_second))
}

/// RFC 3339 UTC with fractional seconds only when present.
pub fn format_datetime(dt: DateTime<Utc>) -> String {
    cdc_models::json::format_datetime(&dt)
}

/// Parses RFC 3339 and the common database layouts (space separator, no zone = UTC, `+HH`).
pub fn parse_datetime_lenient(s: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = cdc_models::json::parse_timestamp(s, cdc_models::json::Zone::UtcIfMissing) {
        return Some(t);
    }
    cdc_models::json::chrono_fallback(s).and_then(|t| cdc_models::json::check_fallback(s, t).ok())
}

fn looks_like_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len() & 3 == 0
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

fn decode_binary_decimal(s: &str, scale: Option<u32>) -> Result<Decimal, String> {
    let scale = scale.ok_or("binary decimal without `parameters.scale` in the schema")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| "binary decimal is not valid base64".to_string())?;
    Decimal::from_twos_complement(&bytes, i64::from(scale))
}

fn decode_variable_scale(text: &str) -> Result<Decimal, String> {
    #[derive(serde::Deserialize)]
    struct Vsd {
        scale: i64,
        value: String,
    }
    let v: Vsd = serde_json::from_str(text).map_err(|_| {
        "an object where a number is expected (only Debezium VariableScaleDecimal {scale, value} \
         is accepted)"
            .to_string()
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.value.as_bytes())
        .map_err(|_| "VariableScaleDecimal value is not valid base64".to_string())?;
    Decimal::from_twos_complement(&bytes, v.scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdc_models::RedactPolicy;

    fn field(kind: ColumnKind) -> FieldMeta {
        FieldMeta {
            name: "c",
            kind,
            nullable: true,
            key: false,
            policy: None::<RedactPolicy>,
            constraints: cdc_models::Constraints::NONE,
        }
    }

    fn ctx(hint: Option<&FieldHint>, scale: Option<u32>) -> Context<'_> {
        Context {
            format: SourceFormat::Debezium,
            epoch_unit: EpochUnit::Auto,
            decimal_scale: scale,
            hint,
        }
    }

    fn hint(name: &str, scale: Option<u32>) -> FieldHint {
        FieldHint {
            field: "c".into(),
            connect_type: "x".into(),
            name: Some(name.into()),
            scale,
        }
    }

    fn norm(kind: ColumnKind, text: &str, c: &Context<'_>) -> Result<Option<String>, String> {
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        normalize(&field(kind), &raw, c).map(|o| o.map(|r| r.get().to_string()))
    }

    #[test]
    fn decimals() {
        assert_eq!(
            Decimal::parse("1.00000161E8").unwrap().to_i64(),
            Ok(100000161)
        );
        assert!(Decimal::parse("1.5").unwrap().to_i64().is_err());
        assert!(Decimal::parse("1e30").unwrap().to_i64().is_err());
        assert_eq!(
            Decimal::parse("-0.5")
                .unwrap()
                .rescale(2)
                .unwrap()
                .to_plain_string(),
            "-0.50"
        );
        assert_eq!(
            Decimal::parse("48")
                .unwrap()
                .rescale(2)
                .unwrap()
                .to_plain_string(),
            "48.00"
        );
        assert!(Decimal::parse("1.234").unwrap().rescale(2).is_err());
        assert_eq!(
            Decimal::parse("1.230")
                .unwrap()
                .rescale(2)
                .unwrap()
                .to_plain_string(),
            "1.23"
        );
        // 0x01E240 = 123456; scale 2 → 1234.56. 0xFE1DC0 = -123456.
        let d = Decimal::from_twos_complement(&[0x01, 0xE2, 0x40], 2).unwrap();
        assert_eq!(d.to_plain_string(), "1234.56");
        let d = Decimal::from_twos_complement(&[0xFE, 0x1D, 0xC0], 2).unwrap();
        assert_eq!(d.to_plain_string(), "-1234.56");
        assert!(Decimal::parse("abc").is_none());
        assert!(Decimal::parse("1.2.3").is_none());
    }

    #[test]
    fn debezium_semantic_types() {
        let micro = hint("io.debezium.time.MicroTimestamp", None);
        assert_eq!(
            norm(
                ColumnKind::DateTime,
                "1465491411815000",
                &ctx(Some(&micro), None)
            )
            .unwrap(),
            Some("\"2016-06-09T16:56:51.815Z\"".into())
        );
        let milli = hint("io.debezium.time.Timestamp", None);
        assert_eq!(
            norm(
                ColumnKind::DateTime,
                "1465491411815",
                &ctx(Some(&milli), None)
            )
            .unwrap(),
            Some("\"2016-06-09T16:56:51.815Z\"".into())
        );
        let date = hint("io.debezium.time.Date", None);
        assert_eq!(
            norm(ColumnKind::Date, "19737", &ctx(Some(&date), None)).unwrap(),
            Some("\"2024-01-15\"".into())
        );
        let dec = hint("org.apache.kafka.connect.data.Decimal", Some(2));
        // base64 of 0x01E240 (123456)
        assert_eq!(
            norm(ColumnKind::Decimal, "\"AeJA\"", &ctx(Some(&dec), Some(2))).unwrap(),
            Some("\"1234.56\"".into())
        );
        let micro_time = hint("io.debezium.time.MicroTime", None);
        assert!(norm(ColumnKind::DateTime, "1000", &ctx(Some(&micro_time), None)).is_err());
    }

    #[test]
    fn without_schema() {
        let c = ctx(None, Some(2));
        assert_eq!(
            norm(ColumnKind::DateTime, "1465491411815000", &c).unwrap(),
            Some("\"2016-06-09T16:56:51.815Z\"".into())
        );
        assert!(norm(ColumnKind::DateTime, "86400", &c)
            .unwrap_err()
            .contains("ambiguous"));
        assert_eq!(
            norm(ColumnKind::DateTime, "\"2024-07-29 01:09:25.366257\"", &c).unwrap(),
            Some("\"2024-07-29T01:09:25.366257Z\"".into())
        );
        assert_eq!(
            norm(ColumnKind::DateTime, "\"2024-07-29 03:09:25+02\"", &c).unwrap(),
            Some("\"2024-07-29T01:09:25Z\"".into())
        );
        let err = norm(ColumnKind::Decimal, "\"AeJA\"", &c).unwrap_err();
        assert!(err.contains("scale is unknown"), "{err}");
        assert_eq!(
            norm(ColumnKind::Decimal, "12.5", &c).unwrap(),
            Some("\"12.50\"".into())
        );
        assert_eq!(
            norm(ColumnKind::Integer, "1.2345678901234567E17", &c).unwrap(),
            Some("123456789012345670".into())
        );
        assert!(norm(ColumnKind::Integer, "1.5", &c).is_err());
        assert!(norm(ColumnKind::Integer, "99999999999999999999", &c).is_err());
        assert_eq!(
            norm(ColumnKind::Object, r#""{\"foo\": \"bar\"}""#, &c).unwrap(),
            Some(r#"{"foo": "bar"}"#.into())
        );
        assert!(norm(ColumnKind::Object, r#""[1]""#, &c).is_err());
        assert_eq!(
            norm(ColumnKind::Boolean, "1", &c).unwrap(),
            Some("true".into())
        );
        assert!(norm(ColumnKind::Boolean, "2", &c).is_err());
        assert_eq!(
            norm(ColumnKind::Integer, r#"{"scale": 0, "value": "AeJA"}"#, &c).unwrap(),
            Some("123456".into())
        );
    }

    #[test]
    fn reasons_never_quote_values() {
        let c = ctx(None, Some(2));
        for (kind, text) in [
            (ColumnKind::DateTime, "\"secret-ts\""),
            (ColumnKind::Decimal, "\"secret-dec\""),
            (ColumnKind::Integer, "\"secret-int\""),
            (ColumnKind::Object, "\"secret-json\""),
        ] {
            let err = norm(kind, text, &c).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
