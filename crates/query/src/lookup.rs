//! The rows of given traces, read straight from one snapshot without planning a query.
//!
//! A lookup by id is the hottest query there is, and what it reads is known before it starts:
//! the head batches whose bloom filters admit an id, and in the files the row groups the
//! in-memory [`KeyIndex`](meshscope_storage::KeyIndex) names. Within such a row group the
//! page index of the sorted `trace_id` column names the pages that can hold an id, a row filter
//! on `trace_id` picks the rows, and only then are the other columns decoded, and only at those
//! rows. DataFusion's scan does the same reading, but planning and optimizing a query per
//! lookup cost about a fifth of its time; this path skips it. The files' footers and page
//! indexes come from the engine's metadata cache, the one DataFusion's scans fill and use.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::compute::{self, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef, TimestampNanosecondType};
use datafusion::common::DFSchema;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::context::SessionState;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStore;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter, RowSelection, RowSelectionPolicy, RowSelector,
};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::physical_expr::PhysicalExpr;
use meshscope_model::spans::col;
use meshscope_storage::{ParquetFile, TableSnapshot};

use crate::error::{Error, Result};
use crate::provider::SnapshotTable;

/// Rows a Parquet read hands over at a time.
const BATCH_ROWS: usize = 8192;

/// What one lookup reads and returns, shared by the tasks reading its files.
struct Lookup {
    /// The trace ids, as stored (lowercase hex).
    ids: Vec<String>,
    /// Inclusive bounds on `start_time`, if any.
    bounds: Option<(i64, i64)>,
    /// The stored columns read from files: the output's, and those derived ones need.
    read: Vec<String>,
    /// The output: the table's schema projected to the requested columns.
    output: SchemaRef,
    /// How each output column comes out of a file batch of the `read` columns.
    outputs: Vec<FileColumn>,
    /// Bytes the output may hold, and holds so far (all files' reads count into one total).
    limit_bytes: usize,
    used_bytes: AtomicUsize,
}

impl Lookup {
    /// Counts `batch` into the output, counted as `collect_plan` counts a query's result;
    /// fails once the output is larger than allowed, so no read runs on past the limit.
    fn admit(&self, batch: &RecordBatch) -> Result<()> {
        let bytes: usize = batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
            .sum();
        if self.used_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes > self.limit_bytes {
            return Err(Error::ResultTooLarge {
                limit_bytes: self.limit_bytes,
            });
        }
        Ok(())
    }
}

/// One output column of a file read.
enum FileColumn {
    Stored(String),
    Derived(Arc<dyn PhysicalExpr>),
}

/// What reading trace rows needs: the `spans` table of one snapshot, a session for the
/// expressions of derived columns, and the result-size limit. Both query contexts hand one out.
pub(crate) struct TraceReads<'a> {
    pub(crate) table: &'a SnapshotTable,
    pub(crate) state: &'a SessionState,
    pub(crate) max_result_bytes: usize,
}

impl TraceReads<'_> {
    /// The `columns` (of the table schema, in that order) of the rows of the traces `ids`
    /// (stored form: lowercase hex) whose start times lie within `bounds`; fails with
    /// [`Error::ResultTooLarge`] past `max_result_bytes`.
    pub(crate) async fn rows(
        &self,
        ids: &[String],
        bounds: Option<(i64, i64)>,
        columns: &[&str],
    ) -> Result<Vec<RecordBatch>> {
        trace_rows(
            self.table,
            self.state,
            ids,
            bounds,
            columns,
            self.max_result_bytes,
        )
        .await
    }
}

