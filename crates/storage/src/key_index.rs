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
//!
//! It also knows which keys each row group's string-keyed map columns hold (a span's
//! `attributes`, `resource_attributes`): the distinct keys of a row group are the dictionary
//! page of the map's key column, which the file already carries. A filter on a key that a row
//! group's maps never hold (`attributes['k'] = 'v'`) skips the row group without decoding its
//! maps, and a search on an attribute that no resource carries need not read resource maps.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::basic::{Encoding, PageType};
use parquet::bloom_filter::Sbbf;
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use parquet::file::properties::DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT;
use parquet::file::reader::ChunkReader;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::statistics::Statistics;

use crate::config::TableSpec;
use crate::error::Result;
use crate::parquet_file::BLOOM_FILTER_FPP;

/// The key ranges and bloom filters of one file, for the bloom-filter columns of its table.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    columns: Arc<[ColumnKeys]>,
    maps: Arc<[MapKeys]>,
}

/// A file keeps the keys of a map column only while they number at most this many (distinct over
/// its row groups); a file with more keys has none kept for that column, and every row group
/// may hold any key.
const MAX_MAP_KEYS: usize = 4096;

/// The keys of one map column, per row group of a file.
#[derive(Debug)]
struct MapKeys {
    column: Box<str>,
    /// The distinct keys of all row groups, sorted.
    keys: Box<[Box<str>]>,
    /// Per row group, which of `keys` it holds (a bit per key); `None` when unknown.
    row_groups: Vec<Option<Box<[u64]>>>,
}

impl MapKeys {
    /// `None` when the file's keys are too many to keep, `Some` with unknown row groups where a
    /// row group's keys cannot be read.
    fn read<R: ChunkReader + 'static>(
        column: &str,
        leaf: usize,
        metadata: &ParquetMetaData,
        reader: &Arc<R>,
    ) -> Option<Self> {
        let per_group: Vec<Option<Vec<String>>> = metadata
            .row_groups()
            .iter()
            .map(|row_group| {
                let chunk = row_group.column(leaf);
                dictionary_strings(chunk, row_group.num_rows(), reader)
            })
            .collect();
        let keys: BTreeSet<&str> = per_group
            .iter()
            .flatten()
            .flatten()
            .map(String::as_str)
            .collect();
        if keys.len() > MAX_MAP_KEYS {
            return None;
        }
        let keys: Box<[Box<str>]> = keys.into_iter().map(Box::from).collect();
        let words = keys.len().div_ceil(64);
        let row_groups = per_group
            .iter()
            .map(|group| {
                let group = group.as_ref()?;
                let mut bits = vec![0u64; words].into_boxed_slice();
                for key in group {
                    if let Ok(i) = keys.binary_search_by(|k| (**k).cmp(key.as_str())) {
                        bits[i / 64] |= 1 << (i % 64);
                    }
                }
                Some(bits)
            })
            .collect();
        Some(Self {
            column: column.into(),
            keys,
            row_groups,
        })
    }

    fn may_hold(&self, row_group: usize, key: &str) -> bool {
        let Some(Some(bits)) = self.row_groups.get(row_group) else {
            return true;
        };
        match self.keys.binary_search_by(|k| (**k).cmp(key)) {
            Ok(i) => bits[i / 64] & (1 << (i % 64)) != 0,
            Err(_) => false,
        }
    }

    fn bytes(&self) -> usize {
        let keys: usize = self.keys.iter().map(|k| k.len() + 16).sum();
        let bits: usize = self.row_groups.iter().flatten().map(|b| b.len() * 8).sum();
        keys + bits
    }
}

