//! The query engine: a DataFusion session per query over one storage snapshot, on its own
//! runtime, with a time limit, a memory limit and a result-size limit.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext, SessionState};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
    TrackConsumersPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{Expr, LogicalPlan, cast, col as column};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;
use meshscope_model::signal::utc_ns;
use meshscope_model::spans::{self, col};
use meshscope_storage::{Storage, TableSnapshot};
use tokio::sync::Semaphore;

use crate::config::QueryConfig;
use crate::error::{Error, Result};
use crate::lookup::TraceReads;
use crate::operations::OperationIndex;
use crate::provider::{ScanChoice, SnapshotTable};
use crate::sandbox;
use crate::stats::{QueryStats, ScanStats};

/// Query latency histogram, by kind of query.
pub(crate) const QUERY_SECONDS: &str = "meshscope_query_seconds";
/// Queries finished, by kind and outcome.
pub(crate) const QUERIES_TOTAL: &str = "meshscope_queries_total";
/// Memory reserved by running queries.
pub(crate) const QUERY_MEMORY_BYTES: &str = "meshscope_query_memory_reserved_bytes";
/// How long a finished query may take to release the memory of its stopping operators.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Describes the engine's metrics to the installed recorder.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        QUERY_SECONDS,
        Unit::Seconds,
        "query latency (waiting for a slot, planning, execution), by kind"
    );
    describe_counter!(
        QUERIES_TOTAL,
        Unit::Count,
        "queries finished, by kind and outcome"
    );
    describe_gauge!(
        QUERY_MEMORY_BYTES,
        Unit::Bytes,
        "memory reserved by the operators of running queries"
    );
}

/// The rows a query returned, with what it read to get them.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub stats: QueryStats,
}

impl QueryOutput {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// DataFusion over meshscope's storage. Cheap to clone; queries run on the engine's own
/// runtime, so a heavy query never occupies the threads that serve ingest.
#[derive(Clone)]
pub struct QueryEngine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) storage: Storage,
    pub(crate) config: QueryConfig,
    runtime: QueryRuntime,
    base_state: SessionState,
    base_runtime: Arc<RuntimeEnv>,
    slots: Arc<Semaphore>,
    reserved: Arc<AtomicUsize>,
    pub(crate) operations: OperationIndex,
}

/// The engine's tokio runtime; shut down in the background on drop, so the engine may be
/// dropped from async code.
struct QueryRuntime(Option<tokio::runtime::Runtime>);

