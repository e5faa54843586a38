//! Attributes promoted to typed columns of the `spans` table.
//!
//! A service mesh filters on a few attributes all the time (HTTP method and status, gRPC
//! service, peer, Kubernetes namespace …). Each gets a typed, nullable column of its own so that
//! those filters read one small column. Old and new semantic-convention names map to the same
//! column; when a span carries several, the first name in `keys` wins. The attribute itself also
//! stays in the `attributes` / `resource_attributes` map, so nothing is lost by promotion.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::signal::{FNV_OFFSET, fnv1a};

/// The Arrow type of a promoted column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotedType {
    /// `Utf8`: the attribute's display form.
    Str,
    /// `Int64`: integer attributes, or strings holding an integer; otherwise null.
    Int,
}

/// One promoted column.
#[derive(Debug, Clone, Copy)]
pub struct Promotion {
    pub column: &'static str,
    /// Attribute names, in order of preference (current semantic conventions first).
    pub keys: &'static [&'static str],
    pub ty: PromotedType,
}

const fn p(column: &'static str, keys: &'static [&'static str], ty: PromotedType) -> Promotion {
    Promotion { column, keys, ty }
}

/// Columns promoted from span attributes.
pub const SPAN_PROMOTIONS: &[Promotion] = &[
    p(
        "http_method",
        &["http.request.method", "http.method"],
        PromotedType::Str,
    ),
    p("http_route", &["http.route"], PromotedType::Str),
    p(
        "http_status_code",
        &["http.response.status_code", "http.status_code"],
        PromotedType::Int,
    ),
    p("http_url", &["url.full", "http.url"], PromotedType::Str),
    p("rpc_system", &["rpc.system"], PromotedType::Str),
    p("rpc_service", &["rpc.service"], PromotedType::Str),
    p("rpc_method", &["rpc.method"], PromotedType::Str),
    p(
        "rpc_grpc_status_code",
        &["rpc.grpc.status_code", "grpc.status_code"],
        PromotedType::Int,
    ),
    p(
        "db_system",
        &["db.system.name", "db.system"],
        PromotedType::Str,
    ),
    p("db_name", &["db.namespace", "db.name"], PromotedType::Str),
    p("messaging_system", &["messaging.system"], PromotedType::Str),
    p(
        "messaging_destination",
        &["messaging.destination.name", "messaging.destination"],
        PromotedType::Str,
    ),
    p("peer_service", &["peer.service"], PromotedType::Str),
    p(
        "server_address",
        &["server.address", "net.peer.name"],
        PromotedType::Str,
    ),
    p(
        "server_port",
        &["server.port", "net.peer.port"],
        PromotedType::Int,
    ),
];

/// Columns promoted from resource attributes (falling back to span attributes when the
/// resource lacks them, as proxies often put them on the span).
pub const RESOURCE_PROMOTIONS: &[Promotion] = &[
    p(
        "service_namespace",
        &["service.namespace"],
        PromotedType::Str,
    ),
    p("service_version", &["service.version"], PromotedType::Str),
    p(
        "deployment_environment",
        &["deployment.environment.name", "deployment.environment"],
        PromotedType::Str,
    ),
    p("k8s_namespace", &["k8s.namespace.name"], PromotedType::Str),
    p("k8s_pod", &["k8s.pod.name"], PromotedType::Str),
    p(
        "k8s_deployment",
        &["k8s.deployment.name"],
        PromotedType::Str,
    ),
    p("host_name", &["host.name"], PromotedType::Str),
];

/// Where a span attribute name is promoted: (index into [`SPAN_PROMOTIONS`], preference rank).
pub(crate) fn lookup_span(key: &str) -> Option<(usize, u8)> {
    static INDEX: OnceLock<KeyIndex> = OnceLock::new();
    INDEX
        .get_or_init(|| index(SPAN_PROMOTIONS))
        .get(key)
        .copied()
}

/// Where a resource attribute name is promoted: (index into [`RESOURCE_PROMOTIONS`], rank).
pub(crate) fn lookup_resource(key: &str) -> Option<(usize, u8)> {
    static INDEX: OnceLock<KeyIndex> = OnceLock::new();
    INDEX
        .get_or_init(|| index(RESOURCE_PROMOTIONS))
        .get(key)
        .copied()
}

/// Attribute name → (promotion, rank). Looked up for every attribute of every span, so it
/// hashes with FNV-1a: attribute names are short and not attacker-chosen keys of a growing
/// map (the index is fixed), where SipHash's flood resistance buys nothing.
type KeyIndex = HashMap<&'static str, (usize, u8), BuildHasherDefault<Fnv1a>>;

/// 64-bit FNV-1a as a `Hasher`, over the same function the metric series ids use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(FNV_OFFSET)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn index(table: &'static [Promotion]) -> KeyIndex {
    let mut map = KeyIndex::default();
    for (i, promotion) in table.iter().enumerate() {
        for (rank, key) in promotion.keys.iter().enumerate() {
            map.insert(*key, (i, rank as u8));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_rank_new_names_first() {
        assert_eq!(lookup_span("http.request.method"), Some((0, 0)));
        assert_eq!(lookup_span("http.method"), Some((0, 1)));
        assert_eq!(lookup_span("k8s.pod.name"), None);
        assert_eq!(lookup_resource("k8s.pod.name"), Some((4, 0)));
    }

    #[test]
    fn column_names_are_unique() {
        let mut names: Vec<_> = SPAN_PROMOTIONS
            .iter()
            .chain(RESOURCE_PROMOTIONS)
            .map(|p| p.column)
            .collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
