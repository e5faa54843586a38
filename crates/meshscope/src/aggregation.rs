//! The live service graph: the graph aggregator fed with every durable `spans` batch, its
//! closed minutes and hourly rollups stored through [`Storage`], its open minutes rebuilt after
//! a restart, and the aggregate rows a graph or RED question needs.
//!
//! The protocol is the one `meshscope-graph` documents (crate docs, "Protocol for the
//! caller"):
//! 1. ingest calls [`Aggregation::observe`] after each durable append of spans;
//! 2. a task drains closed minutes every [`TICK`] and appends them, `service_edges` before
//!    `span_metrics`, retrying until stored (rows wait in `unstored` meanwhile), then rolls
//!    closed hours up into the hourly tables;
//! 3. on start, the watermark is read back from the stored aggregates and every stored span
//!    from it on is replayed, before the receivers accept traffic.
//!
//! Readers ([`AggregateSource::load`]) see each row exactly once: stored rows, rows drained but
//! not yet stored, and the open minutes as they stand (`Aggregator::peek`). The `publishing`
//! lock keeps a reader's storage snapshot and its copy of the unstored rows consistent while
//! an append makes rows visible in storage.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use meshscope_api::{AggregateSource, LoadedAggregates};
use meshscope_graph::{
    Aggregator, AggregatorConfig, HOUR_NS, SERVICE_EDGES, SERVICE_EDGES_HOURLY, SPAN_COLUMNS,
    SPAN_METRICS, SPAN_METRICS_HOURLY, TimeRange, Watermark, hour_of, hours_to_roll_up,
    rollup_hour,
};
use meshscope_model::spans;
use meshscope_storage::{
    ParquetFile, Storage, TableSnapshot, read_parquet_columns, read_parquet_file,
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// How often closed minutes are drained and stored.
pub const TICK: Duration = Duration::from_secs(5);
/// Decoded aggregate files kept in memory for repeated graph and RED questions.
const FILE_CACHE_BYTES: usize = 128 << 20;
/// Hours rolled up per tick at most (catching up after downtime spreads over ticks).
const ROLLUPS_PER_TICK: usize = 4;

/// The minute table each hourly table rolls up.
const ROLLUPS: [(&str, &str); 2] = [
    (SERVICE_EDGES, SERVICE_EDGES_HOURLY),
    (SPAN_METRICS, SPAN_METRICS_HOURLY),
];

/// The live aggregation. Cheap to clone.
#[derive(Clone)]
pub struct Aggregation {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    state: Mutex<State>,
    /// Held (write) while an append makes rows visible in storage and they leave `unstored`;
    /// held (read) while a reader snapshots storage and copies `unstored`.
    publishing: tokio::sync::RwLock<()>,
    cache: Mutex<FileCache>,
}

struct State {
    aggregator: Aggregator,
    /// Rows drained (or rolled up) but not yet stored, in the order they must be appended.
    unstored: VecDeque<(&'static str, RecordBatch)>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Largest value of `snapshot`'s time column, over its files and head.
fn max_time(snapshot: &TableSnapshot, time_column: &str) -> Option<i64> {
    let files = snapshot.files.iter().map(|f| f.max_time_ns).max();
    let head = snapshot
        .head
        .iter()
        .filter_map(|b| time_values(b, time_column))
        .filter_map(|t| t.iter().flatten().max())
        .max();
    files.max(head)
}

/// Smallest value of `snapshot`'s time column, over its files and head.
fn min_time(snapshot: &TableSnapshot, time_column: &str) -> Option<i64> {
    let files = snapshot.files.iter().map(|f| f.min_time_ns).min();
    let head = snapshot
        .head
        .iter()
        .filter_map(|b| time_values(b, time_column))
        .filter_map(|t| t.iter().flatten().min())
        .min();
    match (files, head) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn time_values<'a>(
    batch: &'a RecordBatch,
    column: &str,
) -> Option<&'a arrow::array::PrimitiveArray<TimestampNanosecondType>> {
    batch
        .column_by_name(column)?
        .as_primitive_opt::<TimestampNanosecondType>()
}

/// The time column of the aggregate tables: `minute`, or `hour` for the rollups.
fn time_column(table: &str) -> &'static str {
    if table == SPAN_METRICS_HOURLY || table == SERVICE_EDGES_HOURLY {
        meshscope_graph::col::HOUR
    } else {
        meshscope_graph::col::MINUTE
    }
}

impl Aggregation {
    /// Resumes from what is stored: reads the aggregates' watermark back, then replays every
    /// stored span from it on. Call after storage is open and before the receivers start.
    pub async fn start(storage: Storage, config: AggregatorConfig) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        let last = |table: &str| -> anyhow::Result<Option<i64>> {
            Ok(max_time(&storage.snapshot(table)?, time_column(table)))
        };
        let mut watermark = Watermark::from_stored(last(SPAN_METRICS)?, last(SERVICE_EDGES)?);
        // minutes of rolled-up hours stay closed even if their minute rows were gone
        if let Some(hour) = last(SPAN_METRICS_HOURLY)?.max(last(SERVICE_EDGES_HOURLY)?) {
            watermark = watermark.at_least(hour.saturating_add(HOUR_NS));
        }
        let mut aggregator =
            Aggregator::resume(config, watermark).context("resuming the graph aggregator")?;

        let replay_from = watermark.replay_from();
        let snapshot = storage.snapshot(spans::TABLE)?;
        let replay = tokio::task::spawn_blocking(move || -> anyhow::Result<(Aggregator, u64)> {
            let now = now_ns();
            let mut replayed = 0u64;
            let mut files: Vec<&ParquetFile> = snapshot
                .files
                .iter()
                .filter(|f| replay_from.is_none_or(|from| f.max_time_ns >= from))
                .collect();
            files.sort_by_key(|f| f.min_time_ns);
            for file in files {
                // only the columns the aggregator reads: the maps, events and links it does
                // not read are most of a row's decoding
                for batch in read_parquet_columns(&file.path, SPAN_COLUMNS)
                    .with_context(|| format!("replaying spans from {}", file.path.display()))?
                {
                    replayed += batch.num_rows() as u64;
                    aggregator.observe(&batch, now)?;
                }
            }
            for batch in &snapshot.head {
                replayed += batch.num_rows() as u64;
                aggregator.observe(batch, now)?;
            }
            Ok((aggregator, replayed))
        });
        let (aggregator, replayed) = replay.await.context("replaying spans into the graph")??;
        tracing::info!(
            replayed_spans = replayed,
            replay_from_ns = replay_from,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "service graph resumed"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                state: Mutex::new(State {
                    aggregator,
                    unstored: VecDeque::new(),
                }),
                publishing: tokio::sync::RwLock::new(()),
                cache: Mutex::new(FileCache::default()),
            }),
        })
    }

    /// Counts a durable `spans` batch (called by ingest after the append).
    pub fn observe(&self, batch: &RecordBatch) {
        let mut state = self.inner.state.lock();
        if let Err(e) = state.aggregator.observe(batch, now_ns()) {
            // a batch that does not have the spans schema: a bug, not bad input
            tracing::error!(error = %e, "the graph aggregator refused a spans batch");
        }
    }

    /// Drains, stores and rolls up every [`TICK`] until `shutdown`. Rows not stored by then
    /// are rebuilt from the spans at the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.drain_once() {
                tracing::error!(error = %format!("{e:#}"), "draining the graph aggregator");
            }
            if !self.store_unstored(&shutdown).await {
                return;
            }
            match self.roll_up() {
                Ok(()) => {
                    if !self.store_unstored(&shutdown).await {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "rolling up hours"),
            }
            self.record_metrics();
        }
    }

    fn drain_once(&self) -> anyhow::Result<()> {
        let mut state = self.inner.state.lock();
        let rows = state.aggregator.drain(now_ns())?;
        state.unstored.extend(rows);
        Ok(())
    }

    /// Appends the unstored rows in order; retries while storage pushes back. Returns false
    /// when shut down first.
    async fn store_unstored(&self, shutdown: &CancellationToken) -> bool {
        loop {
            let Some((table, batch)) = self.inner.state.lock().unstored.front().cloned() else {
                return true;
            };
            let wait = {
                let _publishing = self.inner.publishing.write().await;
                match self.inner.storage.append(table, batch).await {
                    Ok(_) => {
                        self.inner.state.lock().unstored.pop_front();
                        None
                    }
                    Err(meshscope_storage::Error::Backpressure { retry_after }) => {
                        Some(retry_after)
                    }
                    Err(meshscope_storage::Error::Closed) => return false,
                    Err(e) => {
                        tracing::warn!(table, error = %e, "storing aggregates; will retry");
                        Some(Duration::from_secs(1))
                    }
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    /// Rolls the closed hours of each minute table up into its hourly table (queued in
    /// `unstored`). Runs only when every drained row is stored, so the aggregator's watermark
    /// is what storage holds.
    fn roll_up(&self) -> anyhow::Result<()> {
        let watermark = {
            let state = self.inner.state.lock();
            if !state.unstored.is_empty() {
                return Ok(());
            }
            state.aggregator.watermark()
        };
        let storage = &self.inner.storage;
        for (minute_table, hourly_table) in ROLLUPS {
            let minutes = storage.snapshot(minute_table)?;
            let hourly = storage.snapshot(hourly_table)?;
            let hours = hours_to_roll_up(
                watermark,
                min_time(&minutes, time_column(minute_table)),
                max_time(&hourly, time_column(hourly_table)),
                ROLLUPS_PER_TICK,
            );
            for hour in hours {
                let range = TimeRange::new(hour, hour.saturating_add(HOUR_NS))?;
                let rows = self.read(&minutes, range, &HashSet::new())?;
                if let Some(rolled) = rollup_hour(minute_table, &rows, hour)? {
                    self.inner.state.lock().unstored.push_back(rolled);
                }
            }
        }
        Ok(())
    }

    fn record_metrics(&self) {
        let state = self.inner.state.lock();
        let stats = state.aggregator.stats();
        metrics::gauge!("meshscope_graph_pending_spans").set(state.aggregator.pending() as f64);
        metrics::gauge!("meshscope_graph_open_minutes").set(state.aggregator.open_minutes() as f64);
        metrics::gauge!("meshscope_graph_unstored_batches").set(state.unstored.len() as f64);
        metrics::gauge!("meshscope_graph_unpaired_callers").set(stats.unpaired_callers as f64);
        metrics::gauge!("meshscope_graph_late_spans").set(stats.late_spans as f64);
        metrics::gauge!("meshscope_graph_evicted_spans").set(stats.evicted as f64);
    }

    /// The rows of `snapshot` that may lie in `range`: its head batches and the files that
    /// overlap the range, except files of `skip_hours` (hours answered by rollups).
    fn read(
        &self,
        snapshot: &TableSnapshot,
        range: TimeRange,
        skip_hours: &HashSet<i64>,
    ) -> anyhow::Result<Vec<RecordBatch>> {
        let mut out = snapshot.head.clone();
        for file in &snapshot.files {
            if file.max_time_ns < range.start_ns || file.min_time_ns >= range.end_ns {
                continue;
            }
            let hour = hour_of(file.min_time_ns);
            if hour == hour_of(file.max_time_ns) && skip_hours.contains(&hour) {
                continue;
            }
            out.extend(self.read_file(file)?.iter().cloned());
        }
        Ok(out)
    }

    fn read_file(&self, file: &ParquetFile) -> anyhow::Result<Arc<Vec<RecordBatch>>> {
        if let Some(batches) = self.inner.cache.lock().get(&file.path) {
            return Ok(batches);
        }
        let batches = Arc::new(
            read_parquet_file(&file.path)
                .with_context(|| format!("reading {}", file.path.display()))?,
        );
        self.inner
            .cache
            .lock()
            .insert(file.path.clone(), Arc::clone(&batches));
        Ok(batches)
    }

    fn load_blocking(
        &self,
        snapshots: [TableSnapshot; 4],
        range: TimeRange,
    ) -> anyhow::Result<LoadedAggregates> {
        let [metrics, edges, metrics_hourly, edges_hourly] = snapshots;
        let span_metrics_hourly = self.read(&metrics_hourly, range, &HashSet::new())?;
        let service_edges_hourly = self.read(&edges_hourly, range, &HashSet::new())?;
        // hours wholly inside the range that a rollup answers need no minute files
        let covered = |hourly: &[RecordBatch]| -> HashSet<i64> {
            hourly
                .iter()
                .filter_map(|b| time_values(b, meshscope_graph::col::HOUR))
                .flat_map(|t| t.iter().flatten().collect::<Vec<_>>())
                .filter(|h| *h >= range.start_ns && h.saturating_add(HOUR_NS) <= range.end_ns)
                .collect()
        };
        let span_metrics = self.read(&metrics, range, &covered(&span_metrics_hourly))?;
        let service_edges = self.read(&edges, range, &covered(&service_edges_hourly))?;
        Ok(LoadedAggregates {
            span_metrics,
            service_edges,
            span_metrics_hourly,
            service_edges_hourly,
        })
    }
}

#[async_trait::async_trait]
impl AggregateSource for Aggregation {
    async fn load(&self, range: TimeRange) -> Result<LoadedAggregates, String> {
        let (snapshots, live) = {
            let _publishing = self.inner.publishing.read().await;
            let storage = &self.inner.storage;
            let snapshot = |t: &str| storage.snapshot(t).map_err(|e| e.to_string());
            let snapshots = [
                snapshot(SPAN_METRICS)?,
                snapshot(SERVICE_EDGES)?,
                snapshot(SPAN_METRICS_HOURLY)?,
                snapshot(SERVICE_EDGES_HOURLY)?,
            ];
            let state = self.inner.state.lock();
            let mut live: Vec<(&'static str, RecordBatch)> =
                state.unstored.iter().cloned().collect();
            live.extend(state.aggregator.peek().map_err(|e| e.to_string())?);
            (snapshots, live)
        };
        let this = self.clone();
        let mut loaded = tokio::task::spawn_blocking(move || this.load_blocking(snapshots, range))
            .await
            .map_err(|e| format!("loading aggregates: {e}"))?
            .map_err(|e| format!("{e:#}"))?;
        for (table, batch) in live {
            match table {
                SPAN_METRICS => loaded.span_metrics.push(batch),
                SERVICE_EDGES => loaded.service_edges.push(batch),
                SPAN_METRICS_HOURLY => loaded.span_metrics_hourly.push(batch),
                SERVICE_EDGES_HOURLY => loaded.service_edges_hourly.push(batch),
                _ => {}
            }
        }
        Ok(loaded)
    }
}

/// Decoded Parquet files of the aggregate tables (immutable, so never stale), evicted oldest
/// first beyond [`FILE_CACHE_BYTES`].
#[derive(Default)]
struct FileCache {
    files: HashMap<PathBuf, (Arc<Vec<RecordBatch>>, usize)>,
    order: VecDeque<PathBuf>,
    bytes: usize,
}

impl FileCache {
    fn get(&self, path: &PathBuf) -> Option<Arc<Vec<RecordBatch>>> {
        self.files.get(path).map(|(b, _)| Arc::clone(b))
    }

    fn insert(&mut self, path: PathBuf, batches: Arc<Vec<RecordBatch>>) {
        let size: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        if size > FILE_CACHE_BYTES || self.files.contains_key(&path) {
            return;
        }
        while self.bytes + size > FILE_CACHE_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.files.remove(&oldest) {
                self.bytes -= s;
            }
        }
        self.bytes += size;
        self.order.push_back(path.clone());
        self.files.insert(path, (batches, size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    fn batch(rows: usize) -> Arc<Vec<RecordBatch>> {
        use arrow::array::Int64Array;
        let array = Arc::new(Int64Array::from(vec![0i64; rows])) as Arc<dyn Array>;
        Arc::new(vec![
            RecordBatch::try_from_iter([("x", array)]).expect("a batch"),
        ])
    }

    #[test]
    fn file_cache_evicts_oldest_first_within_its_budget() {
        let mut cache = FileCache::default();
        let one = batch(FILE_CACHE_BYTES / 8 / 5);
        let size: usize = one.iter().map(RecordBatch::get_array_memory_size).sum();
        let fit = FILE_CACHE_BYTES / size;
        assert!(fit >= 2, "{size}");
        for i in 0..=fit {
            cache.insert(PathBuf::from(format!("/f{i}")), Arc::clone(&one));
        }
        assert!(
            cache.get(&PathBuf::from("/f0")).is_none(),
            "the oldest is evicted"
        );
        for i in 1..=fit {
            assert!(
                cache.get(&PathBuf::from(format!("/f{i}"))).is_some(),
                "/f{i} kept"
            );
        }
        assert!(cache.bytes <= FILE_CACHE_BYTES);
        // a file larger than the whole budget is not cached
        cache.insert(PathBuf::from("/huge"), batch(FILE_CACHE_BYTES / 8 + 1));
        assert!(cache.get(&PathBuf::from("/huge")).is_none());
    }
}
