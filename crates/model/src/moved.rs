//! Promoted attributes in the `spans` files: stored once, in their typed columns.
//!
//! In the head and in every query result a promoted attribute is in two places: its typed
//! column (`http_method`) and its map (`attributes['http.request.method']`). Files store it
//! once. [`move_promoted`] takes out of the maps each promoted attribute that its column
//! reproduces exactly, and records which name it had ([`MOVED_COLUMN`]) and where in the map
//! it stood ([`POSITIONS_COLUMN`]); [`restore`] puts it back in its place. The two are
//! inverse: a row read back equals the row written, map order included. Type maps are not
//! touched.
//!
//! An attribute moves only when nothing is lost by moving it:
//! * it is the only one of its column's names in the map (a span carrying both
//!   `http.method` and `http.request.method` keeps both);
//! * it has the column's type: a string for a text column, an integer (typed `int`) for an
//!   integer column (an `http.status_code` sent as the string `"200"` stays);
//! * the column holds exactly its value;
//! * it is among the first 256 entries of its map.
//!
//! Resource attributes move from `resource_attributes` under the same rules; a resource
//! column filled from a span attribute (the resource lacked it) moves nothing.
//!
//! [`MOVED_COLUMN`] holds two bits per promoted column: `0` nothing moved, `k` the attribute
//! named `keys[k - 1]` moved. Span columns take bits from 0, resource columns from 32.
//! [`POSITIONS_COLUMN`] holds one byte per moved attribute, its index in its map before the
//! move: span columns first, then resource columns, each in column order. Files written before
//! these columns existed read them as null: nothing moved.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, MapArray, RecordBatch, StringArray,
    StringBuilder, StructArray, UInt64Array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::compute;
use arrow::datatypes::{DataType, Field, Int64Type};

use crate::error::{Error, Result};
use crate::promote::{self, PromotedType, Promotion, RESOURCE_PROMOTIONS, SPAN_PROMOTIONS};
use crate::spans::col;
use crate::value::type_tag;

/// The column of `spans` files that says which attributes moved out of the maps.
pub const MOVED_COLUMN: &str = "moved_attributes";

/// The column of `spans` files that says where in its map each moved attribute stood.
pub const POSITIONS_COLUMN: &str = "moved_positions";

/// The columns `spans` files add to the table's: [`MOVED_COLUMN`] (`UInt64`) and
/// [`POSITIONS_COLUMN`] (`Binary`), nullable (null in files written before they existed).
pub fn moved_fields() -> Vec<Field> {
    vec![
        Field::new(MOVED_COLUMN, DataType::UInt64, true),
        Field::new(POSITIONS_COLUMN, DataType::Binary, true),
    ]
}

/// The attributes of a span, or of its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Span,
    Resource,
}

impl Side {
    fn promotions(self) -> &'static [Promotion] {
        match self {
            Side::Span => SPAN_PROMOTIONS,
            Side::Resource => RESOURCE_PROMOTIONS,
        }
    }

    fn shift(self) -> u32 {
        match self {
            Side::Span => 0,
            Side::Resource => 32,
        }
    }

    fn lookup(self, key: &str) -> Option<(usize, u8)> {
        match self {
            Side::Span => promote::lookup_span(key),
            Side::Resource => promote::lookup_resource(key),
        }
    }

    /// The map of attributes and the map of their types.
    pub fn map_columns(self) -> (&'static str, &'static str) {
        match self {
            Side::Span => (col::ATTRIBUTES, col::ATTRIBUTE_TYPES),
            Side::Resource => (col::RESOURCE_ATTRIBUTES, col::RESOURCE_ATTRIBUTE_TYPES),
        }
    }

    /// The promoted columns of this side, in [`restore`]'s argument order.
    pub fn promoted_columns(self) -> impl Iterator<Item = &'static str> {
        self.promotions().iter().map(|p| p.column)
    }
}

// two bits per column must fit the side's 32 bits, and every column has at most three names
const _: () = assert!(SPAN_PROMOTIONS.len() <= 16 && RESOURCE_PROMOTIONS.len() <= 16);

