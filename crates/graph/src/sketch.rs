//! A mergeable latency sketch with a bounded relative error (DDSketch-style log buckets).
//!
//! # Accuracy
//! A duration `x > 0` (nanoseconds) falls into bucket `i = ceil(ln x / ln γ)` with
//! `γ = (1 + α) / (1 − α)` and `α = 0.01`; bucket `i` covers `(γ^(i−1), γ^i]` and is reported as
//! `(1 − α)·γ^i`, so every reported value is within **1 % relative error** of every value in its
//! bucket. Durations `≤ 0` are counted in a separate zero bucket and reported as `0`.
//! [`LatencySketch::quantile`]`(q)` returns the bucket holding the sample of rank
//! `⌊q·(n − 1)⌋` (0-based, ascending), hence a value within 1 % of that exact sample. Merging
//! adds bucket counts, so merged sketches keep the same guarantee: a percentile over a day of
//! minutes is as accurate as over one minute.
//!
//! Indices run from 0 (1 ns) to [`MAX_INDEX`] (`i64::MAX` ns), so a sketch is at most 2,185
//! counters whatever it holds.
//!
//! # Serialized form (the `duration_sketch` column), version 1
//! ```text
//! u8      version = 1 (implies α = 0.01)
//! varint  zero_count                   durations ≤ 0
//! varint  run_count                    runs of non-empty buckets
//! if run_count > 0:
//!   varint  lo                         index of the first non-empty bucket
//!   varint  hi − lo                    hi: index of the last non-empty bucket
//!   run_count × {
//!     varint  gap                      empty buckets before the run (0 for the first)
//!     varint  len                      ≥ 1
//!     len × varint count
//!   }
//! ```
//! Varints are unsigned LEB128. A run is a maximal stretch of non-empty buckets. Size: about
//! 1.5 bytes per call for small counts (100 log-normal calls: ~155 bytes), bounded by the
//! buckets the distribution spans (115 per decade of latency) however many calls it holds.

use crate::error::{Error, Result};

/// Relative accuracy of every reported value: 1 %.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// `γ = (1 + α) / (1 − α)`.
#[cfg(test)]
const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
/// `1 / ln γ`, checked against `GAMMA` by a test.
const INV_LN_GAMMA: f64 = 49.998_333_288_886_78;
/// Largest bucket index: the bucket of `i64::MAX` nanoseconds.
pub const MAX_INDEX: u16 = 2184;
/// Version byte of the serialized form.
pub const SKETCH_VERSION: u8 = 1;

/// The bucket of a positive duration.
fn index_of(duration_ns: i64) -> Option<u16> {
    if duration_ns <= 0 {
        return None;
    }
    let i = ((duration_ns as f64).ln() * INV_LN_GAMMA).ceil();
    // ln of a positive i64 is in [0, 43.7], so the product is in [0, 2184]; clamp guards the
    // float edge at the very top.
    Some((i.max(0.0) as u16).min(MAX_INDEX))
}

/// The value a bucket reports: `(1 − α)·γ^i`.
fn value_of(index: u16) -> f64 {
    (1.0 - RELATIVE_ACCURACY) * (f64::from(index) / INV_LN_GAMMA).exp()
}

/// A latency distribution in log buckets; see the module docs for its accuracy and format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    zero: u64,
    /// Bucket index of `counts[0]`.
    offset: u16,
    counts: Vec<u64>,
}

