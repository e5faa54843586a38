//! The WAL writer: one std thread that owns the active segment and does group commit.
//!
//! Callers queue records on a channel. The thread takes everything queued, frames it into one
//! buffer, writes it with one `write`, fsyncs once (per [`SyncPolicy`]), hands the batches to
//! the `apply` callback (which puts them into the head), and only then completes each caller's
//! oneshot. So a record is in the head before its `append` returns, and every record with a
//! sequence number at or below the one a rotation returns is in the head when it returns.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::config::SyncPolicy;
use crate::error::{Error, IoContext, Result};
use crate::head::HeadBatch;
use crate::path::Layout;
use crate::self_metrics as m;
use crate::store::sync_dir;
use crate::wal::{self, WalShared};

/// Upper bound of one group's buffer; a larger backlog is written as several groups.
const MAX_GROUP_BYTES: usize = 32 << 20;

/// A record written to the WAL, handed to the head.
#[derive(Debug)]
pub(crate) struct Committed {
    pub(crate) table: usize,
    pub(crate) seq: u64,
    pub(crate) batch: HeadBatch,
}

/// Puts committed records into the head; called on the writer thread, in sequence order.
pub(crate) type ApplyFn = Box<dyn FnMut(Vec<Committed>) + Send>;

enum Command {
    Append {
        table: usize,
        payload: Vec<u8>,
        framed_len: usize,
        batch: HeadBatch,
        reply: oneshot::Sender<Result<u64>>,
    },
    Rotate {
        reply: oneshot::Sender<Result<u64>>,
    },
    /// Write what came before, fsync (unless `SyncPolicy::Never`), and exit.
    Stop,
}

/// Handle to the writer thread. Dropping it stops the thread after the queued records.
pub(crate) struct WalWriter {
    tx: mpsc::Sender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<WalShared>,
    table_names: Vec<&'static str>,
}

pub(crate) struct WriterOptions {
    pub(crate) layout: Layout,
    pub(crate) policy: SyncPolicy,
    pub(crate) segment_bytes: u64,
    pub(crate) next_seq: u64,
    pub(crate) table_names: Vec<&'static str>,
}

impl WalWriter {
    /// Opens a fresh segment named `next_seq` and starts the thread.
    pub(crate) fn start(
        options: WriterOptions,
        shared: Arc<WalShared>,
        apply: ApplyFn,
    ) -> Result<Self> {
        let segment = Segment::create(&options.layout, options.next_seq)?;
        shared.set_segment_bytes(segment.first_seq, segment.bytes);
        let (tx, rx) = mpsc::channel();
        let table_names = options.table_names.clone();
        let mut thread_state = WriterThread {
            layout: options.layout,
            policy: options.policy,
            segment_limit: options.segment_bytes,
            table_names: options.table_names,
            next_seq: options.next_seq,
            segment,
            shared: Arc::clone(&shared),
            apply,
            buf: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("meshscope-wal".into())
            .spawn(move || thread_state.run(rx))
            .map_err(|e| Error::Io {
                path: "wal writer thread".into(),
                source: e,
            })?;
        Ok(Self {
            tx,
            thread: Mutex::new(Some(thread)),
            shared,
            table_names,
        })
    }

    /// Queues a record; the receiver completes with its sequence number once it is durable
    /// (per the sync policy) and in the head.
    pub(crate) fn submit(
        &self,
        table: usize,
        payload: Vec<u8>,
        batch: HeadBatch,
    ) -> Result<oneshot::Receiver<Result<u64>>> {
        let name = self.table_names.get(table).copied().unwrap_or_default();
        let framed_len = wal::record_len(name, payload.len());
        let (reply, rx) = oneshot::channel();
        let queued = self
            .shared
            .queue_bytes
            .fetch_add(framed_len, Ordering::AcqRel)
            + framed_len;
        metrics::gauge!(m::WAL_QUEUE_BYTES).set(queued as f64);
        let command = Command::Append {
            table,
            payload,
            framed_len,
            batch,
            reply,
        };
        if self.tx.send(command).is_err() {
            self.shared
                .queue_bytes
                .fetch_sub(framed_len, Ordering::AcqRel);
            return Err(Error::Closed);
        }
        Ok(rx)
    }

    /// Seals the active segment (if it holds any record) and starts a new one. Returns the
    /// highest sequence number assigned so far: every record up to it is in a sealed segment
    /// and in the head.
    pub(crate) async fn rotate(&self) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Rotate { reply })
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops the thread after it wrote everything queued before, and waits for it (blocking).
    /// Later appends fail with `Error::Closed`.
    pub(crate) fn stop(&self) {
        // an error means the thread is already gone
        let _ = self.tx.send(Command::Stop);
        let thread = self.thread.lock().take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("wal writer thread panicked");
        }
    }
}

