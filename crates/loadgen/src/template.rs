//! Trace templates: realistic traces walked through the [`Topology`] once per seed, then
//! pre-encoded (protobuf and OTLP/JSON) so that instancing a trace only writes ids, times
//! and a few length prefixes.
//!
//! A template is a list of spans in creation order (parents before children) with their
//! times as offsets from the trace start. Every span carries three pre-encoded variants:
//! OK, "error origin" (the failing call: 503 / gRPC UNAVAILABLE / a database or Kafka
//! error, with an `exception` event where the failure happened) and "error propagated"
//! (an ancestor of the origin: 500 / gRPC INTERNAL). The generator picks variants per
//! instance, so errors vary even though the pool is finite.

use std::collections::VecDeque;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{Status, status::StatusCode};
use prost::encoding::{self, WireType};
use rand::Rng;
use rand::rngs::StdRng;

use crate::json;
use crate::topology::{Api, DbSystem, Language, Semconv, Service, Tier, Topology};

/// Variant indices.
pub(crate) const OK: usize = 0;
pub(crate) const ORIGIN: usize = 1;
pub(crate) const PROPAGATED: usize = 2;

/// W3C sampled flag plus "has is_remote" (0x100); 0x200 marks a remote parent.
const FLAGS_LOCAL: u32 = 0x101;
const FLAGS_REMOTE: u32 = 0x301;
/// Flags written on links (the linked producer span is in another process).
pub(crate) const LINK_FLAGS: u32 = 0x301;
/// At most this many traces per template (the main one plus Kafka consumer traces).
const MAX_SLOTS: u8 = 6;

const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

// ---------------------------------------------------------------------------------------
// Resources and scopes
// ---------------------------------------------------------------------------------------

/// Scope kinds of an application resource (proxies have one scope-less group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScopeKind {
    Http = 0,
    Grpc = 1,
    Db = 2,
    Messaging = 3,
    Manual = 4,
}

fn scope_for(lang: Language, kind: ScopeKind, service: &Service) -> InstrumentationScope {
    use Language::*;
    use ScopeKind::*;
    let (name, version): (&str, &str) = match (lang, kind) {
        (Go, Http) => (
            "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
            "0.63.0",
        ),
        (Go, Grpc) => (
            "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
            "0.63.0",
        ),
        (Go, Db) => ("github.com/XSAM/otelsql", "0.40.0"),
        (Go, Messaging) => ("github.com/IBM/sarama/otelsarama", "0.43.0"),
        (Java, Http) => ("io.opentelemetry.tomcat-10.0", "2.20.1-alpha"),
        (Java, Grpc) => ("io.opentelemetry.grpc-1.6", "2.20.1-alpha"),
        (Java, Db) => ("io.opentelemetry.jdbc", "2.20.1-alpha"),
        (Java, Messaging) => ("io.opentelemetry.kafka-clients-2.6", "2.20.1-alpha"),
        (Python, Http) => ("opentelemetry.instrumentation.flask", "0.58b0"),
        (Python, Grpc) => ("opentelemetry.instrumentation.grpc", "0.58b0"),
        (Python, Db) => ("opentelemetry.instrumentation.psycopg2", "0.58b0"),
        (Python, Messaging) => ("opentelemetry.instrumentation.kafka", "0.58b0"),
        (NodeJs, Http) => ("@opentelemetry/instrumentation-http", "0.205.0"),
        (NodeJs, Grpc) => ("@opentelemetry/instrumentation-grpc", "0.205.0"),
        (NodeJs, Db) => ("@opentelemetry/instrumentation-pg", "0.58.0"),
        (NodeJs, Messaging) => ("@opentelemetry/instrumentation-kafkajs", "0.15.0"),
        (DotNet, Http) => ("Microsoft.AspNetCore", ""),
        (DotNet, Grpc) => ("Grpc.Net.Client", ""),
        (DotNet, Db) => ("OpenTelemetry.Instrumentation.SqlClient", "1.12.0-beta.2"),
        (DotNet, Messaging) => ("Confluent.Kafka", ""),
        (Rust, Http) => ("opentelemetry-http", "0.31.0"),
        (Rust, Grpc) => ("tonic-tracing-opentelemetry", "0.30.0"),
        (Rust, Db) => ("sqlx", "0.8.6"),
        (Rust, Messaging) => ("rdkafka", "0.38.0"),
        (_, Manual) => (service.name.as_str(), service.version.as_str()),
    };
    InstrumentationScope {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    }
}

pub(crate) fn kv_str(key: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}
pub(crate) fn kv_int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}
pub(crate) fn kv_bool(key: &str, v: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(v)),
        }),
        ..Default::default()
    }
}
pub(crate) fn kv_f64(key: &str, v: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(v)),
        }),
        ..Default::default()
    }
}

/// One ResourceSpans worth of output: the resource plus its scope groups.
pub(crate) struct ResourceEntry {
    /// Protobuf: field 1 of ResourceSpans (tag + length + Resource).
    pub pb_resource: Vec<u8>,
    /// Protobuf: field 3 of ResourceSpans (schema_url), empty if none.
    pub pb_schema: Vec<u8>,
    /// JSON: `{"resource":{...},"scopeSpans":[`.
    pub js_prefix: Vec<u8>,
    /// JSON: `],"schemaUrl":"..."}`.
    pub js_suffix: Vec<u8>,
}

/// One ScopeSpans worth of output.
pub(crate) struct GroupEntry {
    pub resource: usize,
    /// Protobuf: field 1 of ScopeSpans (tag + length + scope), empty for no scope.
    pub pb_scope: Vec<u8>,
    /// JSON: `{"scope":{...},"spans":[`.
    pub js_prefix: Vec<u8>,
}

/// All resources and scope groups of a topology, indexed by (service, pod).
pub(crate) struct Catalog {
    pub resources: Vec<ResourceEntry>,
    pub groups: Vec<GroupEntry>,
    /// `app[service][pod]` = first group of that pod's application resource.
    app: Vec<Vec<usize>>,
    /// `proxy[service][pod]` = the group of that pod's Envoy (gateway or sidecar).
    proxy: Vec<Vec<Option<usize>>>,
}

impl Catalog {
    pub fn new(topo: &Topology) -> Self {
        let mut cat = Catalog {
            resources: vec![],
            groups: vec![],
            app: vec![],
            proxy: vec![],
        };
        for s in &topo.services {
            let mut app = vec![];
            let mut proxy = vec![];
            for (p, pod) in s.pods.iter().enumerate() {
                if s.tier == Tier::Gateway {
                    let attrs = vec![
                        kv_str("service.name", s.proxy_service_name()),
                        kv_str(
                            "service.version",
                            if p == 0 { "1.23.4" } else { s.version.as_str() },
                        ),
                        kv_str("k8s.namespace.name", s.namespace),
                        kv_str("k8s.pod.name", pod.name.clone()),
                        kv_str("k8s.deployment.name", s.name.clone()),
                        kv_str("k8s.node.name", pod.node.clone()),
                        kv_str("host.name", pod.name.clone()),
                    ];
                    proxy.push(Some(cat.add_resource(attrs, "", &[None])));
                    app.push(usize::MAX);
                    continue;
                }
                let mut attrs = vec![
                    kv_str("service.name", s.name.clone()),
                    kv_str("service.namespace", s.namespace),
                    kv_str("service.version", s.version.clone()),
                    kv_str("service.instance.id", pod.uid.clone()),
                    kv_str("k8s.namespace.name", s.namespace),
                    kv_str("k8s.pod.name", pod.name.clone()),
                    kv_str("k8s.pod.uid", pod.uid.clone()),
                    kv_str("k8s.deployment.name", s.name.clone()),
                    kv_str("k8s.node.name", pod.node.clone()),
                    kv_str("k8s.cluster.name", "prod-eu-west-1"),
                    kv_str("host.name", pod.name.clone()),
                    kv_str("container.name", s.name.clone()),
                    kv_str("deployment.environment.name", "production"),
                    kv_str("telemetry.sdk.name", "opentelemetry"),
                    kv_str("telemetry.sdk.language", s.language.sdk_name()),
                    kv_str("telemetry.sdk.version", s.language.sdk_version()),
                ];
                if s.semconv == Semconv::Old {
                    attrs.push(kv_str("deployment.environment", "production"));
                }
                let schema = if s.semconv == Semconv::New {
                    SCHEMA_URL
                } else {
                    ""
                };
                let scopes: Vec<Option<InstrumentationScope>> = [
                    ScopeKind::Http,
                    ScopeKind::Grpc,
                    ScopeKind::Db,
                    ScopeKind::Messaging,
                    ScopeKind::Manual,
                ]
                .iter()
                .map(|&k| Some(scope_for(s.language, k, s)))
                .collect();
                app.push(cat.add_resource(attrs, schema, &scopes));
                if s.sidecar {
                    let attrs = vec![
                        kv_str("service.name", s.proxy_service_name()),
                        kv_str("k8s.namespace.name", s.namespace),
                        kv_str("k8s.pod.name", pod.name.clone()),
                        kv_str("k8s.node.name", pod.node.clone()),
                    ];
                    proxy.push(Some(cat.add_resource(attrs, "", &[None])));
                } else {
                    proxy.push(None);
                }
            }
            cat.app.push(app);
            cat.proxy.push(proxy);
        }
        cat
    }

