//! The span generator: instances pre-encoded trace templates with fresh ids, times and
//! error outcomes, and writes them into OTLP export requests (protobuf or JSON).
//!
//! Cost per span is a handful of `memcpy`s of pre-encoded bytes plus ids (16 random bytes
//! per trace, 8 per span) and two times; no per-span allocation. Group buffers (one per
//! resource × scope) are reused from batch to batch.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::encoding::{encode_varint, encoded_len_varint};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::json::{put_hex, put_u64_str};
use crate::template::{self, Catalog, LINK_FLAGS, OK, ORIGIN, PROPAGATED, TraceTpl};
use crate::topology::Topology;

/// How request bodies encode the export request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `ExportTraceServiceRequest` protobuf.
    Protobuf,
    /// OTLP/JSON.
    Json,
}

/// Where span timestamps come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBase {
    /// Trace `i` starts at `base + sum of i seeded gaps`: output is a pure function of the
    /// configuration (same seed ⇒ same bytes).
    Fixed { unix_nanos: u64 },
    /// Traces end at the wall-clock time of the batch that carries them, so a backend's
    /// time partitions look live. Ids, structure and errors stay seeded.
    Wall,
}

/// Generator settings.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Services in the mesh (see [`Topology::new`]).
    pub services: usize,
    /// Trace templates pre-generated for the seed.
    pub templates: usize,
    /// Probability that a trace carries an error (default 0.02).
    pub error_ratio: f64,
    pub time_base: TimeBase,
    /// Mean gap between trace starts with [`TimeBase::Fixed`] (exponentially distributed).
    pub mean_trace_gap_nanos: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            services: 12,
            templates: 128,
            error_ratio: 0.02,
            time_base: TimeBase::Wall,
            mean_trace_gap_nanos: 1_000_000,
        }
    }
}

#[derive(Clone, Copy, Default)]
struct InstSpan {
    id: [u8; 8],
    start: u64,
    end: u64,
    variant: u8,
}

/// What one call to [`Generator::fill_batch`] produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchInfo {
    pub spans: usize,
    /// Traces started while filling this batch (a trace may continue in the next batch).
    pub traces_started: usize,
}

/// Deterministic OTLP span generator. See the crate docs for what it generates.
pub struct Generator {
    topo: Topology,
    catalog: Catalog,
    pool: Vec<TraceTpl>,
    rng: StdRng,
    cfg: GeneratorConfig,
    /// Virtual clock (offset from the fixed base).
    clock: u64,
    wall_now: u64,
    // The trace instance being emitted.
    cur: usize,
    cursor: usize,
    inst: Vec<InstSpan>,
    trace_ids: Vec<[u8; 16]>,
    // Per-group span buffers, reused.
    groups: Vec<Vec<u8>>,
    touched: Vec<usize>,
    mean_spans: f64,
}

