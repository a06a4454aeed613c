//! Reading back a classic pcap file (what `tcpdump -w` writes), to say what was captured and to
//! prove a capture is valid: magic number, link type, packet records.

/// What a pcap stream holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Link-layer type (1 Ethernet, 113 Linux SLL, 276 Linux SLL2 — Wireshark ≥ 3.4).
    pub link_type: u32,
    /// Complete packet records.
    pub packets: u64,
    /// Nanosecond timestamps (magic a1b23c4d) rather than microseconds.
    pub nanos: bool,
    /// Bytes after the last complete record (a capture cut short).
    pub trailing: usize,
}

/// Parses a pcap stream; `None` when the global header is missing or the magic is wrong.
pub fn summarize(data: &[u8]) -> Option<Summary> {
    if data.len() < 24 {
        return None;
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return None,
    };
    let u32_at = |off: usize| {
        let b = [data[off], data[off + 1], data[off + 2], data[off + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link_type = u32_at(20);
    let mut off = 24;
    let mut packets = 0;
    while off + 16 <= data.len() {
        let incl = u32_at(off + 8) as usize;
        if off + 16 + incl > data.len() {
            break;
        }
        off += 16 + incl;
        packets += 1;
    }
    Some(Summary {
        link_type,
        packets,
        nanos,
        trailing: data.len() - off,
    })
}

/// A name for a link type.
pub fn link_name(link_type: u32) -> &'static str {
    match link_type {
        1 => "Ethernet",
        113 => "Linux cooked (SLL)",
        276 => "Linux cooked v2 (SLL2; needs Wireshark >= 3.4)",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(link: u32) -> Vec<u8> {
        let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        h.extend([0u8; 8]);
        h.extend(65535u32.to_le_bytes());
        h.extend(link.to_le_bytes());
        h
    }

    fn record(len: u32) -> Vec<u8> {
        let mut r = vec![0u8; 8];
        r.extend(len.to_le_bytes());
        r.extend(len.to_le_bytes());
        r.extend(vec![0xab; len as usize]);
        r
    }

    #[test]
    fn counts_records() {
        let mut data = header(276);
        data.extend(record(60));
        data.extend(record(1500));
        let s = summarize(&data).unwrap();
        assert_eq!((s.link_type, s.packets, s.trailing), (276, 2, 0));
    }

    #[test]
    fn cut_short_and_garbage() {
        let mut data = header(1);
        data.extend(&record(60)[..30]);
        assert_eq!(summarize(&data).unwrap().packets, 0);
        assert_eq!(summarize(&data).unwrap().trailing, 30);
        assert!(summarize(b"not a pcap file at all, no").is_none());
    }
}