impl QueryRuntime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts the spawned query when the caller stops waiting (a client that went away).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `end_time` of the `spans` table over the columns its files store (see
/// `meshscope_model::spans::DERIVED_COLUMNS`): `start_time + duration_ns`, typed as the column.
fn end_time_expr() -> Expr {
    let start_ns = cast(column(col::START_TIME), DataType::Int64);
    cast(start_ns + column(col::DURATION_NS), utc_ns())
}

fn session_config(config: &QueryConfig) -> SessionConfig {
    let mut session = SessionConfig::new()
        .with_target_partitions(config.worker_threads())
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public")
        .with_create_default_catalog_and_schema(true);
    let options = session.options_mut();
    let parquet = &mut options.execution.parquet;
    parquet.pushdown_filters = true;
    parquet.reorder_filters = true;
    parquet.enable_page_index = true;
    parquet.bloom_filter_on_read = true;
    // Apply what the row filter selected as skip/read runs, never as a mask over fully decoded
    // pages: a mask decodes every row of a map or list column and then filters it, which made
    // a service's search on a map attribute (3 % of rows selected) cost 2.5× a full read of
    // that column (1 M spans: 1,030 → 405 ms for the search, 462 → 177 ms for an attribute
    // lookup on one service's spans; flat-column queries unchanged or faster).
    parquet.force_filter_selections = true;
    // the table schema says Utf8; reading Utf8View and casting back would only cost time
    parquet.schema_force_view_types = false;
    options.catalog.information_schema = true;
    options.execution.collect_statistics = false;
    session
}

impl QueryEngine {
    /// An engine over `storage`'s `spans` table. Starts the query runtime's threads.
    pub fn new(storage: Storage, config: QueryConfig) -> Result<Self> {
        config.validate()?;
        let threads = config.worker_threads();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(threads.max(2) * 4)
            .thread_name("meshscope-query")
            .enable_all()
            .build()
            .map_err(|e| Error::Task(format!("cannot start the query runtime: {e}")))?;
        let base_runtime = RuntimeEnvBuilder::new()
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .with_metadata_cache_limit(config.metadata_cache_bytes)
            .build_arc()?;
        // Functions, planners and optimizer rules, but no table functions, table factories or
        // file formats: nothing in SQL can name a file (see `sandbox`).
        let base_state = SessionStateBuilder::new_with_default_features()
            .with_config(session_config(&config))
            .with_runtime_env(Arc::clone(&base_runtime))
            .with_table_functions(Default::default())
            .with_table_factories(Default::default())
            .with_file_formats(Vec::new())
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                slots: Arc::new(Semaphore::new(config.max_concurrent_queries)),
                config,
                runtime: QueryRuntime(Some(runtime)),
                base_state,
                base_runtime,
                reserved: Arc::new(AtomicUsize::new(0)),
                operations: OperationIndex::default(),
            }),
        })
    }

    pub fn config(&self) -> &QueryConfig {
        &self.inner.config
    }

    /// Bytes reserved right now by the operators of running queries (0 when none runs).
    pub fn memory_reserved(&self) -> usize {
        self.inner.reserved.load(Ordering::Acquire)
    }

    /// Runs a read-only SQL statement (see [`crate::sandbox`] for what is allowed).
    pub async fn sql(&self, sql: &str) -> Result<QueryOutput> {
        let sql = sql.to_owned();
        self.run("sql", move |query| async move { query.sql(&sql).await })
            .await
    }

    /// Runs `work` with a fresh query context on the query runtime, under the engine's
    /// concurrency, time and memory limits.
    pub(crate) async fn run<F, Fut, T>(&self, kind: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(QueryCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(kind, Inner::new_query, work).await
    }

    /// Runs `work`, which reads trace rows without planning a query, under the engine's
    /// concurrency and time limits; it gets the `spans` snapshot only, not a whole session.
    pub(crate) async fn run_reads<F, Fut, T>(&self, kind: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(ReadCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(kind, Inner::new_read, work).await
    }

    async fn run_in<C, F, Fut, T>(
        &self,
        kind: &'static str,
        context: fn(&Arc<Inner>) -> Result<C>,
        work: F,
    ) -> Result<T>
    where
        C: WorkContext,
        F: FnOnce(C) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let started = Instant::now();
        let inner = Arc::clone(&self.inner);
        let Some(handle) = self.inner.runtime.handle() else {
            return Err(Error::Task("the query runtime is shut down".into()));
        };
        let timeout = inner.config.timeout;
        let task = handle.spawn(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let slot =
                match tokio::time::timeout_at(deadline, Arc::clone(&inner.slots).acquire_owned())
                    .await
                {
                    Ok(Ok(slot)) => slot,
                    Ok(Err(_)) => return Err(Error::Task("the query engine is shut down".into())),
                    Err(_) => return Err(Error::Timeout(timeout)),
                };
            let query = context(&inner)?;
            let pool = query.pool();
            let result = match tokio::time::timeout_at(deadline, work(query)).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout(timeout)),
            };
            // Operators of a cancelled or failed query stop on their own tasks; wait (briefly)
            // until they have released their memory, so a finished query holds none and the
            // slot is not handed on while it still does.
            if let Some(pool) = pool {
                let release_by = tokio::time::Instant::now() + RELEASE_WAIT;
                while pool.reserved() > 0 && tokio::time::Instant::now() < release_by {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if pool.reserved() > 0 {
                    tracing::warn!(
                        reserved = pool.reserved(),
                        "a finished query still holds memory"
                    );
                }
            }
            drop(slot);
            result
        });
        let mut task = AbortOnDrop(task);
        let result = match (&mut task.0).await {
            Ok(result) => result,
            Err(e) => Err(Error::Task(e.to_string())),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(Error::Timeout(_)) => "timeout",
            Err(e) if e.kind() == crate::ErrorKind::LimitExceeded => "limit",
            Err(_) => "error",
        };
        let elapsed = started.elapsed();
        metrics::histogram!(QUERY_SECONDS, "kind" => kind).record(elapsed.as_secs_f64());
        metrics::counter!(QUERIES_TOTAL, "kind" => kind, "outcome" => outcome).increment(1);
        match &result {
            Ok(_) => tracing::debug!(kind, elapsed_ms = elapsed.as_millis() as u64, "query done"),
            Err(e) => {
                tracing::info!(kind, elapsed_ms = elapsed.as_millis() as u64, error = %e, "query failed")
            }
        }
        result
    }
}

