//! Redaction policies and the keyed pseudonymizer.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The value a `mask` policy writes (the seed's replacement string).
pub const MASK: &str = "[REDACTED]";

/// Prefix of a `hash` pseudonym.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// What redaction does to a column (`x-redact` in the schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
#[non_exhaustive]
pub enum RedactPolicy {
    /// Leave the column out of the event.
    Remove,
    /// Replace the value with [`MASK`].
    Mask,
    /// Replace the value with `hmac-sha256:<hex>`, a keyed pseudonym that is stable for one key, so
    /// consumers can join and count distinct values without seeing them.
    Hash,
    /// Replace all but the last `keep_last` characters with `*`.
    Partial {
        /// How many trailing characters stay readable.
        #[serde(rename = "keepLast")]
        keep_last: u8,
    },
}

impl RedactPolicy {
    /// Short name used in events' `redactions` map: `remove`, `mask`, `hash`, `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            RedactPolicy::Remove => "remove",
            RedactPolicy::Mask => "mask",
            RedactPolicy::Hash => "hash",
            RedactPolicy::Partial { .. } => "partial",
        }
    }
}

/// The shortest HMAC key a [`Redactor`] accepts: the SHA-256 output length (RFC 2104 strongly
/// discourages HMAC keys shorter than the hash output). The one rule for local runs and the
/// Lambdas alike.
pub const MIN_KEY_BYTES: usize = 32;

/// Errors building a [`Redactor`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactorError {
    /// The HMAC key is shorter than [`MIN_KEY_BYTES`].
    #[error("the redaction HMAC key must be at least {MIN_KEY_BYTES} bytes, got {0}")]
    KeyTooShort(usize),
}

/// Applies redaction policies to string values; holds the HMAC key given at run time.
///
/// ```
/// use cdc_models::{Redactor, RedactPolicy};
/// let r = Redactor::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
/// let mut phone = "+44 7700 900123".to_string();
/// r.apply_str(RedactPolicy::Partial { keep_last: 4 }, &mut phone);
/// assert_eq!(phone, "***********0123");
/// let mut email = "a@example.com".to_string();
/// r.apply_str(RedactPolicy::Hash, &mut email);
/// assert!(email.starts_with("hmac-sha256:"));
/// ```
#[derive(Clone)]
pub struct Redactor {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor { key: \"*** Sensitive Data Redacted ***\" }")
    }
}

impl Redactor {
    /// A redactor with this HMAC key (at least [`MIN_KEY_BYTES`] bytes).
    pub fn new(key: Vec<u8>) -> Result<Self, RedactorError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(RedactorError::KeyTooShort(key.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts keys of any length");
        Ok(Redactor { mac })
    }

    /// The keyed pseudonym of a value: `hmac-sha256:` and 64 hex digits.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(HASH_PREFIX.len() + 64);
        out.push_str(HASH_PREFIX);
        out.push_str(&hex::encode(digest));
        out
    }

    /// Applies a string policy in place. `Remove` is handled by the caller (it makes the column
    /// absent) and leaves the string untouched here.
    pub fn apply_str(&self, policy: RedactPolicy, value: &mut String) {
        match policy {
            RedactPolicy::Remove => {}
            RedactPolicy::Mask => {
                value.clear();
                value.push_str(MASK);
            }
            RedactPolicy::Hash => *value = self.pseudonym(value),
            RedactPolicy::Partial { keep_last } => {
                let n = value.chars().count();
                let keep = usize::from(keep_last);
                // A value no longer than what would be kept is hidden whole.
                let keep = if n <= keep { 0 } else { keep };
                let tail: String = value.chars().skip(n - keep).collect();
                value.clear();
                value.extend(std::iter::repeat_n('*', n - keep));
                value.push_str(&tail);
            }
        }
    }
}

/// The redactions applied to one image, in column order: what an event's `redactions` map says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactions(Vec<(&'static str, RedactPolicy)>);

impl Redactions {
    /// Records that `column` was redacted with `policy` (once per column).
    pub fn push(&mut self, column: &'static str, policy: RedactPolicy) {
        if !self.0.iter().any(|(c, _)| *c == column) {
            self.0.push((column, policy));
        }
    }

    /// The recorded redactions.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, RedactPolicy)> + '_ {
        self.0.iter().copied()
    }

    /// Whether nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of redacted columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Redactions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (column, policy) in &self.0 {
            map.serialize_entry(column, policy.as_str())?;
        }
        map.end()
    }
}

/// Wraps a sensitive value so `Debug` prints a marker instead of it (as smithy-rs does).
pub struct Sensitive<'a, T>(pub &'a T);

impl<T> std::fmt::Debug for Sensitive<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"*** Sensitive Data Redacted ***\"")
    }
}
