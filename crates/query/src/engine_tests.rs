//! The engine over real storage: exact results in every layout (head, Parquet, mixed), pruning,
//! the sandbox, and the limits.

use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use meshscope_model::{SpanKind, StatusCode};
use meshscope_storage::Storage;
use tempfile::TempDir;

use crate::test_data::{self, BASE, LAYOUTS, Layout, MIN, MS, T1, T2, T3, span_hex};
use crate::{
    AttrValue, AttributeFilter, ErrorKind, MatchOp, QueryConfig, QueryEngine, SearchQuery,
    ServiceSpans, TraceSummary,
};

async fn setup_with(layout: Layout, config: QueryConfig) -> (TempDir, Storage, QueryEngine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = test_data::open(dir.path()).await;
    test_data::load(&storage, layout).await;
    let engine = QueryEngine::new(storage.clone(), config).expect("engine");
    (dir, storage, engine)
}

async fn setup(layout: Layout) -> (TempDir, Storage, QueryEngine) {
    setup_with(layout, QueryConfig::default()).await
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    assert_eq!(batches.len(), 1, "{batches:?}");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn layouts_store_what_they_say() {
    for layout in LAYOUTS {
        let (_dir, storage, _engine) = setup(layout).await;
        let stats = storage.stats();
        let table = &stats.tables[0];
        let (head, files) = match layout {
            Layout::Head => (6, 0),
            Layout::Parquet => (0, 6),
            Layout::Mixed => (2, 4),
        };
        assert_eq!(
            (table.head_rows, table.file_rows),
            (head, files),
            "{layout:?}"
        );
    }
}

/// Every column of every row, `end_time` included (files do not store it: it is computed from
/// `start_time + duration_ns`), reads the same whether the row sits in the head or in a file.
#[tokio::test]
async fn rows_read_the_same_from_head_and_files() {
    let mut layouts = Vec::new();
    for layout in LAYOUTS {
        let (_dir, _storage, engine) = setup(layout).await;
        let all = engine
            .sql("SELECT * FROM spans ORDER BY span_id")
            .await
            .expect("all columns");
        let all = datafusion::arrow::compute::concat_batches(&all.schema, &all.batches)
            .expect("one batch");
        assert_eq!(all.num_rows(), 6, "{layout:?}");
        assert_eq!(all.schema(), meshscope_model::spans::schema(), "{layout:?}");
        // the derived column alone, and under a filter on it
        let end_only = engine
            .sql("SELECT end_time FROM spans ORDER BY span_id")
            .await
            .expect("end_time alone");
        assert_eq!(
            end_only
                .batches
                .iter()
                .map(|b| b.column(0))
                .cloned()
                .collect::<Vec<_>>(),
            vec![all.column_by_name("end_time").expect("end_time").clone()],
            "{layout:?}"
        );
        let late = engine
            .sql(&format!(
                "SELECT count(*) FROM spans WHERE end_time > to_timestamp_nanos({})",
                BASE + 10 * MIN
            ))
            .await
            .expect("filter on end_time");
        assert_eq!(single_i64(&late.batches), 3, "{layout:?}");
        layouts.push((layout, all));
    }
    let (_, head) = &layouts[0];
    let ends = head
        .column_by_name("end_time")
        .expect("end_time")
        .as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>();
    let starts = head
        .column_by_name("start_time")
        .expect("start_time")
        .as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>();
    let durations = head
        .column_by_name("duration_ns")
        .expect("duration_ns")
        .as_primitive::<Int64Type>();
    for i in 0..head.num_rows() {
        assert_eq!(ends.value(i), starts.value(i) + durations.value(i));
    }
    for (layout, rows) in &layouts[1..] {
        assert_eq!(rows, head, "{layout:?} against the head");
    }
}

#[tokio::test]
async fn trace_by_id_returns_every_span_in_every_layout() {
    for layout in LAYOUTS {
        let (_dir, _storage, engine) = setup(layout).await;
        let spans = engine.trace(T1, None).await.expect("trace");
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["GET /cart", "POST /checkout", "charge"],
            "{layout:?}"
        );
        let services: Vec<&str> = spans.iter().map(|s| s.service_name.as_str()).collect();
        assert_eq!(services, ["frontend", "checkout", "payments"]);
        assert_eq!(spans[0].parent_span_id, "");
        assert_eq!(spans[1].parent_span_id, span_hex(1));
        assert_eq!(spans[2].status, StatusCode::Error);
        assert_eq!(spans[2].status_message, "card declined");
        assert_eq!(spans[2].kind, SpanKind::Client);
        assert_eq!(spans[0].start_ns, BASE);
        assert_eq!(spans[0].end_ns, BASE + 120 * MS);
        let event = &spans[2].events[0];
        assert_eq!(event.name, "exception");
        assert_eq!(
            event.attributes,
            [
                (
                    "exception.type".to_owned(),
                    AttrValue::Str("CardError".into())
                ),
                ("attempt".to_owned(), AttrValue::Int(1)),
            ]
        );
        assert!(
            spans[0]
                .attributes
                .contains(&("retries".into(), AttrValue::Int(2)))
        );
        assert!(
            spans[0]
                .resource_attributes
                .contains(&("replicas".into(), AttrValue::Int(3)))
        );
        assert_eq!(spans[0].scope_name, "io.opentelemetry.http");
        assert_eq!(
            spans[0].scope_attributes,
            [("scope.attr".into(), AttrValue::Bool(true))]
        );

        let t3 = engine.trace(&T3.to_uppercase(), None).await.expect("trace");
        assert_eq!(t3.len(), 1);
        let attrs = &t3[0].attributes;
        assert!(attrs.contains(&("ratio".into(), AttrValue::Double(0.5))));
        assert!(attrs.contains(&("cached".into(), AttrValue::Bool(true))));
        assert!(attrs.contains(&(
            "tags".into(),
            AttrValue::Array(vec![AttrValue::Str("a".into()), AttrValue::Str("b".into())])
        )));
        assert_eq!(t3[0].links[0].trace_id, T1);
        assert_eq!(t3[0].links[0].span_id, span_hex(1));

        // absent, and outside the given time range
        assert!(
            engine
                .trace(&"4".repeat(32), None)
                .await
                .expect("trace")
                .is_empty()
        );
        assert!(
            engine
                .trace(T1, Some((BASE + MIN, BASE + 2 * MIN)))
                .await
                .expect("trace")
                .is_empty()
        );
        assert_eq!(
            engine
                .trace(T1, Some((BASE, BASE + MIN)))
                .await
                .expect("trace")
                .len(),
            3
        );
        let err = engine.trace("not-hex", None).await.expect_err("bad id");
        assert_eq!(err.kind(), ErrorKind::BadRequest);
    }
}

