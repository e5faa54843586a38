"""Checks the report of a small `meshscope-bench` run: every figure is there and adds up."""

import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
spans = int(sys.argv[2])
report = json.loads((out / "latest.json").read_text())
table = (out / "latest.md").read_text()
run = report["runs"][0]
median = report["median"]

assert report["schema"] == "meshscope-bench/v1", report["schema"]
assert run["spans_acked"] == spans, f"acknowledged {run['spans_acked']} of {spans} spans"
for key in [
    "acked_spans_per_second",
    "server_cpu_seconds_per_million_spans",
    "peak_rss_bytes",
    "disk_bytes_per_span",
    "otlp_bytes_per_span",
    "request_latency_p50_ms",
]:
    assert median[key] > 0, f"{key} is {median[key]}"
assert run["parquet_files"] >= 1, "no Parquet file after the run"
# zstd Parquet holds a span in far fewer bytes than its OTLP protobuf
assert median["disk_bytes_per_span"] < median["otlp_bytes_per_span"] / 2, median
queries = median["queries"]
for name in ["ingest_to_queryable_lag", "trace_by_id", "search_service", "sql_aggregate", "dependencies", "red"]:
    matching = [k for k in queries if k.startswith(name)]
    assert matching, f"no {name} latency in {sorted(queries)}"
    for k in matching:
        assert queries[k]["p50_ms"] > 0, f"{k}: {queries[k]}"
assert "acknowledged spans/s" in table, table
print(f"harness report: {len(queries)} query latencies, "
      f"{median['disk_bytes_per_span']:.1f} bytes/span on disk")