/// The distinct values of a string column chunk whose data pages are all dictionary-encoded:
/// its dictionary page. `None` when the chunk has no dictionary, fell back to plain encoding, or
/// cannot be read.
fn dictionary_strings<R: ChunkReader + 'static>(
    chunk: &ColumnChunkMetaData,
    rows: i64,
    reader: &Arc<R>,
) -> Option<Vec<String>> {
    chunk.dictionary_page_offset()?;
    let dictionary_only =
        |e: Encoding| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY);
    let all_dictionary = match (
        chunk.page_encoding_stats(),
        chunk.page_encoding_stats_mask(),
    ) {
        (Some(stats), _) => Some(
            stats
                .iter()
                .filter(|s| s.page_type != PageType::DICTIONARY_PAGE)
                .all(|s| s.count == 0 || dictionary_only(s.encoding)),
        ),
        (None, Some(mask)) => {
            Some(mask.is_only(Encoding::RLE_DICTIONARY) || mask.is_only(Encoding::PLAIN_DICTIONARY))
        }
        (None, None) => None,
    };
    if all_dictionary == Some(false) {
        return None;
    }
    let rows = usize::try_from(rows).ok()?;
    let mut pages = SerializedPageReader::new(Arc::clone(reader), chunk, rows, None).ok()?;
    let Ok(Some(Page::DictionaryPage {
        buf, num_values, ..
    })) = pages.get_next_page()
    else {
        return None;
    };
    // Without encoding statistics (files merged before merges kept them), whether the chunk
    // fell back to plain pages is told by the dictionary's size: the writer falls back only
    // once its dictionary reaches the page size limit, so a smaller dictionary holds every value.
    if all_dictionary.is_none() && buf.len() >= DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT / 2 {
        return None;
    }
    plain_strings(&buf, num_values as usize)
}

/// `count` PLAIN-encoded byte arrays (a little-endian `u32` length, then the bytes) as UTF-8.
fn plain_strings(mut buf: &[u8], count: usize) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(count.min(MAX_MAP_KEYS + 1));
    for _ in 0..count {
        let (len, rest) = buf.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        let (value, rest) = rest.split_at(len);
        out.push(std::str::from_utf8(value).ok()?.to_owned());
        buf = rest;
    }
    Some(out)
}

/// The map columns of `spec`'s files whose keys are strings, with the Parquet leaf of their keys.
fn string_keyed_maps(spec: &TableSpec, metadata: &ParquetMetaData) -> Vec<(String, usize)> {
    let leaves = metadata.file_metadata().schema_descr().columns();
    let file_schema = spec.file_schema();
    let mut maps = Vec::new();
    for field in file_schema.fields() {
        let DataType::Map(entries, _) = field.data_type() else {
            continue;
        };
        let DataType::Struct(children) = entries.data_type() else {
            continue;
        };
        let Some(key) = children
            .first()
            .filter(|k| k.data_type() == &DataType::Utf8)
        else {
            continue;
        };
        let path = [
            field.name().as_str(),
            entries.name().as_str(),
            key.name().as_str(),
        ];
        if let Some(leaf) = leaves.iter().position(|c| c.path().parts() == path) {
            maps.push((field.name().clone(), leaf));
        }
    }
    maps
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
    pub(crate) fn read<R: ChunkReader + 'static>(
        spec: &TableSpec,
        metadata: &ParquetMetaData,
        reader: &Arc<R>,
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
                let bloom = Sbbf::read_from_column_chunk(chunk, reader.as_ref())?;
                row_groups.push(RowGroupKeys { min, max, bloom });
            }
            columns.push(ColumnKeys { column, row_groups });
        }
        let maps: Vec<MapKeys> = string_keyed_maps(spec, metadata)
            .into_iter()
            .filter_map(|(column, leaf)| MapKeys::read(&column, leaf, metadata, reader))
            .collect();
        Ok(Self {
            columns: columns.into(),
            maps: maps.into(),
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
            maps: Arc::default(),
        })
    }

    /// Whether row group `row_group` may hold `key` in the map column `column`: `false` only
    /// when the index knows that row group's keys and `key` is not among them (an index of a
    /// head batch knows none).
    pub fn may_hold_map_key(&self, column: &str, row_group: usize, key: &str) -> bool {
        self.maps
            .iter()
            .find(|m| &*m.column == column)
            .is_none_or(|m| m.may_hold(row_group, key))
    }

    /// Number of row groups whose map keys the index knows for map column `column`.
    pub fn map_row_group_count(&self, column: &str) -> Option<usize> {
        self.maps
            .iter()
            .find(|m| &*m.column == column)
            .map(|m| m.row_groups.len())
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

    /// Memory held by the bounds, bloom filters and map keys.
    pub fn bytes(&self) -> usize {
        let columns: usize = self
            .columns
            .iter()
            .flat_map(|c| &c.row_groups)
            .map(RowGroupKeys::bytes)
            .sum();
        columns + self.maps.iter().map(MapKeys::bytes).sum::<usize>()
    }

    fn column(&self, column: &str) -> Option<&ColumnKeys> {
        self.columns.iter().find(|c| c.column == column)
    }
}