impl Drop for WalWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for WalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalWriter")
            .field("tables", &self.table_names)
            .finish_non_exhaustive()
    }
}

/// The active segment file.
struct Segment {
    file: File,
    first_seq: u64,
    bytes: u64,
}

impl Segment {
    fn create(layout: &Layout, first_seq: u64) -> Result<Self> {
        let path = layout.segment(first_seq);
        let mut file = File::create(&path).at(&path)?;
        file.write_all(&wal::segment_header()).at(&path)?;
        file.sync_all().at(&path)?;
        sync_dir(&layout.wal_dir())?;
        Ok(Self {
            file,
            first_seq,
            bytes: wal::SEGMENT_HEADER_LEN,
        })
    }

    fn is_empty(&self) -> bool {
        self.bytes <= wal::SEGMENT_HEADER_LEN
    }
}

struct WriterThread {
    layout: Layout,
    policy: SyncPolicy,
    segment_limit: u64,
    table_names: Vec<&'static str>,
    next_seq: u64,
    segment: Segment,
    shared: Arc<WalShared>,
    apply: ApplyFn,
    buf: Vec<u8>,
    /// Written but not fsynced.
    dirty: bool,
    last_sync: Instant,
}

struct Pending {
    table: usize,
    payload: Vec<u8>,
    framed_len: usize,
    batch: HeadBatch,
    reply: oneshot::Sender<Result<u64>>,
}

