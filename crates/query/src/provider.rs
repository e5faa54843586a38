//! The `spans` table as DataFusion sees it: one storage snapshot, head batches and Parquet files.
//!
//! [`SnapshotTable`] holds a [`TableSnapshot`] taken once per query, so every scan in the query
//! (a self-join scans twice) sees the same rows, and a row that a flush moves from the head to
//! a file is seen exactly once. A scan is the union of
//!
//! * the head batches, in memory (`MemorySourceConfig`), and
//! * the Parquet files, through DataFusion's Parquet reader (`ParquetSource`), sharing the
//!   engine's footer and page-index cache.
//!
//! Before planning, time predicates on the time column (`start_time >= …`, `BETWEEN`) drop the
//! files and head batches that cannot hold matching rows, and predicates that pin an indexed
//! column (`trace_id = '…'`, `IN (…)`, ORs of them) drop the files, row groups and head batches
//! whose in-memory [`KeyIndex`] rules every pinned value out, so a lookup by id opens only
//! the files that may hold it, whatever the number of files. Filters on map lookups
//! (`attributes['k'] = …`, see [`KeyRequirements`]) drop the row groups whose key index knows
//! they hold no such key, and the head batches whose maps hold none. Filters are `Inexact`: DataFusion
//! keeps a `FilterExec` over the union and its filter-pushdown pass moves each predicate into
//! the Parquet scan, where it prunes row groups by statistics and bloom filters (a
//! `trace_id = '…'` lookup), pages by the page index, and filters rows before the other columns
//! are decoded.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute;
use datafusion::arrow::datatypes::{SchemaRef, TimestampNanosecondType};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, DataFusionError, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use meshscope_storage::{KeyIndex, ParquetFile, TableSnapshot};
use parking_lot::Mutex;

use crate::map_keys::{KeyRequirements, batch_may_hold};

/// Inclusive bounds on the time column, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    pub min: i64,
    pub max: i64,
}

impl Default for TimeBounds {
    fn default() -> Self {
        Self {
            min: i64::MIN,
            max: i64::MAX,
        }
    }
}

impl TimeBounds {
    pub fn is_unbounded(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `[min, max]` overlaps the bounds.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        max >= self.min && min <= self.max
    }

    /// Narrows the bounds by what `filter` says about `column` (conjunctions included).
    fn narrow(&mut self, column: &str, filter: &Expr) {
        match filter {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                self.narrow(column, left);
                self.narrow(column, right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, timestamp_ns(right)),
                    (false, true) => match op.swap() {
                        Some(op) => (op, timestamp_ns(left)),
                        None => return,
                    },
                    _ => return,
                };
                let Some(v) = value else { return };
                match op {
                    Operator::Eq => {
                        self.min = self.min.max(v);
                        self.max = self.max.min(v);
                    }
                    Operator::Gt | Operator::GtEq => self.min = self.min.max(v),
                    Operator::Lt | Operator::LtEq => self.max = self.max.min(v),
                    _ => {}
                }
            }
            Expr::Between(between) if !between.negated && is_column(&between.expr, column) => {
                if let Some(low) = timestamp_ns(&between.low) {
                    self.min = self.min.max(low);
                }
                if let Some(high) = timestamp_ns(&between.high) {
                    self.max = self.max.min(high);
                }
            }
            _ => {}
        }
    }

    /// The bounds `filters` put on `column`.
    pub fn from_filters(column: &str, filters: &[Expr]) -> Self {
        let mut bounds = Self::default();
        for filter in filters {
            bounds.narrow(column, filter);
        }
        bounds
    }
}

/// The values `filters` (a conjunction) pin `column` to, as stored bytes: `column = v`,
/// `v = column`, `column IN (v, …)`, and disjunctions of those; `None` when they do not pin it.
/// Only literal strings and binaries count; anything else leaves the column unpinned.
pub fn pinned_values(column: &str, filters: &[Expr]) -> Option<Vec<Vec<u8>>> {
    filters
        .iter()
        .filter_map(|f| pins(column, f))
        .min_by_key(Vec::len)
}

