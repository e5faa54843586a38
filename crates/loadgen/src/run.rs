//! A load run: one generator thread feeding `concurrency` async senders.
//!
//! The generator (or the replay reader) runs on its own OS thread, so generation never
//! stalls the tokio runtime; it paces itself to `--rate`, writes payload files, and hands
//! finished bodies to the senders over a bounded channel (capacity = `concurrency`),
//! which is where backpressure from a slow server reaches the generator. Each sender
//! retries its batch per [`crate::transport`]'s classification before taking the next.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Mutex, mpsc};

use crate::error::{Error, Result};
use crate::generator::{Generator, GeneratorConfig, TimeBase};
use crate::payload::{self, BodyBuilder, Compression, Manifest, Protocol};
use crate::stats::{Report, RunInfo, Stats};
use crate::transport::{Outcome, Transport};

/// When a generating run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// After exactly this many spans.
    Spans(u64),
    /// After this much wall time (in-flight batches still finish).
    Duration(Duration),
}

/// Everything a run needs. [`crate::Args`] builds one from the command line.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub endpoint: String,
    pub protocol: Protocol,
    pub compression: Compression,
    /// Extra HTTP headers / gRPC metadata.
    pub headers: Vec<(String, String)>,
    pub batch_spans: usize,
    pub concurrency: usize,
    /// Spans per second, 0 = unlimited.
    pub rate: f64,
    pub limit: Limit,
    pub generator: GeneratorConfig,
    pub max_retries: u32,
    pub timeout: Duration,
    pub write_payloads: Option<PathBuf>,
    /// Generate (and write) only, send nothing.
    pub dry_run: bool,
    /// Send the payload files of this directory instead of generating.
    pub replay: Option<PathBuf>,
    /// Print a progress line this often.
    pub progress: Option<Duration>,
}

impl RunConfig {
    /// A config with the CLI defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        RunConfig {
            endpoint: protocol.default_endpoint().to_string(),
            protocol,
            compression: Compression::None,
            headers: vec![],
            batch_spans: 1000,
            concurrency: 4,
            rate: 0.0,
            limit: Limit::Spans(100_000),
            generator: GeneratorConfig::default(),
            max_retries: 10,
            timeout: Duration::from_secs(10),
            write_payloads: None,
            dry_run: false,
            replay: None,
            progress: None,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.batch_spans == 0 {
            return bad("batch size must be at least 1 span");
        }
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return bad("rate must be a finite number ≥ 0");
        }
        if !(0.0..=1.0).contains(&self.generator.error_ratio) {
            return bad("error ratio must be within [0, 1]");
        }
        if self.generator.templates == 0 {
            return bad("need at least one trace template");
        }
        if self.replay.is_some() && (self.dry_run || self.write_payloads.is_some()) {
            return bad(
                "--replay sends files; it cannot be combined with --dry-run or --write-payloads",
            );
        }
        if self.dry_run && self.replay.is_none() && self.write_payloads.is_none() {
            tracing::info!("dry run without --write-payloads: generating and encoding only");
        }
        Ok(())
    }

    /// What the report says about this run.
    pub fn run_info(&self) -> RunInfo {
        RunInfo {
            mode: if self.replay.is_some() {
                "replay"
            } else if self.dry_run {
                "dry-run"
            } else {
                "generate"
            },
            protocol: self.protocol.as_str().into(),
            compression: self.compression.as_str().into(),
            endpoint: if self.dry_run {
                String::new()
            } else {
                self.endpoint.clone()
            },
            seed: if self.replay.is_some() {
                None
            } else {
                Some(self.generator.seed)
            },
            batch_spans: self.batch_spans,
            concurrency: self.concurrency,
            rate: self.rate,
        }
    }
}

struct Batch {
    body: Bytes,
    spans: u64,
}

/// Runs until the limit is reached, the replay files are sent, or `stop` is set.
pub async fn run(cfg: RunConfig) -> Result<Report> {
    run_with_stop(cfg, Arc::new(AtomicBool::new(false))).await
}

