//! The Jaeger-compatible API (`/api/…`), what Grafana's Jaeger data source and Jaeger UI call:
//! the same paths, parameters and JSON shapes as `jaeger-query`'s HTTP API.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meshscope_model::SpanKind;
use meshscope_query::{AttributeFilter, MAX_SEARCH_LIMIT, MatchOp, SearchQuery, TRACE_SPREAD_NS};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::jaeger_model::{Envelope, Operation, Trace, span_kind, trace};
use crate::params::{Params, now_ns, parse_duration_ns, parse_epoch_us_or_ms};

/// Jaeger's default `limit` of trace search.
const DEFAULT_LIMIT: usize = 100;
/// Jaeger's default search window when `start` is absent.
const DEFAULT_LOOKBACK_NS: i64 = 2 * 24 * 3600 * 1_000_000_000;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(find_traces))
        .route("/api/traces/{trace_id}", get(get_trace))
}

fn jaeger<T>(result: ApiResult<T>) -> ApiResult<T> {
    result.map_err(ApiError::jaeger)
}

async fn services(State(state): State<ApiState>) -> Response {
    let result = async {
        let services = state.engine()?.services().await?;
        let total = services.len();
        Ok::<_, ApiError>(Json(Envelope::new(services, total)))
    }
    .await;
    jaeger(result).into_response()
}

async fn service_operations(
    State(state): State<ApiState>,
    Path(service): Path<String>,
) -> Response {
    let result = async {
        let mut names: Vec<String> = state
            .engine()?
            .operations(Some(service), None)
            .await?
            .into_iter()
            .map(|op| op.name)
            .collect();
        names.dedup();
        let total = names.len();
        Ok::<_, ApiError>(Json(Envelope::new(names, total)))
    }
    .await;
    jaeger(result).into_response()
}

fn parse_span_kind(text: &str) -> ApiResult<SpanKind> {
    let text = text.strip_prefix("SPAN_KIND_").unwrap_or(text);
    SpanKind::parse(text)
        .ok_or_else(|| ApiError::bad_request(format!("unsupported span kind: '{text}'")))
}

async fn operations(State(state): State<ApiState>, params: Params) -> Response {
    let result = async {
        let service = params
            .get("service")
            .ok_or_else(|| ApiError::bad_request("parameter 'service' is required"))?;
        let kind = params.get("spanKind").map(parse_span_kind).transpose()?;
        let operations: Vec<Operation> = state
            .engine()?
            .operations(Some(service.to_owned()), kind)
            .await?
            .into_iter()
            .map(|op| Operation {
                name: op.name,
                span_kind: span_kind(op.kind),
            })
            .collect();
        let total = operations.len();
        Ok::<_, ApiError>(Json(Envelope::new(operations, total)))
    }
    .await;
    jaeger(result).into_response()
}

fn epoch_param(params: &Params, name: &str) -> ApiResult<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            parse_epoch_us_or_ms(v)
                .map_err(|e| ApiError::bad_request(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

fn duration(params: &Params, name: &str) -> ApiResult<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            parse_duration_ns(v)
                .map_err(|e| ApiError::bad_request(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

/// Tags from `tag=k:v` (repeated) and `tags={"k":"v"}`, as Jaeger's query parser reads them.
fn tags(params: &Params) -> ApiResult<Vec<AttributeFilter>> {
    let mut out = Vec::new();
    for tag in params.all("tag") {
        let (key, value) = tag.split_once(':').ok_or_else(|| {
            ApiError::bad_request(format!(
                "malformed 'tag' parameter, expecting key:value, received: {tag}"
            ))
        })?;
        out.push(AttributeFilter::new(key, MatchOp::Eq, value));
    }
    for json in params.all("tags") {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| {
                ApiError::bad_request(format!(
                    "malformed 'tags' parameter, cannot unmarshal JSON: {e}"
                ))
            })?;
        for (key, value) in map {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.push(AttributeFilter::new(key, MatchOp::Eq, value));
        }
    }
    Ok(out)
}

fn search_query(params: &Params) -> ApiResult<SearchQuery> {
    let service = params
        .get("service")
        .ok_or_else(|| ApiError::bad_request("parameter 'service' is required"))?;
    let end = epoch_param(params, "end")?.unwrap_or_else(now_ns);
    let start = match epoch_param(params, "start")? {
        Some(start) => start,
        None => {
            let lookback = match params.get("lookback") {
                Some("custom") | None => DEFAULT_LOOKBACK_NS,
                Some(text) => parse_duration_ns(text).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse param 'lookback': {e}"))
                })?,
            };
            end.saturating_sub(lookback)
        }
    };
    let min_duration = duration(params, "minDuration")?;
    let max_duration = duration(params, "maxDuration")?;
    if let (Some(lo), Some(hi)) = (min_duration, max_duration)
        && hi < lo
    {
        return Err(ApiError::bad_request(
            "'maxDuration' should be greater than 'minDuration'",
        ));
    }
    let limit: usize = params.parse::<i64>("limit")?.map_or(DEFAULT_LIMIT, |l| {
        usize::try_from(l).unwrap_or(DEFAULT_LIMIT)
    });
    Ok(SearchQuery {
        service: Some(service.to_owned()),
        operation: params.get("operation").map(str::to_owned),
        attributes: tags(params)?,
        min_duration_ns: min_duration,
        max_duration_ns: max_duration,
        start_ns: Some(start),
        end_ns: Some(end),
        limit: if limit == 0 {
            DEFAULT_LIMIT
        } else {
            limit.min(MAX_SEARCH_LIMIT)
        },
        ..SearchQuery::default()
    })
}

async fn find_traces(State(state): State<ApiState>, params: Params) -> Response {
    let result = async {
        let ids: Vec<String> = params.all("traceID").map(str::to_owned).collect();
        let engine = state.engine()?;
        let traces = if ids.is_empty() {
            engine.search_traces(search_query(&params)?).await?
        } else {
            engine.traces(ids, None).await?
        };
        let data: Vec<Trace> = traces.iter().map(|spans| trace(spans)).collect();
        Ok::<_, ApiError>(Json(Envelope::new(data, 0)))
    }
    .await;
    jaeger(result).into_response()
}

async fn get_trace(
    State(state): State<ApiState>,
    Path(trace_id): Path<String>,
    params: Params,
) -> Response {
    let result = async {
        // the range says where the trace is; spans just outside it still belong to it
        let start = epoch_param(&params, "start")?;
        let end = epoch_param(&params, "end")?;
        let bounds = match (start, end) {
            (None, None) => None,
            (s, e) => Some((
                s.map_or(i64::MIN, |s| s.saturating_sub(TRACE_SPREAD_NS)),
                e.map_or(i64::MAX, |e| e.saturating_add(TRACE_SPREAD_NS)),
            )),
        };
        let spans = state.engine()?.trace(&trace_id, bounds).await?;
        if spans.is_empty() {
            return Err(ApiError::not_found("trace not found"));
        }
        Ok(Json(Envelope::new(vec![trace(&spans)], 0)))
    }
    .await;
    jaeger(result).into_response()
}
