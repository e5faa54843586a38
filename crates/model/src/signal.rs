//! What the metrics and logs tables share with `spans`: the resource and scope columns, the
//! attribute maps with their type companions, ids as lowercase hex and `Timestamp(ns, UTC)`.
//!
//! The column types here are exactly those of [`crate::spans::schema`], so the tables join on
//! `trace_id` and compare `service_name`, maps and times without casts.

use std::sync::Arc;

use arrow::array::{ArrayRef, MapBuilder, MapFieldNames, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::spans::{ScopeContext, UNKNOWN_SERVICE, hex_id};
use crate::value::Value;

/// Column names shared by the metrics and logs tables (same names as in `spans`).
pub mod col {
    pub const SERVICE_NAME: &str = "service_name";
    pub const ATTRIBUTES: &str = "attributes";
    pub const ATTRIBUTE_TYPES: &str = "attribute_types";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
    pub const RESOURCE_ATTRIBUTE_TYPES: &str = "resource_attribute_types";
    pub const RESOURCE_SCHEMA_URL: &str = "resource_schema_url";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const SCOPE_VERSION: &str = "scope_version";
    pub const SCOPE_ATTRIBUTES: &str = "scope_attributes";
    pub const SCOPE_SCHEMA_URL: &str = "scope_schema_url";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
}

/// `Timestamp(Nanosecond, "UTC")`, the type of every time column.
pub fn utc_ns() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// `Map<Utf8, Utf8>`, the type of the attribute maps (as in `spans`).
pub fn map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

pub(crate) type StrMapBuilder = MapBuilder<StringBuilder, StringBuilder>;

/// A map builder for `rows` maps holding `entries` entries in all, whose keys and values
/// take about `key_bytes` and `value_bytes` each.
pub(crate) fn new_map_builder(
    rows: usize,
    entries: usize,
    key_bytes: usize,
    value_bytes: usize,
) -> StrMapBuilder {
    MapBuilder::with_capacity(
        Some(MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        }),
        StringBuilder::with_capacity(entries, entries * key_bytes),
        StringBuilder::with_capacity(entries, entries * value_bytes),
        rows,
    )
}

/// What every point or record of one resource shares, rendered once: its attribute map
/// entries as string arrays, which each row's map copies in one move per array.
#[derive(Debug, Clone)]
pub struct SignalResource {
    service_name: String,
    keys: StringArray,
    values: StringArray,
    type_keys: StringArray,
    type_values: StringArray,
    schema_url: String,
    /// Order-independent hash of the attributes, the resource's part of a metric series id.
    hash: u64,
}

impl Default for SignalResource {
    fn default() -> Self {
        Self::new(&[], "")
    }
}

