"""Fixtures: a real meshscope server on free ports over a temporary data directory."""

import os
import pathlib
import re
import signal
import subprocess
import threading

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def binary() -> str:
    path = os.environ.get("MESHSCOPE_BIN") or str(REPO / "target" / "debug" / "meshscope")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not found: build it with `cargo build -p meshscope` first")
    return path


class Server:
    def __init__(self, data_dir: pathlib.Path):
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [
                binary(),
                "--otlp-grpc-addr", "127.0.0.1:0",
                "--otlp-http-addr", "127.0.0.1:0",
                "--http-addr", "127.0.0.1:0",
                "--zipkin-addr", "127.0.0.1:0",
                "--data-dir", str(data_dir),
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "MESHSCOPE_LOG": "info", "NO_COLOR": "1"},
        )
        self.log = []
        for line in self.proc.stderr:
            self.log.append(line)
            if "meshscope listening" in line:
                line = re.sub(r"\x1b\[[0-9;]*m", "", line)
                fields = dict(re.findall(r"(\w+)=(\S+)", line))
                self.otlp_grpc = fields["otlp_grpc"]
                self.otlp_http = fields["otlp_http"]
                self.http = fields["http"]
                self.zipkin = fields["zipkin"]
                break
        else:
            raise RuntimeError("meshscope exited before listening:\n" + "".join(self.log))
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()

    def stop(self) -> int:
        """SIGTERM: graceful shutdown flushes the head to Parquet."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data")
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()
