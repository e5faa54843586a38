//! The simulated mesh: services, their pods, APIs, databases and Kafka topics.
//!
//! The topology is a pure function of the service count (not of the seed), so the crate
//! docs can describe it and `--print-topology` shows exactly what a run talks about. The
//! seed only decides which paths traces take, their latencies, errors and ids.

use std::fmt;

/// Where a service sits in the call graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// The Istio ingress gateway: an Envoy that only emits CLIENT spans.
    Gateway,
    /// HTTP services called by the gateway.
    Frontend,
    /// HTTP or gRPC services called by frontends and by other backends.
    Backend,
    /// Kafka consumers; never called, they start traces of their own.
    Worker,
}

/// The inbound API of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// HTTP/1.1 JSON API.
    Http,
    /// gRPC over HTTP/2.
    Grpc,
    /// No inbound API (gateway, workers).
    None,
}

/// Which generation of the OpenTelemetry semantic conventions the service's SDK emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semconv {
    /// `http.method`, `http.status_code`, `http.url`, `db.name`, `db.statement`, `net.peer.*`.
    Old,
    /// `http.request.method`, `http.response.status_code`, `url.full`, `db.namespace`,
    /// `db.query.text`, `server.*`.
    New,
}

/// The SDK language of a service (drives `telemetry.sdk.*`, scope names and stack traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Go,
    Java,
    Python,
    NodeJs,
    DotNet,
    Rust,
}

impl Language {
    const ALL: [Language; 6] = [
        Language::Go,
        Language::Java,
        Language::Python,
        Language::NodeJs,
        Language::DotNet,
        Language::Rust,
    ];

    /// The `telemetry.sdk.language` value.
    pub fn sdk_name(self) -> &'static str {
        match self {
            Language::Go => "go",
            Language::Java => "java",
            Language::Python => "python",
            Language::NodeJs => "nodejs",
            Language::DotNet => "dotnet",
            Language::Rust => "rust",
        }
    }

    /// A plausible `telemetry.sdk.version` for that language.
    pub fn sdk_version(self) -> &'static str {
        match self {
            Language::Go => "1.38.0",
            Language::Java => "1.54.1",
            Language::Python => "1.37.0",
            Language::NodeJs => "2.1.0",
            Language::DotNet => "1.13.0",
            Language::Rust => "0.31.0",
        }
    }
}

/// A database engine reached by CLIENT spans (databases emit no spans themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbSystem {
    Postgresql,
    Mysql,
    Redis,
    Mongodb,
}

impl DbSystem {
    /// The `db.system` value.
    pub fn name(self) -> &'static str {
        match self {
            DbSystem::Postgresql => "postgresql",
            DbSystem::Mysql => "mysql",
            DbSystem::Redis => "redis",
            DbSystem::Mongodb => "mongodb",
        }
    }

    /// The usual port of the engine.
    pub fn port(self) -> u16 {
        match self {
            DbSystem::Postgresql => 5432,
            DbSystem::Mysql => 3306,
            DbSystem::Redis => 6379,
            DbSystem::Mongodb => 27017,
        }
    }
}

/// One pod (replica) of a deployment.
#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub ip: String,
    pub node: String,
    pub uid: String,
}

/// One service of the mesh.
#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub namespace: &'static str,
    pub tier: Tier,
    pub api: Api,
    pub semconv: Semconv,
    /// Whether an Istio sidecar traces this service's traffic (inbound SERVER and
    /// outbound CLIENT proxy spans under the `<name>.<namespace>` service name).
    pub sidecar: bool,
    pub language: Language,
    pub version: String,
    pub port: u16,
    pub pods: Vec<Pod>,
    /// Indices into [`Topology::services`] this service may call.
    pub calls: Vec<usize>,
    /// Indices into [`Topology::databases`] this service queries.
    pub databases: Vec<usize>,
    /// Indices into [`Topology::topics`] this service publishes to.
    pub produces: Vec<usize>,
    /// The topic a worker consumes.
    pub consumes: Option<usize>,
}

impl Service {
    /// The in-cluster DNS name, `<name>.<namespace>.svc.cluster.local`.
    pub fn host(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }

