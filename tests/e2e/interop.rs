//! Interoperability with a client nobody here wrote: the Rust `opentelemetry-otlp` exporter,
//! over gRPC and over HTTP/protobuf. Every field of every span must arrive.

use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags,
    TraceId, TraceState, Tracer, TracerProvider as _,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::common::*;

/// Emits a parent and a child span with every kind of field through `exporter`.
fn emit(exporter: SpanExporter, service: &str) {
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .with_attributes([
                    KeyValue::new("k8s.namespace.name", "shop"),
                    KeyValue::new("service.version", "1.4.2"),
                ])
                .build(),
        )
        .build();
    let scope = InstrumentationScope::builder("interop-test")
        .with_version("0.9.0")
        .build();
    let tracer = provider.tracer_with_scope(scope);
    let linked = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
        SpanId::from_hex("b7ad6b7169203331").expect("hex"),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut parent = tracer
        .span_builder(format!("{service} GET /cart"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/cart"),
            KeyValue::new("http.response.status_code", 503_i64),
            KeyValue::new("retry.ratio", 0.25),
            KeyValue::new("cache.hit", false),
        ])
        .with_links(vec![Link::with_context(linked)])
        .start(&tracer);
    parent.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "Timeout"),
            KeyValue::new("exception.message", "upstream timed out"),
        ],
    );
    parent.set_status(Status::error("upstream timed out"));
    let cx = opentelemetry::Context::current_with_span(parent);
    let mut child = tracer
        .span_builder(format!("{service} SELECT carts"))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("db.system", "postgresql"),
            KeyValue::new("server.address", "db.shop.svc"),
        ])
        .start_with_context(&tracer, &cx);
    child.end();
    drop(cx);
    provider.force_flush().expect("flush");
    provider.shutdown().expect("shutdown");
}

fn check(rows: &[arrow::array::RecordBatch], service: &str) {
    let (b, r) = row_named(rows, &format!("{service} GET /cart"));
    let (cb, cr) = row_named(rows, &format!("{service} SELECT carts"));
    assert_eq!(value(&b, "service_name", r), service);
    assert_eq!(value(&b, "kind", r), "server");
    assert_eq!(value(&b, "status_code", r), "error");
    assert_eq!(value(&b, "status_message", r), "upstream timed out");
    assert_eq!(value(&b, "http_method", r), "GET");
    assert_eq!(value(&b, "http_route", r), "/cart");
    assert_eq!(value(&b, "http_status_code", r), "503");
    assert_eq!(value(&b, "k8s_namespace", r), "shop");
    assert_eq!(value(&b, "service_version", r), "1.4.2");
    assert_eq!(value(&b, "scope_name", r), "interop-test");
    assert_eq!(value(&b, "scope_version", r), "0.9.0");
    assert_eq!(value(&b, "parent_span_id", r), "");
    assert_eq!(value(&b, "trace_id", r).len(), 32);
    let attrs = map_entries(&b, "attributes", r);
    assert_eq!(attrs["retry.ratio"], "0.25");
    assert_eq!(attrs["cache.hit"], "false");
    let types = map_entries(&b, "attribute_types", r);
    assert_eq!(types["retry.ratio"], "double");
    assert_eq!(types["http.response.status_code"], "int");
    assert_eq!(types["cache.hit"], "bool");
    assert!(
        !types.contains_key("http.route"),
        "strings carry no type entry"
    );
    let resource = map_entries(&b, "resource_attributes", r);
    assert_eq!(resource["service.name"], service);
    assert!(resource.contains_key("telemetry.sdk.language"));
    let events = value(&b, "events", r);
    assert!(
        events.contains("exception") && events.contains("upstream timed out"),
        "{events}"
    );
    let links = value(&b, "links", r);
    assert!(
        links.contains("0af7651916cd43dd8448eb211c80319c") && links.contains("b7ad6b7169203331"),
        "{links}"
    );
    let start: i64 = value(&b, "duration_ns", r).parse().expect("duration");
    assert!(start >= 0);

    assert_eq!(value(&cb, "kind", cr), "client");
    assert_eq!(value(&cb, "trace_id", cr), value(&b, "trace_id", r));
    assert_eq!(value(&cb, "parent_span_id", cr), value(&b, "span_id", r));
    assert_eq!(value(&cb, "db_system", cr), "postgresql");
    assert_eq!(value(&cb, "server_address", cr), "db.shop.svc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_otlp_exporter_over_grpc_and_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let grpc = format!("http://{}", server.otlp_grpc_addr);
    let http = format!("http://{}/v1/traces", server.otlp_http_addr);
    tokio::task::spawn_blocking(move || {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(grpc)
            .build()
            .expect("grpc exporter");
        emit(exporter, "rust-grpc");
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(http)
            .build()
            .expect("http exporter");
        emit(exporter, "rust-http");
    })
    .await
    .expect("exporters");

    let rows = stored_rows(&server.storage);
    check(&rows, "rust-grpc");
    check(&rows, "rust-http");
    // The same after a flush to Parquet.
    server.storage.flush().await.expect("flush");
    let rows = stored_rows(&server.storage);
    assert!(
        server
            .storage
            .snapshot("spans")
            .expect("snapshot")
            .head
            .is_empty()
    );
    check(&rows, "rust-grpc");
    check(&rows, "rust-http");
    server.shutdown().await.expect("shutdown");
}
