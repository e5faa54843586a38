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

from sdk_spans import check_zipkin, emit  # noqa: E402


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
        "SELECT span_id, parent_span_id, trace_id, service_name, name, kind, status_code, "
        "status_message, scope_name, scope_version, http_method, http_route, k8s_pod, "
        "rpc_service, CAST(start_time AS BIGINT) AS start_time, duration_ns, attributes, events "
        "FROM spans WHERE service_name = 'py-zipkin-proto'",
    )
    parent, _ = check_zipkin(rows, "py-zipkin-proto", ids)
    # the exporter's local node, from the protobuf Endpoint's 4-byte address
    assert parent["attributes"]["network.local.address"] == "10.1.2.3"
    assert parent["attributes"]["network.local.port"] == "8080"