impl Generator {
    pub fn new(cfg: GeneratorConfig) -> Self {
        let topo = Topology::new(cfg.services);
        let catalog = Catalog::new(&topo);
        let mut tpl_rng = StdRng::seed_from_u64(cfg.seed);
        let pool = template::build_pool(&topo, &catalog, &mut tpl_rng, cfg.templates);
        let mean_spans =
            pool.iter().map(|t| t.spans.len()).sum::<usize>() as f64 / pool.len() as f64;
        let rng = StdRng::seed_from_u64(cfg.seed ^ 0x6d65_7368_7363_6f70);
        Generator {
            groups: vec![Vec::new(); catalog.groups.len()],
            topo,
            catalog,
            pool,
            rng,
            cfg,
            clock: 0,
            wall_now: 0,
            cur: 0,
            cursor: 0,
            inst: Vec::new(),
            trace_ids: Vec::new(),
            touched: Vec::new(),
            mean_spans,
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// Sets the mean gap between trace starts of [`TimeBase::Fixed`].
    pub fn set_mean_trace_gap_nanos(&mut self, nanos: u64) {
        self.cfg.mean_trace_gap_nanos = nanos;
    }

    /// Average spans per template (a template is one request trace plus its consumer
    /// traces).
    pub fn mean_spans_per_template(&self) -> f64 {
        self.mean_spans
    }

    /// Appends an export request with exactly `max_spans` spans (≥ 1) to `out`.
    ///
    /// Traces continue across calls: the spans of one trace may land in two batches, as
    /// they do with SDK batch processors.
    pub fn fill_batch(
        &mut self,
        max_spans: usize,
        encoding: Encoding,
        out: &mut Vec<u8>,
    ) -> BatchInfo {
        let max_spans = max_spans.max(1);
        if self.cfg.time_base == TimeBase::Wall {
            self.wall_now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        }
        let mut info = BatchInfo::default();
        while info.spans < max_spans {
            if self.cursor >= self.inst.len() {
                self.new_instance();
                info.traces_started += usize::from(self.pool[self.cur].slots);
            }
            let take = (self.inst.len() - self.cursor).min(max_spans - info.spans);
            for i in self.cursor..self.cursor + take {
                let group = usize::from(self.pool[self.cur].spans[i].group);
                let buf = &mut self.groups[group];
                if buf.is_empty() {
                    self.touched.push(group);
                }
                match encoding {
                    Encoding::Protobuf => {
                        encode_span_pb(buf, &self.pool[self.cur], i, &self.inst, &self.trace_ids)
                    }
                    Encoding::Json => {
                        encode_span_json(buf, &self.pool[self.cur], i, &self.inst, &self.trace_ids)
                    }
                }
            }
            self.cursor += take;
            info.spans += take;
        }
        self.touched.sort_unstable();
        match encoding {
            Encoding::Protobuf => self.assemble_pb(out),
            Encoding::Json => self.assemble_json(out),
        }
        for &g in &self.touched {
            self.groups[g].clear();
        }
        self.touched.clear();
        info
    }

    fn new_instance(&mut self) {
        self.cur = self.rng.random_range(0..self.pool.len());
        let tpl = &self.pool[self.cur];
        // Exponential inter-arrival gap (virtual clock) and a per-trace latency scale.
        let u: f64 = self.rng.random();
        self.clock += (-(1.0 - u).ln() * self.cfg.mean_trace_gap_nanos as f64) as u64;
        let scale = (0.25 * template::normal(&mut self.rng)).exp();
        let scale_q16 = ((scale * 65_536.0) as u64).clamp(1 << 14, 1 << 19);
        let duration = scaled(tpl.duration, scale_q16);
        let base = match self.cfg.time_base {
            TimeBase::Fixed { unix_nanos } => unix_nanos + self.clock,
            TimeBase::Wall => self.wall_now.saturating_sub(duration),
        };
        self.trace_ids.clear();
        for _ in 0..tpl.slots {
            let mut id = [0u8; 16];
            self.rng.fill_bytes(&mut id);
            if id == [0; 16] {
                id[15] = 1;
            }
            self.trace_ids.push(id);
        }
        self.inst.clear();
        for s in &tpl.spans {
            let mut id = self.rng.next_u64().to_le_bytes();
            if id == [0; 8] {
                id[7] = 1;
            }
            self.inst.push(InstSpan {
                id,
                start: base + scaled(s.start, scale_q16),
                end: base + scaled(s.end, scale_q16),
                variant: OK as u8,
            });
        }
        for slot in 0..usize::from(tpl.slots) {
            let roll: f64 = self.rng.random();
            if roll >= self.cfg.error_ratio || tpl.origins[slot].is_empty() {
                continue;
            }
            let origin = tpl.origins[slot][self.rng.random_range(0..tpl.origins[slot].len())];
            self.inst[usize::from(origin)].variant = ORIGIN as u8;
            let mut at = tpl.spans[usize::from(origin)].parent;
            while let Some(p) = at {
                let sp = &tpl.spans[usize::from(p)];
                self.inst[usize::from(p)].variant = if sp.call_server == Some(origin) {
                    ORIGIN as u8
                } else {
                    PROPAGATED as u8
                };
                at = sp.parent;
            }
        }
        self.cursor = 0;
    }

    fn assemble_pb(&self, out: &mut Vec<u8>) {
        let mut i = 0;
        while i < self.touched.len() {
            let r = self.catalog.groups[self.touched[i]].resource;
            let mut j = i;
            while j < self.touched.len() && self.catalog.groups[self.touched[j]].resource == r {
                j += 1;
            }
            let res = &self.catalog.resources[r];
            let mut rs_len = res.pb_resource.len() + res.pb_schema.len();
            for &g in &self.touched[i..j] {
                let sl = self.catalog.groups[g].pb_scope.len() + self.groups[g].len();
                rs_len += 1 + encoded_len_varint(sl as u64) + sl;
            }
            out.push(0x0a); // ExportTraceServiceRequest.resource_spans = 1
            encode_varint(rs_len as u64, out);
            out.extend_from_slice(&res.pb_resource);
            for &g in &self.touched[i..j] {
                let scope = &self.catalog.groups[g].pb_scope;
                let sl = scope.len() + self.groups[g].len();
                out.push(0x12); // ResourceSpans.scope_spans = 2
                encode_varint(sl as u64, out);
                out.extend_from_slice(scope);
                out.extend_from_slice(&self.groups[g]);
            }
            out.extend_from_slice(&res.pb_schema);
            i = j;
        }
    }

    fn assemble_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"resourceSpans\":[");
        let mut i = 0;
        let mut first_resource = true;
        while i < self.touched.len() {
            let r = self.catalog.groups[self.touched[i]].resource;
            let mut j = i;
            while j < self.touched.len() && self.catalog.groups[self.touched[j]].resource == r {
                j += 1;
            }
            let res = &self.catalog.resources[r];
            if !first_resource {
                out.push(b',');
            }
            first_resource = false;
            out.extend_from_slice(&res.js_prefix);
            for (k, &g) in self.touched[i..j].iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&self.catalog.groups[g].js_prefix);
                out.extend_from_slice(&self.groups[g]);
                out.extend_from_slice(b"]}");
            }
            out.extend_from_slice(&res.js_suffix);
            i = j;
        }
        out.extend_from_slice(b"]}");
    }
}

