//! Query-string parameters: repeated keys, Go-style durations, times.

use std::time::{SystemTime, UNIX_EPOCH};

use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult};

/// The query string as pairs, in order, keys repeated as sent.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The last non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!("unable to parse param '{name}': {v:?}"))
                })
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(Self(pairs))
    }
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Parses a Go duration (`1.2s`, `500ms`, `1m30s`, `250us`, `100ns`, `2h`), also with a `d`
/// (24 h) unit for lookbacks; returns nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "invalid duration {text:?}: use a number and a unit such as 500ms, 1.5s, 1m30s, 2h or 2d"
        )
    };
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(total.round() as i64)
}

pub fn duration_param(params: &Params, name: &str) -> ApiResult<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            parse_duration_ns(v)
                .map_err(|e| ApiError::bad_request(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

/// An RFC 3339 time or an integer number of nanoseconds since the epoch.
pub fn parse_time_ns(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(ns);
    }
    string_to_timestamp_nanos(text).map_err(|_| {
        format!("invalid time {text:?}: use RFC 3339 (2025-11-24T16:00:00Z) or nanoseconds since the epoch")
    })
}

pub fn time_param(params: &Params, name: &str) -> ApiResult<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            parse_time_ns(v)
                .map_err(|e| ApiError::bad_request(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

/// Microseconds or milliseconds since the epoch, told apart by size (what Jaeger clients send:
/// µs from Jaeger UI, ms from Grafana), as nanoseconds.
pub fn parse_epoch_us_or_ms(text: &str) -> Result<i64, String> {
    let value: i64 = text.trim().parse().map_err(|_| {
        format!("invalid time {text:?}: expected microseconds or milliseconds since the epoch")
    })?;
    // 1e14 µs is 1973; 1e14 ms is year 5138
    let ns = if value.abs() < 100_000_000_000_000 {
        value.checked_mul(1_000_000)
    } else {
        value.checked_mul(1_000)
    };
    ns.ok_or_else(|| format!("time {text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            ("1.2s", 1_200_000_000),
            ("500ms", 500_000_000),
            ("1m30s", 90_000_000_000),
            ("250us", 250_000),
            ("250µs", 250_000),
            ("100ns", 100),
            ("2h", 7_200_000_000_000),
            ("2d", 172_800_000_000_000),
            ("0", 0),
        ];
        for (text, ns) in cases {
            assert_eq!(parse_duration_ns(text), Ok(ns), "{text}");
        }
        for bad in ["", "5", "ms", "1x", "1.2.3s", "-1s"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time_ns("2025-11-24T16:00:00Z"),
            Ok(1_764_000_000_000_000_000)
        );
        assert_eq!(
            parse_time_ns("1764000000000000000"),
            Ok(1_764_000_000_000_000_000)
        );
        assert!(parse_time_ns("yesterday").is_err());
        assert_eq!(
            parse_epoch_us_or_ms("1764000000000000"),
            Ok(1_764_000_000_000_000_000)
        );
        assert_eq!(
            parse_epoch_us_or_ms("1764000000000"),
            Ok(1_764_000_000_000_000_000)
        );
        assert!(parse_epoch_us_or_ms("soon").is_err());
    }
}
