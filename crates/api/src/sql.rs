//! `POST /api/v1/sql`: read-only SQL over the stored tables.
//!
//! Request: `{"query": "SELECT …"}`. Response by `Accept` (or `?format=json|csv|arrow`):
//!
//! * JSON (default): `{"columns": [{"name", "type"}], "rows": [[…], …], "rowCount", "stats"}`:
//!   one array per row in column order; numbers as JSON numbers, timestamps as RFC 3339 text,
//!   maps as objects, lists as arrays, structs as objects, NULL as null.
//! * CSV (`text/csv`): a header line, then the rows; nested values as JSON text.
//! * Arrow IPC stream (`application/vnd.apache.arrow.stream`): the schema and record batches.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::writer::JsonArray;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use meshscope_query::{QueryOutput, QueryStats};
use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    query: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Arrow,
}

impl Format {
    fn choose(params: &Params, headers: &HeaderMap) -> ApiResult<Self> {
        if let Some(format) = params.get("format") {
            return match format {
                "json" => Ok(Self::Json),
                "csv" => Ok(Self::Csv),
                "arrow" => Ok(Self::Arrow),
                other => Err(ApiError::bad_request(format!(
                    "unknown format {other:?}: use json, csv or arrow"
                ))),
            };
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(if accept.contains(ARROW_STREAM) {
            Self::Arrow
        } else if accept.contains("text/csv") {
            Self::Csv
        } else {
            Self::Json
        })
    }
}

#[derive(Debug, Serialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    elapsed_ms: f64,
    files_total: u64,
    files_scanned: u64,
    files_pruned_key_index: u64,
    head_rows_scanned: u64,
    bytes_scanned: u64,
    row_groups_read: u64,
    row_groups_pruned_statistics: u64,
    row_groups_pruned_bloom_filter: u64,
    row_groups_pruned_key_index: u64,
}

impl From<&QueryStats> for Stats {
    fn from(stats: &QueryStats) -> Self {
        let scan = &stats.scan;
        Self {
            elapsed_ms: stats.elapsed.as_secs_f64() * 1e3,
            files_total: scan.files_total,
            files_scanned: scan.files_scanned,
            files_pruned_key_index: scan.files_pruned_key_index,
            head_rows_scanned: scan.head_rows_scanned,
            bytes_scanned: scan.bytes_scanned,
            row_groups_read: scan.row_groups_read,
            row_groups_pruned_statistics: scan.row_groups_pruned_statistics,
            row_groups_pruned_bloom_filter: scan.row_groups_pruned_bloom_filter,
            row_groups_pruned_key_index: scan.row_groups_pruned_key_index,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonResult {
    columns: Vec<Column>,
    rows: Vec<Vec<J>>,
    row_count: usize,
    stats: Stats,
}

fn encode_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot encode the result: {e}"),
    )
}

/// The rows of `batches` as JSON arrays, in column order.
pub fn json_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> ApiResult<Vec<Vec<J>>> {
    // unique names, so duplicate column names (`SELECT 1, 1`) survive the object form
    let renamed: Arc<Schema> = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| f.as_ref().clone().with_name(format!("c{i}")))
            .collect::<Vec<Field>>(),
    ));
    let mut rows = Vec::new();
    for batch in batches {
        let batch = RecordBatch::try_new(Arc::clone(&renamed), batch.columns().to_vec())
            .map_err(encode_error)?;
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(Vec::new());
        writer.write(&batch).map_err(encode_error)?;
        writer.finish().map_err(encode_error)?;
        let objects: Vec<serde_json::Map<String, J>> =
            serde_json::from_slice(&writer.into_inner()).map_err(encode_error)?;
        for mut object in objects {
            rows.push(
                (0..renamed.fields().len())
                    .map(|i| object.remove(&format!("c{i}")).unwrap_or(J::Null))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Replaces nested columns (lists, structs, maps) by their JSON text, for CSV.
fn flatten_for_csv(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> ApiResult<(SchemaRef, Vec<RecordBatch>)> {
    let nested: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.data_type().is_nested())
        .map(|(i, _)| i)
        .collect();
    if nested.is_empty() {
        return Ok((Arc::clone(schema), batches.to_vec()));
    }
    let flat: SchemaRef = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if nested.contains(&i) {
                    Field::new(f.name(), DataType::Utf8, true)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    ));
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let rows = json_rows(schema, std::slice::from_ref(batch))?;
        let columns: Vec<ArrayRef> = (0..batch.num_columns())
            .map(|i| {
                if nested.contains(&i) {
                    let text: StringArray = rows
                        .iter()
                        .map(|row| match &row[i] {
                            J::Null => None,
                            value => Some(value.to_string()),
                        })
                        .collect();
                    Arc::new(text) as ArrayRef
                } else {
                    Arc::clone(batch.column(i))
                }
            })
            .collect();
        out.push(RecordBatch::try_new(Arc::clone(&flat), columns).map_err(encode_error)?);
    }
    Ok((flat, out))
}

pub fn csv_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> ApiResult<Vec<u8>> {
    let (schema, batches) = flatten_for_csv(schema, batches)?;
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(Vec::new());
    if batches.is_empty() {
        // a header line even without rows
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Ok(format!("{}\n", names.join(",")).into_bytes());
    }
    for batch in &batches {
        writer.write(batch).map_err(encode_error)?;
    }
    Ok(writer.into_inner())
}

pub fn arrow_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> ApiResult<Vec<u8>> {
    let mut writer =
        arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema).map_err(encode_error)?;
    for batch in batches {
        writer.write(batch).map_err(encode_error)?;
    }
    writer.finish().map_err(encode_error)?;
    writer.into_inner().map_err(encode_error)
}

fn respond(output: &QueryOutput, format: Format) -> ApiResult<Response> {
    let (content_type, body) = match format {
        Format::Json => {
            let result = JsonResult {
                columns: output
                    .schema
                    .fields()
                    .iter()
                    .map(|f| Column {
                        name: f.name().clone(),
                        data_type: f.data_type().to_string(),
                    })
                    .collect(),
                rows: json_rows(&output.schema, &output.batches)?,
                row_count: output.num_rows(),
                stats: Stats::from(&output.stats),
            };
            (
                "application/json",
                serde_json::to_vec(&result).map_err(encode_error)?,
            )
        }
        Format::Csv => (
            "text/csv; charset=utf-8",
            csv_bytes(&output.schema, &output.batches)?,
        ),
        Format::Arrow => (ARROW_STREAM, arrow_bytes(&output.schema, &output.batches)?),
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}

pub(crate) async fn sql(
    State(state): State<ApiState>,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let format = Format::choose(&params, &headers)?;
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid request body ({e}): send {{\"query\": \"SELECT …\"}}"
        ))
    })?;
    let engine = state.engine()?;
    let output = engine.sql(&request.query).await?;
    respond(&output, format)
}