async fn trace_rows(
    table: &SnapshotTable,
    state: &SessionState,
    ids: &[String],
    bounds: Option<(i64, i64)>,
    columns: &[&str],
    max_result_bytes: usize,
) -> Result<Vec<RecordBatch>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let snapshot = table.snapshot();
    let indices = columns
        .iter()
        .map(|name| snapshot.schema.index_of(name))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)?;
    let output = Arc::new(snapshot.schema.project(&indices).map_err(decode)?);
    let lookup = Arc::new(plan(table, state, ids, bounds, output, max_result_bytes)?);
    let mut rows = head_rows(snapshot, &lookup)?;

    let wanted: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes()).collect();
    let files: Vec<(ParquetFile, Option<Vec<usize>>)> = snapshot
        .files
        .iter()
        .filter(|file| {
            bounds.is_none_or(|(lo, hi)| file.max_time_ns >= lo && file.min_time_ns <= hi)
        })
        .filter_map(|file| match file.keys.row_groups(col::TRACE_ID, &wanted) {
            Some(groups) if groups.is_empty() => None,
            groups => Some((file.clone(), groups)),
        })
        .collect();
    let runtime = state.runtime_env();
    let store = runtime.object_store(ObjectStoreUrl::local_filesystem())?;
    let cache = runtime.cache_manager.get_file_metadata_cache();
    // files are read side by side (a trace cut by a flush lies in two)
    let mut tasks = tokio::task::JoinSet::new();
    for (order, (file, groups)) in files.into_iter().enumerate() {
        let (lookup, store, cache) = (Arc::clone(&lookup), Arc::clone(&store), Arc::clone(&cache));
        tasks.spawn(async move {
            let rows = file_rows(&lookup, &file, groups, store, cache).await;
            (order, rows)
        });
    }
    let mut by_file = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        let (order, rows) = done.map_err(|e| Error::Task(e.to_string()))?;
        by_file.push((order, rows?));
    }
    by_file.sort_by_key(|(order, _)| *order);
    rows.extend(by_file.into_iter().flat_map(|(_, batches)| batches));
    Ok(rows)
}

/// What to read from files to produce `output`, and how.
fn plan(
    table: &SnapshotTable,
    state: &SessionState,
    ids: &[String],
    bounds: Option<(i64, i64)>,
    output: SchemaRef,
    limit_bytes: usize,
) -> Result<Lookup> {
    let file_schema = &table.snapshot().file_schema;
    let mut read: Vec<String> = vec![col::TRACE_ID.to_owned()];
    if bounds.is_some() {
        read.push(col::START_TIME.to_owned());
    }
    let mut derived = Vec::new();
    for field in output.fields() {
        let name = field.name();
        if file_schema.index_of(name).is_ok() {
            read.push(name.clone());
        } else {
            let expr = table.derivation(name)?;
            read.extend(expr.column_refs().into_iter().map(|c| c.name.clone()));
            derived.push((name.clone(), expr.clone()));
        }
    }
    let mut unique = HashSet::new();
    read.retain(|name| unique.insert(name.clone()));
    // read in file order, so a batch's columns have the file schema's order
    read.sort_by_key(|name| file_schema.index_of(name).unwrap_or(usize::MAX));
    let read_indices = read
        .iter()
        .map(|name| file_schema.index_of(name))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)?;
    let read_schema = DFSchema::try_from(file_schema.project(&read_indices).map_err(decode)?)?;
    let mut outputs = Vec::with_capacity(output.fields().len());
    for field in output.fields() {
        let name = field.name();
        outputs.push(match derived.iter().find(|(n, _)| n == name) {
            Some((_, expr)) => {
                FileColumn::Derived(state.create_physical_expr(expr.clone(), &read_schema)?)
            }
            None => FileColumn::Stored(name.clone()),
        });
    }
    Ok(Lookup {
        ids: ids.to_vec(),
        bounds,
        read,
        output,
        outputs,
        limit_bytes,
        used_bytes: AtomicUsize::new(0),
    })
}

/// The matching rows of the head batches whose bloom filters admit an id.
fn head_rows(snapshot: &TableSnapshot, lookup: &Lookup) -> Result<Vec<RecordBatch>> {
    let wanted: Vec<&[u8]> = lookup.ids.iter().map(|id| id.as_bytes()).collect();
    let aligned = snapshot.head_keys.len() == snapshot.head.len();
    let mut rows = Vec::new();
    for (i, batch) in snapshot.head.iter().enumerate() {
        let ruled_out = aligned
            && snapshot.head_keys[i]
                .row_groups(col::TRACE_ID, &wanted)
                .is_some_and(|groups| groups.is_empty());
        if ruled_out || batch.num_rows() == 0 {
            continue;
        }
        let ids = batch.column_by_name(col::TRACE_ID).ok_or_else(|| {
            Error::Decode(format!("stored rows lack the column {}", col::TRACE_ID))
        })?;
        let mut mask = id_mask(ids, &lookup.ids)?;
        if let Some(within) = bounds_mask(batch, lookup.bounds)? {
            mask = compute::and(&mask, &within).map_err(decode)?;
        }
        if mask.true_count() == 0 {
            continue;
        }
        let matching = filter_record_batch(batch, &mask).map_err(decode)?;
        let columns = lookup
            .output
            .fields()
            .iter()
            .map(|field| column_as(&matching, field.name(), field.data_type()))
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&lookup.output), columns).map_err(decode)?;
        lookup.admit(&batch)?;
        rows.push(batch);
    }
    Ok(rows)
}

