//! Protobuf messages read in place: the fields of a message as they come, with every string and
//! byte field borrowed from the body.
//!
//! The trace receivers convert a request body with this reader instead of decoding it into
//! `opentelemetry-proto`'s owned messages, which cost an allocation and a copy for every id,
//! name, attribute key and value (see `convert.rs`). It applies protobuf's decoding rules as
//! prost does, so that a body is accepted or refused the same either way: fields may come in
//! any order, unknown fields (groups included) are skipped, a known field with the wrong wire
//! type is an error, strings must be UTF-8, and messages nest at most [`RECURSION_LIMIT`] deep.
//! Merging (the last value of a scalar wins, repeated occurrences of a message field merge) is
//! the caller's, which reads every occurrence into the same state.

use std::fmt;

/// How deeply messages may nest, counting the outermost as 0 (prost's limit).
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Why a body is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(String);

impl WireError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

pub(crate) type WireResult<T> = Result<T, WireError>;

/// One field's value, as its wire type carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
    /// A (deprecated) group, already skipped; only valid for unknown fields.
    Group,
}

impl<'a> Wire<'a> {
    fn kind(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Fixed64(_) => "64-bit",
            Wire::Len(_) => "length-delimited",
            Wire::Fixed32(_) => "32-bit",
            Wire::Group => "group",
        }
    }

    fn mismatch(&self, field: &str, expected: &str) -> WireError {
        WireError(format!(
            "{field}: expected a {expected} field, found a {} one",
            self.kind()
        ))
    }

    /// A varint field (`int32`, `int64`, `uint32`, `bool`, enums) as its 64 raw bits.
    pub fn varint(self, field: &str) -> WireResult<u64> {
        match self {
            Wire::Varint(v) => Ok(v),
            other => Err(other.mismatch(field, "varint")),
        }
    }

    /// A `fixed64` or `double` field as its 64 raw bits.
    pub fn fixed64(self, field: &str) -> WireResult<u64> {
        match self {
            Wire::Fixed64(v) => Ok(v),
            other => Err(other.mismatch(field, "64-bit")),
        }
    }

    /// A `fixed32` field.
    pub fn fixed32(self, field: &str) -> WireResult<u32> {
        match self {
            Wire::Fixed32(v) => Ok(v),
            other => Err(other.mismatch(field, "32-bit")),
        }
    }

    /// A `bytes` field, or an embedded message's bytes.
    pub fn bytes(self, field: &str) -> WireResult<&'a [u8]> {
        match self {
            Wire::Len(b) => Ok(b),
            other => Err(other.mismatch(field, "length-delimited")),
        }
    }

    /// A `string` field, which must be UTF-8.
    pub fn string(self, field: &str) -> WireResult<&'a str> {
        std::str::from_utf8(self.bytes(field)?)
            .map_err(|_| WireError(format!("{field}: string is not valid UTF-8")))
    }
}

/// The fields of one message, in the order they come. After an error it yields nothing more.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    depth: u32,
}

impl<'a> Fields<'a> {
    /// The fields of `message`, nested `depth` levels below the outermost message.
    pub fn of(message: &'a [u8], depth: u32) -> WireResult<Self> {
        if depth > RECURSION_LIMIT {
            return Err(WireError::new("recursion limit reached"));
        }
        Ok(Self {
            buf: message,
            depth,
        })
    }

    #[inline(always)]
    fn read(&mut self) -> WireResult<(u32, Wire<'a>)> {
        let key = varint(&mut self.buf)?;
        let (number, wire_type) = split_key(key)?;
        let value = match wire_type {
            0 => Wire::Varint(varint(&mut self.buf)?),
            1 => Wire::Fixed64(u64::from_le_bytes(take_array(&mut self.buf)?)),
            2 => Wire::Len(length_delimited(&mut self.buf)?),
            3 => {
                skip_group(&mut self.buf, number, self.depth + 1)?;
                Wire::Group
            }
            4 => return Err(WireError::new("unexpected end group tag")),
            5 => Wire::Fixed32(u32::from_le_bytes(take_array(&mut self.buf)?)),
            n => return Err(WireError(format!("invalid wire type value: {n}"))),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = WireResult<(u32, Wire<'a>)>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let field = self.read();
        if field.is_err() {
            self.buf = &[];
        }
        Some(field)
    }
}

/// Calls `f` with the bytes of every occurrence, in order, of the embedded-message field
/// `(number, name)` of `message` (nested `depth` levels deep); the other fields are read and
/// checked, then skipped.
pub(crate) fn each_message<'a, E: From<WireError>>(
    message: &'a [u8],
    depth: u32,
    (number, name): (u32, &str),
    mut f: impl FnMut(&'a [u8]) -> Result<(), E>,
) -> Result<(), E> {
    for field in Fields::of(message, depth)? {
        let (n, wire) = field?;
        if n == number {
            f(wire.bytes(name)?)?;
        }
    }
    Ok(())
}

/// (field number, wire type) of a field key.
#[inline]
fn split_key(key: u64) -> WireResult<(u32, u8)> {
    let key = u32::try_from(key).map_err(|_| WireError(format!("invalid key value: {key}")))?;
    let number = key >> 3;
    if number == 0 {
        return Err(WireError::new("invalid tag value: 0"));
    }
    Ok((number, (key & 7) as u8))
}

fn underflow() -> WireError {
    WireError::new("buffer underflow: a field runs past the end of its message")
}

/// A base-128 varint of at most ten bytes.
#[inline]
fn varint(buf: &mut &[u8]) -> WireResult<u64> {
    // keys, lengths and small numbers take one byte
    if let Some((&byte, rest)) = buf.split_first()
        && byte < 0x80
    {
        *buf = rest;
        return Ok(u64::from(byte));
    }
    varint_slow(buf)
}

fn varint_slow(buf: &mut &[u8]) -> WireResult<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or_else(underflow)?;
        *buf = rest;
        if i == 9 && byte > 1 {
            return Err(WireError::new("invalid varint: longer than 64 bits"));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::new("invalid varint: longer than 64 bits"))
}

#[inline]
fn take_array<const N: usize>(buf: &mut &[u8]) -> WireResult<[u8; N]> {
    let (head, rest) = buf.split_first_chunk::<N>().ok_or_else(underflow)?;
    *buf = rest;
    Ok(*head)
}

#[inline]
fn length_delimited<'a>(buf: &mut &'a [u8]) -> WireResult<&'a [u8]> {
    let len = varint(buf)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|n| *n <= buf.len())
        .ok_or_else(underflow)?;
    let (value, rest) = buf.split_at(len);
    *buf = rest;
    Ok(value)
}

