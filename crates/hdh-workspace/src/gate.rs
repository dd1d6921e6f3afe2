//! The SQL gatekeeper: inspects a researcher's statement *before* it reaches
//! the engine and refuses everything outside the project's sandbox with a
//! message that says what was refused and what is allowed instead.
//!
//! The project session is already locked down (only the project's tables are
//! registered, DDL/DML/statements are disabled by [`SQLOptions`], URL tables
//! are off); the gate is a second, independent wall that works on the syntax
//! tree alone, so a mistake in one does not open the other. It is
//! allow-list based: a statement is accepted only if it is one of
//!
//! * a read-only query (`SELECT`, `WITH`, `VALUES`, set operations),
//!   `EXPLAIN [ANALYZE] [VERBOSE]` of one, `DESCRIBE` of a project table or of
//!   a query, `SHOW TABLES`, `SHOW COLUMNS FROM <project table>`
//!   ([`Checked::Query`]);
//! * `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] scratch.<name> AS <query>`
//!   ([`Checked::CreateScratch`]);
//! * `DROP TABLE [IF EXISTS] scratch.<name>` ([`Checked::DropScratch`]);
//!
//! and every relation anywhere in it (subqueries, CTE bodies, joins, set
//! operations, `EXPLAIN`'s statement, the CTAS query) is a CTE of the
//! statement, a project table (`T`, `public.T`, `datafusion.public.T`), a
//! scratch table (`scratch.S`, `datafusion.scratch.S`) or one of
//! `information_schema.{tables,columns,views,schemata}`. Names compare
//! exactly, as the engine does with identifier normalization off.
//!
//! Refusals carry a [`RefusalKind`] and a stable rule id:
//!
//! | rule                  | kind         | what                                                        |
//! |-----------------------|--------------|-------------------------------------------------------------|
//! | `parse`               | invalid      | the parser's error (with line and column when it has them) |
//! | `empty`               | invalid      | no statement at all (only comments or `;`)                  |
//! | `multiple_statements` | not_allowed  | more than one statement                                     |
//! | `unknown_table`       | out_of_scope | a relation that is not the project's (with "did you mean")  |
//! | `information_schema`  | out_of_scope | an `information_schema` table other than the four above     |
//! | `file_access`         | not_allowed  | a file path or URL used as a table, `ATTACH`, `LOAD DATA`…  |
//! | `table_function`      | not_allowed  | a table function other than generate_series/range/unnest    |
//! | `external_table`      | not_allowed  | `CREATE EXTERNAL TABLE`                                     |
//! | `copy`                | not_allowed  | `COPY … TO/FROM`, `COPY INTO`                               |
//! | `settings`            | not_allowed  | `SET`, `RESET`, `SHOW ALL`/`SHOW <var>`, `df_settings`      |
//! | `dml`                 | not_allowed  | `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE`           |
//! | `ddl`                 | not_allowed  | any other `CREATE`/`DROP`/`ALTER`, `SELECT … INTO`, a CTAS outside `scratch` |
//! | `scratch_name`        | not_allowed  | a scratch table name that is not a plain identifier         |
//! | `transaction`         | not_allowed  | `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints                   |
//! | `prepared_statement`  | not_allowed  | `PREPARE`, `EXECUTE`, `DEALLOCATE`                          |
//! | `explain`             | not_allowed  | `EXPLAIN`/`DESCRIBE` of something other than a query        |
//! | `show`                | not_allowed  | `SHOW` forms other than `SHOW TABLES` / `SHOW COLUMNS`      |
//! | `unsupported`         | not_allowed  | `PIVOT`, `JSON_TABLE`… in `FROM`                            |
//! | `function`            | not_allowed  | a function on [`DENIED_FUNCTIONS`] (`input_file_name`, …)   |
//! | `statement`           | not_allowed  | every other statement (`GRANT`, `PRAGMA`, `INSTALL`, …)     |
//!
//! [`SQLOptions`]: datafusion::execution::context::SQLOptions

use std::ops::ControlFlow;

use datafusion::error::DataFusionError;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    DescribeAlias, Expr, Ident, ObjectName, ObjectType, PipeOperator, Query, Select, SetExpr,
    Statement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// What the statement may see.
pub struct Scope<'a> {
    /// The project's tables (schema `public` of the default catalog `datafusion`), exact names.
    pub tables: &'a [String],
    /// The project's derived tables (schema `scratch`), exact names.
    pub scratch: &'a [String],
}

/// An accepted statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// A read-only query (SELECT, WITH, VALUES, set operations, EXPLAIN [ANALYZE|VERBOSE] of one,
    /// DESCRIBE of a project table or a query, SHOW TABLES / SHOW COLUMNS FROM <project table>,
    /// which DataFusion plans as information_schema queries).
    Query,
    /// CREATE [OR REPLACE] TABLE [IF NOT EXISTS] scratch.<name> AS <query>: `query` is the SQL text of the
    /// query part (re-rendered from the AST), checked like any query.
    CreateScratch {
        name: String,
        query: String,
        replace: bool,
        if_not_exists: bool,
    },
    /// DROP TABLE [IF EXISTS] scratch.<name>
    DropScratch { name: String, if_exists: bool },
}

/// Why a statement was refused, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// It names data that is not the project's.
    OutOfScope,
    /// It is a kind of statement or construct the workspace does not offer.
    NotAllowed,
    /// It is not SQL the engine can parse.
    Invalid,
}

/// A refused statement: the message is meant for the researcher.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    /// Stable short rule id (see the module documentation for the list).
    pub rule: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(kind: RefusalKind, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            rule,
            message: message.into(),
        }
    }

    fn not_allowed(rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::NotAllowed, rule, message)
    }
}

/// Table functions that may appear in `FROM` (compared ignoring case; the
/// engine resolves them itself). DataFusion 55 registers only
/// `generate_series` and `range` (`datafusion_functions_table::
/// all_default_table_functions`); `UNNEST` is a table factor of its own.
const TABLE_FUNCTIONS: &[&str] = &["generate_series", "range", "unnest"];

/// The `information_schema` tables a researcher may read.
const INFORMATION_SCHEMA: &[&str] = &["tables", "columns", "views", "schemata"];

