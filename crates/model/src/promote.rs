//! Attributes promoted to typed columns of the `spans` table.
//!
//! A service mesh filters on a few attributes all the time (HTTP method and status, gRPC
//! service, peer, Kubernetes namespace …). Each gets a typed, nullable column of its own so that
//! those filters read one small column. Old and new semantic-convention names map to the same
//! column; when a span carries several, the first name in `keys` wins. The attribute itself also
//! stays in the `attributes` / `resource_attributes` map, so nothing is lost by promotion.

use std::sync::OnceLock;

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
        .get_or_init(|| KeyIndex::new(SPAN_PROMOTIONS))
        .get(key)
}

/// Where a resource attribute name is promoted: (index into [`RESOURCE_PROMOTIONS`], rank).
pub(crate) fn lookup_resource(key: &str) -> Option<(usize, u8)> {
    static INDEX: OnceLock<KeyIndex> = OnceLock::new();
    INDEX
        .get_or_init(|| KeyIndex::new(RESOURCE_PROMOTIONS))
        .get(key)
}

/// Attribute name → (promotion, rank), looked up for every attribute of every span. The
/// promoted names are few and of many lengths, so the index buckets them by length: most
/// attribute names find an empty bucket or one or two candidates to compare, without hashing.
struct KeyIndex {
    by_len: Vec<Vec<(&'static str, (usize, u8))>>,
}

impl KeyIndex {
    fn new(table: &'static [Promotion]) -> Self {
        let longest = table
            .iter()
            .flat_map(|p| p.keys)
            .map(|k| k.len())
            .max()
            .unwrap_or(0);
        let mut by_len = vec![Vec::new(); longest + 1];
        for (i, promotion) in table.iter().enumerate() {
            for (rank, key) in promotion.keys.iter().enumerate() {
                by_len[key.len()].push((*key, (i, rank as u8)));
            }
        }
        Self { by_len }
    }

    fn get(&self, key: &str) -> Option<(usize, u8)> {
        self.by_len
            .get(key.len())?
            .iter()
            .find(|(candidate, _)| *candidate == key)
            .map(|(_, at)| *at)
    }
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
    fn every_name_is_found_and_no_other() {
        for (table, lookup) in [
            (
                SPAN_PROMOTIONS,
                lookup_span as fn(&str) -> Option<(usize, u8)>,
            ),
            (RESOURCE_PROMOTIONS, lookup_resource),
        ] {
            for (i, promotion) in table.iter().enumerate() {
                for (rank, key) in promotion.keys.iter().enumerate() {
                    assert_eq!(lookup(key), Some((i, rank as u8)), "{key}");
                    // same length, one byte different
                    let last = if key.ends_with('x') { 'y' } else { 'x' };
                    let other = format!("{}{last}", &key[..key.len() - 1]);
                    assert_eq!(lookup(&other), None, "{other}");
                }
            }
            assert_eq!(lookup(""), None);
            assert_eq!(lookup(&"k".repeat(200)), None);
        }
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