fn summary(trace: &str) -> TraceSummary {
    let services = |list: &[(&str, u64, u64)]| {
        list.iter()
            .map(|(s, n, e)| ServiceSpans {
                service: (*s).into(),
                span_count: *n,
                error_count: *e,
            })
            .collect()
    };
    match trace {
        T1 => TraceSummary {
            trace_id: T1.into(),
            root_service: "frontend".into(),
            root_operation: "GET /cart".into(),
            start_ns: BASE,
            duration_ns: 120 * MS,
            span_count: 3,
            error_count: 1,
            services: services(&[("checkout", 1, 0), ("frontend", 1, 0), ("payments", 1, 1)]),
        },
        T2 => TraceSummary {
            trace_id: T2.into(),
            root_service: "frontend".into(),
            root_operation: "GET /home".into(),
            start_ns: BASE + 10 * MIN,
            duration_ns: 5 * MS,
            span_count: 2,
            error_count: 0,
            services: services(&[("cache", 1, 0), ("frontend", 1, 0)]),
        },
        _ => TraceSummary {
            trace_id: T3.into(),
            root_service: "checkout".into(),
            root_operation: "POST /checkout".into(),
            start_ns: BASE + 65 * MIN,
            duration_ns: 2_000 * MS,
            span_count: 1,
            error_count: 0,
            services: services(&[("checkout", 1, 0)]),
        },
    }
}

fn filter(text: &str) -> AttributeFilter {
    text.parse().expect("filter")
}