/// Skips the rest of a group that began with field `number`, through its end tag.
fn skip_group(buf: &mut &[u8], number: u32, depth: u32) -> WireResult<()> {
    if depth > RECURSION_LIMIT {
        return Err(WireError::new("recursion limit reached"));
    }
    loop {
        let (inner, wire_type) = split_key(varint(buf)?)?;
        match wire_type {
            0 => {
                varint(buf)?;
            }
            1 => {
                take_array::<8>(buf)?;
            }
            2 => {
                length_delimited(buf)?;
            }
            3 => skip_group(buf, inner, depth + 1)?,
            4 if inner == number => return Ok(()),
            4 => return Err(WireError::new("unexpected end group tag")),
            5 => {
                take_array::<4>(buf)?;
            }
            n => return Err(WireError(format!("invalid wire type value: {n}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> WireResult<Vec<(u32, Wire<'_>)>> {
        Fields::of(buf, 0)?.collect()
    }

    #[test]
    fn reads_every_wire_type() {
        let mut buf = vec![0x08, 0x96, 0x01]; // 1: varint 150
        buf.extend([0x11, 1, 0, 0, 0, 0, 0, 0, 0]); // 2: fixed64 1
        buf.extend([0x1a, 2, b'h', b'i']); // 3: "hi"
        buf.extend([0x23, 0x08, 0x01, 0x24]); // 4: group { 1: 1 }
        buf.extend([0x2d, 2, 0, 0, 0]); // 5: fixed32 2
        assert_eq!(
            fields(&buf).expect("valid"),
            vec![
                (1, Wire::Varint(150)),
                (2, Wire::Fixed64(1)),
                (3, Wire::Len(b"hi")),
                (4, Wire::Group),
                (5, Wire::Fixed32(2)),
            ]
        );
        let max = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(
            fields(&max).expect("valid"),
            vec![(1, Wire::Varint(u64::MAX))]
        );
    }

    #[test]
    fn refuses_malformed_fields() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x08], "buffer underflow"),
            (&[0x0a, 5, b'a'], "buffer underflow"),
            (&[0x11, 1, 2], "buffer underflow"),
            (&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], "buffer underflow"),
            (&[0x00, 0x01], "invalid tag value: 0"),
            (&[0x0e], "invalid wire type value: 6"),
            (&[0x0c], "unexpected end group tag"),
            (&[0x0b, 0x08, 0x01, 0x14], "unexpected end group tag"),
            (&[0x0b, 0x08, 0x01], "buffer underflow"),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                "invalid varint",
            ),
            (&[0xff, 0xff, 0xff, 0xff, 0x7f], "invalid key value"),
        ];
        for (buf, expect) in cases {
            let err = fields(buf).expect_err(expect);
            assert!(err.to_string().contains(expect), "{buf:?}: {err}");
        }
    }

    #[test]
    fn checks_wire_types_and_utf8() {
        assert_eq!(Wire::Len(b"ok").string("M.s"), Ok("ok"));
        let err = Wire::Len(b"\xff").string("M.s").expect_err("not UTF-8");
        assert_eq!(err.to_string(), "M.s: string is not valid UTF-8");
        let err = Wire::Varint(1).bytes("M.b").expect_err("wrong type");
        assert_eq!(
            err.to_string(),
            "M.b: expected a length-delimited field, found a varint one"
        );
        assert!(Wire::Fixed32(1).fixed64("M.t").is_err());
        assert!(Wire::Fixed64(1).fixed32("M.f").is_err());
        assert!(Wire::Group.varint("M.v").is_err());
    }

    #[test]
    fn limits_nesting() {
        assert!(Fields::of(b"", RECURSION_LIMIT).is_ok());
        assert!(Fields::of(b"", RECURSION_LIMIT + 1).is_err());
        // groups nested deeper than the limit
        let mut buf = vec![0x0b; RECURSION_LIMIT as usize + 2];
        buf.extend(vec![0x0c; RECURSION_LIMIT as usize + 2]);
        let err = fields(&buf).expect_err("too deep");
        assert_eq!(err.to_string(), "recursion limit reached");
    }
}