/// Monotone time scaling: nesting in the template survives in every instance.
fn scaled(offset: u64, scale_q16: u64) -> u64 {
    ((u128::from(offset) * u128::from(scale_q16)) >> 16) as u64
}

fn encode_span_pb(
    buf: &mut Vec<u8>,
    tpl: &TraceTpl,
    i: usize,
    inst: &[InstSpan],
    trace_ids: &[[u8; 16]],
) {
    let s = &tpl.spans[i];
    let me = &inst[i];
    let v = &s.variants[usize::from(me.variant)];
    let mut len = 18 + 10 + s.pb_head.len() + 18 + v.pb_attrs.len() + v.pb_tail.len();
    if s.parent.is_some() {
        len += 10;
    }
    for e in &v.events {
        let el = 9 + e.pb_rest.len();
        len += 1 + encoded_len_varint(el as u64) + el;
    }
    if s.link.is_some() {
        len += 2 + 33;
    }
    buf.push(0x12); // ScopeSpans.spans = 2
    encode_varint(len as u64, buf);
    buf.extend_from_slice(&[0x0a, 16]);
    buf.extend_from_slice(&trace_ids[usize::from(s.slot)]);
    buf.extend_from_slice(&[0x12, 8]);
    buf.extend_from_slice(&me.id);
    if let Some(p) = s.parent {
        buf.extend_from_slice(&[0x22, 8]);
        buf.extend_from_slice(&inst[usize::from(p)].id);
    }
    buf.extend_from_slice(&s.pb_head);
    buf.push(0x39); // start_time_unix_nano = 7, fixed64
    buf.extend_from_slice(&me.start.to_le_bytes());
    buf.push(0x41); // end_time_unix_nano = 8, fixed64
    buf.extend_from_slice(&me.end.to_le_bytes());
    buf.extend_from_slice(&v.pb_attrs);
    for e in &v.events {
        let el = 9 + e.pb_rest.len();
        buf.push(0x5a); // events = 11
        encode_varint(el as u64, buf);
        buf.push(0x09); // Event.time_unix_nano = 1, fixed64
        buf.extend_from_slice(&event_time(s, me, e.at).to_le_bytes());
        buf.extend_from_slice(&e.pb_rest);
    }
    if let Some(l) = s.link {
        let target = &tpl.spans[usize::from(l)];
        buf.extend_from_slice(&[0x6a, 33, 0x0a, 16]); // links = 13; Link.trace_id = 1
        buf.extend_from_slice(&trace_ids[usize::from(target.slot)]);
        buf.extend_from_slice(&[0x12, 8]); // Link.span_id = 2
        buf.extend_from_slice(&inst[usize::from(l)].id);
        buf.push(0x35); // Link.flags = 6, fixed32
        buf.extend_from_slice(&LINK_FLAGS.to_le_bytes());
    }
    buf.extend_from_slice(&v.pb_tail);
}

