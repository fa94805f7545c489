//! [`ShortStr`]: the text a record's pointer, change and outcome carry (stream ARN, shard id,
//! sequence number, transaction id), held inline when short so that copying it per record costs
//! neither an allocation nor an atomic operation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The longest text held inline, in bytes: a real sequence number (56 digits), a shard id
/// (`shardId-` and 12 digits) and a stream ARN of a name up to 22 characters long fit.
pub const INLINE_CAPACITY: usize = 62;

/// An immutable string, held inline up to [`INLINE_CAPACITY`] bytes and shared (`Arc<str>`)
/// beyond. Cloning never allocates; a short one is a copy of 64 bytes, without the atomic
/// increment (and, when dropped, decrement) a shared string costs.
///
/// Every record of a batch carries its stream, shard and sequence number in its
/// [`crate::decode::RecordPointer`] and its [`crate::pipeline::RecordOutcome`]: as shared
/// strings those were ten atomic operations per record (docs/benchmarks.md).
///
/// It compares, orders and hashes as the `str` it holds, and serializes as it.
///
/// ```
/// use cdc_processor::text::ShortStr;
/// let shard = ShortStr::from("shardId-000000000000");
/// assert_eq!(shard, "shardId-000000000000");
/// assert_eq!(shard.len(), 20);
/// let long = ShortStr::from("x".repeat(100).as_str());
/// assert_eq!(long.clone(), long);
/// ```
#[derive(Clone)]
pub struct ShortStr(Repr);

#[derive(Clone)]
enum Repr {
    /// `bytes[..len]` is the text (a whole `str`, copied; so valid UTF-8).
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
    Shared(Arc<str>),
}

impl ShortStr {
    /// The text.
    pub fn new(s: &str) -> Self {
        if s.len() <= INLINE_CAPACITY {
            let mut bytes = [0; INLINE_CAPACITY];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            ShortStr(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            ShortStr(Repr::Shared(Arc::from(s)))
        }
    }

    /// The text as bytes (without the UTF-8 check [`Self::as_str`] makes).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(s) => s.as_bytes(),
        }
    }

    /// The text's length in bytes (without the UTF-8 check [`Self::as_str`] makes).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Valid by construction; checked again because this crate has no `unsafe` (ASCII,
            // as these texts are, is checked a word at a time).
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("an inline text is a copy of a whole str"),
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for ShortStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ShortStr {
    fn from(s: &str) -> Self {
        ShortStr::new(s)
    }
}

impl From<String> for ShortStr {
    fn from(s: String) -> Self {
        ShortStr::new(&s)
    }
}

impl From<ShortStr> for String {
    fn from(s: ShortStr) -> String {
        s.as_str().to_owned()
    }
}

impl PartialEq for ShortStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ShortStr {}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<ShortStr> for str {
    fn eq(&self, other: &ShortStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<ShortStr> for &str {
    fn eq(&self, other: &ShortStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Ord for ShortStr {
    fn cmp(&self, other: &Self) -> Ordering {
        // Byte order is `str`'s order.
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for ShortStr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for ShortStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, which `Borrow<str>` requires.
        self.as_str().hash(state)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for ShortStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ShortStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ShortStr::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn holds_every_length_and_behaves_as_its_str() {
        let texts: Vec<String> = (0..=INLINE_CAPACITY + 2)
            .map(|n| "é9".chars().cycle().take(n).collect())
            .chain(["", "shardId-000000000000", "\u{1F600}"].map(String::from))
            .collect();
        for a in &texts {
            let s = ShortStr::from(a.as_str());
            assert_eq!(s.as_str(), a);
            assert_eq!(s.as_bytes(), a.as_bytes());
            assert_eq!((s.len(), s.is_empty()), (a.len(), a.is_empty()));
            assert_eq!(s.clone(), s);
            assert_eq!(s, *a.as_str());
            assert_eq!(hash_of(&s), hash_of(a.as_str()));
            assert_eq!(format!("{s}"), *a);
            assert_eq!(format!("{s:?}"), format!("{a:?}"));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                serde_json::to_string(a).unwrap()
            );
            let back: ShortStr = serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap();
            assert_eq!(back, s);
            assert_eq!(String::from(s.clone()), *a);
            for b in &texts {
                let t = ShortStr::from(b.as_str());
                assert_eq!(s.cmp(&t), a.as_str().cmp(b.as_str()), "{a:?} vs {b:?}");
                assert_eq!(s == t, a == b);
            }
        }
    }

    #[test]
    fn short_texts_are_inline_and_long_ones_shared() {
        let inline = ShortStr::from("9".repeat(INLINE_CAPACITY));
        assert!(matches!(inline.0, Repr::Inline { .. }));
        let shared = ShortStr::from("9".repeat(INLINE_CAPACITY + 1));
        assert!(matches!(shared.0, Repr::Shared(_)));
        assert_eq!(std::mem::size_of::<ShortStr>(), 64);
    }
}
