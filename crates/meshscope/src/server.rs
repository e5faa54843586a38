//! Wiring: storage, receivers and the API, started in order and stopped in order.
//!
//! Start: the API port comes up first (so `/healthz` answers during WAL replay), then storage
//! opens and replays the WAL, the service graph resumes (replaying stored spans of its open
//! minutes), then the OTLP receivers bind and `/readyz` turns ready.
//! Stop: the receivers stop accepting, in-flight requests finish, storage flushes its head
//! to Parquet and closes the WAL.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use meshscope_api::{AggregateSource, ApiState};
use meshscope_ingest::{Ingestor, TraceGrpcService};
use meshscope_storage::{Storage, TableSpec};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::aggregation::Aggregation;
use crate::config::Config;

/// The tables this server stores.
pub fn tables() -> Vec<TableSpec> {
    use meshscope_model::spans;
    let mut tables = vec![TableSpec {
        name: spans::TABLE,
        schema: spans::schema(),
        time_column: spans::TIME_COLUMN,
        sort_columns: spans::SORT_COLUMNS.to_vec(),
        bloom_filter_columns: spans::BLOOM_FILTER_COLUMNS.to_vec(),
        derived_columns: spans::DERIVED_COLUMNS.to_vec(),
    }];
    tables.extend(meshscope_graph::tables().into_iter().map(|t| TableSpec {
        name: t.name,
        schema: t.schema,
        time_column: t.time_column,
        sort_columns: t.sort_columns.to_vec(),
        bloom_filter_columns: t.bloom_filter_columns.to_vec(),
        derived_columns: vec![],
    }));
    // metrics: one table per point type, sorted so a metric's series lie together in time order
    {
        use meshscope_model::metrics::col as m;
        tables.extend(
            meshscope_model::metrics::tables()
                .into_iter()
                .map(|(name, schema)| TableSpec {
                    name,
                    schema,
                    time_column: m::TIME,
                    sort_columns: vec![m::METRIC_NAME, m::SERVICE_NAME, m::SERIES_ID, m::TIME],
                    bloom_filter_columns: vec![],
                    derived_columns: vec![],
                }),
        );
    }
    // logs: found by trace (joins with spans) like spans are
    tables.push(TableSpec {
        name: meshscope_model::logs::TABLE,
        schema: meshscope_model::logs::schema(),
        time_column: meshscope_model::logs::col::TIME,
        sort_columns: vec![
            meshscope_model::logs::col::TRACE_ID,
            meshscope_model::logs::col::TIME,
        ],
        bloom_filter_columns: vec![meshscope_model::logs::col::TRACE_ID],
        derived_columns: vec![],
    });
    tables
}

/// A running server.
pub struct Server {
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `None` when the Zipkin receiver is off.
    pub zipkin_addr: Option<SocketAddr>,
    pub storage: Storage,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

/// The process-wide Prometheus recorder (installed once, shared by servers in one process).
fn prometheus() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // servers starting at once (tests) must not both install a recorder
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    meshscope_storage::describe_metrics();
    meshscope_query::describe_metrics();
    meshscope_ingest::describe_metrics();
    describe_metrics();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "meshscope_spans_received_total",
        Unit::Count,
        "spans received, by protocol"
    );
    describe_counter!(
        "meshscope_spans_accepted_total",
        Unit::Count,
        "spans made durable, by protocol"
    );
    describe_counter!(
        "meshscope_spans_rejected_total",
        Unit::Count,
        "spans rejected as invalid (reported in partial_success), by protocol"
    );
    describe_counter!(
        "meshscope_requests_refused_total",
        Unit::Count,
        "export requests refused, by protocol and reason"
    );
    describe_histogram!(
        "meshscope_ingest_request_seconds",
        Unit::Seconds,
        "time to validate, convert and durably store an export request"
    );
    describe_gauge!(
        "meshscope_process_resident_memory_bytes",
        Unit::Bytes,
        "resident memory of the process"
    );
}

fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener on {addr}"))
}

impl Server {
    /// Starts everything; returns once the receivers accept data.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let handle = prometheus()?;
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let ready = Arc::new(AtomicBool::new(false));