/// Maps a template event offset into the instance span, keeping it inside the span.
fn event_time(s: &template::SpanTpl, me: &InstSpan, at: u64) -> u64 {
    let span = s.end.saturating_sub(s.start).max(1);
    let rel = at.saturating_sub(s.start).min(span);
    me.start + ((u128::from(me.end - me.start) * u128::from(rel)) / u128::from(span)) as u64
}

fn encode_span_json(
    buf: &mut Vec<u8>,
    tpl: &TraceTpl,
    i: usize,
    inst: &[InstSpan],
    trace_ids: &[[u8; 16]],
) {
    let s = &tpl.spans[i];
    let me = &inst[i];
    let v = &s.variants[usize::from(me.variant)];
    if !buf.is_empty() {
        buf.push(b',');
    }
    buf.extend_from_slice(b"{\"traceId\":\"");
    put_hex(buf, &trace_ids[usize::from(s.slot)]);
    buf.extend_from_slice(b"\",\"spanId\":\"");
    put_hex(buf, &me.id);
    if let Some(p) = s.parent {
        buf.extend_from_slice(b"\",\"parentSpanId\":\"");
        put_hex(buf, &inst[usize::from(p)].id);
    }
    buf.push(b'"');
    buf.extend_from_slice(&s.js_head);
    buf.extend_from_slice(b",\"startTimeUnixNano\":");
    put_u64_str(buf, me.start);
    buf.extend_from_slice(b",\"endTimeUnixNano\":");
    put_u64_str(buf, me.end);
    buf.extend_from_slice(&v.js_attrs);
    if !v.events.is_empty() {
        buf.extend_from_slice(b",\"events\":[");
        for (k, e) in v.events.iter().enumerate() {
            if k > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(b"{\"timeUnixNano\":");
            put_u64_str(buf, event_time(s, me, e.at));
            buf.extend_from_slice(&e.js_rest);
        }
        buf.push(b']');
    }
    if let Some(l) = s.link {
        let target = &tpl.spans[usize::from(l)];
        buf.extend_from_slice(b",\"links\":[{\"traceId\":\"");
        put_hex(buf, &trace_ids[usize::from(target.slot)]);
        buf.extend_from_slice(b"\",\"spanId\":\"");
        put_hex(buf, &inst[usize::from(l)].id);
        buf.extend_from_slice(b"\",\"flags\":");
        crate::json::put_u64(buf, u64::from(LINK_FLAGS));
        buf.extend_from_slice(b"}]");
    }
    buf.extend_from_slice(&v.js_status);
    buf.push(b'}');
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use prost::Message as _;

    use super::*;

    const BASE: u64 = 1_750_000_000_000_000_000;

    fn generator(seed: u64) -> Generator {
        Generator::new(GeneratorConfig {
            seed,
            time_base: TimeBase::Fixed { unix_nanos: BASE },
            ..GeneratorConfig::default()
        })
    }

    fn batches(seed: u64, encoding: Encoding, sizes: &[usize]) -> Vec<Vec<u8>> {
        let mut g = generator(seed);
        sizes
            .iter()
            .map(|&n| {
                let mut out = vec![];
                assert_eq!(g.fill_batch(n, encoding, &mut out).spans, n);
                out
            })
            .collect()
    }

    fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(bytes).expect("generator output decodes")
    }

    fn str_attr<'a>(
        attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
        key: &str,
    ) -> Option<&'a str> {
        attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    #[test]
    fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
        for enc in [Encoding::Protobuf, Encoding::Json] {
            let a = batches(42, enc, &[1000, 1, 517, 1000]);
            let b = batches(42, enc, &[1000, 1, 517, 1000]);
            let c = batches(43, enc, &[1000, 1, 517, 1000]);
            assert_eq!(a, b, "{enc:?}: same seed must give the same bytes");
            for (x, y) in a.iter().zip(&c) {
                assert_ne!(x, y, "{enc:?}: another seed must give other bytes");
            }
        }
    }

    #[test]
    fn protobuf_fast_path_is_canonical_prost_encoding() {
        for body in batches(7, Encoding::Protobuf, &[1000, 333, 2048]) {
            let req = decode(&body);
            assert_eq!(
                req.encode_to_vec(),
                body,
                "re-encoding the decoded request must give the same bytes"
            );
        }
    }

    #[test]
    fn json_fast_path_matches_the_reference_encoder() {
        let pb = batches(11, Encoding::Protobuf, &[1000, 250, 1000]);
        let js = batches(11, Encoding::Json, &[1000, 250, 1000]);
        for (p, j) in pb.iter().zip(&js) {
            let mut reference = vec![];
            crate::json::write_export_request(&mut reference, &decode(p));
            assert_eq!(
                String::from_utf8_lossy(&reference),
                String::from_utf8_lossy(j),
                "fast JSON must equal the reference encoding of the same spans"
            );
        }
    }

    #[test]
    fn json_output_is_otlp_json() {
        let body = &batches(5, Encoding::Json, &[600])[0];
        let v: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
        let is_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let mut spans = 0;
        let mut ints = 0;
        let mut parents = 0;
        for rs in v["resourceSpans"].as_array().expect("resourceSpans") {
            let attrs = rs["resource"]["attributes"]
                .as_array()
                .expect("resource attributes");
            assert!(
                attrs
                    .iter()
                    .any(|a| a["key"] == "service.name" && a["value"]["stringValue"].is_string())
            );
            for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
                for s in ss["spans"].as_array().expect("spans") {
                    spans += 1;
                    assert!(
                        is_hex(s["traceId"].as_str().expect("traceId"), 32),
                        "{}",
                        s["traceId"]
                    );
                    assert!(is_hex(s["spanId"].as_str().expect("spanId"), 16));
                    if let Some(p) = s.get("parentSpanId") {
                        parents += 1;
                        assert!(is_hex(p.as_str().expect("parentSpanId"), 16));
                    }
                    let start: u64 = s["startTimeUnixNano"]
                        .as_str()
                        .expect("int64 as string")
                        .parse()
                        .expect("number");
                    let end: u64 = s["endTimeUnixNano"]
                        .as_str()
                        .expect("int64 as string")
                        .parse()
                        .expect("number");
                    assert!(start >= BASE && end >= start);
                    assert!(s["kind"].is_u64(), "enum as integer");
                    assert!(s["flags"].is_u64());
                    for a in s["attributes"].as_array().into_iter().flatten() {
                        if let Some(i) = a["value"].get("intValue") {
                            ints += 1;
                            assert!(
                                i.as_str()
                                    .expect("intValue as string")
                                    .parse::<i64>()
                                    .is_ok()
                            );
                        }
                    }
                    if let Some(st) = s.get("status") {
                        assert_eq!(st["code"], 2);
                        assert!(st["message"].is_string());
                    }
                }
            }
        }
        assert_eq!(spans, 600);
        assert!(ints > 0 && parents > 0);
    }

    struct Rec {
        parent: Option<Vec<u8>>,
        start: u64,
        end: u64,
        error: bool,
    }

    #[test]
    fn generated_traces_are_well_formed() {
        let mut g = generator(2026);
        let mut traces_started = 0;
        let mut bodies = vec![];
        while traces_started < 10_000 {
            let mut out = vec![];
            traces_started += g
                .fill_batch(997, Encoding::Protobuf, &mut out)
                .traces_started;
            bodies.push(out);
        }
        // Finish the trace instance in flight so every trace is complete.
        let rest = g.inst.len() - g.cursor;
        if rest > 0 {
            let mut out = vec![];
            g.fill_batch(rest, Encoding::Protobuf, &mut out);
            bodies.push(out);
        }

        let mut spans: HashMap<(Vec<u8>, Vec<u8>), Rec> = HashMap::new();
        let mut kinds = HashSet::new();
        let mut batches_of_trace: HashMap<Vec<u8>, HashSet<usize>> = HashMap::new();
        let mut links = vec![];
        let mut gateway_spans = 0;
        let mut exception_events = 0;
        for (b, body) in bodies.iter().enumerate() {
            for rs in decode(body).resource_spans {
                let attrs = rs.resource.expect("resource").attributes;
                let service = str_attr(&attrs, "service.name")
                    .expect("service.name")
                    .to_string();
                if !service.contains('.') {
                    for key in [
                        "k8s.pod.name",
                        "k8s.namespace.name",
                        "service.version",
                        "telemetry.sdk.language",
                    ] {
                        assert!(str_attr(&attrs, key).is_some(), "{service} lacks {key}");
                    }
                }
                for ss in rs.scope_spans {
                    for s in ss.spans {
                        assert_eq!(s.trace_id.len(), 16);
                        assert_eq!(s.span_id.len(), 8);
                        assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
                        kinds.insert(s.kind);
                        if service == "istio-ingressgateway.istio-system" {
                            gateway_spans += 1;
                            assert_eq!(
                                s.kind,
                                SpanKind::Client as i32,
                                "gateway spans are CLIENT only"
                            );
                            assert_eq!(str_attr(&s.attributes, "component"), Some("proxy"));
                            assert!(str_attr(&s.attributes, "upstream_cluster").is_some());
                            assert!(str_attr(&s.attributes, "node_id").is_some());
                        }
                        for e in &s.events {
                            assert!(
                                e.time_unix_nano >= s.start_time_unix_nano
                                    && e.time_unix_nano <= s.end_time_unix_nano
                            );
                            if e.name == "exception" {
                                exception_events += 1;
                                for key in [
                                    "exception.type",
                                    "exception.message",
                                    "exception.stacktrace",
                                ] {
                                    assert!(str_attr(&e.attributes, key).is_some());
                                }
                            }
                        }
                        for l in &s.links {
                            links.push((l.trace_id.clone(), l.span_id.clone(), s.trace_id.clone()));
                        }
                        let error = s
                            .status
                            .as_ref()
                            .is_some_and(|st| st.code == StatusCode::Error as i32);
                        if error {
                            assert!(
                                !s.status.as_ref().is_some_and(|st| st.message.is_empty()),
                                "errors carry a message"
                            );
                        }
                        batches_of_trace
                            .entry(s.trace_id.clone())
                            .or_default()
                            .insert(b);
                        let rec = Rec {
                            parent: (!s.parent_span_id.is_empty())
                                .then(|| s.parent_span_id.clone()),
                            start: s.start_time_unix_nano,
                            end: s.end_time_unix_nano,
                            error,
                        };
                        let prev = spans.insert((s.trace_id, s.span_id), rec);
                        assert!(prev.is_none(), "span ids are unique");
                    }
                }
            }
        }

        let mut roots: HashMap<&[u8], usize> = HashMap::new();
        let mut errored: HashSet<&[u8]> = HashSet::new();
        for ((trace, _), rec) in &spans {
            match &rec.parent {
                None => *roots.entry(trace).or_default() += 1,
                Some(p) => {
                    let parent = spans
                        .get(&(trace.clone(), p.clone()))
                        .expect("parent is a span of the same trace");
                    assert!(
                        rec.start >= parent.start && rec.end <= parent.end,
                        "child inside its parent's time range"
                    );
                }
            }
            if rec.error {
                errored.insert(trace);
            }
        }
        let traces: HashSet<&[u8]> = spans.keys().map(|(t, _)| t.as_slice()).collect();
        assert!(traces.len() >= 10_000, "{} traces", traces.len());
        for t in &traces {
            assert_eq!(roots.get(t), Some(&1), "exactly one root per trace");
        }
        let ratio = errored.len() as f64 / traces.len() as f64;
        assert!((0.01..=0.03).contains(&ratio), "error ratio {ratio}");
        assert!(exception_events > 0);
        for kind in [
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ] {
            assert!(kinds.contains(&(kind as i32)), "{kind:?} spans present");
        }
        assert!(gateway_spans > 0);
        assert!(!links.is_empty());
        for (trace, span, from) in &links {
            assert!(
                spans.contains_key(&(trace.clone(), span.clone())),
                "links point at generated spans"
            );
            assert_ne!(trace, from, "consumer traces link to the producer's trace");
        }
        assert!(
            batches_of_trace.values().any(|b| b.len() > 1),
            "some traces span two batches"
        );
    }

    #[test]
    fn wall_clock_mode_ends_traces_near_now() {
        let mut g = Generator::new(GeneratorConfig {
            templates: 8,
            ..GeneratorConfig::default()
        });
        let mut out = vec![];
        g.fill_batch(200, Encoding::Protobuf, &mut out);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        for rs in decode(&out).resource_spans {
            for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                assert!(
                    s.start_time_unix_nano > now - 120_000_000_000,
                    "within two minutes of now"
                );
                assert!(s.end_time_unix_nano <= now + 1_000_000_000);
            }
        }
    }
}
