//! Raw change records for the local mode: JSON lines, one change record per line.

use crate::sequence::SequenceNumber;

/// One raw change record, with a synthetic pointer (stream, shard, sequence = line number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawInput {
    /// Synthetic stream name (e.g. `file:events/users.jsonl`); part of the checkpoint key.
    pub stream: String,
    /// Synthetic shard id.
    pub shard: String,
    /// Synthetic sequence number (the line number).
    pub sequence: SequenceNumber,
    /// The record's bytes.
    pub data: Vec<u8>,
}

/// The shard id given to raw records.
pub const LOCAL_SHARD: &str = "local-0";

impl RawInput {
    /// Splits JSON lines into records; blank lines are not records. Sequence numbers are the
    /// 1-based line numbers, so they stay stable when the file is processed again.
    pub fn from_json_lines(stream: &str, text: &[u8]) -> Vec<RawInput> {
        text.split(|&b| b == b'\n')
            .enumerate()
            .filter_map(|(i, line)| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                Some(RawInput {
                    stream: stream.to_string(),
                    shard: LOCAL_SHARD.to_string(),
                    sequence: (i as u64 + 1)
                        .to_string()
                        .parse()
                        .expect("a line number is a sequence number"),
                    data: line.to_vec(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let r = RawInput::from_json_lines("s", b"{\"a\":1}\r\n\n  \n{\"b\":2}");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].data, b"{\"a\":1}");
        assert_eq!(r[1].sequence.as_str(), "4");
    }
}