/// Scalar, aggregate or window functions refused wherever they appear.
///
/// What was checked (DataFusion 55.2 with this workspace's features: core,
/// datetime, string, unicode, regex, nested, aggregate and window functions,
/// i.e. `SessionContext::new()`'s registry; see the test
/// `no_registered_function_touches_files_urls_or_the_environment`): no
/// function reads a file, a URL or the environment — the file-reading ones
/// (`read_parquet`, `read_csv`, `parquet_metadata`, …) belong to
/// datafusion-cli and are table functions, refused by [`TABLE_FUNCTIONS`].
/// Two functions describe the *storage* rather than the data, and are
/// refused: `input_file_name()` returns the path of the Parquet file a row
/// was read from (the lake's layout, project and dataset ids, or a local
/// directory), and `file_row_index()` a row's position in that file (the
/// order rows were written in, which the extraction does not promise to
/// hide). Add a name here if a future version or a registered UDF can reach
/// outside the session.
pub const DENIED_FUNCTIONS: &[&str] = &["input_file_name", "file_row_index"];

const QUERYABLE: &str = "Only the project's tables and its scratch tables can be queried.";
const WHAT_RUNS: &str = "only queries (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE, SHOW TABLES, SHOW COLUMNS), CREATE TABLE scratch.<name> AS <query> and DROP TABLE scratch.<name> can be run";

/// Checks one SQL statement against the project's scope, before execution.
pub fn check(sql: &str, scope: &Scope<'_>) -> Result<Checked, Refusal> {
    let statements = match DFParser::parse_sql(sql) {
        Ok(statements) => statements,
        Err(e) => return Err(parse_failure(sql, &e)),
    };
    let count = statements.len();
    let mut statements = statements.into_iter();
    match (statements.next(), count) {
        (None, _) => Err(Refusal::new(
            RefusalKind::Invalid,
            "empty",
            "there is no SQL statement to check: write one query.",
        )),
        (Some(statement), 1) => Gate { scope }.df_statement(&statement),
        (Some(_), n) => Err(multiple_statements(n)),
    }
}

fn multiple_statements(n: usize) -> Refusal {
    Refusal::not_allowed(
        "multiple_statements",
        format!(
            "one statement at a time: this text holds {n} statements separated by ';', run them one by one."
        ),
    )
}

struct Gate<'s, 'a> {
    scope: &'s Scope<'a>,
}

