//! Redis Cluster facts: hash slots (CRC16 with hash tags) and the primaries listed by
//! `CLUSTER NODES`. Every primary is scanned with its own cursor and keys are deleted on the
//! node that returned them, grouped by slot so multi-key commands never hit `CROSSSLOT`.

use std::ops::RangeInclusive;

/// Number of hash slots.
pub const SLOTS: u16 = 16384;

/// CRC16/XMODEM, as Redis Cluster uses it.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of a key: only the part inside the first non-empty `{...}` counts.
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter()
            .position(|&b| b == b'}')
            .filter(|&close| close > 0)
            .map(|close| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

/// One primary from `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary {
    /// Node id.
    pub id: String,
    /// Host (IP as announced).
    pub host: String,
    /// Client port.
    pub port: u16,
    /// The slot ranges it serves.
    pub slots: Vec<RangeInclusive<u16>>,
}

impl Primary {
    /// True when the node serves `slot`.
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|r| r.contains(&slot))
    }
}

/// Parses `CLUSTER NODES` output into the healthy primaries that serve slots.
pub fn parse_primaries(text: &str) -> Result<Vec<Primary>, String> {
    let mut primaries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return Err(format!("unexpected CLUSTER NODES line {line:?}"));
        }
        let flags: Vec<&str> = fields[2].split(',').collect();
        if !flags.contains(&"master")
            || flags
                .iter()
                .any(|f| matches!(*f, "fail" | "fail?" | "noaddr" | "handshake"))
        {
            continue;
        }
        // ip:port@cport[,hostname]
        let addr = fields[1].split(['@', ',']).next().unwrap_or_default();
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("bad node address {addr:?}"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("bad node port in {addr:?}"))?;
        let mut slots = Vec::new();
        for range in &fields[8..] {
            if range.starts_with('[') {
                continue; // a slot being migrated/imported
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b) = (a.parse::<u16>(), b.parse::<u16>());
            if let (Ok(a), Ok(b)) = (a, b) {
                slots.push(a..=b);
            }
        }
        if slots.is_empty() {
            continue;
        }
        primaries.push(Primary {
            id: fields[0].to_string(),
            host: host.to_string(),
            port,
            slots,
        });
    }
    if primaries.is_empty() {
        return Err("CLUSTER NODES lists no healthy primary serving slots".into());
    }
    primaries.sort_by(|a, b| a.slots[0].start().cmp(b.slots[0].start()));
    Ok(primaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_redis_cluster_spec() {
        // Values from the Redis Cluster specification / CLUSTER KEYSLOT.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(
            slot(b"foo{}{bar}"),
            slot(b"foo{}{bar}"),
            "empty tag hashes the whole key"
        );
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
    }

    #[test]
    fn parses_primaries_and_skips_replicas() {
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
";
        let p = parse_primaries(text).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].host.as_str(), p[0].port), ("127.0.0.1", 30001));
        assert!(p[0].owns(0) && p[0].owns(5460) && !p[0].owns(5461));
        assert!(p[2].owns(16383));
        assert!(parse_primaries("garbage").is_err());
    }
}
