//! The write-ahead log format, replay, and the registry of segments on disk.
//!
//! ```text
//! segment  = "MSWAL" version:u8 record*
//! record   = len:u32le crc:u32le body            len = body length, crc = crc32c(body)
//! body     = seq:u64le name_len:u8 name payload
//! payload  = one LZ4 frame holding an Arrow IPC stream (schema + one batch)       version 2
//!          | an Arrow IPC stream whose buffers are each an LZ4 frame             version 1
//! ```
//!
//! Writers write version 2; replay reads both, so a WAL left by an older build replays.
//!
//! Sequence numbers are global (across tables) and strictly increasing across segments and
//! restarts. A segment is named after the first sequence number it may hold, so a segment
//! holds only records older than the next segment's name.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::AtomicUsize;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use lz4_flex::frame::{BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
use parking_lot::Mutex;

use crate::error::{Error, IoContext, Result};
use crate::path::Layout;
use crate::store::sync_dir;

pub(crate) const SEGMENT_MAGIC: &[u8; 5] = b"MSWAL";
pub(crate) const SEGMENT_VERSION: u8 = 2;
/// The format before version 2: IPC streams with each buffer compressed on its own.
const SEGMENT_VERSION_BUFFER_FRAMES: u8 = 1;
/// The segment formats replay reads ([`decode_payload`] decodes a payload of each).
const READABLE_VERSIONS: [u8; 2] = [SEGMENT_VERSION, SEGMENT_VERSION_BUFFER_FRAMES];
pub(crate) const SEGMENT_HEADER_LEN: u64 = 6;
/// `len` + `crc`.
const RECORD_PREFIX_LEN: usize = 8;
/// `seq` + `name_len`.
const BODY_FIXED_LEN: usize = 9;
/// Records above this are refused at append and treated as corruption at replay.
pub(crate) const MAX_RECORD_BODY: usize = 1 << 30;

