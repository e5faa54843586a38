"""The Python SDK's Zipkin protobuf exporter (`opentelemetry-exporter-zipkin-proto-http`, a
`zipkin.proto3.ListOfSpans` over HTTP, as Envoy's `HTTP_PROTO` sends) against meshscope.

That exporter pins protobuf 3, which the OTLP exporters of requirements.txt refuse, so
tests/run.sh runs this file in a venv of its own (requirements-zipkin-proto.txt); in the main
venv it is skipped. Spans are read back through the SQL API while the server runs.
"""

import json
import urllib.request

import pytest

ZipkinExporter = pytest.importorskip("opentelemetry.exporter.zipkin.proto.http").ZipkinExporter

from sdk_spans import emit  # noqa: E402


def sql(server, query: str) -> list:
    request = urllib.request.Request(
        f"http://{server.http}/api/v1/sql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    names = [c["name"] for c in answer["columns"]]
    return [dict(zip(names, row)) for row in answer["rows"]]


def test_python_sdk_zipkin_protobuf_exporter(server):
    exporter = ZipkinExporter(
        endpoint=f"http://{server.zipkin}/api/v2/spans", local_node_ipv4="10.1.2.3", local_node_port=8080
    )
    ids = emit(exporter, "py-zipkin-proto")
    rows = sql(
        server,
        "SELECT span_id, parent_span_id, trace_id, name, kind, status_code, status_message, "
        "scope_name, scope_version, http_method, http_route, k8s_pod, rpc_service, "
        "CAST(start_time AS BIGINT) AS start_ns, duration_ns, attributes, events "
        "FROM spans WHERE service_name = 'py-zipkin-proto'",
    )
    by_id = {r["span_id"]: r for r in rows}
    assert set(by_id) == {ids["parent"], ids["child"]}, rows
    parent, child = by_id[ids["parent"]], by_id[ids["child"]]
    assert parent["trace_id"] == child["trace_id"] == ids["trace"]
    assert parent["parent_span_id"] == ""
    assert child["parent_span_id"] == ids["parent"]
    assert (parent["name"], parent["kind"], child["kind"]) == ("POST /checkout", "server", "client")
    assert (parent["status_code"], parent["status_message"]) == ("error", "bad cart")
    assert child["status_code"] == "unset"
    assert (parent["scope_name"], parent["scope_version"]) == ("py-interop", "2.1.0")
    assert (parent["http_method"], parent["http_route"], child["rpc_service"]) == ("POST", "/checkout", "Payments")
    assert parent["k8s_pod"] == "py-zipkin-proto-7d9f"
    assert parent["attributes"]["retry.count"] == "3"
    # the exporter's local node, from the protobuf Endpoint's 4-byte address
    assert parent["attributes"]["network.local.address"] == "10.1.2.3"
    assert parent["attributes"]["network.local.port"] == "8080"
    [event] = parent["events"]
    assert event["name"] == "exception"
    assert '"exception.message":"bad cart"' in event["attributes"], event
    for row, (start, end) in ((parent, ids["parent_times"]), (child, ids["child_times"])):
        assert abs(row["start_ns"] - start) < 1_000, (row["start_ns"], start)
        assert abs(row["start_ns"] + row["duration_ns"] - end) < 2_000
