//! Typed access to the columns of record batches, tolerant of the physical types readers produce
//! (`Utf8`, `LargeUtf8` or `Utf8View` for text; `Binary`, `LargeBinary` or `BinaryView` for bytes).

use arrow::array::{
    Array, AsArray, BinaryArray, BinaryViewArray, Int64Array, LargeBinaryArray, LargeStringArray,
    MapArray, StringArray, StringViewArray, TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| Error::MissingColumn {
            column: name.to_owned(),
        })
}

fn wrong_type(name: &str, expected: &'static str, found: &DataType) -> Error {
    Error::ColumnType {
        column: name.to_owned(),
        expected,
        found: found.to_string(),
    }
}

/// A text column.
#[derive(Clone, Copy)]
pub(crate) enum StrCol<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrCol<'a> {
    pub(crate) fn get(batch: &'a RecordBatch, name: &str) -> Result<Self> {
        let array = column(batch, name)?;
        match array.data_type() {
            DataType::Utf8 => Ok(Self::Utf8(array.as_string::<i32>())),
            DataType::LargeUtf8 => Ok(Self::Large(array.as_string::<i64>())),
            DataType::Utf8View => Ok(Self::View(array.as_string_view())),
            other => Err(wrong_type(name, "Utf8", other)),
        }
    }

    /// `None` when the batch has no such column.
    pub(crate) fn optional(batch: &'a RecordBatch, name: &str) -> Result<Option<Self>> {
        if batch.column_by_name(name).is_none() {
            return Ok(None);
        }
        Self::get(batch, name).map(Some)
    }

    /// The value at `i`; `""` for a null.
    #[inline]
    pub(crate) fn value(&self, i: usize) -> &'a str {
        match self {
            Self::Utf8(a) => {
                if a.is_null(i) {
                    ""
                } else {
                    a.value(i)
                }
            }
            Self::Large(a) => {
                if a.is_null(i) {
                    ""
                } else {
                    a.value(i)
                }
            }
            Self::View(a) => {
                if a.is_null(i) {
                    ""
                } else {
                    a.value(i)
                }
            }
        }
    }

    /// The value at `i`, `None` for a null or an empty string.
    #[inline]
    pub(crate) fn non_empty(&self, i: usize) -> Option<&'a str> {
        Some(self.value(i)).filter(|s| !s.is_empty())
    }
}

/// A binary column.
#[derive(Clone, Copy)]
pub(crate) enum BinCol<'a> {
    Binary(&'a BinaryArray),
    Large(&'a LargeBinaryArray),
    View(&'a BinaryViewArray),
}

impl<'a> BinCol<'a> {
    pub(crate) fn get(batch: &'a RecordBatch, name: &str) -> Result<Self> {
        let array = column(batch, name)?;
        match array.data_type() {
            DataType::Binary => Ok(Self::Binary(array.as_binary::<i32>())),
            DataType::LargeBinary => Ok(Self::Large(array.as_binary::<i64>())),
            DataType::BinaryView => Ok(Self::View(array.as_binary_view())),
            other => Err(wrong_type(name, "Binary", other)),
        }
    }

    /// The value at `i`, `None` for a null.
    #[inline]
    pub(crate) fn value(&self, i: usize) -> Option<&'a [u8]> {
        match self {
            Self::Binary(a) => (!a.is_null(i)).then(|| a.value(i)),
            Self::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            Self::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// An integer column (`Int64` or `UInt64`, saturated into `i64`).
#[derive(Clone, Copy)]
pub(crate) enum IntCol<'a> {
    I64(&'a Int64Array),
    U64(&'a UInt64Array),
}

impl<'a> IntCol<'a> {
    pub(crate) fn get(batch: &'a RecordBatch, name: &str) -> Result<Self> {
        let array = column(batch, name)?;
        match array.data_type() {
            DataType::Int64 => Ok(Self::I64(array.as_primitive())),
            DataType::UInt64 => Ok(Self::U64(array.as_primitive())),
            other => Err(wrong_type(name, "Int64", other)),
        }
    }

    pub(crate) fn optional(batch: &'a RecordBatch, name: &str) -> Result<Option<Self>> {
        if batch.column_by_name(name).is_none() {
            return Ok(None);
        }
        Self::get(batch, name).map(Some)
    }

    pub(crate) fn has_nulls(&self) -> bool {
        match self {
            Self::I64(a) => a.null_count() > 0,
            Self::U64(a) => a.null_count() > 0,
        }
    }

    /// The value at `i`, `None` for a null.
    #[inline]
    pub(crate) fn value(&self, i: usize) -> Option<i64> {
        match self {
            Self::I64(a) => (!a.is_null(i)).then(|| a.value(i)),
            Self::U64(a) => (!a.is_null(i)).then(|| i64::try_from(a.value(i)).unwrap_or(i64::MAX)),
        }
    }
}

/// A `Timestamp(Nanosecond, _)` column.
pub(crate) fn timestamp_ns<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a TimestampNanosecondArray> {
    let array = column(batch, name)?;
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Ok(array.as_primitive()),
        other => Err(wrong_type(name, "Timestamp(Nanosecond)", other)),
    }
}

/// A `Map<Utf8, Utf8>` column such as `attributes`: looks up one key per row.
pub(crate) struct StrMap<'a> {
    map: &'a MapArray,
    keys: StrCol<'a>,
    values: StrCol<'a>,
}

impl<'a> StrMap<'a> {
    /// `None` when the batch has no such column or it is not a map of strings.
    pub(crate) fn optional(batch: &'a RecordBatch, name: &str) -> Option<Self> {
        let map = batch.column_by_name(name)?.as_map_opt()?;
        let entries = map.entries();
        let keys = str_array(entries.column(0).as_ref())?;
        let values = str_array(entries.column(1).as_ref())?;
        Some(Self { map, keys, values })
    }

    /// The value of the first entry of row `i` whose key is `key`.
    pub(crate) fn lookup(&self, i: usize, key: &str) -> Option<&'a str> {
        if self.map.is_null(i) {
            return None;
        }
        let offsets = self.map.value_offsets();
        let (start, end) = (*offsets.get(i)? as usize, *offsets.get(i + 1)? as usize);
        (start..end)
            .find(|j| self.keys.value(*j) == key)
            .map(|j| self.values.value(j))
    }
}

fn str_array(array: &dyn Array) -> Option<StrCol<'_>> {
    match array.data_type() {
        DataType::Utf8 => Some(StrCol::Utf8(array.as_string::<i32>())),
        DataType::LargeUtf8 => Some(StrCol::Large(array.as_string::<i64>())),
        DataType::Utf8View => Some(StrCol::View(array.as_string_view())),
        _ => None,
    }
}
