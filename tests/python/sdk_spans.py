"""Spans made by the Python OpenTelemetry SDK, the same for every exporter under test."""

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags


def emit(exporter, service: str) -> dict:
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "k8s.pod.name": f"{service}-7d9f", "deployment.environment.name": "prod"}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("py-interop", "2.1.0")
    linked = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
    ids = {}
    with tracer.start_as_current_span(
        "POST /checkout",
        kind=SpanKind.SERVER,
        attributes={
            "http.method": "POST",
            "http.status_code": 500,
            "http.route": "/checkout",
            "retry.count": 3,
            "ratio": 0.5,
            "feature.enabled": True,
            "tags": ["a", "b"],
        },
        links=[Link(linked, {"link.kind": "follows"})],
    ) as parent:
        parent.add_event("exception", {"exception.type": "ValueError", "exception.message": "bad cart"})
        parent.set_status(Status(StatusCode.ERROR, "bad cart"))
        with tracer.start_as_current_span(
            "charge", kind=SpanKind.CLIENT, attributes={"rpc.system": "grpc", "rpc.service": "Payments", "rpc.method": "Charge"}
        ) as child:
            ids["child"] = format(child.get_span_context().span_id, "016x")
        ids["parent"] = format(parent.get_span_context().span_id, "016x")
        ids["trace"] = format(parent.get_span_context().trace_id, "032x")
    # the SDK's own nanosecond times, set when the spans started and ended
    ids["parent_times"] = (parent.start_time, parent.end_time)
    ids["child_times"] = (child.start_time, child.end_time)
    assert provider.force_flush(30_000)
    provider.shutdown()
    return ids


def check_zipkin(rows, service: str, ids: dict) -> tuple:
    """What a Zipkin exporter can carry of `emit`'s spans, as stored: `rows` are the stored
    spans as dicts, times as integer nanoseconds. Returns the parent and child rows."""
    by_id = {r["span_id"]: r for r in rows if r["service_name"] == service}
    assert set(by_id) == {ids["parent"], ids["child"]}, by_id.keys()
    parent, child = by_id[ids["parent"]], by_id[ids["child"]]
    assert parent["trace_id"] == child["trace_id"] == ids["trace"]
    assert parent["parent_span_id"] == ""
    assert child["parent_span_id"] == ids["parent"]
    assert (parent["name"], parent["kind"], child["kind"]) == ("POST /checkout", "server", "client")
    assert (parent["status_code"], parent["status_message"]) == ("error", "bad cart")
    assert child["status_code"] == "unset"
    assert (parent["scope_name"], parent["scope_version"]) == ("py-interop", "2.1.0")
    # Zipkin tags are strings: typed attributes arrive as text, the promoted columns are filled
    attrs = dict(parent["attributes"])
    assert attrs["http.route"] == "/checkout"
    assert attrs["retry.count"] == "3"
    assert parent["http_method"] == "POST"
    assert parent["http_route"] == "/checkout"
    assert child["rpc_service"] == "Payments"
    # the SDK's resource attributes travel as tags; the resource's columns read them from there
    assert parent["k8s_pod"] == f"{service}-7d9f"
    # an event's attributes ride in its annotation's value, and come back out of it
    [event] = parent["events"]
    assert event["name"] == "exception"
    assert '"exception.message":"bad cart"' in event["attributes"], event
    # Zipkin carries microseconds
    for row, (start, end) in ((parent, ids["parent_times"]), (child, ids["child_times"])):
        assert abs(row["start_time"] - start) < 1_000, (row["start_time"], start)
        assert abs(row["start_time"] + row["duration_ns"] - end) < 2_000
    return parent, child
