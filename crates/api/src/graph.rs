//! The service graph and RED endpoints: `GET /api/v1/dependencies`, `GET /api/v1/red`,
//! Jaeger's `GET /api/dependencies` and Jaeger's metrics API (`GET /api/metrics/calls`,
//! `/errors`, `/latencies`, `/minstep`: the Monitor tab of Jaeger UI). They read the
//! per-minute aggregates (and hourly rollups) of `meshscope-graph` through an
//! [`AggregateSource`], never raw spans.

use std::sync::Arc;

use arrow::array::RecordBatch;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use meshscope_graph::{
    Aggregates, GraphQuery, MINUTE_NS, Red, RedGroupBy, RedQuery, TimeRange, jaeger_dependencies,
    red_series, service_graph,
};
use meshscope_model::SpanKind;
use serde::Serialize;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::jaeger_model::Envelope;
use crate::native::time_range;
use crate::params::{Params, duration_param, now_ns, parse_duration_ns, parse_epoch_us_or_ms};

/// The window of a graph or RED question without `start` / `lookback`.
const DEFAULT_LOOKBACK_NS: i64 = 3600 * 1_000_000_000;
/// Jaeger UI asks for a day of dependencies by default.
const JAEGER_DEFAULT_LOOKBACK_NS: i64 = 24 * 3600 * 1_000_000_000;

/// The aggregate rows of a time range, owned.
#[derive(Debug, Default, Clone)]
pub struct LoadedAggregates {
    pub span_metrics: Vec<RecordBatch>,
    pub service_edges: Vec<RecordBatch>,
    pub span_metrics_hourly: Vec<RecordBatch>,
    pub service_edges_hourly: Vec<RecordBatch>,
}

impl LoadedAggregates {
    pub fn as_aggregates(&self) -> Aggregates<'_> {
        Aggregates {
            span_metrics: &self.span_metrics,
            service_edges: &self.service_edges,
            span_metrics_hourly: &self.span_metrics_hourly,
            service_edges_hourly: &self.service_edges_hourly,
        }
    }
}

/// Where the graph endpoints read aggregates: every row that may lie in the range, each
/// exactly once (stored, being stored, or still open), so that a question about the last
/// minutes includes spans that arrived a moment ago.
#[async_trait::async_trait]
pub trait AggregateSource: Send + Sync {
    async fn load(&self, range: TimeRange) -> Result<LoadedAggregates, String>;
}

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/dependencies", get(dependencies))
        .route("/api/v1/red", get(red))
        .route("/api/dependencies", get(jaeger_deps))
        .route("/api/metrics/calls", get(jaeger_calls))
        .route("/api/metrics/errors", get(jaeger_errors))
        .route("/api/metrics/latencies", get(jaeger_latencies))
        .route("/api/metrics/minstep", get(jaeger_min_step))
}

impl From<meshscope_graph::Error> for ApiError {
    fn from(e: meshscope_graph::Error) -> Self {
        match e {
            meshscope_graph::Error::InvalidQuery(m) => ApiError::bad_request(m),
            other => {
                tracing::error!(error = %other, "aggregate query failed");
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    format!("aggregate query failed: {other}"),
                )
            }
        }
    }
}

/// `start` / `end` / `lookback` as a half-open range; the last hour up to now by default.
fn range(params: &Params) -> ApiResult<TimeRange> {
    let (start, end) = time_range(params)?;
    let end = end.unwrap_or_else(now_ns);
    let start = start.unwrap_or_else(|| end.saturating_sub(DEFAULT_LOOKBACK_NS));
    // `end` is inclusive in the API, the aggregates' ranges are half-open
    Ok(TimeRange::new(start, end)?)
}

async fn load(state: &ApiState, range: TimeRange) -> ApiResult<LoadedAggregates> {
    let source = Arc::clone(state.aggregates()?);
    let started = std::time::Instant::now();
    let loaded = source.load(range).await.map_err(|e| {
        tracing::error!(error = %e, "loading aggregates");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("loading aggregates: {e}"),
        )
    })?;
    metrics::histogram!("meshscope_query_seconds", "kind" => "aggregates_load")
        .record(started.elapsed().as_secs_f64());
    Ok(loaded)
}

