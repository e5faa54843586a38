//! Attribute values: a protocol-neutral mirror of OTLP's `AnyValue`, and the two text forms
//! meshscope stores them in.
//!
//! * The **display form** ([`Value::render`]) is what SQL sees in the `attributes` maps: strings
//!   as they are, numbers and booleans as their text, arrays and maps as typed JSON, bytes as
//!   base64. Equality filters read naturally: `attributes['http.route'] = '/cart'`.
//! * The **type tag** ([`Value::type_tag`]) is stored beside non-string values (in the
//!   `*_attribute_types` maps) so that the original typed value can be restored exactly.
//! * **Typed JSON** ([`write_typed_json`]) is a lossless JSON form used for nested values and for
//!   event and link attributes: strings, booleans and integers are plain JSON; doubles always
//!   carry a fraction or exponent (`1.0`); non-finite doubles are `{"$double":"NaN"}`; bytes are
//!   `{"$bytes":"<base64>"}`; arrays are arrays; key-value lists are objects in their original
//!   order; an empty value is `null`.

use std::fmt::Write as _;

use base64::Engine as _;

/// A typed attribute value, borrowed from the decoded request.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(Vec<Value<'a>>),
    Map(Vec<(&'a str, Value<'a>)>),
    /// An `AnyValue` with no value set.
    Empty,
}

/// Type tags stored for non-string attribute values.
pub mod type_tag {
    pub const BOOL: &str = "bool";
    pub const INT: &str = "int";
    pub const DOUBLE: &str = "double";
    pub const BYTES: &str = "bytes";
    pub const ARRAY: &str = "array";
    pub const MAP: &str = "map";
    pub const EMPTY: &str = "empty";
}

impl Value<'_> {
    /// The tag stored beside a non-string value, `None` for strings.
    pub fn type_tag(&self) -> Option<&'static str> {
        match self {
            Value::Str(_) => None,
            Value::Bool(_) => Some(type_tag::BOOL),
            Value::Int(_) => Some(type_tag::INT),
            Value::Double(_) => Some(type_tag::DOUBLE),
            Value::Bytes(_) => Some(type_tag::BYTES),
            Value::Array(_) => Some(type_tag::ARRAY),
            Value::Map(_) => Some(type_tag::MAP),
            Value::Empty => Some(type_tag::EMPTY),
        }
    }

    /// Appends the display form to `out`.
    pub fn render(&self, out: &mut String) {
        match self {
            Value::Str(s) => out.push_str(s),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Double(d) => {
                let _ = write!(out, "{d}");
            }
            Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode_string(b, out),
            Value::Array(_) | Value::Map(_) => write_typed_json(self, out),
            Value::Empty => {}
        }
    }

    /// The display form as a new string.
    pub fn to_display_string(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }

    /// The value as an integer, when it is one or is a string holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
            _ => None,
        }
    }
}

/// Appends `value` in typed JSON (see the module docs) to `out`.
pub fn write_typed_json(value: &Value<'_>, out: &mut String) {
    match value {
        Value::Str(s) => write_json_string(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Double(d) if d.is_finite() => {
            if d.fract() == 0.0 && d.abs() < 1e16 {
                let _ = write!(out, "{d:.1}");
            } else {
                let _ = write!(out, "{d:e}");
            }
        }
        Value::Double(d) => {
            out.push_str("{\"$double\":\"");
            out.push_str(if d.is_nan() {
                "NaN"
            } else if *d > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            });
            out.push_str("\"}");
        }
        Value::Bytes(b) => {
            out.push_str("{\"$bytes\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push_str("\"}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_typed_json(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => write_typed_json_object(entries, out),
        Value::Empty => out.push_str("null"),
    }
}

/// Appends a key-value list as a typed JSON object, keeping its order.
pub fn write_typed_json_object(entries: &[(&str, Value<'_>)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(k, out);
        out.push(':');
        write_typed_json(v, out);
    }
    out.push('}');
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(v: &Value<'_>) -> String {
        let mut s = String::new();
        write_typed_json(v, &mut s);
        s
    }

    #[test]
    fn display_forms() {
        let cases: &[(Value<'_>, &str, Option<&str>)] = &[
            (Value::Str("GET"), "GET", None),
            (Value::Int(-42), "-42", Some("int")),
            (Value::Double(1.5), "1.5", Some("double")),
            (Value::Double(2.0), "2", Some("double")),
            (Value::Bool(true), "true", Some("bool")),
            (Value::Bytes(&[0xde, 0xad]), "3q0=", Some("bytes")),
            (
                Value::Array(vec![Value::Int(1), Value::Str("a")]),
                "[1,\"a\"]",
                Some("array"),
            ),
            (Value::Empty, "", Some("empty")),
        ];
        for (value, display, tag) in cases {
            assert_eq!(value.to_display_string(), *display, "{value:?}");
            assert_eq!(value.type_tag(), *tag, "{value:?}");
        }
    }

    #[test]
    fn typed_json_is_lossless_and_valid_json() {
        let v = Value::Map(vec![
            ("s", Value::Str("a\"b\n")),
            ("i", Value::Int(i64::MAX)),
            ("d", Value::Double(3.0)),
            ("e", Value::Double(1.25e300)),
            ("n", Value::Double(f64::NAN)),
            ("b", Value::Bytes(b"hi")),
            ("z", Value::Empty),
            ("a", Value::Array(vec![Value::Bool(false)])),
        ]);
        let text = typed(&v);
        assert_eq!(
            text,
            r#"{"s":"a\"b\n","i":9223372036854775807,"d":3.0,"e":1.25e300,"n":{"$double":"NaN"},"b":{"$bytes":"aGk="},"z":null,"a":[false]}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(parsed["i"].as_i64(), Some(i64::MAX));
        assert!(parsed["d"].is_f64());
    }

    #[test]
    fn integers_from_strings() {
        assert_eq!(Value::Str(" 503").as_i64(), Some(503));
        assert_eq!(Value::Str("x").as_i64(), None);
        assert_eq!(Value::Double(200.0).as_i64(), Some(200));
        assert_eq!(Value::Double(2.5).as_i64(), None);
    }
}