/// The matching rows of one file, from the row groups `groups` (`None`: any of them).
async fn file_rows(
    lookup: &Arc<Lookup>,
    file: &ParquetFile,
    groups: Option<Vec<usize>>,
    store: Arc<dyn ObjectStore>,
    cache: Arc<FileMetadataCache>,
) -> Result<Vec<RecordBatch>> {
    let object = PartitionedFile::new(file.path.to_string_lossy(), file.size_bytes).object_meta;
    let metadata = DFParquetMetadata::new(store.as_ref(), &object)
        .with_file_metadata_cache(Some(cache))
        .fetch_metadata()
        .await?;
    let groups = groups.unwrap_or_else(|| (0..metadata.num_row_groups()).collect());
    let Some((groups, selection)) = page_selection(&metadata, &groups, &lookup.ids) else {
        return Ok(Vec::new());
    };
    let reader_metadata = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new())
        .map_err(DataFusionError::from)?;
    let arrow_schema = Arc::clone(reader_metadata.schema());
    let parquet_schema = reader_metadata
        .metadata()
        .file_metadata()
        .schema_descr_ptr();
    let root = |name: &str| arrow_schema.index_of(name).ok();
    let Some(id_root) = root(col::TRACE_ID) else {
        return Err(Error::Decode(format!(
            "{} has no {} column",
            file.path.display(),
            col::TRACE_ID
        )));
    };
    let roots: Vec<usize> = lookup.read.iter().filter_map(|name| root(name)).collect();
    let ids = lookup.ids.clone();
    let predicate = ArrowPredicateFn::new(
        ProjectionMask::roots(&parquet_schema, [id_root]),
        move |batch: RecordBatch| {
            id_mask(batch.column(0), &ids)
                .map_err(|e| datafusion::arrow::error::ArrowError::ComputeError(e.to_string()))
        },
    );
    let path = file.path.clone();
    let projection = ProjectionMask::roots(&parquet_schema, roots);
    let lookup = Arc::clone(lookup);
    // decoding is CPU work and the reads are plain reads of a local file: both on a blocking
    // thread, so the query runtime's workers stay free
    tokio::task::spawn_blocking(move || {
        let source = std::fs::File::open(&path)
            .map_err(|e| Error::Decode(format!("cannot open {}: {e}", path.display())))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, reader_metadata)
            .with_projection(projection)
            .with_row_groups(groups)
            .with_row_selection(selection)
            .with_row_selection_policy(RowSelectionPolicy::Selectors)
            .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(DataFusionError::from)?;
        let mut rows = Vec::new();
        for batch in reader {
            if let Some(batch) = output_rows(&lookup, batch.map_err(decode)?)? {
                lookup.admit(&batch)?;
                rows.push(batch);
            }
        }
        Ok(rows)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}

/// The output rows of a batch read from a file (its `read` columns, the ids' rows, as the row
/// filter kept them): those within the bounds, with the output's columns; `None` when no row
/// is left.
fn output_rows(lookup: &Lookup, batch: RecordBatch) -> Result<Option<RecordBatch>> {
    let batch = match bounds_mask(&batch, lookup.bounds)? {
        Some(within) => filter_record_batch(&batch, &within).map_err(decode)?,
        None => batch,
    };
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(lookup.outputs.len());
    for (field, how) in lookup.output.fields().iter().zip(&lookup.outputs) {
        columns.push(match how {
            FileColumn::Stored(name) => column_as(&batch, name, field.data_type())?,
            FileColumn::Derived(expr) => {
                let value = expr.evaluate(&read_view(&batch, &lookup.read)?)?;
                compute::cast(&value.into_array(batch.num_rows())?, field.data_type())
                    .map_err(decode)?
            }
        });
    }
    let batch = RecordBatch::try_new(Arc::clone(&lookup.output), columns).map_err(decode)?;
    Ok(Some(batch))
}

