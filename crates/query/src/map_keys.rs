//! Filters on map lookups, as requirements on the keys a row's maps hold.
//!
//! `attributes['k'] = 'v'` can only be true for a row whose `attributes` hold `k`: a lookup of
//! an absent key is NULL, and so is every comparison with it. Storage's key index knows which
//! keys each row group of a file holds in its string-keyed maps, so a scan reads only the row
//! groups (and files) that hold a key each such filter needs, without decoding a single map.
//! [`KeyRequirements`] is what a scan's filters require; a head batch in memory is checked by
//! looking through its map keys ([`batch_may_hold`]).

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// A lookup of `key` in the map column `column` (`column['key']`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapKey {
    pub column: String,
    pub key: String,
}

/// What a conjunction of filters requires of the map keys of a row: for every clause, the row
/// holds at least one of the clause's keys. Empty when the filters require nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRequirements {
    clauses: Vec<Vec<MapKey>>,
}

impl KeyRequirements {
    /// The requirements of `filters`, a conjunction.
    pub fn from_filters(filters: &[Expr]) -> Self {
        Self {
            clauses: filters.iter().filter_map(required_keys).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Whether rows of a part of the table (a row group, a head batch) may meet every clause,
    /// given whether the part may hold a key of a map column (`may_hold(column, key)`).
    pub fn admit(&self, mut may_hold: impl FnMut(&str, &str) -> bool) -> bool {
        self.clauses
            .iter()
            .all(|clause| clause.iter().any(|k| may_hold(&k.column, &k.key)))
    }

    /// The map columns the clauses look keys up in.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().flatten().map(|k| k.column.as_str())
    }
}

/// The keys one of which a row must hold for `expr` to be true; `None` when `expr` may be true
/// whatever keys the row holds.
fn required_keys(expr: &Expr) -> Option<Vec<MapKey>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            // true only if both are: either side's keys are required
            Operator::And => match (required_keys(left), required_keys(right)) {
                (Some(a), Some(b)) => Some(if a.len() <= b.len() { a } else { b }),
                (a, b) => a.or(b),
            },
            // true if either is: one of both sides' keys
            Operator::Or => {
                let mut keys = required_keys(left)?;
                keys.extend(required_keys(right)?);
                Some(keys)
            }
            op if null_if_either_is_null(op) => {
                let key = lookup(left).or_else(|| lookup(right))?;
                Some(vec![key])
            }
            _ => None,
        },
        Expr::Like(like) | Expr::SimilarTo(like) => Some(vec![lookup(&like.expr)?]),
        Expr::IsNotNull(inner) => Some(vec![lookup(inner)?]),
        Expr::IsTrue(inner) => required_keys(inner),
        Expr::Between(between) => Some(vec![lookup(&between.expr)?]),
        Expr::InList(list) => Some(vec![lookup(&list.expr)?]),
        // functions that are NULL, never true, when their first argument is NULL
        Expr::ScalarFunction(f)
            if matches!(
                f.func.name(),
                "regexp_like" | "starts_with" | "ends_with" | "strpos" | "contains"
            ) =>
        {
            Some(vec![lookup(f.args.first()?)?])
        }
        _ => None,
    }
}

/// Comparisons that are NULL when either operand is.
fn null_if_either_is_null(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::LikeMatch
            | Operator::ILikeMatch
            | Operator::NotLikeMatch
            | Operator::NotILikeMatch
            | Operator::RegexMatch
            | Operator::RegexIMatch
            | Operator::RegexNotMatch
            | Operator::RegexNotIMatch
    )
}

