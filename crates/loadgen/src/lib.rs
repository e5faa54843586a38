//! meshscope-loadgen: a deterministic service-mesh OTLP trace generator and load client.
//!
//! **Owns**: simulating the traffic of a Kubernetes service mesh as OpenTelemetry spans
//! (topology, trace shapes, attributes, latencies, errors, ids), encoding it as OTLP
//! export requests (protobuf and OTLP/JSON, optionally gzipped; or, for Zipkin receivers, as
//! Zipkin v2 JSON), offering it to an OTLP endpoint over gRPC or HTTP at a chosen rate and concurrency with OTLP retry semantics,
//! capturing request bodies to disk and replaying them, and reporting what happened.
//!
//! **Must not know**: anything of meshscope itself. It depends on no other meshscope crate
//! (a test below checks its manifest) and speaks only public wire protocols (OTLP, and Zipkin
//! v2 JSON), so it works against any OTLP receiver and can benchmark meshscope without sharing its code or its
//! bugs. Nothing here knows storage layouts, query APIs or server internals.
//!
//! # Data flow
//!
//! [`Topology`] (services, pods, databases, topics; a function of `--services`) →
//! trace templates (walked once per seed, every span pre-encoded in three outcome
//! variants) → [`Generator`] (instances templates with fresh ids, times and errors;
//! spans appended into per resource×scope buffers, then assembled into one
//! `ExportTraceServiceRequest`) → [`BodyBuilder`] (gRPC framing, gzip) → the generator
//! thread (pacing, `--write-payloads`) → bounded channel → `--concurrency` async senders
//! ([`Transport`]: retries, partial success) → [`Stats`] → [`Report`].
//!
//! [`run`] drives a whole run from a [`RunConfig`]; [`Args`] is the clap front end of the
//! binary. A benchmark harness can call [`run`] directly, or use [`Generator`] alone to
//! produce bodies.
//!
//! # The simulated mesh
//!
//! `--services N` (default 12, 4..=200) gives one Istio ingress gateway, `max(1, N/6)`
//! Kafka workers, `max(1, (N-1-workers)/4)` HTTP frontends and the rest backends (gRPC
//! for even indices, HTTP for odd). Calls only go from the gateway to frontends, from
//! frontends to backends and from a backend to backends after it, so the graph is a DAG
//! up to five service hops deep; workers are reached only through Kafka. The default
//! mesh, as printed by `meshscope-loadgen --print-topology`:
//!
//! ```text
//! istio-ingressgateway   gateway   istio-system api=-    go     semconv=old sidecar=false pods=2 calls=[frontend,mobile-bff]
//! frontend               frontend  web      api=http nodejs semconv=new sidecar=true  pods=2 calls=[catalog,checkout,shipping,inventory] db=[redis:session-cache-redis-master.data.svc.cluster.local]
//! mobile-bff             frontend  web      api=http java   semconv=old sidecar=true  pods=3 calls=[catalog,cart,payment,user]
//! catalog                backend   shop     api=grpc python semconv=new sidecar=true  pods=1 calls=[cart,checkout] db=[postgresql:catalog-postgresql.data.svc.cluster.local]
//! cart                   backend   shop     api=http nodejs semconv=old sidecar=true  pods=2 db=[redis:cart-redis.data.svc.cluster.local]
//! checkout               backend   shop     api=grpc dotnet semconv=new sidecar=true  pods=3 calls=[payment] db=[mongodb:checkout-mongodb.data.svc.cluster.local] produces=[orders]
//! payment                backend   payments api=http rust   semconv=new sidecar=true  pods=1 calls=[user] db=[mysql:payment-mysql.data.svc.cluster.local]
//! shipping               backend   shop     api=grpc go     semconv=old sidecar=false pods=2 calls=[user] db=[postgresql:shipping-postgresql.data.svc.cluster.local]
//! user                   backend   shop     api=http java   semconv=new sidecar=true  pods=3 db=[redis:user-redis.data.svc.cluster.local] produces=[notifications]
//! inventory              backend   shop     api=grpc python semconv=new sidecar=true  pods=1 db=[mongodb:inventory-mongodb.data.svc.cluster.local]
//! order-worker           worker    jobs     api=-    java   semconv=old sidecar=true  pods=1 calls=[inventory] db=[postgresql:order-worker-postgresql.data.svc.cluster.local] consumes=orders
//! email-worker           worker    jobs     api=-    python semconv=new sidecar=true  pods=2 calls=[user] consumes=notifications
//! ```
//!
//! # What a trace looks like
//!
//! A request enters at the gateway and fans out (each callee called with probability
//! 0.75 at depth 1, 0.55, 0.35, 0.2 deeper; 30 % of multi-call handlers call in
//! parallel). Per call from service A to service B:
//!
//! - A's app CLIENT span (HTTP: `http.request.method`, `url.full`, `server.address`,
//!   `server.port`, `http.response.status_code` — or `http.method`, `http.url`,
//!   `net.peer.name`, `http.status_code` for old-convention services; gRPC: `rpc.system`,
//!   `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, sometimes `message` events);
//! - A's Istio sidecar outbound CLIENT span and B's sidecar inbound SERVER span, under the
//!   service name `<name>.<namespace>` with Envoy's string tags (`upstream_cluster`,
//!   `http.method`, `http.url`, `http.status_code`, `peer.address`, `node_id`,
//!   `component: proxy`, ...) — only for services with a sidecar;
//! - B's app SERVER span (`http.route`, `url.path`, ... or the gRPC attributes), then B's
//!   handler: sometimes an INTERNAL span (int, bool, double and string attributes, some
//!   with a `cache miss` event), database CLIENT spans (`db.system`, `db.name` /
//!   `db.namespace`, `db.statement` / `db.query.text`, `db.operation(.name)`,
//!   `server.address`), downstream calls, and Kafka PRODUCER spans
//!   (`messaging.system=kafka`, `messaging.destination.name`).
//!
//! The root is the ingress gateway's CLIENT span (the gateway emits CLIENT spans only;
//! one of its two pods reports `http.request.method` instead of `http.method`, as during
//! a rolling upgrade). A Kafka message starts a new trace in the consuming worker: a
//! CONSUMER root span linked (span link, flags 0x301) to the PRODUCER span, then the
//! worker's handler. Children always lie within their parent's time range; latencies are
//! log-normal per kind of work (Redis ~0.3 ms, SQL ~2.5 ms, network ~0.15 ms, ...) and
//! each trace instance is scaled by its own log-normal factor. Span flags carry the W3C
//! sampled bit and the OTLP is-remote bits (0x301 under a parent in another process).
//!
//! Errors: a trace carries an error with probability `--error-ratio` (default 0.02). One
//! span is the origin (a SERVER span → 503 / gRPC 14 UNAVAILABLE, a database or Kafka
//! span, or an INTERNAL span) and gets status ERROR with a message plus an `exception`
//! event (`exception.type`, `exception.message`, `exception.stacktrace` in the style of
//! the service's language); every ancestor gets status ERROR with 500 / gRPC 13, and the
//! client and proxy spans of the failing call mirror the origin's code.
//!
//! Resources: each application pod is one resource (`service.name`,
//! `service.namespace`, `service.version`, `service.instance.id`, `k8s.namespace.name`,
//! `k8s.pod.name`, `k8s.pod.uid`, `k8s.deployment.name`, `k8s.node.name`,
//! `k8s.cluster.name`, `host.name`, `container.name`, `deployment.environment.name`,
//! `telemetry.sdk.name/language/version`; new-convention services carry a schema URL),
//! with one scope per instrumentation (HTTP, gRPC, database, messaging, manual); each
//! sidecar and gateway pod is a scope-less resource of its own. A batch holds exactly
//! `--batch-spans` spans, grouped per resource and scope, so a trace's spans are spread
//! over several resources and sometimes over two consecutive batches.
//!
//! # Determinism
//!
//! Topology is a function of `--services`; templates, ids (16 random bytes per trace, 8
//! per span), latencies and errors are a function of `--seed` (rand's seeded `StdRng`).
//! With `--base-time SECONDS`, timestamps come from a virtual clock too (trace starts
//! spaced by exponential gaps of mean 1 ms, or matching `--rate`), so the same options
//! give byte-identical bodies; without it, each trace ends at the wall-clock time of its
//! batch so a backend's time partitions look live (ids and shapes stay seeded).
//!
//! # Cost
//!
//! Spans are memcpy'd from pre-encoded templates; per span only ids, times and length
//! prefixes are written, and per-group buffers are reused. Measured on the 2-core
//! development machine with other builds running (load average ~2), debug build
//! (dependencies at opt-level 1, this crate at 0; no release build was made):
//! `meshscope-loadgen --dry-run --spans 1000000` reported 0.90–1.28 M spans/s of
//! generation + protobuf encoding on one core ("generator ... spans/s while busy"),
//! 1.3–1.9 s wall for the whole command including ~0.5 s to build the template pool;
//! spans average ~545 bytes. `--protocol http-json` gave 0.41 M spans/s (~1.07 KB/span);
//! gzip (level 1, ~6× smaller bodies) dominates when enabled: 0.16–0.19 M spans/s for
//! protobuf and 0.11 M for JSON in the same debug build.
//!
//! # Report
//!
//! A human summary goes to stderr at the end (and a line every `--progress-interval`
//! with `--progress`). `--report-json FILE` writes, with these stable keys:
//! `schema` (`"meshscope-loadgen-report/v1"`), `mode` (`generate`, `dry-run`, `replay`),
//! `protocol`, `compression`, `endpoint`, `seed`, `batch_spans`, `concurrency`,
//! `rate_limit_spans_per_second`, `elapsed_seconds`, `spans_generated` (for a replay: read
//! from files), `spans_sent` (spans in batches handed to the transport, counted once),
//! `spans_acked` (accepted minus partial-success rejections), `spans_rejected` and
//! `rejected_by_reason` (`partial_success`, `http_<status>`, `grpc_<code>`),
//! `spans_failed` and `failed_by_reason` (retries exhausted, `interrupted`), `requests`
//! (attempts, retries included), `requests_retried`, `bytes_sent` (bodies of answered
//! attempts), `bytes_generated`, `payloads_written`, `acked_spans_per_second`,
//! `generation_seconds`, `generation_spans_per_second`, and `latency_ms` {`p50`, `p99`,
//! `max`} over answered attempts. The binary exits with status 1 when any span failed.
//!
//! # Payload files
//!
//! [`BodyBuilder`] and [`Manifest`]: `--write-payloads DIR` stores each request
//! body as `DIR/000001.bin`, ... exactly as sent (for gRPC, the 5-byte length-prefixed
//! message) plus `DIR/manifest.json`; `--replay DIR` sends them unchanged.

