//! The head: a table's acknowledged batches that are not yet in Parquet files, in memory and
//! queryable, in WAL sequence order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;

use crate::config::TableSpec;
use crate::error::Result;
use crate::key_index::KeyIndex;

/// A batch on its way into the head (through the WAL writer), with the bloom filters of its
/// table's bloom-filter columns, built before the WAL so lookups by id can skip it.
#[derive(Debug)]
pub(crate) struct HeadBatch {
    pub(crate) batch: RecordBatch,
    pub(crate) keys: KeyIndex,
}

impl HeadBatch {
    pub(crate) fn new(spec: &TableSpec, batch: RecordBatch) -> Result<Self> {
        let keys = KeyIndex::of_batch(spec, &batch)?;
        Ok(Self { batch, keys })
    }
}

/// A batch without an index (every lookup scans it), for tests of the head and WAL writer.
#[cfg(test)]
impl From<RecordBatch> for HeadBatch {
    fn from(batch: RecordBatch) -> Self {
        Self {
            batch,
            keys: KeyIndex::default(),
        }
    }
}

#[derive(Debug)]
struct HeadEntry {
    seq: u64,
    batch: RecordBatch,
    keys: KeyIndex,
    bytes: usize,
    inserted: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Head {
    entries: VecDeque<HeadEntry>,
    bytes: usize,
    rows: usize,
}

impl Head {
    /// Adds a batch; `seq` must be above every sequence number already in the head.
    /// Returns the Arrow memory it holds.
    pub(crate) fn push(&mut self, seq: u64, batch: HeadBatch) -> usize {
        debug_assert!(self.entries.back().is_none_or(|last| last.seq < seq));
        let HeadBatch { batch, keys } = batch;
        let bytes = batch.get_array_memory_size() + keys.bytes();
        self.bytes += bytes;
        self.rows += batch.num_rows();
        self.entries.push_back(HeadEntry {
            seq,
            batch,
            keys,
            bytes,
            inserted: Instant::now(),
        });
        bytes
    }

    /// Every batch, oldest first.
    pub(crate) fn batches(&self) -> Vec<RecordBatch> {
        self.entries.iter().map(|e| e.batch.clone()).collect()
    }

    /// The key index of every batch, in the order of [`batches`](Self::batches).
    pub(crate) fn keys(&self) -> Vec<KeyIndex> {
        self.entries.iter().map(|e| e.keys.clone()).collect()
    }

    /// The batches with `seq <= through`, oldest first (they stay in the head).
    pub(crate) fn batches_through(&self, through: u64) -> Vec<RecordBatch> {
        self.entries
            .iter()
            .take_while(|e| e.seq <= through)
            .map(|e| e.batch.clone())
            .collect()
    }

    /// Removes the batches with `seq <= through`; returns the bytes freed.
    pub(crate) fn drop_through(&mut self, through: u64) -> usize {
        let mut freed = 0;
        while let Some(front) = self.entries.front() {
            if front.seq > through {
                break;
            }
            if let Some(entry) = self.entries.pop_front() {
                freed += entry.bytes;
                self.rows -= entry.batch.num_rows();
            }
        }
        self.bytes -= freed;
        freed
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn batch_count(&self) -> usize {
        self.entries.len()
    }

    /// How long the oldest batch has waited for a flush.
    pub(crate) fn oldest_age(&self) -> Option<Duration> {
        self.entries.front().map(|e| e.inserted.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap()
    }

    #[test]
    fn push_select_and_drop_by_sequence() {
        let mut head = Head::default();
        assert!(head.oldest_age().is_none());
        let b1 = head.push(1, batch(10).into());
        head.push(3, batch(20).into());
        head.push(7, batch(30).into());
        assert_eq!((head.rows(), head.batch_count()), (60, 3));
        assert!(head.oldest_age().is_some());

        let through_3: usize = head.batches_through(3).iter().map(|b| b.num_rows()).sum();
        assert_eq!(through_3, 30);
        assert_eq!(head.batches_through(0).len(), 0);

        let before = head.bytes();
        let freed = head.drop_through(1);
        assert_eq!(freed, b1);
        assert_eq!(head.bytes(), before - b1);
        assert_eq!(head.rows(), 50);
        head.drop_through(100);
        assert_eq!((head.rows(), head.bytes(), head.batch_count()), (0, 0, 0));
    }
}
