//! Request bodies: content types, content encodings and size limits.

use std::io::Read;

use bytes::Bytes;

use crate::error::{Error, Result};

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header value (parameters such as `charset` are ignored).
    pub fn from_content_type(value: Option<&str>) -> Result<Self> {
        let Some(value) = value else {
            return Err(Error::UnsupportedMediaType(
                "missing content-type: use application/x-protobuf or application/json".into(),
            ));
        };
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Encoding::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Ok(Encoding::Json)
        } else {
            Err(Error::UnsupportedMediaType(format!(
                "unsupported content-type {value:?}: use application/x-protobuf or application/json"
            )))
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Undoes `Content-Encoding`, refusing output larger than `limit` bytes (a decompression
/// bomb stops at the limit; it is never inflated in full).
pub fn decompress(encoding: Option<&str>, body: Bytes, limit: usize) -> Result<Bytes> {
    let encoding = encoding.map(str::trim).unwrap_or("identity");
    let too_large = || {
        Error::TooLarge(format!(
            "decompressed body exceeds the limit of {limit} bytes"
        ))
    };
    let inflate = |reader: &mut dyn Read, what: &str| -> Result<Bytes> {
        let mut out = Vec::with_capacity((body.len() * 4).min(limit));
        let read = reader
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::InvalidArgument(format!("invalid {what} body: {e}")))?;
        if read > limit {
            return Err(too_large());
        }
        Ok(Bytes::from(out))
    };
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        if body.len() > limit {
            return Err(too_large());
        }
        Ok(body)
    } else if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") {
        inflate(&mut flate2::read::MultiGzDecoder::new(&body[..]), "gzip")
    } else if encoding.eq_ignore_ascii_case("deflate") {
        inflate(&mut flate2::read::ZlibDecoder::new(&body[..]), "deflate")
    } else if encoding.eq_ignore_ascii_case("zstd") {
        let mut decoder = zstd::stream::read::Decoder::new(&body[..])
            .map_err(|e| Error::InvalidArgument(format!("invalid zstd body: {e}")))?;
        inflate(&mut decoder, "zstd")
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "unsupported content-encoding {encoding:?}: use gzip, zstd, deflate or identity"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("write");
        Bytes::from(e.finish().expect("finish"))
    }

    #[test]
    fn content_types() {
        let cases = [
            (Some("application/x-protobuf"), Ok(Encoding::Protobuf)),
            (Some("application/protobuf"), Ok(Encoding::Protobuf)),
            (Some("application/json; charset=utf-8"), Ok(Encoding::Json)),
            (Some("Application/JSON"), Ok(Encoding::Json)),
            (
                Some("text/plain"),
                Err("unsupported content-type \"text/plain\""),
            ),
            (None, Err("missing content-type")),
        ];
        for (input, expect) in cases {
            match (Encoding::from_content_type(input), expect) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{e}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn decompresses_within_limit() {
        let data = b"hello otlp".repeat(10);
        assert_eq!(
            decompress(Some("gzip"), gzip(&data), 1000).expect("gzip"),
            data
        );
        let z = zstd::encode_all(&data[..], 1).expect("zstd");
        assert_eq!(
            decompress(Some("zstd"), Bytes::from(z), 1000).expect("zstd"),
            data
        );
        assert_eq!(
            decompress(None, Bytes::from(data.clone()), 1000).expect("plain"),
            data
        );
    }

    #[test]
    fn refuses_bombs_and_garbage() {
        // 64 MiB of zeros gzips to ~64 KiB; it must stop at the limit.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        let err = decompress(Some("gzip"), bomb, 1 << 20).expect_err("bomb");
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        assert!(
            err.to_string()
                .contains("decompressed body exceeds the limit of 1048576 bytes")
        );

        let err = decompress(Some("gzip"), Bytes::from_static(b"not gzip"), 100).expect_err("bad");
        assert!(err.to_string().starts_with("invalid gzip body"), "{err}");
        let err = decompress(Some("br"), Bytes::from_static(b"x"), 100).expect_err("br");
        assert!(matches!(err, Error::UnsupportedMediaType(_)));
        let err = decompress(None, Bytes::from(vec![1u8; 101]), 100).expect_err("plain");
        assert!(matches!(err, Error::TooLarge(_)));
    }
}
