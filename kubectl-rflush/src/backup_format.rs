//! The backup file: binary-safe, self-describing, streamed, checksummed.
//!
//! ```text
//! "RFLUSHBK"  magic (8 bytes)
//! u8          format version (1)
//! u32 LE      header length, then the header as JSON (redis/RDB version, pattern, time...)
//! u32 LE      CRC32 of the header JSON
//! u64 LE      key count (written as u64::MAX while streaming, patched on finish)
//! records:    b'K' | u32 LE body length | body | u32 LE CRC32(body)
//!   body:     u32 key length | key | u8 type length | type | i64 expire-at (Unix ms, -1 none)
//!             | u32 payload length | DUMP payload
//! trailer:    b'E' | u32 LE 12 | u64 count | u32 CRC32 of all record frames | u32 CRC32(body)
//! ```
//!
//! Every record carries its own checksum, so an interrupted file (no trailer) is still
//! readable up to its last complete record, and a resumed flush appends to it. Expiry is
//! stored as an absolute time and restored with `RESTORE ... ABSTTL`, so a restore later does
//! not extend the keys' lives.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The file magic.
pub const MAGIC: &[u8; 8] = b"RFLUSHBK";
/// The format version written.
pub const FORMAT_VERSION: u8 = 1;
const COUNT_UNKNOWN: u64 = u64::MAX;
/// Refuse absurd lengths from a corrupt file instead of allocating them.
const MAX_FRAME: u32 = 1 << 30;

/// The self-describing header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always `kubectl-rflush-backup`.
    pub format: String,
    /// Redis version of the source server.
    pub redis_version: String,
    /// RDB version of the source's DUMP payloads.
    pub rdb_version: u16,
    /// The SCAN pattern the keys matched.
    pub pattern: String,
    /// Where the keys came from (address or pod).
    pub source: String,
    /// When the backup started, RFC 3339.
    pub created_at: String,
    /// When the backup started, Unix milliseconds.
    pub created_at_ms: i64,
    /// The tool and version that wrote it.
    pub tool: String,
}

/// One key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key, as bytes.
    pub key: Vec<u8>,
    /// Its Redis type (`string`, `hash`, ...).
    pub kind: String,
    /// Absolute expiry in Unix milliseconds, or None for no expiry.
    pub expire_at_ms: Option<i64>,
    /// The `DUMP` payload.
    pub payload: Vec<u8>,
}

impl Record {
    /// The RDB version in the payload's footer (2 bytes LE before the CRC64).
    pub fn rdb_version(&self) -> Option<u16> {
        rdb_version_of(&self.payload)
    }

    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.key.len() + self.payload.len() + 32);
        body.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        body.extend_from_slice(&self.key);
        body.push(self.kind.len() as u8);
        body.extend_from_slice(self.kind.as_bytes());
        body.extend_from_slice(&self.expire_at_ms.unwrap_or(-1).to_le_bytes());
        body.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        body.extend_from_slice(&self.payload);
        body
    }

    fn decode(body: &[u8]) -> Result<Self> {
        let mut r = body;
        let key_len = take_u32(&mut r)? as usize;
        let key = take_vec(&mut r, key_len)?;
        let kind_len = take(&mut r, 1)?[0] as usize;
        let kind =
            String::from_utf8(take_vec(&mut r, kind_len)?).context("record type is not UTF-8")?;
        let expire = i64::from_le_bytes(take(&mut r, 8)?.try_into().expect("8 bytes"));
        let payload_len = take_u32(&mut r)? as usize;
        let payload = take_vec(&mut r, payload_len)?;
        if !r.is_empty() {
            bail!("record has {} trailing bytes", r.len());
        }
        Ok(Record {
            key,
            kind,
            expire_at_ms: (expire >= 0).then_some(expire),
            payload,
        })
    }
}

/// The RDB version in a DUMP payload's footer.
pub fn rdb_version_of(payload: &[u8]) -> Option<u16> {
    let n = payload.len();
    (n >= 10).then(|| u16::from_le_bytes([payload[n - 10], payload[n - 9]]))
}

/// The Redis type (as `TYPE` names it) of a DUMP payload, read from its first byte, the RDB
/// object type (`RDB_TYPE_*` in Redis' `src/rdb.h`). Saves a `TYPE` round trip per key.
pub fn kind_of_payload(payload: &[u8]) -> &'static str {
    match payload.first() {
        Some(0) => "string",
        Some(1 | 10 | 14 | 18) => "list",
        Some(2 | 11 | 20) => "set",
        Some(3 | 5 | 12 | 17) => "zset",
        Some(4 | 9 | 13 | 16 | 22..=25) => "hash",
        Some(15 | 19 | 21) => "stream",
        Some(6 | 7) => "module",
        _ => "unknown",
    }
}

