//! Parquet files: turning head batches into sorted, hour-partitioned files, and reading them back.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampNanosecondArray};
use arrow::compute::{self, SortColumn, SortOptions};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use arrow::row::{RowConverter, Rows, SortField};
use bytes::Bytes;
use parking_lot::Mutex;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaData, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use crate::config::TableSpec;
use crate::error::{Error, IoContext, Result};
use crate::key_index::KeyIndex;
use crate::path::{PartitionHour, PartitionedPath};

/// Key-value metadata every file carries.
pub(crate) const FORMAT_VERSION_KEY: &str = "meshscope.format_version";
pub(crate) const FORMAT_VERSION: &str = "1";
pub(crate) const MIN_TIME_KEY: &str = "meshscope.min_time_ns";
pub(crate) const MAX_TIME_KEY: &str = "meshscope.max_time_ns";

const ZSTD_LEVEL: i32 = 3;
const DATA_PAGE_ROW_LIMIT: usize = 8192;
pub(crate) const BLOOM_FILTER_FPP: f64 = 0.01;

/// One immutable Parquet file of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetFile {
    /// Absolute path, for readers outside storage.
    pub path: PathBuf,
    pub relative: PartitionedPath,
    pub size_bytes: u64,
    pub rows: u64,
    /// Smallest and largest value of the table's time column in the file.
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    /// Ranges and bloom filters of the table's bloom-filter columns per row group, in memory.
    pub keys: KeyIndex,
}

/// A Parquet file encoded in memory, not yet written anywhere.
#[derive(Debug)]
pub struct EncodedFile {
    /// Where the file goes, relative to the data directory (a fresh ULID file name).
    pub relative: PartitionedPath,
    pub bytes: Bytes,
    pub rows: u64,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub keys: KeyIndex,
}

/// Encodes batches of a table the way a flush does (split by UTC hour of the time column,
/// sorted by the sort columns, zstd, statistics, page index, bloom filters), in memory.
/// For benchmarks and tools; `Storage` flushes through it.
pub fn encode_parquet(
    spec: &TableSpec,
    batches: &[RecordBatch],
    row_group_rows: usize,
    threads: usize,
) -> Result<Vec<EncodedFile>> {
    spec.validate()?;
    if row_group_rows == 0 {
        return Err(Error::InvalidConfig(
            "row_group_rows must be greater than zero".into(),
        ));
    }
    encode_partitions(spec, batches, row_group_rows, threads)
}

/// Splits `batches` by the UTC hour of the time column, sorts each part by the sort columns and
/// encodes one Parquet file per hour. Rows are copied once, one row group at a time (an
/// `interleave` in sorted order), so a flush holds the sort keys and one row group beside the
/// head rather than a sorted copy of the whole head. The columns of a row group are copied
/// and encoded on up to `threads` threads.
pub(crate) fn encode_partitions(
    spec: &TableSpec,
    batches: &[RecordBatch],
    row_group_rows: usize,
    threads: usize,
) -> Result<Vec<EncodedFile>> {
    let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let time_index = spec.schema.index_of(spec.time_column)?;
    let column_of = |name: &str| spec.schema.index_of(name);
    let sort_indices = spec
        .sort_columns
        .iter()
        .map(|c| column_of(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;

    // sort keys of all rows: hour first, then the table's sort columns
    let mut hour_parts: Vec<ArrayRef> = Vec::with_capacity(batches.len());
    for batch in &batches {
        let times = time_values(spec, batch.column(time_index))?;
        let hours: Int64Array = times.unary(PartitionHour::index_of);
        hour_parts.push(Arc::new(hours));
    }
    let whole_column = |index: usize| {
        let parts: Vec<ArrayRef> = batches
            .iter()
            .map(|b| Arc::clone(b.column(index)))
            .collect();
        concat(&parts)
    };
    let hours = concat(&hour_parts)?;
    drop(hour_parts);
    let keys = sort_indices
        .iter()
        .map(|&index| whole_column(index))
        .collect::<Result<Vec<_>>>()?;
    let mut sort_columns = vec![SortColumn {
        values: Arc::clone(&hours),
        options: None,
    }];
    sort_columns.extend(keys.iter().map(|values| SortColumn {
        values: Arc::clone(values),
        options: Some(SortOptions {
            descending: false,
            nulls_first: true,
        }),
    }));
    let order = compute::lexsort_to_indices(&sort_columns, None)?;
    drop(sort_columns);
    // the bloom-filter columns of all rows, to size each file's filters (usually sort keys)
    let bloom_columns = spec
        .bloom_filter_columns
        .iter()
        .map(|name| {
            let column = match spec.sort_columns.iter().position(|c| c == name) {
                Some(position) => Arc::clone(&keys[position]),
                None => whole_column(column_of(name)?)?,
            };
            DistinctCounter::new(column)
        })
        .collect::<Result<Vec<_>>>()?;
    drop(keys);

    // global row number → (batch, row in batch)
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0usize;
    for batch in &batches {
        starts.push(total);
        total += batch.num_rows();
    }
    let locate = |global: u32| {
        let global = global as usize;
        let batch = starts.partition_point(|&start| start <= global) - 1;
        (batch, global - starts[batch])
    };
    let hours = hours
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| internal(spec, "hour keys are not Int64"))?;

    // the columns files store, in file-schema order: derived columns are left out
    let file_schema = spec.file_schema();
    let stored = file_schema
        .fields()
        .iter()
        .map(|f| column_of(f.name()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let stored_batches = batches
        .iter()
        .map(|b| b.project(&stored))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let stored_batches: Vec<&RecordBatch> = stored_batches.iter().collect();

    let mut files = Vec::new();
    let order = order.values();
    let mut run_start = 0;
    while run_start < order.len() {
        let hour = hours.value(order[run_start] as usize);
        let run_end = run_start
            + order[run_start..]
                .iter()
                .position(|&row| hours.value(row as usize) != hour)
                .unwrap_or(order.len() - run_start);
        let run = &order[run_start..run_end];
        let distinct = bloom_columns
            .iter()
            .map(|counter| counter.count(run))
            .collect::<Vec<_>>();
        let row_groups = run
            .chunks(row_group_rows)
            .map(|rows| rows.iter().map(|&row| locate(row)).collect());
        files.push(encode_file(
            spec,
            &file_schema,
            PartitionHour::from_index(hour),
            &stored_batches,
            row_groups,
            &distinct,
            row_group_rows,
            threads,
        )?);
        run_start = run_end;
    }
    Ok(files)
}

fn concat(parts: &[ArrayRef]) -> Result<ArrayRef> {
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    Ok(compute::concat(&refs)?)
}

fn internal(spec: &TableSpec, reason: &str) -> Error {
    Error::InvalidBatch {
        table: spec.name.to_string(),
        reason: reason.to_string(),
    }
}

fn time_values<'a>(spec: &TableSpec, column: &'a ArrayRef) -> Result<&'a TimestampNanosecondArray> {
    column
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| internal(spec, "time column is not Timestamp(Nanosecond)"))
}