    /// Adds a resource and its groups; returns the index of its first group.
    fn add_resource(
        &mut self,
        attributes: Vec<KeyValue>,
        schema_url: &str,
        scopes: &[Option<InstrumentationScope>],
    ) -> usize {
        let resource = Resource {
            attributes,
            ..Default::default()
        };
        let mut pb_resource = vec![];
        encoding::message::encode(1, &resource, &mut pb_resource);
        let mut pb_schema = vec![];
        if !schema_url.is_empty() {
            encoding::string::encode(3, &schema_url.to_string(), &mut pb_schema);
        }
        let mut js_prefix = vec![];
        json::write_resource_spans_prefix(&mut js_prefix, Some(&resource));
        let mut js_suffix = vec![];
        json::write_scope_spans_suffix(&mut js_suffix, schema_url);
        let r = self.resources.len();
        let first = self.groups.len();
        for scope in scopes {
            let mut pb_scope = vec![];
            if let Some(scope) = scope {
                encoding::message::encode(1, scope, &mut pb_scope);
            }
            let mut js = vec![];
            json::write_scope_spans_prefix(&mut js, scope.as_ref());
            self.groups.push(GroupEntry {
                resource: r,
                pb_scope,
                js_prefix: js,
            });
        }
        self.resources.push(ResourceEntry {
            pb_resource,
            pb_schema,
            js_prefix,
            js_suffix,
        });
        first
    }

    fn app_group(&self, svc: usize, pod: usize, kind: ScopeKind) -> usize {
        self.app[svc][pod] + kind as usize
    }

    fn proxy_group(&self, svc: usize, pod: usize) -> Option<usize> {
        self.proxy[svc][pod]
    }
}

// ---------------------------------------------------------------------------------------
// Pre-encoded templates
// ---------------------------------------------------------------------------------------

/// An event of a span variant, its time an offset from the trace start.
pub(crate) struct EventTpl {
    pub at: u64,
    /// Protobuf: Event fields after the time (name, attributes).
    pub pb_rest: Vec<u8>,
    /// JSON: `,"name":...,"attributes":[...]}`.
    pub js_rest: Vec<u8>,
}

/// One pre-encoded outcome of a span.
pub(crate) struct Variant {
    /// Protobuf: repeated field 9 (attributes).
    pub pb_attrs: Vec<u8>,
    /// Protobuf: field 15 (status, if any) then field 16 (flags).
    pub pb_tail: Vec<u8>,
    /// JSON: `,"attributes":[...]`.
    pub js_attrs: Vec<u8>,
    /// JSON: `,"status":{...}` or empty.
    pub js_status: Vec<u8>,
    pub events: Vec<EventTpl>,
}

/// One span of a template.
pub(crate) struct SpanTpl {
    /// Which trace of the template (0 = the request, 1.. = Kafka consumer traces).
    pub slot: u8,
    pub parent: Option<u16>,
    /// The span this one links to (a consumer's producer), in another slot.
    pub link: Option<u16>,
    /// Output group (resource + scope).
    pub group: u16,
    pub start: u64,
    pub end: u64,
    /// For client/proxy spans: the SERVER span answering the call.
    pub call_server: Option<u16>,
    /// Protobuf: fields 5 and 6 (name, kind).
    pub pb_head: Vec<u8>,
    /// JSON: `,"flags":F,"name":"N","kind":K`.
    pub js_head: Vec<u8>,
    pub variants: [Variant; 3],
}

/// A pre-encoded trace (or a request trace plus the consumer traces it causes).
pub(crate) struct TraceTpl {
    pub spans: Vec<SpanTpl>,
    pub slots: u8,
    /// Per slot, the spans an error may start at.
    pub origins: Vec<Vec<u16>>,
    /// Latest end offset of any span.
    pub duration: u64,
}

/// Builds `count` templates from `rng`.
pub(crate) fn build_pool(
    topo: &Topology,
    cat: &Catalog,
    rng: &mut StdRng,
    count: usize,
) -> Vec<TraceTpl> {
    (0..count.max(1))
        .map(|_| {
            let drafts = Builder {
                topo,
                cat,
                rng: &mut *rng,
                drafts: vec![],
                pending: VecDeque::new(),
                slot: 0,
            }
            .trace();
            encode_template(&drafts)
        })
        .collect()
}

fn encode_template(drafts: &[Draft]) -> TraceTpl {
    let slots = drafts.iter().map(|d| d.slot).max().unwrap_or(0) + 1;
    let mut origins = vec![vec![]; usize::from(slots)];
    let mut spans = Vec::with_capacity(drafts.len());
    for (i, d) in drafts.iter().enumerate() {
        if d.can_originate {
            origins[usize::from(d.slot)].push(i as u16);
        }
        let flags = if d.remote_parent {
            FLAGS_REMOTE
        } else {
            FLAGS_LOCAL
        };
        let mut pb_head = vec![];
        encoding::string::encode(5, &d.name, &mut pb_head);
        encoding::int32::encode(6, &(d.kind as i32), &mut pb_head);
        let mut js_head = vec![];
        json::write_span_head(&mut js_head, flags, &d.name, d.kind as i32);
        let variants = [OK, ORIGIN, PROPAGATED].map(|outcome| {
            let (attrs, status, events) = d.render(outcome);
            let mut pb_attrs = vec![];
            for kv in &attrs {
                encoding::message::encode(9, kv, &mut pb_attrs);
            }
            let mut pb_tail = vec![];
            if let Some(st) = &status {
                encoding::message::encode(15, st, &mut pb_tail);
            }
            encoding::encode_key(16, WireType::ThirtyTwoBit, &mut pb_tail);
            pb_tail.extend_from_slice(&flags.to_le_bytes());
            let mut js_attrs = vec![];
            json::write_attributes_field(&mut js_attrs, &attrs);
            let mut js_status = vec![];
            json::write_status_field(&mut js_status, status.as_ref());
            let events = events
                .into_iter()
                .map(|(at, ev)| {
                    let mut pb_rest = vec![];
                    encoding::string::encode(2, &ev.name, &mut pb_rest);
                    for kv in &ev.attributes {
                        encoding::message::encode(3, kv, &mut pb_rest);
                    }
                    let mut js_rest = vec![];
                    json::write_event_rest(&mut js_rest, &ev);
                    EventTpl {
                        at,
                        pb_rest,
                        js_rest,
                    }
                })
                .collect();
            Variant {
                pb_attrs,
                pb_tail,
                js_attrs,
                js_status,
                events,
            }
        });
        spans.push(SpanTpl {
            slot: d.slot,
            parent: d.parent.map(|p| p as u16),
            link: d.link.map(|p| p as u16),
            group: d.group as u16,
            start: d.start,
            end: d.end,
            call_server: d.call_server.map(|p| p as u16),
            pb_head,
            js_head,
            variants,
        });
    }
    let duration = drafts.iter().map(|d| d.end).max().unwrap_or(0);
    TraceTpl {
        spans,
        slots,
        origins,
        duration,
    }
}

