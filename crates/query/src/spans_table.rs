//! The `spans` table as its files store it and as queries read it, side by side so the two
//! cannot drift apart.
//!
//! Files leave out `end_time` (readers compute `start_time + duration_ns`) and store each
//! promoted attribute once, in its typed column ([`meshscope_model::moved`]): a scan of files
//! puts it back in its place in `attributes` / `resource_attributes` with the
//! `meshscope_restore_*` functions below, so SQL, search and trace lookups see the maps every
//! span had at ingest, in their order. Head rows keep both copies and need no restoring.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::{DataFusionError, Result as DfResult, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, cast, col as column,
};
use meshscope_model::moved::{self, MOVED_COLUMN, POSITIONS_COLUMN, Side};
use meshscope_model::signal::utc_ns;
use meshscope_model::spans::{self, col};
use meshscope_storage::{FileForm, TableSnapshot, TableSpec};

use crate::provider::SnapshotTable;

/// How storage keeps the `spans` table: sorted by trace, a bloom filter on `trace_id`,
/// `end_time` left out of files and promoted attributes stored once.
pub fn spans_table_spec() -> TableSpec {
    TableSpec {
        name: spans::TABLE,
        schema: spans::schema(),
        time_column: spans::TIME_COLUMN,
        sort_columns: spans::SORT_COLUMNS.to_vec(),
        bloom_filter_columns: spans::BLOOM_FILTER_COLUMNS.to_vec(),
        derived_columns: spans::DERIVED_COLUMNS.to_vec(),
        file_form: Some(FileForm {
            extra_columns: moved::moved_fields,
            encode: |rows| Ok(moved::move_promoted(rows)?),
        }),
    }
}

/// The `spans` table over `snapshot`, computing from what files store the columns they leave
/// out or store in another form.
pub(crate) fn spans_table(snapshot: TableSnapshot) -> SnapshotTable {
    let mut table =
        SnapshotTable::new(snapshot, col::START_TIME).with_derived(col::END_TIME, end_time_expr());
    for side in [Side::Span, Side::Resource] {
        table = table.with_derived(side.map_columns().0, restore_expr(side));
    }
    table
}

/// `end_time` over the columns files store: `start_time + duration_ns`, typed as the column.
fn end_time_expr() -> Expr {
    let start_ns = cast(column(col::START_TIME), DataType::Int64);
    cast(start_ns + column(col::DURATION_NS), utc_ns())
}

/// The attribute map of `side` with the attributes files moved out put back: `meshscope_restore_
/// <map>(<stored map>, moved_attributes, moved_positions, <promoted columns>…)`.
fn restore_expr(side: Side) -> Expr {
    let mut args = vec![
        column(side.map_columns().0),
        column(MOVED_COLUMN),
        column(POSITIONS_COLUMN),
    ];
    args.extend(side.promoted_columns().map(column));
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(RestoreMap::new(side))),
        args,
    ))
}

/// Restores one attribute map of rows read from `spans` files (see [`restore_expr`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct RestoreMap {
    name: String,
    side: Side,
    signature: Signature,
}

impl RestoreMap {
    fn new(side: Side) -> Self {
        Self {
            name: format!("meshscope_restore_{}", side.map_columns().0),
            side,
            signature: Signature::any(3 + side.promoted_columns().count(), Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RestoreMap {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.first() {
            Some(map @ DataType::Map(..)) => Ok(map.clone()),
            other => exec_err!("{} restores a map, not {other:?}", self.name),
        }
    }

    /// The stored map's type and nullability: the column reads as the table declares it.
    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> DfResult<FieldRef> {
        let Some(stored) = args.arg_fields.first() else {
            return exec_err!("{} takes the stored map first", self.name);
        };
        let data_type = self.return_type(&[stored.data_type().clone()])?;
        Ok(Arc::new(Field::new(
            &self.name,
            data_type,
            stored.is_nullable(),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [stored, moved, positions, promoted @ ..] = arrays.as_slice() else {
            return exec_err!(
                "{} takes the stored map, the moved codes and their positions",
                self.name
            );
        };
        let Some(stored) = stored.as_map_opt() else {
            return exec_err!("{}: the stored column is not a map", self.name);
        };
        // files written before the codes existed read them as nulls of some type
        let moved = moved.as_primitive_opt::<UInt64Type>();
        let positions = positions.as_binary_opt::<i32>();
        let restored = moved::restore(self.side, stored, moved, positions, promoted)
            .map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.name)))?;
        Ok(ColumnarValue::Array(Arc::new(restored) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_stores_what_the_table_restores() {
        let spec = spans_table_spec();
        let file_schema = spec.file_schema();
        for side in [Side::Span, Side::Resource] {
            let expr = restore_expr(side);
            for column in expr.column_refs() {
                assert!(file_schema.index_of(&column.name).is_ok(), "{column}");
            }
        }
        assert!(file_schema.index_of(col::END_TIME).is_err());
        assert!(file_schema.index_of(MOVED_COLUMN).is_ok());
        assert!(file_schema.index_of(POSITIONS_COLUMN).is_ok());
        assert!(spec.schema.index_of(MOVED_COLUMN).is_err());
    }

    #[test]
    fn restoring_refuses_arguments_of_the_wrong_shape() {
        let udf = RestoreMap::new(Side::Span);
        assert!(udf.return_type(&[DataType::Utf8]).is_err());
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(Arc::new(
                datafusion::arrow::array::StringArray::from(vec!["x"]),
            ))],
            arg_fields: vec![],
            number_rows: 1,
            return_field: Arc::new(Field::new("x", DataType::Utf8, true)),
            config_options: Arc::default(),
        };
        assert!(udf.invoke_with_args(args).is_err());
    }
}
