//! Run counters and the end-of-run report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Counters shared by the generator thread and the senders.
#[derive(Debug, Default)]
pub struct Stats {
    pub spans_generated: AtomicU64,
    pub spans_sent: AtomicU64,
    pub spans_acked: AtomicU64,
    pub spans_rejected: AtomicU64,
    pub spans_failed: AtomicU64,
    pub requests: AtomicU64,
    pub requests_retried: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Request body bytes produced by the generator (or read for a replay).
    pub bytes_generated: AtomicU64,
    pub payloads_written: AtomicU64,
    /// Time the generator thread spent generating and encoding (not pacing or waiting).
    pub generation_nanos: AtomicU64,
    rejected_by_reason: Mutex<BTreeMap<String, u64>>,
    failed_by_reason: Mutex<BTreeMap<String, u64>>,
    latencies_us: Mutex<Vec<u32>>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, reason: &str, n: u64) {
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    *m.entry(reason.to_string()).or_default() += n;
}

impl Stats {
    pub(crate) fn reject(&self, reason: &str, spans: u64) {
        if spans == 0 {
            return;
        }
        self.spans_rejected.fetch_add(spans, Relaxed);
        bump(&self.rejected_by_reason, reason, spans);
    }

    pub(crate) fn fail(&self, reason: &str, spans: u64) {
        self.spans_failed.fetch_add(spans, Relaxed);
        bump(&self.failed_by_reason, reason, spans);
    }

    pub(crate) fn latency(&self, d: Duration) {
        let us = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(us);
    }

    /// A consistent-enough copy of the counters at `elapsed`.
    pub fn snapshot(&self, elapsed: Duration) -> Report {
        let mut lat = self
            .latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let idx = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
            f64::from(lat[idx]) / 1000.0
        };
        let secs = elapsed.as_secs_f64().max(1e-9);
        let acked = self.spans_acked.load(Relaxed);
        let generated = self.spans_generated.load(Relaxed);
        let gen_secs = self.generation_nanos.load(Relaxed) as f64 / 1e9;
        Report {
            elapsed_seconds: elapsed.as_secs_f64(),
            spans_generated: generated,
            spans_sent: self.spans_sent.load(Relaxed),
            spans_acked: acked,
            spans_rejected: self.spans_rejected.load(Relaxed),
            rejected_by_reason: self
                .rejected_by_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            spans_failed: self.spans_failed.load(Relaxed),
            failed_by_reason: self
                .failed_by_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            requests: self.requests.load(Relaxed),
            requests_retried: self.requests_retried.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_generated: self.bytes_generated.load(Relaxed),
            payloads_written: self.payloads_written.load(Relaxed),
            acked_spans_per_second: acked as f64 / secs,
            generation_seconds: gen_secs,
            generation_spans_per_second: if gen_secs > 0.0 {
                generated as f64 / gen_secs
            } else {
                0.0
            },
            latency_p50_ms: pct(0.50),
            latency_p99_ms: pct(0.99),
            latency_max_ms: lat.last().map_or(0.0, |&v| f64::from(v) / 1000.0),
        }
    }
}

/// The numbers of a run. Field names are the stable keys of `--report-json` (see
/// [`Report::to_json`] and the crate docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub elapsed_seconds: f64,
    pub spans_generated: u64,
    pub spans_sent: u64,
    pub spans_acked: u64,
    pub spans_rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub spans_failed: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    pub requests: u64,
    pub requests_retried: u64,
    pub bytes_sent: u64,
    pub bytes_generated: u64,
    pub payloads_written: u64,
    pub acked_spans_per_second: f64,
    pub generation_seconds: f64,
    pub generation_spans_per_second: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
}

/// Identifies the run in the JSON report.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub mode: &'static str,
    pub protocol: String,
    pub compression: String,
    pub endpoint: String,
    pub seed: Option<u64>,
    pub batch_spans: usize,
    pub concurrency: usize,
    pub rate: f64,
}