/// Like [`run`]; setting `stop` ends generation early (in-flight batches still finish,
/// pending retries give up and count as failed with reason `interrupted`).
pub async fn run_with_stop(cfg: RunConfig, stop: Arc<AtomicBool>) -> Result<Report> {
    cfg.validate()?;
    let stats = Arc::new(Stats::default());
    let started = Instant::now();

    // Work out the source before spawning anything, so bad input fails fast.
    let source = match &cfg.replay {
        Some(dir) => Source::Replay(replay_files(dir, cfg.protocol, cfg.compression)?),
        None => {
            if let Some(dir) = &cfg.write_payloads {
                prepare_payload_dir(dir)?;
            }
            let mut generator = Generator::new(cfg.generator.clone());
            if cfg.rate > 0.0 && matches!(cfg.generator.time_base, TimeBase::Fixed { .. }) {
                // Space the virtual clock like the real send rate.
                generator.set_mean_trace_gap_nanos(
                    (generator.mean_spans_per_template() / cfg.rate * 1e9) as u64,
                );
            }
            Source::Generate(Box::new(generator))
        }
    };

    let transport = if cfg.dry_run {
        None
    } else {
        Some(Arc::new(Transport::new(
            cfg.protocol,
            &cfg.endpoint,
            cfg.compression,
            &cfg.headers,
            cfg.timeout,
        )?))
    };

    let (tx, rx) = mpsc::channel::<Batch>(cfg.concurrency);
    let rx = Arc::new(Mutex::new(rx));

    let producer = {
        let cfg = cfg.clone();
        let stats = stats.clone();
        let stop = stop.clone();
        let tx = if transport.is_some() { Some(tx) } else { None };
        std::thread::Builder::new()
            .name("loadgen-generator".into())
            .spawn(move || produce(&cfg, source, tx, &stats, &stop))
            .map_err(|e| Error::Config(format!("cannot start generator thread: {e}")))?
    };

    let mut workers = vec![];
    if let Some(transport) = &transport {
        for w in 0..cfg.concurrency {
            let transport = transport.clone();
            let rx = rx.clone();
            let stats = stats.clone();
            let stop = stop.clone();
            let max_retries = cfg.max_retries;
            let seed = cfg.generator.seed.wrapping_add(w as u64);
            workers.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                loop {
                    let batch = rx.lock().await.recv().await;
                    let Some(batch) = batch else { break };
                    send_batch(&transport, batch, &stats, max_retries, &stop, &mut rng).await;
                }
            }));
        }
    }

    let progress = cfg.progress.map(|every| {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", stats.snapshot(started.elapsed()).progress_line());
            }
        })
    });

    let produced = tokio::task::spawn_blocking(move || producer.join())
        .await
        .map_err(|e| Error::Config(format!("generator task failed: {e}")))?
        .map_err(|_| Error::Config("generator thread panicked".into()))?;
    for w in workers {
        if let Err(e) = w.await {
            tracing::error!(error = %e, "sender task failed");
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    let manifest = produced?;
    if let (Some(dir), Some(m)) = (&cfg.write_payloads, manifest) {
        m.write(dir)?;
    }
    Ok(stats.snapshot(started.elapsed()))
}

enum Source {
    Generate(Box<Generator>),
    Replay(Vec<(PathBuf, Option<u64>)>),
}

fn prepare_payload_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if dir.join(payload::MANIFEST).exists() || !payload::list_payload_files(dir)?.is_empty() {
        return Err(Error::Config(format!(
            "{} already holds payloads; use an empty directory",
            dir.display()
        )));
    }
    Ok(())
}