mod cli;
mod error;
mod generator;
pub mod json;
mod payload;
mod run;
mod stats;
mod template;
mod topology;
mod transport;
pub mod zipkin;

pub use cli::{Args, parse_duration};
pub use error::{Error, Result};
pub use generator::{BatchInfo, Encoding, Generator, GeneratorConfig, TimeBase};
pub use payload::{
    BodyBuilder, Compression, MANIFEST, Manifest, Protocol, count_spans, list_payload_files,
    payload_file_name,
};
pub use run::{Limit, RunConfig, run, run_with_stop};
pub use stats::{Report, RunInfo, Stats};
pub use topology::{
    Api, Database, DbSystem, Language, MAX_SERVICES, MIN_SERVICES, Pod, Semconv, Service, Tier,
    Topic, Topology,
};
pub use transport::{Outcome, Transport};

#[cfg(test)]
mod tests {
    /// The load generator stays a standalone OTLP client: no meshscope crate below it.
    #[test]
    fn depends_on_no_other_meshscope_crate() {
        let manifest = include_str!("../Cargo.toml");
        let mut in_deps = false;
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line.contains("dependencies");
                continue;
            }
            if in_deps {
                assert!(
                    !line.starts_with("meshscope"),
                    "meshscope-loadgen must not depend on {line}"
                );
            }
        }
    }

    #[test]
    fn the_documented_topology_is_the_real_one() {
        let doc = include_str!("lib.rs");
        for line in crate::Topology::new(12).to_string().lines() {
            assert!(
                doc.contains(&format!("//! {line}")),
                "crate docs out of date for: {line}"
            );
        }
    }
}