fn pins(column: &str, expr: &Expr) -> Option<Vec<Vec<u8>>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => match (pins(column, left), pins(column, right)) {
            (Some(a), Some(b)) => Some(if a.len() <= b.len() { a } else { b }),
            (a, b) => a.or(b),
        },
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut values = pins(column, left)?;
            values.extend(pins(column, right)?);
            Some(values)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let value = if is_column(left, column) {
                literal_bytes(right)
            } else if is_column(right, column) {
                literal_bytes(left)
            } else {
                None
            }?;
            Some(vec![value])
        }
        Expr::InList(list) if !list.negated && is_column(&list.expr, column) => {
            list.list.iter().map(literal_bytes).collect()
        }
        _ => None,
    }
}

fn literal_bytes(expr: &Expr) -> Option<Vec<u8>> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.as_bytes().to_vec()),
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b))
        | ScalarValue::FixedSizeBinary(_, Some(b)) => Some(b.clone()),
        _ => None,
    }
}

fn is_column(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == name)
}

fn timestamp_ns(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

/// What the scans of one query chose to read, before DataFusion's own pruning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanChoice {
    pub files_total: usize,
    pub files_scanned: usize,
    pub file_bytes_scanned: u64,
    pub head_batches_total: usize,
    pub head_batches_scanned: usize,
    pub head_rows_scanned: usize,
    /// Files, row groups and head batches ruled out by their in-memory key indexes (a lookup
    /// by id, a map key no row holds), after time pruning; what is pruned is not in
    /// `files_scanned` and `head_batches_scanned`.
    pub files_pruned_key_index: usize,
    pub row_groups_pruned_key_index: usize,
    pub head_batches_pruned_key_index: usize,
}

/// One file to scan, with the row groups to read when not all of them.
struct FileChoice<'a> {
    file: &'a ParquetFile,
    row_groups: Option<ParquetAccessPlan>,
}

/// The values a scan's filters pin each indexed column to, worked out once per column, and
/// the map keys they require.
struct Pins<'f> {
    filters: &'f [Expr],
    columns: Vec<(&'static str, Option<Vec<Vec<u8>>>)>,
    map_keys: KeyRequirements,
}

impl<'f> Pins<'f> {
    fn new(filters: &'f [Expr]) -> Self {
        Self {
            filters,
            columns: Vec::new(),
            map_keys: KeyRequirements::from_filters(filters),
        }
    }

    /// The row groups of a file that may hold the pinned values and the required map keys, and
    /// how many it has; `None` when its index rules nothing out by either.
    fn file_row_groups(&mut self, keys: &KeyIndex) -> Option<(Vec<usize>, usize)> {
        let pinned = self.row_groups(keys);
        let requirements = &self.map_keys;
        let Some(total) = requirements
            .columns()
            .find_map(|column| keys.map_row_group_count(column))
        else {
            return pinned;
        };
        let candidates = match pinned {
            Some((kept, _)) => kept,
            None => (0..total).collect(),
        };
        let kept = candidates
            .into_iter()
            .filter(|&group| {
                requirements.admit(|column, key| keys.may_hold_map_key(column, group, key))
            })
            .collect();
        Some((kept, total))
    }

    /// Whether a head batch may hold the required map keys.
    fn batch_may_match(&self, batch: &RecordBatch) -> bool {
        self.map_keys
            .admit(|column, key| batch_may_hold(batch, column, key))
    }