// ---------------------------------------------------------------------------------------
// Drafts: spans with roles, before encoding
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProxyDir {
    Gateway,
    Outbound,
    Inbound,
}

/// What a span stands for; renders its attributes and status per outcome.
enum Role {
    Proxy {
        dir: ProxyDir,
        new_method_key: bool,
        method: &'static str,
        url: String,
        upstream_cluster: String,
        upstream_address: String,
        peer: String,
        node_id: String,
        request_id: String,
        canonical: String,
        revision: String,
        namespace: &'static str,
        grpc: bool,
        ok_code: i64,
        request_size: u32,
        response_size: u32,
    },
    HttpServer {
        semconv: Semconv,
        method: &'static str,
        route: String,
        path: String,
        host: String,
        port: u16,
        client_ip: String,
        ok_code: i64,
    },
    HttpClient {
        semconv: Semconv,
        method: &'static str,
        url: String,
        host: String,
        port: u16,
        peer_ip: String,
        ok_code: i64,
    },
    Grpc {
        server: bool,
        semconv: Semconv,
        service: String,
        method: String,
        host: String,
        port: u16,
        peer_ip: String,
    },
    Db {
        semconv: Semconv,
        system: DbSystem,
        db_name: String,
        statement: String,
        operation: &'static str,
        collection: String,
        host: String,
        port: u16,
    },
    Messaging {
        consumer: bool,
        semconv: Semconv,
        topic: String,
        partition: i64,
        offset: i64,
        group: String,
        client_id: String,
    },
    Internal {
        attrs: Vec<KeyValue>,
    },
}

struct Draft {
    slot: u8,
    parent: Option<usize>,
    link: Option<usize>,
    group: usize,
    remote_parent: bool,
    name: String,
    kind: SpanKind,
    start: u64,
    end: u64,
    role: Role,
    call_server: Option<usize>,
    can_originate: bool,
    language: Language,
    service: String,
    /// Events present whatever the outcome (offsets from trace start).
    events: Vec<(u64, Event)>,
}

fn status_err(message: impl Into<String>) -> Option<Status> {
    Some(Status {
        message: message.into(),
        code: StatusCode::Error as i32,
    })
}

fn http_code(outcome: usize, ok: i64) -> i64 {
    match outcome {
        ORIGIN => 503,
        PROPAGATED => 500,
        _ => ok,
    }
}

fn grpc_code(outcome: usize) -> i64 {
    match outcome {
        ORIGIN => 14,
        PROPAGATED => 13,
        _ => 0,
    }
}

fn http_reason(code: i64) -> &'static str {
    match code {
        503 => "503 Service Unavailable",
        _ => "500 Internal Server Error",
    }
}