#[tokio::test]
async fn search_applies_every_filter_before_the_limit_in_every_layout() {
    let q = SearchQuery::default;
    let cases: Vec<(&str, SearchQuery, Vec<&str>)> = vec![
        ("everything, newest first", q(), vec![T3, T2, T1]),
        ("limit", SearchQuery { limit: 2, ..q() }, vec![T3, T2]),
        (
            "service of a child span",
            SearchQuery {
                service: Some("payments".into()),
                ..q()
            },
            vec![T1],
        ),
        (
            "service and operation",
            SearchQuery {
                service: Some("checkout".into()),
                operation: Some("POST /checkout".into()),
                ..q()
            },
            vec![T3, T1],
        ),
        (
            "filters before the limit",
            SearchQuery {
                service: Some("frontend".into()),
                limit: 1,
                ..q()
            },
            vec![T2],
        ),
        (
            "kind",
            SearchQuery {
                kind: Some(SpanKind::Client),
                ..q()
            },
            vec![T2, T1],
        ),
        (
            "status",
            SearchQuery {
                status: Some(StatusCode::Error),
                ..q()
            },
            vec![T1],
        ),
        (
            "min duration",
            SearchQuery {
                min_duration_ns: Some(100 * MS),
                ..q()
            },
            vec![T3, T1],
        ),
        (
            "max duration",
            SearchQuery {
                max_duration_ns: Some(2 * MS),
                ..q()
            },
            vec![T2],
        ),
        (
            "time range",
            SearchQuery {
                start_ns: Some(BASE + MIN),
                end_ns: Some(BASE + 60 * MIN),
                ..q()
            },
            vec![T2],
        ),
        (
            "attribute equality",
            SearchQuery {
                attributes: vec![filter("customer.tier=gold")],
                ..q()
            },
            vec![T1],
        ),
        (
            "promoted attribute, old semantic-convention name",
            SearchQuery {
                attributes: vec![filter("http.status_code=201")],
                ..q()
            },
            vec![T3],
        ),
        (
            "resource attribute",
            SearchQuery {
                attributes: vec![filter("replicas=3")],
                limit: 5,
                ..q()
            },
            vec![T3, T2, T1],
        ),
        (
            "regex",
            SearchQuery {
                attributes: vec![filter("http.route=~^/c")],
                ..q()
            },
            vec![T3, T1],
        ),
        (
            "negation: a span without the value",
            SearchQuery {
                service: Some("frontend".into()),
                attributes: vec![filter("http.route!=/cart")],
                ..q()
            },
            vec![T2],
        ),
        (
            "negated regex",
            SearchQuery {
                service: Some("checkout".into()),
                attributes: vec![filter("customer.tier!~^g")],
                ..q()
            },
            vec![T3, T1],
        ),
        (
            "jaeger tags",
            SearchQuery {
                attributes: vec![filter("error=true"), filter("span.kind=client")],
                ..q()
            },
            vec![T1],
        ),
        (
            "all filters on one span",
            SearchQuery {
                service: Some("frontend".into()),
                attributes: vec![filter("db.system=redis")],
                ..q()
            },
            vec![],
        ),
    ];
    for layout in LAYOUTS {
        let (_dir, _storage, engine) = setup(layout).await;
        for (what, query, expect) in &cases {
            let found = engine.search(query.clone()).await.expect(what);
            let expected: Vec<TraceSummary> = expect.iter().map(|t| summary(t)).collect();
            assert_eq!(found, expected, "{what} ({layout:?})");
        }
        let traces = engine
            .search_traces(SearchQuery {
                service: Some("cache".into()),
                ..q()
            })
            .await
            .expect("search traces");
        assert_eq!(traces.len(), 1);
        let names: Vec<&str> = traces[0].iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["GET /home", "GET key"], "{layout:?}");
    }
}

/// Search reads the newest parts first and stops once `limit` traces have a matching span
/// later than anything the rest can hold; the answer is the one reading everything gives.
#[tokio::test]
async fn search_reads_newest_parts_first_and_stops_when_the_rest_cannot_rank() {
    let q = SearchQuery::default;
    // (layout, limit, traces, parts read): rounds of up to 1, 2, 4… rows, at least one part
    let cases = [
        // files: hour 17 (T3), then hour 16 (T1, T2)
        (Layout::Parquet, 1, vec![T3], 1),
        (Layout::Parquet, 2, vec![T3, T2], 2),
        (Layout::Parquet, 3, vec![T3, T2, T1], 2),
        // T3's head batch, hour 16's file (T1, T2 at +10 min), T1's payments batch (+20 ms)
        (Layout::Mixed, 1, vec![T3], 1),
        (Layout::Mixed, 2, vec![T3, T2], 2),
        (Layout::Mixed, 3, vec![T3, T2, T1], 3),
        // head batches by their latest span: T3, T2's cache span (+10 min + 1 ms), frontend
        // (T1 and T2 at +10 min), payments, checkout; rounds of up to 1, 2, 4… rows
        (Layout::Head, 1, vec![T3], 1),
        (Layout::Head, 2, vec![T3, T2], 2),
        (Layout::Head, 3, vec![T3, T2, T1], 5),
    ];
    for (layout, limit, expected, parts) in cases {
        let (_dir, _storage, engine) = setup(layout).await;
        let search = SearchQuery { limit, ..q() };
        let (ids, read) = engine
            .find_trace_ids(search.clone(), 1)
            .await
            .expect("search");
        assert_eq!(ids, expected, "{layout:?} limit {limit}");
        assert_eq!(read, parts, "{layout:?} limit {limit}");
        // one round over everything finds the same
        let (all, _) = engine
            .find_trace_ids(search, u64::MAX)
            .await
            .expect("search");
        assert_eq!(all, expected, "{layout:?} limit {limit}");
    }
}