impl SignalResource {
    pub fn new(attributes: &[(&str, Value<'_>)], schema_url: &str) -> Self {
        let mut service_name = None;
        let mut keys = StringBuilder::new();
        let mut values = StringBuilder::new();
        let mut type_keys = StringBuilder::new();
        let mut type_values = StringBuilder::new();
        let mut scratch = String::new();
        let hash = attributes_hash(attributes, &mut scratch);
        for (key, value) in attributes {
            scratch.clear();
            value.render(&mut scratch);
            if *key == "service.name" {
                service_name = Some(scratch.clone());
            }
            if let Some(tag) = value.type_tag() {
                type_keys.append_value(key);
                type_values.append_value(tag);
            }
            keys.append_value(key);
            values.append_value(&scratch);
        }
        Self {
            service_name: service_name
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned()),
            keys: keys.finish(),
            values: values.finish(),
            type_keys: type_keys.finish(),
            type_values: type_values.finish(),
            schema_url: schema_url.to_owned(),
            hash,
        }
    }

    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

/// FNV-1a 64 of `bytes`, continuing from `state`.
pub(crate) fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        state ^= u64::from(*b);
        state = state.wrapping_mul(0x0000_0100_0000_01b3);
    }
    state
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The splitmix64 finaliser: spreads the bits of one key-value hash before they are summed.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of a set of attributes that does not depend on their order: the wrapping sum of the
/// mixed hashes of each key, type tag and display form.
pub(crate) fn attributes_hash(attributes: &[(&str, Value<'_>)], scratch: &mut String) -> u64 {
    let mut sum = 0u64;
    for (key, value) in attributes {
        scratch.clear();
        value.render(scratch);
        let mut h = fnv1a(FNV_OFFSET, key.as_bytes());
        h = fnv1a(h, &[0xff]);
        h = fnv1a(h, value.type_tag().unwrap_or("string").as_bytes());
        h = fnv1a(h, &[0xff]);
        h = fnv1a(h, scratch.as_bytes());
        sum = sum.wrapping_add(mix(h));
    }
    sum
}

/// Builders of the columns every metrics and logs table ends with: the point's or record's
/// attributes, the resource's, and the scope's.
pub(crate) struct ContextColumns {
    attributes: StrMapBuilder,
    attribute_types: StrMapBuilder,
    resource_attributes: StrMapBuilder,
    resource_attribute_types: StrMapBuilder,
    resource_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: StringBuilder,
    scope_schema_url: StringBuilder,
    scratch: String,
}

impl ContextColumns {
    pub(crate) fn fields() -> Vec<Field> {
        vec![
            Field::new(col::ATTRIBUTES, map_type(), false),
            Field::new(col::ATTRIBUTE_TYPES, map_type(), false),
            Field::new(col::RESOURCE_ATTRIBUTES, map_type(), false),
            Field::new(col::RESOURCE_ATTRIBUTE_TYPES, map_type(), false),
            Field::new(col::RESOURCE_SCHEMA_URL, DataType::Utf8, false),
            Field::new(col::SCOPE_NAME, DataType::Utf8, false),
            Field::new(col::SCOPE_VERSION, DataType::Utf8, false),
            Field::new(col::SCOPE_ATTRIBUTES, DataType::Utf8, false),
            Field::new(col::SCOPE_SCHEMA_URL, DataType::Utf8, false),
        ]
    }

    /// Builders for `rows` rows with about 8 attributes and 8 resource attributes each.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self::with_hint(rows, rows * 8, rows * 8)
    }

    /// Builders for `rows` rows holding `attributes` attributes and `resource_attributes`
    /// resource attributes in all, so that they allocate once: buffers that grow by doubling
    /// copy their contents and keep up to half their capacity unused.
    pub(crate) fn with_hint(rows: usize, attributes: usize, resource_attributes: usize) -> Self {
        let capacity = rows;
        let strings = || StringBuilder::with_capacity(capacity, capacity * 8);
        Self {
            attributes: new_map_builder(rows, attributes, 16, 24),
            // only values that are not strings have a type entry
            attribute_types: new_map_builder(rows, attributes / 4, 16, 4),
            resource_attributes: new_map_builder(rows, resource_attributes, 16, 24),
            resource_attribute_types: new_map_builder(rows, resource_attributes / 8, 16, 4),
            resource_schema_url: strings(),
            scope_name: strings(),
            scope_version: strings(),
            scope_attributes: strings(),
            scope_schema_url: strings(),
            scratch: String::with_capacity(128),
        }
    }

    pub(crate) fn append(
        &mut self,
        resource: &SignalResource,
        scope: &ScopeContext,
        attributes: &[(&str, Value<'_>)],
    ) {
        for (key, value) in attributes {
            self.attributes.keys().append_value(key);
            match value {
                // most values are strings: no detour through the scratch buffer
                Value::Str(s) => self.attributes.values().append_value(s),
                other => {
                    self.scratch.clear();
                    other.render(&mut self.scratch);
                    self.attributes.values().append_value(&self.scratch);
                }
            }
            if let Some(tag) = value.type_tag() {
                self.attribute_types.keys().append_value(key);
                self.attribute_types.values().append_value(tag);
            }
        }
        // A map builder's append only fails on mismatched key/value counts, which the loops
        // keep equal.
        let _ = self.attributes.append(true);
        let _ = self.attribute_types.append(true);
        // `append_array` fails only when a builder's offsets would pass i32::MAX bytes, which
        // the body limits keep far away; a failed pair leaves key and value counts unequal,
        // and the map's `append` then refuses the row rather than misalign it.
        let _ = self.resource_attributes.keys().append_array(&resource.keys);
        let _ = self
            .resource_attributes
            .values()
            .append_array(&resource.values);
        let _ = self.resource_attributes.append(true);
        let types = &mut self.resource_attribute_types;
        let _ = types.keys().append_array(&resource.type_keys);
        let _ = types.values().append_array(&resource.type_values);
        let _ = types.append(true);
        self.resource_schema_url.append_value(&resource.schema_url);
        self.scope_name.append_value(&scope.name);
        self.scope_version.append_value(&scope.version);
        self.scope_attributes.append_value(&scope.attributes_json);
        self.scope_schema_url.append_value(&scope.schema_url);
    }

    pub(crate) fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.attributes.finish()),
            Arc::new(self.attribute_types.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.resource_attribute_types.finish()),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.scope_attributes.finish()),
            Arc::new(self.scope_schema_url.finish()),
        ]
    }
}

