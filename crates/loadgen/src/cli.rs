//! Command-line arguments, parsed raw by clap and validated into a [`RunConfig`].

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::error::{Error, Result};
use crate::generator::{GeneratorConfig, TimeBase};
use crate::payload::{Compression, Manifest, Protocol};
use crate::run::{Limit, RunConfig};
use crate::topology::{MAX_SERVICES, MIN_SERVICES};

/// Deterministic service-mesh OTLP trace load generator.
#[derive(Debug, Clone, Parser)]
#[command(name = "meshscope-loadgen", version, about, long_about = None)]
pub struct Args {
    /// OTLP endpoint [default: http://127.0.0.1:4317 for grpc, http://127.0.0.1:4318 for
    /// http-*, http://127.0.0.1:9411 for zipkin-json]. HTTP requests go to
    /// <endpoint>/v1/traces (zipkin-json: <endpoint>/api/v2/spans).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// grpc, http-proto, http-json or zipkin-json [default: grpc, or the replayed payloads'
    /// protocol].
    #[arg(long)]
    pub protocol: Option<Protocol>,
    /// none or gzip [default: none, or the replayed payloads' compression].
    #[arg(long)]
    pub compression: Option<Compression>,
    /// Extra HTTP header / gRPC metadata, `key=value` (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Spans per request.
    #[arg(long, default_value_t = 1000)]
    pub batch_spans: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Spans per second offered, 0 = as fast as the server takes them.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Total spans to generate [default: 100000 unless --duration is given].
    #[arg(long, conflicts_with = "duration")]
    pub spans: Option<u64>,
    /// How long to generate, e.g. 30s, 2m, 500ms.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the topology walk, latencies, errors and ids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Services in the simulated mesh (4..=200).
    #[arg(long, default_value_t = 12)]
    pub services: usize,
    /// Trace templates pre-generated per seed.
    #[arg(long, default_value_t = 128)]
    pub templates: usize,
    /// Fraction of traces carrying an error.
    #[arg(long, default_value_t = 0.02)]
    pub error_ratio: f64,
    /// Fixed start time (Unix seconds) of the first trace: makes bodies a pure function of
    /// the options. Without it, traces end at the current wall-clock time.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub base_time: Option<u64>,
    /// Retries of one batch on retryable errors.
    #[arg(long, default_value_t = 10)]
    pub max_retries: u32,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Print a progress line on stderr every --progress-interval.
    #[arg(long)]
    pub progress: bool,
    /// How often --progress prints.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub progress_interval: Duration,
    /// Write the final report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Write every request body to DIR/000001.bin, ... (plus DIR/manifest.json).
    #[arg(long, value_name = "DIR")]
    pub write_payloads: Option<PathBuf>,
    /// Generate (and write, with --write-payloads) without sending.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the payload files of DIR as they are instead of generating.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["dry_run", "write_payloads", "spans", "duration"])]
    pub replay: Option<PathBuf>,
    /// Print the simulated topology and exit.
    #[arg(long)]
    pub print_topology: bool,
}

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

impl Args {
    /// Validates the arguments into a run configuration.
    pub fn to_config(&self) -> Result<RunConfig> {
        let manifest = match &self.replay {
            Some(dir) => Manifest::read(dir)?,
            None => None,
        };
        let protocol = match (self.protocol, &manifest) {
            (Some(p), Some(m)) if p != m.protocol => {
                return Err(Error::Config(format!(
                    "--protocol {p} but the payloads are {}",
                    m.protocol
                )));
            }
            (Some(p), _) => p,
            (None, Some(m)) => m.protocol,
            (None, None) => Protocol::Grpc,
        };
        let compression = match (self.compression, &manifest) {
            (Some(c), Some(m)) if c != m.compression => {
                return Err(Error::Config(format!(
                    "--compression {c} but the payloads are {}",
                    m.compression
                )));
            }
            (Some(c), _) => c,
            (None, Some(m)) => m.compression,
            (None, None) => Compression::None,
        };
        let mut headers = vec![];
        for h in &self.headers {
            let (k, v) = h
                .split_once('=')
                .ok_or_else(|| Error::Config(format!("header {h:?} is not key=value")))?;
            if k.trim().is_empty() {
                return Err(Error::Config(format!("header {h:?} has an empty key")));
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if !(MIN_SERVICES..=MAX_SERVICES).contains(&self.services) {
            return Err(Error::Config(format!(
                "--services must be within {MIN_SERVICES}..={MAX_SERVICES}"
            )));
        }
        let limit = match (self.spans, self.duration) {
            (_, Some(d)) => Limit::Duration(d),
            (Some(n), None) => Limit::Spans(n),
            (None, None) => Limit::Spans(100_000),
        };
        let time_base = match self.base_time {
            Some(secs) => TimeBase::Fixed {
                unix_nanos: secs
                    .checked_mul(1_000_000_000)
                    .ok_or_else(|| Error::Config("--base-time too large".into()))?,
            },
            None => TimeBase::Wall,
        };
        if let Some(secs) = self.base_time {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if secs > now + 86_400 {
                tracing::warn!(
                    base_time = secs,
                    "--base-time is more than a day in the future"
                );
            }
        }
        Ok(RunConfig {
            endpoint: self
                .endpoint
                .clone()
                .unwrap_or_else(|| protocol.default_endpoint().to_string()),
            protocol,
            compression,
            headers,
            batch_spans: self.batch_spans,
            concurrency: self.concurrency,
            rate: self.rate,
            limit,
            generator: GeneratorConfig {
                seed: self.seed,
                services: self.services,
                templates: self.templates,
                error_ratio: self.error_ratio,
                time_base,
                mean_trace_gap_nanos: 1_000_000,
            },
            max_retries: self.max_retries,
            timeout: self.timeout,
            write_payloads: self.write_payloads.clone(),
            dry_run: self.dry_run,
            replay: self.replay.clone(),
            progress: self.progress.then_some(self.progress_interval),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("meshscope-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_and_flags_map_to_the_config() {
        let c = parse(&[]).expect("parses").to_config().expect("valid");
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.endpoint, "http://127.0.0.1:4317");
        assert_eq!(c.batch_spans, 1000);
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.max_retries, 10);
        assert_eq!(c.limit, Limit::Spans(100_000));
        assert_eq!(c.generator.time_base, TimeBase::Wall);

        let c = parse(&[
            "--protocol",
            "http-json",
            "--compression",
            "gzip",
            "--header",
            "x-tenant=acme",
            "--header",
            "authorization=Bearer a=b",
            "--duration",
            "30s",
            "--seed",
            "7",
            "--base-time",
            "1700000000",
            "--rate",
            "5000",
        ])
        .expect("parses")
        .to_config()
        .expect("valid");
        assert_eq!(c.endpoint, "http://127.0.0.1:4318");
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(
            c.headers,
            vec![
                ("x-tenant".into(), "acme".into()),
                ("authorization".into(), "Bearer a=b".into())
            ]
        );
        assert_eq!(c.limit, Limit::Duration(Duration::from_secs(30)));
        assert_eq!(
            c.generator.time_base,
            TimeBase::Fixed {
                unix_nanos: 1_700_000_000_000_000_000
            }
        );

        assert!(parse(&["--spans", "5", "--duration", "1s"]).is_err());
        assert!(parse(&["--protocol", "thrift"]).is_err());
        assert!(
            parse(&["--header", "novalue"])
                .expect("parses")
                .to_config()
                .is_err()
        );
        assert!(
            parse(&["--services", "2"])
                .expect("parses")
                .to_config()
                .is_err()
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("").is_err());
    }
}