impl WriterThread {
    fn run(&mut self, rx: mpsc::Receiver<Command>) {
        let mut group: Vec<Pending> = Vec::new();
        loop {
            let first = match self.next_wakeup() {
                None => rx.recv().ok(),
                Some(timeout) => match rx.recv_timeout(timeout) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => {
                        self.sync_if_dirty();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(first) = first else { break };
            let mut next = Some(first);
            let mut group_bytes = 0;
            let mut stop = false;
            while let Some(command) = next.take().or_else(|| rx.try_recv().ok()) {
                match command {
                    Command::Append {
                        table,
                        payload,
                        framed_len,
                        batch,
                        reply,
                    } => {
                        group_bytes += framed_len;
                        group.push(Pending {
                            table,
                            payload,
                            framed_len,
                            batch,
                            reply,
                        });
                        if group_bytes >= MAX_GROUP_BYTES {
                            self.commit(&mut group);
                            group_bytes = 0;
                        }
                    }
                    Command::Rotate { reply } => {
                        self.commit(&mut group);
                        group_bytes = 0;
                        let result = self.rotate();
                        // the flush that asked may have been cancelled; nothing to do then
                        let _ = reply.send(result);
                    }
                    Command::Stop => {
                        stop = true;
                        break;
                    }
                }
            }
            self.commit(&mut group);
            if stop {
                break;
            }
            if self.segment.bytes >= self.segment_limit
                && let Err(e) = self.rotate()
            {
                tracing::error!(error = %e, "wal segment rotation failed");
            }
        }
        if !matches!(self.policy, SyncPolicy::Never) {
            self.sync_if_dirty();
        }
        tracing::debug!(next_seq = self.next_seq, "wal writer stopped");
    }

    /// How long to wait for the next command before an interval fsync is due.
    fn next_wakeup(&self) -> Option<Duration> {
        match self.policy {
            SyncPolicy::Interval(interval) if self.dirty => {
                Some(interval.saturating_sub(self.last_sync.elapsed()))
            }
            _ => None,
        }
    }

    fn commit(&mut self, group: &mut Vec<Pending>) {
        if group.is_empty() {
            return;
        }
        let framed: usize = group.iter().map(|p| p.framed_len).sum();
        let queued = self.shared.queue_bytes.fetch_sub(framed, Ordering::AcqRel) - framed;
        metrics::gauge!(m::WAL_QUEUE_BYTES).set(queued as f64);

        if let Some(reason) = self.shared.poisoned.get() {
            let reason = reason.clone();
            for pending in group.drain(..) {
                let _ = pending.reply.send(Err(Error::Poisoned(reason.clone())));
            }
            return;
        }

        self.buf.clear();
        let first_seq = self.next_seq;
        for pending in group.iter() {
            let name = self
                .table_names
                .get(pending.table)
                .copied()
                .unwrap_or_default();
            wal::append_record(&mut self.buf, self.next_seq, name, &pending.payload);
            self.next_seq += 1;
        }
        if let Err(e) = self.write_group() {
            let reason = format!("wal write failed: {e}");
            tracing::error!(error = %e, first_seq, records = group.len(), "wal write failed, refusing further appends");
            let _ = self.shared.poisoned.set(reason.clone());
            for pending in group.drain(..) {
                let _ = pending.reply.send(Err(Error::Poisoned(reason.clone())));
            }
            return;
        }
        metrics::counter!(m::WAL_RECORDS_TOTAL).increment(group.len() as u64);
        metrics::counter!(m::WAL_BYTES_TOTAL).increment(self.buf.len() as u64);

        let mut replies = Vec::with_capacity(group.len());
        let mut committed = Vec::with_capacity(group.len());
        for (offset, pending) in group.drain(..).enumerate() {
            let seq = first_seq + offset as u64;
            replies.push((seq, pending.reply));
            committed.push(Committed {
                table: pending.table,
                seq,
                batch: pending.batch,
            });
        }
        (self.apply)(committed);
        for (seq, reply) in replies {
            // a caller that stopped waiting still has its record durable and in the head
            let _ = reply.send(Ok(seq));
        }
    }

    fn write_group(&mut self) -> Result<()> {
        let path = self.layout.segment(self.segment.first_seq);
        self.segment.file.write_all(&self.buf).at(&path)?;
        self.segment.bytes += self.buf.len() as u64;
        self.shared
            .set_segment_bytes(self.segment.first_seq, self.segment.bytes);
        self.dirty = true;
        match self.policy {
            SyncPolicy::Always => self.sync()?,
            SyncPolicy::Interval(interval) if self.last_sync.elapsed() >= interval => {
                self.sync()?
            }
            SyncPolicy::Interval(_) | SyncPolicy::Never => {}
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let started = Instant::now();
        let path = self.layout.segment(self.segment.first_seq);
        self.segment.file.sync_data().at(&path)?;
        metrics::histogram!(m::WAL_FSYNC_SECONDS).record(started.elapsed().as_secs_f64());
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn sync_if_dirty(&mut self) {
        if self.dirty
            && let Err(e) = self.sync()
        {
            tracing::error!(error = %e, "wal fsync failed, refusing further appends");
            let _ = self.shared.poisoned.set(format!("wal fsync failed: {e}"));
        }
    }

    fn rotate(&mut self) -> Result<u64> {
        let last_seq = self.next_seq - 1;
        if let Some(reason) = self.shared.poisoned.get() {
            return Err(Error::Poisoned(reason.clone()));
        }
        if self.segment.is_empty() {
            return Ok(last_seq);
        }
        if self.dirty
            && !matches!(self.policy, SyncPolicy::Never)
            && let Err(e) = self.sync()
        {
            tracing::error!(error = %e, "wal fsync failed, refusing further appends");
            let _ = self.shared.poisoned.set(format!("wal fsync failed: {e}"));
            return Err(e);
        }
        let segment = Segment::create(&self.layout, self.next_seq)?;
        self.shared
            .set_segment_bytes(segment.first_seq, segment.bytes);
        tracing::debug!(
            sealed = self.segment.first_seq,
            next = segment.first_seq,
            "wal segment rotated"
        );
        self.segment = segment;
        self.dirty = false;
        Ok(last_seq)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::test_util::{batch, ids_of};
    use crate::wal::{encode_payload, replay};

    type Applied = Arc<Mutex<Vec<(u64, usize, Vec<u64>)>>>;

    fn start(
        layout: &Layout,
        next_seq: u64,
        segment_bytes: u64,
        policy: SyncPolicy,
    ) -> (WalWriter, Applied) {
        std::fs::create_dir_all(layout.wal_dir()).unwrap();
        let applied: Applied = Arc::default();
        let sink = Arc::clone(&applied);
        let writer = WalWriter::start(
            WriterOptions {
                layout: layout.clone(),
                policy,
                segment_bytes,
                next_seq,
                table_names: vec!["spans", "events"],
            },
            Arc::new(WalShared::default()),
            Box::new(move |committed| {
                let mut sink = sink.lock();
                for c in committed {
                    sink.push((c.seq, c.table, ids_of(&[c.batch.batch])));
                }
            }),
        )
        .unwrap();
        (writer, applied)
    }

    async fn append(writer: &WalWriter, table: usize, ids: std::ops::Range<u64>) -> Result<u64> {
        let batch = batch(ids);
        let payload = encode_payload(&batch).unwrap();
        writer.submit(table, payload, batch.into())?.await.unwrap()
    }

    fn replayed(layout: &Layout) -> Vec<(u64, String, Vec<u64>)> {
        let mut out = Vec::new();
        replay(layout, 0, |seq, table, batch| {
            out.push((seq, table.to_string(), ids_of(&[batch])));
            Ok(())
        })
        .unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_gives_each_concurrent_append_a_distinct_seq() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let (writer, applied) = start(&layout, 1, 64 << 20, SyncPolicy::Always);
        let writer = Arc::new(writer);
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                let seq = append(&writer, (i % 2) as usize, i * 10..i * 10 + 10)
                    .await
                    .unwrap();
                (seq, i)
            }));
        }
        let mut seqs = BTreeSet::new();
        for task in tasks {
            let (seq, _) = task.await.unwrap();
            assert!(seqs.insert(seq), "seq {seq} given twice");
        }
        assert_eq!(seqs, (1..=200).collect());

        // the head got every record, in sequence order, before the acks
        let applied = applied.lock().clone();
        assert_eq!(
            applied.iter().map(|a| a.0).collect::<Vec<_>>(),
            (1..=200).collect::<Vec<_>>()
        );

        writer.stop();
        let records = replayed(&layout);
        assert_eq!(records.len(), 200);
        let mut ids: Vec<u64> = records.iter().flat_map(|r| r.2.clone()).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..2000).collect::<Vec<_>>());
        for (seq, table, ids) in &records {
            let expect = if (ids[0] / 10) % 2 == 0 {
                "spans"
            } else {
                "events"
            };
            assert_eq!(table, expect, "seq {seq}");
        }
    }

    #[tokio::test]
    async fn segments_rotate_by_size_and_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let (writer, _) = start(&layout, 1, 1, SyncPolicy::Never);
        for i in 0..3 {
            append(&writer, 0, i * 5..i * 5 + 5).await.unwrap();
        }
        // each group overflows the 1-byte limit: one segment per record, plus the empty active
        // one; a rotation request (a no-op on an empty segment) waits for the size rotation
        assert_eq!(writer.rotate().await.unwrap(), 3);
        let names: Vec<u64> = wal::list_segments(&layout)
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(names, vec![1, 2, 3, 4]);
        assert_eq!(wal::list_segments(&layout).unwrap().len(), 4);
        assert_eq!(writer.shared.disk_usage().1, 4);

        writer.shared.delete_through(&layout, 2).unwrap();
        let names: Vec<u64> = wal::list_segments(&layout)
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(names, vec![3, 4]);
        writer.stop();
        assert_eq!(
            replayed(&layout).iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[tokio::test]
    async fn rotation_returns_the_last_written_seq() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let (writer, _) = start(
            &layout,
            10,
            64 << 20,
            SyncPolicy::Interval(Duration::from_millis(5)),
        );
        assert_eq!(writer.rotate().await.unwrap(), 9);
        assert_eq!(append(&writer, 0, 0..1).await.unwrap(), 10);
        assert_eq!(append(&writer, 1, 1..2).await.unwrap(), 11);
        assert_eq!(writer.rotate().await.unwrap(), 11);
        assert_eq!(append(&writer, 0, 2..3).await.unwrap(), 12);
        let names: Vec<u64> = wal::list_segments(&layout)
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(names, vec![10, 12]);
        writer.stop();
        assert_eq!(replayed(&layout).len(), 3);
    }

    #[tokio::test]
    async fn appends_after_stop_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let (writer, _) = start(&layout, 1, 64 << 20, SyncPolicy::Always);
        append(&writer, 0, 0..1).await.unwrap();
        writer.stop();
        assert!(matches!(append(&writer, 0, 1..2).await, Err(Error::Closed)));
        assert!(matches!(writer.rotate().await, Err(Error::Closed)));
        assert_eq!(writer.shared.queue_bytes.load(Ordering::Acquire), 0);
    }
}
