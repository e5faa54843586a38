//! The native query API under `/api/v1`: trace by id (OTLP/JSON), search, services and
//! operations. Times are RFC 3339 or nanoseconds since the epoch; durations are Go-style
//! (`250ms`, `1.5s`, `1m30s`); 64-bit integers in responses are strings, as in OTLP/JSON.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use meshscope_model::{SpanKind, StatusCode};
use meshscope_query::{AttributeFilter, SearchQuery, TraceSummary};
use serde::Serialize;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, duration_param, now_ns, time_param};
use crate::signals::{self, TraceJson};
use crate::sql;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/search", get(search))
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{service}/operations", get(operations))
        .route("/api/v1/sql", post(sql::sql))
}

/// `start`/`end` (and `lookback` when `start` is absent) as inclusive bounds, if any.
pub(crate) fn time_range(params: &Params) -> ApiResult<(Option<i64>, Option<i64>)> {
    let end = time_param(params, "end")?;
    let mut start = time_param(params, "start")?;
    if start.is_none()
        && let Some(lookback) = duration_param(params, "lookback")?
    {
        start = Some(end.unwrap_or_else(now_ns).saturating_sub(lookback));
    }
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ApiError::bad_request("'end' is before 'start'"));
    }
    Ok((start, end))
}

/// `?logs=true` adds the trace's log records as `resourceLogs` beside `resourceSpans`.
async fn trace(
    State(state): State<ApiState>,
    Path(trace_id): Path<String>,
    params: Params,
) -> ApiResult<Json<TraceJson>> {
    let bounds = match time_range(&params)? {
        (None, None) => None,
        (start, end) => Some((start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX))),
    };
    let engine = state.engine()?;
    let spans = engine.trace(&trace_id, bounds).await?;
    let logs = if signals::wants_logs(&params) {
        Some(engine.trace_logs(&trace_id, bounds).await?)
    } else {
        None
    };
    if spans.is_empty() && logs.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::not_found(format!("trace {trace_id} not found")));
    }
    Ok(Json(signals::trace_json(&spans, logs.as_deref())))
}

fn parse_kind(text: &str) -> ApiResult<SpanKind> {
    SpanKind::parse(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown span kind {text:?}: use server, client, producer, consumer, internal or unspecified"
        ))
    })
}

fn search_query(params: &Params) -> ApiResult<SearchQuery> {
    let (start_ns, end_ns) = time_range(params)?;
    let status = params
        .get("status")
        .map(|s| {
            StatusCode::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!("unknown status {s:?}: use ok, error or unset"))
            })
        })
        .transpose()?;
    let attributes = params
        .all("attr")
        .map(|text| text.parse::<AttributeFilter>().map_err(ApiError::from))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(SearchQuery {
        service: params.get("service").map(str::to_owned),
        operation: params.get("operation").map(str::to_owned),
        kind: params.get("kind").map(parse_kind).transpose()?,
        status,
        attributes,
        min_duration_ns: duration_param(params, "minDuration")?,
        max_duration_ns: duration_param(params, "maxDuration")?,
        start_ns,
        end_ns,
        limit: params.parse("limit")?.unwrap_or(20),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceJson {
    name: String,
    span_count: u64,
    error_count: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson {
    trace_id: String,
    root_service: String,
    root_operation: String,
    start_time_unix_nano: String,
    duration_nanos: String,
    duration_ms: f64,
    span_count: u64,
    error_count: u64,
    services: Vec<ServiceJson>,
}

impl From<TraceSummary> for SummaryJson {
    fn from(s: TraceSummary) -> Self {
        Self {
            trace_id: s.trace_id,
            root_service: s.root_service,
            root_operation: s.root_operation,
            start_time_unix_nano: s.start_ns.to_string(),
            duration_nanos: s.duration_ns.to_string(),
            duration_ms: s.duration_ns as f64 / 1e6,
            span_count: s.span_count,
            error_count: s.error_count,
            services: s
                .services
                .into_iter()
                .map(|v| ServiceJson {
                    name: v.service,
                    span_count: v.span_count,
                    error_count: v.error_count,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct SearchJson {
    traces: Vec<SummaryJson>,
}

async fn search(State(state): State<ApiState>, params: Params) -> ApiResult<Json<SearchJson>> {
    let query = search_query(&params)?;
    let found = state.engine()?.search(query).await?;
    Ok(Json(SearchJson {
        traces: found.into_iter().map(SummaryJson::from).collect(),
    }))
}

#[derive(Debug, Serialize)]
struct ServicesJson {
    services: Vec<String>,
}

async fn services(State(state): State<ApiState>) -> ApiResult<Json<ServicesJson>> {
    Ok(Json(ServicesJson {
        services: state.engine()?.services().await?,
    }))
}

#[derive(Debug, Serialize)]
struct OperationJson {
    name: String,
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct OperationsJson {
    operations: Vec<OperationJson>,
}

async fn operations(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    params: Params,
) -> ApiResult<Json<OperationsJson>> {
    let kind = params.get("kind").map(parse_kind).transpose()?;
    let operations = state.engine()?.operations(Some(service), kind).await?;
    Ok(Json(OperationsJson {
        operations: operations
            .into_iter()
            .map(|op| OperationJson {
                name: op.name,
                kind: op.kind.as_str(),
            })
            .collect(),
    }))
}