    /// The row groups of `keys` that may hold the pinned values, and how many it has; `None`
    /// when no column `keys` covers is pinned.
    fn row_groups(&mut self, keys: &KeyIndex) -> Option<(Vec<usize>, usize)> {
        let mut kept: Option<(Vec<usize>, usize)> = None;
        for column in keys.columns() {
            let position = match self.columns.iter().position(|(c, _)| *c == column) {
                Some(position) => position,
                None => {
                    self.columns
                        .push((column, pinned_values(column, self.filters)));
                    self.columns.len() - 1
                }
            };
            let Some(values) = &self.columns[position].1 else {
                continue;
            };
            let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let (Some(groups), Some(total)) = (
                keys.row_groups(column, &values),
                keys.row_group_count(column),
            ) else {
                continue;
            };
            kept = Some(match kept {
                None => (groups, total),
                Some((before, _)) => (
                    before.into_iter().filter(|g| groups.contains(g)).collect(),
                    total,
                ),
            });
        }
        kept
    }
}

/// A table over one storage snapshot.
#[derive(Debug)]
pub struct SnapshotTable {
    snapshot: TableSnapshot,
    time_column: &'static str,
    /// How each column the files leave out (see `TableSnapshot::file_schema`) is computed from
    /// the columns they store.
    derived: Vec<(&'static str, Expr)>,
    /// Min and max of the time column of each head batch (`None`: empty or unreadable),
    /// computed when a scan first has time bounds.
    head_ranges: OnceLock<Vec<Option<(i64, i64)>>>,
    scans: Mutex<Vec<ScanChoice>>,
}

impl SnapshotTable {
    pub fn new(snapshot: TableSnapshot, time_column: &'static str) -> Self {
        Self {
            snapshot,
            time_column,
            derived: Vec::new(),
            head_ranges: OnceLock::new(),
            scans: Mutex::new(Vec::new()),
        }
    }

    /// Computes `column`, which the table's files do not store, with `expr` over the columns
    /// they do. A file scan fails if a derived column of the file schema has no expression.
    pub fn with_derived(mut self, column: &'static str, expr: Expr) -> Self {
        self.derived.push((column, expr));
        self
    }

    /// The scan of `files` with the columns of `projection` (of the table schema): files are
    /// read with the file schema, and derived columns are computed over what they store.
    async fn file_scan(
        &self,
        state: &dyn Session,
        files: Vec<FileChoice<'_>>,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = &self.snapshot.schema;
        let file_schema = &self.snapshot.file_schema;
        let partitions = state.config().target_partitions();
        let format = ParquetFormat::default().with_options(state.default_table_options().parquet);
        let scan = |file_projection: Option<Vec<usize>>| {
            let source = format.file_source(Arc::clone(file_schema).into());
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
                .with_file_groups(Self::file_groups(files, partitions))
                .with_projection_indices(file_projection)
                .map(|b| b.with_limit(limit).build())
        };
        if Arc::ptr_eq(schema, file_schema) || schema == file_schema {
            return format
                .create_physical_plan(state, scan(projection.cloned())?)
                .await;
        }
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        // the stored columns the output needs, directly or to compute a derived one
        let mut needed = Vec::new();
        for &index in &wanted {
            let name = schema.field(index).name();
            match file_schema.index_of(name) {
                Ok(stored) => needed.push(stored),
                Err(_) => {
                    for column in self.derivation(name)?.column_refs() {
                        needed.push(file_schema.index_of(&column.name)?);
                    }
                }
            }
        }
        needed.sort_unstable();
        needed.dedup();
        let read_schema = Arc::new(file_schema.project(&needed)?);
        let read_df_schema = DFSchema::try_from(Arc::clone(&read_schema))?;
        let plan = format
            .create_physical_plan(state, scan(Some(needed))?)
            .await?;
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(wanted.len());
        for &index in &wanted {
            let name = schema.field(index).name();
            let expr: Arc<dyn PhysicalExpr> = match read_schema.index_of(name) {
                Ok(i) => Arc::new(Column::new(name, i)),
                Err(_) => {
                    let expr = self.derivation(name)?.clone();
                    state.create_physical_expr(expr, &read_df_schema)?
                }
            };
            exprs.push((expr, name.clone()));
        }
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }

    /// How `column`, which the files do not store, is computed from the columns they do.
    pub(crate) fn derivation(&self, column: &str) -> DfResult<&Expr> {
        self.derived
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, expr)| expr)
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "column {column} is not stored in files and has no derivation"
                ))
            })
    }

    /// The smallest and largest time of each head batch, in the order of the snapshot's head
    /// (`None`: empty, or its times cannot be read), computed once.
    pub fn head_ranges(&self) -> &[Option<(i64, i64)>] {
        self.head_ranges.get_or_init(|| {
            let index = self.snapshot.schema.index_of(self.time_column).ok();
            self.snapshot
                .head
                .iter()
                .map(|batch| {
                    let times = batch
                        .column(index?)
                        .as_primitive_opt::<TimestampNanosecondType>()?;
                    Some((compute::min(times)?, compute::max(times)?))
                })
                .collect()
        })
    }

    /// Whether a row with its time within `bounds` may hold `key` in the map column `column`:
    /// `false` only when every file's key index and every head batch's maps rule it out.
    pub fn may_hold_map_key(&self, column: &str, key: &str, bounds: &TimeBounds) -> bool {
        let in_files = self.snapshot.files.iter().any(|file| {
            file.rows > 0
                && bounds.overlaps(file.min_time_ns, file.max_time_ns)
                && match file.keys.map_row_group_count(column) {
                    None => true,
                    Some(groups) => {
                        (0..groups).any(|group| file.keys.may_hold_map_key(column, group, key))
                    }
                }
        });
        in_files
            || self.snapshot.head.iter().enumerate().any(|(i, batch)| {
                let outside = !bounds.is_unbounded()
                    && matches!(self.head_ranges().get(i), Some(Some((min, max))) if !bounds.overlaps(*min, *max));
                batch.num_rows() > 0 && !outside && batch_may_hold(batch, column, key)
            })
    }

    /// A table over part of this one's snapshot: the head batches at `head` and the files at
    /// `files` (indexes into the snapshot's head and files), computed the same way.
    pub fn part(&self, head: &[usize], files: &[usize]) -> SnapshotTable {
        let snapshot = &self.snapshot;
        // a snapshot whose head was edited after storage took it has no usable keys
        let aligned = snapshot.head_keys.len() == snapshot.head.len();
        let part = TableSnapshot {
            schema: Arc::clone(&snapshot.schema),
            file_schema: Arc::clone(&snapshot.file_schema),
            head: head
                .iter()
                .filter_map(|&i| snapshot.head.get(i).cloned())
                .collect(),
            head_keys: if aligned {
                head.iter()
                    .filter_map(|&i| snapshot.head_keys.get(i).cloned())
                    .collect()
            } else {
                Vec::new()
            },
            files: files
                .iter()
                .filter_map(|&i| snapshot.files.get(i).cloned())
                .collect(),
        };
        // the part's head ranges are this table's, when already computed
        let head_ranges = OnceLock::new();
        if let Some(ranges) = self.head_ranges.get() {
            let _ = head_ranges.set(
                head.iter()
                    .filter_map(|&i| ranges.get(i).copied())
                    .collect(),
            );
        }
        SnapshotTable {
            snapshot: part,
            time_column: self.time_column,
            derived: self.derived.clone(),
            head_ranges,
            scans: Mutex::new(Vec::new()),
        }
    }

    /// The snapshot this table reads.
    pub fn snapshot(&self) -> &TableSnapshot {
        &self.snapshot
    }

    /// What every scan of this table read so far.
    pub fn scans(&self) -> Vec<ScanChoice> {
        self.scans.lock().clone()
    }

    /// The head batches within `bounds` whose key index admits the pinned values, spread over
    /// `partitions`.
    fn head_partitions(
        &self,
        bounds: &TimeBounds,
        pins: &mut Pins<'_>,
        partitions: usize,
        choice: &mut ScanChoice,
    ) -> Vec<Vec<RecordBatch>> {
        let head = &self.snapshot.head;
        // a snapshot whose head was edited after storage took it has no usable keys
        let head_keys = &self.snapshot.head_keys;
        let aligned = head_keys.len() == head.len();
        let mut chosen: Vec<&RecordBatch> = Vec::with_capacity(head.len());
        for (i, batch) in head.iter().enumerate() {
            if batch.num_rows() == 0 {
                continue;
            }
            if !bounds.is_unbounded()
                && let Some(Some((min, max))) = self.head_ranges().get(i)
                && !bounds.overlaps(*min, *max)
            {
                continue;
            }
            let keys = head_keys.get(i).filter(|_| aligned);
            let ruled_out = keys
                .and_then(|keys| pins.row_groups(keys))
                .is_some_and(|(kept, _)| kept.is_empty());
            if ruled_out || !pins.batch_may_match(batch) {
                choice.head_batches_pruned_key_index += 1;
                continue;
            }
            chosen.push(batch);
        }
        let n = partitions.clamp(1, chosen.len().max(1));
        let mut parts = vec![Vec::new(); n];
        for (i, batch) in chosen.into_iter().enumerate() {
            parts[i % n].push(batch.clone());
        }
        parts.retain(|p| !p.is_empty());
        parts
    }

    /// The files within `bounds`, each with the row groups its key index admits for the
    /// values `filters` pin its indexed columns to; files with no such row group are left out
    /// and counted in `choice`.
    fn choose_files(
        &self,
        bounds: &TimeBounds,
        pins: &mut Pins<'_>,
        choice: &mut ScanChoice,
    ) -> Vec<FileChoice<'_>> {
        let mut chosen = Vec::new();
        for file in &self.snapshot.files {
            if file.rows == 0 || !bounds.overlaps(file.min_time_ns, file.max_time_ns) {
                continue;
            }
            let row_groups = match pins.file_row_groups(&file.keys) {
                None => None,
                Some((kept, total)) if kept.is_empty() => {
                    choice.files_pruned_key_index += 1;
                    choice.row_groups_pruned_key_index += total;
                    continue;
                }
                Some((kept, total)) if kept.len() == total => None,
                Some((kept, total)) => {
                    choice.row_groups_pruned_key_index += total - kept.len();
                    let mut plan = ParquetAccessPlan::new_none(total);
                    for group in kept {
                        plan.scan(group);
                    }
                    Some(plan)
                }
            };
            chosen.push(FileChoice { file, row_groups });
        }
        chosen
    }

    fn file_groups(files: Vec<FileChoice<'_>>, groups: usize) -> Vec<FileGroup> {
        let mut sorted = files;
        sorted.sort_by_key(|f| std::cmp::Reverse(f.file.size_bytes));
        let n = groups.clamp(1, sorted.len().max(1));
        let mut buckets: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); n];
        for FileChoice { file, row_groups } in sorted {
            let Some(bucket) = buckets.iter_mut().min_by_key(|(bytes, _)| *bytes) else {
                break;
            };
            bucket.0 += file.size_bytes;
            let mut partitioned =
                PartitionedFile::new(file.path.to_string_lossy(), file.size_bytes);
            if let Some(plan) = row_groups {
                partitioned = partitioned.with_extension(plan);
            }
            bucket.1.push(partitioned);
        }
        buckets
            .into_iter()
            .filter(|(_, files)| !files.is_empty())
            .map(|(_, files)| FileGroup::new(files))
            .collect()
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.snapshot.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let bounds = TimeBounds::from_filters(self.time_column, filters);
        let partitions = state.config().target_partitions();
        let mut choice = ScanChoice {
            files_total: self.snapshot.files.len(),
            head_batches_total: self.snapshot.head.len(),
            ..ScanChoice::default()
        };
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::with_capacity(2);

        let mut pins = Pins::new(filters);
        let head = self.head_partitions(&bounds, &mut pins, partitions, &mut choice);
        if !head.is_empty() {
            choice.head_batches_scanned = head.iter().map(Vec::len).sum();
            choice.head_rows_scanned = head.iter().flatten().map(RecordBatch::num_rows).sum();
            let source =
                MemorySourceConfig::try_new(&head, Arc::clone(&schema), projection.cloned())?
                    .with_limit(limit);
            inputs.push(DataSourceExec::from_data_source(source));
        }

        let files = self.choose_files(&bounds, &mut pins, &mut choice);
        if !files.is_empty() {
            choice.files_scanned = files.len();
            choice.file_bytes_scanned = files.iter().map(|f| f.file.size_bytes).sum();
            inputs.push(self.file_scan(state, files, projection, limit).await?);
        }
        self.scans.lock().push(choice);

        match inputs.len() {
            0 => {
                let projected = match projection {
                    Some(p) => Arc::new(schema.project(p)?),
                    None => schema,
                };
                Ok(Arc::new(EmptyExec::new(projected)))
            }
            _ => UnionExec::try_new(inputs),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};
    use datafusion::prelude::Expr;

    use super::*;

    #[test]
    fn pinned_values_from_equalities_lists_and_disjunctions() {
        let id = |s: &str| s.as_bytes().to_vec();
        let pinned = |filters: &[Expr]| pinned_values("trace_id", filters);
        assert_eq!(pinned(&[col("trace_id").eq(lit("a"))]), Some(vec![id("a")]));
        assert_eq!(pinned(&[lit("a").eq(col("trace_id"))]), Some(vec![id("a")]));
        assert_eq!(
            pinned(&[col("trace_id").in_list(vec![lit("a"), lit("b")], false)]),
            Some(vec![id("a"), id("b")])
        );
        assert_eq!(
            pinned(&[col("trace_id")
                .eq(lit("a"))
                .or(col("trace_id").eq(lit("b")))]),
            Some(vec![id("a"), id("b")])
        );
        // a conjunction pins by its narrowest part
        assert_eq!(
            pinned(&[
                col("trace_id").in_list(vec![lit("a"), lit("b")], false),
                col("name").eq(lit("x")).and(col("trace_id").eq(lit("b"))),
            ]),
            Some(vec![id("b")])
        );
        // what does not pin the column
        for unpinned in [
            col("trace_id").not_eq(lit("a")),
            col("trace_id").in_list(vec![lit("a")], true),
            col("trace_id").eq(lit("a")).or(col("name").eq(lit("b"))),
            col("trace_id").like(lit("a%")),
            col("span_id").eq(lit("a")),
            col("trace_id").eq(lit(ScalarValue::Utf8(None))),
            col("trace_id").in_list(vec![lit("a"), col("name")], false),
        ] {
            assert_eq!(pinned(std::slice::from_ref(&unpinned)), None, "{unpinned}");
        }
    }

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(v),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn time_bounds_from_comparisons_between_and_conjunctions() {
        let filters = [
            col("start_time").gt_eq(ts(100)),
            ts(900).gt(col("start_time")),
            col("duration_ns").gt(lit(5_i64)),
        ];
        assert_eq!(
            TimeBounds::from_filters("start_time", &filters),
            TimeBounds { min: 100, max: 900 }
        );
        let between = [col("start_time")
            .between(ts(10), ts(20))
            .and(col("start_time").lt(ts(15)))];
        assert_eq!(
            TimeBounds::from_filters("start_time", &between),
            TimeBounds { min: 10, max: 15 }
        );
        let unrelated = [col("end_time").gt(ts(5)), col("start_time").not_eq(ts(7))];
        assert!(TimeBounds::from_filters("start_time", &unrelated).is_unbounded());
        let ms = [col("start_time").gt(lit(ScalarValue::TimestampMillisecond(Some(3), None)))];
        assert_eq!(TimeBounds::from_filters("start_time", &ms).min, 3_000_000);
    }
}
