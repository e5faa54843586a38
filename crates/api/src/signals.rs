//! Metrics and logs on the native API: `GET /api/v1/metrics/rate` (a counter's rate over a
//! window, resets handled), `GET /api/v1/metrics/quantile` (a quantile from histogram buckets
//! over a window), and the OTLP/JSON `resourceLogs` that `GET /api/v1/traces/{id}?logs=true`
//! adds beside `resourceSpans`.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use meshscope_query::{LogRecord, MetricQuantile, MetricRate, MetricSelector, SpanRecord};
use serde::Serialize;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::native::time_range;
use crate::otlp_json::{KeyValue, Resource, TracesData, any_value, key_values, traces_data};
use crate::params::{Params, now_ns};

/// The window when a request gives neither `start` nor `lookback`: the last hour.
const DEFAULT_LOOKBACK_NS: i64 = 3600 * 1_000_000_000;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/metrics/rate", get(rate))
        .route("/api/v1/metrics/quantile", get(quantile))
}

/// `metric` (required), `service`, `attr=key=value` (repeatable, point attributes by display
/// form), and the window: `start`/`end` (RFC 3339 or ns) or `lookback` (default 1h before
/// `end` or now).
fn selector(params: &Params) -> ApiResult<MetricSelector> {
    let metric = params
        .get("metric")
        .ok_or_else(|| ApiError::bad_request("the 'metric' parameter is required"))?
        .to_owned();
    let (start, end) = time_range(params)?;
    let end_ns = end.unwrap_or_else(now_ns);
    let start_ns = start.unwrap_or_else(|| end_ns.saturating_sub(DEFAULT_LOOKBACK_NS));
    let attributes = params
        .all("attr")
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("invalid attr {a:?}: expected key=value"))
                })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(MetricSelector {
        metric,
        service: params.get("service").map(str::to_owned),
        attributes,
        start_ns,
        end_ns,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeriesRateJson {
    series_id: String,
    service_name: String,
    attributes: BTreeMap<String, String>,
    temporality: String,
    points: usize,
    resets: usize,
    increase: f64,
    rate: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RateJson {
    metric: String,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    window_seconds: f64,
    increase: f64,
    /// Per second.
    rate: f64,
    series: Vec<SeriesRateJson>,
}

impl From<MetricRate> for RateJson {
    fn from(r: MetricRate) -> Self {
        Self {
            metric: r.metric,
            start_time_unix_nano: r.start_ns.to_string(),
            end_time_unix_nano: r.end_ns.to_string(),
            window_seconds: (r.end_ns - r.start_ns) as f64 / 1e9,
            increase: r.increase,
            rate: r.rate,
            series: r
                .series
                .into_iter()
                .map(|s| SeriesRateJson {
                    series_id: s.series_id,
                    service_name: s.service_name,
                    attributes: s.attributes,
                    temporality: s.temporality,
                    points: s.points,
                    resets: s.resets,
                    increase: s.increase,
                    rate: s.rate,
                })
                .collect(),
        }
    }
}

async fn rate(State(state): State<ApiState>, params: Params) -> ApiResult<Json<RateJson>> {
    let selector = selector(&params)?;
    Ok(Json(state.engine()?.metric_rate(selector).await?.into()))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct QuantileJson {
    metric: String,
    quantile: f64,
    /// `null` when no observation falls in the window.
    value: Option<f64>,
    count: u64,
    series: usize,
    kind: &'static str,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
}

impl From<MetricQuantile> for QuantileJson {
    fn from(q: MetricQuantile) -> Self {
        Self {
            metric: q.metric,
            quantile: q.quantile,
            value: q.value.filter(|v| v.is_finite()),
            count: q.count,
            series: q.series,
            kind: q.kind,
            start_time_unix_nano: q.start_ns.to_string(),
            end_time_unix_nano: q.end_ns.to_string(),
        }
    }
}

/// `q` (default 0.5) as a fraction, e.g. `0.99`.
async fn quantile(State(state): State<ApiState>, params: Params) -> ApiResult<Json<QuantileJson>> {
    let selector = selector(&params)?;
    let q = params.parse::<f64>("q")?.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&q) {
        return Err(ApiError::bad_request(format!(
            "q must be between 0 and 1, got {q}"
        )));
    }
    Ok(Json(
        state.engine()?.metric_quantile(selector, q).await?.into(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Logs as OTLP/JSON
// ---------------------------------------------------------------------------------------------

/// A trace as OTLP/JSON, with its logs when they were asked for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TraceJson {
    #[serde(flatten)]
    traces: TracesData,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_logs: Option<Vec<ResourceLogs>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceLogs {
    resource: Resource,
    scope_logs: Vec<ScopeLogs>,
    #[serde(skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeLogs {
    scope: ScopeJson,
    log_records: Vec<LogRecordJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Debug, Serialize)]
struct ScopeJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogRecordJson {
    time_unix_nano: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_time_unix_nano: Option<String>,
    severity_number: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    severity_text: String,
    body: serde_json::Value,
    attributes: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    trace_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    span_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_name: String,
}

fn log_record(r: &LogRecord) -> LogRecordJson {
    LogRecordJson {
        time_unix_nano: r.time_ns.to_string(),
        observed_time_unix_nano: r.observed_ns.map(|t| t.to_string()),
        severity_number: r.severity_number,
        severity_text: r.severity_text.clone(),
        body: any_value(&r.body),
        attributes: key_values(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        flags: r.flags,
        trace_id: r.trace_id.clone(),
        span_id: r.span_id.clone(),
        event_name: r.event_name.clone(),
    }
}

/// The first record of a scope and every record of it.
type LogScopeGroup<'a> = (&'a LogRecord, Vec<&'a LogRecord>);
/// The first record of a resource and its scopes.
type LogResourceGroup<'a> = (&'a LogRecord, Vec<LogScopeGroup<'a>>);

/// Log records as OTLP/JSON `resourceLogs`, resources and scopes in order of first appearance.
pub(crate) fn resource_logs(records: &[LogRecord]) -> Vec<ResourceLogs> {
    let mut groups: Vec<LogResourceGroup<'_>> = Vec::new();
    for r in records {
        let index = match groups.iter().position(|(first, _)| {
            first.resource_attributes == r.resource_attributes
                && first.resource_schema_url == r.resource_schema_url
        }) {
            Some(i) => i,
            None => {
                groups.push((r, Vec::new()));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[index].1;
        let same_scope = |s: &LogRecord| {
            s.scope_name == r.scope_name
                && s.scope_version == r.scope_version
                && s.scope_attributes == r.scope_attributes
                && s.scope_schema_url == r.scope_schema_url
        };
        match scopes.iter_mut().find(|(first, _)| same_scope(first)) {
            Some((_, members)) => members.push(r),
            None => scopes.push((r, vec![r])),
        }
    }
    groups
        .into_iter()
        .map(|(first, scopes)| ResourceLogs {
            resource: Resource {
                attributes: key_values(&first.resource_attributes),
            },
            scope_logs: scopes
                .into_iter()
                .map(|(s, members)| ScopeLogs {
                    scope: ScopeJson {
                        name: s.scope_name.clone(),
                        version: s.scope_version.clone(),
                        attributes: key_values(&s.scope_attributes),
                    },
                    log_records: members.into_iter().map(log_record).collect(),
                    schema_url: s.scope_schema_url.clone(),
                })
                .collect(),
            schema_url: first.resource_schema_url.clone(),
        })
        .collect()
}

/// The trace's spans as `TracesData`, and its logs as `resourceLogs` when given.
pub(crate) fn trace_json(spans: &[SpanRecord], logs: Option<&[LogRecord]>) -> TraceJson {
    TraceJson {
        traces: traces_data(spans),
        resource_logs: logs.map(resource_logs),
    }
}

/// Whether `?logs=` asks for the trace's logs (`true` or `1`).
pub(crate) fn wants_logs(params: &Params) -> bool {
    matches!(params.get("logs"), Some("true" | "1"))
}