impl Gate<'_, '_> {
    fn df_statement(&self, statement: &DfStatement) -> Result<Checked, Refusal> {
        match statement {
            DfStatement::Statement(s) => self.statement(s),
            DfStatement::CreateExternalTable(c) => Err(Refusal::not_allowed(
                "external_table",
                format!(
                    "CREATE EXTERNAL TABLE {} is not allowed: SQL cannot read files or URLs in a project workspace; query the project's tables, or keep a result with CREATE TABLE scratch.<name> AS SELECT ...",
                    render_object_name(&c.name)
                ),
            )),
            DfStatement::CopyTo(_) => Err(copy()),
            DfStatement::Reset(_) => Err(settings("RESET")),
            DfStatement::Explain(explain) => {
                let inner = explain.statement.as_ref();
                // A refused inner statement is refused for its own reason.
                self.df_statement(inner)?;
                match inner {
                    DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Query(_)) => {
                        Ok(Checked::Query)
                    }
                    _ => Err(Refusal::not_allowed(
                        "explain",
                        "EXPLAIN of this statement is not allowed: only EXPLAIN [ANALYZE] [VERBOSE] of a query (SELECT, WITH, VALUES) can be run.",
                    )),
                }
            }
        }
    }

    fn statement(&self, statement: &Statement) -> Result<Checked, Refusal> {
        match statement {
            Statement::Query(q) => {
                self.query(q)?;
                Ok(Checked::Query)
            }
            // DESCRIBE <query> (EXPLAIN itself is parsed by DataFusion's parser).
            Statement::Explain {
                describe_alias,
                statement: inner,
                ..
            } => {
                self.statement(inner)?;
                match (describe_alias, inner.as_ref()) {
                    (DescribeAlias::Describe | DescribeAlias::Desc, Statement::Query(_)) => {
                        Ok(Checked::Query)
                    }
                    _ => Err(Refusal::not_allowed(
                        "explain",
                        "this form of EXPLAIN/DESCRIBE is not allowed: only EXPLAIN [ANALYZE] [VERBOSE] <query>, DESCRIBE <query> and DESCRIBE <project table> can be run.",
                    )),
                }
            }
            Statement::ExplainTable {
                describe_alias,
                table_name,
                ..
            } => {
                self.relation(table_name, &[])?;
                match describe_alias {
                    DescribeAlias::Describe | DescribeAlias::Desc => Ok(Checked::Query),
                    DescribeAlias::Explain => Err(Refusal::not_allowed(
                        "explain",
                        "EXPLAIN <table> is not allowed: use DESCRIBE <table>, or EXPLAIN of a query.",
                    )),
                }
            }
            Statement::ShowTables { .. } => {
                if statement.to_string() == "SHOW TABLES" {
                    Ok(Checked::Query)
                } else {
                    Err(Refusal::not_allowed(
                        "show",
                        "only plain SHOW TABLES is allowed (no IN, LIKE, FULL or EXTENDED): filter information_schema.tables with a query instead.",
                    ))
                }
            }
            Statement::ShowColumns { show_options, .. } => {
                let table = show_options
                    .show_in
                    .as_ref()
                    .filter(|i| i.parent_type.is_none())
                    .and_then(|i| i.parent_name.as_ref());
                match table {
                    Some(table)
                        if show_options.starts_with.is_none()
                            && show_options.limit.is_none()
                            && show_options.limit_from.is_none()
                            && show_options.filter_position.is_none() =>
                    {
                        self.relation(table, &[])?;
                        Ok(Checked::Query)
                    }
                    _ => Err(Refusal::not_allowed(
                        "show",
                        "only SHOW COLUMNS FROM <project table> is allowed: filter information_schema.columns with a query instead.",
                    )),
                }
            }
            Statement::CreateTable(create) => self.create_table(statement, create),
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => self.drop(statement, *object_type, *if_exists, names),
            other => Err(refuse_statement(other)),
        }
    }

    fn create_table(
        &self,
        statement: &Statement,
        create: &datafusion::sql::sqlparser::ast::CreateTable,
    ) -> Result<Checked, Refusal> {
        let shown = render_object_name(&create.name);
        let Some(query) = &create.query else {
            return Err(Refusal::not_allowed(
                "ddl",
                format!(
                    "CREATE TABLE {shown} without AS <query> is not allowed: scratch tables are made from a query, as CREATE TABLE scratch.<name> AS SELECT ..."
                ),
            ));
        };
        let Some(name) = scratch_table(&create.name) else {
            return Err(Refusal::not_allowed(
                "ddl",
                format!(
                    "CREATE TABLE {shown} is not allowed: tables can only be created in the project's scratch schema, as CREATE TABLE scratch.<name> AS SELECT ..."
                ),
            ));
        };
        if !is_plain_identifier(name) {
            return Err(bad_scratch_name(name));
        }
        let canonical = format!(
            "CREATE {}TABLE {}{} AS {}",
            if create.or_replace { "OR REPLACE " } else { "" },
            if create.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            create.name,
            query
        );
        if statement.to_string() != canonical {
            return Err(Refusal::not_allowed(
                "ddl",
                format!(
                    "CREATE TABLE {shown} with column definitions or other options is not allowed: only CREATE [OR REPLACE] TABLE [IF NOT EXISTS] scratch.<name> AS <query> can be run."
                ),
            ));
        }
        self.query(query)?;
        Ok(Checked::CreateScratch {
            name: name.to_string(),
            query: query.to_string(),
            replace: create.or_replace,
            if_not_exists: create.if_not_exists,
        })
    }

    fn drop(
        &self,
        statement: &Statement,
        object_type: ObjectType,
        if_exists: bool,
        names: &[ObjectName],
    ) -> Result<Checked, Refusal> {
        let only_scratch = "only the project's scratch tables can be dropped, one at a time, as DROP TABLE [IF EXISTS] scratch.<name>.";
        if object_type != ObjectType::Table {
            return Err(Refusal::not_allowed(
                "ddl",
                format!("DROP {object_type} is not allowed: {only_scratch}"),
            ));
        }
        let [object] = names else {
            return Err(Refusal::not_allowed(
                "ddl",
                format!("DROP TABLE of several tables is not allowed: {only_scratch}"),
            ));
        };
        let shown = render_object_name(object);
        let Some(name) = scratch_table(object) else {
            return Err(Refusal::not_allowed(
                "ddl",
                format!("DROP TABLE {shown} is not allowed: {only_scratch}"),
            ));
        };
        let canonical = format!(
            "DROP TABLE {}{object}",
            if if_exists { "IF EXISTS " } else { "" }
        );
        if statement.to_string() != canonical {
            return Err(Refusal::not_allowed(
                "ddl",
                format!(
                    "DROP TABLE {shown} with CASCADE, PURGE or other options is not allowed: {only_scratch}"
                ),
            ));
        }
        if !self.scope.scratch.iter().any(|s| s == name) {
            if !is_plain_identifier(name) {
                return Err(bad_scratch_name(name));
            }
            if !if_exists {
                let hint = self
                    .suggest(&[name.to_string()], &[], true)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                return Err(Refusal::new(
                    RefusalKind::OutOfScope,
                    "unknown_table",
                    format!(
                        "out of scope: there is no scratch table {shown} in this project{hint}. Only the project's own scratch tables can be dropped."
                    ),
                ));
            }
        }
        Ok(Checked::DropScratch {
            name: name.to_string(),
            if_exists,
        })
    }

    fn query(&self, query: &Query) -> Result<(), Refusal> {
        let mut walker = Walker {
            gate: self,
            ctes: Vec::new(),
        };
        match query.visit(&mut walker) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(refusal) => Err(refusal),
        }
    }

    /// Checks one relation name; `ctes` are the CTE names visible there.
    fn relation(&self, name: &ObjectName, ctes: &[Vec<String>]) -> Result<(), Refusal> {
        let Some(idents) = name
            .0
            .iter()
            .map(|p| p.as_ident())
            .collect::<Option<Vec<&Ident>>>()
        else {
            return Err(Refusal::not_allowed(
                "table_function",
                format!(
                    "{} is not allowed as a table name: table names are written out, and only the project's tables and its scratch tables can be queried.",
                    render_object_name(name)
                ),
            ));
        };
        let parts: Vec<String> = idents.iter().map(|i| i.value.clone()).collect();
        if idents.iter().any(|i| i.quote_style == Some('\''))
            || parts.iter().any(|p| looks_like_path(p))
        {
            return Err(Refusal::not_allowed(
                "file_access",
                format!(
                    "reading files or URLs is not allowed: {} is not a table of this project. {QUERYABLE}",
                    render_object_name(name)
                ),
            ));
        }
        if let [one] = parts.as_slice()
            && ctes.iter().flatten().any(|c| c == one)
        {
            return Ok(());
        }
        let parts_str: Vec<&str> = parts.iter().map(String::as_str).collect();
        let in_tables = |t: &str| self.scope.tables.iter().any(|x| x == t);
        let in_scratch = |t: &str| self.scope.scratch.iter().any(|x| x == t);
        match parts_str.as_slice() {
            [t] | ["public", t] | ["datafusion", "public", t] if in_tables(t) => return Ok(()),
            ["scratch", s] | ["datafusion", "scratch", s] if in_scratch(s) => return Ok(()),
            ["information_schema", x] | ["datafusion", "information_schema", x] => {
                if INFORMATION_SCHEMA.contains(x) {
                    return Ok(());
                }
                if *x == "df_settings" {
                    return Err(settings("reading information_schema.df_settings"));
                }
                return Err(Refusal::new(
                    RefusalKind::OutOfScope,
                    "information_schema",
                    format!(
                        "out of scope: {} is not available; only information_schema.tables, columns, views and schemata can be read.",
                        render_object_name(name)
                    ),
                ));
            }
            _ => {}
        }
        let hint = self
            .suggest(&parts, ctes, false)
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        Err(Refusal::new(
            RefusalKind::OutOfScope,
            "unknown_table",
            format!(
                "out of scope: there is no table {} in this project{hint}. {QUERYABLE}",
                render_object_name(name)
            ),
        ))
    }

    /// A close allowed name for a refused one: equal ignoring case, quotes,
    /// spaces, invisible characters and look-alike letters, else the same
    /// last part, else within two edits.
    fn suggest(
        &self,
        parts: &[String],
        ctes: &[Vec<String>],
        only_scratch: bool,
    ) -> Option<String> {
        let mut candidates: Vec<(String, String)> = Vec::new();
        let mut add = |shown: String, form: &str| candidates.push((shown, loose(form)));
        if !only_scratch {
            for t in self.scope.tables {
                add(render_parts(&[t]), t);
                add(render_parts(&["public", t]), &format!("public.{t}"));
                add(
                    render_parts(&["datafusion", "public", t]),
                    &format!("datafusion.public.{t}"),
                );
            }
        }
        for s in self.scope.scratch {
            let shown = render_parts(&["scratch", s]);
            add(shown.clone(), &format!("scratch.{s}"));
            add(shown.clone(), s);
            add(
                render_parts(&["datafusion", "scratch", s]),
                &format!("datafusion.scratch.{s}"),
            );
        }
        if !only_scratch {
            for x in INFORMATION_SCHEMA {
                add(
                    render_parts(&["information_schema", x]),
                    &format!("information_schema.{x}"),
                );
            }
            for c in ctes.iter().flatten() {
                add(render_parts(&[c]), c);
            }
        }
        let wanted = loose(&parts.join("."));
        if let Some((shown, _)) = candidates.iter().find(|(_, l)| *l == wanted) {
            return Some(shown.clone());
        }
        if parts.len() > 1
            && let Some(last) = parts.last()
        {
            let last = loose(last);
            if let Some(t) = self
                .scope
                .tables
                .iter()
                .filter(|_| !only_scratch)
                .find(|t| loose(t) == last)
            {
                return Some(render_parts(&[t]));
            }
        }
        if wanted.chars().count() < 4 {
            return None;
        }
        candidates
            .iter()
            .map(|(shown, l)| (edit_distance(l, &wanted), shown))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, shown)| shown.clone())
    }
}