impl Inner {
    /// The `spans` table over a snapshot taken now, for reads that plan no query.
    fn new_read(self: &Arc<Self>) -> Result<ReadCtx> {
        Ok(ReadCtx {
            table: spans_table(self.storage.snapshot(spans::TABLE)?),
            inner: Arc::clone(self),
        })
    }

    /// A session over a snapshot taken now, with its own memory pool.
    fn new_query(self: &Arc<Self>) -> Result<QueryCtx> {
        let table = Arc::new(spans_table(self.storage.snapshot(spans::TABLE)?));
        let pool = Arc::new(QueryPool::new(
            self.config.memory_limit_bytes,
            Arc::clone(&self.reserved),
        ));
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.base_runtime)
            .with_memory_pool(Arc::clone(&pool) as Arc<dyn MemoryPool>)
            .build_arc()?;
        let schema = MemorySchemaProvider::new();
        schema.register_table(spans::TABLE.to_owned(), Arc::clone(&table) as _)?;
        // every other table of the store under its own name (aggregates, metrics, logs)
        for (name, time_column) in self.storage.tables() {
            if name != spans::TABLE {
                let other = SnapshotTable::new(self.storage.snapshot(name)?, time_column);
                schema.register_table(name.to_owned(), Arc::new(other) as _)?;
            }
        }
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema("public", Arc::new(schema))?;
        let catalogs = MemoryCatalogProviderList::new();
        catalogs.register_catalog("datafusion".to_owned(), Arc::new(catalog));
        let mut state = SessionStateBuilder::new_from_existing(self.base_state.clone())
            .with_runtime_env(runtime)
            .with_catalog_list(Arc::new(catalogs))
            .build();
        // `now()` and friends read the query's start time
        state.mark_start_execution();
        Ok(QueryCtx {
            ctx: SessionContext::new_with_state(state.clone()),
            state,
            table,
            pool,
            memory_limit_bytes: self.config.memory_limit_bytes,
            max_result_bytes: self.config.max_result_bytes,
        })
    }
}

/// The `spans` table over `snapshot`, with how its files' derived columns are computed.
fn spans_table(snapshot: TableSnapshot) -> SnapshotTable {
    SnapshotTable::new(snapshot, col::START_TIME).with_derived(col::END_TIME, end_time_expr())
}

/// What a query's work gets: a [`QueryCtx`], or a [`ReadCtx`] for reads that plan nothing.
trait WorkContext: Send + 'static {
    /// The memory pool whose reservations the work's operators hold, if it has one.
    fn pool(&self) -> Option<Arc<QueryPool>>;
}

impl WorkContext for QueryCtx {
    fn pool(&self) -> Option<Arc<QueryPool>> {
        Some(Arc::clone(&self.pool))
    }
}

impl WorkContext for ReadCtx {
    fn pool(&self) -> Option<Arc<QueryPool>> {
        None
    }
}

/// A read of trace rows (see `lookup`): the `spans` table over one snapshot, and the engine's
/// base session for the expressions of derived columns. No catalog, no memory pool: what it
/// reads is bounded by the result-size limit.
pub(crate) struct ReadCtx {
    table: SnapshotTable,
    inner: Arc<Inner>,
}

impl ReadCtx {
    /// Reads of trace rows over this snapshot (see `lookup`).
    pub(crate) fn reads(&self) -> TraceReads<'_> {
        TraceReads {
            table: &self.table,
            state: &self.inner.base_state,
            max_result_bytes: self.inner.config.max_result_bytes,
        }
    }
}