    /// The service name the Istio proxies report for this workload.
    pub fn proxy_service_name(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
}

/// A database reached by one or more services.
#[derive(Clone, Debug)]
pub struct Database {
    pub system: DbSystem,
    /// `db.name` / `db.namespace`.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Tables / collections / key prefixes the queries touch.
    pub tables: Vec<String>,
}

/// A Kafka topic with one producing and one consuming service.
#[derive(Clone, Debug)]
pub struct Topic {
    pub name: String,
    pub producer: usize,
    pub consumer: usize,
}

/// The whole simulated mesh.
#[derive(Clone, Debug)]
pub struct Topology {
    pub services: Vec<Service>,
    pub databases: Vec<Database>,
    pub topics: Vec<Topic>,
}

/// Smallest mesh that has every tier.
pub const MIN_SERVICES: usize = 4;
/// Largest mesh accepted (names and pods stay readable).
pub const MAX_SERVICES: usize = 200;

const FRONTEND_NAMES: [&str; 5] = [
    "frontend",
    "mobile-bff",
    "partner-api",
    "admin-web",
    "storefront-ssr",
];
const BACKEND_NAMES: [&str; 18] = [
    "catalog",
    "cart",
    "checkout",
    "payment",
    "shipping",
    "user",
    "inventory",
    "pricing",
    "recommendation",
    "search",
    "review",
    "currency",
    "ad",
    "auth",
    "notification",
    "loyalty",
    "fraud",
    "tax",
];
const WORKER_NAMES: [&str; 5] = [
    "order-worker",
    "email-worker",
    "analytics-worker",
    "audit-worker",
    "search-indexer",
];
const TOPIC_NAMES: [&str; 5] = [
    "orders",
    "notifications",
    "events",
    "audit-log",
    "search-updates",
];

fn pick_name(list: &[&str], i: usize, fallback: &str) -> String {
    list.get(i)
        .map_or_else(|| format!("{fallback}-{i}"), |s| (*s).to_string())
}

/// FNV-1a, used to derive stable pod names and ips from service names (not from the seed).
fn fnv(s: &str, salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Kubernetes' "safe" alphabet for generated name suffixes.
fn k8s_suffix(mut h: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        s.push(char::from(ALPHABET[(h % ALPHABET.len() as u64) as usize]));
        h /= ALPHABET.len() as u64;
        if h == 0 {
            h = fnv(&s, 7);
        }
    }
    s
}

fn pods(name: &str, index: usize, replicas: usize) -> Vec<Pod> {
    let rs = k8s_suffix(fnv(name, 1), 10);
    (0..replicas)
        .map(|r| {
            let h = fnv(name, 100 + r as u64);
            let node = (index * 3 + r) % 8 + 1;
            let uid_a = fnv(name, 200 + r as u64);
            let uid_b = fnv(name, 300 + r as u64);
            Pod {
                name: format!("{name}-{rs}-{}", k8s_suffix(h, 5)),
                ip: format!("10.244.{node}.{}", (index * 7 + r * 13) % 250 + 2),
                node: format!(
                    "ip-10-0-{node}-{}.eu-west-1.compute.internal",
                    10 + node * 11
                ),
                uid: format!(
                    "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                    uid_a >> 32,
                    (uid_a >> 16) & 0xffff,
                    uid_a & 0xffff,
                    uid_b >> 48,
                    uid_b & 0xffff_ffff_ffff
                ),
            }
        })
        .collect()
}

impl Topology {
    /// Builds the mesh for `n` services (clamped to [`MIN_SERVICES`]..=[`MAX_SERVICES`]).
    ///
    /// One gateway, `max(1, n/6)` workers, `max(1, (n-1-workers)/4)` frontends and the
    /// rest backends. See the crate docs for the resulting 12-service mesh.
    pub fn new(n: usize) -> Self {
        let n = n.clamp(MIN_SERVICES, MAX_SERVICES);
        let workers = (n / 6).max(1);
        let frontends = ((n - 1 - workers) / 4).max(1);
        let backends = n - 1 - workers - frontends;
        let fe0 = 1;
        let be0 = fe0 + frontends;

        let mut services = Vec::with_capacity(n);
        let mut databases = Vec::new();
        let mut topics = Vec::new();

        services.push(Service {
            name: "istio-ingressgateway".into(),
            namespace: "istio-system",
            tier: Tier::Gateway,
            api: Api::None,
            semconv: Semconv::Old,
            sidecar: false,
            language: Language::Go,
            version: "1.24.2".into(),
            port: 443,
            pods: pods("istio-ingressgateway", 0, 2),
            calls: (fe0..be0).collect(),
            databases: vec![],
            produces: vec![],
            consumes: None,
        });

        for i in 0..frontends {
            let name = pick_name(&FRONTEND_NAMES, i, "frontend");
            let idx = services.len();
            let mut calls: Vec<usize> = (0..backends)
                .filter(|k| k % frontends == i % frontends)
                .take(4)
                .map(|k| be0 + k)
                .collect();
            if !calls.contains(&be0) {
                calls.insert(0, be0);
            }
            let mut dbs = vec![];
            if i == 0 {
                databases.push(Database {
                    system: DbSystem::Redis,
                    name: "0".into(),
                    host: "session-cache-redis-master.data.svc.cluster.local".into(),
                    port: DbSystem::Redis.port(),
                    tables: vec!["session".into()],
                });
                dbs.push(databases.len() - 1);
            }
            services.push(Service {
                pods: pods(&name, idx, 2 + i % 2),
                name,
                namespace: "web",
                tier: Tier::Frontend,
                api: Api::Http,
                semconv: if i % 2 == 0 {
                    Semconv::New
                } else {
                    Semconv::Old
                },
                sidecar: true,
                language: [Language::NodeJs, Language::Java, Language::Go][i % 3],
                version: format!("2.{}.{}", 3 + i % 4, (i * 7) % 10),
                port: 8080,
                calls,
                databases: dbs,
                produces: vec![],
                consumes: None,
            });
        }

        for j in 0..backends {
            let name = pick_name(&BACKEND_NAMES, j, "backend");
            let idx = services.len();
            let system = [
                DbSystem::Postgresql,
                DbSystem::Redis,
                DbSystem::Mongodb,
                DbSystem::Mysql,
            ][j % 4];
            let db_name = match system {
                DbSystem::Redis => "0".to_string(),
                _ => name.replace('-', "_"),
            };
            let tables = match system {
                DbSystem::Redis => vec![name.clone(), format!("{name}:lock")],
                _ => vec![
                    format!("{}_items", name.replace('-', "_")),
                    format!("{}_audit", name.replace('-', "_")),
                ],
            };
            databases.push(Database {
                system,
                name: db_name,
                host: format!("{name}-{}.data.svc.cluster.local", system.name()),
                port: system.port(),
                tables,
            });
            let mut calls = vec![];
            if j + 1 < backends && j % 2 == 0 {
                calls.push(be0 + j + 1);
            }
            if j + 2 < backends && j % 3 == 0 {
                calls.push(be0 + j + 2);
            }
            let api = if j % 2 == 0 { Api::Grpc } else { Api::Http };
            services.push(Service {
                pods: pods(&name, idx, 1 + j % 3),
                namespace: if matches!(name.as_str(), "payment" | "fraud" | "tax") {
                    "payments"
                } else {
                    "shop"
                },
                tier: Tier::Backend,
                api,
                semconv: if j % 3 == 1 {
                    Semconv::Old
                } else {
                    Semconv::New
                },
                sidecar: j % 5 != 4,
                language: Language::ALL[(j + 2) % Language::ALL.len()],
                version: format!("1.{}.{}", j % 7, (j * 3) % 10),
                port: if api == Api::Grpc { 9090 } else { 8080 },
                calls,
                databases: vec![databases.len() - 1],
                produces: vec![],
                consumes: None,
                name,
            });
        }

        for k in 0..workers {
            let name = pick_name(&WORKER_NAMES, k, "worker");
            let idx = services.len();
            let producer = be0 + (2 + 3 * k) % backends;
            topics.push(Topic {
                name: pick_name(&TOPIC_NAMES, k, "topic"),
                producer,
                consumer: idx,
            });
            services[producer].produces.push(topics.len() - 1);
            let mut dbs = vec![];
            if k % 2 == 0 {
                databases.push(Database {
                    system: DbSystem::Postgresql,
                    name: format!("{}_store", name.replace('-', "_")),
                    host: format!("{name}-postgresql.data.svc.cluster.local"),
                    port: DbSystem::Postgresql.port(),
                    tables: vec![format!("{}_jobs", name.replace('-', "_"))],
                });
                dbs.push(databases.len() - 1);
            }
            services.push(Service {
                pods: pods(&name, idx, 1 + k % 2),
                namespace: "jobs",
                tier: Tier::Worker,
                api: Api::None,
                semconv: if k % 2 == 0 {
                    Semconv::Old
                } else {
                    Semconv::New
                },
                sidecar: true,
                language: [Language::Java, Language::Python, Language::Go][k % 3],
                version: format!("0.{}.{}", 9 + k, k % 4),
                port: 8080,
                calls: vec![be0 + (backends - 1 - (k % backends))],
                databases: dbs,
                produces: vec![],
                consumes: Some(topics.len() - 1),
                name,
            });
        }

        Topology {
            services,
            databases,
            topics,
        }
    }

