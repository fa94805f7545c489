//! Hexadecimal text, eight digits at a time: UUIDs in their hyphenated form (read and written for
//! every UUID column of every image) and the processor's event ids.
//!
//! Each group of eight digits is handled as one `u64` with bit operations on all eight bytes at
//! once (SWAR) instead of a table lookup per digit, which is what the `uuid` crate's parser and
//! formatter do. The results are the same: [`parse_hyphenated`] accepts exactly the 36-character
//! strings `uuid::Uuid::parse_str` accepts (either case) and returns the same UUID, and the
//! writers produce what `uuid`'s `Hyphenated::encode_lower` and `hex::encode` produce; tests
//! compare them over generated inputs.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Per byte of `x` (every byte below 0x80), 0x80 where the byte is at least `lo`, else 0.
#[inline(always)]
const fn at_least(x: u64, lo: u8) -> u64 {
    x.wrapping_add((0x80 - lo as u64) * ONES) & HIGH
}

/// Eight ASCII hex digits, the first in the lowest byte of `x`, as four bytes (the first digit
/// the high nibble of the first byte), or `None` if any byte is not a hex digit.
#[inline(always)]
const fn decode8(x: u64) -> Option<[u8; 4]> {
    if x & HIGH != 0 {
        return None;
    }
    let digit = at_least(x, b'0') & !at_least(x, b'9' + 1);
    // Setting bit 5 maps `A`-`F` onto `a`-`f` (digits already have it; a control character that
    // it maps onto a digit was rejected above, since only `digit` looks at the original byte).
    let lower = x | (0x20 * ONES);
    let letter = at_least(lower, b'a') & !at_least(lower, b'f' + 1);
    if digit | letter != HIGH {
        return None;
    }
    // The low nibble is the value of a digit; a letter's is one less than its value minus 9.
    let nibbles = (x & (0x0F * ONES)) + (letter >> 7) * 9;
    // Pair the nibbles into bytes (in bytes 0, 2, 4, 6), then pack those into the low four.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00FF_00FF_00FF_00FF;
    let packed = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF;
    Some(((packed | (packed >> 16)) as u32).to_le_bytes())
}

/// Four bytes as eight lower-case hex digits.
#[inline(always)]
const fn encode4(bytes: [u8; 4]) -> [u8; 8] {
    // Spread the bytes into every other byte, then put each byte's high nibble before its low one.
    let mut x = u32::from_le_bytes(bytes) as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    let nibbles = ((x >> 4) & (0x0F * ONES)) | ((x & (0x0F * ONES)) << 8);
    // `0`-`9` for 0-9; 10-15 are 39 further on, at `a`-`f`.
    let over_nine = (nibbles.wrapping_add(0x76 * ONES) & HIGH) >> 7;
    (nibbles + 0x30 * ONES + over_nine * 39).to_le_bytes()
}

#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn load4(b: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(word))
}

/// A UUID in the hyphenated form (`67e55044-10b1-426f-9247-bb680e5fe0c8`, either case), or `None`
/// for any other text: callers fall back to `uuid::Uuid::parse_str`, which also reads the other
/// forms and says what is wrong.
#[inline]
pub fn parse_hyphenated(s: &str) -> Option<uuid::Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // The 8-4-4-4-12 groups as four runs of eight digits.
    let runs = [
        load8(b, 0),
        load4(b, 9) | (load4(b, 14) << 32),
        load4(b, 19) | (load4(b, 24) << 32),
        load8(b, 28),
    ];
    let mut out = [0u8; 16];
    for (chunk, run) in out.chunks_exact_mut(4).zip(runs) {
        chunk.copy_from_slice(&decode8(run)?);
    }
    Some(uuid::Uuid::from_bytes(out))
}

/// A UUID in the hyphenated, lower-case form (as `uuid`'s `Display` and `Serialize` write it).
#[inline]
pub fn format_hyphenated(v: &uuid::Uuid) -> [u8; 36] {
    let bytes = v.as_bytes();
    let mut groups = [[0u8; 8]; 4];
    for (group, chunk) in groups.iter_mut().zip(bytes.chunks_exact(4)) {
        *group = encode4([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let [a, b, c, d] = groups;
    let mut out = [b'-'; 36];
    out[0..8].copy_from_slice(&a);
    out[9..13].copy_from_slice(&b[..4]);
    out[14..18].copy_from_slice(&b[4..]);
    out[19..23].copy_from_slice(&c[..4]);
    out[24..28].copy_from_slice(&c[4..]);
    out[28..36].copy_from_slice(&d);
    out
}

/// Sixteen bytes as 32 lower-case hex digits (as `hex::encode`).
#[inline]
pub fn encode16(bytes: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (digits, chunk) in out.chunks_exact_mut(8).zip(bytes.chunks_exact(4)) {
        digits.copy_from_slice(&encode4([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hyphenated(bytes: [u8; 16]) -> String {
        uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
    }

    #[test]
    fn every_ascii_byte_in_every_position() {
        let base = b"0123abcd-ef01-4567-89AB-CDEFabcdef09";
        for at in 0..36 {
            for byte in 0u8..0x80 {
                let mut text = *base;
                text[at] = byte;
                let text = std::str::from_utf8(&text).expect("ASCII");
                assert_eq!(
                    parse_hyphenated(text),
                    uuid::Uuid::parse_str(text).ok(),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn other_forms_and_lengths_are_left_to_uuid() {
        for text in [
            "",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c8 ",
            "67e55044-10b1-426f-9247-bb680e5fe0é",
        ] {
            assert_eq!(parse_hyphenated(text), None, "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Round trip against `uuid`'s formatter and parser, in both cases.
        #[test]
        fn agrees_with_uuid(bytes in any::<[u8; 16]>(), upper in any::<bool>()) {
            let v = uuid::Uuid::from_bytes(bytes);
            let text = hyphenated(bytes);
            let written = format_hyphenated(&v);
            prop_assert_eq!(std::str::from_utf8(&written).unwrap(), text.as_str());
            let text = if upper { text.to_ascii_uppercase() } else { text };
            prop_assert_eq!(parse_hyphenated(&text), Some(v));
        }

        /// Damaged UUIDs (any characters in any places): the same verdict and value as `uuid`.
        #[test]
        fn damaged_text_agrees_with_uuid(
            bytes in any::<[u8; 16]>(),
            damage in proptest::collection::vec((0usize..36, any::<char>()), 1..4),
        ) {
            let mut chars: Vec<char> = hyphenated(bytes).chars().collect();
            for (at, c) in damage {
                chars[at] = c;
            }
            let text: String = chars.into_iter().collect();
            prop_assert_eq!(parse_hyphenated(&text), uuid::Uuid::parse_str(&text).ok(), "{:?}", text);
        }

        #[test]
        fn encode16_agrees_with_hex(bytes in any::<[u8; 16]>()) {
            let written = encode16(&bytes);
            prop_assert_eq!(std::str::from_utf8(&written).unwrap(), hex::encode(bytes));
        }
    }
}