/// Encodes one sorted partition as a Parquet file: `row_groups` gives, in order, the rows
/// (batch, row in batch) of `batches` each row group holds. `distinct` holds the number of
/// distinct values of each bloom-filter column in the partition.
#[allow(clippy::too_many_arguments)]
fn encode_file(
    spec: &TableSpec,
    file_schema: &SchemaRef,
    partition: PartitionHour,
    batches: &[&RecordBatch],
    row_groups: impl Iterator<Item = Vec<(usize, usize)>>,
    distinct: &[u64],
    row_group_rows: usize,
    threads: usize,
) -> Result<EncodedFile> {
    let time_index = file_schema.index_of(spec.time_column)?;
    let times = batches
        .iter()
        .map(|b| time_values(spec, b.column(time_index)))
        .collect::<Result<Vec<_>>>()?;
    let mut row_groups = row_groups.peekable();
    let first = row_groups
        .peek()
        .filter(|rows| !rows.is_empty())
        .ok_or_else(|| internal(spec, "empty partition"))?;
    // encodings are judged on the first row group, a sample of the whole
    let sample = (0..file_schema.fields().len())
        .map(|index| sample_column(file_schema, batches, first, index))
        .collect::<Result<Vec<_>>>()?;
    let props = writer_properties(spec, file_schema, &sample, distinct, row_group_rows)?;
    drop(sample);
    let (mut writer, factory) =
        ArrowWriter::try_new(Vec::new(), Arc::clone(file_schema), Some(props))?
            .into_serialized_writer()?;
    // the top-level column each Parquet leaf column belongs to
    let descriptor = writer.schema_descr();
    let leaf_roots: Vec<usize> = (0..descriptor.num_columns())
        .map(|leaf| descriptor.get_column_root_idx(leaf))
        .collect();
    let (mut rows, mut min_time_ns, mut max_time_ns) = (0, i64::MAX, i64::MIN);
    for (index, group) in row_groups.enumerate() {
        for &(batch, row) in &group {
            let time = times[batch].value(row);
            min_time_ns = min_time_ns.min(time);
            max_time_ns = max_time_ns.max(time);
        }
        rows += group.len() as u64;
        let writers = factory.create_column_writers(index)?;
        let columns = encode_columns(file_schema, batches, &group, writers, &leaf_roots, threads)?;
        let mut row_group = writer.next_row_group()?;
        for chunk in columns.into_iter().flatten() {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    writer.append_key_value_metadata(KeyValue::new(MIN_TIME_KEY.into(), min_time_ns.to_string()));
    writer.append_key_value_metadata(KeyValue::new(MAX_TIME_KEY.into(), max_time_ns.to_string()));
    let metadata = writer.finish()?;
    let bytes = Bytes::from(std::mem::take(writer.inner_mut()));
    let keys = KeyIndex::read(spec, &metadata, &Arc::new(bytes.clone()))?;
    Ok(EncodedFile {
        relative: PartitionedPath::new_file(spec.name, partition),
        bytes,
        rows,
        min_time_ns,
        max_time_ns,
        keys,
    })
}

/// One top-level column of a row group waiting to be copied and encoded.
struct ColumnJob {
    column: usize,
    /// Its leaf writers, in Parquet order.
    writers: Vec<ArrowColumnWriter>,
}

/// Copies the rows `rows` of every column of `batches` into order and encodes them with
/// `writers` (one per Parquet leaf column, in schema order), on up to `threads` threads. Each
/// column is copied and encoded by one thread, the largest first; a column's sorted copy is
/// dropped once encoded, so no more than `threads` of them exist at once (the sorted row group
/// is never held whole). Returns each column's chunks, in schema order.
fn encode_columns(
    file_schema: &SchemaRef,
    batches: &[&RecordBatch],
    rows: &[(usize, usize)],
    writers: Vec<ArrowColumnWriter>,
    leaf_roots: &[usize],
    threads: usize,
) -> Result<Vec<Vec<ArrowColumnChunk>>> {
    let columns = file_schema.fields().len();
    let mut jobs: Vec<ColumnJob> = (0..columns)
        .map(|column| ColumnJob {
            column,
            writers: Vec::new(),
        })
        .collect();
    for (writer, &root) in writers.into_iter().zip(leaf_roots) {
        jobs[root].writers.push(writer);
    }
    // largest first, so that no thread is left with a big column at the end
    let size = |column: usize| -> usize {
        batches
            .iter()
            .map(|b| b.column(column).get_array_memory_size())
            .sum()
    };
    jobs.sort_by_cached_key(|job| std::cmp::Reverse(size(job.column)));

    let encode = |job: ColumnJob| -> Result<(usize, Vec<ArrowColumnChunk>)> {
        let arrays: Vec<&dyn Array> = batches
            .iter()
            .map(|b| b.column(job.column).as_ref())
            .collect();
        let array = compute::interleave(&arrays, rows)?;
        let leaves = compute_leaves(file_schema.field(job.column), &array)?;
        let mut chunks = Vec::with_capacity(job.writers.len());
        for (mut writer, leaf) in job.writers.into_iter().zip(leaves) {
            writer.write(&leaf)?;
            chunks.push(writer.close()?);
        }
        Ok((job.column, chunks))
    };
    let mut done: Vec<Option<Vec<ArrowColumnChunk>>> = (0..columns).map(|_| None).collect();
    let threads = threads.clamp(1, jobs.len().max(1));
    if threads == 1 {
        for job in jobs {
            let (column, chunks) = encode(job)?;
            done[column] = Some(chunks);
        }
    } else {
        let queue = Mutex::new(jobs.into_iter());
        let results = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut finished = Vec::new();
                        loop {
                            let Some(job) = queue.lock().next() else {
                                return Ok(finished);
                            };
                            finished.push(encode(job)?);
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    // a panic in a worker is a panic of the flush, as it would be on one thread
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Vec<Result<Vec<_>>>>()
        });
        for result in results {
            for (column, chunks) in result? {
                done[column] = Some(chunks);
            }
        }
    }
    done.into_iter()
        .enumerate()
        .map(|(column, chunks)| {
            chunks.ok_or_else(|| {
                Error::Parquet(parquet::errors::ParquetError::General(format!(
                    "column {column} of a row group was not encoded"
                )))
            })
        })
        .collect()
}

/// The values of column `index` that [`writer_properties`] judges encodings by, copied from
/// `rows` (the first row group): the first [`UNIQUE_SAMPLE_ROWS`] rows of a top-level column
/// (all it reads of one), every row of a list column (whose values it samples from the first
/// [`UNIQUE_SAMPLE_ROWS`] items), nothing of a map (whose encoding is fixed).
fn sample_column(
    file_schema: &SchemaRef,
    batches: &[&RecordBatch],
    rows: &[(usize, usize)],
    index: usize,
) -> Result<ArrayRef> {
    let data_type = file_schema.field(index).data_type();
    let rows = match data_type {
        DataType::Map(..) => return Ok(arrow::array::new_empty_array(data_type)),
        DataType::List(_) => rows,
        _ => &rows[..rows.len().min(UNIQUE_SAMPLE_ROWS)],
    };
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(index).as_ref()).collect();
    Ok(compute::interleave(&arrays, rows)?)
}

