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