/// `batch` with exactly the `read` columns, in that order (a derived column's expression was
/// built against that schema); a column the file lacks is null.
fn read_view(batch: &RecordBatch, read: &[String]) -> Result<RecordBatch> {
    if batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name())
        .eq(read.iter())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(read.len());
    let mut columns = Vec::with_capacity(read.len());
    for name in read {
        match batch.schema().field_with_name(name) {
            Ok(field) => {
                fields.push(field.clone());
                columns.push(column_as(batch, name, field.data_type())?);
            }
            Err(_) => {
                return Err(Error::Decode(format!("stored rows lack the column {name}")));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(decode)
}

/// The row groups among `groups` whose `trace_id` pages may hold one of `ids`, and the rows of
/// those pages (every row of a group without a page index); `None` when no page may.
fn page_selection(
    metadata: &ParquetMetaData,
    groups: &[usize],
    ids: &[String],
) -> Option<(Vec<usize>, RowSelection)> {
    let leaf = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [col::TRACE_ID]);
    let mut kept = Vec::with_capacity(groups.len());
    let mut selectors: Vec<RowSelector> = Vec::new();
    for &group in groups {
        let Some(row_group) = metadata.row_groups().get(group) else {
            continue;
        };
        let rows = usize::try_from(row_group.num_rows()).unwrap_or(0);
        let pages = leaf.and_then(|leaf| {
            let index = metadata.column_index()?.get(group)?.get(leaf)?;
            let locations = metadata
                .offset_index()?
                .get(group)?
                .get(leaf)?
                .page_locations();
            let ColumnIndexMetaData::BYTE_ARRAY(index) = index else {
                return None;
            };
            (locations.len() == index.num_pages() as usize).then_some((index, locations))
        });
        let Some((index, locations)) = pages else {
            kept.push(group);
            selectors.push(RowSelector::select(rows));
            continue;
        };
        let mut group_selectors = Vec::with_capacity(locations.len());
        for (page, location) in locations.iter().enumerate() {
            let first = usize::try_from(location.first_row_index).unwrap_or(0);
            let end = locations
                .get(page + 1)
                .and_then(|next| usize::try_from(next.first_row_index).ok())
                .unwrap_or(rows);
            let len = end.saturating_sub(first);
            let may_hold = match (index.min_value(page), index.max_value(page)) {
                (Some(min), Some(max)) => ids
                    .iter()
                    .any(|id| min <= id.as_bytes() && id.as_bytes() <= max),
                _ => false,
            };
            group_selectors.push(if may_hold {
                RowSelector::select(len)
            } else {
                RowSelector::skip(len)
            });
        }
        if group_selectors.iter().any(|s| !s.skip) {
            kept.push(group);
            selectors.extend(group_selectors);
        }
    }
    (!kept.is_empty()).then(|| (kept, RowSelection::from(selectors)))
}

/// Which rows of `batch` start within `bounds` (inclusive); `None` without bounds.
fn bounds_mask(batch: &RecordBatch, bounds: Option<(i64, i64)>) -> Result<Option<BooleanArray>> {
    let Some((lo, hi)) = bounds else {
        return Ok(None);
    };
    let starts = batch
        .column_by_name(col::START_TIME)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| Error::Decode(format!("stored rows lack the column {}", col::START_TIME)))?;
    Ok(Some(
        starts
            .iter()
            .map(|start| Some(start.is_some_and(|s| lo <= s && s <= hi)))
            .collect(),
    ))
}

/// Which values of a `trace_id` column are among `ids`.
fn id_mask(column: &ArrayRef, ids: &[String]) -> Result<BooleanArray> {
    let values = column
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::Decode(format!("{} is not a string column", col::TRACE_ID)))?;
    if let [one] = ids {
        let scalar = StringArray::new_scalar(one.as_str());
        return compute::kernels::cmp::eq(values, &scalar).map_err(decode);
    }
    let set: HashSet<&str> = ids.iter().map(String::as_str).collect();
    Ok(values
        .iter()
        .map(|v| Some(v.is_some_and(|v| set.contains(v))))
        .collect())
}

/// Column `name` of `batch` as `data_type`; nulls when the batch lacks it (a file written
/// before the column existed).
fn column_as(batch: &RecordBatch, name: &str, data_type: &DataType) -> Result<ArrayRef> {
    match batch.column_by_name(name) {
        Some(column) if column.data_type() == data_type => Ok(Arc::clone(column)),
        Some(column) => compute::cast(column, data_type).map_err(decode),
        None => Ok(new_null_array(data_type, batch.num_rows())),
    }
}

