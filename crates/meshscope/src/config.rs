//! Configuration: a TOML file, `MESHSCOPE_*` environment variables and flags, all optional.
//!
//! Precedence is flag > environment > file > default. The command line and environment are
//! parsed by clap ([`ServeArgs`]); the file into [`FileConfig`] (unknown keys are errors);
//! [`Config::resolve`] merges and validates them into the typed [`Config`] the server runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use meshscope_graph::AggregatorConfig;
use meshscope_ingest::Limits;
use meshscope_query::QueryConfig;
use meshscope_storage::{StorageConfig, SyncPolicy};
use serde::Deserialize;

/// Flags of `meshscope serve` (each also read from its environment variable).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "MESHSCOPE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// OTLP/gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "MESHSCOPE_OTLP_GRPC_ADDR", value_name = "ADDR")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address.
    #[arg(long, env = "MESHSCOPE_OTLP_HTTP_ADDR", value_name = "ADDR")]
    pub otlp_http_addr: Option<SocketAddr>,
    /// Query API, UI and /metrics listen address.
    #[arg(long, env = "MESHSCOPE_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Zipkin v2 listen address (`POST /api/v2/spans`), or `off`.
    #[arg(long, env = "MESHSCOPE_ZIPKIN_ADDR", value_name = "ADDR|off")]
    pub zipkin_addr: Option<String>,
    /// Where the WAL and Parquet partitions live.
    #[arg(long, env = "MESHSCOPE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// WAL fsync policy: `always` (default), `never`, or an interval such as `100ms`.
    #[arg(long, env = "MESHSCOPE_WAL_SYNC", value_name = "POLICY")]
    pub wal_sync: Option<String>,
    /// Flush the in-memory head to Parquet once its oldest row is this old (e.g. `5m`).
    #[arg(long, env = "MESHSCOPE_FLUSH_MAX_AGE", value_name = "DURATION")]
    pub flush_max_age: Option<String>,
    /// Flush the head to Parquet once it holds this many bytes.
    #[arg(long, env = "MESHSCOPE_FLUSH_MAX_BYTES", value_name = "BYTES")]
    pub flush_max_bytes: Option<usize>,
    /// Refuse new data (retryable) while the head holds more than this many bytes.
    #[arg(long, env = "MESHSCOPE_HEAD_LIMIT_BYTES", value_name = "BYTES")]
    pub head_limit_bytes: Option<usize>,
    /// Merge the small Parquet files of an hour into files of up to this many bytes (`0`: never).
    #[arg(long, env = "MESHSCOPE_COMPACTION_TARGET_BYTES", value_name = "BYTES")]
    pub compaction_target_bytes: Option<u64>,
    /// Merge an hour's small files once there are this many of them.
    #[arg(long, env = "MESHSCOPE_COMPACTION_MIN_FILES", value_name = "N")]
    pub compaction_min_files: Option<usize>,
    /// Keep merged-away files this long for queries already reading them (e.g. `5m`).
    #[arg(long, env = "MESHSCOPE_COMPACTION_GRACE", value_name = "DURATION")]
    pub compaction_grace: Option<String>,
    /// Delete Parquet files whose newest row is older than this (e.g. `14d`; default: keep).
    #[arg(long, env = "MESHSCOPE_RETENTION_AGE", value_name = "DURATION")]
    pub retention_age: Option<String>,
    /// Delete the oldest Parquet files while all of them take more than this many bytes.
    #[arg(long, env = "MESHSCOPE_RETENTION_MAX_BYTES", value_name = "BYTES")]
    pub retention_max_bytes: Option<u64>,
    /// Largest OTLP request body on the wire, in bytes.
    #[arg(long, env = "MESHSCOPE_MAX_REQUEST_BYTES", value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `meshscope=debug`.
    #[arg(long, env = "MESHSCOPE_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Cancel a query (SQL, search, trace lookup) after this long (e.g. `30s`).
    #[arg(long, env = "MESHSCOPE_QUERY_TIMEOUT", value_name = "DURATION")]
    pub query_timeout: Option<String>,
    /// Memory one query's operators may reserve, in bytes.
    #[arg(long, env = "MESHSCOPE_QUERY_MEMORY_LIMIT_BYTES", value_name = "BYTES")]
    pub query_memory_limit_bytes: Option<usize>,
    /// How long a client span waits for its server half before it counts as a call to a
    /// virtual node (e.g. `10s`).
    #[arg(long, env = "MESHSCOPE_GRAPH_PAIRING_WINDOW", value_name = "DURATION")]
    pub graph_pairing_window: Option<String>,
}

