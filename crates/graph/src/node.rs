//! Node types and the naming of virtual nodes (what a client span calls when no server span
//! answers it).

/// What a node of the service graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeType {
    /// An instrumented service (it emits spans).
    Service,
    /// A database named from `db.system` / `db.name` (or `peer.service` with a `db.system`).
    Database,
    /// A queue or topic named from `messaging.system` / destination.
    Queue,
    /// Anything else a client span names: `peer.service`, `server.address`, a mesh upstream
    /// cluster, a URL host.
    External,
}

impl NodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Database => "database",
            Self::Queue => "queue",
            Self::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Service, Self::Database, Self::Queue, Self::External]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// The attributes of a client / producer span that can name what it called.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PeerHints<'a> {
    pub peer_service: Option<&'a str>,
    pub db_system: Option<&'a str>,
    pub db_name: Option<&'a str>,
    pub messaging_system: Option<&'a str>,
    pub messaging_destination: Option<&'a str>,
    pub server_address: Option<&'a str>,
    /// Envoy's `upstream_cluster` (or `upstream_cluster.name`) span attribute.
    pub upstream_cluster: Option<&'a str>,
    pub http_url: Option<&'a str>,
}

/// Span attributes Envoy / Istio put the upstream cluster in, in order of preference.
pub(crate) const UPSTREAM_CLUSTER_KEYS: [&str; 2] = ["upstream_cluster", "upstream_cluster.name"];

/// Names the virtual node a client / producer span called, in this order:
/// `peer.service`; `db.system` (+ `/db.name`); `messaging.system` (+ `/destination`);
/// `server.address` / `net.peer.name`; the host of Envoy's `upstream_cluster`
/// (`outbound|8080||cart.shop.svc.cluster.local` → `cart.shop`); the host of `url.full`.
/// The type is `database` when `db.system` is set, `queue` when `messaging.system` is,
/// else `external`. Writes the name into `out`; `None` when nothing names the peer.
pub(crate) fn virtual_target(hints: &PeerHints<'_>, out: &mut String) -> Option<NodeType> {
    out.clear();
    let node_type = if hints.db_system.is_some() {
        NodeType::Database
    } else if hints.messaging_system.is_some() {
        NodeType::Queue
    } else {
        NodeType::External
    };
    if let Some(peer) = hints.peer_service {
        out.push_str(peer);
    } else if let Some(system) = hints.db_system {
        out.push_str(system);
        if let Some(name) = hints.db_name {
            out.push('/');
            out.push_str(name);
        }
    } else if let Some(system) = hints.messaging_system {
        out.push_str(system);
        if let Some(destination) = hints.messaging_destination {
            out.push('/');
            out.push_str(destination);
        }
    } else if let Some(address) = hints.server_address {
        out.push_str(address);
    } else if let Some(host) = hints.upstream_cluster.and_then(upstream_cluster_host) {
        out.push_str(host);
    } else if let Some(host) = hints.http_url.and_then(url_host) {
        out.push_str(host);
    }
    (!out.is_empty()).then_some(node_type)
}

/// The host of an Envoy cluster name: `outbound|8080||cart.shop.svc.cluster.local` →
/// `cart.shop` (the Kubernetes suffix is dropped so that the name matches Istio's
/// `<service>.<namespace>` proxy service names); a name without `|` is returned as is.
pub(crate) fn upstream_cluster_host(cluster: &str) -> Option<&str> {
    let host = if cluster.contains('|') {
        cluster.rsplit('|').next()?
    } else {
        cluster
    };
    let host = host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))
        .unwrap_or(host);
    Some(host).filter(|h| !h.is_empty())
}

/// The host of an absolute URL, without user info and port.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    Some(host).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(hints: PeerHints<'_>) -> Option<(String, NodeType)> {
        let mut out = String::new();
        virtual_target(&hints, &mut out).map(|t| (out, t))
    }

    #[test]
    fn names_virtual_nodes_in_order_of_preference() {
        let db = PeerHints {
            db_system: Some("postgresql"),
            db_name: Some("orders"),
            server_address: Some("pg.internal"),
            ..Default::default()
        };
        assert_eq!(
            name(db),
            Some(("postgresql/orders".into(), NodeType::Database))
        );
        assert_eq!(
            name(PeerHints {
                peer_service: Some("orders-db"),
                ..db
            }),
            Some(("orders-db".into(), NodeType::Database))
        );
        assert_eq!(
            name(PeerHints {
                messaging_system: Some("kafka"),
                messaging_destination: Some("payments"),
                ..Default::default()
            }),
            Some(("kafka/payments".into(), NodeType::Queue))
        );
        assert_eq!(
            name(PeerHints {
                server_address: Some("api.stripe.com"),
                http_url: Some("https://x.example/"),
                ..Default::default()
            }),
            Some(("api.stripe.com".into(), NodeType::External))
        );
        assert_eq!(
            name(PeerHints {
                upstream_cluster: Some("outbound|8080||cart.shop.svc.cluster.local"),
                ..Default::default()
            }),
            Some(("cart.shop".into(), NodeType::External))
        );
        assert_eq!(
            name(PeerHints {
                http_url: Some("https://user:pw@api.github.com:443/repos?x=1"),
                ..Default::default()
            }),
            Some(("api.github.com".into(), NodeType::External))
        );
        assert_eq!(name(PeerHints::default()), None);
    }

    #[test]
    fn parses_hosts() {
        assert_eq!(upstream_cluster_host("inbound|8080||"), None);
        assert_eq!(
            upstream_cluster_host("payments_cluster"),
            Some("payments_cluster")
        );
        assert_eq!(url_host("http://[::1]:8080/x"), Some("::1"));
        assert_eq!(url_host("/relative/path"), None);
        assert_eq!(url_host("http:///nohost"), None);
        for t in [
            NodeType::Service,
            NodeType::Database,
            NodeType::Queue,
            NodeType::External,
        ] {
            assert_eq!(NodeType::parse(t.as_str()), Some(t));
        }
    }
}