/// Walks every query, table factor, expression and nested statement.
struct Walker<'g, 's, 'a> {
    gate: &'g Gate<'s, 'a>,
    /// CTE names visible at this point, one frame per enclosing query.
    ctes: Vec<Vec<String>>,
}

impl Visitor for Walker<'_, '_, '_> {
    type Break = Refusal;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        let names = query
            .with
            .as_ref()
            .map(|w| {
                w.cte_tables
                    .iter()
                    .map(|c| c.alias.name.value.clone())
                    .collect()
            })
            .unwrap_or_default();
        self.ctes.push(names);
        if query.settings.is_some() {
            return ControlFlow::Break(settings("a SETTINGS clause"));
        }
        for op in &query.pipe_operators {
            if let PipeOperator::Call { function, .. } = op {
                return ControlFlow::Break(table_function(&render_object_name(&function.name)));
            }
        }
        if let Err(r) = self.set_expr(&query.body) {
            return ControlFlow::Break(r);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<Refusal> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
        if let Some(into) = &select.into {
            return ControlFlow::Break(Refusal::not_allowed(
                "ddl",
                format!(
                    "SELECT ... INTO {} is not allowed: to keep a result, use CREATE TABLE scratch.<name> AS SELECT ...",
                    render_object_name(&into.name)
                ),
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        let result = match factor {
            TableFactor::Table {
                name, args: None, ..
            } => self.gate.relation(name, &self.ctes),
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => allowed_table_function(name),
            TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. } => Ok(()),
            TableFactor::TableFunction { .. } => Err(table_function("TABLE(...)")),
            TableFactor::JsonTable { .. } => Err(unsupported_factor("JSON_TABLE")),
            TableFactor::OpenJsonTable { .. } => Err(unsupported_factor("OPENJSON")),
            TableFactor::XmlTable { .. } => Err(unsupported_factor("XMLTABLE")),
            TableFactor::Pivot { .. } => Err(unsupported_factor("PIVOT")),
            TableFactor::Unpivot { .. } => Err(unsupported_factor("UNPIVOT")),
            TableFactor::MatchRecognize { .. } => Err(unsupported_factor("MATCH_RECOGNIZE")),
            _ => Err(unsupported_factor("this construct")),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(r) => ControlFlow::Break(r),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        if let Expr::Function(f) = expr
            && let Some(last) = f.name.0.last().and_then(|p| p.as_ident())
            && DENIED_FUNCTIONS
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&last.value))
        {
            return ControlFlow::Break(Refusal::not_allowed(
                "function",
                format!(
                    "function {} is not allowed: it reveals how the hub stores the data (file paths, row positions in files), not the data itself; query the tables' columns instead.",
                    render_object_name(&f.name)
                ),
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Refusal> {
        // Statements nested in a query: `WITH x AS (INSERT ...)`, `(UPDATE ...)`.
        ControlFlow::Break(refuse_statement(statement))
    }
}

impl Walker<'_, '_, '_> {
    /// `TABLE t` query bodies, which hold a relation outside any table factor.
    fn set_expr(&self, body: &SetExpr) -> Result<(), Refusal> {
        match body {
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            SetExpr::Table(table) => {
                let parts: Vec<Ident> = table
                    .schema_name
                    .iter()
                    .chain(table.table_name.iter())
                    .map(|p| Ident::with_quote('"', p.as_str()))
                    .collect();
                self.gate.relation(&ObjectName::from(parts), &self.ctes)
            }
            _ => Ok(()),
        }
    }
}

fn allowed_table_function(name: &ObjectName) -> Result<(), Refusal> {
    let single = match name.0.as_slice() {
        [part] => part.as_ident(),
        _ => None,
    };
    match single {
        Some(ident)
            if TABLE_FUNCTIONS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&ident.value)) =>
        {
            Ok(())
        }
        _ => Err(table_function(&render_object_name(name))),
    }
}

fn table_function(name: &str) -> Refusal {
    Refusal::not_allowed(
        "table_function",
        format!(
            "table function {name} is not allowed: functions that read files or URLs are not available in a project workspace, only generate_series, range and unnest can be used in FROM."
        ),
    )
}

fn unsupported_factor(what: &str) -> Refusal {
    Refusal::not_allowed(
        "unsupported",
        format!(
            "{what} in FROM is not allowed: only tables, subqueries, joins, UNNEST, generate_series and range can be used in FROM."
        ),
    )
}

fn copy() -> Refusal {
    Refusal::not_allowed(
        "copy",
        "COPY is not allowed: SQL cannot read or write files in a project workspace, results leave only through a release; run the query itself (SELECT ...) or keep it with CREATE TABLE scratch.<name> AS SELECT ...",
    )
}

fn settings(what: &str) -> Refusal {
    Refusal::not_allowed(
        "settings",
        format!(
            "{what} is not allowed: the session's settings are fixed by the hub and cannot be read or changed from SQL; only queries on the project's tables can be run."
        ),
    )
}

fn bad_scratch_name(name: &str) -> Refusal {
    Refusal::not_allowed(
        "scratch_name",
        format!(
            "scratch table name {} is not allowed: use letters, digits and underscores, starting with a letter or an underscore (at most 63 characters).",
            render_parts(&[name])
        ),
    )
}

/// The refusal for a statement kind that is never allowed.
fn refuse_statement(statement: &Statement) -> Refusal {
    let verb = verb(statement);
    match statement {
        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_)
        | Statement::Truncate(_) => Refusal::not_allowed(
            "dml",
            format!(
                "{verb} is not allowed: the project's tables are read-only; to keep a derived result, use CREATE TABLE scratch.<name> AS SELECT ..."
            ),
        ),
        Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } => copy(),
        Statement::ShowVariable { variable } => {
            let name: Vec<&str> = variable.iter().map(|i| i.value.as_str()).collect();
            let name = name.join(".");
            if name.eq_ignore_ascii_case("all") {
                settings("SHOW ALL")
            } else {
                settings(&format!("SHOW {}", visible(&name)))
            }
        }
        Statement::Set(_)
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::AlterSession { .. }
        | Statement::Reset(_) => settings(&verb),
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => Refusal::not_allowed(
            "transaction",
            format!("{verb} is not allowed: a project workspace has no transactions; {WHAT_RUNS}."),
        ),
        Statement::Prepare { .. } | Statement::Execute { .. } | Statement::Deallocate { .. } => {
            Refusal::not_allowed(
                "prepared_statement",
                format!(
                    "{verb} is not allowed: prepared statements are not available; run the query itself."
                ),
            )
        }
        Statement::AttachDatabase { .. }
        | Statement::AttachDuckDBDatabase { .. }
        | Statement::DetachDuckDBDatabase { .. }
        | Statement::LoadData { .. }
        | Statement::Directory { .. }
        | Statement::Unload { .. }
        | Statement::ExportData(_)
        | Statement::List(_)
        | Statement::Remove(_) => Refusal::not_allowed(
            "file_access",
            format!(
                "{verb} is not allowed: SQL cannot read or write files in a project workspace; {WHAT_RUNS}."
            ),
        ),
        Statement::Query(_) => Refusal::not_allowed(
            "statement",
            format!("a nested query statement is not allowed here; {WHAT_RUNS}."),
        ),
        _ if verb.starts_with("CREATE")
            || verb.starts_with("ALTER")
            || verb.starts_with("DROP")
            || verb.starts_with("RENAME") =>
        {
            Refusal::not_allowed(
                "ddl",
                format!(
                    "{verb} is not allowed: only CREATE TABLE scratch.<name> AS <query> and DROP TABLE scratch.<name> can change the workspace."
                ),
            )
        }
        Statement::ShowFunctions { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowObjects(_)
        | Statement::ShowCharset(_)
        | Statement::ShowCollation { .. }
        | Statement::ShowProcessList { .. } => Refusal::not_allowed(
            "show",
            format!(
                "{verb} is not allowed: only SHOW TABLES and SHOW COLUMNS FROM <table> are, or a query on information_schema.tables, columns, views or schemata."
            ),
        ),
        _ => Refusal::not_allowed(
            "statement",
            format!("{verb} is not allowed in a project workspace: {WHAT_RUNS}."),
        ),
    }
}

