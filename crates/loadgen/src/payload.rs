//! Request bodies: protocol framing, gzip, and the payload directory written by
//! `--write-payloads` and read by `--replay`.
//!
//! A payload file holds exactly the bytes put on the wire as the request body:
//! - `grpc`: one length-prefixed gRPC message (1-byte compressed flag, 4-byte big-endian
//!   length, then the `ExportTraceServiceRequest`, gzipped when the flag is 1) — what
//!   `h2load -d` or any raw HTTP/2 client can send with `content-type: application/grpc`;
//! - `http-proto`: the protobuf request, gzipped with `--compression gzip`;
//! - `http-json`: the OTLP/JSON request, gzipped with `--compression gzip`;
//! - `zipkin-json`: a Zipkin v2 JSON array of the same spans (see [`crate::zipkin`]), gzipped
//!   with `--compression gzip`.
//!
//! `manifest.json` beside the files records the protocol, compression and span count of
//! every file, so a replay needs no flags and counts spans without decoding.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use flate2::Compression as Level;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::error::{Error, Result};
use crate::generator::{BatchInfo, Encoding, Generator};

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC, `TraceService/Export`.
    Grpc,
    /// OTLP/HTTP with `application/x-protobuf`.
    HttpProto,
    /// OTLP/HTTP with `application/json`.
    HttpJson,
    /// Zipkin v2 JSON, `POST /api/v2/spans` (not OTLP: for Zipkin receivers).
    ZipkinJson,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProto => "http-proto",
            Protocol::HttpJson => "http-json",
            Protocol::ZipkinJson => "zipkin-json",
        }
    }

    pub fn encoding(self) -> Encoding {
        match self {
            Protocol::HttpJson => Encoding::Json,
            _ => Encoding::Protobuf,
        }
    }

    /// The conventional local endpoint for the protocol.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://127.0.0.1:4317",
            Protocol::ZipkinJson => "http://127.0.0.1:9411",
            _ => "http://127.0.0.1:4318",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grpc" => Ok(Protocol::Grpc),
            "http-proto" | "http/protobuf" => Ok(Protocol::HttpProto),
            "http-json" | "http/json" => Ok(Protocol::HttpJson),
            "zipkin-json" | "zipkin" => Ok(Protocol::ZipkinJson),
            _ => Err(format!(
                "unknown protocol {s:?} (grpc, http-proto, http-json, zipkin-json)"
            )),
        }
    }
}

/// Body compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            _ => Err(format!("unknown compression {s:?} (none, gzip)")),
        }
    }
}

/// gzip level used for bodies: fast, since the generator must keep up with a server.
const GZIP_LEVEL: u32 = 1;

/// Gzips `data` onto the end of `out`.
pub(crate) fn gzip_into(data: &[u8], out: &mut Vec<u8>) {
    let mut enc = GzEncoder::new(std::mem::take(out), Level::new(GZIP_LEVEL));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    *out = enc.finish().unwrap_or_default();
}

/// Gunzips `data`.
pub(crate) fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::GzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

/// Builds request bodies for one protocol and compression.
pub struct BodyBuilder {
    protocol: Protocol,
    compression: Compression,
    scratch: Vec<u8>,
}

impl BodyBuilder {
    pub fn new(protocol: Protocol, compression: Compression) -> Self {
        BodyBuilder {
            protocol,
            compression,
            scratch: Vec::new(),
        }
    }

    /// Replaces `out` with the next request body of `spans` spans.
    pub fn build(
        &mut self,
        generator: &mut Generator,
        spans: usize,
        out: &mut Vec<u8>,
    ) -> BatchInfo {
        out.clear();
        let encoding = self.protocol.encoding();
        match (self.protocol, self.compression) {
            (Protocol::Grpc, Compression::None) => {
                out.extend_from_slice(&[0; 5]);
                let info = generator.fill_batch(spans, encoding, out);
                frame_header(out, false);
                info
            }
            (Protocol::Grpc, Compression::Gzip) => {
                self.scratch.clear();
                let info = generator.fill_batch(spans, encoding, &mut self.scratch);
                out.extend_from_slice(&[0; 5]);
                gzip_into(&self.scratch, out);
                frame_header(out, true);
                info
            }
            (Protocol::ZipkinJson, compression) => {
                self.scratch.clear();
                let info = generator.fill_batch(spans, encoding, &mut self.scratch);
                let json = crate::zipkin::from_otlp(&self.scratch);
                match compression {
                    Compression::None => out.extend_from_slice(&json),
                    Compression::Gzip => gzip_into(&json, out),
                }
                info
            }
            (_, Compression::None) => generator.fill_batch(spans, encoding, out),
            (_, Compression::Gzip) => {
                self.scratch.clear();
                let info = generator.fill_batch(spans, encoding, &mut self.scratch);
                gzip_into(&self.scratch, out);
                info
            }
        }
    }
}

/// Fills the 5-byte gRPC message prefix at the start of `frame`.
fn frame_header(frame: &mut [u8], compressed: bool) {
    let len = (frame.len() - 5) as u32;
    frame[0] = u8::from(compressed);
    frame[1..5].copy_from_slice(&len.to_be_bytes());
}

