//! Durability: `kill -9` the real binary under load; every acknowledged span survives, once.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use tokio::sync::Mutex;

use crate::common::*;

struct Process {
    child: Child,
    otlp_http: SocketAddr,
}

/// Starts the `meshscope` binary on free ports and waits for its "listening" log line.
fn spawn(dir: &Path, extra: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshscope"))
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
        .arg(dir)
        .args(extra)
        .env("MESHSCOPE_LOG", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meshscope");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let otlp_http = loop {
        let line = lines
            .next()
            .expect("meshscope exited before listening")
            .expect("read stderr");
        if line.contains("meshscope listening") {
            let field = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("otlp_http="))
                .expect("otlp_http= in the listening line");
            break field.parse().expect("address");
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Process { child, otlp_http }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small flushes so that Parquet files are written (and WAL segments truncated) during the
    // load, and merges of every two of them with a short grace, so that files are merged and
    // deleted while it runs: the kill can land anywhere in either protocol.
    let mut process = spawn(
        dir.path(),
        &[
            "--flush-max-bytes",
            "400000",
            "--flush-max-age",
            "1s",
            "--compaction-min-files",
            "2",
            "--query-timeout",
            "1s",
            "--compaction-grace",
            "1s",
        ],
    );
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (acked, next, client) = (Arc::clone(&acked), Arc::clone(&next), client.clone());
        let url = format!("http://{}/v1/traces", process.otlp_http);
        senders.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(100, Ordering::Relaxed);
                let ids: Vec<u64> = (first..first + 100).collect();
                let body =
                    request("crash", ids.iter().copied().map(span).collect()).encode_to_vec();
                let sent = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => acked.lock().await.extend(ids),
                    Ok(r) if r.status().as_u16() == 503 => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The server was killed: stop sending.
                    Err(_) => return,
                }
            }
        }));
    }
    // Let several flushes happen, then kill without warning.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if acked.lock().await.len() >= 30_000 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    process.child.kill().expect("kill -9");
    process.child.wait().expect("reaped");
    for s in senders {
        s.await.expect("sender");
    }
    let acked: HashSet<String> = acked.lock().await.iter().map(|n| span_hex(*n)).collect();
    assert!(acked.len() >= 30_000);

    // Read back with the project's own code: WAL replay + Parquet files.
    let check = |rows: Vec<arrow::array::RecordBatch>, when: &str| {
        let stored = counts(strings(&rows, "span_id"));
        let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(
            duplicated.is_empty(),
            "{when}: spans stored twice: {duplicated:?}"
        );
        let missing: Vec<_> = acked
            .iter()
            .filter(|id| !stored.contains_key(*id))
            .take(5)
            .collect();
        assert!(
            missing.is_empty(),
            "{when}: acknowledged spans lost: {missing:?} (of {})",
            acked.len()
        );
    };
    assert!(
        parquet_files(&dir.path().join("spans"))
            .iter()
            .any(|file| names_replaced_files(file)),
        "merges ran during the load"
    );
    check(read_data_dir(dir.path()).await, "after kill -9");

    // Restart the binary on the same data, stop it gracefully (flush), check again.
    let mut process = spawn(dir.path(), &[]);
    let status = Command::new("kill")
        .args(["-TERM", &process.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = process.child.wait().expect("exit");
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    assert!(
        dir.path()
            .join("spans")
            .read_dir()
            .expect("spans dir")
            .next()
            .is_some(),
        "parquet partitions exist"
    );
    check(
        read_data_dir(dir.path()).await,
        "after restart and graceful stop",
    );
}

/// Every Parquet file under `dir`.
fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found
}

/// Whether a Parquet file is a merged one: its footer names the files it replaces.
fn names_replaced_files(path: &Path) -> bool {
    let bytes = std::fs::read(path).expect("read parquet file");
    bytes
        .windows(b"meshscope.replaces".len())
        .any(|w| w == b"meshscope.replaces")
}