/// The statement's leading keywords, for messages: `INSERT`, `CREATE VIEW`.
fn verb(statement: &Statement) -> String {
    let text = statement.to_string();
    let mut words = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_ascii_uppercase);
    let Some(first) = words.next() else {
        return "this statement".to_string();
    };
    const TWO_WORDS: &[&str] = &[
        "CREATE", "ALTER", "DROP", "SHOW", "ATTACH", "DETACH", "START",
    ];
    const MODIFIERS: &[&str] = &[
        "OR",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "GLOBAL",
        "LOCAL",
        "UNIQUE",
        "SECURE",
        "MATERIALIZED",
        "IF",
        "NOT",
        "EXISTS",
        "EXTERNAL",
        "VIRTUAL",
        "RECURSIVE",
    ];
    if TWO_WORDS.contains(&first.as_str())
        && let Some(second) = words.find(|w| !MODIFIERS.contains(&w.as_str()))
    {
        return format!("{first} {second}");
    }
    first
}

/// What a statement that does not parse was trying to do, if clear from its
/// first words; otherwise the parser's error.
fn parse_failure(sql: &str, error: &DataFusionError) -> Refusal {
    let dialect = GenericDialect {};
    if let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() {
        let mut statements: Vec<Vec<String>> = vec![Vec::new()];
        for token in &tokens {
            match token {
                Token::Whitespace(_) => {}
                Token::SemiColon => statements.push(Vec::new()),
                Token::Word(w) => {
                    if let Some(s) = statements.last_mut() {
                        s.push(w.value.to_ascii_uppercase());
                    }
                }
                other => {
                    if let Some(s) = statements.last_mut() {
                        s.push(other.to_string());
                    }
                }
            }
        }
        statements.retain(|s| !s.is_empty());
        if statements.len() > 1 {
            return multiple_statements(statements.len());
        }
        if let Some(words) = statements.first()
            && let Some(refusal) = refusal_for_words(words)
        {
            return refusal;
        }
    }
    Refusal::new(
        RefusalKind::Invalid,
        "parse",
        format!("invalid SQL: {}.", visible(&parser_message(error))),
    )
}