/// Encodes a batch as a WAL payload: its IPC stream, uncompressed, written through one LZ4
/// frame of 256 KiB blocks. LZ4 cuts WAL bytes (and so fsync time) about 4x at a fraction of
/// zstd's cost. One frame for the whole stream, rather than IPC compression's frame per buffer
/// (format 1: a frame, with its block buffers, allocated for each of a span batch's ~150
/// buffers), encodes span batches about 9 % faster into 6 % fewer bytes
/// (`benches/results/ab-wal-frame.md`).
pub(crate) fn encode_payload(batch: &RecordBatch) -> Result<Vec<u8>> {
    // compressed payloads of span batches are about a quarter of their Arrow size
    let out = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let frame =
        FrameEncoder::with_frame_info(FrameInfo::new().block_size(BlockSize::Max256KB), out);
    let mut writer = StreamWriter::try_new(frame, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    writer
        .into_inner()?
        .finish()
        .map_err(|e| Error::Arrow(ArrowError::ExternalError(Box::new(e))))
}

/// Decodes a WAL payload of a segment of format `version`: exactly one batch.
pub(crate) fn decode_payload(
    version: u8,
    payload: &[u8],
) -> std::result::Result<RecordBatch, String> {
    match version {
        SEGMENT_VERSION => one_batch(FrameDecoder::new(payload)),
        // IPC decompresses each buffer itself
        SEGMENT_VERSION_BUFFER_FRAMES => one_batch(payload),
        other => Err(format!("unsupported format version {other}")),
    }
}

fn one_batch(ipc: impl Read) -> std::result::Result<RecordBatch, String> {
    let mut reader = StreamReader::try_new(ipc, None).map_err(|e| e.to_string())?;
    let batch = match reader.next() {
        Some(Ok(batch)) => batch,
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("payload holds no batch".into()),
    };
    if reader.next().is_some() {
        return Err("payload holds more than one batch".into());
    }
    Ok(batch)
}

/// Appends one framed record to `buf`.
pub(crate) fn append_record(buf: &mut Vec<u8>, seq: u64, table: &str, payload: &[u8]) {
    let body_len = BODY_FIXED_LEN + table.len() + payload.len();
    let start = buf.len();
    // callers keep payloads under MAX_RECORD_BODY and table names under 64 bytes
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.push(table.len() as u8);
    buf.extend_from_slice(table.as_bytes());
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c(&buf[start + RECORD_PREFIX_LEN..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Bytes of one framed record, for queue accounting.
pub(crate) fn record_len(table: &str, payload_len: usize) -> usize {
    RECORD_PREFIX_LEN + BODY_FIXED_LEN + table.len() + payload_len
}

pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut header = [0; SEGMENT_HEADER_LEN as usize];
    header[..5].copy_from_slice(SEGMENT_MAGIC);
    header[5] = SEGMENT_VERSION;
    header
}

/// A record as framed on disk.
#[derive(Debug)]
struct RawRecord<'a> {
    seq: u64,
    table: &'a str,
    payload: &'a [u8],
    end: usize,
}

/// Reads the record at `offset`. `Ok(None)` at a clean end of data, `Err(reason)` for a bad record.
fn parse_record(
    data: &[u8],
    offset: usize,
) -> std::result::Result<Option<RawRecord<'_>>, &'static str> {
    let rest = &data[offset..];
    if rest.is_empty() {
        return Ok(None);
    }
    let Some(prefix) = rest.get(..RECORD_PREFIX_LEN) else {
        return Err("short record header");
    };
    let body_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if !(BODY_FIXED_LEN..=MAX_RECORD_BODY).contains(&body_len) {
        return Err("record length out of range");
    }
    let Some(body) = rest.get(RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + body_len) else {
        return Err("record length past end of file");
    };
    if crc32c::crc32c(body) != crc {
        return Err("checksum mismatch");
    }
    let mut seq = [0; 8];
    seq.copy_from_slice(&body[..8]);
    let seq = u64::from_le_bytes(seq);
    let name_len = usize::from(body[8]);
    let Some(name) = body.get(BODY_FIXED_LEN..BODY_FIXED_LEN + name_len) else {
        return Err("table name past end of record");
    };
    let Ok(table) = std::str::from_utf8(name) else {
        return Err("table name is not utf-8");
    };
    Ok(Some(RawRecord {
        seq,
        table,
        payload: &body[BODY_FIXED_LEN + name_len..],
        end: offset + RECORD_PREFIX_LEN + body_len,
    }))
}

/// One segment file found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    pub(crate) first_seq: u64,
    pub(crate) bytes: u64,
}

/// What replay found.
#[derive(Debug, Default)]
pub(crate) struct ReplayOutcome {
    /// Highest sequence number seen in a valid record (replayed or not).
    pub(crate) last_seq: u64,
    /// Highest first-sequence number among the segment names.
    pub(crate) last_segment_first_seq: u64,
    /// Segments left on disk after replay, oldest first.
    pub(crate) segments: Vec<SegmentInfo>,
    /// Records handed to the callback.
    pub(crate) replayed: u64,
}

/// Segments in `<data>/wal/`, oldest first.
pub(crate) fn list_segments(layout: &Layout) -> Result<Vec<(u64, PathBuf)>> {
    let dir = layout.wal_dir();
    let mut segments = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(e).at(&dir),
    };
    for entry in entries {
        let entry = entry.at(&dir)?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(Layout::parse_segment_name) {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Reads every segment in order and hands each valid record with `seq > after_seq` to `apply`.
///
/// A bad record in the last segment is a torn tail: the file is cut there. A bad record in an
/// earlier segment loses the rest of that segment (logged as an error); replay goes on with
/// the next one. Records of a table `apply` does not know are its business (it may skip them).
pub(crate) fn replay(
    layout: &Layout,
    after_seq: u64,
    mut apply: impl FnMut(u64, &str, RecordBatch) -> Result<()>,
) -> Result<ReplayOutcome> {
    let segments = list_segments(layout)?;
    let mut outcome = ReplayOutcome::default();
    let count = segments.len();
    for (index, (first_seq, path)) in segments.into_iter().enumerate() {
        let is_last = index + 1 == count;
        outcome.last_segment_first_seq = outcome.last_segment_first_seq.max(first_seq);
        let data = fs::read(&path).at(&path)?;
        let header_ok = data.len() >= SEGMENT_HEADER_LEN as usize && data[..5] == *SEGMENT_MAGIC;
        if !header_ok {
            if is_last {
                tracing::warn!(path = %path.display(), len = data.len(), "removing wal segment with a torn header");
                fs::remove_file(&path).at(&path)?;
                sync_dir(&layout.wal_dir())?;
            } else {
                tracing::error!(path = %path.display(), "skipping wal segment with a bad header");
                outcome.segments.push(SegmentInfo {
                    first_seq,
                    bytes: data.len() as u64,
                });
            }
            continue;
        }
        let version = data[5];
        if !READABLE_VERSIONS.contains(&version) {
            return Err(Error::Corrupt {
                what: "wal segment",
                path,
                detail: format!("unsupported format version {version}"),
            });
        }
        let mut offset = SEGMENT_HEADER_LEN as usize;
        let mut bad: Option<String> = None;
        loop {
            let record = match parse_record(&data, offset) {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(reason) => {
                    bad = Some(reason.to_string());
                    break;
                }
            };
            if record.seq < first_seq || record.seq <= outcome.last_seq {
                bad = Some(format!("sequence number {} out of order", record.seq));
                break;
            }
            if record.seq > after_seq {
                match decode_payload(version, record.payload) {
                    Ok(batch) => apply(record.seq, record.table, batch)?,
                    Err(reason) => {
                        bad = Some(format!("undecodable payload: {reason}"));
                        break;
                    }
                }
                outcome.replayed += 1;
            }
            outcome.last_seq = record.seq;
            offset = record.end;
        }
        let mut bytes = data.len() as u64;
        if let Some(reason) = bad {
            if is_last {
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    dropped_bytes = data.len() - offset,
                    reason,
                    "cutting torn tail of the wal"
                );
                let file = OpenOptions::new().write(true).open(&path).at(&path)?;
                file.set_len(offset as u64).at(&path)?;
                file.sync_all().at(&path)?;
                bytes = offset as u64;
            } else {
                tracing::error!(
                    path = %path.display(),
                    offset,
                    skipped_bytes = data.len() - offset,
                    reason,
                    "corrupt record in a sealed wal segment, skipping the rest of the segment"
                );
            }
        }
        outcome.segments.push(SegmentInfo { first_seq, bytes });
    }
    Ok(outcome)
}

/// State shared by the WAL writer thread, the flush, and `stats`.
#[derive(Debug, Default)]
pub(crate) struct WalShared {
    /// Segments on disk: first seq → bytes.
    segments: Mutex<BTreeMap<u64, u64>>,
    /// Framed bytes sent to the writer and not yet written.
    pub(crate) queue_bytes: AtomicUsize,
    /// Set once a write or fsync failed; every later append fails with it.
    pub(crate) poisoned: OnceLock<String>,
}

impl WalShared {
    pub(crate) fn new(segments: &[SegmentInfo]) -> Self {
        let shared = Self::default();
        shared
            .segments
            .lock()
            .extend(segments.iter().map(|s| (s.first_seq, s.bytes)));
        shared
    }

    pub(crate) fn set_segment_bytes(&self, first_seq: u64, bytes: u64) {
        self.segments.lock().insert(first_seq, bytes);
    }

    /// `(total bytes, segment count)` of the WAL on disk.
    pub(crate) fn disk_usage(&self) -> (u64, usize) {
        let segments = self.segments.lock();
        (segments.values().sum(), segments.len())
    }

    /// Deletes every segment whose records all have `seq <= through`: a segment followed by one
    /// whose name is `<= through + 1`. The newest segment is never deleted. Returns how many went.
    pub(crate) fn delete_through(&self, layout: &Layout, through: u64) -> Result<usize> {
        let doomed: Vec<u64> = {
            let mut segments = self.segments.lock();
            let firsts: Vec<u64> = segments.keys().copied().collect();
            let doomed: Vec<u64> = firsts
                .windows(2)
                .filter(|pair| pair[1] <= through.saturating_add(1))
                .map(|pair| pair[0])
                .collect();
            for first in &doomed {
                segments.remove(first);
            }
            doomed
        };
        for first in &doomed {
            let path = layout.segment(*first);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&path),
            }
        }
        if !doomed.is_empty() {
            sync_dir(&layout.wal_dir())?;
        }
        Ok(doomed.len())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::test_util::{batch, ids_of};

    /// Writes a segment holding `(seq, ids)` records of table "spans"; returns each record's
    /// `(start, end)` byte range.
    fn write_segment(
        layout: &Layout,
        first_seq: u64,
        records: &[(u64, std::ops::Range<u64>)],
    ) -> Vec<(usize, usize)> {
        fs::create_dir_all(layout.wal_dir()).unwrap();
        let mut data = segment_header().to_vec();
        let mut ranges = Vec::new();
        for (seq, ids) in records {
            let start = data.len();
            let payload = encode_payload(&batch(ids.clone())).unwrap();
            append_record(&mut data, *seq, "spans", &payload);
            ranges.push((start, data.len()));
        }
        fs::write(layout.segment(first_seq), data).unwrap();
        ranges
    }

    fn replay_all(layout: &Layout, after: u64) -> (Vec<u64>, Vec<u64>, ReplayOutcome) {
        let (mut seqs, mut ids) = (Vec::new(), Vec::new());
        let outcome = replay(layout, after, |seq, table, batch| {
            assert_eq!(table, "spans");
            seqs.push(seq);
            ids.extend(ids_of(&[batch]));
            Ok(())
        })
        .unwrap();
        (seqs, ids, outcome)
    }

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        (dir, layout)
    }

    #[test]
    fn record_round_trip() {
        let original = batch(0..100);
        let payload = encode_payload(&original).unwrap();
        assert_eq!(decode_payload(SEGMENT_VERSION, &payload).unwrap(), original);
        let err = decode_payload(SEGMENT_VERSION_BUFFER_FRAMES, &payload).unwrap_err();
        assert!(!err.is_empty());
        assert!(
            decode_payload(3, &payload)
                .unwrap_err()
                .contains("version 3")
        );

        let mut buf = Vec::new();
        append_record(&mut buf, 7, "spans", &payload);
        assert_eq!(buf.len(), record_len("spans", payload.len()));
        let record = parse_record(&buf, 0).unwrap().unwrap();
        assert_eq!(
            (record.seq, record.table, record.end),
            (7, "spans", buf.len())
        );
        assert_eq!(
            decode_payload(SEGMENT_VERSION, record.payload).unwrap(),
            original
        );
        assert!(parse_record(&buf, buf.len()).unwrap().is_none());
    }

    /// A WAL left by a build that wrote format 1 (each IPC buffer LZ4-framed) replays, beside a
    /// segment of the current format written after it.
    #[test]
    fn replay_reads_segments_of_the_previous_format() {
        use arrow::ipc::CompressionType;
        use arrow::ipc::writer::IpcWriteOptions;

        let (_dir, layout) = layout();
        fs::create_dir_all(layout.wal_dir()).unwrap();
        let mut old = segment_header().to_vec();
        old[5] = SEGMENT_VERSION_BUFFER_FRAMES;
        for (seq, ids) in [(1, 0..10), (2, 10..25)] {
            let options = IpcWriteOptions::default()
                .try_with_compression(Some(CompressionType::LZ4_FRAME))
                .unwrap();
            let original = batch(ids);
            let mut writer =
                StreamWriter::try_new_with_options(Vec::new(), &original.schema(), options)
                    .unwrap();
            writer.write(&original).unwrap();
            writer.finish().unwrap();
            append_record(&mut old, seq, "spans", &writer.into_inner().unwrap());
        }
        fs::write(layout.segment(1), old).unwrap();
        write_segment(&layout, 3, &[(3, 25..40)]);

        let (seqs, ids, outcome) = replay_all(&layout, 0);
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(ids, (0..40).collect::<Vec<_>>());
        assert_eq!(outcome.replayed, 3);
    }

    #[test]
    fn replay_reads_segments_in_order_and_skips_checkpointed_records() {
        let (_dir, layout) = layout();
        write_segment(&layout, 1, &[(1, 0..10), (2, 10..20)]);
        write_segment(&layout, 3, &[(3, 20..30), (5, 30..40)]);
        let (seqs, ids, outcome) = replay_all(&layout, 0);
        assert_eq!(seqs, vec![1, 2, 3, 5]);
        assert_eq!(ids, (0..40).collect::<Vec<_>>());
        assert_eq!(outcome.last_seq, 5);
        assert_eq!(outcome.segments.len(), 2);

        let (seqs, _, outcome) = replay_all(&layout, 2);
        assert_eq!(seqs, vec![3, 5]);
        assert_eq!((outcome.replayed, outcome.last_seq), (2, 5));
    }

    #[test]
    fn torn_tail_is_cut_at_every_offset_of_the_last_record() {
        let (_dir, layout) = layout();
        let ranges = write_segment(&layout, 1, &[(1, 0..3), (2, 3..6), (3, 6..9)]);
        let full = fs::read(layout.segment(1)).unwrap();
        let (start, end) = ranges[2];
        for cut in start..end {
            fs::write(layout.segment(1), &full[..cut]).unwrap();
            let (seqs, ids, outcome) = replay_all(&layout, 0);
            assert_eq!(seqs, vec![1, 2], "cut at {cut}");
            assert_eq!(ids, (0..6).collect::<Vec<_>>());
            assert_eq!(outcome.last_seq, 2);
            assert_eq!(
                fs::metadata(layout.segment(1)).unwrap().len(),
                start as u64,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn flipped_byte_in_the_last_record_is_cut() {
        let (_dir, layout) = layout();
        let ranges = write_segment(&layout, 1, &[(1, 0..3), (2, 3..6)]);
        let full = fs::read(layout.segment(1)).unwrap();
        let (start, end) = ranges[1];
        for at in start..end {
            let mut damaged = full.clone();
            damaged[at] ^= 0x5a;
            fs::write(layout.segment(1), &damaged).unwrap();
            let (seqs, _, _) = replay_all(&layout, 0);
            assert_eq!(seqs, vec![1], "flip at {at}");
            assert_eq!(
                fs::metadata(layout.segment(1)).unwrap().len(),
                start as u64,
                "flip at {at}"
            );
        }
    }

    #[test]
    fn corrupt_middle_segment_loses_only_the_rest_of_that_segment() {
        let (_dir, layout) = layout();
        write_segment(&layout, 1, &[(1, 0..5), (2, 5..10)]);
        let ranges = write_segment(&layout, 3, &[(3, 10..15), (4, 15..20), (5, 20..25)]);
        write_segment(&layout, 6, &[(6, 25..30)]);
        let path = layout.segment(3);
        let mut data = fs::read(&path).unwrap();
        let len_before = data.len();
        data[ranges[1].0 + 20] ^= 0xff;
        fs::write(&path, &data).unwrap();

        let (seqs, ids, outcome) = replay_all(&layout, 0);
        assert_eq!(seqs, vec![1, 2, 3, 6]);
        assert_eq!(ids, (0..15).chain(25..30).collect::<Vec<_>>());
        assert_eq!(outcome.last_seq, 6);
        // a sealed segment is never cut
        assert_eq!(fs::metadata(&path).unwrap().len(), len_before as u64);
    }

    #[test]
    fn garbage_and_bad_headers_are_never_replayed() {
        let (_dir, layout) = layout();
        write_segment(&layout, 1, &[(1, 0..5)]);
        // a middle segment that is not a wal segment at all
        fs::write(layout.segment(2), b"garbage that is long enough").unwrap();
        // a last segment torn inside its header
        fs::write(layout.segment(3), b"MSW").unwrap();
        let (seqs, _, outcome) = replay_all(&layout, 0);
        assert_eq!(seqs, vec![1]);
        assert!(!layout.segment(3).exists());
        assert_eq!(outcome.last_segment_first_seq, 3);
    }

    #[test]
    fn out_of_order_sequence_is_corruption() {
        let (_dir, layout) = layout();
        write_segment(&layout, 1, &[(1, 0..2), (5, 2..4), (4, 4..6)]);
        let (seqs, _, _) = replay_all(&layout, 0);
        assert_eq!(seqs, vec![1, 5]);
    }

    #[test]
    fn delete_through_keeps_segments_with_newer_records() {
        let (_dir, layout) = layout();
        for first in [1, 4, 9] {
            write_segment(&layout, first, &[(first, 0..1)]);
        }
        let shared = WalShared::new(&replay_all(&layout, 0).2.segments);
        // records 4..=8 are in segment 4: flushing through 5 frees only segment 1
        assert_eq!(shared.delete_through(&layout, 5).unwrap(), 1);
        assert!(!layout.segment(1).exists() && layout.segment(4).exists());
        assert_eq!(shared.delete_through(&layout, 8).unwrap(), 1);
        assert!(!layout.segment(4).exists());
        // the newest segment stays, whatever the checkpoint
        assert_eq!(shared.delete_through(&layout, 100).unwrap(), 0);
        assert!(layout.segment(9).exists());
        assert_eq!(shared.disk_usage().1, 1);
    }
}