/// What went wrong at an error origin.
enum Cause<'a> {
    Db(DbSystem, &'a str),
    Kafka(&'a str),
    Handler,
    Validation,
}

/// `(exception.type, exception.message, exception.stacktrace)` in the style of `lang`.
fn exception(lang: Language, cause: &Cause<'_>, service: &str) -> (String, String, String) {
    let message = match cause {
        Cause::Db(DbSystem::Postgresql, _) => {
            "canceling statement due to statement timeout".to_string()
        }
        Cause::Db(DbSystem::Mysql, _) => {
            "Deadlock found when trying to get lock; try restarting transaction".to_string()
        }
        Cause::Db(DbSystem::Redis, host) => format!("dial tcp {host}:6379: i/o timeout"),
        Cause::Db(DbSystem::Mongodb, _) => {
            "server selection timeout: no available servers".to_string()
        }
        Cause::Kafka(topic) => format!("Local: Message timed out (topic {topic})"),
        Cause::Handler => "upstream response invalid: unexpected end of JSON input".to_string(),
        Cause::Validation => "invalid request: quantity must be positive".to_string(),
    };
    let class = pascal(service);
    let ty = match (lang, cause) {
        (Language::Java, Cause::Db(DbSystem::Postgresql, _)) => "org.postgresql.util.PSQLException",
        (Language::Java, Cause::Db(DbSystem::Mysql, _)) => {
            "com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException"
        }
        (Language::Java, Cause::Db(DbSystem::Redis, _)) => {
            "redis.clients.jedis.exceptions.JedisConnectionException"
        }
        (Language::Java, Cause::Db(DbSystem::Mongodb, _)) => "com.mongodb.MongoTimeoutException",
        (Language::Java, Cause::Kafka(_)) => "org.apache.kafka.common.errors.TimeoutException",
        (Language::Java, Cause::Handler) => "java.lang.IllegalStateException",
        (Language::Java, Cause::Validation) => "jakarta.validation.ConstraintViolationException",
        (Language::Go, Cause::Db(DbSystem::Postgresql, _)) => "*pgconn.PgError",
        (Language::Go, Cause::Db(DbSystem::Redis, _)) => "*net.OpError",
        (Language::Go, _) => "*errors.errorString",
        (Language::Python, Cause::Db(DbSystem::Postgresql, _)) => "psycopg2.errors.QueryCanceled",
        (Language::Python, Cause::Db(DbSystem::Redis, _)) => "redis.exceptions.TimeoutError",
        (Language::Python, Cause::Db(DbSystem::Mongodb, _)) => {
            "pymongo.errors.ServerSelectionTimeoutError"
        }
        (Language::Python, Cause::Db(DbSystem::Mysql, _)) => "MySQLdb.OperationalError",
        (Language::Python, Cause::Kafka(_)) => "kafka.errors.KafkaTimeoutError",
        (Language::Python, Cause::Handler) => "json.decoder.JSONDecodeError",
        (Language::Python, Cause::Validation) => "ValueError",
        (Language::NodeJs, Cause::Validation) => "TypeError",
        (Language::NodeJs, _) => "Error",
        (Language::DotNet, Cause::Db(DbSystem::Postgresql, _)) => "Npgsql.PostgresException",
        (Language::DotNet, Cause::Db(DbSystem::Redis, _)) => {
            "StackExchange.Redis.RedisTimeoutException"
        }
        (Language::DotNet, Cause::Db(_, _)) => "System.TimeoutException",
        (Language::DotNet, Cause::Kafka(_)) => "Confluent.Kafka.ProduceException`2",
        (Language::DotNet, Cause::Handler) => "System.Text.Json.JsonException",
        (Language::DotNet, Cause::Validation) => "System.ArgumentOutOfRangeException",
        (Language::Rust, Cause::Db(DbSystem::Postgresql | DbSystem::Mysql, _)) => {
            "sqlx_core::error::Error"
        }
        (Language::Rust, Cause::Db(_, _)) => "std::io::Error",
        (Language::Rust, Cause::Kafka(_)) => "rdkafka::error::KafkaError",
        (Language::Rust, _) => "anyhow::Error",
    };
    let module = service.replace('-', "_");
    let stack = match lang {
        Language::Java => format!(
            "{ty}: {message}\n\tat com.example.{module}.{class}Service.handle({class}Service.java:142)\n\tat com.example.{module}.{class}Controller.get({class}Controller.java:57)\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)\n\tat jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)\n"
        ),
        Language::Go => format!(
            "goroutine 187 [running]:\ngithub.com/example/{service}/internal/handler.(*Server).handle(0xc000482000, {{0x1b7a2e0, 0xc0004a6c30}})\n\t/src/internal/handler/handler.go:142 +0x2b4\nnet/http.HandlerFunc.ServeHTTP(...)\n\t/usr/local/go/src/net/http/server.go:2294\nnet/http.(*conn).serve(0xc0001b2000, {{0x1b7f9a8, 0xc00011e0f0}})\n\t/usr/local/go/src/net/http/server.go:2102 +0x625\n"
        ),
        Language::Python => format!(
            "Traceback (most recent call last):\n  File \"/app/{module}/handlers.py\", line 88, in handle\n    result = repository.fetch(item_id)\n  File \"/app/{module}/repository.py\", line 41, in fetch\n    cursor.execute(QUERY, (item_id,))\n{ty}: {message}\n"
        ),
        Language::NodeJs => format!(
            "{ty}: {message}\n    at Client._handleErrorMessage (/app/node_modules/pg/lib/client.js:335:17)\n    at /app/src/routes/{service}.js:57:23\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"
        ),
        Language::DotNet => format!(
            "{ty}: {message}\n   at {class}.Api.Services.{class}Service.GetAsync(Int32 id) in /src/{class}.Api/Services/{class}Service.cs:line 48\n   at {class}.Api.Controllers.{class}Controller.Get(Int32 id) in /src/{class}.Api/Controllers/{class}Controller.cs:line 31\n   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.TaskOfIActionResultExecutor.Execute(ActionContext actionContext)"
        ),
        Language::Rust => format!(
            "{message}\n\nStack backtrace:\n   0: {module}::handlers::handle\n             at ./src/handlers.rs:73:18\n   1: {module}::server::serve::{{{{closure}}}}\n             at ./src/server.rs:41:9\n   2: tokio::runtime::task::harness::poll_future\n"
        ),
    };
    (ty.to_string(), message, stack)
}

fn pascal(s: &str) -> String {
    s.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

impl Draft {
    /// Attributes, status and events of this span for one outcome.
    fn render(&self, outcome: usize) -> (Vec<KeyValue>, Option<Status>, Vec<(u64, Event)>) {
        let mut attrs = Vec::with_capacity(16);
        let mut status = None;
        let mut cause = None;
        match &self.role {
            Role::Proxy {
                dir,
                new_method_key,
                method,
                url,
                upstream_cluster,
                upstream_address,
                peer,
                node_id,
                request_id,
                canonical,
                revision,
                namespace,
                grpc,
                ok_code,
                request_size,
                response_size,
            } => {
                let code = http_code(outcome, *ok_code);
                // Envoy reports every tag as a string.
                attrs.push(kv_str("node_id", node_id.clone()));
                attrs.push(kv_str("zone", "eu-west-1a"));
                attrs.push(kv_str("guid:x-request-id", request_id.clone()));
                attrs.push(kv_str("http.url", url.clone()));
                attrs.push(kv_str(
                    if *new_method_key {
                        "http.request.method"
                    } else {
                        "http.method"
                    },
                    *method,
                ));
                attrs.push(kv_str("downstream_cluster", "-"));
                attrs.push(kv_str(
                    "user_agent",
                    if *dir == ProxyDir::Gateway {
                        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
                    } else if *grpc {
                        "grpc-go/1.71.0"
                    } else {
                        "okhttp/4.12.0"
                    },
                ));
                attrs.push(kv_str(
                    "http.protocol",
                    if *grpc { "HTTP/2" } else { "HTTP/1.1" },
                ));
                attrs.push(kv_str("peer.address", peer.clone()));
                attrs.push(kv_str("request_size", request_size.to_string()));
                attrs.push(kv_str(
                    "response_size",
                    if outcome == OK {
                        response_size.to_string()
                    } else {
                        "95".into()
                    },
                ));
                attrs.push(kv_str(
                    "response_flags",
                    match outcome {
                        ORIGIN => "UF,URX",
                        _ => "-",
                    },
                ));
                attrs.push(kv_str("upstream_cluster", upstream_cluster.clone()));
                attrs.push(kv_str("upstream_cluster.name", upstream_cluster.clone()));
                attrs.push(kv_str("upstream_address", upstream_address.clone()));
                attrs.push(kv_str("http.status_code", code.to_string()));
                if *grpc {
                    attrs.push(kv_str("grpc.status_code", grpc_code(outcome).to_string()));
                }
                attrs.push(kv_str("istio.canonical_service", canonical.clone()));
                attrs.push(kv_str("istio.canonical_revision", revision.clone()));
                attrs.push(kv_str("istio.mesh_id", "cluster.local"));
                attrs.push(kv_str("istio.namespace", *namespace));
                attrs.push(kv_str("component", "proxy"));
                if outcome != OK {
                    attrs.push(kv_str("error", "true"));
                    status = status_err(if outcome == ORIGIN {
                        "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
                    } else {
                        http_reason(code)
                    });
                }
            }
            Role::HttpServer {
                semconv,
                method,
                route,
                path,
                host,
                port,
                client_ip,
                ok_code,
            } => {
                let code = http_code(outcome, *ok_code);
                if *semconv == Semconv::New {
                    attrs.push(kv_str("http.request.method", *method));
                    attrs.push(kv_str("http.route", route.clone()));
                    attrs.push(kv_str("url.path", path.clone()));
                    attrs.push(kv_str("url.scheme", "http"));
                    attrs.push(kv_str("server.address", host.clone()));
                    attrs.push(kv_int("server.port", i64::from(*port)));
                    attrs.push(kv_str("client.address", client_ip.clone()));
                    attrs.push(kv_str("network.protocol.version", "1.1"));
                    attrs.push(kv_str("user_agent.original", "okhttp/4.12.0"));
                    attrs.push(kv_int("http.response.status_code", code));
                    if outcome != OK {
                        attrs.push(kv_str("error.type", code.to_string()));
                    }
                } else {
                    attrs.push(kv_str("http.method", *method));
                    attrs.push(kv_str("http.route", route.clone()));
                    attrs.push(kv_str("http.target", path.clone()));
                    attrs.push(kv_str("http.scheme", "http"));
                    attrs.push(kv_str("net.host.name", host.clone()));
                    attrs.push(kv_int("net.host.port", i64::from(*port)));
                    attrs.push(kv_str("http.client_ip", client_ip.clone()));
                    attrs.push(kv_str("http.flavor", "1.1"));
                    attrs.push(kv_str("http.user_agent", "okhttp/4.12.0"));
                    attrs.push(kv_int("http.status_code", code));
                }
                if outcome != OK {
                    status = status_err(http_reason(code));
                }
                if outcome == ORIGIN {
                    cause = Some(Cause::Handler);
                }
            }
            Role::HttpClient {
                semconv,
                method,
                url,
                host,
                port,
                peer_ip,
                ok_code,
            } => {
                let code = http_code(outcome, *ok_code);
                if *semconv == Semconv::New {
                    attrs.push(kv_str("http.request.method", *method));
                    attrs.push(kv_str("url.full", url.clone()));
                    attrs.push(kv_str("server.address", host.clone()));
                    attrs.push(kv_int("server.port", i64::from(*port)));
                    attrs.push(kv_str("network.peer.address", peer_ip.clone()));
                    attrs.push(kv_int("http.response.status_code", code));
                    if outcome != OK {
                        attrs.push(kv_str("error.type", code.to_string()));
                    }
                } else {
                    attrs.push(kv_str("http.method", *method));
                    attrs.push(kv_str("http.url", url.clone()));
                    attrs.push(kv_str("net.peer.name", host.clone()));
                    attrs.push(kv_int("net.peer.port", i64::from(*port)));
                    attrs.push(kv_int("http.status_code", code));
                }
                if outcome != OK {
                    status = status_err(http_reason(code));
                }
            }
            Role::Grpc {
                server,
                semconv,
                service,
                method,
                host,
                port,
                peer_ip,
            } => {
                let code = grpc_code(outcome);
                attrs.push(kv_str("rpc.system", "grpc"));
                attrs.push(kv_str("rpc.service", service.clone()));
                attrs.push(kv_str("rpc.method", method.clone()));
                attrs.push(kv_int("rpc.grpc.status_code", code));
                match (server, semconv) {
                    (true, Semconv::New) => {
                        attrs.push(kv_str("server.address", host.clone()));
                        attrs.push(kv_int("server.port", i64::from(*port)));
                        attrs.push(kv_str("client.address", peer_ip.clone()));
                    }
                    (true, Semconv::Old) => {
                        attrs.push(kv_str("net.host.name", host.clone()));
                        attrs.push(kv_int("net.host.port", i64::from(*port)));
                        attrs.push(kv_str("net.sock.peer.addr", peer_ip.clone()));
                    }
                    (false, Semconv::New) => {
                        attrs.push(kv_str("server.address", host.clone()));
                        attrs.push(kv_int("server.port", i64::from(*port)));
                        attrs.push(kv_str("network.peer.address", peer_ip.clone()));
                    }
                    (false, Semconv::Old) => {
                        attrs.push(kv_str("net.peer.name", host.clone()));
                        attrs.push(kv_int("net.peer.port", i64::from(*port)));
                    }
                }
                if outcome != OK {
                    if *semconv == Semconv::New {
                        attrs.push(kv_str(
                            "error.type",
                            if code == 14 {
                                "UNAVAILABLE"
                            } else {
                                "INTERNAL"
                            },
                        ));
                    }
                    status = status_err(if code == 14 {
                        "UNAVAILABLE: upstream dependency unavailable"
                    } else {
                        "INTERNAL: downstream call failed"
                    });
                }
                if *server && outcome == ORIGIN {
                    cause = Some(Cause::Handler);
                }
            }
            Role::Db {
                semconv,
                system,
                db_name,
                statement,
                operation,
                collection,
                host,
                port,
            } => {
                attrs.push(kv_str("db.system", system.name()));
                if *semconv == Semconv::New {
                    attrs.push(kv_str("db.namespace", db_name.clone()));
                    attrs.push(kv_str("db.query.text", statement.clone()));
                    attrs.push(kv_str("db.operation.name", *operation));
                    if *system != DbSystem::Redis {
                        attrs.push(kv_str("db.collection.name", collection.clone()));
                    }
                } else {
                    attrs.push(kv_str("db.name", db_name.clone()));
                    attrs.push(kv_str("db.statement", statement.clone()));
                    attrs.push(kv_str("db.operation", *operation));
                    if matches!(system, DbSystem::Postgresql | DbSystem::Mysql) {
                        attrs.push(kv_str("db.sql.table", collection.clone()));
                    }
                    if *system != DbSystem::Redis {
                        attrs.push(kv_str("db.user", "app"));
                    }
                }
                attrs.push(kv_str("server.address", host.clone()));
                attrs.push(kv_int("server.port", i64::from(*port)));
                if outcome != OK {
                    let c = Cause::Db(*system, host);
                    let (ty, msg, _) = exception(self.language, &c, &self.service);
                    if *semconv == Semconv::New {
                        attrs.push(kv_str("error.type", ty));
                    }
                    status = status_err(msg);
                    cause = Some(c);
                }
            }
            Role::Messaging {
                consumer,
                semconv,
                topic,
                partition,
                offset,
                group,
                client_id,
            } => {
                attrs.push(kv_str("messaging.system", "kafka"));
                attrs.push(kv_str("messaging.destination.name", topic.clone()));
                match (consumer, semconv) {
                    (false, Semconv::New) => {
                        attrs.push(kv_str("messaging.operation.type", "send"));
                        attrs.push(kv_str("messaging.operation.name", "send"));
                        attrs.push(kv_str(
                            "messaging.destination.partition.id",
                            partition.to_string(),
                        ));
                        attrs.push(kv_str("messaging.client.id", client_id.clone()));
                    }
                    (false, Semconv::Old) => {
                        attrs.push(kv_str("messaging.operation", "publish"));
                        attrs.push(kv_int("messaging.kafka.destination.partition", *partition));
                        attrs.push(kv_str("messaging.client_id", client_id.clone()));
                    }
                    (true, Semconv::New) => {
                        attrs.push(kv_str("messaging.operation.type", "process"));
                        attrs.push(kv_str("messaging.operation.name", "process"));
                        attrs.push(kv_str("messaging.consumer.group.name", group.clone()));
                        attrs.push(kv_str(
                            "messaging.destination.partition.id",
                            partition.to_string(),
                        ));
                        attrs.push(kv_int("messaging.kafka.offset", *offset));
                        attrs.push(kv_str("messaging.client.id", client_id.clone()));
                    }
                    (true, Semconv::Old) => {
                        attrs.push(kv_str("messaging.operation", "process"));
                        attrs.push(kv_str("messaging.kafka.consumer.group", group.clone()));
                        attrs.push(kv_int("messaging.kafka.source.partition", *partition));
                        attrs.push(kv_int("messaging.kafka.message.offset", *offset));
                        attrs.push(kv_str("messaging.client_id", client_id.clone()));
                    }
                }
                attrs.push(kv_str(
                    "server.address",
                    "kafka-0.kafka-headless.data.svc.cluster.local",
                ));
                attrs.push(kv_int("server.port", 9092));
                if outcome != OK {
                    if *consumer {
                        status = status_err("failed to process message");
                        if outcome == ORIGIN {
                            cause = Some(Cause::Handler);
                        }
                    } else {
                        let c = Cause::Kafka(topic);
                        let (_, msg, _) = exception(self.language, &c, &self.service);
                        status = status_err(msg);
                        cause = Some(c);
                    }
                }
            }
            Role::Internal { attrs: a } => {
                attrs.extend(a.iter().cloned());
                if outcome != OK {
                    status = status_err(if outcome == ORIGIN {
                        "invalid request: quantity must be positive"
                    } else {
                        "downstream call failed"
                    });
                }
                if outcome == ORIGIN {
                    cause = Some(Cause::Validation);
                }
            }
        }
        let mut events = self.events.clone();
        if outcome == ORIGIN
            && let Some(cause) = cause
        {
            let (ty, msg, stack) = exception(self.language, &cause, &self.service);
            let at = self.start + (self.end - self.start) * 9 / 10;
            events.push((
                at,
                Event {
                    time_unix_nano: 0,
                    name: "exception".into(),
                    attributes: vec![
                        kv_str("exception.type", ty),
                        kv_str("exception.message", msg),
                        kv_str("exception.stacktrace", stack),
                        kv_bool("exception.escaped", true),
                    ],
                    dropped_attributes_count: 0,
                },
            ));
        }
        (attrs, status, events)
    }
}

// ---------------------------------------------------------------------------------------
// The walk through the mesh
// ---------------------------------------------------------------------------------------

/// Standard normal sample (Box–Muller).
pub(crate) fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal duration in ns around `median_ns`, clamped to [1 µs, 30 s].
fn lognormal(rng: &mut StdRng, median_ns: f64, sigma: f64) -> u64 {
    (median_ns * (sigma * normal(rng)).exp()).clamp(1_000.0, 30e9) as u64
}

/// Probability that a service at `depth` (frontend = 1) calls each of its callees.
fn call_probability(depth: usize) -> f64 {
    match depth {
        0 | 1 => 0.75,
        2 => 0.55,
        3 => 0.35,
        4 => 0.2,
        _ => 0.0,
    }
}

/// A chosen API operation of a service.
struct Endpoint {
    method: &'static str,
    route: String,
    path: String,
    rpc_service: String,
    rpc_method: String,
    ok_code: i64,
}

struct Builder<'a> {
    topo: &'a Topology,
    cat: &'a Catalog,
    rng: &'a mut StdRng,
    drafts: Vec<Draft>,
    /// Producer spans whose messages a worker will process: (span, topic).
    pending: VecDeque<(usize, usize)>,
    slot: u8,
}

impl Builder<'_> {
    fn trace(mut self) -> Vec<Draft> {
        let topo = self.topo;
        let gw_idx = 0;
        let gw = &topo.services[gw_idx];
        let gw_pod = self.rng.random_range(0..gw.pods.len());
        let fe = if self.rng.random::<f64>() < 0.6 {
            gw.calls[0]
        } else {
            gw.calls[self.rng.random_range(0..gw.calls.len())]
        };
        let fe_pod = self.rng.random_range(0..topo.services[fe].pods.len());
        let ep = self.endpoint(fe);
        let callee = &topo.services[fe];
        let client_ip = format!("203.0.113.{}", self.rng.random_range(2..250));
        let request_id = self.uuid();
        let request_size = if ep.method == "GET" {
            0
        } else {
            self.rng.random_range(80..2000)
        };
        let response_size = self.rng.random_range(300..40_000);
        let root = self.push(Draft {
            slot: 0,
            parent: None,
            link: None,
            group: self.cat.proxy_group(gw_idx, gw_pod).unwrap_or(0),
            remote_parent: false,
            name: format!("{}:{}/*", callee.host(), callee.port),
            kind: SpanKind::Client,
            start: 0,
            end: 0,
            role: Role::Proxy {
                dir: ProxyDir::Gateway,
                new_method_key: gw_pod % 2 == 1,
                method: ep.method,
                url: format!("https://shop.example.com{}", ep.path),
                upstream_cluster: format!("outbound|{}||{}", callee.port, callee.host()),
                upstream_address: format!("{}:{}", callee.pods[fe_pod].ip, callee.port),
                peer: client_ip.clone(),
                node_id: format!(
                    "router~{}~{}.{}~{}.svc.cluster.local",
                    gw.pods[gw_pod].ip, gw.pods[gw_pod].name, gw.namespace, gw.namespace
                ),
                request_id,
                canonical: gw.name.clone(),
                revision: if gw_pod == 0 {
                    "1.23.4".into()
                } else {
                    gw.version.clone()
                },
                namespace: gw.namespace,
                grpc: false,
                ok_code: ep.ok_code,
                request_size,
                response_size,
            },
            call_server: None,
            can_originate: false,
            language: gw.language,
            service: gw.name.clone(),
            events: vec![],
        });
        let t0 = lognormal(self.rng, 60_000.0, 0.4);
        let (end, srv) = self.inbound(fe, fe_pod, root, &client_ip, t0, 1, &ep);
        self.drafts[root].end = end + lognormal(self.rng, 80_000.0, 0.4);
        self.drafts[root].call_server = Some(srv);
        while let Some((producer, topic)) = self.pending.pop_front() {
            self.consumer_trace(producer, topic);
        }
        self.drafts
    }

    fn push(&mut self, d: Draft) -> usize {
        self.drafts.push(d);
        self.drafts.len() - 1
    }

    fn uuid(&mut self) -> String {
        let a: u64 = self.rng.random();
        let b: u64 = self.rng.random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn endpoint(&mut self, svc: usize) -> Endpoint {
        let s = &self.topo.services[svc];
        let id = self.rng.random_range(1..100_000);
        if s.api == Api::Grpc {
            let p = pascal(&s.name);
            let methods = [
                format!("Get{p}"),
                format!("List{p}Items"),
                format!("Update{p}"),
                format!("Get{p}"),
            ];
            let m = methods[self.rng.random_range(0..methods.len())].clone();
            let rpc_service = format!("meshscope.demo.{}.v1.{p}Service", s.name.replace('-', ""));
            return Endpoint {
                method: "POST",
                route: String::new(),
                path: format!("/{rpc_service}/{m}"),
                rpc_service,
                rpc_method: m,
                ok_code: 200,
            };
        }
        let routes: Vec<(&'static str, String)> = match (s.tier, s.name.as_str()) {
            (Tier::Frontend, "frontend") => vec![
                ("GET", "/".into()),
                ("GET", "/products/{id}".into()),
                ("GET", "/products/{id}".into()),
                ("GET", "/cart".into()),
                ("POST", "/cart/items".into()),
                ("POST", "/checkout".into()),
            ],
            (Tier::Frontend, _) => vec![
                ("GET", format!("/api/v2/{}/home", s.name)),
                ("GET", "/api/v2/products/{id}".into()),
                ("POST", "/api/v2/orders".into()),
            ],
            _ => vec![
                ("GET", format!("/api/v1/{}/{{id}}", s.name)),
                ("GET", format!("/api/v1/{}/{{id}}", s.name)),
                ("GET", format!("/api/v1/{}", s.name)),
                ("POST", format!("/api/v1/{}", s.name)),
                ("PUT", format!("/api/v1/{}/{{id}}", s.name)),
            ],
        };
        let (method, route) = routes[self.rng.random_range(0..routes.len())].clone();
        let path = route.replace("{id}", &id.to_string());
        Endpoint {
            method,
            ok_code: if method == "POST" { 201 } else { 200 },
            route,
            path,
            rpc_service: String::new(),
            rpc_method: String::new(),
        }
    }

    fn server_name(&self, svc: usize, ep: &Endpoint) -> String {
        if self.topo.services[svc].api == Api::Grpc {
            format!("{}/{}", ep.rpc_service, ep.rpc_method)
        } else {
            format!("{} {}", ep.method, ep.route)
        }
    }

    /// Arrival of a call at `svc`: sidecar inbound SERVER span, app SERVER span, handler.
    /// Returns the end of the outermost span and the index of the app SERVER span.
    #[allow(clippy::too_many_arguments)]
    fn inbound(
        &mut self,
        svc: usize,
        pod: usize,
        parent: usize,
        caller_ip: &str,
        start: u64,
        depth: usize,
        ep: &Endpoint,
    ) -> (u64, usize) {
        let topo = self.topo;
        let s = &topo.services[svc];
        let mut t = start;
        let mut p = parent;
        let sidecar = self.cat.proxy_group(svc, pod).filter(|_| s.sidecar);
        let sc_in = if let Some(group) = sidecar {
            let request_id = self.uuid();
            let request_size = self.rng.random_range(0..1500);
            let response_size = self.rng.random_range(200..20_000);
            let idx = self.push(Draft {
                slot: self.slot,
                parent: Some(p),
                link: None,
                group,
                remote_parent: true,
                name: format!("{}:{}/*", s.host(), s.port),
                kind: SpanKind::Server,
                start: t,
                end: 0,
                role: Role::Proxy {
                    dir: ProxyDir::Inbound,
                    new_method_key: false,
                    method: ep.method,
                    url: format!("http://{}:{}{}", s.host(), s.port, ep.path),
                    upstream_cluster: format!("inbound|{}||", s.port),
                    upstream_address: format!("{}:{}", s.pods[pod].ip, s.port),
                    peer: caller_ip.to_string(),
                    node_id: format!(
                        "sidecar~{}~{}.{}~{}.svc.cluster.local",
                        s.pods[pod].ip, s.pods[pod].name, s.namespace, s.namespace
                    ),
                    request_id,
                    canonical: s.name.clone(),
                    revision: s.version.clone(),
                    namespace: s.namespace,
                    grpc: s.api == Api::Grpc,
                    ok_code: ep.ok_code,
                    request_size,
                    response_size,
                },
                call_server: None,
                can_originate: false,
                language: s.language,
                service: s.name.clone(),
                events: vec![],
            });
            p = idx;
            t += lognormal(self.rng, 40_000.0, 0.4);
            Some(idx)
        } else {
            None
        };
        let (role, scope) = if s.api == Api::Grpc {
            (
                Role::Grpc {
                    server: true,
                    semconv: s.semconv,
                    service: ep.rpc_service.clone(),
                    method: ep.rpc_method.clone(),
                    host: s.host(),
                    port: s.port,
                    peer_ip: caller_ip.to_string(),
                },
                ScopeKind::Grpc,
            )
        } else {
            (
                Role::HttpServer {
                    semconv: s.semconv,
                    method: ep.method,
                    route: ep.route.clone(),
                    path: ep.path.clone(),
                    host: s.host(),
                    port: s.port,
                    client_ip: caller_ip.to_string(),
                    ok_code: ep.ok_code,
                },
                ScopeKind::Http,
            )
        };
        let name = self.server_name(svc, ep);
        let srv = self.push(Draft {
            slot: self.slot,
            parent: Some(p),
            link: None,
            group: self.cat.app_group(svc, pod, scope),
            remote_parent: true,
            name,
            kind: SpanKind::Server,
            start: t,
            end: 0,
            role,
            call_server: None,
            can_originate: true,
            language: s.language,
            service: s.name.clone(),
            events: vec![],
        });
        let end = self.body(svc, pod, srv, t, depth);
        self.drafts[srv].end = end;
        let mut outer = end;
        if let Some(sc) = sc_in {
            outer = end + lognormal(self.rng, 40_000.0, 0.4);
            self.drafts[sc].end = outer;
            self.drafts[sc].call_server = Some(srv);
        }
        (outer, srv)
    }

    /// A call from `caller` (pod `pod`, inside span `parent`) to `callee`: app CLIENT span,
    /// caller's sidecar outbound CLIENT span, then the callee side. Returns the end time.
    fn outbound(
        &mut self,
        caller: usize,
        pod: usize,
        parent: usize,
        callee: usize,
        start: u64,
        depth: usize,
    ) -> u64 {
        let topo = self.topo;
        let c = &topo.services[caller];
        let s = &topo.services[callee];
        let ep = self.endpoint(callee);
        let callee_pod = self.rng.random_range(0..s.pods.len());
        let callee_ip = s.pods[callee_pod].ip.clone();
        let caller_ip = c.pods[pod].ip.clone();
        let (role, scope, name) = if s.api == Api::Grpc {
            (
                Role::Grpc {
                    server: false,
                    semconv: c.semconv,
                    service: ep.rpc_service.clone(),
                    method: ep.rpc_method.clone(),
                    host: s.host(),
                    port: s.port,
                    peer_ip: callee_ip.clone(),
                },
                ScopeKind::Grpc,
                format!("{}/{}", ep.rpc_service, ep.rpc_method),
            )
        } else {
            (
                Role::HttpClient {
                    semconv: c.semconv,
                    method: ep.method,
                    url: format!("http://{}:{}{}", s.host(), s.port, ep.path),
                    host: s.host(),
                    port: s.port,
                    peer_ip: callee_ip.clone(),
                    ok_code: ep.ok_code,
                },
                ScopeKind::Http,
                if c.semconv == Semconv::New {
                    ep.method.to_string()
                } else {
                    format!("HTTP {}", ep.method)
                },
            )
        };
        let mut events = vec![];
        let grpc_messages = s.api == Api::Grpc && self.rng.random::<f64>() < 0.4;
        let client = self.push(Draft {
            slot: self.slot,
            parent: Some(parent),
            link: None,
            group: self.cat.app_group(caller, pod, scope),
            remote_parent: false,
            name,
            kind: SpanKind::Client,
            start,
            end: 0,
            role,
            call_server: None,
            can_originate: false,
            language: c.language,
            service: c.name.clone(),
            events: vec![],
        });
        let mut t = start + lognormal(self.rng, 20_000.0, 0.4);
        if grpc_messages {
            events.push((
                t,
                Event {
                    time_unix_nano: 0,
                    name: "message".into(),
                    attributes: vec![
                        kv_str("message.type", "SENT"),
                        kv_int("message.id", 1),
                        kv_int("message.uncompressed_size", self.rng.random_range(20..600)),
                    ],
                    dropped_attributes_count: 0,
                },
            ));
        }
        let sidecar = self.cat.proxy_group(caller, pod).filter(|_| c.sidecar);
        let sc_out = if let Some(group) = sidecar {
            let request_id = self.uuid();
            let request_size = self.rng.random_range(0..1500);
            let response_size = self.rng.random_range(200..20_000);
            let idx = self.push(Draft {
                slot: self.slot,
                parent: Some(client),
                link: None,
                group,
                remote_parent: true,
                name: format!("{}:{}/*", s.host(), s.port),
                kind: SpanKind::Client,
                start: t,
                end: 0,
                role: Role::Proxy {
                    dir: ProxyDir::Outbound,
                    new_method_key: false,
                    method: ep.method,
                    url: format!("http://{}:{}{}", s.host(), s.port, ep.path),
                    upstream_cluster: format!("outbound|{}||{}", s.port, s.host()),
                    upstream_address: format!("{}:{}", callee_ip, s.port),
                    peer: caller_ip.clone(),
                    node_id: format!(
                        "sidecar~{}~{}.{}~{}.svc.cluster.local",
                        caller_ip, c.pods[pod].name, c.namespace, c.namespace
                    ),
                    request_id,
                    canonical: c.name.clone(),
                    revision: c.version.clone(),
                    namespace: c.namespace,
                    grpc: s.api == Api::Grpc,
                    ok_code: ep.ok_code,
                    request_size,
                    response_size,
                },
                call_server: None,
                can_originate: false,
                language: c.language,
                service: c.name.clone(),
                events: vec![],
            });
            t += lognormal(self.rng, 30_000.0, 0.4);
            Some(idx)
        } else {
            None
        };
        let net = lognormal(self.rng, 150_000.0, 0.5);
        let parent_of_server = sc_out.unwrap_or(client);
        let (srv_end, srv) = self.inbound(
            callee,
            callee_pod,
            parent_of_server,
            &caller_ip,
            t + net,
            depth + 1,
            &ep,
        );
        let mut end = srv_end + lognormal(self.rng, 100_000.0, 0.5);
        if let Some(sc) = sc_out {
            self.drafts[sc].end = end;
            self.drafts[sc].call_server = Some(srv);
            end += lognormal(self.rng, 20_000.0, 0.4);
        }
        if grpc_messages {
            events.push((
                end - 1_000,
                Event {
                    time_unix_nano: 0,
                    name: "message".into(),
                    attributes: vec![
                        kv_str("message.type", "RECEIVED"),
                        kv_int("message.id", 1),
                        kv_int(
                            "message.uncompressed_size",
                            self.rng.random_range(40..8_000),
                        ),
                    ],
                    dropped_attributes_count: 0,
                },
            ));
        }
        let d = &mut self.drafts[client];
        d.end = end;
        d.call_server = Some(srv);
        d.events = events;
        end
    }

    /// The handler of `svc` inside `span`: internal work, queries, downstream calls and
    /// Kafka publishes. Returns the handler's end time.
    fn body(&mut self, svc: usize, pod: usize, span: usize, start: u64, depth: usize) -> u64 {
        let topo = self.topo;
        let s = &topo.services[svc];
        let mut t = start + lognormal(self.rng, 120_000.0, 0.5);

        if self.rng.random::<f64>() < 0.35 {
            const NAMES: [&str; 7] = [
                "validate_request",
                "load_feature_flags",
                "check_permissions",
                "apply_discounts",
                "compute_totals",
                "render_page",
                "serialize_response",
            ];
            let name = NAMES[self.rng.random_range(0..NAMES.len())];
            let d = lognormal(self.rng, 250_000.0, 0.7);
            let attrs = vec![
                kv_int("app.items", self.rng.random_range(1..40)),
                kv_bool("app.cache.hit", self.rng.random::<bool>()),
                kv_f64(
                    "app.ratio",
                    f64::from(self.rng.random_range(0..1000u32)) / 1000.0,
                ),
                kv_str(
                    "app.tenant",
                    ["acme", "globex", "initech", "umbrella"][self.rng.random_range(0..4)],
                ),
            ];
            let mut events = vec![];
            if self.rng.random::<f64>() < 0.3 {
                events.push((
                    t + d / 3,
                    Event {
                        time_unix_nano: 0,
                        name: "cache miss".into(),
                        attributes: vec![kv_str(
                            "cache.key",
                            format!("{}:{}", s.name, self.rng.random_range(1..9999)),
                        )],
                        dropped_attributes_count: 0,
                    },
                ));
            }
            self.push(Draft {
                slot: self.slot,
                parent: Some(span),
                link: None,
                group: self.cat.app_group(svc, pod, ScopeKind::Manual),
                remote_parent: false,
                name: name.into(),
                kind: SpanKind::Internal,
                start: t,
                end: t + d,
                role: Role::Internal { attrs },
                call_server: None,
                can_originate: true,
                language: s.language,
                service: s.name.clone(),
                events,
            });
            t += d + lognormal(self.rng, 10_000.0, 0.3);
        }

        for &db in &s.databases {
            let database = &topo.databases[db];
            let n = if database.system == DbSystem::Redis {
                self.rng.random_range(1..=2)
            } else {
                self.rng.random_range(1..=3)
            };
            for _ in 0..n {
                let d = match database.system {
                    DbSystem::Redis => lognormal(self.rng, 300_000.0, 0.5),
                    DbSystem::Mongodb => lognormal(self.rng, 1_800_000.0, 0.7),
                    _ => lognormal(self.rng, 2_500_000.0, 0.8),
                };
                let table =
                    database.tables[self.rng.random_range(0..database.tables.len())].clone();
                let id = self.rng.random_range(1..1_000_000);
                let (operation, statement) = self.statement(database.system, &table, id);
                let name = if database.system == DbSystem::Redis {
                    operation.to_string()
                } else {
                    format!("{operation} {table}")
                };
                self.push(Draft {
                    slot: self.slot,
                    parent: Some(span),
                    link: None,
                    group: self.cat.app_group(svc, pod, ScopeKind::Db),
                    remote_parent: false,
                    name,
                    kind: SpanKind::Client,
                    start: t,
                    end: t + d,
                    role: Role::Db {
                        semconv: s.semconv,
                        system: database.system,
                        db_name: database.name.clone(),
                        statement,
                        operation,
                        collection: table,
                        host: database.host.clone(),
                        port: database.port,
                    },
                    call_server: None,
                    can_originate: true,
                    language: s.language,
                    service: s.name.clone(),
                    events: vec![],
                });
                t += d + lognormal(self.rng, 15_000.0, 0.4);
            }
        }

        let p = call_probability(depth);
        let callees: Vec<usize> = s
            .calls
            .iter()
            .copied()
            .filter(|_| self.rng.random::<f64>() < p)
            .collect();
        if callees.len() >= 2 && self.rng.random::<f64>() < 0.3 {
            let mut latest = t;
            for c in callees {
                let st = t + lognormal(self.rng, 10_000.0, 0.3);
                latest = latest.max(self.outbound(svc, pod, span, c, st, depth));
            }
            t = latest;
        } else {
            for c in callees {
                let st = t + lognormal(self.rng, 15_000.0, 0.3);
                t = self.outbound(svc, pod, span, c, st, depth);
            }
        }

        for &topic in &s.produces {
            if self.rng.random::<f64>() >= 0.7 {
                continue;
            }
            let tp = &topo.topics[topic];
            let d = lognormal(self.rng, 1_200_000.0, 0.6);
            let name = if s.semconv == Semconv::New {
                format!("send {}", tp.name)
            } else {
                format!("{} publish", tp.name)
            };
            let partition = self.rng.random_range(0..12);
            let idx = self.push(Draft {
                slot: self.slot,
                parent: Some(span),
                link: None,
                group: self.cat.app_group(svc, pod, ScopeKind::Messaging),
                remote_parent: false,
                name,
                kind: SpanKind::Producer,
                start: t,
                end: t + d,
                role: Role::Messaging {
                    consumer: false,
                    semconv: s.semconv,
                    topic: tp.name.clone(),
                    partition,
                    offset: 0,
                    group: String::new(),
                    client_id: format!("{}-producer-1", s.name),
                },
                call_server: None,
                can_originate: true,
                language: s.language,
                service: s.name.clone(),
                events: vec![],
            });
            let slots_used = self.slot as usize + 1 + self.pending.len();
            if slots_used < usize::from(MAX_SLOTS) {
                self.pending.push_back((idx, topic));
            }
            t += d;
        }

        t + lognormal(self.rng, 150_000.0, 0.5)
    }

    /// A Kafka consumer trace: a CONSUMER root span in the worker, linked to the producer.
    fn consumer_trace(&mut self, producer: usize, topic: usize) {
        self.slot += 1;
        let topo = self.topo;
        let tp = &topo.topics[topic];
        let w = tp.consumer;
        let s = &topo.services[w];
        let pod = self.rng.random_range(0..s.pods.len());
        let start = self.drafts[producer].end + lognormal(self.rng, 6_000_000.0, 0.8);
        let partition = match &self.drafts[producer].role {
            Role::Messaging { partition, .. } => *partition,
            _ => 0,
        };
        let name = if s.semconv == Semconv::New {
            format!("process {}", tp.name)
        } else {
            format!("{} process", tp.name)
        };
        let offset = self.rng.random_range(1_000_000..90_000_000);
        let root = self.push(Draft {
            slot: self.slot,
            parent: None,
            link: Some(producer),
            group: self.cat.app_group(w, pod, ScopeKind::Messaging),
            remote_parent: false,
            name,
            kind: SpanKind::Consumer,
            start,
            end: 0,
            role: Role::Messaging {
                consumer: true,
                semconv: s.semconv,
                topic: tp.name.clone(),
                partition,
                offset,
                group: s.name.clone(),
                client_id: format!("{}-consumer-{}", s.name, pod + 1),
            },
            call_server: None,
            can_originate: true,
            language: s.language,
            service: s.name.clone(),
            events: vec![],
        });
        let handler_start = start + lognormal(self.rng, 50_000.0, 0.4);
        let end = self.body(w, pod, root, handler_start, 2);
        self.drafts[root].end = end;
    }

    fn statement(&mut self, system: DbSystem, table: &str, id: u32) -> (&'static str, String) {
        let pick = self.rng.random_range(0..4);
        match system {
            DbSystem::Postgresql | DbSystem::Mysql => {
                let ph = if system == DbSystem::Postgresql {
                    "$1"
                } else {
                    "?"
                };
                match pick {
                    0 | 1 => (
                        "SELECT",
                        format!("SELECT id, name, price, updated_at FROM {table} WHERE id = {ph}"),
                    ),
                    2 => (
                        "UPDATE",
                        format!(
                            "UPDATE {table} SET quantity = quantity - 1, updated_at = now() WHERE id = {ph}"
                        ),
                    ),
                    _ => (
                        "INSERT",
                        format!(
                            "INSERT INTO {table} (id, payload, created_at) VALUES ({ph}, {ph}, now())"
                        ),
                    ),
                }
            }
            DbSystem::Redis => match pick {
                0 | 1 => ("GET", format!("GET {table}:{id}")),
                2 => ("SET", format!("SET {table}:{id} ? EX 300")),
                _ => ("HGETALL", format!("HGETALL {table}:{id}")),
            },
            DbSystem::Mongodb => match pick {
                0 | 1 => (
                    "find",
                    format!("{{\"find\":\"{table}\",\"filter\":{{\"_id\":\"?\"}},\"limit\":1}}"),
                ),
                2 => (
                    "update",
                    format!(
                        "{{\"update\":\"{table}\",\"updates\":[{{\"q\":{{\"_id\":\"?\"}},\"u\":{{\"$inc\":{{\"views\":1}}}}}}]}}"
                    ),
                ),
                _ => (
                    "insert",
                    format!("{{\"insert\":\"{table}\",\"documents\":[\"?\"]}}"),
                ),
            },
        }
    }
}