impl LatencySketch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one duration in nanoseconds.
    pub fn add(&mut self, duration_ns: i64) {
        match index_of(duration_ns) {
            Some(i) => self.add_to_bucket(i, 1),
            None => self.zero = self.zero.saturating_add(1),
        }
    }

    /// Number of durations counted.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(self.zero, |acc, c| acc.saturating_add(*c))
    }

    pub fn is_empty(&self) -> bool {
        self.zero == 0 && self.counts.iter().all(|c| *c == 0)
    }

    /// Empties the sketch, keeping its allocation.
    pub fn clear(&mut self) {
        self.zero = 0;
        self.offset = 0;
        self.counts.clear();
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &LatencySketch) {
        self.zero = self.zero.saturating_add(other.zero);
        if other.counts.is_empty() {
            return;
        }
        let end = other.offset as usize + other.counts.len() - 1;
        self.cover(other.offset, end as u16);
        let base = (other.offset - self.offset) as usize;
        for (slot, c) in self.counts[base..].iter_mut().zip(&other.counts) {
            *slot = slot.saturating_add(*c);
        }
    }

    /// The value at quantile `q` (clamped to `[0, 1]`) in nanoseconds, within
    /// [`RELATIVE_ACCURACY`] of the sample of rank `⌊q·(n − 1)⌋`; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = (q * (n - 1) as f64).floor() as u64;
        if rank < self.zero {
            return Some(0.0);
        }
        let mut seen = self.zero;
        for (i, c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*c);
            if seen > rank {
                return Some(value_of(self.offset + i as u16));
            }
        }
        // Unreachable while counts sum to n; report the largest bucket.
        self.counts
            .iter()
            .rposition(|c| *c > 0)
            .map(|i| value_of(self.offset + i as u16))
    }

    /// Appends the serialized form (see the module docs) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(SKETCH_VERSION);
        put_varint(out, self.zero);
        let runs = runs(&self.counts);
        put_varint(out, runs.len() as u64);
        let (Some((first, _)), Some((_, last_end))) = (runs.first(), runs.last()) else {
            return;
        };
        put_varint(out, (self.offset as usize + first) as u64);
        put_varint(out, (last_end - 1 - first) as u64);
        let mut previous_end = *first;
        for (start, end) in &runs {
            put_varint(out, (start - previous_end) as u64);
            put_varint(out, (end - start) as u64);
            for c in &self.counts[*start..*end] {
                put_varint(out, *c);
            }
            previous_end = *end;
        }
    }

    /// The serialized form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.counts.len());
        self.encode(&mut out);
        out
    }

    /// Parses a serialized sketch.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut sketch = Self::new();
        sketch.merge_encoded(bytes)?;
        Ok(sketch)
    }

    /// Adds a serialized sketch without materializing it (the query-side hot path). On error
    /// `self` may hold part of the input and should be discarded.
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let corrupt = |what: String| Err(Error::CorruptSketch(what));
        let mut r = Reader { bytes, pos: 0 };
        let version = r.byte()?;
        if version != SKETCH_VERSION {
            return corrupt(format!("unknown version {version}"));
        }
        self.zero = self.zero.saturating_add(r.varint()?);
        let run_count = r.varint()?;
        if run_count > 0 {
            let lo = r.varint()?;
            let hi = lo.saturating_add(r.varint()?);
            if hi > u64::from(MAX_INDEX) || run_count > hi - lo + 1 {
                return corrupt(format!("{run_count} runs in buckets {lo}..={hi}"));
            }
            // lo ≤ hi ≤ MAX_INDEX: both fit in u16. One resize for the whole sketch.
            self.cover(lo as u16, hi as u16);
            let base = lo as usize - self.offset as usize;
            let span = &mut self.counts[base..=base + (hi - lo) as usize];
            let mut position = 0usize;
            for _ in 0..run_count {
                let start = position.saturating_add(r.varint()? as usize);
                let len = r.varint()? as usize;
                let end = start.saturating_add(len);
                if len == 0 || end > span.len() {
                    return corrupt(format!("run of {len} buckets at {start} past {hi}"));
                }
                for slot in &mut span[start..end] {
                    *slot = slot.saturating_add(r.varint()?);
                }
                position = end;
            }
            if position != span.len() {
                return corrupt(format!("runs end at {position}, not at {hi}"));
            }
        }
        if r.pos != bytes.len() {
            return corrupt(format!("{} trailing bytes", bytes.len() - r.pos));
        }
        Ok(())
    }

    fn add_to_bucket(&mut self, index: u16, n: u64) {
        self.cover(index, index);
        let slot = &mut self.counts[(index - self.offset) as usize];
        *slot = slot.saturating_add(n);
    }

    /// Grows `counts` so that it covers bucket indices `lo..=hi`.
    fn cover(&mut self, lo: u16, hi: u16) {
        if self.counts.is_empty() {
            self.offset = lo;
            self.counts.resize((hi - lo) as usize + 1, 0);
            return;
        }
        if lo < self.offset {
            let shift = (self.offset - lo) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, shift));
            self.offset = lo;
        }
        let needed = (hi - self.offset) as usize + 1;
        if needed > self.counts.len() {
            self.counts.resize(needed, 0);
        }
    }
}

