//! The dependency graph over a time range, merged from `span_metrics` and `service_edges` rows.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::error::Result;
use crate::group::Grouper;
use crate::node::NodeType;
use crate::rows::{Acc, Aggregates, Coverage, Red, TimeRange, edge_cols, kind_rank, metric_cols};

/// What graph to build.
#[derive(Debug, Clone, Copy)]
pub struct GraphQuery<'a> {
    pub range: TimeRange,
    /// Only this service's neighbourhood: the nodes within `depth` edges of it (either
    /// direction) and the edges that touch a node closer than `depth`. `None`: everything.
    pub service: Option<&'a str>,
    /// Hops around `service`; 1 shows its direct callers and callees. Ignored without
    /// `service`.
    pub depth: usize,
}

impl GraphQuery<'_> {
    /// The whole graph over `range`.
    pub fn all(range: TimeRange) -> Self {
        Self {
            range,
            service: None,
            depth: 1,
        }
    }
}

/// A node: a service or a virtual node (database, queue, external).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    pub name: String,
    pub node_type: NodeType,
    /// A service's RED is that of its server and consumer spans (the traffic it receives); for
    /// a service that has none in the range (e.g. a gateway emitting only client spans) that of
    /// its client and producer spans, else of all its spans. A node without spans in the range
    /// (a virtual node) gets the sum of the edges into it.
    pub red: Red,
}

/// Calls from `parent` to `child` (merged over child types: a virtual node named like a
/// service is that service).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphEdge {
    pub parent: String,
    pub child: String,
    pub child_type: NodeType,
    /// Calls seen from the calling side only.
    pub unpaired: u64,
    /// Errors and latency as seen by the calling span.
    pub red: Red,
}

/// Nodes sorted by name, edges by parent then child.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceGraph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// One edge of Jaeger's `/api/dependencies` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

struct EdgeGroup<'a> {
    parent: &'a str,
    child: &'a str,
    /// Bit per `NodeType` seen in `child_type`.
    types: u8,
    calls: u64,
    acc: Acc,
}

fn type_bit(t: NodeType) -> u8 {
    1 << (t as u8)
}

