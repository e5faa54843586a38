"""The Python OpenTelemetry SDK's exporters (OTLP gRPC and HTTP/protobuf, Zipkin JSON) against meshscope.

Spans go in through the real exporters; the server is stopped gracefully (flushing to
Parquet) and the files are read back with pyarrow, a Parquet reader meshscope did not write.
"""

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from sdk_spans import check_zipkin, emit


def read_spans(data_dir: pathlib.Path):
    files = sorted((data_dir / "spans").glob("date=*/hour=*/*.parquet"))
    assert files, "no parquet files written"
    rows = []
    for f in files:
        t = pq.read_table(f)
        # Python datetimes stop at microseconds: compare nanosecond times as integers.
        rows.extend(t.cast(pa.schema([pa.field(x.name, ns_as_int(x.type), x.nullable) for x in t.schema])).to_pylist())
    return rows


def ns_as_int(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, ns_as_int(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, ns_as_int(f.type), f.nullable) for f in t])
    return t


def check(rows, service: str, ids: dict):
    by_id = {r["span_id"]: r for r in rows if r["service_name"] == service}
    assert set(by_id) == {ids["parent"], ids["child"]}, by_id.keys()
    parent, child = by_id[ids["parent"]], by_id[ids["child"]]
    assert parent["trace_id"] == ids["trace"]
    assert parent["name"] == "POST /checkout"
    assert parent["kind"] == "server"
    assert parent["status_code"] == "error"
    assert parent["status_message"] == "bad cart"
    assert parent["parent_span_id"] == ""
    assert parent["http_method"] == "POST"
    assert parent["http_status_code"] == 500
    assert parent["http_route"] == "/checkout"
    assert parent["k8s_pod"] == f"{service}-7d9f"
    assert parent["deployment_environment"] == "prod"
    assert parent["scope_name"] == "py-interop"
    assert parent["scope_version"] == "2.1.0"
    attrs = dict(parent["attributes"])
    assert attrs["retry.count"] == "3"
    assert attrs["ratio"] == "0.5"
    assert attrs["feature.enabled"] == "true"
    assert attrs["tags"] == '["a","b"]'
    types = dict(parent["attribute_types"])
    assert types == {"http.status_code": "int", "retry.count": "int", "ratio": "double", "feature.enabled": "bool", "tags": "array"}
    resource = dict(parent["resource_attributes"])
    assert resource["service.name"] == service
    assert resource["telemetry.sdk.language"] == "python"
    [event] = parent["events"]
    assert event["name"] == "exception"
    assert '"exception.message":"bad cart"' in event["attributes"]
    [link] = parent["links"]
    assert link["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert link["span_id"] == "b7ad6b7169203331"
    assert link["attributes"] == '{"link.kind":"follows"}'
    # files store start_time and duration_ns; end_time is computed from them by readers
    assert "end_time" not in parent
    for row, (start, end) in ((parent, ids["parent_times"]), (child, ids["child_times"])):
        assert (row["start_time"], row["start_time"] + row["duration_ns"]) == (start, end)
    assert child["parent_span_id"] == ids["parent"]
    assert child["trace_id"] == ids["trace"]
    assert child["kind"] == "client"
    assert child["rpc_system"] == "grpc"
    assert child["rpc_service"] == "Payments"
    assert child["rpc_method"] == "Charge"


def test_python_sdk_grpc_and_http_exporters(server):
    grpc_ids = emit(GrpcExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True), "py-grpc")
    http_ids = emit(HttpExporter(endpoint=f"http://{server.otlp_http}/v1/traces"), "py-http")
    assert server.stop() == 0, "".join(server.log)
    rows = read_spans(server.data_dir)
    check(rows, "py-grpc", grpc_ids)
    check(rows, "py-http", http_ids)


def test_python_sdk_zipkin_json_exporter(server):
    """Zipkin v2 JSON from the SDK's Zipkin exporter: what Zipkin can carry arrives."""
    ids = emit(ZipkinExporter(endpoint=f"http://{server.zipkin}/api/v2/spans"), "py-zipkin")
    assert server.stop() == 0, "".join(server.log)
    check_zipkin(read_spans(server.data_dir), "py-zipkin", ids)