/// A stored batch that does not read back as written.
fn decode(e: impl std::fmt::Display) -> Error {
    Error::Decode(e.to_string())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

    use super::*;

    /// Ids `id0000`, `id0001`, … each on 7 consecutive rows, sorted; 300-row row groups of
    /// 50-row pages. Returns the file's metadata with its page index, and its bytes.
    fn sorted_file() -> (Arc<ParquetMetaData>, bytes::Bytes) {
        let ids: Vec<String> = (0..1000).map(|row| format!("id{:04}", row / 7)).collect();
        let schema = Arc::new(Schema::new(vec![Field::new(
            col::TRACE_ID,
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(ids)) as ArrayRef],
        )
        .unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(300))
            .set_data_page_row_count_limit(50)
            .set_write_batch_size(10)
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, schema, Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let bytes = bytes::Bytes::from(bytes);
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&bytes)
            .unwrap();
        assert_eq!(metadata.num_row_groups(), 4);
        (Arc::new(metadata), bytes)
    }

    /// The ids of the rows `selection` picks from `groups`.
    fn picked(bytes: &bytes::Bytes, groups: Vec<usize>, selection: RowSelection) -> Vec<String> {
        let batches = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .unwrap()
            .with_row_groups(groups)
            .with_row_selection(selection)
            .build()
            .unwrap()
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn pages_are_chosen_by_the_page_index_of_the_sorted_ids() {
        let (metadata, bytes) = sorted_file();
        let all: Vec<usize> = (0..4).collect();
        let select = |ids: &[&str]| {
            let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            page_selection(&metadata, &all, &ids)
        };

        // row 412 (id0058, rows 406..413): row group 1 (rows 300..600), its page of rows 400..450
        let (groups, selection) = select(&["id0058"]).expect("a page");
        assert_eq!(groups, [1]);
        assert_eq!(selection.row_count(), 50);
        let rows = picked(&bytes, groups, selection);
        assert_eq!(rows.iter().filter(|id| *id == "id0058").count(), 7);

        // id0007 lies on rows 49..56, across the first two pages: both are read
        let (groups, selection) = select(&["id0007"]).expect("pages");
        assert_eq!(
            (groups.as_slice(), selection.row_count()),
            ([0].as_slice(), 100)
        );
        assert_eq!(
            picked(&bytes, groups, selection)
                .iter()
                .filter(|id| *id == "id0007")
                .count(),
            7
        );

        // ids in two row groups: one page in each
        let (groups, selection) = select(&["id0001", "id0140"]).expect("pages");
        assert_eq!(
            (groups.as_slice(), selection.row_count()),
            ([0, 3].as_slice(), 100)
        );
        let rows = picked(&bytes, groups, selection);
        assert_eq!(
            rows.iter()
                .filter(|id| *id == "id0001" || *id == "id0140")
                .count(),
            14
        );

        // an id between the pages' ranges, or past the last, selects nothing
        assert!(
            select(&["id0058x"]).is_some(),
            "inside a page's range: that page may hold it"
        );
        assert!(select(&["zz"]).is_none());
        assert!(select(&["a"]).is_none());

        // only the given row groups are considered
        let ids = vec!["id0058".to_owned()];
        assert!(page_selection(&metadata, &[0, 2, 3], &ids).is_none());
    }

    #[test]
    fn a_file_without_a_page_index_is_read_whole_in_the_given_row_groups() {
        let (_, bytes) = sorted_file();
        let footer_only = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Skip)
            .parse_and_finish(&bytes)
            .unwrap();
        let (groups, selection) =
            page_selection(&footer_only, &[1, 3], &["id0058".to_owned()]).expect("rows");
        assert_eq!(groups, [1, 3]);
        assert_eq!(selection.row_count(), 300 + 100);
    }

    #[test]
    fn id_masks_match_one_or_many_ids_and_refuse_other_types() {
        let column: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("b"),
            Some("c"),
        ]));
        let one = id_mask(&column, &["b".to_owned()]).unwrap();
        assert_eq!(
            one.iter().map(|v| v == Some(true)).collect::<Vec<_>>(),
            [false, false, true, false]
        );
        let many = id_mask(&column, &["a".to_owned(), "c".to_owned()]).unwrap();
        assert_eq!(
            many.iter().map(|v| v == Some(true)).collect::<Vec<_>>(),
            [true, false, false, true]
        );
        let numbers: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from(vec![1]));
        assert!(id_mask(&numbers, &["a".to_owned()]).is_err());
    }
}