/// The files to replay with their span counts (from the manifest, else counted later).
fn replay_files(
    dir: &Path,
    protocol: Protocol,
    compression: Compression,
) -> Result<Vec<(PathBuf, Option<u64>)>> {
    match Manifest::read(dir)? {
        Some(m) => {
            if m.protocol != protocol || m.compression != compression {
                return Err(Error::Config(format!(
                    "{} holds {} {} payloads, not {} {}",
                    dir.display(),
                    m.protocol,
                    m.compression,
                    protocol,
                    compression
                )));
            }
            Ok(m.files
                .into_iter()
                .map(|(name, spans)| (dir.join(name), Some(spans)))
                .collect())
        }
        None => Ok(payload::list_payload_files(dir)?
            .into_iter()
            .map(|p| (p, None))
            .collect()),
    }
}

/// Sleeps until `spans_so_far` is due at `rate`, in slices so `stop` and `deadline` are
/// honoured. Returns false if the run should end instead.
fn pace(
    rate: f64,
    started: Instant,
    spans_so_far: u64,
    deadline: Option<Instant>,
    stop: &AtomicBool,
) -> bool {
    if rate <= 0.0 {
        return true;
    }
    let due = started + Duration::from_secs_f64(spans_so_far as f64 / rate);
    loop {
        if stop.load(Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(Duration::from_millis(50)));
    }
}

