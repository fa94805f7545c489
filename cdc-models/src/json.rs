//! Fast JSON codecs for the hot path: the writers the generated `write_json` methods call, and a
//! timestamp parser for the common RFC 3339 layout.
//!
//! Every writer produces exactly the bytes `serde_json` produces for the same value through the
//! types' `Serialize` impls (tests compare them), only without going through `core::fmt`:
//! a UUID or a timestamp is formatted into a stack buffer and copied, a string without characters
//! to escape is copied as it is, column names arrive pre-escaped from the generator.
//!
//! [`parse_timestamp`] reads the layout sources actually send (`2024-01-15T10:30:00.123456Z`,
//! `+02:00` offsets, a space instead of `T`) directly and returns `None` for anything else, so
//! callers fall back to `chrono`: it never accepts a string `chrono` rejects, and agrees with it
//! on every string it accepts (tested against `chrono` over generated inputs).

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use serde::Serialize;

/// Writes `s` as a JSON string (quoted, escaped like `serde_json`).
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
    }
}

/// Whether `s` has a character JSON strings escape (`"`, `\\`, control characters).
///
/// Without an early exit, so the compiler vectorizes it: strings written here are short, and
/// nearly all need no escaping.
#[inline]
pub fn needs_escape(s: &str) -> bool {
    needs_escape_bytes(s.as_bytes())
}