/// `column['key']` (DataFusion's `get_field` on a column with a literal string), seen through
/// casts, which keep NULL.
fn lookup(expr: &Expr) -> Option<MapKey> {
    match expr {
        Expr::Cast(cast) => lookup(&cast.expr),
        Expr::TryCast(cast) => lookup(&cast.expr),
        Expr::ScalarFunction(f) if f.func.name() == "get_field" => match f.args.as_slice() {
            [
                Expr::Column(column),
                Expr::Literal(
                    ScalarValue::Utf8(Some(key))
                    | ScalarValue::LargeUtf8(Some(key))
                    | ScalarValue::Utf8View(Some(key)),
                    _,
                ),
            ] => Some(MapKey {
                column: column.name.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the map column `column` of `batch` may hold `key` in some row: `false` only when it
/// is a string-keyed map and no entry has that key.
pub fn batch_may_hold(batch: &RecordBatch, column: &str, key: &str) -> bool {
    let Some(maps) = batch.column_by_name(column).and_then(|c| c.as_map_opt()) else {
        return true;
    };
    let Some(keys) = maps.keys().as_string_opt::<i32>() else {
        return true;
    };
    let offsets = maps.value_offsets();
    let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
        return false;
    };
    let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
        return true;
    };
    let entries = keys.slice(first, last.saturating_sub(first));
    entries.iter().flatten().any(|k| k == key)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, MapBuilder, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::functions::core::expr_fn::{coalesce, get_field};
    use datafusion::functions::regex::expr_fn::regexp_like;
    use datafusion::logical_expr::{binary_expr, cast, col, lit};

    use super::*;

    fn key(column: &str, key: &str) -> MapKey {
        MapKey {
            column: column.into(),
            key: key.into(),
        }
    }

    fn attr(k: &str) -> Expr {
        get_field(col("attributes"), k)
    }

    fn res(k: &str) -> Expr {
        get_field(col("resource_attributes"), k)
    }

    #[test]
    fn null_rejecting_filters_on_lookups_require_their_key() {
        let cases = [
            attr("a").eq(lit("x")),
            lit("x").eq(attr("a")),
            attr("a").not_eq(lit("x")),
            attr("a").gt(lit("x")),
            attr("a").like(lit("x%")),
            attr("a").is_not_null(),
            attr("a").in_list(vec![lit("x"), lit("y")], false),
            attr("a").between(lit("a"), lit("b")),
            cast(attr("a"), DataType::Int64).gt(lit(5)),
            regexp_like(attr("a"), lit("x.*"), None),
            attr("a").eq(lit("x")).is_true(),
        ];
        for expr in cases {
            assert_eq!(
                KeyRequirements::from_filters(std::slice::from_ref(&expr)).clauses,
                vec![vec![key("attributes", "a")]],
                "{expr}"
            );
        }
    }

    #[test]
    fn conjunctions_and_disjunctions_combine_their_keys() {
        let either = attr("a").eq(lit("x")).or(res("a").eq(lit("x")));
        let both = attr("a").eq(lit("x")).and(attr("b").eq(lit("y")));
        let filters = [either, both, col("service_name").eq(lit("s"))];
        let requirements = KeyRequirements::from_filters(&filters);
        assert_eq!(
            requirements.clauses,
            vec![
                vec![key("attributes", "a"), key("resource_attributes", "a")],
                vec![key("attributes", "a")],
            ]
        );
        assert!(requirements.admit(|c, k| c == "attributes" && k == "a"));
        assert!(!requirements.admit(|c, k| c == "resource_attributes" && k == "a"));
        assert!(!requirements.admit(|_, _| false));
        assert_eq!(
            requirements.columns().collect::<Vec<_>>(),
            ["attributes", "resource_attributes", "attributes"]
        );
    }

    #[test]
    fn filters_that_hold_without_the_key_require_nothing() {
        let cases = [
            attr("a").is_null(),
            attr("a").eq(lit("x")).is_not_true(),
            binary_expr(attr("a"), Operator::IsDistinctFrom, lit("x")),
            attr("a").eq(lit("x")).or(col("name").eq(lit("n"))),
            Expr::Not(Box::new(attr("a").eq(lit("x")))),
            coalesce(vec![attr("a"), lit("x")]).eq(lit("x")),
            col("name").eq(lit("n")),
        ];
        for expr in cases {
            assert!(
                KeyRequirements::from_filters(std::slice::from_ref(&expr)).is_empty(),
                "{expr}"
            );
        }
    }

    #[test]
    fn a_batch_holds_the_keys_of_its_rows_only() {
        let mut maps = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for row in ["a", "b", "c"] {
            maps.keys().append_value(row);
            maps.values().append_value("v");
            maps.append(true).unwrap();
        }
        let maps = Arc::new(maps.finish());
        let schema = Arc::new(Schema::new(vec![Field::new(
            "attributes",
            maps.data_type().clone(),
            false,
        )]));
        let batch = RecordBatch::try_new(schema, vec![maps]).unwrap();
        assert!(batch_may_hold(&batch, "attributes", "a"));
        assert!(!batch_may_hold(&batch, "attributes", "z"));
        // a slice holds only its own rows' keys
        let tail = batch.slice(1, 2);
        assert!(!batch_may_hold(&tail, "attributes", "a"));
        assert!(batch_may_hold(&tail, "attributes", "c"));
        // not a map column: anything may be there
        assert!(batch_may_hold(&batch, "other", "z"));
    }
}