/// The RDB version a Redis release writes (from `src/rdb.h` of each release).
pub fn rdb_version_for(redis_version: &str) -> u16 {
    let mut parts = redis_version
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    match (major, minor) {
        (0..=3, _) => 7,
        (4, _) => 8,
        (5 | 6, _) => 9,
        (7, 0 | 1) => 10,
        (7, 2 | 3) => 11,
        _ => 12,
    }
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if r.len() < n {
        bail!("record is truncated");
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Ok(head)
}

fn take_vec(r: &mut &[u8], n: usize) -> Result<Vec<u8>> {
    Ok(take(r, n)?.to_vec())
}

fn take_u32(r: &mut &[u8]) -> Result<u32> {
    Ok(u32::from_le_bytes(take(r, 4)?.try_into().expect("4 bytes")))
}

/// Streams records to a file; [`BackupWriter::sync`] makes them durable.
pub struct BackupWriter {
    path: PathBuf,
    out: BufWriter<File>,
    count_offset: u64,
    count: u64,
    digest: crc32fast::Hasher,
}

impl BackupWriter {
    /// Creates `path` (mode 0600, refusing to overwrite) and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create backup directory {}", dir.display()))?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(path)
            .with_context(|| format!("create backup file {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let json = serde_json::to_vec(header)?;
        out.write_all(MAGIC)?;
        out.write_all(&[FORMAT_VERSION])?;
        out.write_all(&(json.len() as u32).to_le_bytes())?;
        out.write_all(&json)?;
        out.write_all(&crc32fast::hash(&json).to_le_bytes())?;
        let count_offset = (MAGIC.len() + 1 + 4 + json.len() + 4) as u64;
        out.write_all(&COUNT_UNKNOWN.to_le_bytes())?;
        let mut writer = BackupWriter {
            path: path.to_path_buf(),
            out,
            count_offset,
            count: 0,
            digest: crc32fast::Hasher::new(),
        };
        writer.sync()?;
        Ok(writer)
    }

    /// Reopens an interrupted (or finished) backup to append more records: keeps every
    /// complete record, drops a trailer and any torn tail.
    pub fn append(path: &Path) -> Result<(Self, Header)> {
        let mut reader = BackupReader::open(path)?;
        while reader.next_record()?.is_some() {}
        let (header, count_offset, end, count, digest) = (
            reader.header.clone(),
            reader.count_offset,
            reader.records_end,
            reader.count,
            reader.digest.clone(),
        );
        drop(reader);
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        // Mark the file unfinished on disk before cutting its trailer off: a crash in between
        // leaves an interrupted run's file, not a finished one that reads as truncated.
        file.seek(SeekFrom::Start(count_offset))?;
        file.write_all(&COUNT_UNKNOWN.to_le_bytes())?;
        file.sync_data().context("fsync backup file")?;
        file.set_len(end)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.seek(SeekFrom::Start(end))?;
        Ok((
            BackupWriter {
                path: path.to_path_buf(),
                out,
                count_offset,
                count,
                digest,
            },
            header,
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written so far (including ones from before a resume).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Buffers one record.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        if record.kind.len() > usize::from(u8::MAX) {
            bail!(
                "the type name of key {:?} is {} bytes, longer than a backup record holds (255)",
                String::from_utf8_lossy(&record.key),
                record.kind.len()
            );
        }
        let body = record.encode();
        let mut frame = Vec::with_capacity(body.len() + 9);
        frame.push(b'K');
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        self.digest.update(&frame);
        self.out.write_all(&frame)?;
        self.count += 1;
        Ok(())
    }

    /// Flushes and fsyncs: after this returns, every record written is on disk.
    pub fn sync(&mut self) -> Result<()> {
        self.out.flush().context("write backup file")?;
        self.out.get_ref().sync_data().context("fsync backup file")
    }

    /// Writes the trailer and the final count, and fsyncs.
    pub fn finish(mut self) -> Result<u64> {
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&self.count.to_le_bytes());
        body.extend_from_slice(&self.digest.clone().finalize().to_le_bytes());
        self.out.write_all(b"E")?;
        self.out.write_all(&(body.len() as u32).to_le_bytes())?;
        self.out.write_all(&body)?;
        self.out.write_all(&crc32fast::hash(&body).to_le_bytes())?;
        self.out.seek(SeekFrom::Start(self.count_offset))?;
        self.out.write_all(&self.count.to_le_bytes())?;
        self.sync()?;
        Ok(self.count)
    }
}

/// Whether the file ended with a valid trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Trailer present, counts and checksum verified.
    Complete,
    /// No trailer: the writer was interrupted; every record read is intact.
    Interrupted,
}

/// Reads a backup file record by record, verifying checksums.
pub struct BackupReader {
    input: BufReader<File>,
    /// The header.
    pub header: Header,
    /// The count the header claims (None while the file was being written or interrupted).
    pub header_count: Option<u64>,
    count_offset: u64,
    records_end: u64,
    count: u64,
    digest: crc32fast::Hasher,
    /// Set once the end was reached.
    pub completeness: Option<Completeness>,
}

impl BackupReader {
    /// Opens a file and reads its header.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).with_context(|| format!("open backup file {}", path.display()))?;
        Self::from_file(file)
            .with_context(|| format!("{} is not a readable kubectl-rflush backup", path.display()))
    }

    fn from_file(file: File) -> Result<Self> {
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).context("file too short")?;
        if &magic != MAGIC {
            bail!("wrong magic (not a kubectl-rflush backup)");
        }
        let mut version = [0u8; 1];
        input
            .read_exact(&mut version)
            .context("header is truncated")?;
        if version[0] != FORMAT_VERSION {
            bail!(
                "format version {} is not supported (this kubectl-rflush reads version {FORMAT_VERSION})",
                version[0]
            );
        }
        let len = read_u32(&mut input).context("header is truncated")?;
        if len > MAX_FRAME {
            bail!("header length {len} is implausible");
        }
        let mut json = vec![0u8; len as usize];
        input.read_exact(&mut json).context("header is truncated")?;
        if read_u32(&mut input).context("header is truncated")? != crc32fast::hash(&json) {
            bail!("header checksum mismatch");
        }
        let header: Header = serde_json::from_slice(&json).context("header is not valid JSON")?;
        let mut count = [0u8; 8];
        input
            .read_exact(&mut count)
            .context("header is truncated")?;
        let count = u64::from_le_bytes(count);
        let count_offset = (MAGIC.len() + 1 + 4 + json.len() + 4) as u64;
        Ok(BackupReader {
            input,
            header,
            header_count: (count != COUNT_UNKNOWN).then_some(count),
            count_offset,
            records_end: count_offset + 8,
            count: 0,
            digest: crc32fast::Hasher::new(),
            completeness: None,
        })
    }

    /// Records read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The next record; `Ok(None)` at the end (see [`BackupReader::completeness`]). A torn
    /// record at the very end of an interrupted file ends the file; corruption elsewhere is
    /// an error, and so is the end of a finished file (its header holds the count) before
    /// its trailer: that file was cut short, or a corrupt length ran past its end.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if self.completeness.is_some() {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        if self.input.read(&mut tag)? == 0 {
            return self.end_without_trailer();
        }
        let frame = (|| -> std::io::Result<(u32, Vec<u8>, u32)> {
            let len = read_u32(&mut self.input)?;
            if len > MAX_FRAME {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "implausible length",
                ));
            }
            let mut body = vec![0u8; len as usize];
            self.input.read_exact(&mut body)?;
            let crc = read_u32(&mut self.input)?;
            Ok((len, body, crc))
        })();
        let (len, body, crc) = match frame {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // A torn last record: the writer was interrupted mid-write (never fsynced).
                return self.end_without_trailer();
            }
            Err(e) => return Err(e).context(format!("record {} is corrupt", self.count + 1)),
        };
        if crc32fast::hash(&body) != crc {
            bail!(
                "record {} fails its checksum (the file is corrupt)",
                self.count + 1
            );
        }
        match tag[0] {
            b'K' => {
                let record =
                    Record::decode(&body).with_context(|| format!("record {}", self.count + 1))?;
                self.digest.update(b"K");
                self.digest.update(&len.to_le_bytes());
                self.digest.update(&body);
                self.digest.update(&crc.to_le_bytes());
                self.count += 1;
                self.records_end += 9 + u64::from(len);
                Ok(Some(record))
            }
            b'E' => {
                if body.len() != 12 {
                    bail!("trailer has the wrong size");
                }
                let count = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
                let digest = u32::from_le_bytes(body[8..].try_into().expect("4 bytes"));
                if count != self.count {
                    bail!(
                        "trailer says {count} keys but the file holds {}",
                        self.count
                    );
                }
                if digest != self.digest.clone().finalize() {
                    bail!("whole-file checksum mismatch");
                }
                if self.header_count.is_some_and(|c| c != count) {
                    bail!(
                        "header says {} keys but the trailer says {count}",
                        self.header_count.unwrap_or(0)
                    );
                }
                self.completeness = Some(Completeness::Complete);
                Ok(None)
            }
            other => bail!("unknown frame tag {other:#04x} after record {}", self.count),
        }
    }

    /// The file ends before a trailer: an interrupted run's file (the header's count was
    /// never written) ends here; a finished one was truncated.
    fn end_without_trailer(&mut self) -> Result<Option<Record>> {
        if let Some(expected) = self.header_count {
            bail!(
                "the file is truncated (or a record length in it is corrupt): its header says {expected} keys, but it ends after {} complete records, without its end marker",
                self.count
            );
        }
        self.completeness = Some(Completeness::Interrupted);
        Ok(None)
    }
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: "kubectl-rflush-backup".into(),
            redis_version: "7.0.15".into(),
            rdb_version: 10,
            pattern: "session:*".into(),
            source: "redis://127.0.0.1:6379".into(),
            created_at: "2026-11-01T00:00:00Z".into(),
            created_at_ms: 1,
            tool: "kubectl-rflush test".into(),
        }
    }

    fn record(i: u8) -> Record {
        Record {
            key: vec![b'k', i, 0, b'\n', b'"', 0xff],
            kind: "string".into(),
            expire_at_ms: i
                .is_multiple_of(2)
                .then_some(1_800_000_000_000 + i64::from(i)),
            payload: vec![0, 1, i, 2, 3, 10, 0, 9, 9, 9, 9, 9, 9, 9, 9],
        }
    }

    fn read_all(path: &Path) -> Result<(Vec<Record>, Completeness)> {
        let mut r = BackupReader::open(path)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok((out, r.completeness.unwrap()))
    }

    #[test]
    fn round_trip_is_binary_safe_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.rfb");
        let mut w = BackupWriter::create(&path, &header()).unwrap();
        for i in 0..50 {
            w.write(&record(i)).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 50);
        let (records, state) = read_all(&path).unwrap();
        assert_eq!(state, Completeness::Complete);
        assert_eq!(records, (0..50).map(record).collect::<Vec<_>>());
        let r = BackupReader::open(&path).unwrap();
        assert_eq!(r.header, header());
        assert_eq!(r.header_count, Some(50));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.rfb");
        BackupWriter::create(&path, &header())
            .unwrap()
            .finish()
            .unwrap();
        assert!(BackupWriter::create(&path, &header()).is_err());
    }

    #[test]
    fn interrupted_file_reads_up_to_the_torn_record_and_can_be_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.rfb");
        let mut w = BackupWriter::create(&path, &header()).unwrap();
        for i in 0..10 {
            w.write(&record(i)).unwrap();
        }
        w.sync().unwrap();
        drop(w);
        // Tear the last record in half.
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let (records, state) = read_all(&path).unwrap();
        assert_eq!(state, Completeness::Interrupted);
        assert_eq!(records.len(), 9);

        let (mut w, h) = BackupWriter::append(&path).unwrap();
        assert_eq!(h, header());
        assert_eq!(w.count(), 9);
        for i in 9..20 {
            w.write(&record(i)).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 20);
        let (records, state) = read_all(&path).unwrap();
        assert_eq!(state, Completeness::Complete);
        assert_eq!(records, (0..20).map(record).collect::<Vec<_>>());
    }

    #[test]
    fn corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.rfb");
        let mut w = BackupWriter::create(&path, &header()).unwrap();
        for i in 0..5 {
            w.write(&record(i)).unwrap();
        }
        w.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 40;
        bytes[at] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_all(&path).is_err());
        std::fs::write(&path, b"not a backup at all").unwrap();
        assert!(BackupReader::open(&path).is_err());
    }

    #[test]
    fn rdb_versions() {
        assert_eq!(rdb_version_for("7.0.15"), 10);
        assert_eq!(rdb_version_for("7.2.4"), 11);
        assert_eq!(rdb_version_for("6.2.14"), 9);
        assert_eq!(rdb_version_for("7.4.0"), 12);
        assert_eq!(record(3).rdb_version(), Some(u16::from_le_bytes([10, 0])));
    }

    #[test]
    fn fuzzed_bytes_never_panic() {
        // Deterministic pseudo-random mutations of a valid file: the reader must return
        // records or an error, never panic or allocate absurdly.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.rfb");
        let mut w = BackupWriter::create(&path, &header()).unwrap();
        for i in 0..8 {
            w.write(&record(i)).unwrap();
        }
        w.finish().unwrap();
        let good = std::fs::read(&path).unwrap();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bytes = good.clone();
            let pos = (seed as usize) % bytes.len();
            bytes[pos] = (seed >> 32) as u8;
            if seed.is_multiple_of(3) {
                bytes.truncate((seed >> 16) as usize % bytes.len());
            }
            let p = dir.path().join("f.rfb");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_all(&p);
        }
    }
}