/// RED figures; durations in milliseconds (`null` without calls).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RedJson {
    calls: u64,
    errors: u64,
    rate: f64,
    error_rate: f64,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl From<&Red> for RedJson {
    fn from(r: &Red) -> Self {
        let ms = |ns: Option<f64>| ns.map(|v| (v / 1e3).round() / 1e3);
        Self {
            calls: r.calls,
            errors: r.errors,
            rate: r.rate,
            error_rate: r.error_rate,
            p50_ms: ms(r.p50_ns),
            p95_ms: ms(r.p95_ns),
            p99_ms: ms(r.p99_ns),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeJson {
    name: String,
    #[serde(rename = "type")]
    node_type: &'static str,
    #[serde(flatten)]
    red: RedJson,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EdgeJson {
    parent: String,
    child: String,
    child_type: &'static str,
    unpaired: u64,
    #[serde(flatten)]
    red: RedJson,
}

#[derive(Debug, Serialize)]
struct GraphJson {
    start: String,
    end: String,
    nodes: Vec<NodeJson>,
    edges: Vec<EdgeJson>,
}

async fn dependencies(State(state): State<ApiState>, params: Params) -> ApiResult<Json<GraphJson>> {
    let range = range(&params)?;
    let depth = params.parse::<usize>("depth")?.unwrap_or(1);
    if depth == 0 || depth > 16 {
        return Err(ApiError::bad_request("'depth' must be between 1 and 16"));
    }
    let loaded = load(&state, range).await?;
    let service = params.get("service");
    let graph = service_graph(
        &loaded.as_aggregates(),
        &GraphQuery {
            range,
            service,
            depth,
        },
    )?;
    Ok(Json(GraphJson {
        start: range.start_ns.to_string(),
        end: range.end_ns.to_string(),
        nodes: graph
            .nodes
            .iter()
            .map(|n| NodeJson {
                name: n.name.clone(),
                node_type: n.node_type.as_str(),
                red: RedJson::from(&n.red),
            })
            .collect(),
        edges: graph
            .edges
            .iter()
            .map(|e| EdgeJson {
                parent: e.parent.clone(),
                child: e.child.clone(),
                child_type: e.child_type.as_str(),
                unpaired: e.unpaired,
                red: RedJson::from(&e.red),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PointJson {
    time: String,
    #[serde(flatten)]
    red: RedJson,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeriesJson {
    service: String,
    operation: Option<String>,
    kind: Option<&'static str>,
    points: Vec<PointJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RedSeriesJson {
    start: String,
    end: String,
    step_nanos: String,
    series: Vec<SeriesJson>,
}

/// The step of a RED series: `step` when given, else about 60 points over the range, rounded
/// up to whole minutes.
fn step_ns(params: &Params, range: TimeRange) -> ApiResult<i64> {
    match duration_param(params, "step")? {
        Some(step) if step < MINUTE_NS => Err(ApiError::bad_request(
            "'step' must be at least 1m: aggregates are per minute",
        )),
        Some(step) => Ok(step),
        None => {
            let span = range.end_ns.saturating_sub(range.start_ns);
            let minutes = (span / 60).div_euclid(MINUTE_NS).max(0) + 1;
            Ok(minutes.saturating_mul(MINUTE_NS))
        }
    }
}

async fn red(State(state): State<ApiState>, params: Params) -> ApiResult<Json<RedSeriesJson>> {
    let range = range(&params)?;
    let step_ns = step_ns(&params, range)?;
    let group_by = match params.get("groupBy") {
        None | Some("service") => RedGroupBy::Service,
        Some("operation") => RedGroupBy::Operation,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown groupBy {other:?}: use service or operation"
            )));
        }
    };
    let kind = params
        .get("kind")
        .map(|k| {
            SpanKind::parse(k).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown span kind {k:?}: use server, client, producer, consumer, internal or unspecified"
                ))
            })
        })
        .transpose()?;
    let loaded = load(&state, range).await?;
    let series = red_series(
        &loaded.as_aggregates(),
        &RedQuery {
            range,
            step_ns,
            service: params.get("service"),
            operation: params.get("operation"),
            kind,
            group_by,
            quantile: None,
        },
    )?;
    Ok(Json(RedSeriesJson {
        start: range.start_ns.to_string(),
        end: range.end_ns.to_string(),
        step_nanos: step_ns.to_string(),
        series: series
            .into_iter()
            .map(|s| SeriesJson {
                service: s.service,
                operation: s.operation,
                kind: s.kind.map(SpanKind::as_str),
                points: s
                    .points
                    .iter()
                    .map(|p| PointJson {
                        time: p.start_ns.to_string(),
                        red: RedJson::from(&p.red),
                    })
                    .collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JaegerDependency {
    parent: String,
    child: String,
    call_count: u64,
}

/// Jaeger's `GET /api/dependencies?endTs=&lookback=` (milliseconds; Jaeger UI and Grafana).
async fn jaeger_deps(State(state): State<ApiState>, params: Params) -> Response {
    let result = async {
        let range = jaeger_range(&params, JAEGER_DEFAULT_LOOKBACK_NS)?;
        let loaded = load(&state, range).await?;
        let deps: Vec<JaegerDependency> = jaeger_dependencies(&loaded.as_aggregates(), range)?
            .into_iter()
            .map(|d| JaegerDependency {
                parent: d.parent,
                child: d.child,
                call_count: d.call_count,
            })
            .collect();
        let total = deps.len();
        Ok::<_, ApiError>(Json(Envelope::new(deps, total)))
    }
    .await;
    result.map_err(ApiError::jaeger).into_response()
}

/// Jaeger's `endTs` (ms or µs since the epoch; now by default) and `lookback` (ms, or a
/// duration such as `1h`) as a range.
fn jaeger_range(params: &Params, default_lookback_ns: i64) -> ApiResult<TimeRange> {
    let end = match params.get("endTs") {
        Some(text) => parse_epoch_us_or_ms(text)
            .map_err(|e| ApiError::bad_request(format!("unable to parse param 'endTs': {e}")))?,
        None => now_ns(),
    };
    let lookback = match params.get("lookback") {
        Some(text) => match text.trim().parse::<i64>() {
            Ok(ms) => ms.saturating_mul(1_000_000),
            Err(_) => parse_duration_ns(text).map_err(|e| {
                ApiError::bad_request(format!("unable to parse param 'lookback': {e}"))
            })?,
        },
        None => default_lookback_ns,
    };
    if lookback <= 0 {
        return Err(ApiError::bad_request("'lookback' must be positive"));
    }
    Ok(TimeRange::new(end.saturating_sub(lookback), end)?)
}

/// One of the RED metrics of Jaeger's metrics API.
#[derive(Debug, Clone, Copy, PartialEq)]
enum JaegerMetric {
    Calls,
    Errors,
    Latencies,
}

async fn jaeger_calls(State(state): State<ApiState>, params: Params) -> Response {
    jaeger_metrics(state, params, JaegerMetric::Calls).await
}

async fn jaeger_errors(State(state): State<ApiState>, params: Params) -> Response {
    jaeger_metrics(state, params, JaegerMetric::Errors).await
}

async fn jaeger_latencies(State(state): State<ApiState>, params: Params) -> Response {
    jaeger_metrics(state, params, JaegerMetric::Latencies).await
}

/// `GET /api/metrics/minstep`: the finest step in milliseconds, a minute (the aggregates'
/// resolution).
async fn jaeger_min_step() -> Response {
    Json(Envelope::new(MINUTE_NS / 1_000_000, 0)).into_response()
}

/// A metric family as Jaeger's metrics API answers it (`jaeger.api_v2.metrics.MetricFamily`
/// in protobuf JSON).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MetricFamily {
    name: String,
    r#type: &'static str,
    help: String,
    metrics: Vec<Metric>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    labels: Vec<Label>,
    metric_points: Vec<MetricPoint>,
}

#[derive(Debug, Serialize)]
struct Label {
    name: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MetricPoint {
    gauge_value: GaugeValue,
    /// RFC 3339, UTC.
    timestamp: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GaugeValue {
    double_value: f64,
}

/// A positive whole number of milliseconds (Jaeger's durations and times), in nanoseconds.
fn jaeger_ms(params: &Params, name: &str, default_ms: i64) -> ApiResult<i64> {
    let ms = match params.get(name) {
        None => default_ms,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map_err(|e| ApiError::bad_request(format!("unable to parse param '{name}': {e}")))?,
    };
    if ms <= 0 {
        return Err(ApiError::bad_request(format!(
            "param '{name}' must be a positive number of milliseconds"
        )));
    }
    Ok(ms.saturating_mul(1_000_000))
}

/// Jaeger's metrics API over the RED aggregates: `service` (one or more), `groupByOperation`,
/// `spanKind` (one; `server` by default), `endTs` and `lookback` (1 h by default) as for
/// `/api/dependencies`, `step` in milliseconds (rounded up to whole minutes, the aggregates'
/// resolution), and `quantile`
/// for latencies. Rates are per second over each step (`ratePer` is checked and otherwise not
/// used); error rates and latencies have points only for steps with calls.
async fn jaeger_metrics(state: ApiState, params: Params, metric: JaegerMetric) -> Response {
    let result = async {
        let services: Vec<&str> = params.all("service").filter(|s| !s.is_empty()).collect();
        if services.is_empty() {
            return Err(ApiError::bad_request(
                "please provide at least one service name",
            ));
        }
        let group_by_operation = match params.get("groupByOperation") {
            None => false,
            Some(text) => text.trim().parse::<bool>().map_err(|e| {
                ApiError::bad_request(format!("unable to parse param 'groupByOperation': {e}"))
            })?,
        };
        let kinds: Vec<&str> = params.all("spanKind").collect();
        let kind = match kinds.as_slice() {
            [] => SpanKind::Server,
            [k] => SpanKind::parse(k).ok_or_else(|| {
                ApiError::bad_request(format!("unsupported span kind: {k:?}"))
            })?,
            _ => {
                return Err(ApiError::bad_request(
                    "one spanKind at a time: RED is counted per span kind",
                ));
            }
        };
        let step = jaeger_ms(&params, "step", 60_000)?;
        // whole minutes (positive, so the division rounds up)
        let step_ns = ((step - 1) / MINUTE_NS + 1).saturating_mul(MINUTE_NS);
        jaeger_ms(&params, "ratePer", 600_000)?;
        let quantile = match metric {
            JaegerMetric::Latencies => {
                let text = params.get("quantile").ok_or_else(|| {
                    ApiError::bad_request("please provide a quantile between 0 and 1")
                })?;
                Some(text.trim().parse::<f64>().map_err(|e| {
                    ApiError::bad_request(format!("unable to parse param 'quantile': {e}"))
                })?)
            }
            _ => None,
        };
        let range = jaeger_range(&params, DEFAULT_LOOKBACK_NS)?;
        let loaded = load(&state, range).await?;
        let aggregates = loaded.as_aggregates();
        let mut metrics = Vec::new();
        for service in services {
            let series = red_series(
                &aggregates,
                &RedQuery {
                    range,
                    step_ns,
                    service: Some(service),
                    operation: None,
                    kind: Some(kind),
                    group_by: if group_by_operation {
                        RedGroupBy::Operation
                    } else {
                        RedGroupBy::Service
                    },
                    quantile,
                },
            )?;
            for s in series {
                let mut labels = vec![Label {
                    name: "service_name",
                    value: s.service,
                }];
                if let Some(operation) = s.operation {
                    labels.push(Label {
                        name: "operation",
                        value: operation,
                    });
                }
                let metric_points = s
                    .points
                    .iter()
                    .filter_map(|p| {
                        let value = match metric {
                            JaegerMetric::Calls => Some(p.red.rate),
                            JaegerMetric::Errors => (p.red.calls > 0).then_some(p.red.error_rate),
                            JaegerMetric::Latencies => p.quantile_ns.map(|ns| ns / 1e6),
                        }?;
                        Some(MetricPoint {
                            gauge_value: GaugeValue {
                                double_value: value,
                            },
                            timestamp: rfc3339(p.start_ns),
                        })
                    })
                    .collect();
                metrics.push(Metric {
                    labels,
                    metric_points,
                });
            }
        }
        let grouping = if group_by_operation {
            "service_operation"
        } else {
            "service"
        };
        let by = if group_by_operation {
            "service & operation"
        } else {
            "service"
        };
        let (name, help) = match metric {
            JaegerMetric::Calls => (
                format!("{grouping}_call_rate"),
                format!("calls/sec, grouped by {by}"),
            ),
            JaegerMetric::Errors => (
                format!("{grouping}_error_rate"),
                format!("error rate, computed as a fraction of errors/sec over calls/sec, grouped by {by}"),
            ),
            JaegerMetric::Latencies => (
                format!("{grouping}_latencies"),
                format!(
                    "{}th quantile latency, grouped by {by}",
                    quantile.unwrap_or_default() * 100.0
                ),
            ),
        };
        Ok::<_, ApiError>(Json(MetricFamily {
            name,
            r#type: "GAUGE",
            help,
            metrics,
        }))
    }
    .await;
    result.map_err(ApiError::jaeger).into_response()
}

/// Nanoseconds since the epoch as RFC 3339 in UTC, to the second.
fn rfc3339(ns: i64) -> String {
    arrow::temporal_conversions::timestamp_ns_to_datetime(ns)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