/// How a file of `file_schema` is written; `columns` holds values of each of its columns (see
/// [`sample_column`]) to judge encodings by.
fn writer_properties(
    spec: &TableSpec,
    file_schema: &SchemaRef,
    columns: &[ArrayRef],
    distinct: &[u64],
    row_group_rows: usize,
) -> Result<WriterProperties> {
    let parquet_schema = ArrowSchemaConverter::new().convert(file_schema)?;
    let leaf_index = |name: &str| {
        parquet_schema
            .columns()
            .iter()
            .position(|c| c.path().parts() == [name])
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| internal(spec, "sort column has no parquet leaf"))
    };
    let sorting = spec
        .sort_columns
        .iter()
        .map(|name| {
            Ok(SortingColumn {
                column_idx: leaf_index(name)?,
                descending: false,
                nulls_first: true,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Statistics where a reader can prune by them: page statistics (and the page index) on the
    // sort columns, whose pages hold narrow ranges; chunk statistics on other top-level
    // columns; none inside maps and lists, which no predicate prunes by.
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_data_page_row_count_limit(DATA_PAGE_ROW_LIMIT)
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FORMAT_VERSION_KEY.into(),
            FORMAT_VERSION.to_string(),
        )]));
    for column in parquet_schema.columns() {
        let path = column.path();
        let parts = path.parts();
        if parts.len() > 1 {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
        } else if spec.sort_columns.contains(&parts[0].as_str()) {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::Page);
        }
    }
    // Dictionary encoding only pays where values repeat; a column of unique values (span ids,
    // timestamps, durations, event times, link ids) would fill a dictionary page before falling
    // back, and the fallback interleaves string lengths with the bytes, which zstd packs worse.
    // Unique strings (ids, the widest columns per row) go in small pages: a lookup by trace id
    // decompresses one page of every column, and random ids pack no worse in small pages. The
    // integers keep full pages, which scans of the time columns read faster.
    for (path, column) in value_columns(file_schema, columns) {
        if let Some(encoding) = unique_encoding(&column) {
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path.clone(), encoding);
            if encoding == Encoding::DELTA_LENGTH_BYTE_ARRAY {
                builder = builder.set_column_data_page_size_limit(path, ID_PAGE_BYTES);
            }
        }
    }
    // The leading sort column, when values are looked up by it (a bloom-filter column such as
    // `trace_id`), is plain: its rows sit in order, so zstd packs each run of equal values, and a
    // lookup reads one small page of it instead of the row group's whole dictionary.
    if let Some(key) = spec.sort_columns.first()
        && spec.bloom_filter_columns.contains(key)
    {
        let path = ColumnPath::from(*key);
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::PLAIN);
    }
    for (name, &distinct) in spec.bloom_filter_columns.iter().zip(distinct) {
        // the filter is per row group, so no more distinct values than rows in a group
        let ndv = distinct.clamp(1, row_group_rows as u64);
        let path = ColumnPath::from(*name);
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
            .set_column_bloom_filter_max_ndv(path, ndv);
    }
    Ok(builder.build())
}

