//! An exact decimal (`digits × 10^-scale`, any number of digits, as PostgreSQL's `NUMERIC`
//! holds): parsed from decimal or scientific notation or from Debezium's two's-complement bytes,
//! rescaled without rounding, and written as a plain decimal or an `i64`. Normalization
//! ([`super::normalize`]) uses it for Debezium and DMS decimals.
//!
//! Kept rather than `bigdecimal`, which would cover NUMERIC's range too (arbitrary precision):
//! normalization needs only these four operations, exact and bounded (a scale beyond what
//! NUMERIC allows is an error, not a string of a billion zeros), and `bigdecimal` would bring
//! `num-bigint`, `num-integer` and `num-traits` into the Lambda, whose binary is above its size
//! goal. It is fuzzed (`normalize_value`) and tested against hand-worked values.

/// An exact decimal: `digits × 10^-scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// Decimal digits without leading zeros (`"0"` for zero).
    digits: String,
    scale: i64,
}

impl Decimal {
    /// Parses a decimal literal with optional sign, fraction and exponent (`-1.25E3`).
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        if exponent.unsigned_abs() > 400 {
            return None;
        }
        let mut digits = String::with_capacity(int.len() + frac.len());
        digits.push_str(int);
        digits.push_str(frac);
        let scale = frac.len() as i64 - exponent;
        Some(Decimal::new(negative, digits, scale))
    }

    fn new(negative: bool, digits: String, scale: i64) -> Decimal {
        let trimmed = digits.trim_start_matches('0');
        let digits = if trimmed.is_empty() {
            "0".to_string()
        } else {
            trimmed.to_string()
        };
        let negative = negative && digits != "0";
        Decimal {
            negative,
            digits,
            scale,
        }
    }

    /// From a big-endian two's-complement unscaled value (Kafka Connect `Decimal`).
    pub fn from_twos_complement(bytes: &[u8], scale: i64) -> Result<Decimal, String> {
        if bytes.len() > 64 {
            return Err("binary decimal longer than 64 bytes".into());
        }
        // As for `parse`'s exponent: a scale is written out digit by digit (`to_plain_string`,
        // `rescale`), so an unbounded one from a record would allocate without bound.
        if scale.unsigned_abs() > 400 {
            return Err("decimal scale out of range (at most 400 either way)".into());
        }
        let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
        let magnitude: Vec<u8> = if negative {
            // Two's complement: invert and add one.
            let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
            for b in m.iter_mut().rev() {
                let (v, carry) = b.overflowing_add(1);
                *b = v;
                if !carry {
                    break;
                }
            }
            m
        } else {
            bytes.to_vec()
        };
        // Base-256 to base-10, little-endian decimal digits.
        let mut dec: Vec<u8> = vec![0];
        for &byte in &magnitude {
            let mut carry = u32::from(byte);
            for d in dec.iter_mut() {
                let v = u32::from(*d) * 256 + carry;
                *d = (v % 10) as u8;
                carry = v / 10;
            }
            while carry > 0 {
                dec.push((carry % 10) as u8);
                carry /= 10;
            }
        }
        let digits: String = dec.iter().rev().map(|d| char::from(b'0' + d)).collect();
        Ok(Decimal::new(negative, digits, scale))
    }

    /// The same value with exactly `scale` decimal places; an error when that would round.
    pub fn rescale(mut self, scale: u32) -> Result<Decimal, String> {
        let target = i64::from(scale);
        if self.scale < target {
            let pad = usize::try_from(target - self.scale).map_err(|_| "scale out of range")?;
            if self.digits != "0" {
                self.digits.extend(std::iter::repeat_n('0', pad));
            }
        } else if self.scale > target {
            let drop = usize::try_from(self.scale - target).map_err(|_| "scale out of range")?;
            let keep = self.digits.len().saturating_sub(drop);
            if self.digits[keep..].bytes().any(|b| b != b'0') {
                return Err(format!(
                    "has more than {scale} decimal places; rounding would change the value"
                ));
            }
            self.digits.truncate(keep);
            if self.digits.is_empty() {
                self.digits.push('0');
            }
        }
        self.scale = target;
        Ok(self)
    }

    /// The value as an integer, if it has no fraction and fits in `i64`.
    pub fn to_i64(&self) -> Result<i64, String> {
        let d = self
            .clone()
            .rescale(0)
            .map_err(|_| "has a fraction; expected an integer")?;
        let text = if d.negative {
            format!("-{}", d.digits)
        } else {
            d.digits
        };
        text.parse::<i64>()
            .map_err(|_| "integer out of range of a 64-bit integer".to_string())
    }

    /// Plain decimal notation (no exponent), with `scale` places when `scale > 0`.
    pub fn to_plain_string(&self) -> String {
        let mut out = String::new();
        if self.negative {
            out.push('-');
        }
        if self.scale <= 0 {
            out.push_str(&self.digits);
            if self.digits != "0" {
                out.extend(std::iter::repeat_n('0', self.scale.unsigned_abs() as usize));
            }
            return out;
        }
        let scale = self.scale as usize;
        if self.digits.len() <= scale {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - self.digits.len()));
            out.push_str(&self.digits);
        } else {
            let (i, f) = self.digits.split_at(self.digits.len() - scale);
            out.push_str(i);
            out.push('.');
            out.push_str(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_scale_is_rejected_not_written_out() {
        for scale in [3_333_333_333, -3_333_333_333, i64::MAX, i64::MIN] {
            assert!(
                Decimal::from_twos_complement(&[1], scale).is_err(),
                "{scale}"
            );
        }
        assert!(Decimal::from_twos_complement(&[1], 400).is_ok());
    }
}