/// The code of the promoted column `index` of `side` in a [`MOVED_COLUMN`] value.
fn code(moved: u64, side: Side, index: usize) -> usize {
    ((moved >> (side.shift() + 2 * index as u32)) & 3) as usize
}

/// Rewrites rows of the `spans` schema (any projection holding the maps and the promoted
/// columns) for a file: the maps lose the attributes their columns reproduce, and
/// [`moved_fields`] are appended.
pub fn move_promoted(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut moved = vec![0u64; batch.num_rows()];
    let mut positions: Vec<Vec<u8>> = vec![Vec::new(); batch.num_rows()];
    let mut columns = batch.columns().to_vec();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for side in [Side::Span, Side::Resource] {
        let (map_name, types_name) = side.map_columns();
        let map_index = index_of(batch, map_name)?;
        let types = map_of(batch.column(index_of(batch, types_name)?), types_name)?;
        let promoted = side
            .promoted_columns()
            .map(|c| Ok(batch.column(index_of(batch, c)?)))
            .collect::<Result<Vec<_>>>()?;
        columns[map_index] = move_side(
            side,
            map_of(batch.column(map_index), map_name)?,
            types,
            &promoted,
            &mut moved,
            &mut positions,
        )?;
    }
    columns.push(Arc::new(UInt64Array::from(moved)));
    columns.push(Arc::new(BinaryArray::from_iter_values(positions)));
    fields.extend(moved_fields());
    let schema = Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        batch.schema().metadata().clone(),
    ));
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn index_of(batch: &RecordBatch, name: &str) -> Result<usize> {
    batch
        .schema()
        .index_of(name)
        .map_err(|_| Error::Schema(format!("spans rows without column {name}")))
}

fn map_of<'a>(array: &'a ArrayRef, name: &str) -> Result<&'a MapArray> {
    array
        .as_map_opt()
        .ok_or_else(|| Error::Schema(format!("column {name} is not a map")))
}

fn strings<'a>(array: &'a ArrayRef, what: &str) -> Result<&'a StringArray> {
    array
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::Schema(format!("{what} is not Utf8")))
}

/// One side's map without the entries their columns reproduce, recording the moves in `moved`
/// and the entries' positions in `positions`.
fn move_side(
    side: Side,
    map: &MapArray,
    types: &MapArray,
    promoted: &[&ArrayRef],
    moved: &mut [u64],
    positions: &mut [Vec<u8>],
) -> Result<ArrayRef> {
    let promotions = side.promotions();
    let keys = strings(map.keys(), "map keys")?;
    let values = strings(map.values(), "map values")?;
    let type_keys = strings(types.keys(), "type keys")?;
    let type_values = strings(types.values(), "type values")?;
    let offsets = map.value_offsets();
    let type_offsets = types.value_offsets();
    let mut keep = vec![true; keys.len()];
    let mut dropped = 0usize;
    // per promoted column of the row: (names seen, entry of the last, its rank)
    let mut found: Vec<(u32, usize, u8)> = vec![(0, 0, 0); promotions.len()];
    let mut digits = itoa_buffer();
    for (row, (moved, positions)) in moved.iter_mut().zip(positions.iter_mut()).enumerate() {
        found.iter_mut().for_each(|f| f.0 = 0);
        let first = offsets[row] as usize;
        let entries = first..offsets[row + 1] as usize;
        let mut any = false;
        for entry in entries {
            if let Some((i, rank)) = side.lookup(keys.value(entry)) {
                found[i] = (found[i].0 + 1, entry, rank);
                any = true;
            }
        }
        if !any {
            continue;
        }
        let type_entries = type_offsets[row] as usize..type_offsets[row + 1] as usize;
        let type_of = |key: &str| {
            type_entries
                .clone()
                .find(|&t| type_keys.value(t) == key)
                .map(|t| type_values.is_valid(t).then(|| type_values.value(t)))
        };
        for (i, &(seen, entry, rank)) in found.iter().enumerate() {
            let column = promoted[i];
            if seen != 1 || column.is_null(row) || values.is_null(entry) {
                continue;
            }
            let Ok(position) = u8::try_from(entry - first) else {
                continue;
            };
            let value = values.value(entry);
            let reproduced = match (promotions[i].ty, type_of(keys.value(entry))) {
                (PromotedType::Str, None) => {
                    strings(column, promotions[i].column)?.value(row) == value
                }
                (PromotedType::Int, Some(Some(type_tag::INT))) => {
                    let Some(ints) = column.as_primitive_opt::<Int64Type>() else {
                        return Err(Error::Schema(format!(
                            "column {} is not Int64",
                            promotions[i].column
                        )));
                    };
                    format_i64(&mut digits, ints.value(row)) == value
                }
                _ => false,
            };
            if reproduced {
                keep[entry] = false;
                dropped += 1;
                *moved |= ((rank as u64) + 1) << (side.shift() + 2 * i as u32);
                positions.push(position);
            }
        }
    }
    if dropped == 0 {
        return Ok(Arc::new(map.clone()));
    }
    let entries = compute::filter(map.entries(), &BooleanArray::from(keep.clone()))?;
    let mut new_offsets = Vec::with_capacity(map.len() + 1);
    new_offsets.push(0i32);
    let mut kept = 0i32;
    for window in map.value_offsets().windows(2) {
        kept += keep[window[0] as usize..window[1] as usize]
            .iter()
            .filter(|k| **k)
            .count() as i32;
        new_offsets.push(kept);
    }
    map_with(map, new_offsets, entries.as_struct().clone())
}