/// One query's session: a snapshot-bound `spans` table and a memory pool of its own.
pub(crate) struct QueryCtx {
    pub(crate) ctx: SessionContext,
    state: SessionState,
    table: Arc<SnapshotTable>,
    pool: Arc<QueryPool>,
    memory_limit_bytes: usize,
    max_result_bytes: usize,
}

impl QueryCtx {
    /// Reads of trace rows over this query's snapshot, without planning a query (see
    /// `lookup`).
    pub(crate) fn reads(&self) -> TraceReads<'_> {
        TraceReads {
            table: &self.table,
            state: &self.state,
            max_result_bytes: self.max_result_bytes,
        }
    }

    pub(crate) fn snapshot_table(&self) -> &SnapshotTable {
        &self.table
    }

    /// Parses, checks and runs one SQL statement.
    pub(crate) async fn sql(&self, sql: &str) -> Result<QueryOutput> {
        let statement = sandbox::parse(sql, &self.state)?;
        let plan = self
            .state
            .statement_to_plan(statement)
            .await
            .map_err(|e| self.error(e))?;
        sandbox::verify_plan(&plan)?;
        self.collect_plan(plan).await
    }

    pub(crate) async fn collect(&self, frame: DataFrame) -> Result<QueryOutput> {
        let (_, plan) = frame.into_parts();
        self.collect_plan(plan).await
    }

    async fn collect_plan(&self, plan: LogicalPlan) -> Result<QueryOutput> {
        let started = Instant::now();
        let physical = self
            .state
            .create_physical_plan(&plan)
            .await
            .map_err(|e| self.error(e))?;
        let schema = physical.schema();
        let mut stream = execute_stream(Arc::clone(&physical), self.ctx.task_ctx())
            .map_err(|e| self.error(e))?;
        let mut batches = Vec::new();
        let mut bytes = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.error(e))?;
            bytes += batch
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                .sum::<usize>();
            if bytes > self.max_result_bytes {
                return Err(Error::ResultTooLarge {
                    limit_bytes: self.max_result_bytes,
                });
            }
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        drop(stream);
        let stats = self.stats(physical.as_ref(), started.elapsed(), &batches);
        Ok(QueryOutput {
            schema,
            batches,
            stats,
        })
    }

    fn stats(
        &self,
        plan: &dyn ExecutionPlan,
        elapsed: Duration,
        batches: &[RecordBatch],
    ) -> QueryStats {
        let choices: Vec<ScanChoice> = self.table.scans();
        QueryStats {
            elapsed,
            output_rows: batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64,
            scan: ScanStats::collect(plan, &choices),
        }
    }

    pub(crate) fn error(&self, e: DataFusionError) -> Error {
        if let DataFusionError::ResourcesExhausted(detail) = e.find_root() {
            return Error::MemoryLimit {
                limit_bytes: self.memory_limit_bytes,
                detail: detail.clone(),
            };
        }
        Error::DataFusion(e)
    }
}

/// A per-query greedy pool that also counts into the engine-wide total of reserved bytes.
#[derive(Debug)]
struct QueryPool {
    inner: TrackConsumersPool<GreedyMemoryPool>,
    total: Arc<AtomicUsize>,
}

impl QueryPool {
    fn new(limit: usize, total: Arc<AtomicUsize>) -> Self {
        let top = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: TrackConsumersPool::new(GreedyMemoryPool::new(limit), top),
            total,
        }
    }

    fn publish(&self) {
        metrics::gauge!(QUERY_MEMORY_BYTES).set(self.total.load(Ordering::Acquire) as f64);
    }
}

impl std::fmt::Display for QueryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query pool ({} reserved)", self.inner.reserved())
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "meshscope-query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
        self.total.fetch_add(additional, Ordering::AcqRel);
        self.publish();
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
        self.total.fetch_sub(shrink, Ordering::AcqRel);
        self.publish();
    }

    fn try_grow(
        &self,
        reservation: &MemoryReservation,
        additional: usize,
    ) -> datafusion::error::Result<()> {
        self.inner.try_grow(reservation, additional)?;
        self.total.fetch_add(additional, Ordering::AcqRel);
        self.publish();
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}
