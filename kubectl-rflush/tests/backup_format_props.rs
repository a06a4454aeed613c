//! Property tests of the backup file ([`kubectl_rflush::backup_format`]): random records
//! round-trip byte for byte; a finished file cut anywhere is reported as truncated, an
//! unfinished one reads up to its last complete record; any flipped byte of a finished file
//! is an error (a checksum error inside the header JSON and the records); arbitrary bytes and
//! mutated files never panic, never loop, and fail with an error that says what is wrong.

use std::path::Path;

use anyhow::Result;
use kubectl_rflush::backup_format::{BackupReader, BackupWriter, Completeness, Header, Record};
use proptest::prelude::*;

fn header(pattern: String) -> Header {
    Header {
        format: "kubectl-rflush-backup".into(),
        redis_version: "7.0.15".into(),
        rdb_version: 10,
        pattern,
        source: "redis://127.0.0.1:6379".into(),
        created_at: "2026-12-03T00:00:00Z".into(),
        created_at_ms: 1_796_256_000_000,
        tool: "kubectl-rflush property test".into(),
    }
}

fn record() -> impl Strategy<Value = Record> {
    (
        prop::collection::vec(any::<u8>(), 0..48),
        prop_oneof![
            prop::sample::select(vec!["string", "list", "set", "zset", "hash", "stream"])
                .prop_map(String::from),
            "[a-z]{0,32}",
        ],
        prop::option::of(0..i64::MAX),
        prop::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(key, kind, expire_at_ms, payload)| Record {
            key,
            kind,
            expire_at_ms,
            payload,
        })
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(record(), 0..16)
}

/// The size of a record's frame: tag, length, body, CRC.
fn frame_len(r: &Record) -> usize {
    1 + 4 + (4 + r.key.len() + 1 + r.kind.len() + 8 + 4 + r.payload.len()) + 4
}

/// Writes `records` to a new file; finished (trailer, count) or left as an interrupted run.
fn write(dir: &Path, name: &str, h: &Header, records: &[Record], finish: bool) -> Vec<u8> {
    let path = dir.join(name);
    let mut w = BackupWriter::create(&path, h).unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    if finish {
        assert_eq!(w.finish().unwrap(), records.len() as u64);
    } else {
        w.sync().unwrap();
    }
    std::fs::read(&path).unwrap()
}

/// Reads every record of `bytes` (as a file), checking that the reader ends: each record
/// takes at least 9 bytes, so more records than that is a loop.
fn read_bytes(dir: &Path, bytes: &[u8]) -> Result<(Header, Vec<Record>, Completeness)> {
    let path = dir.join("read.rfb");
    std::fs::write(&path, bytes).unwrap();
    let mut reader = BackupReader::open(&path)?;
    let mut out = Vec::new();
    while let Some(r) = reader.next_record()? {
        out.push(r);
        assert!(
            out.len() <= bytes.len() / 9,
            "the reader returned {} records from {} bytes: it does not advance",
            out.len(),
            bytes.len()
        );
    }
    let completeness = reader
        .completeness
        .expect("the reader says how the file ended");
    Ok((reader.header.clone(), out, completeness))
}

/// An error that says what is wrong with the file, on one line.
fn assert_clean(e: &anyhow::Error) {
    const SAYS: &[&str] = &[
        "truncated",
        "too short",
        "magic",
        "version",
        "checksum",
        "implausible",
        "JSON",
        "UTF-8",
        "trailing",
        "tag",
        "trailer",
        "header says",
    ];
    let text = format!("{e:#}");
    assert!(!text.contains('\n'), "a multi-line error: {text}");
    assert!(
        SAYS.iter().any(|w| text.contains(w)),
        "an error that does not say what is wrong: {text}"
    );
}

/// Where in a finished file a byte is: the offsets of the header JSON and of every frame.
struct Layout {
    json: std::ops::Range<usize>,
    records_start: usize,
    frames: Vec<std::ops::Range<usize>>,
}