#[tokio::test]
async fn search_refuses_bad_parameters() {
    let (_dir, _storage, engine) = setup(Layout::Head).await;
    for bad in [
        SearchQuery {
            limit: 0,
            ..SearchQuery::default()
        },
        SearchQuery {
            limit: 5000,
            ..SearchQuery::default()
        },
        SearchQuery {
            min_duration_ns: Some(10),
            max_duration_ns: Some(5),
            ..SearchQuery::default()
        },
        SearchQuery {
            start_ns: Some(10),
            end_ns: Some(5),
            ..SearchQuery::default()
        },
    ] {
        let err = engine.search(bad).await.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::BadRequest, "{err}");
    }
    let err = engine
        .search(SearchQuery {
            attributes: vec![AttributeFilter::new("k", MatchOp::Regex, "(")],
            ..SearchQuery::default()
        })
        .await
        .expect_err("bad regex");
    assert_eq!(err.kind(), ErrorKind::BadRequest, "{err}");
}

#[tokio::test]
async fn services_and_operations_in_every_layout() {
    for layout in LAYOUTS {
        let (_dir, _storage, engine) = setup(layout).await;
        assert_eq!(
            engine.services().await.expect("services"),
            ["cache", "checkout", "frontend", "payments"],
            "{layout:?}"
        );
        let ops = engine
            .operations(Some("frontend".into()), None)
            .await
            .expect("operations");
        let ops: Vec<(&str, SpanKind)> = ops.iter().map(|o| (o.name.as_str(), o.kind)).collect();
        assert_eq!(
            ops,
            [
                ("GET /cart", SpanKind::Server),
                ("GET /home", SpanKind::Server)
            ]
        );
        let clients = engine
            .operations(None, Some(SpanKind::Client))
            .await
            .expect("operations");
        let clients: Vec<(&str, &str)> = clients
            .iter()
            .map(|o| (o.service.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(clients, [("cache", "GET key"), ("payments", "charge")]);
    }
}

#[tokio::test]
async fn trace_lookup_reads_only_row_groups_that_may_hold_the_trace() {
    let (_dir, _storage, engine) = setup(Layout::Parquet).await;
    // two files (hours 16 and 17), one row group each
    let count = |predicate: String| {
        let engine = engine.clone();
        async move {
            engine
                .sql(&format!("SELECT count(*) FROM spans WHERE {predicate}"))
                .await
                .expect("lookup")
        }
    };
    let found = count(format!("trace_id = '{T2}'")).await;
    assert_eq!(single_i64(&found.batches), 2);
    let scan = &found.stats.scan;
    // hour 17 holds only T3: its key range rules T2 out before the file is opened
    assert_eq!(
        (
            scan.files_total,
            scan.files_scanned,
            scan.files_pruned_key_index
        ),
        (2, 1, 1),
        "{scan:?}"
    );
    assert_eq!(scan.row_groups_pruned_key_index, 1, "{scan:?}");
    assert_eq!(scan.row_groups_read, 1, "{scan:?}");
    assert_eq!(scan.parquet_rows_out, 2, "{scan:?}");

    // between T1 and T2: hour 16's range admits it, its bloom filter does not; no file opened
    let absent = count(format!("trace_id = '{}'", "1".repeat(31) + "2")).await;
    assert_eq!(single_i64(&absent.batches), 0);
    let scan = &absent.stats.scan;
    assert_eq!(
        (scan.files_scanned, scan.files_pruned_key_index),
        (0, 2),
        "{scan:?}"
    );
    assert_eq!(
        (scan.row_groups_read, scan.bytes_scanned),
        (0, 0),
        "{scan:?}"
    );

    // lists and disjunctions of ids pin the column too; the id can stand on either side
    for predicate in [
        format!("trace_id IN ('{T1}', '{T3}')"),
        format!("trace_id = '{T1}' OR '{T3}' = trace_id"),
    ] {
        let both = count(predicate.clone()).await;
        let scan = &both.stats.scan;
        assert_eq!(single_i64(&both.batches), 4, "{predicate}");
        assert_eq!(
            (scan.files_scanned, scan.files_pruned_key_index),
            (2, 0),
            "{predicate}"
        );
    }
    // a predicate that does not pin the id prunes nothing, and finds the same rows
    let like = count(format!("trace_id LIKE '{}%'", &T2[..8])).await;
    assert_eq!(single_i64(&like.batches), 2);
    assert_eq!(
        (
            like.stats.scan.files_scanned,
            like.stats.scan.files_pruned_key_index
        ),
        (2, 0)
    );
}

/// Rows sorted by `span_id`, as one batch.
fn by_span_id(
    batches: &[RecordBatch],
    schema: &datafusion::arrow::datatypes::SchemaRef,
) -> RecordBatch {
    use datafusion::arrow::compute;
    let all = compute::concat_batches(schema, batches).unwrap();
    let order =
        compute::sort_to_indices(all.column_by_name("span_id").unwrap(), None, None).unwrap();
    compute::take_record_batch(&all, &order).unwrap()
}

#[tokio::test]
async fn trace_rows_read_without_planning_equal_what_sql_returns_in_every_layout() {
    let schema = meshscope_model::spans::schema();
    let every: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let absent = "4".repeat(32);
    // ids, and bounds on start_time
    let cases = [
        (vec![T1], None::<(i64, i64)>),
        (vec![T3], None),
        (vec![T1, T2, T3], None),
        (vec![T2, &absent], None),
        (vec![&absent], None),
        (vec![T1, T2, T3], Some((BASE, BASE + MIN))),
        (vec![T1, T2, T3], Some((BASE + 5 * MIN, BASE + 70 * MIN))),
        (vec![T1], Some((BASE + MIN, BASE + 2 * MIN))),
    ];
    for layout in LAYOUTS {
        let (_dir, _storage, engine) = setup(layout).await;
        for (ids, bounds) in &cases {
            // every column, in reverse order: the derived end_time, maps and lists included
            let columns: Vec<String> = every.iter().rev().cloned().collect();
            let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            let read = {
                let (ids, columns) = (ids.clone(), columns.clone());
                let bounds = *bounds;
                engine
                    .run_reads("test", move |read| async move {
                        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
                        read.reads().rows(&ids, bounds, &columns).await
                    })
                    .await
                    .expect("trace rows")
            };
            let list = ids
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let window = bounds.map_or(String::new(), |(lo, hi)| {
                format!(
                    " AND start_time BETWEEN arrow_cast({lo}, 'Timestamp(Nanosecond, Some(\"UTC\"))') \
                     AND arrow_cast({hi}, 'Timestamp(Nanosecond, Some(\"UTC\"))')"
                )
            });
            let select = columns
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = engine
                .sql(&format!(
                    "SELECT {select} FROM spans WHERE trace_id IN ({list}){window}"
                ))
                .await
                .expect("sql");
            let what = format!("{layout:?} {ids:?} {bounds:?}");
            let rows: usize = sql.batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(
                read.iter().map(RecordBatch::num_rows).sum::<usize>(),
                rows,
                "{what}"
            );
            if rows == 0 {
                continue;
            }
            let (read, sql) = (
                by_span_id(&read, &read[0].schema()),
                by_span_id(&sql.batches, &sql.schema),
            );
            assert_eq!(read.schema().fields().len(), columns.len(), "{what}");
            for (i, name) in columns.iter().enumerate() {
                assert_eq!(read.schema().field(i).name(), name, "{what}");
                assert_eq!(
                    read.column(i).as_ref(),
                    sql.column(i).as_ref(),
                    "{what}: {name}"
                );
            }
        }
    }
}

#[tokio::test]
async fn trace_lookup_skips_head_batches_without_the_trace() {
    for layout in [Layout::Head, Layout::Mixed] {
        let (_dir, storage, engine) = setup(layout).await;
        let head_rows = storage.stats().tables[0].head_rows as u64;
        let found = engine
            .sql(&format!(
                "SELECT count(*) FROM spans WHERE trace_id = '{T3}'"
            ))
            .await
            .expect("lookup");
        assert_eq!(single_i64(&found.batches), 1, "{layout:?}");
        let scan = &found.stats.scan;
        // T3 is in the head in both layouts, in a batch of its own or beside T1's payments span
        assert!(
            scan.head_batches_pruned_key_index >= 1,
            "{layout:?} {scan:?}"
        );
        assert!(
            (1..head_rows).contains(&scan.head_rows_scanned),
            "{layout:?} {scan:?}"
        );
        // the whole trace by the engine's own lookup, every span once
        let trace = engine.trace(T3, None).await.expect("trace");
        assert_eq!(trace.len(), 1, "{layout:?}");
    }
}

/// `cached` is a span attribute of T3 only (hour 17), `customer.tier` of T1's root (hour 16) and
/// T3, `replicas` a resource attribute of every span; no span has `nope`.
#[tokio::test]
async fn filters_on_map_keys_skip_what_holds_no_such_key() {
    for layout in LAYOUTS {
        let (_dir, storage, engine) = setup(layout).await;
        let run = |predicate: &str| {
            let engine = engine.clone();
            let sql = format!("SELECT count(*) FROM spans WHERE {predicate}");
            async move { engine.sql(&sql).await.expect("sql") }
        };
        // every layout counts the same
        for (predicate, rows) in [
            ("attributes['cached'] = 'true'", 1),
            ("attributes['cached'] IS NOT NULL", 1),
            ("attributes['customer.tier'] LIKE 's%'", 1),
            (
                "attributes['customer.tier'] = 'gold' OR resource_attributes['replicas'] = '3'",
                6,
            ),
            ("attributes['nope'] = 'x'", 0),
            (
                "attributes['nope'] = 'x' OR attributes['cached'] = 'true'",
                1,
            ),
            ("attributes['nope'] IS NULL", 6),
            ("coalesce(attributes['nope'], 'x') = 'x'", 6),
        ] {
            let out = run(predicate).await;
            assert_eq!(single_i64(&out.batches), rows, "{layout:?} {predicate}");
        }
        let absent = run("attributes['nope'] = 'x'").await.stats.scan;
        assert_eq!(
            (
                absent.files_scanned,
                absent.head_rows_scanned,
                absent.bytes_scanned
            ),
            (0, 0, 0),
            "{layout:?} {absent:?}"
        );
        let cached = run("attributes['cached'] IS NOT NULL").await.stats.scan;
        match layout {
            // hour 16's file holds no `cached`: its row group is ruled out before it is opened
            Layout::Parquet => assert_eq!(
                (
                    cached.files_scanned,
                    cached.files_pruned_key_index,
                    cached.row_groups_read
                ),
                (1, 1, 1),
                "{cached:?}"
            ),
            // only T3's batch is read
            Layout::Head | Layout::Mixed => {
                assert_eq!(cached.files_scanned, 0, "{layout:?} {cached:?}");
                assert_eq!(cached.head_rows_scanned, 1, "{layout:?} {cached:?}");
            }
        }

        // what a search asks of the snapshot to leave out the maps that cannot match
        let table = crate::SnapshotTable::new(
            storage
                .snapshot(meshscope_model::spans::TABLE)
                .expect("snapshot"),
            meshscope_model::spans::col::START_TIME,
        );
        let all = crate::TimeBounds::default();
        let holds = |column: &str, key: &str| table.may_hold_map_key(column, key, &all);
        assert!(holds("attributes", "customer.tier"), "{layout:?}");
        assert!(!holds("resource_attributes", "customer.tier"), "{layout:?}");
        assert!(holds("resource_attributes", "replicas"), "{layout:?}");
        assert!(!holds("attributes", "replicas"), "{layout:?}");
        // `cached` is in hour 17 only
        let hour_16 = crate::TimeBounds {
            min: BASE,
            max: BASE + 59 * MIN,
        };
        assert!(
            !table.may_hold_map_key("attributes", "cached", &hour_16),
            "{layout:?}"
        );
        assert!(holds("attributes", "cached"), "{layout:?}");
    }
}

#[tokio::test]
async fn time_predicates_prune_files_and_head_batches() {
    let (_dir, _storage, engine) = setup(Layout::Parquet).await;
    let out = engine
        .sql("SELECT count(*) FROM spans WHERE start_time >= TIMESTAMP '2025-11-24T17:00:00Z'")
        .await
        .expect("sql");
    assert_eq!(single_i64(&out.batches), 1);
    assert_eq!(
        (out.stats.scan.files_total, out.stats.scan.files_scanned),
        (2, 1)
    );

    let (_dir, _storage, engine) = setup(Layout::Head).await;
    let out = engine
        .sql(
            "SELECT count(*) FROM spans WHERE start_time BETWEEN TIMESTAMP '2025-11-24T17:00:00Z' AND now()",
        )
        .await
        .expect("sql");
    assert_eq!(single_i64(&out.batches), 1);
    // the head batches holding only hour 16 are skipped
    assert_eq!(out.stats.scan.head_rows_scanned, 1, "{:?}", out.stats.scan);
}

#[tokio::test]
async fn counts_stay_exact_while_flushes_run() {
    let (_dir, storage, engine) = setup(Layout::Head).await;
    for round in 0..5 {
        for batch in test_data::first_part() {
            storage.append("spans", batch).await.expect("append");
        }
        let expected = 6 + 4 * (round + 1);
        let flush = tokio::spawn({
            let storage = storage.clone();
            async move { storage.flush().await.expect("flush") }
        });
        for _ in 0..5 {
            let out = engine
                .sql("SELECT count(*) FROM spans")
                .await
                .expect("count");
            assert_eq!(single_i64(&out.batches), expected);
        }
        flush.await.expect("flush task");
        let out = engine
            .sql("SELECT count(*) FROM spans")
            .await
            .expect("count");
        assert_eq!(single_i64(&out.batches), expected);
    }
}

#[tokio::test]
async fn sql_answers_queries_show_and_describe() {
    let (_dir, _storage, engine) = setup(Layout::Mixed).await;
    let out = engine
        .sql("SELECT name FROM spans WHERE attributes['http.route'] = '/cart'")
        .await
        .expect("map access");
    assert_eq!(out.num_rows(), 1);
    for ok in [
        "SHOW TABLES",
        "SHOW COLUMNS FROM spans",
        "DESCRIBE spans",
        "EXPLAIN SELECT * FROM spans WHERE trace_id = 'x'",
        "EXPLAIN ANALYZE SELECT count(*) FROM spans",
        "SELECT * FROM information_schema.columns WHERE table_name = 'spans'",
        "WITH t AS (SELECT trace_id FROM spans) SELECT count(*) FROM t",
        "SELECT 1",
    ] {
        engine.sql(ok).await.unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[tokio::test]
async fn sql_refuses_everything_but_reads() {
    let (_dir, _storage, engine) = setup(Layout::Head).await;
    let refused: &[(&str, &str)] = &[
        (
            "CREATE TABLE t AS SELECT * FROM spans",
            "CREATE TABLE is not allowed",
        ),
        ("CREATE TABLE t (a INT)", "CREATE TABLE is not allowed"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW is not allowed"),
        (
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE is not allowed",
        ),
        (
            "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION 'file:///etc/'",
            "CREATE EXTERNAL TABLE is not allowed",
        ),
        ("DROP TABLE spans", "DROP TABLE is not allowed"),
        (
            "INSERT INTO spans SELECT * FROM spans",
            "INSERT is not allowed",
        ),
        ("DELETE FROM spans", "DELETE is not allowed"),
        ("UPDATE spans SET name = 'x'", "UPDATE is not allowed"),
        ("TRUNCATE spans", "TRUNCATE"),
        ("COPY spans TO '/tmp/out.csv'", "COPY is not allowed"),
        (
            "COPY (SELECT 1) TO '/tmp/x.parquet' STORED AS PARQUET",
            "COPY is not allowed",
        ),
        (
            "EXPLAIN COPY spans TO '/tmp/out.csv'",
            "COPY is not allowed",
        ),
        (
            "SET datafusion.execution.batch_size = 1",
            "SET is not allowed",
        ),
        (
            "RESET datafusion.execution.batch_size",
            "RESET is not allowed",
        ),
        ("PREPARE p AS SELECT 1", "PREPARE is not allowed"),
        ("BEGIN", "is not allowed"),
        (
            "SELECT * FROM read_parquet('/etc/passwd')",
            "table function read_parquet",
        ),
        (
            "SELECT * FROM read_csv('/etc/passwd')",
            "table function read_csv",
        ),
        (
            "SELECT * FROM generate_series(1, 10)",
            "table function generate_series",
        ),
        (
            "SELECT * FROM spans, LATERAL read_json('/etc/passwd')",
            "table function",
        ),
        (
            "SELECT * FROM '/etc/passwd'",
            "reading files is not allowed",
        ),
        (
            "SELECT * FROM \"/etc/passwd\"",
            "reading files is not allowed",
        ),
        (
            "SELECT * FROM 'file:///etc/passwd'",
            "reading files is not allowed",
        ),
        (
            "SELECT * FROM (SELECT * FROM read_parquet('/etc/passwd'))",
            "table function",
        ),
        (
            "WITH x AS (SELECT * FROM '/etc/passwd') SELECT * FROM x",
            "reading files is not allowed",
        ),
        ("DESCRIBE '/etc/passwd'", "reading files is not allowed"),
        ("SELECT * FROM other_table", "unknown table other_table"),
        ("SELECT 1; SELECT 2", "one statement per request"),
        ("", "the query is empty"),
    ];
    for (sql, message) in refused {
        let err = engine.sql(sql).await.expect_err(sql);
        assert!(
            matches!(err.kind(), ErrorKind::NotAllowed | ErrorKind::BadRequest),
            "{sql}: {err:?}"
        );
        assert!(err.to_string().contains(message), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_timed_out_query_is_cancelled_and_frees_its_memory() {
    let (_dir, _storage, engine) = setup_with(
        Layout::Head,
        QueryConfig {
            timeout: Duration::from_millis(1500),
            ..QueryConfig::default()
        },
    )
    .await;
    // never ends: every round adds a row and the distinct count keeps them all
    let runaway = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
                   SELECT count(DISTINCT n) FROM r";
    let task = tokio::spawn({
        let engine = engine.clone();
        async move { engine.sql(runaway).await }
    });
    let mut peak = 0;
    while !task.is_finished() {
        peak = peak.max(engine.memory_reserved());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = task.await.expect("task").expect_err("timed out");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.to_string(), "query timed out after 1.500s");
    assert!(peak > 0, "the query held memory while it ran");
    assert_eq!(
        engine.memory_reserved(),
        0,
        "a timed-out query frees its memory"
    );
    // the engine still answers
    let out = engine
        .sql("SELECT count(*) FROM spans")
        .await
        .expect("count");
    assert_eq!(single_i64(&out.batches), 6);
}

#[tokio::test]
async fn a_trace_larger_than_a_result_may_be_is_refused_in_every_layout() {
    for layout in LAYOUTS {
        let (_dir, _storage, engine) = setup_with(
            layout,
            QueryConfig {
                max_result_bytes: 256,
                ..QueryConfig::default()
            },
        )
        .await;
        let err = engine.trace(T1, None).await.expect_err("too large");
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{layout:?} {err}");
        assert!(err.to_string().contains("exceeds 256 bytes"), "{err}");
        // an absent trace reads nothing and is no error
        assert!(
            engine
                .trace(&"4".repeat(32), None)
                .await
                .expect("absent")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn memory_and_result_limits_end_queries_with_clear_errors() {
    let (_dir, _storage, engine) = setup_with(
        Layout::Head,
        QueryConfig {
            memory_limit_bytes: 1 << 20,
            max_result_bytes: 4 << 10,
            ..QueryConfig::default()
        },
    )
    .await;
    let err = engine
        .sql(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
             SELECT count(DISTINCT n) FROM r",
        )
        .await
        .expect_err("over the memory limit");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(
        err.to_string()
            .starts_with("query exceeded its memory limit of 1048576 bytes"),
        "{err}"
    );
    assert_eq!(engine.memory_reserved(), 0);

    let err = engine
        .sql("SELECT * FROM spans")
        .await
        .expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(err.to_string().contains("add a LIMIT"), "{err}");
    engine
        .sql("SELECT trace_id FROM spans LIMIT 2")
        .await
        .expect("small result");
}

#[test]
fn spans_decode_from_exactly_the_span_columns() {
    let batches: Vec<RecordBatch> = test_data::first_part()
        .into_iter()
        .chain(test_data::second_part())
        .collect();
    let project = |columns: &[&str]| -> Vec<RecordBatch> {
        batches
            .iter()
            .map(|batch| {
                let indices: Vec<usize> = columns
                    .iter()
                    .map(|c| batch.schema().index_of(c).unwrap())
                    .collect();
                batch.project(&indices).unwrap()
            })
            .collect()
    };
    let whole = crate::decode_spans(&batches).unwrap();
    assert!(whole.len() >= 6, "{} spans", whole.len());
    assert_eq!(
        crate::decode_spans(&project(crate::SPAN_COLUMNS)).unwrap(),
        whole
    );
    // every listed column is needed: without any one of them decoding fails
    for left_out in crate::SPAN_COLUMNS {
        let fewer: Vec<&str> = crate::SPAN_COLUMNS
            .iter()
            .copied()
            .filter(|c| c != left_out)
            .collect();
        assert!(
            crate::decode_spans(&project(&fewer)).is_err(),
            "decoded without {left_out}"
        );
    }
}