        let api_listener = bind(config.http_addr, "query API").await?;
        let http_addr = api_listener.local_addr()?;
        let render_handle = handle.clone();
        // set once storage is open; the query endpoints answer 503 until then
        let query_engine = Arc::new(OnceLock::new());
        let aggregates: Arc<OnceLock<Arc<dyn AggregateSource>>> = Arc::new(OnceLock::new());
        let api = meshscope_api::router(ApiState {
            query: Arc::clone(&query_engine),
            aggregates: Arc::clone(&aggregates),
            ready: Arc::clone(&ready),
            render_metrics: Arc::new(move || {
                if let Some(rss) = resident_memory_bytes() {
                    metrics::gauge!("meshscope_process_resident_memory_bytes").set(rss as f64);
                }
                render_handle.render()
            }),
        });
        let token = shutdown.clone();
        tasks.spawn(async move {
            axum::serve(api_listener, api)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .context("query API server")
        });
        let token = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = tick.tick() => handle.run_upkeep(),
                }
            }
        });

        let replay_started = std::time::Instant::now();
        let storage = Storage::open(config.storage.clone(), tables())
            .await
            .with_context(|| format!("opening storage in {}", config.storage.data_dir.display()))?;
        tracing::info!(
            data_dir = %config.storage.data_dir.display(),
            elapsed_ms = replay_started.elapsed().as_millis() as u64,
            "storage open, write-ahead log replayed"
        );
        let engine = meshscope_query::QueryEngine::new(storage.clone(), config.query.clone())
            .context("starting the query engine")?;
        let _ = query_engine.set(engine);
        let aggregation = Aggregation::start(storage.clone(), config.graph.clone())
            .await
            .context("resuming the service graph")?;
        let _ = aggregates.set(Arc::new(aggregation.clone()));
        tasks.spawn(aggregation.clone().run(shutdown.clone()).map(Ok));
        let flusher = storage.start_background();
        let token = shutdown.clone();
        tasks.spawn(async move {
            token.cancelled().await;
            flusher.abort();
            Ok(())
        });

        let observer = aggregation.clone();
        let ingestor = Ingestor::with_span_observer(
            storage.clone(),
            config.limits.clone(),
            Some(Arc::new(move |batch| observer.observe(batch))),
        );

        let grpc_listener = bind(config.otlp_grpc_addr, "OTLP/gRPC").await?;
        let otlp_grpc_addr = grpc_listener.local_addr()?;
        let grpc = tonic::transport::Server::builder()
            .max_concurrent_streams(Some(256))
            .concurrency_limit_per_connection(256)
            .tcp_nodelay(true)
            .add_service(TraceGrpcService::new(ingestor.clone()))
            .add_service(meshscope_ingest::MetricsGrpcService::new(ingestor.clone()))
            .add_service(meshscope_ingest::LogsGrpcService::new(ingestor.clone()));
        let token = shutdown.clone();
        tasks.spawn(async move {
            grpc.serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(grpc_listener),
                token.cancelled_owned(),
            )
            .await
            .context("OTLP/gRPC server")
        });

        let otlp_http_listener = bind(config.otlp_http_addr, "OTLP/HTTP").await?;
        let otlp_http_addr = otlp_http_listener.local_addr()?;
        let otlp_http = meshscope_ingest::http::router(ingestor.clone());
        let token = shutdown.clone();
        tasks.spawn(async move {
            axum::serve(otlp_http_listener, otlp_http)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .context("OTLP/HTTP server")
        });

        let zipkin_listener = match config.zipkin_addr {
            Some(addr) => match bind(addr, "Zipkin").await {
                Ok(listener) => Some(listener),
                // the default address is only a convenience: a Zipkin server already on it
                // must not keep meshscope from starting
                Err(e) if !config.zipkin_addr_configured => {
                    tracing::warn!(
                        error = %format!("{e:#}"),
                        "the Zipkin receiver is off: its default address is taken \
                         (--zipkin-addr moves it)"
                    );
                    None
                }
                Err(e) => {
                    return Err(e.context(
                        "starting the Zipkin receiver (--zipkin-addr moves it, \
                         --zipkin-addr off turns it off)",
                    ));
                }
            },
            None => None,
        };
        let zipkin_addr = match zipkin_listener {
            Some(listener) => {
                let bound = listener.local_addr()?;
                let zipkin = meshscope_ingest::zipkin::router(ingestor);
                let token = shutdown.clone();
                tasks.spawn(async move {
                    axum::serve(listener, zipkin)
                        .with_graceful_shutdown(token.cancelled_owned())
                        .await
                        .context("Zipkin server")
                });
                Some(bound)
            }
            None => None,
        };

        ready.store(true, Ordering::Release);
        tracing::info!(
            otlp_grpc = %otlp_grpc_addr,
            otlp_http = %otlp_http_addr,
            http = %http_addr,
            zipkin = %zipkin_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            "meshscope listening"
        );
        Ok(Self {
            otlp_grpc_addr,
            otlp_http_addr,
            http_addr,
            zipkin_addr,
            storage,
            shutdown,
            tasks,
        })
    }

    /// Stops accepting, lets in-flight requests finish, flushes the head and closes the WAL.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "task ended with an error"),
                Err(e) => tracing::warn!(error = %e, "task panicked or was cancelled"),
            }
        }
        self.storage
            .shutdown()
            .await
            .context("flushing storage on shutdown")?;
        tracing::info!("meshscope stopped");
        Ok(())
    }

    /// Resolves when a server task ends on its own (an error: they run until shutdown).
    pub async fn wait_for_failure(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(anyhow::anyhow!("server task failed: {e}")),
        }
    }
}
