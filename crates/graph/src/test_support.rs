//! Test helpers: a deterministic random source and a builder of `spans` batches.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use meshscope_model::{
    ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput, SpanKind, StatusCode, Value,
};

/// SplitMix64: deterministic, good enough for test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Log-normal with the given median and σ of the log.
    pub(crate) fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One span to generate.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub trace: u128,
    pub id: u64,
    pub parent: Option<u64>,
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub status: StatusCode,
    pub attrs: Vec<(String, Attr)>,
}

#[derive(Debug, Clone)]
pub(crate) enum Attr {
    Str(String),
    Int(i64),
}

impl Span {
    pub(crate) fn new(
        trace: u128,
        id: u64,
        parent: Option<u64>,
        service: &str,
        kind: SpanKind,
        start_ns: i64,
        duration_ns: i64,
    ) -> Self {
        Self {
            trace,
            id,
            parent,
            service: service.to_owned(),
            name: format!("{} op", kind.as_str()),
            kind,
            start_ns,
            duration_ns,
            status: StatusCode::Unset,
            attrs: Vec::new(),
        }
    }

    pub(crate) fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    pub(crate) fn attr(mut self, key: &str, value: &str) -> Self {
        self.attrs
            .push((key.to_owned(), Attr::Str(value.to_owned())));
        self
    }

    pub(crate) fn int_attr(mut self, key: &str, value: i64) -> Self {
        self.attrs.push((key.to_owned(), Attr::Int(value)));
        self
    }

    pub(crate) fn error(mut self) -> Self {
        self.status = StatusCode::Error;
        self
    }
}

/// A `spans` batch of the model's schema holding `spans`.
pub(crate) fn batch(spans: &[Span]) -> RecordBatch {
    let mut builder = SpanBatchBuilder::with_capacity(spans.len());
    let mut resources: HashMap<&str, ResourceContext> = HashMap::new();
    let scope = ScopeContext::new("test", "1", &[], "");
    for s in spans {
        let resource = resources.entry(&s.service).or_insert_with(|| {
            ResourceContext::new(&[("service.name", Value::Str(&s.service))], "")
        });
        let attrs: Vec<(&str, Value<'_>)> = s
            .attrs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Attr::Str(s) => Value::Str(s),
                    Attr::Int(i) => Value::Int(*i),
                };
                (k.as_str(), v)
            })
            .collect();
        let trace_id = s.trace.to_be_bytes();
        builder.append(
            resource,
            &scope,
            &SpanInput {
                trace_id,
                span_id: s.id.to_be_bytes(),
                parent_span_id: s.parent.map(u64::to_be_bytes),
                trace_state: "",
                flags: 0,
                name: &s.name,
                kind: s.kind,
                start_ns: s.start_ns,
                end_ns: s.start_ns + s.duration_ns,
                status: s.status,
                status_message: "",
                attributes: &attrs,
                dropped_attributes_count: 0,
                events: &[],
                dropped_events_count: 0,
                links: &[],
                dropped_links_count: 0,
            },
        );
    }
    builder.finish().unwrap()
}
