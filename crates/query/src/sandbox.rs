//! The read-only SQL sandbox: which statements the SQL API runs.
//!
//! Three fences, each enough on its own for what it guards:
//!
//! 1. **Statement kind** (on the parsed AST): only `SELECT` (any query), `EXPLAIN` of an
//!    allowed statement, `SHOW …` and `DESCRIBE`. DDL, DML, `COPY`, `CREATE EXTERNAL TABLE`,
//!    `SET`, `RESET`, `PREPARE`, transactions … are refused with a message naming them.
//! 2. **Relations**: table functions are refused, and every table named must be one the engine
//!    registered (`spans`, `information_schema.*`), so a file path used as a table name
//!    (`SELECT * FROM '/etc/passwd'`) is refused before planning. The session has no table
//!    functions, table factories or file formats registered, and URL tables are off.
//! 3. **Plan check**: DataFusion's `SQLOptions` (no DDL, DML or statements) verify the plan.

use std::ops::ControlFlow;

use datafusion::execution::context::{SQLOptions, SessionState};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    ObjectName, Statement as SqlStatement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::{Error, Result};

const ALLOWED: &str =
    "the SQL API is read-only: only SELECT, EXPLAIN, SHOW and DESCRIBE are allowed";

/// Tables of `information_schema` that DataFusion provides.
const INFORMATION_SCHEMA: &[&str] = &[
    "tables",
    "columns",
    "views",
    "df_settings",
    "schemata",
    "routines",
    "parameters",
];

/// Parses `sql` into one statement the sandbox allows.
pub(crate) fn parse(sql: &str, state: &SessionState) -> Result<DfStatement> {
    if sql.trim().is_empty() {
        return Err(Error::InvalidRequest("the query is empty".into()));
    }
    let recursion_limit = state.config().options().sql_parser.recursion_limit.get();
    let dialect = GenericDialect {};
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .with_recursion_limit(recursion_limit)
        .build()?
        .parse_statements()?;
    if statements.len() > 1 {
        return Err(Error::InvalidRequest(
            "send one statement per request (found several separated by ';')".into(),
        ));
    }
    let statement = statements
        .pop_front()
        .ok_or_else(|| Error::InvalidRequest("the query has no statement".into()))?;
    check_statement(&statement)?;
    check_tables(&statement, state)?;
    Ok(statement)
}

/// Refuses every statement kind but queries, EXPLAIN, SHOW and DESCRIBE.
fn check_statement(statement: &DfStatement) -> Result<()> {
    match statement {
        DfStatement::Statement(inner) => check_sql_statement(inner),
        DfStatement::Explain(explain) => check_statement(&explain.statement),
        DfStatement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(refused("COPY")),
        DfStatement::Reset(_) => Err(refused("RESET")),
    }
}

fn check_sql_statement(statement: &SqlStatement) -> Result<()> {
    match statement {
        SqlStatement::Query(_)
        | SqlStatement::ExplainTable { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ShowVariable { .. }
        | SqlStatement::ShowFunctions { .. } => {}
        SqlStatement::Explain { statement, .. } => check_sql_statement(statement)?,
        other => return Err(refused(&statement_name(other))),
    }
    let mut visitor = RelationCheck;
    if let ControlFlow::Break(error) = statement.visit(&mut visitor) {
        return Err(error);
    }
    Ok(())
}

/// `INSERT`, `CREATE TABLE`, `DROP VIEW`: the leading keywords of the statement.
fn statement_name(statement: &SqlStatement) -> String {
    let text = statement.to_string();
    let mut words = text.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next().unwrap_or_default();
    let two_words = matches!(
        first.as_str(),
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "SHOW" | "START" | "SET"
    );
    match words.next() {
        Some(second) if two_words && second.chars().all(|c| c.is_ascii_alphabetic()) => {
            format!("{first} {second}")
        }
        _ => first,
    }
}

fn refused(what: &str) -> Error {
    Error::NotAllowed(format!("{what} is not allowed: {ALLOWED}"))
}

/// Refuses table functions anywhere in the statement (subqueries and CTEs included).
struct RelationCheck;

impl Visitor for RelationCheck {
    type Break = Error;

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Error> {
        let function = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => Some(name.to_string()),
            TableFactor::Function { name, .. } => Some(name.to_string()),
            TableFactor::TableFunction { expr, .. } => Some(expr.to_string()),
            _ => None,
        };
        match function {
            Some(name) => ControlFlow::Break(Error::NotAllowed(format!(
                "table function {name} is not allowed: the SQL API reads only the tables meshscope stores"
            ))),
            None => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Error> {
        // A file path or URL used as a table name is refused here with a clear message;
        // `check_tables` catches every other unknown name.
        let text = relation.to_string();
        if text.contains('/') || text.contains("://") || text.contains('\\') {
            return ControlFlow::Break(Error::NotAllowed(format!(
                "reading files is not allowed: {text} is not a table; the SQL API reads only the tables meshscope stores"
            )));
        }
        ControlFlow::Continue(())
    }
}

/// Refuses names that are not tables of the engine's catalog (the tables storage holds, and
/// `information_schema`).
fn check_tables(statement: &DfStatement, state: &SessionState) -> Result<()> {
    let options = state.config().options();
    let default_catalog = options.catalog.default_catalog.clone();
    let default_schema = options.catalog.default_schema.clone();
    let tables = state
        .catalog_list()
        .catalog(&default_catalog)
        .and_then(|c| c.schema(&default_schema));
    for reference in state.resolve_table_references(statement)? {
        let resolved = reference.clone().resolve(&default_catalog, &default_schema);
        let table = resolved.table.as_ref();
        let known = resolved.catalog.as_ref() == default_catalog
            && ((resolved.schema.as_ref() == default_schema
                && tables.as_ref().is_some_and(|t| t.table_exist(table)))
                || (resolved.schema.as_ref() == "information_schema"
                    && INFORMATION_SCHEMA.contains(&table)));
        if !known {
            let mut names = tables.as_ref().map(|t| t.table_names()).unwrap_or_default();
            names.sort();
            return Err(Error::InvalidRequest(format!(
                "unknown table {reference}: the tables are {} and information_schema.*",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Verifies a planned statement with DataFusion's own read-only options.
pub(crate) fn verify_plan(plan: &LogicalPlan) -> Result<()> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| Error::NotAllowed(format!("{e}: {ALLOWED}")))
}
