//! Services and operations: the distinct `(service_name, name, kind)` of the stored spans.
//!
//! Jaeger's UI asks for them on every page load, over all the data. Parquet files are
//! immutable, so each file's distinct operations are read once (three dictionary-encoded
//! columns) and kept in memory; the head is read on each call. A file that left the snapshot
//! (compaction, retention) leaves the index on the next call.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use meshscope_model::SpanKind;
use meshscope_model::spans::col;
use meshscope_storage::{ParquetFile, TableSnapshot};
use parking_lot::Mutex;

use crate::engine::QueryEngine;
use crate::error::{Error, Result};

/// One operation of one service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operation {
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
}

type Key = (String, String, SpanKind);

#[derive(Debug, Default)]
pub(crate) struct OperationIndex {
    files: Mutex<HashMap<PathBuf, Arc<Vec<Key>>>>,
}

fn distinct(batches: &[RecordBatch], into: &mut HashSet<Key>) -> Result<()> {
    for batch in batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| Error::Decode(format!("column {name} is missing or not Utf8")))
        };
        let (services, names, kinds) = (
            column(col::SERVICE_NAME)?,
            column(col::NAME)?,
            column(col::KIND)?,
        );
        let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
        for row in 0..batch.num_rows() {
            seen.insert((services.value(row), names.value(row), kinds.value(row)));
        }
        for (service, name, kind) in seen {
            let kind = SpanKind::parse(kind).unwrap_or(SpanKind::Unspecified);
            into.insert((service.to_owned(), name.to_owned(), kind));
        }
    }
    Ok(())
}

fn read_file(file: &ParquetFile) -> Result<Vec<Key>> {
    let decode = |e: &dyn std::fmt::Display| Error::Decode(format!("{}: {e}", file.path.display()));
    let handle = std::fs::File::open(&file.path).map_err(|e| decode(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(handle).map_err(|e| decode(&e))?;
    let indices = [col::SERVICE_NAME, col::NAME, col::KIND]
        .iter()
        .map(|name| builder.schema().index_of(name).map_err(|e| decode(&e)))
        .collect::<Result<Vec<_>>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| decode(&e))?;
    let mut keys = HashSet::new();
    for batch in reader {
        distinct(&[batch.map_err(|e| decode(&e))?], &mut keys)?;
    }
    Ok(keys.into_iter().collect())
}

impl OperationIndex {
    /// Every operation in `snapshot`.
    fn collect(&self, snapshot: &TableSnapshot) -> Result<HashSet<Key>> {
        let mut all = HashSet::new();
        distinct(&snapshot.head, &mut all)?;
        let mut missing = Vec::new();
        {
            let mut files = self.files.lock();
            let live: HashSet<&PathBuf> = snapshot.files.iter().map(|f| &f.path).collect();
            files.retain(|path, _| live.contains(path));
            for file in &snapshot.files {
                match files.get(&file.path) {
                    Some(keys) => all.extend(keys.iter().cloned()),
                    None => missing.push(file),
                }
            }
        }
        for file in missing {
            let keys = Arc::new(read_file(file)?);
            all.extend(keys.iter().cloned());
            self.files.lock().insert(file.path.clone(), keys);
        }
        Ok(all)
    }
}

impl QueryEngine {
    /// Operations stored, optionally of one service and one span kind, sorted by service,
    /// name and kind.
    pub async fn operations(
        &self,
        service: Option<String>,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>> {
        let inner = Arc::clone(&self.inner);
        self.run("operations", move |query| async move {
            let snapshot = query.snapshot_table().snapshot().clone();
            let keys = tokio::task::spawn_blocking(move || inner.operations.collect(&snapshot))
                .await
                .map_err(|e| Error::Task(e.to_string()))??;
            let mut operations: Vec<Operation> = keys
                .into_iter()
                .filter(|(s, _, k)| {
                    service.as_ref().is_none_or(|want| want == s)
                        && kind.is_none_or(|want| want == *k)
                })
                .map(|(service, name, kind)| Operation {
                    service,
                    name,
                    kind,
                })
                .collect();
            operations.sort_by(|a, b| {
                (&a.service, &a.name, a.kind.to_otlp()).cmp(&(
                    &b.service,
                    &b.name,
                    b.kind.to_otlp(),
                ))
            });
            Ok(operations)
        })
        .await
    }

    /// Names of the services that sent spans, sorted.
    pub async fn services(&self) -> Result<Vec<String>> {
        let mut services: Vec<String> = self
            .operations(None, None)
            .await?
            .into_iter()
            .map(|op| op.service)
            .collect();
        services.dedup();
        Ok(services)
    }
}