fn refusal_for_words(words: &[String]) -> Option<Refusal> {
    let first = words.first()?.as_str();
    let rest: Vec<&str> = words[1..]
        .iter()
        .map(String::as_str)
        .filter(|w| !matches!(*w, "OR" | "REPLACE" | "UNBOUNDED"))
        .collect();
    let verb = first.to_string();
    Some(match first {
        "COPY" => copy(),
        "SET" | "RESET" => settings(&verb),
        "SHOW" if rest.first() == Some(&"ALL") => settings("SHOW ALL"),
        "CREATE" if rest.first() == Some(&"EXTERNAL") => Refusal::not_allowed(
            "external_table",
            "CREATE EXTERNAL TABLE is not allowed: SQL cannot read files or URLs in a project workspace; query the project's tables, or keep a result with CREATE TABLE scratch.<name> AS SELECT ...",
        ),
        // A CREATE TABLE / DROP TABLE that does not parse may be a typo in an
        // allowed statement: the parser's message is more useful.
        "CREATE" | "DROP" | "ALTER" if !matches!(rest.first(), Some(&"TABLE") | None) => {
            let what = format!("{verb} {}", rest.first().copied().unwrap_or_default());
            Refusal::not_allowed(
                "ddl",
                format!(
                    "{} is not allowed: only CREATE TABLE scratch.<name> AS <query> and DROP TABLE scratch.<name> can change the workspace.",
                    visible(&what)
                ),
            )
        }
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" | "UPSERT" | "REPLACE" => {
            Refusal::not_allowed(
                "dml",
                format!(
                    "{verb} is not allowed: the project's tables are read-only; to keep a derived result, use CREATE TABLE scratch.<name> AS SELECT ..."
                ),
            )
        }
        "ATTACH" | "DETACH" | "UNLOAD" | "EXPORT" | "IMPORT" => Refusal::not_allowed(
            "file_access",
            format!(
                "{verb} is not allowed: SQL cannot read or write files in a project workspace; {WHAT_RUNS}."
            ),
        ),
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => Refusal::not_allowed(
            "prepared_statement",
            format!(
                "{verb} is not allowed: prepared statements are not available; run the query itself."
            ),
        ),
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "ABORT" => {
            Refusal::not_allowed(
                "transaction",
                format!(
                    "{verb} is not allowed: a project workspace has no transactions; {WHAT_RUNS}."
                ),
            )
        }
        "LOAD" | "INSTALL" | "PRAGMA" | "GRANT" | "REVOKE" | "CALL" | "VACUUM" | "USE" => {
            Refusal::not_allowed(
                "statement",
                format!("{verb} is not allowed in a project workspace: {WHAT_RUNS}."),
            )
        }
        _ => return None,
    })
}

fn parser_message(error: &DataFusionError) -> String {
    let root = error.find_root();
    let text = match root {
        DataFusionError::SQL(e, extra) => {
            format!("{e}{}", extra.as_deref().unwrap_or_default())
        }
        other => other.strip_backtrace(),
    };
    let mut text = text.as_str();
    for prefix in [
        "SQL error: ",
        "sql parser error: ",
        "Error during planning: ",
    ] {
        text = text.strip_prefix(prefix).unwrap_or(text);
    }
    text.trim_end_matches('.').to_string()
}

/// `scratch.S` or `datafusion.scratch.S`: S.
fn scratch_table(name: &ObjectName) -> Option<&str> {
    let parts: Option<Vec<&str>> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.as_str()))
        .collect();
    match parts?.as_slice() {
        ["scratch", s] | ["datafusion", "scratch", s] => Some(s),
        _ => None,
    }
}

fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

/// A path or URL used as a table name (DataFusion's URL tables).
fn looks_like_path(s: &str) -> bool {
    const EXTENSIONS: &[&str] = &[
        ".parquet", ".csv", ".tsv", ".json", ".ndjson", ".jsonl", ".avro", ".arrow", ".orc",
        ".txt", ".gz", ".bz2", ".xz", ".zst", ".zip",
    ];
    let lower = s.to_ascii_lowercase();
    s.contains('/')
        || s.contains('\\')
        || s.contains(':')
        || EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// An object name as the researcher should see it: plain parts as they are,
/// others double-quoted (string literals single-quoted), and every non-ASCII
/// or control character escaped, so that look-alikes show.
fn render_object_name(name: &ObjectName) -> String {
    let rendered: Vec<String> = name
        .0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) if i.quote_style == Some('\'') => {
                visible(&format!("'{}'", i.value.replace('\'', "''")))
            }
            Some(i) => render_part(&i.value),
            None => visible(&p.to_string()),
        })
        .collect();
    rendered.join(".")
}

fn render_parts(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| render_part(p))
        .collect::<Vec<_>>()
        .join(".")
}

fn render_part(part: &str) -> String {
    if is_plain_identifier(part) {
        part.to_string()
    } else {
        visible(&format!("\"{}\"", part.replace('"', "\"\"")))
    }
}

/// Escapes non-ASCII and control characters as `\u{XXXX}`, and shortens very
/// long text.
fn visible(s: &str) -> String {
    const MAX: usize = 200;
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        }
    }
    out
}

