//! Point lookups without opening files: for each bloom-filter column of a table, the value
//! range and the bloom filter of every row group of a Parquet file, kept in memory beside the
//! file's catalog entry.
//!
//! A lookup by id (`trace_id = '…'`) over thousands of files would otherwise open every file
//! to read its footer and bloom filter. With the index in memory, the reader asks
//! [`KeyIndex::row_groups`] and opens only the files and row groups that may hold the value;
//! for every other file the answer costs a few hash probes.
//!
//! The index is read once per file: from the encoded bytes when a flush writes the file, from
//! the file when the catalog is loaded at start. It holds the bloom filters the file already
//! carries (about 1.2 bytes per distinct value at the files' false-positive rate), not a copy
//! of the keys.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;

use crate::config::TableSpec;
use crate::error::Result;
use crate::parquet_file::BLOOM_FILTER_FPP;

/// The key ranges and bloom filters of one file, for the bloom-filter columns of its table.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    columns: Arc<[ColumnKeys]>,
}

#[derive(Debug)]
struct ColumnKeys {
    column: &'static str,
    row_groups: Vec<RowGroupKeys>,
}

#[derive(Debug)]
struct RowGroupKeys {
    /// Lower and upper bounds of the column in the row group (from its statistics), when known.
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
    bloom: Option<Sbbf>,
}

impl RowGroupKeys {
    fn may_hold(&self, value: &[u8]) -> bool {
        let above_min = self.min.as_deref().is_none_or(|min| value >= min);
        let below_max = self.max.as_deref().is_none_or(|max| value <= max);
        above_min && below_max && self.bloom.as_ref().is_none_or(|b| b.check(value))
    }

    fn bytes(&self) -> usize {
        let bounds = self.min.as_ref().map_or(0, Vec::len) + self.max.as_ref().map_or(0, Vec::len);
        // a block is 8 × u32
        bounds + self.bloom.as_ref().map_or(0, |b| b.num_blocks() * 32)
    }
}

impl KeyIndex {
    /// Reads the index of the file whose footer is `metadata` and whose bytes `reader` gives:
    /// statistics from the footer, bloom filters from the file.
    pub(crate) fn read<R: ChunkReader>(
        spec: &TableSpec,
        metadata: &ParquetMetaData,
        reader: &R,
    ) -> Result<Self> {
        let leaves = metadata.file_metadata().schema_descr().columns();
        let mut columns = Vec::with_capacity(spec.bloom_filter_columns.len());
        for &column in &spec.bloom_filter_columns {
            let Some(leaf) = leaves.iter().position(|c| c.path().parts() == [column]) else {
                continue;
            };
            let mut row_groups = Vec::with_capacity(metadata.num_row_groups());
            for row_group in metadata.row_groups() {
                let chunk = row_group.column(leaf);
                let (min, max) = match chunk.statistics() {
                    Some(Statistics::ByteArray(s)) => (
                        s.min_bytes_opt().map(<[u8]>::to_vec),
                        s.max_bytes_opt().map(<[u8]>::to_vec),
                    ),
                    Some(Statistics::FixedLenByteArray(s)) => (
                        s.min_bytes_opt().map(<[u8]>::to_vec),
                        s.max_bytes_opt().map(<[u8]>::to_vec),
                    ),
                    _ => (None, None),
                };
                let bloom = Sbbf::read_from_column_chunk(chunk, reader)?;
                row_groups.push(RowGroupKeys { min, max, bloom });
            }
            columns.push(ColumnKeys { column, row_groups });
        }
        Ok(Self {
            columns: columns.into(),
        })
    }