impl Report {
    /// The `--report-json` document (`"schema": "meshscope-loadgen-report/v1"`).
    pub fn to_json(&self, run: &RunInfo) -> serde_json::Value {
        serde_json::json!({
            "schema": "meshscope-loadgen-report/v1",
            "mode": run.mode,
            "protocol": run.protocol,
            "compression": run.compression,
            "endpoint": run.endpoint,
            "seed": run.seed,
            "batch_spans": run.batch_spans,
            "concurrency": run.concurrency,
            "rate_limit_spans_per_second": run.rate,
            "elapsed_seconds": self.elapsed_seconds,
            "spans_generated": self.spans_generated,
            "spans_sent": self.spans_sent,
            "spans_acked": self.spans_acked,
            "spans_rejected": self.spans_rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "spans_failed": self.spans_failed,
            "failed_by_reason": self.failed_by_reason,
            "requests": self.requests,
            "requests_retried": self.requests_retried,
            "bytes_sent": self.bytes_sent,
            "bytes_generated": self.bytes_generated,
            "payloads_written": self.payloads_written,
            "acked_spans_per_second": self.acked_spans_per_second,
            "generation_seconds": self.generation_seconds,
            "generation_spans_per_second": self.generation_spans_per_second,
            "latency_ms": {
                "p50": self.latency_p50_ms,
                "p99": self.latency_p99_ms,
                "max": self.latency_max_ms,
            },
        })
    }

    /// The human summary printed on stderr.
    pub fn summary(&self, run: &RunInfo) -> String {
        let reasons = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(" ({})", parts.join(", "))
            }
        };
        format!(
            "meshscope-loadgen {mode}: {proto} {endpoint} compression={comp} in {secs:.2}s\n\
             \x20 spans     generated {gen}  sent {sent}  acked {acked}  rejected {rej}{rejr}  failed {failed}{failr}\n\
             \x20 requests  {req} (retried {retried})  latency p50 {p50:.2} ms  p99 {p99:.2} ms  max {max:.2} ms\n\
             \x20 rate      {tput:.0} acked spans/s  {bytes} bytes sent\n\
             \x20 generator {genrate:.0} spans/s while busy ({gsecs:.2}s busy), {gbytes} body bytes, {written} payloads written\n",
            mode = run.mode,
            proto = run.protocol,
            endpoint = run.endpoint,
            comp = run.compression,
            secs = self.elapsed_seconds,
            gen = self.spans_generated,
            sent = self.spans_sent,
            acked = self.spans_acked,
            rej = self.spans_rejected,
            rejr = reasons(&self.rejected_by_reason),
            failed = self.spans_failed,
            failr = reasons(&self.failed_by_reason),
            req = self.requests,
            retried = self.requests_retried,
            p50 = self.latency_p50_ms,
            p99 = self.latency_p99_ms,
            max = self.latency_max_ms,
            tput = self.acked_spans_per_second,
            bytes = self.bytes_sent,
            written = self.payloads_written,
            genrate = self.generation_spans_per_second,
            gsecs = self.generation_seconds,
            gbytes = self.bytes_generated,
        )
    }

    /// One `--progress` line.
    pub fn progress_line(&self) -> String {
        format!(
            "[{:>7.1}s] generated {} sent {} acked {} rejected {} failed {} retried {} | {:.0} acked spans/s, p99 {:.1} ms",
            self.elapsed_seconds,
            self.spans_generated,
            self.spans_sent,
            self.spans_acked,
            self.spans_rejected,
            self.spans_failed,
            self.requests_retried,
            self.acked_spans_per_second,
            self.latency_p99_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_json_keys_are_stable() {
        let s = Stats::default();
        for ms in 1..=100u64 {
            s.latency(Duration::from_millis(ms));
        }
        s.spans_acked.store(500, Relaxed);
        s.reject("http_400", 10);
        let r = s.snapshot(Duration::from_secs(2));
        assert_eq!(r.latency_p50_ms, 50.0);
        assert_eq!(r.latency_p99_ms, 99.0);
        assert_eq!(r.acked_spans_per_second, 250.0);
        let v = r.to_json(&RunInfo::default());
        let mut keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "acked_spans_per_second",
                "batch_spans",
                "bytes_generated",
                "bytes_sent",
                "compression",
                "concurrency",
                "elapsed_seconds",
                "endpoint",
                "failed_by_reason",
                "generation_seconds",
                "generation_spans_per_second",
                "latency_ms",
                "mode",
                "payloads_written",
                "protocol",
                "rate_limit_spans_per_second",
                "rejected_by_reason",
                "requests",
                "requests_retried",
                "schema",
                "seed",
                "spans_acked",
                "spans_failed",
                "spans_generated",
                "spans_rejected",
                "spans_sent",
            ]
        );
        assert_eq!(v["rejected_by_reason"]["http_400"], 10);
    }
}