/// A name reduced for "did you mean": lower case, without quotes, spaces or
/// invisible characters, with full-width forms and Cyrillic/Greek
/// look-alikes mapped to ASCII.
fn loose(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !c.is_whitespace()
                && !matches!(c, '"' | '\'' | '`')
                && !matches!(u32::from(*c), 0x00AD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xFEFF)
        })
        .map(|c| {
            let c = match u32::from(c) {
                n @ 0xFF01..=0xFF5E => char::from_u32(n - 0xFEE0).unwrap_or(c),
                _ => c,
            };
            let c = match c {
                'А' | 'а' | 'Α' | 'α' => 'a',
                'В' | 'в' | 'Β' | 'β' => 'b',
                'С' | 'с' | 'Ϲ' | 'ϲ' => 'c',
                'Е' | 'е' | 'Ε' | 'ε' => 'e',
                'Н' | 'н' | 'Η' => 'h',
                'І' | 'і' | 'Ι' | 'ι' => 'i',
                'Ј' | 'ј' => 'j',
                'К' | 'к' | 'Κ' | 'κ' => 'k',
                'М' | 'м' | 'Μ' => 'm',
                'О' | 'о' | 'Ο' | 'ο' => 'o',
                'Р' | 'р' | 'Ρ' | 'ρ' => 'p',
                'Ѕ' | 'ѕ' => 's',
                'Т' | 'т' | 'Τ' | 'τ' => 't',
                'Х' | 'х' | 'Χ' | 'χ' => 'x',
                'У' | 'у' | 'Υ' | 'υ' => 'y',
                'Ζ' => 'z',
                'Ν' => 'n',
                other => other,
            };
            c.to_ascii_lowercase()
        })
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESCAPES: &str = include_str!("../tests/data/escapes.sql");
    const ALLOWED: &str = include_str!("../tests/data/allowed.sql");
    const OTHER_PROJECT: &str = "p-0123456789abcdef";

    struct Case {
        name: String,
        tags: Vec<String>,
        sql: String,
    }

    /// Blocks introduced by `-- case: <name> [tag] [tag]`, up to the next one.
    fn cases(text: &str) -> Vec<Case> {
        let mut out: Vec<Case> = Vec::new();
        for line in text.lines() {
            if let Some(header) = line.strip_prefix("-- case:") {
                let (name, tags) = header.split_once('[').unwrap_or((header, ""));
                let tags = tags
                    .split(['[', ']'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                out.push(Case {
                    name: name.trim().to_string(),
                    tags,
                    sql: String::new(),
                });
            } else if let Some(case) = out.last_mut() {
                case.sql.push_str(line);
                case.sql.push('\n');
            }
        }
        for case in &mut out {
            case.sql = case.sql.trim().replace("{other_project}", OTHER_PROJECT);
        }
        out
    }

    fn with_scope<T>(f: impl FnOnce(&Scope<'_>) -> T) -> T {
        let tables: Vec<String> = ["IR_BEN_R", "ER_PRS_F", "ER_PHA_F", "T_MCO23B"]
            .map(String::from)
            .to_vec();
        let scratch = vec!["cohort".to_string()];
        f(&Scope {
            tables: &tables,
            scratch: &scratch,
        })
    }

    fn run(sql: &str) -> Result<Checked, Refusal> {
        with_scope(|scope| check(sql, scope))
    }

    fn kind_name(kind: RefusalKind) -> &'static str {
        match kind {
            RefusalKind::OutOfScope => "out_of_scope",
            RefusalKind::NotAllowed => "not_allowed",
            RefusalKind::Invalid => "invalid",
        }
    }

    #[test]
    fn every_escape_is_refused_as_expected() {
        let cases = cases(ESCAPES);
        assert!(cases.len() >= 45, "only {} escape cases", cases.len());
        let mut names = std::collections::HashSet::new();
        let mut failures = Vec::new();
        for case in &cases {
            assert!(
                names.insert(case.name.clone()),
                "duplicate case {}",
                case.name
            );
            let expected_kind = case.tags.first().map(String::as_str);
            let expected_rule = case.tags.get(1).map(String::as_str);
            match run(&case.sql) {
                Ok(checked) => failures.push(format!("{}: accepted as {checked:?}", case.name)),
                Err(r) => {
                    if Some(kind_name(r.kind)) != expected_kind
                        || expected_rule.is_some_and(|rule| rule != r.rule)
                    {
                        failures.push(format!(
                            "{}: expected {:?}, got [{}] [{}] {}",
                            case.name,
                            case.tags,
                            kind_name(r.kind),
                            r.rule,
                            r.message
                        ));
                    }
                    if r.message.is_empty() || !r.message.is_ascii() || r.message.contains('\n') {
                        failures.push(format!(
                            "{}: message not one printable ASCII line: {:?}",
                            case.name, r.message
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn every_allowed_statement_passes() {
        let cases = cases(ALLOWED);
        assert!(cases.len() >= 15, "only {} allowed cases", cases.len());
        let mut failures = Vec::new();
        for case in &cases {
            let expected = case.tags.first().map(String::as_str);
            match run(&case.sql) {
                Ok(checked) => {
                    let got = match checked {
                        Checked::Query => "query",
                        Checked::CreateScratch { .. } => "create_scratch",
                        Checked::DropScratch { .. } => "drop_scratch",
                    };
                    if Some(got) != expected {
                        failures.push(format!("{}: expected {expected:?}, got {got}", case.name));
                    }
                }
                Err(r) => failures.push(format!(
                    "{}: refused [{}] [{}] {}",
                    case.name,
                    kind_name(r.kind),
                    r.rule,
                    r.message
                )),
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn create_scratch_reports_its_parts() {
        assert_eq!(
            run(
                "create or replace table scratch.cohort as select BEN_NIR_PSA from ER_PRS_F where 1 = 1"
            ),
            Ok(Checked::CreateScratch {
                name: "cohort".into(),
                query: "SELECT BEN_NIR_PSA FROM ER_PRS_F WHERE 1 = 1".into(),
                replace: true,
                if_not_exists: false,
            })
        );
        assert_eq!(
            run("CREATE TABLE IF NOT EXISTS datafusion.scratch.x AS VALUES (1)"),
            Ok(Checked::CreateScratch {
                name: "x".into(),
                query: "VALUES (1)".into(),
                replace: false,
                if_not_exists: true,
            })
        );
        // The query text is checked again like any query by whoever runs it.
        let Ok(Checked::CreateScratch { query, .. }) =
            run("CREATE TABLE scratch.y AS WITH a AS (SELECT 1 AS v) SELECT v FROM a")
        else {
            panic!("CTAS refused");
        };
        assert_eq!(run(&query), Ok(Checked::Query));
    }

    #[test]
    fn drop_scratch_reports_its_parts() {
        assert_eq!(
            run("DROP TABLE scratch.cohort"),
            Ok(Checked::DropScratch {
                name: "cohort".into(),
                if_exists: false
            })
        );
        assert_eq!(
            run("DROP TABLE IF EXISTS datafusion.scratch.gone"),
            Ok(Checked::DropScratch {
                name: "gone".into(),
                if_exists: true
            })
        );
    }

    #[test]
    fn messages_name_the_object_and_suggest_the_right_one() {
        let r = run("SELECT * FROM ER_PRS_G").unwrap_err();
        assert_eq!(
            r.message,
            "out of scope: there is no table ER_PRS_G in this project (did you mean ER_PRS_F?). \
             Only the project's tables and its scratch tables can be queried."
        );
        assert_eq!(r.to_string(), r.message);
        let r = run("select * from er_prs_f").unwrap_err();
        assert!(
            r.message.contains("(did you mean ER_PRS_F?)"),
            "{}",
            r.message
        );
        let r = run("SELECT * FROM \"public.ER_PRS_F\"").unwrap_err();
        assert!(
            r.message.contains("\"public.ER_PRS_F\"")
                && r.message.contains("(did you mean public.ER_PRS_F?)"),
            "{}",
            r.message
        );
        let r = run("SELECT * FROM \"ER_PRS_F \"").unwrap_err();
        assert!(
            r.message.contains("table \"ER_PRS_F \" in"),
            "{}",
            r.message
        );
        let r = run("SELECT * FROM cohort").unwrap_err();
        assert!(
            r.message.contains("(did you mean scratch.cohort?)"),
            "{}",
            r.message
        );
        let r = run("SELECT * FROM scratch.cohorte").unwrap_err();
        assert!(
            r.message.contains("(did you mean scratch.cohort?)"),
            "{}",
            r.message
        );
        let r = run(&format!("SELECT * FROM \"{OTHER_PROJECT}\".ER_PRS_F")).unwrap_err();
        assert!(
            r.message.contains("\"p-0123456789abcdef\".ER_PRS_F")
                && r.message.contains("(did you mean ER_PRS_F?)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn look_alike_characters_are_shown_escaped() {
        let r = run("SELECT * FROM \u{0415}R_PRS_F").unwrap_err();
        assert_eq!(r.kind, RefusalKind::OutOfScope);
        assert!(
            r.message.contains("\"\\u{0415}R_PRS_F\"")
                && r.message.contains("(did you mean ER_PRS_F?)"),
            "{}",
            r.message
        );
        let r = run("SELECT * FROM \"ER_PRS\u{200B}_F\"").unwrap_err();
        assert!(
            r.message.contains("\"ER_PRS\\u{200B}_F\"")
                && r.message.contains("(did you mean ER_PRS_F?)"),
            "{}",
            r.message
        );
        let r = run("SELECT * FROM \u{FF25}\u{FF32}_PRS_F").unwrap_err();
        assert!(
            r.message.contains("\\u{FF25}\\u{FF32}_PRS_F")
                && r.message.contains("(did you mean ER_PRS_F?)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn parse_errors_are_invalid_with_a_position() {
        let r = run("SELECT * FROM ER_PRS_F WHERE )").unwrap_err();
        assert_eq!((r.kind, r.rule), (RefusalKind::Invalid, "parse"));
        assert!(r.message.starts_with("invalid SQL: "), "{}", r.message);
        assert!(r.message.contains("Line: 1"), "{}", r.message);
        let r = run("SELECT 1;\nSELECT 2").unwrap_err();
        assert_eq!(r.rule, "multiple_statements");
    }

    #[test]
    fn refusals_name_what_is_refused_and_what_is_allowed() {
        for (sql, needle) in [
            ("COPY ER_PRS_F TO '/tmp/x'", "COPY is not allowed"),
            (
                "SET datafusion.execution.batch_size = 1",
                "SET is not allowed",
            ),
            ("INSERT INTO ER_PRS_F VALUES (1)", "INSERT is not allowed"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW is not allowed"),
            ("DROP TABLE ER_PRS_F", "DROP TABLE ER_PRS_F is not allowed"),
            (
                "SELECT * FROM read_parquet('x')",
                "table function read_parquet is not allowed",
            ),
            (
                "SELECT * FROM '/etc/passwd'",
                "'/etc/passwd' is not a table",
            ),
        ] {
            let r = run(sql).unwrap_err();
            assert!(r.message.contains(needle), "{sql}: {}", r.message);
            assert!(
                r.message.to_lowercase().contains("only") || r.message.contains("instead"),
                "{sql}: the message should say what is allowed: {}",
                r.message
            );
        }
    }

    /// What `DENIED_FUNCTIONS` rests on: none of the functions DataFusion
    /// registers by default reads a file, a URL or the environment. Fails if
    /// an upgrade registers one with a telling name, so that it gets looked at.
    #[test]
    fn no_registered_function_touches_files_urls_or_the_environment() {
        let ctx = datafusion::prelude::SessionContext::new();
        let state = ctx.state();
        let mut names: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        names.sort();
        let suspicious = [
            "file", "read", "url", "http", "env", "path", "load", "exec", "system", "shell",
            "open", "fetch", "getenv", "glob", "dir",
        ];
        let flagged: Vec<&String> = names
            .iter()
            .filter(|n| {
                suspicious
                    .iter()
                    .any(|s| n.to_ascii_lowercase().contains(s))
            })
            .collect();
        let unreviewed: Vec<&&String> = flagged
            .iter()
            .filter(|n| !DENIED_FUNCTIONS.contains(&n.as_str()))
            .collect();
        assert!(
            unreviewed.is_empty(),
            "look at these functions (and add the ones that reach outside to DENIED_FUNCTIONS): {unreviewed:?}"
        );
        for denied in DENIED_FUNCTIONS {
            assert!(
                names.iter().any(|n| n == denied),
                "{denied} is no longer registered: update DENIED_FUNCTIONS"
            );
        }
        let mut table_functions: Vec<&String> = state.table_functions().keys().collect();
        table_functions.sort();
        assert_eq!(table_functions, ["generate_series", "range"]);
        assert!(names.len() > 100, "{} functions", names.len());
    }
}
