//! What meshscope's benchmark harnesses share: a release `meshscope` started on a data
//! directory with every listener on a free port, its CPU time and peak RSS from `/proc`, and
//! the bytes a table takes on disk. It knows nothing of what the harnesses send.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// A `meshscope` server process and the addresses it listens on.
pub struct Server {
    child: Child,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub http: SocketAddr,
    pub zipkin: SocketAddr,
}

impl Server {
    /// Starts `bin` on `data` with `extra` flags and waits until it listens.
    pub fn start(bin: &Path, data: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args([
                "--otlp-grpc-addr",
                "127.0.0.1:0",
                "--otlp-http-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--zipkin-addr",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data)
            .args(extra)
            .env("MESHSCOPE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let (otlp_grpc, otlp_http, http, zipkin) = loop {
            let Some(line) = lines.next() else {
                bail!("meshscope exited before listening");
            };
            let line = line?;
            if line.contains("meshscope listening") {
                let field = |name: &str| -> anyhow::Result<SocketAddr> {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(name))
                        .with_context(|| format!("{name} in {line}"))?
                        .parse()
                        .context("address")
                };
                break (
                    field("otlp_grpc=")?,
                    field("otlp_http=")?,
                    field("http=")?,
                    field("zipkin=")?,
                );
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            otlp_grpc,
            otlp_http,
            http,
            zipkin,
        })
    }

    /// (user + system CPU seconds, peak RSS bytes) of the server process so far.
    pub fn usage(&self) -> anyhow::Result<(f64, u64)> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let after_comm = stat.rsplit_once(')').map(|(_, s)| s).context("stat")?;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat; after the comm they are 12 and 13.
        let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
            + fields.get(12).context("stime")?.parse::<u64>()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let hwm_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmHWM")?;
        Ok((ticks as f64 / 100.0, hwm_kb * 1024))
    }

    /// Waits until the work a load leaves behind (the last flushes, compaction, the graph's
    /// closing minutes) has ended, so queries are timed against a server at rest: until the
    /// server's CPU time grows by less than a tenth of a core over a second, or `limit` has
    /// passed. Returns how long it waited.
    pub fn settle(&self, limit: std::time::Duration) -> anyhow::Result<std::time::Duration> {
        let started = std::time::Instant::now();
        let mut before = self.usage()?.0;
        while started.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let now = self.usage()?.0;
            if now - before < 0.1 {
                break;
            }
            before = now;
        }
        Ok(started.elapsed())
    }

    /// SIGTERM and wait: the server flushes its head to Parquet and exits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let exit = self.child.wait()?;
        if !exit.success() {
            bail!("meshscope exited with {exit}");
        }
        Ok(())
    }
}

/// Bytes of the files under `dir`, recursively (0 when it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