    /// Indices of the services of one tier.
    pub fn tier(&self, tier: Tier) -> impl Iterator<Item = usize> + '_ {
        self.services
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.tier == tier)
            .map(|(i, _)| i)
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.services {
            let api = match s.api {
                Api::Http => "http",
                Api::Grpc => "grpc",
                Api::None => "-",
            };
            write!(
                f,
                "{:<22} {:<9} {:<8} api={:<4} {:<6} semconv={:<3} sidecar={:<5} pods={}",
                s.name,
                format!("{:?}", s.tier).to_lowercase(),
                s.namespace,
                api,
                s.language.sdk_name(),
                if s.semconv == Semconv::New {
                    "new"
                } else {
                    "old"
                },
                s.sidecar,
                s.pods.len()
            )?;
            if !s.calls.is_empty() {
                let names: Vec<&str> = s
                    .calls
                    .iter()
                    .map(|&c| self.services[c].name.as_str())
                    .collect();
                write!(f, " calls=[{}]", names.join(","))?;
            }
            if !s.databases.is_empty() {
                let names: Vec<String> = s
                    .databases
                    .iter()
                    .map(|&d| {
                        format!(
                            "{}:{}",
                            self.databases[d].system.name(),
                            self.databases[d].host
                        )
                    })
                    .collect();
                write!(f, " db=[{}]", names.join(","))?;
            }
            if !s.produces.is_empty() {
                let names: Vec<&str> = s
                    .produces
                    .iter()
                    .map(|&t| self.topics[t].name.as_str())
                    .collect();
                write!(f, " produces=[{}]", names.join(","))?;
            }
            if let Some(t) = s.consumes {
                write!(f, " consumes={}", self.topics[t].name)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mesh_has_every_tier_and_stays_acyclic() {
        let t = Topology::new(12);
        assert_eq!(t.services.len(), 12);
        assert_eq!(t.tier(Tier::Gateway).count(), 1);
        assert_eq!(t.tier(Tier::Frontend).count(), 2);
        assert_eq!(t.tier(Tier::Backend).count(), 7);
        assert_eq!(t.tier(Tier::Worker).count(), 2);
        // Calls only go "down" (to a larger index), so the graph has no cycles.
        for (i, s) in t.services.iter().enumerate() {
            for &c in &s.calls {
                assert!(
                    c > i || s.tier == Tier::Worker,
                    "{} calls {}",
                    s.name,
                    t.services[c].name
                );
                assert!(matches!(t.services[c].tier, Tier::Frontend | Tier::Backend));
            }
        }
        for topic in &t.topics {
            assert_eq!(t.services[topic.consumer].tier, Tier::Worker);
            assert_eq!(t.services[topic.producer].tier, Tier::Backend);
        }
    }

    #[test]
    fn every_size_builds() {
        for n in MIN_SERVICES..=60 {
            let t = Topology::new(n);
            assert_eq!(t.services.len(), n);
            let mut names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "duplicate service names for n={n}");
        }
    }
}