/// Splits a gRPC length-prefixed message into (compressed flag, message).
pub(crate) fn unframe(body: &[u8]) -> Option<(bool, &[u8])> {
    if body.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    body.get(5..5 + len).map(|m| (body[0] == 1, m))
}

/// Counts the spans of a request body (used when replaying files without a manifest).
pub fn count_spans(protocol: Protocol, compression: Compression, body: &[u8]) -> Result<u64> {
    let (compressed, msg) = match protocol {
        Protocol::Grpc => {
            unframe(body).ok_or_else(|| Error::Payload("truncated grpc frame".into()))?
        }
        _ => (compression == Compression::Gzip, body),
    };
    let plain;
    let msg = if compressed {
        plain = gunzip(msg).map_err(|e| Error::Payload(format!("bad gzip: {e}")))?;
        &plain[..]
    } else {
        msg
    };
    match protocol {
        Protocol::ZipkinJson => {
            let v: serde_json::Value = serde_json::from_slice(msg)
                .map_err(|e| Error::Payload(format!("bad json: {e}")))?;
            Ok(v.as_array().map_or(0, |a| a.len() as u64))
        }
        Protocol::HttpJson => {
            let v: serde_json::Value = serde_json::from_slice(msg)
                .map_err(|e| Error::Payload(format!("bad json: {e}")))?;
            let mut n = 0u64;
            for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    n += ss["spans"].as_array().map_or(0, |a| a.len() as u64);
                }
            }
            Ok(n)
        }
        _ => {
            let req = ExportTraceServiceRequest::decode(msg)
                .map_err(|e| Error::Payload(format!("bad protobuf: {e}")))?;
            Ok(req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len() as u64)
                .sum())
        }
    }
}

/// Payload file name for sequence number `seq` (1-based): `000001.bin`.
pub fn payload_file_name(seq: u64) -> String {
    format!("{seq:06}.bin")
}

pub const MANIFEST: &str = "manifest.json";

/// What `--write-payloads` records beside the files.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub protocol: Protocol,
    pub compression: Compression,
    pub seed: Option<u64>,
    /// `(file name, spans)` in send order.
    pub files: Vec<(String, u64)>,
}

impl Manifest {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "format": "meshscope-loadgen-payloads",
            "version": 1,
            "protocol": self.protocol.as_str(),
            "compression": self.compression.as_str(),
            "seed": self.seed,
            "files": self.files.iter().map(|(n, s)| serde_json::json!({"name": n, "spans": s})).collect::<Vec<_>>(),
        })
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_vec_pretty(&self.to_json())
            .map_err(|e| Error::Payload(e.to_string()))?;
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })
    }

    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let v: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::Payload(format!("{}: {e}", path.display())))?;
        let bad = |what: &str| Error::Payload(format!("{}: missing or bad {what}", path.display()));
        if v["format"] != "meshscope-loadgen-payloads" || v["version"] != 1 {
            return Err(bad("format/version"));
        }
        let protocol = v["protocol"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("protocol"))?;
        let compression = v["compression"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("compression"))?;
        let mut files = vec![];
        for f in v["files"].as_array().ok_or_else(|| bad("files"))? {
            let name = f["name"].as_str().ok_or_else(|| bad("file name"))?;
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                return Err(bad("file name"));
            }
            files.push((
                name.to_string(),
                f["spans"].as_u64().ok_or_else(|| bad("file spans"))?,
            ));
        }
        Ok(Some(Manifest {
            protocol,
            compression,
            seed: v["seed"].as_u64(),
            files,
        }))
    }
}

/// Lists `*.bin` files of a payload directory in name order.
pub fn list_payload_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = vec![];
    for e in rd {
        let e = e.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "bin") && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GeneratorConfig, TimeBase};

    fn generator() -> Generator {
        Generator::new(GeneratorConfig {
            seed: 3,
            time_base: TimeBase::Fixed {
                unix_nanos: 1_750_000_000_000_000_000,
            },
            templates: 16,
            ..GeneratorConfig::default()
        })
    }

    #[test]
    fn every_protocol_and_compression_round_trips_its_span_count() {
        for protocol in [Protocol::Grpc, Protocol::HttpProto, Protocol::HttpJson] {
            for compression in [Compression::None, Compression::Gzip] {
                let mut g = generator();
                let mut b = BodyBuilder::new(protocol, compression);
                let mut body = vec![];
                let info = b.build(&mut g, 777, &mut body);
                assert_eq!(info.spans, 777);
                let n = count_spans(protocol, compression, &body).expect("decodes");
                assert_eq!(n, 777, "{protocol} {compression}");
            }
        }
    }

    #[test]
    fn manifest_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Manifest {
            protocol: Protocol::HttpJson,
            compression: Compression::Gzip,
            seed: Some(9),
            files: vec![(payload_file_name(1), 1000), (payload_file_name(2), 17)],
        };
        m.write(dir.path()).expect("write");
        assert_eq!(Manifest::read(dir.path()).expect("read"), Some(m));
        assert_eq!(payload_file_name(1), "000001.bin");
    }
}
