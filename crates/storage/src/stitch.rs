//! Compaction's merge of Parquet files: the row groups of several files of one partition are
//! copied, still encoded and compressed, into one new file.
//!
//! Nothing is decoded or re-encoded: every column chunk is spliced byte for byte, with its
//! statistics, page index and bloom filter, so a merge costs the I/O of the bytes and not the
//! CPU of a flush. Each row group stays sorted by the table's sort columns, which is what
//! lookups need (a trace lies in one row group of the file its rows were flushed into); the
//! merged file is not sorted as a whole.
//!
//! The merged file's footer names the files it replaces ([`REPLACES_KEY`]), so that a restart
//! after a crash between publishing the merged file and deleting its sources drops the sources
//! instead of reading their rows twice.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use parquet::bloom_filter::Sbbf;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{
    KeyValue, PageIndexPolicy, ParquetMetaData, ParquetMetaDataOptions, ParquetMetaDataReader,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use ulid::Ulid;

use crate::error::{Error, IoContext, Result};
use crate::parquet_file::{MAX_TIME_KEY, MIN_TIME_KEY};

/// Key-value metadata of a merged file: the ULIDs of the files it replaces, comma-separated.
pub(crate) const REPLACES_KEY: &str = "meshscope.replaces";

/// One file to merge.
pub(crate) struct StitchSource {
    pub(crate) path: PathBuf,
    pub(crate) file_id: Ulid,
    pub(crate) min_time_ns: i64,
    pub(crate) max_time_ns: i64,
}

/// What a merge wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stitched {
    pub(crate) rows: u64,
    pub(crate) row_groups: usize,
}