/// The TOML file; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub ingest: IngestSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub query: QuerySection,
    #[serde(default)]
    pub graph: GraphSection,
    #[serde(default)]
    pub log: LogSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub otlp_grpc_addr: Option<SocketAddr>,
    pub otlp_http_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    /// An address, or `off`.
    pub zipkin_addr: Option<String>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSection {
    pub max_request_bytes: Option<usize>,
    pub max_decompressed_bytes: Option<usize>,
    pub max_inflight_bytes: Option<usize>,
    pub pressure_wait: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    pub wal_sync: Option<String>,
    pub wal_segment_bytes: Option<u64>,
    pub flush_max_bytes: Option<usize>,
    pub flush_max_age: Option<String>,
    pub head_limit_bytes: Option<usize>,
    pub wal_queue_limit_bytes: Option<usize>,
    pub row_group_rows: Option<usize>,
    pub flush_threads: Option<usize>,
    pub compaction_target_bytes: Option<u64>,
    pub compaction_min_files: Option<usize>,
    pub compaction_grace: Option<String>,
    pub retention_age: Option<String>,
    pub retention_max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    pub timeout: Option<String>,
    pub memory_limit_bytes: Option<usize>,
    pub max_concurrent_queries: Option<usize>,
    pub max_result_bytes: Option<usize>,
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSection {
    pub pairing_window: Option<String>,
    pub lateness: Option<String>,
    pub max_pending: Option<usize>,
    pub max_series_per_minute: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub filter: Option<String>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `None`: no Zipkin receiver.
    pub zipkin_addr: Option<SocketAddr>,
    /// Whether the Zipkin address was configured. The default one, when taken (by a Zipkin
    /// server on the same host, say), leaves the receiver off with a warning instead of
    /// failing the start; a configured one that is taken fails it.
    pub zipkin_addr_configured: bool,
    pub storage: StorageConfig,
    pub limits: Limits,
    pub query: QueryConfig,
    pub graph: AggregatorConfig,
    pub log_filter: String,
}

pub const DEFAULT_OTLP_GRPC_ADDR: &str = "127.0.0.1:4317";
pub const DEFAULT_OTLP_HTTP_ADDR: &str = "127.0.0.1:4318";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:16686";
pub const DEFAULT_ZIPKIN_ADDR: &str = "127.0.0.1:9411";
pub const DEFAULT_DATA_DIR: &str = "./data";

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }
}