/// A map of `like`'s type and nulls over `entries`, split into rows by `offsets`.
fn map_with(like: &MapArray, offsets: Vec<i32>, entries: StructArray) -> Result<ArrayRef> {
    let DataType::Map(field, sorted) = like.data_type() else {
        return Err(Error::Schema("not a map".into()));
    };
    Ok(Arc::new(MapArray::try_new(
        Arc::clone(field),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        entries,
        like.nulls().cloned(),
        *sorted,
    )?))
}

/// Number of columns of `side` that moved an attribute, by `codes`.
fn moved_count(codes: u64, side: Side, columns: usize) -> usize {
    (0..columns).filter(|&i| code(codes, side, i) != 0).count()
}

/// The map of `side`'s attributes before [`move_promoted`]: `stored` with each moved attribute
/// put back in its place. `promoted` are the side's promoted columns in
/// [`Side::promoted_columns`] order; `moved` null or absent means nothing moved.
pub fn restore(
    side: Side,
    stored: &MapArray,
    moved: Option<&UInt64Array>,
    positions: Option<&BinaryArray>,
    promoted: &[ArrayRef],
) -> Result<MapArray> {
    let promotions = side.promotions();
    let mask = (0..promotions.len()).fold(0u64, |m, i| m | 3 << (side.shift() + 2 * i as u32));
    let Some(moved) = moved.filter(|m| m.iter().flatten().any(|v| v & mask != 0)) else {
        return Ok(stored.clone());
    };
    let Some(positions) = positions.filter(|p| p.len() == stored.len()) else {
        return Err(Error::Schema(
            "moved attributes without their positions".into(),
        ));
    };
    if promoted.len() != promotions.len() || moved.len() != stored.len() {
        return Err(Error::Schema(format!(
            "restoring maps of {} rows from {} moved codes and {} columns (expected {})",
            stored.len(),
            moved.len(),
            promoted.len(),
            promotions.len()
        )));
    }
    let keys = strings(stored.keys(), "map keys")?;
    let values = strings(stored.values(), "map values")?;
    let offsets = stored.value_offsets();
    let entries = keys.len() + moved.len();
    let mut new_keys = StringBuilder::with_capacity(entries, keys.value_data().len());
    let mut new_values = StringBuilder::with_capacity(entries, values.value_data().len());
    let mut new_offsets = Vec::with_capacity(stored.len() + 1);
    new_offsets.push(0i32);
    let mut digits = itoa_buffer();
    // (position, column) of the row's moved attributes
    let mut back: Vec<(usize, usize)> = Vec::with_capacity(promotions.len());
    let mut total = 0usize;
    for row in 0..stored.len() {
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let codes = if moved.is_valid(row) {
            moved.value(row)
        } else {
            0
        };
        back.clear();
        if codes & mask != 0 {
            // span positions come first, then resource ones
            let skip = match side {
                Side::Span => 0,
                Side::Resource => moved_count(codes, Side::Span, SPAN_PROMOTIONS.len()),
            };
            let bytes = if positions.is_valid(row) {
                positions.value(row)
            } else {
                &[]
            };
            let columns = (0..promotions.len()).filter(|&i| code(codes, side, i) != 0);
            for (k, i) in columns.enumerate() {
                let Some(&position) = bytes.get(skip + k) else {
                    return Err(Error::Schema(format!(
                        "row {row} moved more attributes than it has positions"
                    )));
                };
                back.push((position as usize, i));
            }
            back.sort_unstable();
        }
        let (mut next, mut out) = (start, 0usize);
        let mut pending = back.iter().peekable();
        while next < end || pending.peek().is_some() {
            match pending.peek() {
                Some(&&(position, i)) if position <= out || next == end => {
                    pending.next();
                    let promotion = &promotions[i];
                    let Some(key) = code(codes, side, i)
                        .checked_sub(1)
                        .and_then(|k| promotion.keys.get(k))
                    else {
                        return Err(Error::Schema(format!("bad moved code in row {row}")));
                    };
                    new_keys.append_value(key);
                    let column = &promoted[i];
                    if column.is_null(row) {
                        new_values.append_null();
                    } else {
                        match promotion.ty {
                            PromotedType::Str => new_values
                                .append_value(strings(column, promotion.column)?.value(row)),
                            PromotedType::Int => {
                                let Some(ints) = column.as_primitive_opt::<Int64Type>() else {
                                    return Err(Error::Schema(format!(
                                        "column {} is not Int64",
                                        promotion.column
                                    )));
                                };
                                new_values.append_value(format_i64(&mut digits, ints.value(row)));
                            }
                        }
                    }
                }
                _ => {
                    // the stored entries up to the next moved one, as one slice
                    let upto = match pending.peek() {
                        Some(&&(position, _)) => (next + position - out).min(end),
                        None => end,
                    };
                    let len = upto - next;
                    new_keys.append_array(&keys.slice(next, len))?;
                    new_values.append_array(&values.slice(next, len))?;
                    next = upto;
                    out += len;
                    continue;
                }
            }
            out += 1;
        }
        total += out;
        new_offsets.push(
            i32::try_from(total).map_err(|_| {
                Error::Schema("restored map holds more than i32::MAX entries".into())
            })?,
        );
    }
    let DataType::Map(field, _) = stored.data_type() else {
        return Err(Error::Schema("not a map".into()));
    };
    let DataType::Struct(entry_fields) = field.data_type() else {
        return Err(Error::Schema("map entries are not a struct".into()));
    };
    let entries = StructArray::try_new(
        entry_fields.clone(),
        vec![
            Arc::new(new_keys.finish()) as ArrayRef,
            Arc::new(new_values.finish()),
        ],
        None,
    )?;
    Ok(map_with(stored, new_offsets, entries)?.as_map().clone())
}