/// Writes the row groups of `sources`, in order, into `out` as one Parquet file. The sources
/// must share one Parquet schema; the first one's key-value metadata (format version, Arrow
/// schema) is kept, with the time range of all sources and the list of replaced files.
pub(crate) fn stitch(sources: &[StitchSource], out: &mut (dyn Write + Send)) -> Result<Stitched> {
    let opened = sources
        .iter()
        .map(|source| {
            let file = File::open(&source.path).at(&source.path)?;
            // full page encoding statistics, so the merged footer keeps them: they tell readers
            // which chunks are dictionary-encoded throughout (see `key_index`)
            let metadata = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .with_metadata_options(Some(
                    ParquetMetaDataOptions::new().with_encoding_stats_as_mask(false),
                ))
                .parse_and_finish(&file)?;
            Ok((file, metadata))
        })
        .collect::<Result<Vec<(File, ParquetMetaData)>>>()?;
    let Some((_, first)) = opened.first() else {
        return Err(Error::InvalidConfig(
            "a merge needs at least one file".into(),
        ));
    };
    let schema = first.file_metadata().schema_descr().root_schema_ptr();
    for ((_, metadata), source) in opened.iter().zip(sources) {
        if metadata.file_metadata().schema_descr().root_schema() != schema.as_ref() {
            return Err(Error::InvalidBatch {
                table: source.path.display().to_string(),
                reason: "its Parquet schema differs from the other files of the merge".into(),
            });
        }
    }

    let min_time_ns = sources.iter().map(|s| s.min_time_ns).min().unwrap_or(0);
    let max_time_ns = sources.iter().map(|s| s.max_time_ns).max().unwrap_or(0);
    let replaces = sources
        .iter()
        .map(|s| s.file_id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut key_values: Vec<KeyValue> = first
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter(|kv| ![MIN_TIME_KEY, MAX_TIME_KEY, REPLACES_KEY].contains(&kv.key.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    key_values.push(KeyValue::new(MIN_TIME_KEY.into(), min_time_ns.to_string()));
    key_values.push(KeyValue::new(MAX_TIME_KEY.into(), max_time_ns.to_string()));
    key_values.push(KeyValue::new(REPLACES_KEY.into(), replaces));
    let sorting = first
        .row_groups()
        .first()
        .and_then(|rg| rg.sorting_columns())
        .cloned();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(key_values))
        .set_sorting_columns(sorting)
        .build();

    let mut writer = SerializedFileWriter::new(out, schema, Arc::new(props))?;
    let (mut rows, mut row_groups) = (0u64, 0usize);
    for (file, metadata) in &opened {
        let column_indexes = metadata.column_index();
        let offset_indexes = metadata.offset_index();
        for (rg_index, row_group) in metadata.row_groups().iter().enumerate() {
            let mut out_group = writer.next_row_group()?;
            let group_rows = u64::try_from(row_group.num_rows()).unwrap_or(0);
            for (column, chunk) in row_group.columns().iter().enumerate() {
                let close = ColumnCloseResult {
                    bytes_written: u64::try_from(chunk.compressed_size()).unwrap_or(0),
                    rows_written: group_rows,
                    metadata: chunk.clone(),
                    bloom_filter: Sbbf::read_from_column_chunk(chunk, file)?,
                    column_index: column_indexes
                        .and_then(|groups| groups.get(rg_index))
                        .and_then(|columns| columns.get(column))
                        .cloned(),
                    offset_index: offset_indexes
                        .and_then(|groups| groups.get(rg_index))
                        .and_then(|columns| columns.get(column))
                        .cloned(),
                };
                out_group.append_column(file, close)?;
            }
            out_group.close()?;
            rows += group_rows;
            row_groups += 1;
        }
    }
    writer.close()?;
    Ok(Stitched { rows, row_groups })
}

/// The files a merged file replaces, from its footer (none for a file written by a flush).
pub(crate) fn replaced_files(metadata: &ParquetMetaData) -> Vec<Ulid> {
    metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == REPLACES_KEY))
        .and_then(|kv| kv.value.as_deref())
        .map(|value| {
            value
                .split(',')
                .filter_map(|id| id.parse::<Ulid>().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use arrow::array::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::parquet_file::encode_parquet;
    use crate::test_util::{BASE_NS, batch_with, ids_of, spec};

    fn source(dir: &std::path::Path, name: &str, bytes: &[u8]) -> StitchSource {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        StitchSource {
            path,
            file_id: Ulid::new(),
            min_time_ns: 0,
            max_time_ns: 0,
        }
    }

    fn rows(bytes: bytes::Bytes) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
    }

    fn encode(ids: std::ops::Range<u64>) -> bytes::Bytes {
        let batch = batch_with(ids, |id| BASE_NS + id as i64);
        encode_parquet(&spec(), &[batch], 60, 2)
            .unwrap()
            .remove(0)
            .bytes
    }

    #[test]
    fn a_merge_keeps_every_row_group_and_names_its_sources() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (encode(0..100), encode(100..130));
        let sources = [source(dir.path(), "a", &a), source(dir.path(), "b", &b)];
        let mut out = Vec::new();
        let stitched = stitch(&sources, &mut out).unwrap();
        // 100 rows in groups of 60 and 40, then 30
        assert_eq!(
            stitched,
            Stitched {
                rows: 130,
                row_groups: 3
            }
        );
        let merged = bytes::Bytes::from(out);
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&merged)
            .unwrap();
        let ids: Vec<Ulid> = sources.iter().map(|s| s.file_id).collect();
        assert_eq!(replaced_files(&metadata), ids);
        // the rows of a, then those of b, each in its file's order
        let mut expect = ids_of(&rows(a));
        expect.extend(ids_of(&rows(b)));
        assert_eq!(ids_of(&rows(merged)), expect);
    }

    #[test]
    fn files_of_different_schemas_are_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        let other = {
            let batch = batch_with(0..10, |id| BASE_NS + id as i64);
            let narrow = batch.project(&[0, 1, 2]).unwrap();
            let mut out = Vec::new();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut out, narrow.schema(), None).unwrap();
            writer.write(&narrow).unwrap();
            writer.close().unwrap();
            out
        };
        let sources = [
            source(dir.path(), "a", &encode(0..10)),
            source(dir.path(), "b", &other),
        ];
        let err = stitch(&sources, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("schema differs"), "{err}");
    }
}
