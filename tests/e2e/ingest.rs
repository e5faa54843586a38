//! OTLP receivers: good requests in every encoding, and every kind of bad input.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use reqwest::StatusCode;
use tonic::Code;

use crate::common::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

async fn post(
    addr: std::net::SocketAddr,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        request = request.header("content-encoding", e);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (
        status,
        retry_after,
        response.bytes().await.expect("body").to_vec(),
    )
}

/// `google.rpc.Status` as OTLP/HTTP error bodies carry it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test]
async fn accepts_protobuf_json_and_gzip_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let addr = server.otlp_http_addr;

    let body = request("proto-svc", vec![span(1), span(2)]).encode_to_vec();
    let (status, _, bytes) = post(addr, "application/x-protobuf", None, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let response = ExportTraceServiceResponse::decode(&bytes[..]).expect("response");
    assert_eq!(response.partial_success, None);

    let (status, _, _) = post(
        addr,
        "application/x-protobuf",
        Some("gzip"),
        gzip(&request("gzip-svc", vec![span(3)]).encode_to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let zstd =
        zstd::encode_all(&request("zstd-svc", vec![span(4)]).encode_to_vec()[..], 3).expect("zstd");
    let (status, _, _) = post(addr, "application/x-protobuf", Some("zstd"), zstd).await;
    assert_eq!(status, StatusCode::OK);

    // The example from the OTLP repository, unchanged: upper-case hex ids.
    let example = include_bytes!("../data/trace.json").to_vec();
    let (status, _, bytes) = post(addr, "application/json", None, example).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(
        bytes.first(),
        Some(&b'{'),
        "a JSON request gets a JSON response: {}",
        String::from_utf8_lossy(&bytes)
    );

    let rows = stored_rows(&server.storage);
    let services = counts(strings(&rows, "service_name"));
    assert_eq!(services["proto-svc"], 2);
    assert_eq!(services["gzip-svc"], 1);
    assert_eq!(services["zstd-svc"], 1);
    let (batch, row) = row_named(&rows, "I'm a server span");
    assert_eq!(
        value(&batch, "trace_id", row),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(value(&batch, "span_id", row), "eee19b7ec3c1b174");
    assert_eq!(value(&batch, "parent_span_id", row), "eee19b7ec3c1b173");
    assert_eq!(value(&batch, "service_name", row), "my.service");
    assert_eq!(value(&batch, "kind", row), "server");
    assert_eq!(value(&batch, "scope_name", row), "my.library");
    assert_eq!(value(&batch, "scope_version", row), "1.0.0");
    assert_eq!(value(&batch, "duration_ns", row), "1000000000");
    assert_eq!(
        map_entries(&batch, "attributes", row)["my.span.attr"],
        "some value"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn bad_http_input_gets_clear_errors_and_harms_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = args(dir.path());
    args.max_request_bytes = Some(1 << 20);
    let server = start_with(args).await;
    let addr = server.otlp_http_addr;

    // Data accepted before the bad requests must survive them.
    let (status, _, _) = post(
        addr,
        "application/x-protobuf",
        None,
        request("before", vec![span(10)]).encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let mut non_utf8 = request("x", vec![span(11)]).encode_to_vec();
    let pos = non_utf8
        .windows(3)
        .position(|w| w == b"GET")
        .expect("method value in the encoding");
    non_utf8[pos] = 0xff;
    let bomb = gzip(&vec![0u8; 200 << 20]);
    // a 100 kB resource shared by 3,000 spans: small on the wire, 300 MB once every row copies it
    let amplified = request(&"r".repeat(100_000), (1000..4000).map(span).collect()).encode_to_vec();
    // (what, content type, content encoding, body, status, message)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Vec<u8>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        ("garbage protobuf", "application/x-protobuf", None, b"\xff\xff\xff\xff".to_vec(), StatusCode::BAD_REQUEST, "invalid ExportTraceServiceRequest protobuf"),
        ("non-utf-8 string", "application/x-protobuf", None, non_utf8, StatusCode::BAD_REQUEST, "invalid ExportTraceServiceRequest protobuf"),
        ("not json", "application/json", None, b"{\"resourceSpans\": [".to_vec(), StatusCode::BAD_REQUEST, "invalid OTLP/JSON"),
        ("bad hex id", "application/json", None, br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}"#.to_vec(), StatusCode::BAD_REQUEST, "traceId"),
        ("wrong content type", "text/plain", None, b"hello".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported content-type"),
        ("unknown encoding", "application/x-protobuf", Some("br"), b"x".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported content-encoding"),
        ("bad gzip", "application/x-protobuf", Some("gzip"), b"not gzip at all".to_vec(), StatusCode::BAD_REQUEST, "invalid gzip body"),
        ("oversized body", "application/x-protobuf", None, vec![0u8; 2 << 20], StatusCode::PAYLOAD_TOO_LARGE, "request body exceeds the limit of 1048576 bytes"),
        ("decompression bomb", "application/x-protobuf", Some("gzip"), bomb, StatusCode::PAYLOAD_TOO_LARGE, "decompressed body exceeds the limit"),
        ("resource copied into every span", "application/x-protobuf", None, amplified, StatusCode::PAYLOAD_TOO_LARGE, "its 3000 spans would copy"),
    ];
    for (what, content_type, encoding, body, want_status, want_message) in cases {
        let (status, _, bytes) = post(addr, content_type, encoding, body).await;
        assert_eq!(
            status,
            want_status,
            "{what}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let message = if content_type == "application/x-protobuf" {
            RpcStatus::decode(&bytes[..])
                .expect("google.rpc.Status body")
                .message
        } else {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json error body");
            v["message"].as_str().expect("message").to_owned()
        };
        assert!(
            message.contains(want_message),
            "{what}: {message:?} lacks {want_message:?}"
        );
    }

    // Invalid spans are rejected one by one, counted in partial_success; the rest is kept.
    let mut zero_trace = span(12);
    zero_trace.trace_id = vec![0; 16];
    let mut absurd_time = span(13);
    absurd_time.start_time_unix_nano = 42;
    let mut short_span_id = span(14);
    short_span_id.span_id = vec![1, 2, 3];
    let body = request(
        "mixed",
        vec![span(15), zero_trace, absurd_time, short_span_id, span(16)],
    )
    .encode_to_vec();
    let (status, _, bytes) = post(addr, "application/x-protobuf", None, body).await;
    assert_eq!(status, StatusCode::OK);
    let partial = ExportTraceServiceResponse::decode(&bytes[..])
        .expect("response")
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 3);
    for expect in [
        "3 of 5 spans rejected",
        "trace_id is all zeros",
        "start_time_unix_nano 42",
        "span_id must be 8 bytes, got 3",
    ] {
        assert!(
            partial.error_message.contains(expect),
            "{} lacks {expect}",
            partial.error_message
        );
    }

    // The server still serves, and everything accepted is there exactly once.
    let health = reqwest::get(format!("http://{}/healthz", server.http_addr))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let ids = counts(strings(&stored_rows(&server.storage), "span_id"));
    assert_eq!(ids.len(), 3, "{ids:?}");
    for n in [10, 15, 16] {
        assert_eq!(ids.get(&span_hex(n)), Some(&1), "span {n}");
    }
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains("meshscope_spans_accepted_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("meshscope_requests_refused_total"),
        "{metrics}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn grpc_accepts_and_refuses_with_status_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = args(dir.path());
    args.max_request_bytes = Some(1 << 20);
    let server = start_with(args).await;
    let endpoint = format!("http://{}", server.otlp_grpc_addr);
    let mut client = TraceServiceClient::connect(endpoint.clone())
        .await
        .expect("connect");

    let response = client
        .export(request("grpc-svc", vec![span(20), span(21)]))
        .await
        .expect("export")
        .into_inner();
    assert_eq!(response.partial_success, None);

    let mut gzip_client = TraceServiceClient::connect(endpoint.clone())
        .await
        .expect("connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    gzip_client
        .export(request("grpc-gzip", vec![span(22)]))
        .await
        .expect("gzip export");
    let mut zstd_client = TraceServiceClient::connect(endpoint.clone())
        .await
        .expect("connect")
        .send_compressed(tonic::codec::CompressionEncoding::Zstd);
    zstd_client
        .export(request("grpc-zstd", vec![span(26)]))
        .await
        .expect("zstd export");

    let mut bad = span(23);
    bad.trace_id = vec![0; 16];
    let partial = client
        .export(request("grpc-svc", vec![bad, span(24)]))
        .await
        .expect("export")
        .into_inner()
        .partial_success
        .expect("partial");
    assert_eq!(partial.rejected_spans, 1);

    // Garbage bytes through a raw gRPC channel: INVALID_ARGUMENT with a message.
    let channel = tonic::transport::Channel::from_shared(endpoint)
        .expect("uri")
        .connect()
        .await
        .expect("channel");
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.expect("ready");
    let status = raw
        .unary::<_, ExportTraceServiceResponse, _>(
            tonic::Request::new(RawBody(vec![0xff, 0xff, 0xff])),
            http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            ),
            RawCodec,
        )
        .await
        .expect_err("garbage is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("invalid ExportTraceServiceRequest protobuf"),
        "{status:?}"
    );

    // Over the decompressed limit: RESOURCE_EXHAUSTED.
    let mut huge = span(25);
    huge.name = "x".repeat(100 << 20);
    let status = client
        .export(request("grpc-svc", vec![huge]))
        .await
        .expect_err("too large");
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{status:?}"
    );

    // A resource copied into every span past the limit: RESOURCE_EXHAUSTED with a message.
    let status = client
        .export(request(
            &"r".repeat(100_000),
            (5000..8000).map(span).collect(),
        ))
        .await
        .expect_err("too much copying");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("its 3000 spans would copy"),
        "{status:?}"
    );

    let ids = counts(strings(&stored_rows(&server.storage), "span_id"));
    assert_eq!(ids.len(), 5, "{ids:?}");
    drop(client);
    server.shutdown().await.expect("shutdown");
}

struct RawBody(Vec<u8>);

#[derive(Clone)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = RawBody;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = RawBody;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: RawBody,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item.0);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, tonic::Status> {
        use bytes::Buf;
        let bytes = src.copy_to_bytes(src.remaining());
        ExportTraceServiceResponse::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[tokio::test]
async fn shutdown_flushes_the_head_to_parquet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let body = request("flushed", (100..150).map(span).collect()).encode_to_vec();
    let (status, _, _) = post(server.otlp_http_addr, "application/x-protobuf", None, body).await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await.expect("shutdown");

    let mut files = Vec::new();
    for entry in walk(&dir.path().join("spans")) {
        files.push(entry);
    }
    assert!(!files.is_empty(), "parquet files under spans/");
    for f in &files {
        let rel = f
            .strip_prefix(dir.path())
            .expect("under data dir")
            .to_string_lossy()
            .into_owned();
        assert!(
            regex_like_partition(&rel),
            "{rel} follows spans/date=YYYY-MM-DD/hour=HH/<id>.parquet"
        );
    }
    let rows = read_data_dir(dir.path()).await;
    assert_eq!(strings(&rows, "span_id").len(), 50);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

fn regex_like_partition(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    parts.len() == 4
        && parts[0] == "spans"
        && parts[1].len() == "date=2026-11-25".len()
        && parts[1].starts_with("date=")
        && parts[2].len() == "hour=07".len()
        && parts[2].starts_with("hour=")
        && parts[3].ends_with(".parquet")
}

#[tokio::test]
async fn requests_wait_for_a_full_head_to_be_flushed_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = args(dir.path());
    // The head is full after one request; the background flush empties it, and requests that
    // arrive meanwhile wait for it (up to `pressure_wait`, 2 s by default) instead of failing.
    args.head_limit_bytes = Some(64 << 10);
    args.flush_max_bytes = Some(64 << 10);
    args.flush_max_age = Some("1h".into());
    let server = start_with(args).await;
    let mut next = 0u64;
    let mut batch = || {
        let spans = (next..next + 200).map(span).collect();
        next += 200;
        request("load", spans)
    };
    for _ in 0..20 {
        let (status, _, body) = post(
            server.otlp_http_addr,
            "application/x-protobuf",
            None,
            batch().encode_to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    let mut client = TraceServiceClient::connect(format!("http://{}", server.otlp_grpc_addr))
        .await
        .expect("connect");
    // one after another: requests that a flush releases together may fill the head past its
    // slack again, and then the later ones are refused, as they should be
    for _ in 0..10 {
        client
            .export(batch())
            .await
            .expect("accepted after waiting");
    }
    server.storage.flush().await.expect("flush");
    assert_eq!(
        strings(&stored_rows(&server.storage), "span_id").len(),
        30 * 200
    );
    drop(client);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn overload_is_refused_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = args(dir.path());
    // A head that is full after one request. The background flush empties it again, so each
    // protocol sends until it is refused; every accepted span is counted. Requests do not wait
    // for room here (`pressure_wait = "0s"`).
    let config = dir.path().join("meshscope.toml");
    std::fs::write(&config, "[ingest]\npressure_wait = \"0s\"\n").expect("config file");
    args.config = Some(config);
    args.head_limit_bytes = Some(64 << 10);
    args.flush_max_bytes = Some(64 << 10);
    args.flush_max_age = Some("1h".into());
    let server = start_with(args).await;
    let addr = server.otlp_http_addr;
    let mut accepted = 0;
    let mut next = 0u64;
    let mut batch = || {
        let spans = (next..next + 200).map(span).collect();
        next += 200;
        request("load", spans)
    };

    let mut refused = None;
    for _ in 0..200 {
        let (status, retry_after, _) = post(
            addr,
            "application/x-protobuf",
            None,
            batch().encode_to_vec(),
        )
        .await;
        match status {
            StatusCode::OK => accepted += 200,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                refused = Some(retry_after);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let retry_after = refused.expect("OTLP/HTTP pushes back once the head is full");
    let secs: u64 = retry_after
        .expect("Retry-After header")
        .parse()
        .expect("seconds");
    assert!(secs >= 1);

    let mut client = TraceServiceClient::connect(format!("http://{}", server.otlp_grpc_addr))
        .await
        .expect("connect");
    let mut refused = None;
    for _ in 0..200 {
        match client.export(batch()).await {
            Ok(_) => accepted += 200,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = refused.expect("OTLP/gRPC pushes back once the head is full");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = tonic_types::StatusExt::get_details_retry_info(&status);
    assert!(
        details.is_some_and(|r| r.retry_delay.is_some()),
        "RetryInfo: {status:?}"
    );

    // the Zipkin receiver pushes back the same way
    let mut refused = None;
    let mut zipkin_next = 1u64 << 32;
    for _ in 0..200 {
        let spans: Vec<serde_json::Value> = (zipkin_next..zipkin_next + 200)
            .map(|n| {
                serde_json::json!({
                    "traceId": format!("{:032x}", n + 1), "id": format!("{:016x}", n + 1),
                    "timestamp": now_ns() / 1_000, "localEndpoint": {"serviceName": "load"}
                })
            })
            .collect();
        zipkin_next += 200;
        let body = serde_json::to_vec(&spans).expect("json");
        let (status, retry_after, text) =
            post_zipkin(&server, "/api/v2/spans", None, false, body).await;
        match status {
            StatusCode::ACCEPTED => accepted += 200,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                refused = Some((retry_after, text));
                break;
            }
            other => panic!("unexpected status {other}: {text}"),
        }
    }
    let (retry_after, text) = refused.expect("Zipkin pushes back once the head is full");
    let secs: u64 = retry_after
        .expect("Retry-After header")
        .parse()
        .expect("seconds");
    assert!(secs >= 1 && text.contains("retry after"), "{text}");

    // After a flush the server accepts again, and nothing accepted was lost.
    server.storage.flush().await.expect("flush");
    let (status, _, _) = post(
        addr,
        "application/x-protobuf",
        None,
        batch().encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    accepted += 200;
    assert_eq!(
        strings(&stored_rows(&server.storage), "span_id").len(),
        accepted
    );
    drop(client);
    server.shutdown().await.expect("shutdown");
}

/// Posts a Zipkin v2 body to `path` on the Zipkin port.
async fn post_zipkin(
    server: &meshscope::Server,
    path: &str,
    content_type: Option<&str>,
    gzipped: bool,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, String) {
    let addr = server.zipkin_addr.expect("zipkin receiver on");
    let mut request = reqwest::Client::new().post(format!("http://{addr}{path}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let body = if gzipped {
        request = request.header("content-encoding", "gzip");
        gzip(&body)
    } else {
        body
    };
    let response = request.body(body).send().await.expect("send");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, retry_after, response.text().await.expect("body"))
}

#[tokio::test]
async fn zipkin_v2_json_is_stored_like_otlp_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = args(dir.path());
    args.max_request_bytes = Some(64 << 10);
    let server = start_with(args).await;
    let micros = now_ns() / 1_000;
    // what Envoy sends for a call from frontend to backend: a client span and the server's
    let body = serde_json::json!([
        {
            "traceId": "463ac35c9f6413ad", "id": "a2fb4a1d1a96d312", "name": "get /cart",
            "kind": "CLIENT", "timestamp": micros, "duration": 2500,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
            "remoteEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 8080},
            "tags": {"http.method": "GET", "http.url": "http://backend:8080/cart"}
        },
        {
            "traceId": "463ac35c9f6413ad", "id": "a2fb4a1d1a96d312",
            "name": "get /cart", "kind": "SERVER", "timestamp": micros + 300, "duration": 1800,
            "localEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 8080},
            "annotations": [{"timestamp": micros + 400, "value": "cache miss"}],
            "tags": {"http.method": "GET", "http.status_code": "500", "error": "upstream reset"},
            "shared": true
        }
    ]);
    let (status, _, text) = post_zipkin(
        &server,
        "/api/v2/spans",
        Some("application/json"),
        true,
        serde_json::to_vec(&body).expect("json"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");

    let rows = stored_rows(&server.storage);
    assert_eq!(counts(strings(&rows, "service_name")).len(), 2);
    let trace = format!("{:0>32}", "463ac35c9f6413ad");
    let (batch, client) = rows
        .iter()
        .find_map(|b| {
            (0..b.num_rows())
                .find(|&r| value(b, "kind", r) == "client")
                .map(|r| (b.clone(), r))
        })
        .expect("client span");
    assert_eq!(value(&batch, "trace_id", client), trace);
    assert_eq!(value(&batch, "service_name", client), "frontend");
    assert_eq!(value(&batch, "duration_ns", client), "2500000");
    assert_eq!(value(&batch, "status_code", client), "unset");
    let attributes = map_entries(&batch, "attributes", client);
    assert_eq!(attributes["peer.service"], "backend");
    assert_eq!(attributes["network.peer.port"], "8080");
    assert_eq!(attributes["http.method"], "GET");
    let (batch, server_row) = rows
        .iter()
        .find_map(|b| {
            (0..b.num_rows())
                .find(|&r| value(b, "kind", r) == "server")
                .map(|r| (b.clone(), r))
        })
        .expect("server span");
    assert_eq!(value(&batch, "service_name", server_row), "backend");
    // Envoy's shared span context: the server half reused the client's id; it is stored with
    // an id of its own under the client span
    assert_eq!(
        value(&batch, "parent_span_id", server_row),
        "a2fb4a1d1a96d312"
    );
    let server_id = value(&batch, "span_id", server_row);
    assert!(
        server_id != "a2fb4a1d1a96d312" && server_id.len() == 16,
        "{server_id}"
    );
    assert_eq!(value(&batch, "status_code", server_row), "error");
    assert_eq!(
        value(&batch, "status_message", server_row),
        "upstream reset"
    );
    assert!(!map_entries(&batch, "attributes", server_row).contains_key("error"));

    // the query API serves it like any trace
    let response = reqwest::get(format!("http://{}/api/traces/{trace}", server.http_addr))
        .await
        .expect("get");
    let jaeger: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert_eq!(jaeger["data"][0]["spans"].as_array().map(Vec::len), Some(2));

    // the service graph pairs the two halves: one call from frontend to backend
    let url = format!(
        "http://{}/api/v1/dependencies?start={}&end={}",
        server.http_addr,
        micros * 1_000 - 3_600_000_000_000,
        micros * 1_000 + 3_600_000_000_000
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let edge = loop {
        let response = reqwest::get(&url).await.expect("dependencies");
        let graph: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
        let found = graph["edges"].as_array().and_then(|edges| {
            edges
                .iter()
                .find(|e| e["parent"] == "frontend" && e["child"] == "backend")
                .cloned()
        });
        match found {
            Some(edge) => break edge,
            None if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await
            }
            None => panic!("no frontend → backend edge: {graph:#}"),
        }
    };
    // paired with the server half (unpaired 0), whose error it counts
    assert_eq!(
        (
            edge["calls"].as_u64(),
            edge["errors"].as_u64(),
            edge["unpaired"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{edge}"
    );

    // bad input: a clear refusal, and nothing accepted before is harmed
    let zero_id = serde_json::json!([
        {"traceId": "1", "id": "1", "timestamp": micros},
        {"traceId": "1", "id": "0000000000000000", "timestamp": micros}
    ]);
    let too_big = vec![b' '; 65 << 10];
    // path, content type, body, status, message
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "/api/v2/spans",
            Some("application/json"),
            b"[{".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid Zipkin v2 JSON",
        ),
        (
            "/api/v2/spans",
            None,
            br#"[{"traceId": "1", "id": "1"}]"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "span 0: timestamp is missing",
        ),
        (
            "/api/v2/spans",
            Some("application/json"),
            serde_json::to_vec(&zero_id).expect("json"),
            StatusCode::BAD_REQUEST,
            "1 of 2 spans rejected, the others were stored",
        ),
        (
            "/api/v2/spans",
            Some("application/x-protobuf"),
            vec![0x0a, 0x05, 0x0a],
            StatusCode::BAD_REQUEST,
            "invalid Zipkin ListOfSpans protobuf",
        ),
        (
            "/api/v2/spans",
            Some("application/x-thrift"),
            b"[]".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type",
        ),
        (
            "/api/v1/spans",
            Some("application/json"),
            b"[]".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Zipkin v1 API is not served",
        ),
        (
            "/api/v2/spans",
            Some("application/json"),
            too_big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "exceeds the limit",
        ),
    ];
    for (path, content_type, body, want, message) in cases {
        let (status, _, text) = post_zipkin(&server, path, content_type, false, body).await;
        assert_eq!(status, want, "{path} {content_type:?}: {text}");
        assert!(text.contains(message), "{path} {content_type:?}: {text}");
    }
    assert_eq!(
        stored_rows(&server.storage)
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        3
    );
    let (status, _, text) =
        post_zipkin(&server, "/api/v2/spans", None, false, b"[]".to_vec()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(r#"meshscope_spans_accepted_total{protocol="zipkin"} 3"#),
        "{metrics}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_taken_zipkin_port_fails_the_start_and_names_the_way_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut args = args(dir.path());
    args.zipkin_addr = Some(taken.local_addr().expect("addr").to_string());
    let config = meshscope::Config::resolve(&args).expect("config");
    let error = match meshscope::Server::start(config).await {
        Ok(_) => panic!("started on a taken port"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("binding the Zipkin listener") && error.contains("--zipkin-addr off"),
        "{error}"
    );
}

#[tokio::test]
async fn a_taken_default_zipkin_port_leaves_the_receiver_off_and_the_server_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    // taken by this test, or already by something else (a Zipkin server on this host)
    let _taken = std::net::TcpListener::bind(meshscope::DEFAULT_ZIPKIN_ADDR);
    let mut args = args(dir.path());
    args.zipkin_addr = None;
    let server = start_with(args).await;
    assert_eq!(server.zipkin_addr, None);
    // the rest of the server works
    let (status, _, _) = post(
        server.otlp_http_addr,
        "application/x-protobuf",
        None,
        request("up", vec![span(1)]).encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await.expect("shutdown");
}