fn layout(bytes: &[u8], records: &[Record]) -> Layout {
    let json_len = u32::from_le_bytes(bytes[9..13].try_into().unwrap()) as usize;
    let records_start = 13 + json_len + 4 + 8;
    let mut frames = Vec::new();
    let mut at = records_start;
    for r in records {
        frames.push(at..at + frame_len(r));
        at += frame_len(r);
    }
    Layout {
        json: 13..13 + json_len,
        records_start,
        frames,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// N random records (binary keys, any expiry, any payload) read back identical.
    #[test]
    fn records_round_trip(records in records(), pattern in ".{0,24}", finish in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let h = header(pattern);
        let bytes = write(dir.path(), "b.rfb", &h, &records, finish);
        let (read_header, read, completeness) = read_bytes(dir.path(), &bytes).unwrap();
        prop_assert_eq!(read_header, h);
        prop_assert_eq!(read, records);
        let expected = if finish { Completeness::Complete } else { Completeness::Interrupted };
        prop_assert_eq!(completeness, expected);
    }

    /// A finished file cut anywhere is an error that says "truncated" (or "too short"): its
    /// header promised a count and a trailer.
    #[test]
    fn a_finished_file_cut_short_is_reported_truncated(records in records(), cut in any::<prop::sample::Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = write(dir.path(), "b.rfb", &header("k:*".into()), &records, true);
        let cut = cut.index(bytes.len());
        let e = read_bytes(dir.path(), &bytes[..cut]).expect_err("a cut finished file reads as an error");
        assert_clean(&e);
        let text = format!("{e:#}");
        prop_assert!(text.contains("truncated") || text.contains("too short"), "{}", text);
    }

    /// An interrupted run's file cut after its header reads as interrupted, holding exactly
    /// the records that were complete before the cut.
    #[test]
    fn an_unfinished_file_reads_up_to_its_last_complete_record(records in records(), cut in any::<prop::sample::Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = write(dir.path(), "b.rfb", &header("k:*".into()), &records, false);
        let start = layout(&bytes, &records).records_start;
        let cut = start + cut.index(bytes.len() - start + 1);
        let (_, read, completeness) = read_bytes(dir.path(), &bytes[..cut]).unwrap();
        let mut complete = 0;
        let mut end = start;
        for r in &records {
            end += frame_len(r);
            if end > cut { break; }
            complete += 1;
        }
        prop_assert_eq!(completeness, Completeness::Interrupted);
        prop_assert_eq!(&read[..], &records[..complete]);
    }

    /// Any changed byte of a finished file is an error; in the header JSON, a record's body or
    /// its CRC, it is a checksum error.
    #[test]
    fn a_flipped_byte_is_an_error(records in records(), at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = write(dir.path(), "b.rfb", &header("k:*".into()), &records, true);
        let l = layout(&bytes, &records);
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        let e = read_bytes(dir.path(), &bytes).expect_err("a changed byte is detected");
        assert_clean(&e);
        let in_checksummed_bytes = l.json.contains(&at)
            || (l.json.end..l.json.end + 4).contains(&at)
            || l.frames.iter().any(|f| (f.start + 5..f.end).contains(&at));
        if in_checksummed_bytes {
            let text = format!("{e:#}");
            prop_assert!(text.contains("checksum"), "byte {} changed: {}", at, text);
        }
    }

    /// Arbitrary bytes, with or without a valid magic and version in front: no panic, no
    /// loop, a clean error or records.
    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..1024), prefixed in any::<bool>()) {
        if prefixed {
            bytes.splice(0..0, b"RFLUSHBK\x01".iter().copied());
        }
        let dir = tempfile::tempdir().unwrap();
        if let Err(e) = read_bytes(dir.path(), &bytes) {
            assert_clean(&e);
        }
    }

    /// A valid file with several random edits (overwrites, inserted and removed runs, a cut):
    /// no panic, no loop, a clean error or records.
    #[test]
    fn mutated_files_never_panic(
        records in records(),
        finish in any::<bool>(),
        edits in prop::collection::vec((0u8..4, any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..8)), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = write(dir.path(), "b.rfb", &header("k:*".into()), &records, finish);
        for (op, at, data) in edits {
            let at = at.index(bytes.len() + 1);
            match op {
                0 => for (i, b) in data.iter().enumerate() {
                    if let Some(x) = bytes.get_mut(at + i) { *x = *b; }
                },
                1 => { bytes.splice(at..at, data); }
                2 => { bytes.drain(at..(at + data.len()).min(bytes.len())); }
                _ => bytes.truncate(at),
            }
        }
        if let Err(e) = read_bytes(dir.path(), &bytes) {
            assert_clean(&e);
        }
    }
}

#[test]
fn a_type_name_longer_than_its_length_byte_is_refused_not_written_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = BackupWriter::create(&dir.path().join("b.rfb"), &header("k:*".into())).unwrap();
    let long = Record {
        key: b"k".to_vec(),
        kind: "x".repeat(256),
        expire_at_ms: None,
        payload: vec![0; 12],
    };
    assert!(w.write(&long).is_err());
}

/// Resuming a finished backup (`append`) and stopping before `finish` leaves an interrupted
/// run's file: it reads up to its last record instead of failing as a truncated finished one.
#[test]
fn a_reopened_finished_file_left_unfinished_reads_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.rfb");
    let first: Vec<Record> = (0..5u8)
        .map(|i| Record {
            key: vec![b'k', i],
            kind: "string".into(),
            expire_at_ms: None,
            payload: vec![0, i, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        })
        .collect();
    write(dir.path(), "b.rfb", &header("k:*".into()), &first, true);
    let (mut w, _) = BackupWriter::append(&path).unwrap();
    w.write(&first[0]).unwrap();
    w.sync().unwrap();
    drop(w);
    let (_, read, completeness) = read_bytes(dir.path(), &std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(completeness, Completeness::Interrupted);
    assert_eq!(read.len(), 6);
}