/// [`needs_escape`] over the bytes of a text (for text held as bytes, without checking it is
/// UTF-8 first).
#[inline]
pub fn needs_escape_bytes(s: &[u8]) -> bool {
    s.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Writes an integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes `true` or `false`.
#[inline]
pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// Writes a UUID as a quoted, lower-case, hyphenated string (as `uuid`'s `Serialize` does).
#[inline]
pub fn write_uuid(out: &mut Vec<u8>, v: &uuid::Uuid) {
    let mut buf = [b'"'; 38];
    v.hyphenated().encode_lower(&mut buf[1..37]);
    out.extend_from_slice(&buf);
}

/// Writes a timestamp as a quoted RFC 3339 string, as `chrono`'s `Serialize` does
/// (`to_rfc3339_opts(SecondsFormat::AutoSi, true)`: `Z`, fractional digits only when needed, in
/// groups of 3).
#[inline]
pub fn write_datetime(out: &mut Vec<u8>, v: &DateTime<Utc>) {
    let mut buf = [0u8; 32];
    match format_into(v, &mut buf) {
        Some(n) => {
            out.push(b'"');
            out.extend_from_slice(&buf[..n]);
            out.push(b'"');
        }
        None => write_str(out, &v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

/// Writes a date as a quoted `YYYY-MM-DD` string (as `chrono`'s `Serialize` does).
#[inline]
pub fn write_date(out: &mut Vec<u8>, v: &NaiveDate) {
    let year = v.year();
    if !(0..=9999).contains(&year) {
        return write_str(out, &v.to_string());
    }
    let y = year as u32;
    let mut buf = [b'"', 0, 0, 0, 0, b'-', 0, 0, b'-', 0, 0, b'"'];
    two(&mut buf, 1, y / 100);
    two(&mut buf, 3, y % 100);
    two(&mut buf, 6, v.month());
    two(&mut buf, 9, v.day());
    out.extend_from_slice(&buf);
}

/// The timestamp as `chrono`'s `to_rfc3339_opts(SecondsFormat::AutoSi, true)` formats it.
pub fn format_datetime(v: &DateTime<Utc>) -> String {
    let mut buf = [0u8; 32];
    match format_into(v, &mut buf) {
        Some(n) => std::str::from_utf8(&buf[..n])
            .expect("ASCII digits and separators")
            .to_string(),
        None => v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    }
}

/// [`format_datetime`] into the caller's buffer, without allocating; `None` for the instants
/// only `chrono` formats (years outside 0–9999, leap seconds): call [`format_datetime`] for those.
pub fn format_datetime_in<'b>(v: &DateTime<Utc>, buf: &'b mut [u8; 32]) -> Option<&'b str> {
    let n = format_into(v, buf)?;
    Some(std::str::from_utf8(&buf[..n]).expect("ASCII digits and separators"))
}

/// Writes `v` (0–99) as two ASCII digits at `buf[at..at + 2]`.
#[inline]
fn two(buf: &mut [u8], at: usize, v: u32) {
    buf[at] = b'0' + (v / 10) as u8;
    buf[at + 1] = b'0' + (v % 10) as u8;
}

/// Formats years 0–9999 without leap seconds; `None` for the rest (left to `chrono`).
///
/// Reads the fields of the naive UTC date and time: `DateTime<Utc>`'s own accessors each add
/// the (zero) offset again, a date computation per field (≈ 5 % of a narrow DMS record's typed
/// path in the `ratio` profile, docs/benchmarks.md).
#[inline]
fn format_into(v: &DateTime<Utc>, buf: &mut [u8; 32]) -> Option<usize> {
    let v = v.naive_utc();
    let year = v.year();
    let nanos = v.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let y = year as u32;
    two(buf, 0, y / 100);
    two(buf, 2, y % 100);
    buf[4] = b'-';
    two(buf, 5, v.month());
    buf[7] = b'-';
    two(buf, 8, v.day());
    buf[10] = b'T';
    two(buf, 11, v.hour());
    buf[13] = b':';
    two(buf, 14, v.minute());
    buf[16] = b':';
    two(buf, 17, v.second());
    let mut n = 19;
    let (digits, mut frac) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (3, nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        (6, nanos / 1_000)
    } else {
        (9, nanos)
    };
    if digits > 0 {
        buf[n] = b'.';
        for i in (0..digits).rev() {
            buf[n + 1 + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        n += 1 + digits;
    }
    buf[n] = b'Z';
    Some(n + 1)
}

/// Writes any serializable value with `serde_json` (the fallback for types without a writer).
#[inline]
pub fn write_serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> serde_json::Result<()> {
    serde_json::to_writer(out, v)
}

/// A column value type with a fast writer, for the generated `write_json` methods (other types are
/// written with [`write_serde`]).
pub trait WriteJson {
    /// Writes `value` as JSON: the same bytes as `serde_json::to_writer`.
    fn write_json(out: &mut Vec<u8>, value: &Self) -> serde_json::Result<()>;
}

macro_rules! write_json_impls {
    ($( $ty:ty => |$out:ident, $v:ident| $body:expr; )*) => {
        $( impl WriteJson for $ty {
            #[inline]
            fn write_json($out: &mut Vec<u8>, $v: &Self) -> serde_json::Result<()> {
                $body;
                Ok(())
            }
        } )*
    };
}

write_json_impls! {
    String => |out, v| write_str(out, v);
    i64 => |out, v| write_i64(out, *v);
    u64 => |out, v| write_u64(out, *v);
    std::num::NonZeroU64 => |out, v| write_u64(out, v.get());
    bool => |out, v| write_bool(out, *v);
    uuid::Uuid => |out, v| write_uuid(out, v);
    DateTime<Utc> => |out, v| write_datetime(out, v);
    NaiveDate => |out, v| write_date(out, v);
}

/// Writes one member of an image: nothing for an absent column, `"key":null` for `NULL`, the key
/// and `write`'s output for a value.
#[inline]
pub fn write_column<T>(
    out: &mut Vec<u8>,
    first: &mut bool,
    key: &[u8],
    column: &crate::Column<T>,
    write: impl FnOnce(&mut Vec<u8>, &T) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    match column {
        crate::Column::Absent => Ok(()),
        crate::Column::Null => {
            write_key(out, first, key);
            out.extend_from_slice(b"null");
            Ok(())
        }
        crate::Column::Value(v) => {
            write_key(out, first, key);
            write(out, v)
        }
    }
}

/// Writes an object member's key (given pre-escaped, with its quotes and the colon), preceded by a
/// comma unless it is the first member.
#[inline]
pub fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &[u8]) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(key);
}

/// Whether a timestamp without a zone is accepted by [`parse_timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// A zone (`Z` or `±HH:MM`) is required, as RFC 3339 requires.
    Required,
    /// A missing zone means UTC, and `±HH` / `±HHMM` offsets are read too (database layouts such
    /// as AWS DMS's `2024-07-29 01:09:25.366257`).
    UtcIfMissing,
}

/// Parses `YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}](Z|z|±HH:MM)` (and, with [`Zone::UtcIfMissing`], the
/// same without a zone or with a short offset). `None` for anything else, including strings that
/// `chrono` may still accept (leap seconds, more than 9 fractional digits): callers fall back to
/// `chrono` then.
pub fn parse_timestamp(s: &str, zone: Zone) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    fn digits(b: &[u8]) -> Option<u32> {
        let mut v = 0u32;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        Some(v)
    }
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if second > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let n = end - start;
        if n == 0 || (n > 9 && b[start + 9..end].iter().any(|&c| c != b'0')) {
            return None;
        }
        let n = n.min(9);
        nanos = digits(&b[start..start + n])? * 10u32.pow((9 - n) as u32);
        i = end;
    }
    // The database layouts (no zone, short offsets) are read with an upper-case `T` or a space.
    let database_layout = zone == Zone::UtcIfMissing && b[10] != b't';
    let offset_seconds: i32 = match &b[i..] {
        [] if database_layout => 0,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2, m1, m2] if database_layout => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2] if database_layout => (digits(&[*h1, *h2])?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let v = (h * 3600 + m * 60) as i32;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let naive = date.and_time(time);
    // Most timestamps are in UTC already: no date arithmetic for them.
    if offset_seconds == 0 {
        return Some(naive.and_utc());
    }
    Some((naive - chrono::TimeDelta::seconds(offset_seconds as i64)).and_utc()).filter(publishable)
}