/// Two indexes are equal when they cover the same columns with the same row-group bounds and
/// bloom filters of the same size (bloom bits are not compared: equal files give equal bits)
/// and know the same map keys.
impl PartialEq for KeyIndex {
    fn eq(&self, other: &Self) -> bool {
        let maps_equal = self.maps.len() == other.maps.len()
            && self.maps.iter().zip(other.maps.iter()).all(|(a, b)| {
                a.column == b.column && a.keys == b.keys && a.row_groups == b.row_groups
            });
        maps_equal
            && self.columns.len() == other.columns.len()
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
    use std::sync::Arc;

    use arrow::array::RecordBatch;
    use arrow::datatypes::DataType;

    use super::plain_strings;
    use crate::parquet_file::encode_parquet;
    use crate::test_util::{BASE_NS, batch_with, spec, trace_of};

    /// 600 rows of 50 traces in one hour, sorted by trace id into row groups of 100 rows.
    fn encoded() -> crate::EncodedFile {
        let rows = batch_with(0..600, |id| BASE_NS + id as i64);
        let mut files = encode_parquet(&spec(), &[rows], 100, 1).unwrap();
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

    fn map_spec() -> crate::TableSpec {
        use arrow::datatypes::{Field, Fields, Schema, TimeUnit};
        let entries = Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        );
        crate::TableSpec {
            name: "maps",
            schema: Arc::new(Schema::new(vec![
                Field::new(
                    "start_time",
                    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                    false,
                ),
                Field::new("attrs", DataType::Map(Arc::new(entries), false), false),
            ])),
            time_column: "start_time",
            sort_columns: vec!["start_time"],
            bloom_filter_columns: vec![],
            derived_columns: vec![],
        }
    }

    /// A table with a string-keyed map column `attrs`: row `i` holds key `k{i / 100}` (so each
    /// row group of 100 rows one key), and every row holds key `shared`.
    fn map_file(rows: u64, row_group_rows: usize) -> crate::EncodedFile {
        use arrow::array::{Array, MapBuilder, StringBuilder, TimestampNanosecondArray};
        use arrow::datatypes::{Field, Schema};

        let mut maps = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for i in 0..rows {
            maps.keys().append_value(format!("k{}", i / 100));
            maps.values().append_value("v");
            maps.keys().append_value("shared");
            maps.values().append_null();
            maps.append(true).unwrap();
        }
        let maps = maps.finish();
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "start_time",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("attrs", maps.data_type().clone(), false),
        ]));
        let times =
            TimestampNanosecondArray::from_iter_values((0..rows).map(|i| BASE_NS + i as i64))
                .with_timezone("UTC");
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(times), Arc::new(maps)])
                .unwrap();
        assert_eq!(schema, map_spec().schema);
        let mut files = encode_parquet(&map_spec(), &[batch], row_group_rows, 2).unwrap();
        assert_eq!(files.len(), 1);
        files.remove(0)
    }

    #[test]
    fn map_keys_rule_out_the_row_groups_without_a_key() {
        let file = map_file(600, 100);
        let keys = &file.keys;
        assert_eq!(keys.map_row_group_count("attrs"), Some(6));
        for group in 0..6 {
            for k in 0..6 {
                let key = format!("k{k}");
                assert_eq!(
                    keys.may_hold_map_key("attrs", group, &key),
                    k == group,
                    "{key} in {group}"
                );
            }
            assert!(keys.may_hold_map_key("attrs", group, "shared"));
            assert!(!keys.may_hold_map_key("attrs", group, "absent"));
            // a column the index does not know may hold anything
            assert!(keys.may_hold_map_key("other", group, "absent"));
        }
        // a row group the index does not know may hold anything
        assert!(keys.may_hold_map_key("attrs", 6, "absent"));
        assert!(keys.bytes() > 0);
    }

    #[test]
    fn a_merged_file_keeps_the_map_keys_of_its_row_groups() {
        use crate::stitch::{StitchSource, stitch};
        use parquet::file::metadata::ParquetMetaDataReader;

        let dir = tempfile::tempdir().unwrap();
        // row groups of 100 rows: keys k0…k2, then k0…k3 (row i holds k{i / 100})
        let sources: Vec<StitchSource> = [map_file(300, 100), map_file(400, 100)]
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let path = dir.path().join(format!("{i}.parquet"));
                std::fs::write(&path, &file.bytes).unwrap();
                StitchSource {
                    path,
                    file_id: ulid::Ulid::new(),
                    min_time_ns: 0,
                    max_time_ns: 0,
                }
            })
            .collect();
        let mut merged = Vec::new();
        stitch(&sources, &mut merged).unwrap();
        let merged = bytes::Bytes::from(merged);
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&merged)
            .unwrap();
        // the merge kept the page encoding statistics of every chunk
        assert!(metadata.row_groups().iter().all(|group| {
            group
                .columns()
                .iter()
                .all(|chunk| chunk.page_encoding_stats_mask().is_some())
        }));
        let keys = KeyIndex::read(&map_spec(), &metadata, &Arc::new(merged)).unwrap();
        assert_eq!(keys.map_row_group_count("attrs"), Some(7));
        let holds: Vec<usize> = (0..7)
            .filter(|&group| keys.may_hold_map_key("attrs", group, "k2"))
            .collect();
        assert_eq!(holds, [2, 5]);
        assert!((0..7).all(|group| !keys.may_hold_map_key("attrs", group, "k4")));
        assert!((0..7).all(|group| keys.may_hold_map_key("attrs", group, "shared")));
    }

    #[test]
    fn a_file_with_too_many_map_keys_keeps_none() {
        // 4,200 keys in one row group
        let file = map_file(420_000, 420_000);
        assert_eq!(file.keys.map_row_group_count("attrs"), None);
        assert!(file.keys.may_hold_map_key("attrs", 0, "absent"));
    }

    #[test]
    fn a_head_batch_index_knows_no_map_keys() {
        let rows = batch_with(0..10, |id| BASE_NS + id as i64);
        let keys = KeyIndex::of_batch(&spec(), &rows).unwrap();
        assert_eq!(keys.map_row_group_count("attrs"), None);
        assert!(keys.may_hold_map_key("attrs", 0, "anything"));
    }

    #[test]
    fn plain_strings_refuse_truncated_or_invalid_pages() {
        let mut page = Vec::new();
        for value in ["a", "bc"] {
            page.extend_from_slice(&(value.len() as u32).to_le_bytes());
            page.extend_from_slice(value.as_bytes());
        }
        assert_eq!(
            plain_strings(&page, 2),
            Some(vec!["a".to_owned(), "bc".to_owned()])
        );
        assert_eq!(plain_strings(&page, 3), None);
        assert_eq!(plain_strings(&page[..page.len() - 1], 2), None);
        assert_eq!(plain_strings(&[1, 0, 0, 0, 0xff], 1), None);
    }

    #[test]
    fn a_column_without_bloom_filter_is_not_covered() {
        let file = encoded();
        assert_eq!(file.keys.row_groups("id", &[b"1".as_slice()]), None);
        assert_eq!(file.keys.row_group_count("id"), None);
    }
}