/// Appends an optional id as lowercase hex, `''` when absent.
pub(crate) fn append_id(builder: &mut StringBuilder, id: Option<&[u8]>) {
    let mut buf = [0u8; 32];
    match id {
        Some(bytes) => builder.append_value(hex_id(bytes, &mut buf)),
        None => builder.append_value(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_hash_ignores_order_and_sees_types() {
        let mut s = String::new();
        let a = [("a", Value::Str("1")), ("b", Value::Int(2))];
        let b = [("b", Value::Int(2)), ("a", Value::Str("1"))];
        assert_eq!(attributes_hash(&a, &mut s), attributes_hash(&b, &mut s));
        let c = [("a", Value::Int(1)), ("b", Value::Int(2))];
        assert_ne!(attributes_hash(&a, &mut s), attributes_hash(&c, &mut s));
        let d = [("a", Value::Str("2")), ("b", Value::Int(1))];
        assert_ne!(attributes_hash(&c, &mut s), attributes_hash(&d, &mut s));
        assert_eq!(attributes_hash(&[], &mut s), 0);
    }

    /// The entries of row `row` of a `Map<Utf8, Utf8>` column.
    fn entries(array: &ArrayRef, row: usize) -> Vec<(String, String)> {
        use arrow::array::{Array, AsArray};
        let map = array.as_map();
        let entry = map.value(row);
        let (keys, values) = (
            entry.column(0).as_string::<i32>(),
            entry.column(1).as_string::<i32>(),
        );
        (0..entry.len())
            .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
            .collect()
    }

    #[test]
    fn every_row_carries_its_resource_and_its_own_attributes() {
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let a = SignalResource::new(
            &[
                ("service.name", Value::Str("cart")),
                ("replicas", Value::Int(3)),
                ("k8s.pod.name", Value::Str("cart-1")),
            ],
            "https://opentelemetry.io/schemas/1.26.0",
        );
        let b = SignalResource::new(&[("host.name", Value::Str("node-7"))], "");
        assert_eq!(
            (a.service_name(), b.service_name()),
            ("cart", UNKNOWN_SERVICE)
        );
        let scope = ScopeContext::new("lib", "1.0", &[], "");
        let mut columns = ContextColumns::with_capacity(3);
        columns.append(&a, &scope, &[("ok", Value::Bool(true))]);
        columns.append(&b, &scope, &[]);
        columns.append(&a, &scope, &[("n", Value::Int(1)), ("s", Value::Str("x"))]);
        let arrays = columns.finish();
        let (attrs, attr_types, resource, resource_types) =
            (&arrays[0], &arrays[1], &arrays[2], &arrays[3]);
        let a_entries = pairs(&[
            ("service.name", "cart"),
            ("replicas", "3"),
            ("k8s.pod.name", "cart-1"),
        ]);
        assert_eq!(entries(resource, 0), a_entries);
        assert_eq!(entries(resource, 1), pairs(&[("host.name", "node-7")]));
        assert_eq!(entries(resource, 2), a_entries);
        assert_eq!(entries(resource_types, 0), pairs(&[("replicas", "int")]));
        assert!(entries(resource_types, 1).is_empty());
        assert_eq!(entries(resource_types, 2), pairs(&[("replicas", "int")]));
        assert_eq!(entries(attrs, 0), pairs(&[("ok", "true")]));
        assert!(entries(attrs, 1).is_empty());
        assert_eq!(entries(attrs, 2), pairs(&[("n", "1"), ("s", "x")]));
        assert_eq!(entries(attr_types, 2), pairs(&[("n", "int")]));
        let urls = arrays[4]
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("strings");
        assert_eq!(urls.value(0), "https://opentelemetry.io/schemas/1.26.0");
        assert_eq!(urls.value(1), "");
    }

    #[test]
    fn map_type_is_the_spans_one() {
        let spans = crate::spans::schema();
        let field = spans
            .field_with_name(crate::spans::col::ATTRIBUTES)
            .expect("attributes");
        assert_eq!(field.data_type(), &map_type());
        let start = spans
            .field_with_name(crate::spans::col::START_TIME)
            .expect("start");
        assert_eq!(start.data_type(), &utc_ns());
    }
}