/// Whether an instant can be written as an RFC 3339 UTC timestamp: its year **in UTC** is
/// 0000–9999 (`9999-12-31T23:30:00-01:00` is in year 10000 in UTC, so it is not).
pub fn publishable(t: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&t.naive_utc().year())
}

/// Whether the fraction of seconds of a timestamp text (`YYYY-MM-DD?HH:MM:SS.f…`) is exact in
/// nanoseconds: at most 9 digits, or only zeros beyond the 9th. Readers that would cut the extra
/// digits (`chrono`) are asked this first, so that no timestamp is silently truncated.
pub fn fraction_is_exact(s: &str) -> bool {
    let b = s.as_bytes();
    if b.get(19) != Some(&b'.') {
        return true;
    }
    let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
    digits <= 9 || b[29..20 + digits].iter().all(|&c| c == b'0')
}

/// The timestamp layouts [`parse_timestamp`] does not read, through `chrono`: RFC 3339 as chrono
/// reads it, and `YYYY-MM-DD[ T]HH:MM:SS[.f]` with an offset or without one (UTC). What the
/// processor accepted with chrono alone before [`parse_timestamp`] existed; [`check_fallback`]
/// must pass what it reads before it is used.
pub fn chrono_fallback(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, layout) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, layout) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Checks what `chrono` read (the fallback for layouts [`parse_timestamp`] does not take): the
/// fraction is exact and the instant is publishable. The error names the rule, never the value.
pub fn check_fallback(s: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, &'static str> {
    if !fraction_is_exact(s) {
        Err("more than nanosecond precision (the extra digits would be cut)")
    } else if !publishable(&t) {
        Err("outside the years 0000-9999 in UTC (not an RFC 3339 timestamp)")
    } else {
        Ok(t)
    }
}

