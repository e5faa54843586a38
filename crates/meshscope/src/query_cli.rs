//! `meshscope query "SELECT …"`: SQL from the command line, printed as an aligned table.
//!
//! Against a running server (`--server`, the query API address: `POST /api/v1/sql`, answers
//! read as Arrow IPC), or straight from a data directory (`--data-dir`) when no server holds it.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use arrow::record_batch::RecordBatch;
use clap::{Args, ValueEnum};
use meshscope_query::{QueryConfig, QueryEngine};
use meshscope_storage::{Storage, StorageConfig};

/// Flags of `meshscope query`.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// The SQL statement (SELECT, EXPLAIN, SHOW or DESCRIBE).
    pub sql: String,
    /// Query API of a running server.
    #[arg(
        long,
        env = "MESHSCOPE_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:16686"
    )]
    pub server: String,
    /// Read this data directory directly instead of asking a server (it must not be in use).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// With --data-dir: cancel the query after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    Csv,
    Json,
}

/// Runs the query and prints the answer on stdout.
pub fn run(args: &QueryArgs) -> anyhow::Result<()> {
    let (schema, batches) = match &args.data_dir {
        Some(dir) => query_data_dir(dir, args)?,
        None => query_server(args)?,
    };
    let out = match args.format {
        OutputFormat::Table => {
            let mut text = arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
            text.push('\n');
            text.into_bytes()
        }
        OutputFormat::Csv => {
            meshscope_api::csv_bytes(&schema, &batches).map_err(|e| anyhow::anyhow!(e.message))?
        }
        OutputFormat::Json => {
            let rows = meshscope_api::json_rows(&schema, &batches)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let mut text = String::new();
            for row in rows {
                text.push_str(&serde_json::to_string(&row)?);
                text.push('\n');
            }
            text.into_bytes()
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(())
}

type Answer = (arrow::datatypes::SchemaRef, Vec<RecordBatch>);

fn query_server(args: &QueryArgs) -> anyhow::Result<Answer> {
    let url = format!("{}/api/v1/sql", args.server.trim_end_matches('/'));
    let response = reqwest::blocking::Client::new()
        .post(&url)
        .header(reqwest::header::ACCEPT, meshscope_api::ARROW_STREAM)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(
            &serde_json::json!({ "query": args.sql }),
        )?)
        .send()
        .with_context(|| format!("cannot reach the meshscope server at {}", args.server))?;
    let status = response.status();
    let body = response.bytes().context("reading the answer")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("{message} (HTTP {status})");
    }
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
        .context("decoding the Arrow answer")?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .context("decoding the Arrow answer")?;
    Ok((schema, batches))
}

fn query_data_dir(dir: &std::path::Path, args: &QueryArgs) -> anyhow::Result<Answer> {
    if !dir.is_dir() {
        bail!("no data directory at {}", dir.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (storage, answer) = runtime.block_on(async {
        let storage = Storage::open(
            StorageConfig {
                data_dir: dir.to_path_buf(),
                ..StorageConfig::default()
            },
            crate::server::tables(),
        )
        .await
        .map_err(|e| match e {
            meshscope_storage::Error::Locked { .. } => anyhow::anyhow!(
                "the data directory {} is in use by a running meshscope server: query the server instead (meshscope query --server http://<its --http-addr> \"…\")",
                dir.display()
            ),
            e => anyhow::Error::new(e).context(format!("opening {}", dir.display())),
        })?;
        let engine = QueryEngine::new(
            storage.clone(),
            QueryConfig {
                timeout: std::time::Duration::from_secs(args.timeout_secs.max(1)),
                ..QueryConfig::default()
            },
        )?;
        let output = engine.sql(&args.sql).await;
        drop(engine);
        anyhow::Ok((storage, output))
    })?;
    // the head is not flushed: the directory is left as the WAL replay found it
    drop(storage);
    drop(runtime);
    let output = answer?;
    Ok((output.schema, output.batches))
}