/// Maximal stretches `[start, end)` of non-zero counts.
fn runs(counts: &[u64]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in counts.iter().enumerate() {
        match (start, *c > 0) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, counts.len()));
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    #[inline(always)]
    fn byte(&mut self) -> Result<u8> {
        let b = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| Error::CorruptSketch("truncated".into()))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64> {
        // Fast path: one byte.
        if let Some(b) = self.bytes.get(self.pos)
            && *b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(*b));
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Error::CorruptSketch("varint longer than 10 bytes".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;

    fn exact_quantile(sorted: &[i64], q: f64) -> f64 {
        let rank = (q * (sorted.len() - 1) as f64).floor() as usize;
        sorted[rank] as f64
    }

    fn check_within_error(values: &mut [i64], sketch: &LatencySketch) {
        values.sort_unstable();
        for q in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let exact = exact_quantile(values, q);
            let estimate = sketch.quantile(q).unwrap();
            let error = if exact == 0.0 {
                estimate
            } else {
                (estimate - exact).abs() / exact
            };
            assert!(
                error <= RELATIVE_ACCURACY + 1e-9,
                "q={q}: exact {exact}, estimate {estimate}, relative error {error}"
            );
        }
    }

    #[test]
    fn constants_agree() {
        assert!((INV_LN_GAMMA - 1.0 / GAMMA.ln()).abs() < 1e-9);
        assert_eq!(index_of(i64::MAX), Some(MAX_INDEX));
        assert_eq!(index_of(1), Some(0));
        assert_eq!(index_of(0), None);
        assert_eq!(index_of(-5), None);
    }

    #[test]
    fn every_bucket_value_is_within_the_relative_error() {
        // Exhaustive over small integers, sampled over large ones.
        let mut rng = Rng::new(7);
        let values = (1..20_000i64).chain((0..200_000).map(|_| (rng.next_u64() >> 1) as i64));
        for v in values.filter(|v| *v > 0) {
            let estimate = value_of(index_of(v).unwrap());
            let error = (estimate - v as f64).abs() / v as f64;
            assert!(error <= RELATIVE_ACCURACY + 1e-9, "{v}: {estimate}");
        }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution_are_within_one_percent() {
        let mut rng = Rng::new(1);
        // 1 ms .. 500 ms
        let mut values: Vec<i64> = (0..100_000)
            .map(|_| 1_000_000 + (rng.next_f64() * 499_000_000.0) as i64)
            .collect();
        let mut sketch = LatencySketch::new();
        values.iter().for_each(|v| sketch.add(*v));
        assert_eq!(sketch.count(), values.len() as u64);
        check_within_error(&mut values, &sketch);
    }

    #[test]
    fn percentiles_of_a_log_normal_distribution_are_within_one_percent() {
        let mut rng = Rng::new(2);
        // median ≈ 20 ms, σ = 1.2: a long tail into seconds
        let mut values: Vec<i64> = (0..100_000)
            .map(|_| rng.log_normal(20_000_000.0, 1.2) as i64)
            .collect();
        let mut sketch = LatencySketch::new();
        values.iter().for_each(|v| sketch.add(*v));
        check_within_error(&mut values, &sketch);
    }

    #[test]
    fn merged_sketches_keep_the_guarantee() {
        let mut rng = Rng::new(3);
        let mut all = Vec::new();
        let mut merged = LatencySketch::new();
        let mut merged_encoded = LatencySketch::new();
        for minute in 0..60 {
            let mut part = LatencySketch::new();
            let scale = 1_000_000.0 * (1.0 + f64::from(minute % 7));
            for _ in 0..500 {
                let v = rng.log_normal(scale, 0.8) as i64;
                part.add(v);
                all.push(v);
            }
            merged.merge(&part);
            merged_encoded.merge_encoded(&part.to_bytes()).unwrap();
        }
        assert_eq!(merged, merged_encoded);
        check_within_error(&mut all, &merged);
    }

    #[test]
    fn zero_and_negative_durations_count_as_zero() {
        let mut sketch = LatencySketch::new();
        for v in [0, -3, 0, 1_000, 2_000] {
            sketch.add(v);
        }
        assert_eq!(sketch.count(), 5);
        assert_eq!(sketch.quantile(0.0), Some(0.0));
        assert_eq!(sketch.quantile(0.5), Some(0.0));
        let p100 = sketch.quantile(1.0).unwrap();
        assert!((p100 - 2_000.0).abs() / 2_000.0 <= RELATIVE_ACCURACY);
        assert_eq!(LatencySketch::new().quantile(0.5), None);
    }

    #[test]
    fn round_trips_and_stays_small() {
        let mut rng = Rng::new(4);
        let mut sketch = LatencySketch::new();
        for _ in 0..200 {
            sketch.add(rng.log_normal(5_000_000.0, 0.5) as i64);
        }
        sketch.add(0);
        sketch.add(i64::MAX);
        sketch.add(1);
        let bytes = sketch.to_bytes();
        assert_eq!(LatencySketch::decode(&bytes).unwrap(), sketch);
        assert!(bytes.len() < 400, "{} bytes", bytes.len());
        let empty = LatencySketch::new().to_bytes();
        assert_eq!(empty, vec![SKETCH_VERSION, 0, 0]);
        assert!(LatencySketch::decode(&empty).unwrap().is_empty());
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let good = {
            let mut s = LatencySketch::new();
            (1..1000).for_each(|v| s.add(v * 1000));
            s.to_bytes()
        };
        for cut in 0..good.len() {
            assert!(LatencySketch::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(LatencySketch::decode(&trailing).is_err());
        // version 2, an index beyond the range, an empty run, an overlong varint
        assert!(LatencySketch::decode(&[2, 0, 0]).is_err());
        assert!(LatencySketch::decode(&[1, 0, 1, 0xa0, 0x11, 1, 1]).is_err());
        assert!(LatencySketch::decode(&[1, 0, 1, 5, 0, 0, 0]).is_err());
        // runs that stop short of the announced last bucket, or run past it
        assert!(LatencySketch::decode(&[1, 0, 1, 5, 3, 0, 1, 7]).is_err());
        assert!(LatencySketch::decode(&[1, 0, 1, 5, 0, 0, 2, 7, 7]).is_err());
        assert!(LatencySketch::decode(&[1, 0, 1, 5, 1, 0, 2, 7, 7]).is_ok());
        assert!(
            LatencySketch::decode(&[
                1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])
            .is_err()
        );
        // random garbage never panics
        let mut rng = Rng::new(5);
        for _ in 0..10_000 {
            let len = (rng.next_u64() % 24) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(b) = bytes.first_mut() {
                *b = SKETCH_VERSION;
            }
            let _ = LatencySketch::decode(&bytes);
        }
    }
}