/// `serde(deserialize_with)` for timestamp columns of generated images: the same values and
/// errors as `chrono`'s `Deserialize` for `DateTime<Utc>`, with the common layout read by
/// [`parse_timestamp`].
pub fn deserialize_datetime_column<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<crate::Column<DateTime<Utc>>, D::Error> {
    struct Timestamp;
    impl serde::de::Visitor<'_> for Timestamp {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 formatted date and time string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if let Some(t) = parse_timestamp(s, Zone::Required) {
                return Ok(t);
            }
            let t = s
                .parse::<DateTime<chrono::FixedOffset>>()
                .map(|t| t.with_timezone(&Utc))
                .map_err(E::custom)?;
            check_fallback(s, t).map_err(E::custom)
        }
    }
    impl ColumnValue<'_> for Timestamp {}
    deserializer.deserialize_option(NullableColumn {
        inner: Timestamp,
        expecting: "an RFC 3339 timestamp or null",
    })
}

/// How a column type with its own reader reads a present value (by default as a string).
trait ColumnValue<'de>: serde::de::Visitor<'de> {
    fn read<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

/// The visitor of a nullable image column whose values `inner` reads: `null` is
/// [`crate::Column::Null`], anything else `inner`'s.
struct NullableColumn<V> {
    inner: V,
    expecting: &'static str,
}

impl<'de, V: ColumnValue<'de>> serde::de::Visitor<'de> for NullableColumn<V> {
    type Value = crate::Column<V::Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(crate::Column::Null)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(crate::Column::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.read(d).map(crate::Column::Value)
    }
    // Deserializers that are not JSON may hand the value over directly.
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        self.inner.visit_str(s).map(crate::Column::Value)
    }
}