/// The generator thread. Returns the manifest of written payloads, if any.
fn produce(
    cfg: &RunConfig,
    source: Source,
    tx: Option<mpsc::Sender<Batch>>,
    stats: &Stats,
    stop: &AtomicBool,
) -> Result<Option<Manifest>> {
    let started = Instant::now();
    let deadline = match cfg.limit {
        Limit::Duration(d) if cfg.replay.is_none() => Some(started + d),
        _ => None,
    };
    let mut offered = 0u64;
    match source {
        Source::Replay(files) => {
            for (path, spans) in files {
                if !pace(cfg.rate, started, offered, None, stop) {
                    break;
                }
                let body = std::fs::read(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let spans = match spans {
                    Some(n) => n,
                    None => payload::count_spans(cfg.protocol, cfg.compression, &body)
                        .map_err(|e| Error::Payload(format!("{}: {e}", path.display())))?,
                };
                offered += spans;
                stats.spans_generated.fetch_add(spans, Relaxed);
                stats.bytes_generated.fetch_add(body.len() as u64, Relaxed);
                let Some(tx) = &tx else { break };
                if tx
                    .blocking_send(Batch {
                        body: Bytes::from(body),
                        spans,
                    })
                    .is_err()
                {
                    break;
                }
            }
            Ok(None)
        }
        Source::Generate(mut generator) => {
            let mut builder = BodyBuilder::new(cfg.protocol, cfg.compression);
            let mut manifest = cfg.write_payloads.as_ref().map(|_| Manifest {
                protocol: cfg.protocol,
                compression: cfg.compression,
                seed: Some(cfg.generator.seed),
                files: vec![],
            });
            let mut body = Vec::new();
            let mut seq = 0u64;
            loop {
                let want = match cfg.limit {
                    Limit::Spans(total) => (total - offered).min(cfg.batch_spans as u64),
                    Limit::Duration(_) => cfg.batch_spans as u64,
                };
                if want == 0 || stop.load(Relaxed) || deadline.is_some_and(|d| Instant::now() >= d)
                {
                    break;
                }
                if !pace(cfg.rate, started, offered, deadline, stop) {
                    break;
                }
                let t0 = Instant::now();
                let info = builder.build(&mut generator, want as usize, &mut body);
                stats
                    .generation_nanos
                    .fetch_add(t0.elapsed().as_nanos() as u64, Relaxed);
                let spans = info.spans as u64;
                offered += spans;
                stats.spans_generated.fetch_add(spans, Relaxed);
                stats.bytes_generated.fetch_add(body.len() as u64, Relaxed);
                seq += 1;
                if let (Some(dir), Some(m)) = (&cfg.write_payloads, manifest.as_mut()) {
                    let name = payload::payload_file_name(seq);
                    let path = dir.join(&name);
                    std::fs::write(&path, &body).map_err(|source| Error::Io { path, source })?;
                    stats.payloads_written.fetch_add(1, Relaxed);
                    m.files.push((name, spans));
                }
                if let Some(tx) = &tx {
                    let next_cap = body.len() + body.len() / 8;
                    let out = std::mem::replace(&mut body, Vec::with_capacity(next_cap));
                    if tx
                        .blocking_send(Batch {
                            body: Bytes::from(out),
                            spans,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            }
            Ok(manifest)
        }
    }
}

/// Delay before retry `attempt` (1-based) without server guidance: exponential from
/// 100 ms, capped at 5 s, with "equal jitter" (half fixed, half random).
pub(crate) fn backoff(attempt: u32, rng: &mut StdRng) -> Duration {
    let base = 100u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(5_000);
    let half = base / 2;
    Duration::from_millis(half + rng.random_range(0..=half))
}

/// Longest server-requested delay honoured (longer ones are capped).
const MAX_SERVER_DELAY: Duration = Duration::from_secs(30);

async fn send_batch(
    transport: &Transport,
    batch: Batch,
    stats: &Stats,
    max_retries: u32,
    stop: &AtomicBool,
    rng: &mut StdRng,
) {
    stats.spans_sent.fetch_add(batch.spans, Relaxed);
    let mut attempt = 0u32;
    loop {
        stats.requests.fetch_add(1, Relaxed);
        let t0 = Instant::now();
        let outcome = transport.send(batch.body.clone()).await;
        // Bytes and latency count requests the server answered, not failed connects.
        if outcome.answered() {
            stats.bytes_sent.fetch_add(batch.body.len() as u64, Relaxed);
            stats.latency(t0.elapsed());
        }
        match outcome {
            Outcome::Accepted {
                rejected_spans,
                message,
            } => {
                let rejected = rejected_spans.min(batch.spans);
                if rejected > 0 {
                    tracing::debug!(rejected, %message, "partial success");
                }
                stats.spans_acked.fetch_add(batch.spans - rejected, Relaxed);
                stats.reject("partial_success", rejected);
                return;
            }
            Outcome::Rejected { reason, message } => {
                tracing::warn!(%reason, %message, spans = batch.spans, "batch rejected");
                stats.reject(&reason, batch.spans);
                return;
            }
            Outcome::Retryable {
                reason,
                delay,
                message,
            } => {
                if attempt >= max_retries {
                    tracing::warn!(%reason, %message, attempts = attempt + 1, "giving up on batch");
                    stats.fail(&reason, batch.spans);
                    return;
                }
                if stop.load(Relaxed) {
                    stats.fail("interrupted", batch.spans);
                    return;
                }
                attempt += 1;
                let wait = delay.map_or_else(|| backoff(attempt, rng), |d| d.min(MAX_SERVER_DELAY));
                tracing::debug!(%reason, %message, attempt, wait_ms = wait.as_millis() as u64, "retrying batch");
                stats.requests_retried.fetch_add(1, Relaxed);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use http_body_util::BodyExt as _;
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use prost::Message as _;

    use super::*;
    use crate::generator::{GeneratorConfig, TimeBase};
    use crate::transport::{ProtoAny, ProtoDuration, RETRY_INFO_TYPE, RetryInfo, RpcStatus};

    /// Serves `router` on 127.0.0.1, port chosen by the OS; returns `http://addr`.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    fn config(protocol: Protocol, endpoint: &str, spans: u64) -> RunConfig {
        let mut c = RunConfig::new(protocol);
        c.endpoint = endpoint.to_string();
        c.limit = Limit::Spans(spans);
        c.concurrency = 1;
        c.timeout = Duration::from_secs(10);
        c.generator = GeneratorConfig {
            seed: 9,
            templates: 8,
            time_base: TimeBase::Fixed {
                unix_nanos: 1_750_000_000_000_000_000,
            },
            ..GeneratorConfig::default()
        };
        c
    }

    /// Decodes an OTLP/HTTP protobuf body (gzip-aware) and counts its spans.
    fn spans_in(headers: &HeaderMap, body: &[u8]) -> u64 {
        let gz = headers.get("content-encoding").is_some_and(|v| v == "gzip");
        let plain = if gz {
            payload::gunzip(body).expect("gzip body")
        } else {
            body.to_vec()
        };
        let req = ExportTraceServiceRequest::decode(&plain[..]).expect("protobuf body");
        req.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum()
    }

    fn otlp_ok(resp: ExportTraceServiceResponse) -> Response {
        (
            StatusCode::OK,
            [("content-type", "application/x-protobuf")],
            resp.encode_to_vec(),
        )
            .into_response()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_503_with_retry_after_is_retried_until_acked() {
        let calls = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let (c, r) = (calls.clone(), received.clone());
        let router = Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: bytes::Bytes| async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                assert_eq!(headers["x-tenant"], "acme");
                if c.fetch_add(1, SeqCst) < 2 {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "1")],
                        "busy",
                    )
                        .into_response();
                }
                r.fetch_add(spans_in(&headers, &body), SeqCst);
                otlp_ok(ExportTraceServiceResponse::default())
            }),
        );
        let endpoint = serve(router).await;
        let mut cfg = config(Protocol::HttpProto, &endpoint, 2000);
        cfg.headers = vec![("x-tenant".into(), "acme".into())];
        let started = Instant::now();
        let report = run(cfg).await.expect("run");
        assert_eq!(report.requests_retried, 2);
        assert_eq!(report.requests, 4);
        assert_eq!(report.spans_acked, 2000);
        assert_eq!(report.spans_sent, 2000);
        assert_eq!(report.spans_rejected, 0);
        assert_eq!(report.spans_failed, 0);
        assert_eq!(received.load(SeqCst), 2000);
        // Retry-After: 1, twice.
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_400_rejects_the_batch_without_retrying() {
        // the handler reads the body, as a real receiver does: a response sent before the body
        // is read may close the connection, and the client would retry the next request
        let router = Router::new().route(
            "/v1/traces",
            post(|_body: axum::body::Bytes| async {
                let st = RpcStatus {
                    code: 3,
                    message: "malformed span".into(),
                    details: vec![],
                };
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/x-protobuf")],
                    st.encode_to_vec(),
                )
            }),
        );
        let endpoint = serve(router).await;
        let report = run(config(Protocol::HttpProto, &endpoint, 1500))
            .await
            .expect("run");
        assert_eq!(report.spans_rejected, 1500);
        assert_eq!(report.rejected_by_reason.get("http_400"), Some(&1500));
        assert_eq!(report.spans_acked, 0);
        assert_eq!(report.requests_retried, 0);
        assert_eq!(report.requests, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_are_bounded_and_then_count_as_failed() {
        let router = Router::new().route("/v1/traces", post(|| async { StatusCode::BAD_GATEWAY }));
        let endpoint = serve(router).await;
        let mut cfg = config(Protocol::HttpProto, &endpoint, 10);
        cfg.max_retries = 2;
        let report = run(cfg).await.expect("run");
        assert_eq!(report.requests, 3);
        assert_eq!(report.requests_retried, 2);
        assert_eq!(report.spans_failed, 10);
        assert_eq!(report.failed_by_reason.get("http_502"), Some(&10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn json_partial_success_counts_rejected_spans() {
        let received = Arc::new(AtomicU64::new(0));
        let r = received.clone();
        let router = Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: bytes::Bytes| async move {
                assert_eq!(headers["content-type"], "application/json");
                assert_eq!(headers["content-encoding"], "gzip");
                let plain = payload::gunzip(&body).expect("gzip");
                let n = payload::count_spans(Protocol::HttpJson, Compression::None, &plain)
                    .expect("json body");
                r.fetch_add(n, SeqCst);
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"spans too old"}}"#,
                )
            }),
        );
        let endpoint = serve(router).await;
        let mut cfg = config(Protocol::HttpJson, &endpoint, 2500);
        cfg.compression = Compression::Gzip;
        cfg.concurrency = 2;
        let report = run(cfg).await.expect("run");
        assert_eq!(received.load(SeqCst), 2500);
        assert_eq!(report.requests, 3);
        assert_eq!(report.spans_rejected, 9);
        assert_eq!(report.rejected_by_reason.get("partial_success"), Some(&9));
        assert_eq!(report.spans_acked, 2500 - 9);
        assert!(report.bytes_sent > 0);
    }

    fn grpc_frame(msg: &[u8]) -> Vec<u8> {
        let mut f = vec![0];
        f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        f.extend_from_slice(msg);
        f
    }

    fn grpc_error(code: i32, message: &str, retry: Option<Duration>) -> Response {
        let mut resp = Response::new(Body::empty());
        let h = resp.headers_mut();
        h.insert("content-type", "application/grpc".parse().expect("header"));
        h.insert("grpc-status", code.to_string().parse().expect("header"));
        h.insert(
            "grpc-message",
            message.replace(' ', "%20").parse().expect("header"),
        );
        if let Some(d) = retry {
            let ri = RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: d.as_secs() as i64,
                    nanos: d.subsec_nanos() as i32,
                }),
            };
            let st = RpcStatus {
                code,
                message: message.into(),
                details: vec![ProtoAny {
                    type_url: RETRY_INFO_TYPE.into(),
                    value: ri.encode_to_vec(),
                }],
            };
            let mut b64 = vec![];
            crate::json::put_base64(&mut b64, &st.encode_to_vec());
            h.insert(
                "grpc-status-details-bin",
                String::from_utf8(b64)
                    .expect("ascii")
                    .parse()
                    .expect("header"),
            );
        }
        resp
    }

    fn grpc_ok(resp: ExportTraceServiceResponse) -> Response {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().expect("header"));
        let body = http_body_util::Full::new(bytes::Bytes::from(grpc_frame(&resp.encode_to_vec())))
            .with_trailers(async move { Some(Ok::<_, std::convert::Infallible>(trailers)) });
        let mut r = Response::new(Body::new(body));
        r.headers_mut()
            .insert("content-type", "application/grpc".parse().expect("header"));
        r
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_honours_retry_info_and_reads_partial_success() {
        let calls = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let (c, r) = (calls.clone(), received.clone());
        let router = Router::new().route(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            post(move |headers: HeaderMap, body: bytes::Bytes| async move {
                assert_eq!(headers["content-type"], "application/grpc");
                assert_eq!(headers["x-tenant"], "acme");
                assert_eq!(headers["grpc-encoding"], "gzip");
                if c.fetch_add(1, SeqCst) == 0 {
                    return grpc_error(8, "ingest queue full", Some(Duration::from_millis(300)));
                }
                let (compressed, msg) = payload::unframe(&body).expect("framed");
                assert!(compressed);
                let plain = payload::gunzip(msg).expect("gzip message");
                let req = ExportTraceServiceRequest::decode(&plain[..]).expect("protobuf");
                let n: u64 = req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len() as u64)
                    .sum();
                r.fetch_add(n, SeqCst);
                grpc_ok(ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans: 1,
                        error_message: "dup".into(),
                    }),
                })
            }),
        );
        let endpoint = serve(router).await;
        let mut cfg = config(Protocol::Grpc, &endpoint, 1200);
        cfg.compression = Compression::Gzip;
        cfg.headers = vec![("x-tenant".into(), "acme".into())];
        let started = Instant::now();
        let report = run(cfg).await.expect("run");
        assert_eq!(received.load(SeqCst), 1200);
        assert_eq!(report.requests_retried, 1);
        assert_eq!(report.requests, 3);
        assert_eq!(report.spans_acked, 1198);
        assert_eq!(report.rejected_by_reason.get("partial_success"), Some(&2));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "RetryInfo delay honoured"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_invalid_argument_is_rejected() {
        let router = Router::new().route(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            post(|| async { grpc_error(3, "bad span", None) }),
        );
        let endpoint = serve(router).await;
        let report = run(config(Protocol::Grpc, &endpoint, 100))
            .await
            .expect("run");
        assert_eq!(
            report.rejected_by_reason.get("grpc_invalid_argument"),
            Some(&100)
        );
        assert_eq!(report.requests_retried, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn written_payloads_are_reproducible_and_replay_byte_for_byte() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        for dir in [a.path(), b.path()] {
            let mut cfg = config(Protocol::HttpJson, "http://127.0.0.1:9", 2345);
            cfg.dry_run = true;
            cfg.write_payloads = Some(dir.to_path_buf());
            let report = run(cfg).await.expect("dry run");
            assert_eq!(report.payloads_written, 3);
            assert_eq!(report.spans_generated, 2345);
            assert_eq!(report.requests, 0);
        }
        let files = payload::list_payload_files(a.path()).expect("list");
        let names: Vec<String> = files
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, ["000001.bin", "000002.bin", "000003.bin"]);
        for f in &files {
            let other = b.path().join(f.file_name().expect("name"));
            assert_eq!(
                std::fs::read(f).expect("read"),
                std::fs::read(other).expect("read"),
                "same seed, same files"
            );
        }
        // Writing again into a directory with payloads is refused.
        let mut again = config(Protocol::HttpJson, "http://127.0.0.1:9", 10);
        again.dry_run = true;
        again.write_payloads = Some(a.path().to_path_buf());
        assert!(run(again).await.is_err());

        let seen = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let s = seen.clone();
        let router = Router::new().route(
            "/v1/traces",
            post(move |body: bytes::Bytes| async move {
                s.lock().expect("lock").push(body.to_vec());
                (StatusCode::OK, [("content-type", "application/json")], "{}")
            }),
        );
        let endpoint = serve(router).await;
        let mut cfg = config(Protocol::HttpJson, &endpoint, 0);
        cfg.replay = Some(a.path().to_path_buf());
        let report = run(cfg).await.expect("replay");
        assert_eq!(report.spans_acked, 2345);
        assert_eq!(report.requests, 3);
        let seen = seen.lock().expect("lock").clone();
        let expected: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(f).expect("read"))
            .collect();
        assert_eq!(
            seen, expected,
            "replay sends the files as they are, in order"
        );

        // A replay for another protocol than the files' is refused.
        let mut wrong = config(Protocol::Grpc, &endpoint, 0);
        wrong.replay = Some(a.path().to_path_buf());
        assert!(run(wrong).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_and_duration_limits_bound_a_dry_run() {
        let mut cfg = config(Protocol::Grpc, "http://127.0.0.1:9", 4000);
        cfg.dry_run = true;
        cfg.rate = 20_000.0;
        let started = Instant::now();
        let report = run(cfg).await.expect("paced run");
        assert_eq!(report.spans_generated, 4000);
        // Batch k (0-based) is due at k * 1000 / 20000 s: the 4th at 150 ms.
        assert!(started.elapsed() >= Duration::from_millis(150));

        let mut cfg = config(Protocol::Grpc, "http://127.0.0.1:9", 0);
        cfg.dry_run = true;
        cfg.limit = Limit::Duration(Duration::from_millis(200));
        cfg.rate = 10_000.0;
        let report = run(cfg).await.expect("timed run");
        assert!(report.spans_generated > 0);
        assert!(report.spans_generated <= 3000, "{}", report.spans_generated);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut rng = StdRng::seed_from_u64(1);
        let first = backoff(1, &mut rng);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let late = backoff(30, &mut rng);
        assert!(late >= Duration::from_millis(2500) && late <= Duration::from_secs(5));
    }
}
