"""The Python OpenTelemetry SDK's OTLP metrics and logs exporters (gRPC and HTTP/protobuf)
against meshscope.

Metrics (counter, up-down counter, histogram with exemplars, observable gauge, exponential
histogram) and a log record emitted inside a span go in through the real exporters; the server
is stopped gracefully (flushing to Parquet) and the files are read back with pyarrow.
"""

import json
import pathlib
import urllib.request

import pyarrow as pa
import pyarrow.parquet as pq
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def emit_metrics(exporter, service: str) -> dict:
    """Records every instrument once; returns the ids of the span the histogram ran in."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create({"service.name": service})
    provider = MeterProvider(
        metric_readers=[reader],
        resource=resource,
        views=[View(instrument_name="py.size", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = provider.get_meter("py-metrics", "1.0.0")
    tracer = TracerProvider(resource=resource).get_tracer("py-exemplars")
    counter = meter.create_counter("py.requests", unit="1", description="requests served")
    counter.add(5, {"route": "/cart"})
    counter.add(7, {"route": "/cart"})
    inflight = meter.create_up_down_counter("py.inflight")
    inflight.add(3)
    inflight.add(-5)
    duration = meter.create_histogram("py.duration", unit="ms")
    with tracer.start_as_current_span("work") as span:
        # recorded inside a sampled span: the SDK keeps them as exemplars with its ids
        for v in (0.5, 1.5, 250.0):
            duration.record(v, {"route": "/cart"})
        ctx = span.get_span_context()
    meter.create_observable_gauge(
        "py.temperature", callbacks=[lambda options: [Observation(21.5, {"room": "a"})]]
    )
    size = meter.create_histogram("py.size")
    for v in (1.0, 2.0, 4.0, 1000.0):
        size.record(v)
    provider.shutdown()  # collects and exports once
    return {"trace": format(ctx.trace_id, "032x"), "span": format(ctx.span_id, "016x")}


def emit_log_in_span(span_exporter, log_exporter, service: str) -> dict:
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logger_provider.get_logger(f"py.app.{service}", "3.0.0")
    with tracer_provider.get_tracer("py-logs").start_as_current_span("checkout") as span:
        # emitted in the span's context: the SDK stamps the record with its ids
        logger.emit(
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body={"message": "payment declined", "order": 42, "tags": ["card", "retry"]},
            attributes={"order.id": 42, "retry": True},
            event_name="payment.failed",
        )
        ctx = span.get_span_context()
    logger_provider.shutdown()
    tracer_provider.shutdown()
    return {"trace": format(ctx.trace_id, "032x"), "span": format(ctx.span_id, "016x")}


def ns_as_int(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, ns_as_int(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, ns_as_int(f.type), f.nullable) for f in t])
    return t


def read_table(data_dir: pathlib.Path, table: str) -> list:
    files = sorted((data_dir / table).glob("date=*/hour=*/*.parquet"))
    assert files, f"no parquet files for {table}"
    rows = []
    for f in files:
        t = pq.read_table(f)
        rows.extend(t.cast(pa.schema([pa.field(x.name, ns_as_int(x.type), x.nullable) for x in t.schema])).to_pylist())
    return rows


def one(rows: list, **wanted) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in wanted.items())]
    assert len(found) == 1, (wanted, len(found))
    return found[0]


def check_metrics(data_dir: pathlib.Path, service: str, delta: bool, ids: dict):
    points = read_table(data_dir, "metric_points")
    requests = one(points, service_name=service, metric_name="py.requests")
    assert requests["metric_type"] == "sum"
    assert requests["is_monotonic"] is True
    assert requests["temporality"] == ("delta" if delta else "cumulative")
    assert requests["value_int"] == 12
    assert requests["value"] == 12.0
    assert requests["metric_unit"] == "1"
    assert requests["metric_description"] == "requests served"
    assert dict(requests["attributes"]) == {"route": "/cart"}
    assert requests["scope_name"] == "py-metrics"
    assert requests["scope_version"] == "1.0.0"
    assert dict(requests["resource_attributes"])["telemetry.sdk.language"] == "python"
    assert requests["start_time"] is not None and requests["start_time"] <= requests["time"]
    assert len(requests["series_id"]) == 16
    inflight = one(points, service_name=service, metric_name="py.inflight")
    assert inflight["is_monotonic"] is False
    assert inflight["value_int"] == -2
    gauge = one(points, service_name=service, metric_name="py.temperature")
    assert gauge["metric_type"] == "gauge"
    assert gauge["value"] == 21.5
    assert gauge["value_int"] is None
    assert dict(gauge["attributes"]) == {"room": "a"}

    histograms = read_table(data_dir, "metric_histograms")
    h = one(histograms, service_name=service, metric_name="py.duration")
    assert h["temporality"] == ("delta" if delta else "cumulative")
    assert h["count"] == 3
    assert h["sum"] == 252.0
    assert (h["min"], h["max"]) == (0.5, 250.0)
    assert len(h["bucket_counts"]) == len(h["explicit_bounds"]) + 1
    assert sum(h["bucket_counts"]) == 3
    assert h["bucket_counts"][h["explicit_bounds"].index(250.0)] == 1
    assert h["exemplars"], "exemplars recorded inside a span"
    for e in h["exemplars"]:
        assert e["trace_id"] == ids["trace"]
        assert e["span_id"] == ids["span"]
    assert sorted(e["value"] for e in h["exemplars"]) == [1.5, 250.0]

    exp = one(read_table(data_dir, "metric_exp_histograms"), service_name=service, metric_name="py.size")
    assert exp["count"] == 4
    assert exp["sum"] == 1007.0
    assert (exp["min"], exp["max"]) == (1.0, 1000.0)
    assert exp["zero_count"] + sum(exp["positive_bucket_counts"]) == 4
    assert -10 <= exp["scale"] <= 20


def check_log(data_dir: pathlib.Path, service: str, ids: dict):
    record = one(read_table(data_dir, "logs"), service_name=service)
    assert record["trace_id"] == ids["trace"]
    assert record["span_id"] == ids["span"]
    assert json.loads(record["body"]) == {"message": "payment declined", "order": 42, "tags": ["card", "retry"]}
    assert record["body_type"] == "map"
    assert record["event_name"] == "payment.failed"
    assert record["scope_version"] == "3.0.0"
    assert record["severity_number"] == 17
    assert record["severity_text"] == "ERROR"
    assert record["scope_name"] == f"py.app.{service}"
    attrs, types = dict(record["attributes"]), dict(record["attribute_types"])
    assert attrs["order.id"] == "42" and types["order.id"] == "int"
    assert attrs["retry"] == "true" and types["retry"] == "bool"
    spans = [s for s in read_table(data_dir, "spans") if s["trace_id"] == ids["trace"]]
    assert [s["span_id"] for s in spans] == [ids["span"]], "the log's span is stored"


def test_python_sdk_metrics_exporters(server):
    grpc_ids = emit_metrics(GrpcMetricExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True), "py-metrics-grpc")
    delta = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    http_ids = emit_metrics(
        HttpMetricExporter(endpoint=f"http://{server.otlp_http}/v1/metrics", preferred_temporality=delta),
        "py-metrics-http",
    )
    assert server.stop() == 0, "".join(server.log)
    check_metrics(server.data_dir, "py-metrics-grpc", False, grpc_ids)
    check_metrics(server.data_dir, "py-metrics-http", True, http_ids)


def test_python_sdk_log_inside_a_span(server):
    grpc_ids = emit_log_in_span(
        GrpcSpanExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True),
        GrpcLogExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True),
        "py-logs-grpc",
    )
    http_ids = emit_log_in_span(
        HttpSpanExporter(endpoint=f"http://{server.otlp_http}/v1/traces"),
        HttpLogExporter(endpoint=f"http://{server.otlp_http}/v1/logs"),
        "py-logs-http",
    )
    # the trace, with its logs, from the native API
    with urllib.request.urlopen(f"http://{server.http}/api/v1/traces/{grpc_ids['trace']}?logs=true") as r:
        trace = json.load(r)
    [record] = trace["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert record["spanId"] == grpc_ids["span"]
    assert record["body"]["kvlistValue"]["values"][1] == {"key": "order", "value": {"intValue": "42"}}
    assert record["eventName"] == "payment.failed"
    assert trace["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "checkout"
    assert server.stop() == 0, "".join(server.log)
    check_log(server.data_dir, "py-logs-grpc", grpc_ids)
    check_log(server.data_dir, "py-logs-http", http_ids)