/// `serde(deserialize_with)` for UUID columns of generated images: the same values and errors as
/// `uuid`'s `Deserialize` for `Uuid` (a string in any of its forms, bytes, or a sequence of 16
/// bytes), through `uuid`'s own parser.
pub fn deserialize_uuid_column<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<crate::Column<uuid::Uuid>, D::Error> {
    /// `uuid`'s visitor for human-readable formats.
    struct Readable;
    impl<'de> serde::de::Visitor<'de> for Readable {
        type Value = uuid::Uuid;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a formatted UUID string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            s.parse()
                .map_err(|e| E::custom(format_args!("UUID parsing failed: {e}")))
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            uuid::Uuid::from_slice(v)
                .map_err(|e| E::custom(format_args!("UUID parsing failed: {e}")))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    impl<'de> ColumnValue<'de> for Readable {
        fn read<D: serde::Deserializer<'de>>(self, d: D) -> Result<uuid::Uuid, D::Error> {
            if d.is_human_readable() {
                d.deserialize_str(self)
            } else {
                serde::Deserialize::deserialize(d)
            }
        }
    }
    deserializer.deserialize_option(NullableColumn {
        inner: Readable,
        expecting: "a UUID string or null",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn serde_of<T: Serialize>(v: &T) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn writers_match_serde_json() {
        for s in [
            "",
            "plain",
            "quote\"d",
            "back\\slash",
            "tab\t",
            "\u{1}",
            "é ✓ /",
            "\u{7f}",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_of(&s), "{s:?}");
        }
        for v in [0i64, -1, i64::MIN, i64::MAX, 42] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(out, serde_of(&v));
        }
        for d in [
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(0, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(10000, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(-5, 12, 31).unwrap(),
        ] {
            let mut out = Vec::new();
            write_date(&mut out, &d);
            assert_eq!(out, serde_of(&d), "{d}");
        }
        let u = uuid::Uuid::parse_str("A1B2C3D4-0000-4000-8000-00000000000F").unwrap();
        let mut out = Vec::new();
        write_uuid(&mut out, &u);
        assert_eq!(out, serde_of(&u));
    }

    #[test]
    fn timestamps_match_chrono() {
        let base = Utc.with_ymd_and_hms(2026, 11, 25, 10, 14, 31).unwrap();
        let mut cases = vec![
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
        ];
        for nanos in [
            0,
            1,
            10,
            999,
            1_000,
            120_000,
            366_257_000,
            120_000_000,
            999_999_999,
        ] {
            cases.push(base + chrono::TimeDelta::nanoseconds(nanos));
        }
        // A leap second.
        cases.push(
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        );
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let secs = (seed % 253_402_300_799) as i64;
            let nanos = match seed % 4 {
                0 => 0,
                1 => (seed >> 20) as u32 % 1000 * 1_000_000,
                2 => (seed >> 20) as u32 % 1_000_000 * 1_000,
                _ => (seed >> 20) as u32 % 1_000_000_000,
            };
            cases.push(DateTime::from_timestamp(secs, nanos).unwrap());
        }
        for t in cases {
            let mut out = Vec::new();
            write_datetime(&mut out, &t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(serde_of(&t)).unwrap()
            );
            let text = format_datetime(&t);
            assert_eq!(text, t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
            let mut buf = [0u8; 32];
            if let Some(in_buf) = format_datetime_in(&t, &mut buf) {
                assert_eq!(in_buf, text);
            }
            if (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000 {
                assert_eq!(parse_timestamp(&text, Zone::Required), Some(t), "{text}");
            }
        }
    }

    /// Every string the fast parser accepts, chrono accepts with the same instant; the layouts
    /// sources send are accepted.
    #[test]
    fn parser_agrees_with_chrono() {
        let parts = [
            ["2024", "1999", "0000", "9999", "2024x", "24"].as_slice(),
            ["-"].as_slice(),
            ["01", "02", "12", "13", "00", "1"].as_slice(),
            ["-"].as_slice(),
            ["01", "28", "29", "30", "31", "00"].as_slice(),
            ["T", "t", " ", "_"].as_slice(),
            ["00", "10", "23", "24"].as_slice(),
            [":"].as_slice(),
            ["00", "30", "59", "60"].as_slice(),
            [":"].as_slice(),
            ["00", "31", "59", "60", "5"].as_slice(),
            [
                "",
                ".",
                ".1",
                ".123",
                ".366257",
                ".123456789",
                ".1234567891",
                ".12a",
            ]
            .as_slice(),
            [
                "", "Z", "z", "+02:00", "-05:30", "+0200", "+02", "+24:00", "+02:60", "UTC", "Zx",
            ]
            .as_slice(),
        ];
        let mut combos: Vec<String> = vec![String::new()];
        for options in parts {
            combos = combos
                .iter()
                .flat_map(|c| options.iter().map(move |o| format!("{c}{o}")))
                .collect();
            if combos.len() > 400_000 {
                // Keep it quick: sample every 7th combination beyond this size.
                combos = combos.into_iter().step_by(7).collect();
            }
        }
        let mut accepted = 0;
        for s in &combos {
            let chrono_strict = s.parse::<DateTime<chrono::FixedOffset>>().ok();
            if let Some(t) = parse_timestamp(s, Zone::Required) {
                accepted += 1;
                assert_eq!(Some(t), chrono_strict.map(|c| c.with_timezone(&Utc)), "{s}");
            }
            if let Some(t) = parse_timestamp(s, Zone::UtcIfMissing) {
                assert_eq!(Some(t), chrono_fallback(s), "{s}");
            }
        }
        assert!(accepted > 1000, "{accepted}");
        for s in [
            "2024-01-15T10:30:00Z",
            "2024-01-15T10:30:00.123456Z",
            "2024-01-15 10:30:00+02:00",
            "2024-01-15t10:30:00.1-05:30",
        ] {
            assert!(parse_timestamp(s, Zone::Required).is_some(), "{s}");
        }
        for s in [
            "2024-07-29 01:09:25.366257",
            "2024-07-29 01:09:25+00",
            "2024-07-29T01:09:25-0130",
        ] {
            assert!(parse_timestamp(s, Zone::UtcIfMissing).is_some(), "{s}");
            assert!(parse_timestamp(s, Zone::Required).is_none(), "{s}");
        }
    }

    #[test]
    fn column_deserializer_matches_chrono() {
        let read = |s: &str| -> Result<crate::Column<DateTime<Utc>>, String> {
            let mut de = serde_json::Deserializer::from_str(s);
            deserialize_datetime_column(&mut de).map_err(|e| e.to_string())
        };
        assert_eq!(read("null").unwrap(), crate::Column::Null);
        for s in [
            "\"2024-01-15T10:30:00Z\"",
            "\"2024-01-15T12:30:00.5+02:00\"",
            "\"2016-12-31T23:59:60Z\"",
            "\"2024-01-15T10:30:00.1234567890Z\"",
        ] {
            let expected: DateTime<Utc> = serde_json::from_str(s).unwrap();
            assert_eq!(read(s).unwrap(), crate::Column::Value(expected), "{s}");
        }
        // Unlike `chrono`, never cut digits beyond nanoseconds, nor publish years past 9999 in
        // UTC (issue 22): both are errors that name the rule.
        for s in [
            "\"2024-01-15T10:30:00.1234567891Z\"",
            "\"2016-12-31T23:59:60.1234567891Z\"",
            "\"9999-12-31T23:30:00-01:00\"",
            "\"0000-01-01T00:30:00+01:00\"",
        ] {
            let e = read(s).unwrap_err();
            assert!(
                e.contains("precision") || e.contains("0000-9999"),
                "{s}: {e}"
            );
        }
        assert!(parse_timestamp("9999-12-31T23:30:00+01:00", Zone::Required).is_some());
        let direct: Result<crate::Column<DateTime<Utc>>, serde::de::value::Error> =
            deserialize_datetime_column(serde::de::value::StringDeserializer::new(
                "2024-01-15T10:30:00Z".to_string(),
            ));
        assert_eq!(
            direct.unwrap(),
            crate::Column::Value(Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap())
        );
        // Integers are not instants, however large: a timestamp column reads text only (no
        // deserializer, JSON or other, hands it an instant as a number).
        let number: Result<crate::Column<DateTime<Utc>>, serde::de::value::Error> =
            deserialize_datetime_column(serde::de::value::I128Deserializer::new(
                1_705_314_600_000_000_000,
            ));
        assert!(number.is_err());
        for s in [
            "\"2024-01-15 10:30:00\"",
            "\"yesterday\"",
            "5",
            "{}",
            "1705314600000000000",
            "170531460000000000000000000000",
        ] {
            assert!(read(s).is_err(), "{s}");
            assert!(serde_json::from_str::<DateTime<Utc>>(s).is_err(), "{s}");
        }
    }

    #[test]
    fn uuid_column_deserializer_matches_uuid() {
        let ours = |s: &str| -> Result<crate::Column<uuid::Uuid>, String> {
            let mut de = serde_json::Deserializer::from_str(s);
            deserialize_uuid_column(&mut de).map_err(|e| e.to_string())
        };
        let theirs = |s: &str| -> Result<crate::Column<uuid::Uuid>, String> {
            serde_json::from_str(s).map_err(|e| e.to_string())
        };
        for s in [
            "null",
            "\"67e55044-10b1-426f-9247-bb680e5fe0c8\"",
            "\"67E55044-10B1-426F-9247-BB680E5FE0C8\"",
            "\"67e5504410b1426f9247bb680e5fe0c8\"",
            "\"{67e55044-10b1-426f-9247-bb680e5fe0c8}\"",
            "\"urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8\"",
            "\"67e55044-10b1-426f-9247-bb680e5fe0cg\"",
            "\"67e55044_10b1-426f-9247-bb680e5fe0c8\"",
            "\"67e55044-10b1-426f-9247-bb680e5fe0c\"",
            "\"67e55044-10b1-426f-9247-bb680e5fe0\\u0063\"",
            "\"\"",
            "[103,229,80,68,16,177,66,111,146,71,187,104,14,95,224,200]",
            "[1,2,3]",
            "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]",
            "5",
            "true",
            "{}",
        ] {
            assert_eq!(ours(s), theirs(s), "{s}");
        }
        let direct: Result<crate::Column<uuid::Uuid>, serde::de::value::Error> =
            deserialize_uuid_column(serde::de::value::StrDeserializer::new(
                "67e55044-10b1-426f-9247-bb680e5fe0c8",
            ));
        assert_eq!(
            direct.unwrap(),
            crate::Column::Value(uuid::uuid!("67e55044-10b1-426f-9247-bb680e5fe0c8"))
        );
    }
}