/// Uncompressed bytes per data page of a column of mostly unique strings (ids).
const ID_PAGE_BYTES: usize = 16 * 1024;

/// The columns whose encoding is chosen from their values, with their Parquet paths: the
/// top-level columns, and the fields of list-of-struct columns (span events and links).
/// Maps are left out: their keys repeat by nature.
fn value_columns(schema: &SchemaRef, values: &[ArrayRef]) -> Vec<(ColumnPath, ArrayRef)> {
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(values) {
        match (field.data_type(), column.as_list_opt::<i32>()) {
            (DataType::List(item), Some(list)) => {
                if let Some(items) = list.values().as_struct_opt() {
                    for (child, values) in items.fields().iter().zip(items.columns()) {
                        let path = [field.name(), "list", item.name(), child.name()];
                        columns.push((
                            ColumnPath::new(path.map(str::to_owned).to_vec()),
                            Arc::clone(values),
                        ));
                    }
                }
            }
            (DataType::Map(..), _) => {}
            _ => columns.push((ColumnPath::from(field.name().as_str()), Arc::clone(column))),
        }
    }
    columns
}

/// Rows sampled to tell whether a column's values are mostly unique.
const UNIQUE_SAMPLE_ROWS: usize = 4096;

/// The encoding of a top-level column at least half of whose values are distinct (judged on a
/// sample): strings keep their lengths apart from their bytes (`DELTA_LENGTH_BYTE_ARRAY`),
/// 64-bit integers and timestamps are `BYTE_STREAM_SPLIT`, which puts the k-th byte of every
/// value together so zstd finds the runs in the high bytes of durations and times (durations
/// −14 %, start times −4 % against `PLAIN` on the load generator's spans; delta encoding lost
/// on start times, whose order jumps between traces). `None`: the column keeps the dictionary.
fn unique_encoding(column: &ArrayRef) -> Option<Encoding> {
    let sample = column.len().min(UNIQUE_SAMPLE_ROWS);
    if sample < 64 {
        return None;
    }
    let (distinct, encoding) = if let Some(strings) = column.as_string_opt::<i32>() {
        let distinct: HashSet<&str> = (0..sample)
            .filter(|&i| strings.is_valid(i))
            .map(|i| strings.value(i))
            .collect();
        (distinct.len(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
    } else if let Some(values) = int64_values(column) {
        let distinct: HashSet<i64> = values.iter().take(sample).copied().collect();
        (distinct.len(), Encoding::BYTE_STREAM_SPLIT)
    } else {
        return None;
    };
    (distinct * 2 >= sample).then_some(encoding)
}

/// The values of an `Int64` or `Timestamp` column.
fn int64_values(column: &ArrayRef) -> Option<&[i64]> {
    match column.data_type() {
        DataType::Int64 => Some(column.as_primitive::<Int64Type>().values()),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(
            column
                .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                .values(),
        ),
        _ => None,
    }
}

/// Counts the distinct values (nulls count as one) among chosen rows of one column. A column
/// of another type than strings is converted to comparable rows once, however many partitions
/// of it are counted.
enum DistinctCounter {
    Strings(ArrayRef),
    Rows(Rows),
}

impl DistinctCounter {
    fn new(column: ArrayRef) -> Result<Self> {
        if column.as_string_opt::<i32>().is_some() {
            return Ok(Self::Strings(column));
        }
        let converter = RowConverter::new(vec![SortField::new(column.data_type().clone())])?;
        Ok(Self::Rows(
            converter.convert_columns(std::slice::from_ref(&column))?,
        ))
    }

    fn count(&self, rows: &[u32]) -> u64 {
        let distinct = match self {
            Self::Strings(column) => {
                let strings = column.as_string::<i32>();
                let mut distinct: HashSet<Option<&str>> = HashSet::with_capacity(rows.len());
                distinct.extend(rows.iter().map(|&row| {
                    let row = row as usize;
                    strings.is_valid(row).then(|| strings.value(row))
                }));
                distinct.len()
            }
            Self::Rows(converted) => {
                let mut distinct = HashSet::with_capacity(rows.len());
                distinct.extend(rows.iter().map(|&row| converted.row(row as usize)));
                distinct.len()
            }
        };
        distinct as u64
    }
}

/// Describes an existing file from its footer.
pub(crate) fn describe_file(
    spec: &TableSpec,
    relative: PartitionedPath,
    path: PathBuf,
    size_bytes: u64,
    metadata: &ParquetMetaData,
    keys: KeyIndex,
) -> ParquetFile {
    let file_metadata = metadata.file_metadata();
    let rows = u64::try_from(file_metadata.num_rows()).unwrap_or(0);
    let key_value = |key: &str| -> Option<i64> {
        file_metadata
            .key_value_metadata()?
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_deref()?
            .parse()
            .ok()
    };
    let (min_time_ns, max_time_ns) = match (key_value(MIN_TIME_KEY), key_value(MAX_TIME_KEY)) {
        (Some(min), Some(max)) => (min, max),
        _ => time_range_from_statistics(spec, metadata).unwrap_or_else(|| {
            let start = relative.partition.start_ns();
            (start, start.saturating_add(3_600_000_000_000 - 1))
        }),
    };
    ParquetFile {
        path,
        relative,
        size_bytes,
        rows,
        min_time_ns,
        max_time_ns,
        keys,
    }
}

fn time_range_from_statistics(spec: &TableSpec, metadata: &ParquetMetaData) -> Option<(i64, i64)> {
    let leaf = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [spec.time_column])?;
    let mut range: Option<(i64, i64)> = None;
    for row_group in metadata.row_groups() {
        let Some(Statistics::Int64(stats)) = row_group.column(leaf).statistics() else {
            return None;
        };
        let (min, max) = (*stats.min_opt()?, *stats.max_opt()?);
        range = Some(range.map_or((min, max), |(lo, hi)| (lo.min(min), hi.max(max))));
    }
    range
}

/// Reads every row of a Parquet file with the plain `parquet::arrow` reader.
pub fn read_parquet_file(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).at(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Reads every row of a Parquet file, only the top-level columns named in `columns` (those the
/// file has), with the plain `parquet::arrow` reader.
pub fn read_parquet_columns(path: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| columns.contains(&field.name().as_str()))
        .map(|(index, _)| index)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The Arrow schema stored in a Parquet file.
#[cfg(test)]
pub(crate) fn file_schema(path: &Path) -> Result<arrow::datatypes::SchemaRef> {
    let file = File::open(path).at(path)?;
    Ok(Arc::clone(
        ParquetRecordBatchReaderBuilder::try_new(file)?.schema(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bytes_reader::{bloom_and_index, write_to};
    use parquet::basic::Compression;

    use super::*;
    use crate::test_util::{
        BASE_NS, HOUR_NS, batch, batch_with, ids_of, is_sorted_by_trace_then_time, spec, trace_of,
    };
    use parquet::file::properties::DEFAULT_PAGE_SIZE;

    mod bytes_reader {
        use std::path::{Path, PathBuf};

        use parquet::bloom_filter::Sbbf;
        use parquet::file::metadata::ParquetMetaData;
        use parquet::file::properties::ReaderProperties;
        use parquet::file::reader::FileReader;
        use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};

        pub(super) fn write_to(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }

        /// The file's metadata (with page index) and the bloom filter of `column` per row group.
        pub(super) fn bloom_and_index(
            path: &Path,
            column: usize,
        ) -> (ParquetMetaData, Vec<Option<Sbbf>>) {
            let options = ReadOptionsBuilder::new()
                .with_page_index()
                .with_reader_properties(
                    ReaderProperties::builder()
                        .set_read_bloom_filter(true)
                        .build(),
                )
                .build();
            let reader =
                SerializedFileReader::new_with_options(std::fs::File::open(path).unwrap(), options)
                    .unwrap();
            let blooms = (0..reader.num_row_groups())
                .map(|i| {
                    reader
                        .get_row_group(i)
                        .unwrap()
                        .get_column_bloom_filter(column)
                        .cloned()
                })
                .collect();
            (reader.metadata().clone(), blooms)
        }
    }

    #[test]
    fn rows_split_into_their_hour_partitions() {
        // rows in three hours, interleaved, in two batches
        let batches = [batch(0..300), batch(300..600)];
        let files = encode_partitions(&spec(), &batches, 65_536, 2).unwrap();
        assert_eq!(files.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        let mut all_ids = Vec::new();
        for (n, file) in files.iter().enumerate() {
            let expect_start = BASE_NS + n as i64 * HOUR_NS;
            assert_eq!(
                file.relative.partition,
                PartitionHour::from_timestamp_ns(expect_start)
            );
            assert!(
                file.relative
                    .to_string()
                    .starts_with(&format!("spans/date=2026-11-25/hour=0{}/", 7 + n))
            );
            assert!(file.min_time_ns >= expect_start && file.max_time_ns < expect_start + HOUR_NS);
            let rows =
                read_parquet_file(&write_to(dir.path(), &format!("{n}.parquet"), &file.bytes))
                    .unwrap();
            let ids = ids_of(&rows);
            assert_eq!(ids.len() as u64, file.rows);
            assert!(
                ids.iter().all(|id| id % 3 == n as u64),
                "hour {n} holds rows of another hour"
            );
            all_ids.extend(ids);
        }
        all_ids.sort_unstable();
        assert_eq!(all_ids, (0..600).collect::<Vec<_>>());
    }

    #[test]
    fn files_leave_derived_columns_out() {
        let spec = TableSpec {
            derived_columns: vec!["name"],
            ..spec()
        };
        let batches = [batch(0..300), batch(300..600)];
        let dir = tempfile::tempdir().unwrap();
        let files = encode_partitions(&spec, &batches, 64, 3).unwrap();
        let mut ids = Vec::new();
        for (n, file) in files.iter().enumerate() {
            let path = write_to(dir.path(), &format!("{n}.parquet"), &file.bytes);
            let stored = file_schema(&path).unwrap();
            let names: Vec<&str> = stored.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names, ["id", "trace_id", "start_time"]);
            assert_eq!(stored.fields(), spec.file_schema().fields());
            let rows = read_parquet_file(&path).unwrap();
            let merged = compute::concat_batches(&rows[0].schema(), &rows).unwrap();
            assert!(is_sorted_by_trace_then_time(&merged), "file {n}");
            ids.extend(ids_of(&rows));
        }
        ids.sort_unstable();
        assert_eq!(ids, (0..600).collect::<Vec<_>>());
    }

    #[test]
    fn files_are_the_same_bytes_on_any_number_of_threads() {
        let batches = [
            batch((0..700).rev()),
            batch(700..1500),
            batch((1500..1600).rev()),
        ];
        let one = encode_partitions(&spec(), &batches, 128, 1).unwrap();
        assert_eq!(one.len(), 3);
        for threads in [2, 3, 8] {
            let many = encode_partitions(&spec(), &batches, 128, threads).unwrap();
            assert_eq!(many.len(), one.len());
            for (a, b) in one.iter().zip(&many) {
                assert_eq!(a.relative.partition, b.relative.partition);
                assert_eq!(
                    (a.rows, a.min_time_ns, a.max_time_ns),
                    (b.rows, b.min_time_ns, b.max_time_ns)
                );
                assert!(a.bytes == b.bytes, "{threads} threads wrote other bytes");
            }
        }
    }

    #[test]
    fn each_file_is_sorted_by_the_sort_columns() {
        let batches = [batch((0..500).rev()), batch((500..1000).rev())];
        let dir = tempfile::tempdir().unwrap();
        for (n, file) in encode_partitions(&spec(), &batches, 64, 2)
            .unwrap()
            .iter()
            .enumerate()
        {
            let path = write_to(dir.path(), &format!("{n}.parquet"), &file.bytes);
            let rows = read_parquet_file(&path).unwrap();
            let merged = compute::concat_batches(&rows[0].schema(), &rows).unwrap();
            assert!(
                is_sorted_by_trace_then_time(&merged),
                "file {n} is not sorted"
            );
            let (metadata, _) = bloom_and_index(&path, 1);
            let sorting = metadata.row_group(0).sorting_columns().unwrap();
            assert_eq!(
                sorting.iter().map(|s| s.column_idx).collect::<Vec<_>>(),
                vec![1, 2]
            );
        }
    }

    #[test]
    fn files_carry_bloom_filters_page_index_statistics_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        // one hour, 1000 rows, row groups of 300 rows
        let rows = batch_with(0..1000, |id| BASE_NS + id as i64 * 1_000_000);
        let files = encode_partitions(&spec(), &[rows], 300, 1).unwrap();
        assert_eq!(files.len(), 1);
        let path = write_to(dir.path(), "f.parquet", &files[0].bytes);
        let (metadata, blooms) = bloom_and_index(&path, 1);

        assert_eq!(metadata.num_row_groups(), 4);
        assert!(metadata.row_groups().iter().all(|rg| rg.num_rows() <= 300));
        let kv = metadata.file_metadata().key_value_metadata().unwrap();
        assert!(
            kv.iter()
                .any(|kv| kv.key == FORMAT_VERSION_KEY && kv.value.as_deref() == Some("1"))
        );
        // the time range spans every row group, in the footer and in what the flush returns
        let (first, last) = (BASE_NS, BASE_NS + 999 * 1_000_000);
        let value_of = |key: &str| {
            kv.iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_deref()?.parse::<i64>().ok())
        };
        assert_eq!(value_of(MIN_TIME_KEY), Some(first));
        assert_eq!(value_of(MAX_TIME_KEY), Some(last));
        assert_eq!((files[0].min_time_ns, files[0].max_time_ns), (first, last));
        assert_eq!(files[0].rows, 1000);
        assert!(matches!(
            metadata.row_group(0).column(1).compression(),
            Compression::ZSTD(_)
        ));
        assert!(metadata.row_group(0).column(2).statistics().is_some());
        // page index: column index and offset index for every row group and column
        let column_index = metadata.column_index().expect("column index");
        let offset_index = metadata.offset_index().expect("offset index");
        assert_eq!((column_index.len(), offset_index.len()), (4, 4));
        assert!(
            offset_index[0]
                .iter()
                .all(|o| !o.page_locations().is_empty())
        );

        // bloom filter on trace_id in every row group: all present ids hit
        let present: BTreeSet<[u8; 16]> = (0..1000).map(trace_of).collect();
        for bloom in &blooms {
            let bloom = bloom.as_ref().expect("bloom filter on trace_id");
            // the row group holds some of the traces; each of its traces must hit
            let hits = present.iter().filter(|t| bloom.check(&t[..])).count();
            assert!(hits > 0);
        }
        let (_, id_blooms) = bloom_and_index(&path, 0);
        assert!(
            id_blooms.iter().all(Option::is_none),
            "no bloom filter on columns not asked for"
        );
        // absent ids are mostly rejected (fpp 0.01)
        let bloom = blooms[0].as_ref().unwrap();
        let false_hits = (1_000_000u64..1_000_200)
            .map(|n| {
                let mut t = [0xabu8; 16];
                t[..8].copy_from_slice(&n.to_be_bytes());
                t
            })
            .filter(|t| bloom.check(&t[..]))
            .count();
        assert!(
            false_hits < 20,
            "{false_hits} of 200 absent trace ids hit the bloom filter"
        );
    }

    #[test]
    fn statistics_and_dictionaries_go_where_they_pay() {
        use arrow::array::{MapBuilder, StringBuilder};
        use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

        let rows = 1000;
        let mut attrs = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for i in 0..rows {
            attrs.keys().append_value("http.route");
            attrs.values().append_value(format!("/r/{}", i % 5));
            attrs.append(true).unwrap();
        }
        let attrs = attrs.finish();
        // one event per span: unique times, repeating names
        let event_fields = arrow::datatypes::Fields::from(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("name", DataType::Utf8, false),
        ]);
        let event_items = arrow::array::StructArray::new(
            event_fields.clone(),
            vec![
                Arc::new(
                    TimestampNanosecondArray::from_iter_values((0..rows).map(|i| BASE_NS + 3 * i))
                        .with_timezone("UTC"),
                ),
                Arc::new(arrow::array::StringArray::from_iter_values(
                    (0..rows).map(|i| format!("retry-{}", i % 2)),
                )),
            ],
            None,
        );
        let event_item = Arc::new(Field::new("item", DataType::Struct(event_fields), false));
        let events = arrow::array::ListArray::new(
            Arc::clone(&event_item),
            arrow::buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(1, rows as usize)),
            Arc::new(event_items),
            None,
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("trace_id", DataType::Utf8, false),
            Field::new("span_id", DataType::Utf8, false),
            Field::new(
                "start_time",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("name", DataType::Utf8, false),
            Field::new("attributes", attrs.data_type().clone(), false),
            Field::new("events", DataType::List(event_item), false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(arrow::array::StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{:032x}", i / 10)),
                )),
                Arc::new(arrow::array::StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{:016x}", i * 7919)),
                )),
                Arc::new(
                    TimestampNanosecondArray::from_iter_values((0..rows).map(|i| BASE_NS + i))
                        .with_timezone("UTC"),
                ),
                Arc::new(arrow::array::StringArray::from_iter_values(
                    (0..rows).map(|i| format!("op-{}", i % 3)),
                )),
                Arc::new(attrs),
                Arc::new(events),
            ],
        )
        .unwrap();
        let spec = TableSpec {
            name: "spans",
            schema,
            time_column: "start_time",
            sort_columns: vec!["trace_id", "start_time"],
            bloom_filter_columns: vec!["trace_id"],
            derived_columns: vec![],
        };
        let all_rows: Vec<u32> = (0..batch.num_rows() as u32).collect();
        let distinct = DistinctCounter::new(Arc::clone(batch.column(0)))
            .unwrap()
            .count(&all_rows);
        let props =
            writer_properties(&spec, &spec.schema, batch.columns(), &[distinct], 65_536).unwrap();
        let column = |name: &str| ColumnPath::from(name);
        // page statistics (and so a page index) on the sort columns, chunk statistics elsewhere
        assert_eq!(
            props.statistics_enabled(&column("trace_id")),
            EnabledStatistics::Page
        );
        assert_eq!(
            props.statistics_enabled(&column("start_time")),
            EnabledStatistics::Page
        );
        assert_eq!(
            props.statistics_enabled(&column("name")),
            EnabledStatistics::Chunk
        );
        let parquet_schema = ArrowSchemaConverter::new().convert(&spec.schema).unwrap();
        let nested: Vec<_> = parquet_schema
            .columns()
            .iter()
            .filter(|c| c.path().parts().len() > 1)
            .map(|c| c.path().clone())
            .collect();
        assert_eq!(
            nested.len(),
            4,
            "map keys and values, event times and names"
        );
        for path in &nested {
            assert_eq!(
                props.statistics_enabled(path),
                EnabledStatistics::None,
                "{path}"
            );
        }
        // dictionaries for repeating values; unique ids and timestamps, top-level or in a
        // list, go without, ids in small pages with their lengths apart from their bytes
        let event = |field: &str| {
            ColumnPath::new(
                ["events", "list", "item", field]
                    .map(str::to_owned)
                    .to_vec(),
            )
        };
        assert!(props.dictionary_enabled(&column("name")));
        assert!(props.dictionary_enabled(&event("name")));
        assert_eq!(props.encoding(&column("name")), None);
        assert_eq!(
            props.column_data_page_size_limit(&column("name")),
            DEFAULT_PAGE_SIZE
        );
        for (path, encoding, page_bytes) in [
            (
                column("span_id"),
                Encoding::DELTA_LENGTH_BYTE_ARRAY,
                ID_PAGE_BYTES,
            ),
            (
                column("start_time"),
                Encoding::BYTE_STREAM_SPLIT,
                DEFAULT_PAGE_SIZE,
            ),
            (
                event("time"),
                Encoding::BYTE_STREAM_SPLIT,
                DEFAULT_PAGE_SIZE,
            ),
        ] {
            assert!(!props.dictionary_enabled(&path), "{path}");
            assert_eq!(props.encoding(&path), Some(encoding), "{path}");
            assert_eq!(
                props.column_data_page_size_limit(&path),
                page_bytes,
                "{path}"
            );
        }
        // the lookup key, sorted, is plain: runs of one trace id pack without a dictionary
        assert!(!props.dictionary_enabled(&column("trace_id")));
        assert_eq!(props.encoding(&column("trace_id")), Some(Encoding::PLAIN));
        // and the file reads back with those encodings
        let bytes = {
            let mut writer =
                ArrowWriter::try_new(Vec::new(), Arc::clone(&spec.schema), Some(props.clone()))
                    .unwrap();
            writer.write(&batch).unwrap();
            writer.into_inner().unwrap()
        };
        let back: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![batch.clone()]);
        assert_eq!(
            props
                .bloom_filter_properties(&column("trace_id"))
                .map(|b| b.ndv()),
            Some(100)
        );
    }

    #[test]
    fn files_are_readable_with_plain_parquet_arrow_readers() {
        let dir = tempfile::tempdir().unwrap();
        let files = encode_partitions(&spec(), &[batch(0..90)], 65_536, 2).unwrap();
        let path = write_to(dir.path(), "f.parquet", &files[0].bytes);
        // same columns and types (the schema-level metadata carries the file's key-value metadata)
        assert_eq!(file_schema(&path).unwrap().fields(), spec().schema.fields());
        let rows = read_parquet_file(&path).unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 30);
        // the catalog's description from the footer matches what the flush knew
        let file = File::open(&path).unwrap();
        let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .unwrap();
        let keys = KeyIndex::read(&spec(), &metadata, &Arc::new(file)).unwrap();
        let described = describe_file(
            &spec(),
            files[0].relative.clone(),
            path.clone(),
            1,
            &metadata,
            keys,
        );
        assert_eq!(
            (described.rows, described.min_time_ns, described.max_time_ns),
            (files[0].rows, files[0].min_time_ns, files[0].max_time_ns)
        );
        assert_eq!(described.keys, files[0].keys);
        assert!(described.keys.covers("trace_id"));

        // only the named columns the file has, every row, in file order
        let some = read_parquet_columns(&path, &["name", "id", "no_such_column"]).unwrap();
        let names: Vec<String> = some[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "name"]);
        let whole = arrow::compute::concat_batches(&rows[0].schema(), &rows).unwrap();
        let some = arrow::compute::concat_batches(&some[0].schema(), &some).unwrap();
        assert_eq!(some.column(0), whole.column(0));
        assert_eq!(some.column(1), whole.column(3));
    }

    #[test]
    fn distinct_values_are_counted_among_the_chosen_rows() {
        let strings: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            None,
        ]));
        let numbers: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(7),
            Some(8),
            Some(7),
            None,
            None,
        ]));
        for column in [strings, numbers] {
            let counter = DistinctCounter::new(column).unwrap();
            assert_eq!(
                counter.count(&[0, 1, 2, 3, 4]),
                3,
                "nulls count as one value"
            );
            assert_eq!(counter.count(&[0, 2]), 1);
            assert_eq!(counter.count(&[2, 1]), 2);
            assert_eq!(counter.count(&[]), 0);
        }
    }

    #[test]
    fn empty_input_writes_no_file() {
        let empty = batch(0..0);
        assert!(
            encode_partitions(&spec(), &[empty], 10, 2)
                .unwrap()
                .is_empty()
        );
        assert!(encode_partitions(&spec(), &[], 10, 2).unwrap().is_empty());
    }
}