fn itoa_buffer() -> String {
    String::with_capacity(20)
}

fn format_i64(buf: &mut String, value: i64) -> &str {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "{value}");
    buf.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spans::{ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput, SpanKind};
    use crate::spans::{StatusCode, schema};
    use crate::value::Value;
    use arrow::datatypes::UInt64Type;

    /// One row per attribute list, all of `resource`.
    fn rows(resource: &[(&str, Value<'_>)], spans: &[Vec<(&str, Value<'_>)>]) -> RecordBatch {
        let resource = ResourceContext::new(resource, "");
        let scope = ScopeContext::new("s", "1", &[], "");
        let mut builder = SpanBatchBuilder::with_capacity(spans.len());
        for (i, attributes) in spans.iter().enumerate() {
            builder.append(
                &resource,
                &scope,
                &SpanInput {
                    trace_id: [1; 16],
                    span_id: [i as u8 + 1; 8],
                    parent_span_id: None,
                    trace_state: "",
                    flags: 0,
                    name: "op",
                    kind: SpanKind::Server,
                    start_ns: 1_700_000_000_000_000_000,
                    end_ns: 1_700_000_000_000_001_000,
                    status: StatusCode::Unset,
                    status_message: "",
                    attributes,
                    dropped_attributes_count: 0,
                    events: &[],
                    dropped_events_count: 0,
                    links: &[],
                    dropped_links_count: 0,
                },
            );
        }
        builder.finish().expect("batch")
    }

    /// The entries of a row, a moved (null) value as `None`.
    fn entries(batch: &RecordBatch, name: &str, row: usize) -> Vec<(String, Option<String>)> {
        let map = batch.column_by_name(name).expect(name).as_map();
        let (keys, values) = (
            map.keys().as_string::<i32>(),
            map.values().as_string::<i32>(),
        );
        let range = map.value_offsets()[row] as usize..map.value_offsets()[row + 1] as usize;
        range
            .map(|e| {
                let value = values.is_valid(e).then(|| values.value(e).to_owned());
                (keys.value(e).to_owned(), value)
            })
            .collect()
    }

    fn pairs(v: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
            .collect()
    }

    fn restored(stored: &RecordBatch, side: Side) -> MapArray {
        let promoted: Vec<ArrayRef> = side
            .promoted_columns()
            .map(|c| Arc::clone(stored.column_by_name(c).expect(c)))
            .collect();
        let moved = stored
            .column_by_name(MOVED_COLUMN)
            .map(|m| m.as_primitive::<UInt64Type>().clone());
        let positions = stored
            .column_by_name(POSITIONS_COLUMN)
            .map(|p| p.as_binary::<i32>().clone());
        let name = side.map_columns().0;
        restore(
            side,
            stored.column_by_name(name).expect(name).as_map(),
            moved.as_ref(),
            positions.as_ref(),
            &promoted,
        )
        .expect("restore")
    }

    /// Both maps of every row survive `move_promoted` then `restore` exactly, order included,
    /// and the type maps are stored as they are.
    fn assert_round_trip(batch: &RecordBatch) -> RecordBatch {
        let stored = move_promoted(batch).expect("move");
        for side in [Side::Span, Side::Resource] {
            let (name, types) = side.map_columns();
            let original = batch.column_by_name(name).expect(name).as_map();
            assert_eq!(&restored(&stored, side), original, "{name}");
            assert_eq!(
                stored.column_by_name(types).expect(types),
                batch.column_by_name(types).expect(types)
            );
        }
        stored
    }

    #[test]
    fn promoted_values_leave_the_maps_and_come_back() {
        let resource = [
            ("service.name", Value::Str("cart")),
            ("service.namespace", Value::Str("shop")),
            ("k8s.pod.name", Value::Str("cart-1")),
            ("replicas", Value::Int(3)),
        ];
        let spans = vec![
            vec![
                ("http.request.method", Value::Str("GET")),
                ("retry", Value::Bool(true)),
                ("http.route", Value::Str("/cart")),
                ("http.response.status_code", Value::Int(200)),
                ("server.port", Value::Int(8080)),
                ("user_agent.original", Value::Str("curl")),
            ],
            // old names move too, and keep their name
            vec![
                ("http.method", Value::Str("PUT")),
                ("http.status_code", Value::Int(503)),
            ],
            vec![],
        ];
        let batch = rows(&resource, &spans);
        let stored = assert_round_trip(&batch);
        let fields = stored.schema().fields().to_vec();
        assert_eq!(
            fields[fields.len() - 2..]
                .iter()
                .map(|f| f.as_ref().clone())
                .collect::<Vec<_>>(),
            moved_fields()
        );
        assert_eq!(
            entries(&stored, col::ATTRIBUTES, 0),
            pairs(&[
                ("retry", Some("true")),
                ("user_agent.original", Some("curl"))
            ])
        );
        assert!(entries(&stored, col::ATTRIBUTES, 1).is_empty());
        assert_eq!(
            entries(&stored, col::RESOURCE_ATTRIBUTES, 0),
            pairs(&[("service.name", Some("cart")), ("replicas", Some("3"))])
        );
        // where each stood: span columns in column order, then resource columns
        let positions = stored
            .column_by_name(POSITIONS_COLUMN)
            .expect("positions")
            .as_binary::<i32>();
        // http_method 0, http_route 2, http_status_code 3, server_port 4; namespace 1, pod 2
        assert_eq!(positions.value(0), [0, 2, 3, 4, 1, 2]);
        assert_eq!(positions.value(1), [0, 1, 1, 2]);
        let moved = stored
            .column_by_name(MOVED_COLUMN)
            .expect("moved")
            .as_primitive::<UInt64Type>();
        // http_method (column 0) from its second name in row 1, its first in row 0
        assert_eq!(code(moved.value(0), Side::Span, 0), 1);
        assert_eq!(code(moved.value(1), Side::Span, 0), 2);
        assert_eq!(code(moved.value(2), Side::Span, 0), 0);
        // service_namespace (resource column 0) in every row
        assert!((0..3).all(|row| code(moved.value(row), Side::Resource, 0) == 1));
    }

    #[test]
    fn values_their_column_cannot_reproduce_stay() {
        let resource = [
            ("service.name", Value::Str("cart")),
            ("service.version", Value::Int(7)),
        ];
        let spans = vec![
            // both names of one column: both stay
            vec![
                ("http.method", Value::Str("GET")),
                ("http.request.method", Value::Str("POST")),
            ],
            // an integer column's attribute sent as a string stays a string
            vec![("http.status_code", Value::Str("404"))],
            // a text column's attribute of another type keeps its type
            vec![
                ("http.route", Value::Int(5)),
                ("server.port", Value::Str("x")),
            ],
            // a name given twice
            vec![
                ("rpc.service", Value::Str("a")),
                ("rpc.service", Value::Str("b")),
            ],
            // a resource column filled from the span moves nothing out of the span
            vec![("k8s.pod.name", Value::Str("cart-2"))],
        ];
        let batch = rows(&resource, &spans);
        let stored = assert_round_trip(&batch);
        for row in 0..spans.len() {
            assert_eq!(
                entries(&stored, col::ATTRIBUTES, row),
                entries(&batch, col::ATTRIBUTES, row),
                "row {row}"
            );
        }
        assert_eq!(
            entries(&stored, col::RESOURCE_ATTRIBUTES, 0),
            entries(&batch, col::RESOURCE_ATTRIBUTES, 0)
        );
        let moved = stored
            .column_by_name(MOVED_COLUMN)
            .expect("moved")
            .as_primitive::<UInt64Type>();
        assert!(moved.values().iter().all(|&m| m == 0));
    }

    #[test]
    fn rows_without_moved_codes_read_as_stored() {
        let batch = rows(
            &[("service.name", Value::Str("cart"))],
            &[vec![("http.route", Value::Str("/a"))]],
        );
        let map = batch.column_by_name(col::ATTRIBUTES).expect("map").as_map();
        let promoted: Vec<ArrayRef> = Side::Span
            .promoted_columns()
            .map(|c| Arc::clone(batch.column_by_name(c).expect(c)))
            .collect();
        // a file written before the columns existed: no codes, or null ones
        for moved in [None, Some(UInt64Array::from(vec![None::<u64>]))] {
            let back = restore(Side::Span, map, moved.as_ref(), None, &promoted).expect("restore");
            assert_eq!(&back, map);
        }
        // codes without positions, too few positions, or too few columns: errors, not panics
        let codes = UInt64Array::from(vec![1]);
        let none: BinaryArray = BinaryArray::from_iter_values([[0u8; 0]]);
        let one: BinaryArray = BinaryArray::from_iter_values([[0u8]]);
        for (positions, columns) in [
            (None, promoted.len()),
            (Some(&none), promoted.len()),
            (Some(&one), 2),
        ] {
            let result = restore(
                Side::Span,
                map,
                Some(&codes),
                positions,
                &promoted[..columns],
            );
            assert!(result.is_err());
        }
        // a position past the end puts the attribute last
        let far: BinaryArray = BinaryArray::from_iter_values([[200u8]]);
        let back = restore(Side::Span, map, Some(&codes), Some(&far), &promoted).expect("restore");
        assert_eq!(back.value(0).len(), map.value(0).len() + 1);
    }

    #[test]
    fn the_spans_schema_has_every_column_moving_needs() {
        let schema = schema();
        for side in [Side::Span, Side::Resource] {
            let (map, types) = side.map_columns();
            for name in side.promoted_columns().chain([map, types]) {
                assert!(schema.index_of(name).is_ok(), "{name}");
            }
        }
    }
}
