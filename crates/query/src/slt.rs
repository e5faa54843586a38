//! A small sqllogictest-style runner for the SQL behaviour files in `tests/sql/*.slt`.
//!
//! Every file runs against the fixture of [`crate::test_data`] in each layout (head only,
//! Parquet only, mixed), so the answers must not depend on where rows are stored. Records:
//!
//! ```text
//! # a comment
//! statement ok
//! SELECT …                      (the SQL runs to the next blank line or `----`)
//!
//! statement error <text the error message contains>
//! CREATE TABLE …
//!
//! query <one letter per column> [rowsort]
//! SELECT …
//! ----
//! value | value                 (cells joined by " | "; NULL and (empty) for null and '')
//! ```

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::QueryEngine;
use crate::test_data::{self, LAYOUTS};

#[derive(Debug)]
enum Expect {
    Ok,
    Error(String),
    Rows {
        columns: usize,
        rowsort: bool,
        rows: Vec<String>,
    },
}

#[derive(Debug)]
struct Record {
    line: usize,
    sql: String,
    expect: Expect,
}

fn parse(text: &str, file: &Path) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut words = line.split_whitespace();
        let header = (words.next(), words.next());
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let expect = match header {
            (Some("statement"), Some("ok")) => Expect::Ok,
            (Some("statement" | "query"), Some("error")) => {
                let message = line.splitn(3, ' ').nth(2).unwrap_or("").trim();
                Expect::Error(message.to_owned())
            }
            (Some("query"), Some(types)) => {
                let rowsort = words.next() == Some("rowsort");
                let mut rows = Vec::new();
                if i < lines.len() && lines[i].trim() == "----" {
                    i += 1;
                    while i < lines.len() && !lines[i].trim().is_empty() {
                        rows.push(lines[i].trim_end().to_owned());
                        i += 1;
                    }
                }
                Expect::Rows {
                    columns: types.len(),
                    rowsort,
                    rows,
                }
            }
            _ => panic!("{}:{start}: unknown record {line:?}", file.display()),
        };
        records.push(Record {
            line: start,
            sql: sql.join("\n"),
            expect,
        });
    }
    records
}

fn render(batches: &[RecordBatch]) -> (usize, Vec<String>) {
    let options = FormatOptions::default().with_null("NULL");
    let mut columns = 0;
    let mut rows = Vec::new();
    for batch in batches {
        columns = batch.num_columns();
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, column)| {
                    let text = f.value(row).to_string();
                    if text.is_empty() && !column.is_null(row) {
                        "(empty)".to_owned()
                    } else {
                        text
                    }
                })
                .collect();
            rows.push(cells.join(" | "));
        }
    }
    (columns, rows)
}

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/sql")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

async fn run_file(engine: &QueryEngine, file: &Path, layout: test_data::Layout) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read slt");
    let mut failures = Vec::new();
    for record in parse(&text, file) {
        let at = format!("{}:{} ({layout:?})", file.display(), record.line);
        let result = engine.sql(&record.sql).await;
        match (&record.expect, result) {
            (Expect::Ok, Ok(_)) => {}
            (Expect::Error(message), Err(e)) if e.to_string().contains(message.as_str()) => {}
            (
                Expect::Rows {
                    columns,
                    rowsort,
                    rows,
                },
                Ok(out),
            ) => {
                let (got_columns, mut got) = render(&out.batches);
                let mut want = rows.clone();
                if *rowsort {
                    got.sort();
                    want.sort();
                }
                if got != want || (!got.is_empty() && got_columns != *columns) {
                    failures.push(format!(
                        "{at}: {}\n  expected ({columns} columns):\n    {}\n  got ({got_columns} columns):\n    {}",
                        record.sql,
                        want.join("\n    "),
                        got.join("\n    ")
                    ));
                }
            }
            (expect, Ok(_)) => failures.push(format!(
                "{at}: {}\n  expected {expect:?}, it succeeded",
                record.sql
            )),
            (expect, Err(e)) => failures.push(format!(
                "{at}: {}\n  expected {expect:?}, got error: {e}",
                record.sql
            )),
        }
    }
    failures
}

#[tokio::test]
async fn sql_logic_tests() {
    let mut failures = Vec::new();
    let mut records = 0;
    for layout in LAYOUTS {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = test_data::open(dir.path()).await;
        test_data::load(&storage, layout).await;
        let engine = QueryEngine::new(storage, crate::QueryConfig::default()).expect("engine");
        for file in files() {
            records += parse(&std::fs::read_to_string(&file).expect("read"), &file).len();
            failures.extend(run_file(&engine, &file, layout).await);
        }
    }
    assert!(records > 0);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