    /// The columns the index covers.
    pub fn columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.column)
    }

    /// The index of a batch in memory (a head batch): one bloom filter per bloom-filter column
    /// of a string or binary type, no ranges (ids arrive in no order).
    pub(crate) fn of_batch(spec: &TableSpec, batch: &RecordBatch) -> Result<Self> {
        let mut columns = Vec::with_capacity(spec.bloom_filter_columns.len());
        for &column in &spec.bloom_filter_columns {
            let Some(values) = batch.column_by_name(column) else {
                continue;
            };
            let mut bloom = Sbbf::new_with_ndv_fpp(values.len().max(1) as u64, BLOOM_FILTER_FPP)?;
            let mut insert = |value: &[u8]| bloom.insert(value);
            if let Some(strings) = values.as_string_opt::<i32>() {
                strings.iter().flatten().for_each(|v| insert(v.as_bytes()));
            } else if let Some(binary) = values.as_fixed_size_binary_opt() {
                binary.iter().flatten().for_each(insert);
            } else if let Some(binary) = values.as_binary_opt::<i32>() {
                binary.iter().flatten().for_each(insert);
            } else {
                continue;
            }
            columns.push(ColumnKeys {
                column,
                row_groups: vec![RowGroupKeys {
                    min: None,
                    max: None,
                    bloom: Some(bloom),
                }],
            });
        }
        Ok(Self {
            columns: columns.into(),
        })
    }

    /// Whether the index covers `column`.
    pub fn covers(&self, column: &str) -> bool {
        self.column(column).is_some()
    }

    /// The row groups whose range and bloom filter admit at least one of `values` of `column`
    /// (as stored: a string's UTF-8 bytes), ascending; `None` when the index does not cover the
    /// column (every row group may hold any value).
    pub fn row_groups(&self, column: &str, values: &[&[u8]]) -> Option<Vec<usize>> {
        let keys = self.column(column)?;
        Some(
            keys.row_groups
                .iter()
                .enumerate()
                .filter(|(_, group)| values.iter().any(|v| group.may_hold(v)))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// Number of row groups the index knows for `column`.
    pub fn row_group_count(&self, column: &str) -> Option<usize> {
        Some(self.column(column)?.row_groups.len())
    }

    /// Memory held by the bounds and bloom filters.
    pub fn bytes(&self) -> usize {
        self.columns
            .iter()
            .flat_map(|c| &c.row_groups)
            .map(RowGroupKeys::bytes)
            .sum()
    }

    fn column(&self, column: &str) -> Option<&ColumnKeys> {
        self.columns.iter().find(|c| c.column == column)
    }
}

/// Two indexes are equal when they cover the same columns with the same row-group bounds and
/// bloom filters of the same size (bloom bits are not compared: equal files give equal bits).
impl PartialEq for KeyIndex {
    fn eq(&self, other: &Self) -> bool {
        self.columns.len() == other.columns.len()
            && self.columns.iter().zip(other.columns.iter()).all(|(a, b)| {
                a.column == b.column
                    && a.row_groups.len() == b.row_groups.len()
                    && a.row_groups.iter().zip(&b.row_groups).all(|(x, y)| {
                        x.min == y.min
                            && x.max == y.max
                            && x.bloom.as_ref().map(Sbbf::num_blocks)
                                == y.bloom.as_ref().map(Sbbf::num_blocks)
                    })
            })
    }
}

impl Eq for KeyIndex {}

#[cfg(test)]
mod tests {
    use super::KeyIndex;
    use std::collections::BTreeSet;

    use crate::parquet_file::encode_parquet;
    use crate::test_util::{BASE_NS, batch_with, spec, trace_of};

    /// 600 rows of 50 traces in one hour, sorted by trace id into row groups of 100 rows.
    fn encoded() -> crate::EncodedFile {
        let rows = batch_with(0..600, |id| BASE_NS + id as i64);
        let mut files = encode_parquet(&spec(), &[rows], 100).unwrap();
        assert_eq!(files.len(), 1);
        files.remove(0)
    }

    #[test]
    fn a_present_key_finds_the_row_groups_that_hold_it() {
        let file = encoded();
        let keys = &file.keys;
        assert!(keys.covers("trace_id") && !keys.covers("id"));
        assert_eq!(keys.row_group_count("trace_id"), Some(6));
        assert!(keys.bytes() > 0);
        // the rows are sorted by trace id, so each trace sits in one or two row groups
        let traces: BTreeSet<[u8; 16]> = (0..600).map(trace_of).collect();
        for trace in &traces {
            let groups = keys.row_groups("trace_id", &[trace.as_slice()]).unwrap();
            assert!(
                (1..=2).contains(&groups.len()),
                "{trace:?} in row groups {groups:?}"
            );
        }
        // all keys together admit every row group
        let all: Vec<&[u8]> = traces.iter().map(|t| t.as_slice()).collect();
        assert_eq!(
            keys.row_groups("trace_id", &all).unwrap(),
            (0..6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_absent_key_is_ruled_out_by_range_or_bloom_filter() {
        let file = encoded();
        // above every row group's range
        let above = [0xffu8; 16];
        assert_eq!(
            file.keys.row_groups("trace_id", &[above.as_slice()]),
            Some(vec![])
        );
        // keys inside the ranges: the bloom filters (1 % false positives) rule nearly all out
        let admitted: usize = (1000..1200u64)
            .map(|n| {
                let mut key = trace_of(0);
                key[8..].copy_from_slice(&n.to_be_bytes());
                file.keys
                    .row_groups("trace_id", &[key.as_slice()])
                    .unwrap()
                    .len()
            })
            .sum();
        assert!(
            admitted <= 10,
            "{admitted} row groups admitted for 200 absent keys"
        );
    }

    #[test]
    fn a_head_batch_index_admits_its_keys_and_rules_out_others() {
        let rows = batch_with(0..600, |id| BASE_NS + id as i64);
        let keys = KeyIndex::of_batch(&spec(), &rows).unwrap();
        assert_eq!(keys.row_group_count("trace_id"), Some(1));
        for id in 0..600 {
            let key = trace_of(id);
            assert_eq!(
                keys.row_groups("trace_id", &[key.as_slice()]),
                Some(vec![0])
            );
        }
        let admitted = (1000..1200u64)
            .filter(|&n| {
                let mut key = trace_of(0);
                key[8..].copy_from_slice(&n.to_be_bytes());
                keys.row_groups("trace_id", &[key.as_slice()]) == Some(vec![0])
            })
            .count();
        assert!(admitted <= 10, "{admitted} of 200 absent keys admitted");
        assert!(!keys.covers("id") && keys.bytes() > 0);
    }

    #[test]
    fn a_column_without_bloom_filter_is_not_covered() {
        let file = encoded();
        assert_eq!(file.keys.row_groups("id", &[b"1".as_slice()]), None);
        assert_eq!(file.keys.row_group_count("id"), None);
    }
}