impl Config {
    /// Merges flags/environment over the file over the defaults, and validates the result.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::merge(args, &file)
    }

    pub fn merge(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let addr = |flag: Option<SocketAddr>, file: Option<SocketAddr>, default: &str| {
            flag.or(file)
                .map_or_else(|| default.parse::<SocketAddr>(), Ok)
        };
        let s = &file.storage;
        let defaults = StorageConfig::default();
        let wal_sync = match args.wal_sync.as_ref().or(s.wal_sync.as_ref()) {
            Some(text) => text
                .parse::<SyncPolicy>()
                .map_err(|e| anyhow::anyhow!("wal_sync: {e}"))?,
            None => defaults.wal_sync,
        };
        let flush_max_age = match args.flush_max_age.as_ref().or(s.flush_max_age.as_ref()) {
            Some(text) => parse_duration(text).context("flush_max_age")?,
            None => defaults.flush_max_age,
        };
        let storage = StorageConfig {
            data_dir: args
                .data_dir
                .clone()
                .or_else(|| file.server.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            wal_sync,
            wal_segment_bytes: s.wal_segment_bytes.unwrap_or(defaults.wal_segment_bytes),
            flush_max_bytes: args
                .flush_max_bytes
                .or(s.flush_max_bytes)
                .unwrap_or(defaults.flush_max_bytes),
            flush_max_age,
            head_limit_bytes: args
                .head_limit_bytes
                .or(s.head_limit_bytes)
                .unwrap_or(defaults.head_limit_bytes),
            wal_queue_limit_bytes: s
                .wal_queue_limit_bytes
                .unwrap_or(defaults.wal_queue_limit_bytes),
            row_group_rows: s.row_group_rows.unwrap_or(defaults.row_group_rows),
            flush_threads: s.flush_threads.unwrap_or(defaults.flush_threads),
            compaction_target_bytes: args
                .compaction_target_bytes
                .or(s.compaction_target_bytes)
                .unwrap_or(defaults.compaction_target_bytes),
            compaction_min_files: args
                .compaction_min_files
                .or(s.compaction_min_files)
                .unwrap_or(defaults.compaction_min_files),
            compaction_grace: match args
                .compaction_grace
                .as_ref()
                .or(s.compaction_grace.as_ref())
            {
                Some(text) => parse_duration(text).context("compaction_grace")?,
                None => defaults.compaction_grace,
            },
            retention_age: match args.retention_age.as_ref().or(s.retention_age.as_ref()) {
                Some(text) => Some(parse_duration(text).context("retention_age")?),
                None => defaults.retention_age,
            },
            retention_max_bytes: args
                .retention_max_bytes
                .or(s.retention_max_bytes)
                .or(defaults.retention_max_bytes),
        };
        let limit_defaults = Limits::default();
        let i = &file.ingest;
        let limits = Limits {
            max_request_bytes: args
                .max_request_bytes
                .or(i.max_request_bytes)
                .unwrap_or(limit_defaults.max_request_bytes),
            max_decompressed_bytes: i
                .max_decompressed_bytes
                .unwrap_or(limit_defaults.max_decompressed_bytes),
            max_inflight_bytes: i
                .max_inflight_bytes
                .unwrap_or(limit_defaults.max_inflight_bytes),
            pressure_wait: match i.pressure_wait.as_ref() {
                Some(text) => parse_duration(text).context("pressure_wait")?,
                None => limit_defaults.pressure_wait,
            },
        };
        let q = &file.query;
        let query_defaults = QueryConfig::default();
        let query = QueryConfig {
            timeout: match args.query_timeout.as_ref().or(q.timeout.as_ref()) {
                Some(text) => parse_duration(text).context("query timeout")?,
                None => query_defaults.timeout,
            },
            memory_limit_bytes: args
                .query_memory_limit_bytes
                .or(q.memory_limit_bytes)
                .unwrap_or(query_defaults.memory_limit_bytes),
            max_concurrent_queries: q
                .max_concurrent_queries
                .unwrap_or(query_defaults.max_concurrent_queries),
            max_result_bytes: q
                .max_result_bytes
                .unwrap_or(query_defaults.max_result_bytes),
            threads: q.threads.unwrap_or(query_defaults.threads),
            ..query_defaults
        };
        let g = &file.graph;
        let graph_defaults = AggregatorConfig::default();
        let graph = AggregatorConfig {
            pairing_window: match args
                .graph_pairing_window
                .as_ref()
                .or(g.pairing_window.as_ref())
            {
                Some(text) => parse_duration(text).context("graph pairing_window")?,
                None => graph_defaults.pairing_window,
            },
            lateness: match &g.lateness {
                Some(text) => parse_duration(text).context("graph lateness")?,
                None => graph_defaults.lateness,
            },
            max_pending: g.max_pending.unwrap_or(graph_defaults.max_pending),
            max_series_per_minute: g
                .max_series_per_minute
                .unwrap_or(graph_defaults.max_series_per_minute),
            ..graph_defaults
        };
        let config = Config {
            otlp_grpc_addr: addr(
                args.otlp_grpc_addr,
                file.server.otlp_grpc_addr,
                DEFAULT_OTLP_GRPC_ADDR,
            )?,
            otlp_http_addr: addr(
                args.otlp_http_addr,
                file.server.otlp_http_addr,
                DEFAULT_OTLP_HTTP_ADDR,
            )?,
            http_addr: addr(args.http_addr, file.server.http_addr, DEFAULT_HTTP_ADDR)?,
            zipkin_addr: parse_listen(
                args.zipkin_addr
                    .as_deref()
                    .or(file.server.zipkin_addr.as_deref())
                    .unwrap_or(DEFAULT_ZIPKIN_ADDR),
            )
            .context("zipkin_addr")?,
            zipkin_addr_configured: args.zipkin_addr.is_some() || file.server.zipkin_addr.is_some(),
            storage,
            limits,
            query,
            graph,
            log_filter: args
                .log
                .clone()
                .or_else(|| file.log.filter.clone())
                .unwrap_or_else(|| "info".to_owned()),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let l = &self.limits;
        if l.max_request_bytes == 0 || l.max_decompressed_bytes == 0 {
            bail!("ingest limits must be greater than zero");
        }
        if l.max_decompressed_bytes < l.max_request_bytes {
            bail!(
                "max_decompressed_bytes ({}) must be at least max_request_bytes ({})",
                l.max_decompressed_bytes,
                l.max_request_bytes
            );
        }
        if l.max_inflight_bytes < l.max_decompressed_bytes {
            bail!(
                "max_inflight_bytes ({}) must be at least max_decompressed_bytes ({})",
                l.max_inflight_bytes,
                l.max_decompressed_bytes
            );
        }
        let q = &self.query;
        if q.timeout.is_zero()
            || q.memory_limit_bytes == 0
            || q.max_concurrent_queries == 0
            || q.max_result_bytes == 0
        {
            bail!("query limits must be greater than zero");
        }
        let g = &self.graph;
        if g.max_pending == 0 || g.max_series_per_minute == 0 {
            bail!("graph max_pending and max_series_per_minute must be greater than zero");
        }
        if g.pairing_window > Duration::from_secs(86_400)
            || g.lateness > Duration::from_secs(86_400)
        {
            bail!("graph pairing_window and lateness must be at most one day");
        }
        let s = &self.storage;
        if s.flush_max_bytes == 0
            || s.row_group_rows == 0
            || s.wal_segment_bytes == 0
            || s.flush_threads == 0
        {
            bail!("storage sizes and flush_threads must be greater than zero");
        }
        if s.compaction_min_files < 2 {
            bail!("compaction_min_files must be at least 2");
        }
        if s.retention_age.is_some_and(|age| age.is_zero()) {
            bail!("retention_age must be greater than zero (leave it out to keep every file)");
        }
        if s.retention_max_bytes == Some(0) {
            bail!("retention_max_bytes must be greater than zero (leave it out for no limit)");
        }
        let deletes = s.compaction_target_bytes > 0
            || s.retention_age.is_some()
            || s.retention_max_bytes.is_some();
        if deletes && s.compaction_grace < q.timeout {
            bail!(
                "compaction_grace ({:?}) must be at least the query timeout ({:?}): a query may read a merged-away or expired file until it ends",
                s.compaction_grace,
                q.timeout
            );
        }
        if s.head_limit_bytes < s.flush_max_bytes {
            bail!(
                "head_limit_bytes ({}) must be at least flush_max_bytes ({})",
                s.head_limit_bytes,
                s.flush_max_bytes
            );
        }
        Ok(())
    }
}

/// Parses durations such as `250ms`, `30s`, `5m`, `1h`, `14d`.
/// A listen address, or `off` for none.
pub fn parse_listen(text: &str) -> anyhow::Result<Option<SocketAddr>> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .with_context(|| format!("{text:?} is neither an address such as 127.0.0.1:9411 nor off"))
}

pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().with_context(|| {
        format!("invalid duration {text:?}: expected e.g. 250ms, 30s, 5m, 1h, 14d")
    })?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => bail!("invalid duration unit {other:?} in {text:?}: use ms, s, m, h or d"),
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        bail!("duration {text:?} is out of range");
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = Config::merge(&ServeArgs::default(), &FileConfig::default()).expect("config");
        assert_eq!(config.otlp_grpc_addr.to_string(), DEFAULT_OTLP_GRPC_ADDR);
        assert_eq!(config.otlp_http_addr.to_string(), DEFAULT_OTLP_HTTP_ADDR);
        assert_eq!(config.http_addr.to_string(), DEFAULT_HTTP_ADDR);
        assert_eq!(
            config.zipkin_addr.map(|a| a.to_string()).as_deref(),
            Some(DEFAULT_ZIPKIN_ADDR)
        );
        assert_eq!(config.storage.data_dir, PathBuf::from("./data"));
        assert_eq!(config.storage.wal_sync, SyncPolicy::Always);
    }

    #[test]
    fn flags_win_over_file() {
        let file = FileConfig::parse(
            r#"
            [server]
            otlp_grpc_addr = "0.0.0.0:5317"
            http_addr = "0.0.0.0:17686"
            zipkin_addr = "0.0.0.0:9412"
            data_dir = "/var/lib/meshscope"
            [storage]
            wal_sync = "never"
            flush_max_age = "30s"
            "#,
        )
        .expect("parse");
        let args = ServeArgs {
            http_addr: Some("127.0.0.1:0".parse().expect("addr")),
            flush_max_age: Some("2m".into()),
            ..Default::default()
        };
        let config = Config::merge(&args, &file).expect("config");
        assert_eq!(config.otlp_grpc_addr.to_string(), "0.0.0.0:5317");
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:0");
        assert_eq!(
            config.zipkin_addr,
            Some("0.0.0.0:9412".parse().expect("addr"))
        );
        assert_eq!(config.storage.data_dir, PathBuf::from("/var/lib/meshscope"));
        assert_eq!(config.storage.wal_sync, SyncPolicy::Never);
        assert_eq!(config.storage.flush_max_age, Duration::from_secs(120));
        assert_eq!(config.query, QueryConfig::default());
        let file = FileConfig::parse("[query]\ntimeout = \"5s\"\nmemory_limit_bytes = 1000\n")
            .expect("parse");
        let args = ServeArgs {
            query_timeout: Some("250ms".into()),
            ..Default::default()
        };
        let config = Config::merge(&args, &file).expect("config");
        assert_eq!(config.query.timeout, Duration::from_millis(250));
        assert_eq!(config.query.memory_limit_bytes, 1000);
    }

    #[test]
    fn rejects_bad_files_and_values() {
        let err = FileConfig::parse("[server]\nport = 1\n").expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `port`"), "{err}");
        let file = FileConfig::parse("[storage]\nwal_sync = \"sometimes\"\n").expect("parse");
        let err = Config::merge(&ServeArgs::default(), &file).expect_err("bad policy");
        assert!(err.to_string().starts_with("wal_sync:"), "{err}");
        let file =
            FileConfig::parse("[ingest]\nmax_request_bytes = 100\nmax_decompressed_bytes = 10\n")
                .expect("parse");
        assert!(Config::merge(&ServeArgs::default(), &file).is_err());
    }

    #[test]
    fn the_zipkin_receiver_can_be_turned_off_or_moved() {
        let off = ServeArgs {
            zipkin_addr: Some("off".into()),
            ..Default::default()
        };
        let file = FileConfig::parse("[server]\nzipkin_addr = \"127.0.0.1:1\"\n").expect("parse");
        assert_eq!(
            Config::merge(&off, &file).expect("config").zipkin_addr,
            None
        );
        let moved = Config::merge(&ServeArgs::default(), &file).expect("config");
        assert!(moved.zipkin_addr_configured);
        let default = Config::merge(&ServeArgs::default(), &FileConfig::default()).expect("config");
        assert!(!default.zipkin_addr_configured);
        assert_eq!(
            moved.zipkin_addr,
            Some("127.0.0.1:1".parse().expect("addr"))
        );
        let bad = ServeArgs {
            zipkin_addr: Some("9411".into()),
            ..Default::default()
        };
        let err = Config::merge(&bad, &FileConfig::default()).expect_err("no host");
        assert!(format!("{err:#}").contains("neither an address"), "{err:#}");
    }

    #[test]
    fn compaction_settings_come_from_file_and_flags() {
        let file = FileConfig::parse(
            "[storage]\ncompaction_target_bytes = 1000000\ncompaction_min_files = 4\ncompaction_grace = \"10m\"\n",
        )
        .expect("parse");
        let config = Config::merge(&ServeArgs::default(), &file).expect("config");
        assert_eq!(config.storage.compaction_target_bytes, 1_000_000);
        assert_eq!(config.storage.compaction_min_files, 4);
        assert_eq!(config.storage.compaction_grace, Duration::from_secs(600));
        let args = ServeArgs {
            compaction_target_bytes: Some(0),
            ..Default::default()
        };
        let config = Config::merge(&args, &file).expect("config");
        assert_eq!(config.storage.compaction_target_bytes, 0, "0 turns it off");

        let too_short = ServeArgs {
            compaction_grace: Some("1s".into()),
            query_timeout: Some("30s".into()),
            ..Default::default()
        };
        let err = Config::merge(&too_short, &FileConfig::default()).expect_err("grace < timeout");
        assert!(err.to_string().contains("compaction_grace"), "{err}");
        let one_file = ServeArgs {
            compaction_min_files: Some(1),
            ..Default::default()
        };
        assert!(Config::merge(&one_file, &FileConfig::default()).is_err());
    }

    #[test]
    fn retention_comes_from_file_and_flags_and_is_off_by_default() {
        let config = Config::merge(&ServeArgs::default(), &FileConfig::default()).expect("config");
        assert_eq!(config.storage.retention_age, None);
        assert_eq!(config.storage.retention_max_bytes, None);
        let file = FileConfig::parse(
            "[storage]\nretention_age = \"14d\"\nretention_max_bytes = 500000000000\n",
        )
        .expect("parse");
        let config = Config::merge(&ServeArgs::default(), &file).expect("config");
        assert_eq!(
            config.storage.retention_age,
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(config.storage.retention_max_bytes, Some(500_000_000_000));
        let args = ServeArgs {
            retention_age: Some("72h".into()),
            retention_max_bytes: Some(1 << 30),
            ..Default::default()
        };
        let config = Config::merge(&args, &file).expect("config");
        assert_eq!(
            config.storage.retention_age,
            Some(Duration::from_secs(72 * 3600))
        );
        assert_eq!(config.storage.retention_max_bytes, Some(1 << 30));

        for (args, expect) in [
            (
                ServeArgs {
                    retention_age: Some("0s".into()),
                    ..Default::default()
                },
                "retention_age",
            ),
            (
                ServeArgs {
                    retention_max_bytes: Some(0),
                    ..Default::default()
                },
                "retention_max_bytes",
            ),
            (
                // retention deletes files a query may still read, as compaction does
                ServeArgs {
                    retention_age: Some("1d".into()),
                    compaction_target_bytes: Some(0),
                    compaction_grace: Some("1s".into()),
                    query_timeout: Some("30s".into()),
                    ..Default::default()
                },
                "compaction_grace",
            ),
        ] {
            let err = Config::merge(&args, &FileConfig::default()).expect_err(expect);
            assert!(err.to_string().contains(expect), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("250ms").expect("ms"),
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("5m").expect("m"), Duration::from_secs(300));
        assert_eq!(
            parse_duration("1.5s").expect("s"),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_duration("14d").expect("d"),
            Duration::from_secs(14 * 86_400)
        );
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../deploy/meshscope.example.toml");
        let file = FileConfig::parse(text).expect("example parses");
        Config::merge(&ServeArgs::default(), &file).expect("example validates");
    }
}