/// Builds the dependency graph of `query` from the `span_metrics` and `service_edges` rows
/// (and their hourly rollups) of `aggregates`.
pub fn service_graph(aggregates: &Aggregates<'_>, query: &GraphQuery<'_>) -> Result<ServiceGraph> {
    let range = query.range;
    range.check()?;
    let seconds = range.seconds();
    let mut edge_cov = Coverage::new(range, aggregates.service_edges_hourly, |_| true)?;
    let mut metric_cov = Coverage::new(range, aggregates.span_metrics_hourly, |_| true)?;

    // 1. Group edge rows by (parent, child); remember each row's group.
    let edge_cols = edge_cols(aggregates, true)?;
    let mut groups: Vec<EdgeGroup<'_>> = Vec::new();
    let mut grouper = Grouper::new();
    let mut row_group: Vec<Vec<u32>> = Vec::with_capacity(edge_cols.len());
    for cols in &edge_cols {
        let mut of_row = vec![u32::MAX; cols.rows];
        for (i, slot) in of_row.iter_mut().enumerate() {
            if cols.time_if(i, &mut edge_cov).is_none() {
                continue;
            }
            let key = (cols.parent.value(i), cols.child.value(i));
            let g = grouper.get_or_insert(key, |(parent, child)| {
                groups.push(EdgeGroup {
                    parent,
                    child,
                    types: 0,
                    calls: 0,
                    acc: Acc::default(),
                })
            });
            if let Some(group) = groups.get_mut(g) {
                let t = NodeType::parse(cols.child_type.value(i)).unwrap_or(NodeType::External);
                group.types |= type_bit(t);
                group.calls = group.calls.saturating_add(cols.calls(i));
            }
            *slot = g as u32;
        }
        row_group.push(of_row);
    }

    // 2. Services: names that emit spans in the range or call, or are called as, a service.
    let metric_cols = metric_cols(aggregates)?;
    // service → lowest kind rank present
    let mut rank_of: HashMap<&str, u8> = HashMap::new();
    for cols in &metric_cols {
        let mut last: Option<(&str, &str)> = None;
        for i in 0..cols.rows {
            if cols.time_if(i, &mut metric_cov).is_none() {
                continue;
            }
            let (service, kind) = (cols.service.value(i), cols.kind.value(i));
            if last == Some((service, kind)) {
                continue;
            }
            last = Some((service, kind));
            let rank = kind_rank(kind);
            rank_of
                .entry(service)
                .and_modify(|r| *r = (*r).min(rank))
                .or_insert(rank);
        }
    }
    let mut node_types: HashMap<&str, NodeType> = HashMap::new();
    for service in rank_of.keys() {
        node_types.insert(service, NodeType::Service);
    }
    for g in &groups {
        node_types.insert(g.parent, NodeType::Service);
    }
    for g in &groups {
        let service_child = g.types & type_bit(NodeType::Service) != 0;
        let virtual_type = [NodeType::Database, NodeType::Queue, NodeType::External]
            .into_iter()
            .find(|t| g.types & type_bit(*t) != 0)
            .unwrap_or(NodeType::External);
        let t = if service_child {
            NodeType::Service
        } else {
            virtual_type
        };
        node_types
            .entry(g.child)
            .and_modify(|existing| {
                if *existing != NodeType::Service && t == NodeType::Service {
                    *existing = t;
                }
            })
            .or_insert(t);
    }

    // 3. The nodes and edges to show.
    let (kept_nodes, kept_edges): (HashSet<&str>, Vec<bool>) = match query.service {
        None => (
            node_types.keys().copied().collect(),
            vec![true; groups.len()],
        ),
        Some(center) => neighbourhood(center, query.depth, &groups, &node_types),
    };

    // 4. Edge measures: for kept edges, and for every edge into a kept node without spans of
    //    its own in the range (a virtual node): its RED is the sum of its incoming edges.
    let red_from_edges = |name: &str| kept_nodes.contains(name) && !rank_of.contains_key(name);
    let needs_measures: Vec<bool> = groups
        .iter()
        .zip(&kept_edges)
        .map(|(g, kept)| *kept || red_from_edges(g.child))
        .collect();
    for (cols, of_row) in edge_cols.iter().zip(&row_group) {
        for (i, g) in of_row.iter().enumerate() {
            let g = *g as usize;
            if needs_measures.get(g).copied().unwrap_or(false)
                && let Some(group) = groups.get_mut(g)
            {
                cols.add_to(i, &mut group.acc)?;
            }
        }
    }

    // 5. Service RED from span_metrics rows of the service's lowest kind rank.
    let mut service_acc: HashMap<&str, Acc> = HashMap::new();
    for cols in &metric_cols {
        let mut last: Option<(&str, &str, bool)> = None;
        for i in 0..cols.rows {
            if cols.time_if(i, &mut metric_cov).is_none() {
                continue;
            }
            let (service, kind) = (cols.service.value(i), cols.kind.value(i));
            let wanted = match last {
                Some((s, k, w)) if s == service && k == kind => w,
                _ => {
                    let w = kept_nodes.contains(service)
                        && rank_of.get(service) == Some(&kind_rank(kind));
                    last = Some((service, kind, w));
                    w
                }
            };
            if wanted {
                cols.add_to(i, service_acc.entry(service).or_default())?;
            }
        }
    }

    // 6. Assemble.
    let mut incoming: HashMap<&str, Acc> = HashMap::new();
    for g in &groups {
        if red_from_edges(g.child) {
            let acc = incoming.entry(g.child).or_default();
            acc.calls = acc.calls.saturating_add(g.acc.calls);
            acc.errors = acc.errors.saturating_add(g.acc.errors);
            acc.sketch.merge(&g.acc.sketch);
        }
    }
    let mut nodes: Vec<GraphNode> = kept_nodes
        .iter()
        .map(|name| {
            let node_type = node_types.get(name).copied().unwrap_or(NodeType::Service);
            let red = service_acc
                .get(name)
                .or_else(|| incoming.get(name))
                .map(|acc| acc.red(seconds))
                .unwrap_or_else(|| Acc::default().red(seconds));
            GraphNode {
                name: (*name).to_owned(),
                node_type,
                red,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut edges: Vec<GraphEdge> = groups
        .iter()
        .zip(&kept_edges)
        .filter(|(_, kept)| **kept)
        .map(|(g, _)| GraphEdge {
            parent: g.parent.to_owned(),
            child: g.child.to_owned(),
            child_type: node_types
                .get(g.child)
                .copied()
                .unwrap_or(NodeType::External),
            unpaired: g.acc.unpaired,
            red: g.acc.red(seconds),
        })
        .collect();
    edges.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
    Ok(ServiceGraph { nodes, edges })
}

/// Nodes within `depth` hops of `center` and the edges touching a node closer than `depth`.
fn neighbourhood<'a>(
    center: &'a str,
    depth: usize,
    groups: &[EdgeGroup<'a>],
    node_types: &HashMap<&'a str, NodeType>,
) -> (HashSet<&'a str>, Vec<bool>) {
    let mut distance: HashMap<&str, usize> = HashMap::new();
    if node_types.contains_key(center) {
        distance.insert(center, 0);
    }
    let mut adjacent: HashMap<&str, Vec<&str>> = HashMap::new();
    for g in groups {
        adjacent.entry(g.parent).or_default().push(g.child);
        adjacent.entry(g.child).or_default().push(g.parent);
    }
    let mut queue: VecDeque<&str> = distance.keys().copied().collect();
    while let Some(node) = queue.pop_front() {
        let d = distance.get(node).copied().unwrap_or(usize::MAX);
        if d >= depth {
            continue;
        }
        for next in adjacent.get(node).map(Vec::as_slice).unwrap_or_default() {
            if !distance.contains_key(next) {
                distance.insert(next, d + 1);
                queue.push_back(next);
            }
        }
    }
    let kept_edges = groups
        .iter()
        .map(|g| {
            let (p, c) = (distance.get(g.parent), distance.get(g.child));
            matches!((p, c), (Some(p), Some(c)) if (*p).min(*c) < depth)
        })
        .collect();
    (distance.into_keys().collect(), kept_edges)
}

/// Jaeger's dependency links over `range`: calls per (parent, child), sorted, every node type
/// included (virtual nodes appear under their names).
pub fn jaeger_dependencies(
    aggregates: &Aggregates<'_>,
    range: TimeRange,
) -> Result<Vec<Dependency>> {
    range.check()?;
    let mut coverage = Coverage::new(range, aggregates.service_edges_hourly, |_| true)?;
    let mut calls: HashMap<(&str, &str), u64> = HashMap::new();
    let cols = edge_cols(aggregates, false)?;
    for c in &cols {
        for i in 0..c.rows {
            if c.time_if(i, &mut coverage).is_some() {
                let n = calls
                    .entry((c.parent.value(i), c.child.value(i)))
                    .or_default();
                *n = n.saturating_add(c.calls(i));
            }
        }
    }
    let mut out: Vec<Dependency> = calls
        .into_iter()
        .map(|((parent, child), call_count)| Dependency {
            parent: parent.to_owned(),
            child: child.to_owned(),
            call_count,
        })
        .collect();
    out.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
    Ok(out)
}
