//! The Postgres `Dialect`: a plan's SQL for the PostgreSQL store, as PostgREST writes it —
//! `$n` parameters (sent as text, typed by the server from their use), JSON built with
//! `row_to_json` and `json_agg`, Postgres's own operators for patterns and containment.

use crate::rest::plan::{Cast, Computed, PatternKind};
use crate::rest::query::Dialect;
use crate::rest::request::{ContainOperator, JsonKey, JsonStep};
use crate::schema::{Column, PgType, QualifiedName};
use crate::store::naming::{quote_ident, quote_literal};
use crate::store::range::RangeType;

pub struct Postgres;

impl Dialect for Postgres {
    fn placeholder(&self, number: usize) -> String {
        format!("${number}")
    }

    fn relation(&self, name: &QualifiedName) -> String {
        format!("{}.{}", quote_ident(&name.schema), quote_ident(&name.name))
    }

    fn row_id(&self) -> &'static str {
        "ctid"
    }

    fn id_list(&self, placeholder: &str) -> String {
        format!("(SELECT unnest(CAST({placeholder} AS tid[])))")
    }

    fn json_value(&self, sql: &str, pg_type: &PgType) -> (String, bool) {
        // `row_to_json` renders every type as Postgres sends it in JSON.
        let json = matches!(pg_type, PgType::Json | PgType::Jsonb | PgType::Array(_));
        (sql.to_owned(), json)
    }

    fn json_path(&self, base: &str, path: &[JsonStep]) -> String {
        let mut sql = base.to_owned();
        for (index, step) in path.iter().enumerate() {
            let key = match &step.key {
                JsonKey::Name(name) => quote_literal(name),
                JsonKey::Index(index) => index.to_string(),
            };
            let arrow = if step.as_text && index + 1 == path.len() {
                "->>"
            } else {
                "->"
            };
            sql = format!("({sql} {arrow} {key})");
        }
        sql
    }

    fn as_json(&self, sql: &str) -> String {
        sql.to_owned()
    }

    fn object(&self, entries: &[(String, String)]) -> String {
        // A row of named columns rather than `json_build_object`, which takes at most 50 pairs.
        let columns: Vec<String> = entries
            .iter()
            .map(|(key, value)| format!("{value} AS {}", quote_ident(key)))
            .collect();
        format!(
            "(SELECT row_to_json(_object) FROM (SELECT {}) AS _object)",
            columns.join(", ")
        )
    }

    /// PostGIS builds the Feature from the whole row, finding its geometry column itself.
    fn feature(
        &self,
        entries: &[(String, String)],
        _geometry: Option<(&str, &str)>,
    ) -> Option<String> {
        let columns: Vec<String> = entries
            .iter()
            .map(|(key, value)| format!("{value} AS {}", quote_ident(key)))
            .collect();
        Some(format!(
            "(SELECT ST_AsGeoJSON(_object)::json FROM (SELECT {}) AS _object)",
            columns.join(", ")
        ))
    }

    fn array_and_count(&self, row: &str, from_rest: &str) -> String {
        format!(
            "SELECT coalesce(json_agg(_row), '[]'), count(*) FROM (SELECT {row} AS _row {from_rest}) AS _rows"
        )
    }

    fn array(&self, row: &str, from_rest: &str) -> String {
        format!(
            "SELECT coalesce(json_agg(_row), '[]') FROM (SELECT {row} AS _row {from_rest}) AS _rows"
        )
    }

    fn single_array(&self, sql: &str) -> String {
        format!("json_build_array({sql})")
    }

    fn ordered_by_row_id(&self) -> bool {
        false
    }

    fn unlimited(&self) -> &'static str {
        "LIMIT ALL"
    }

    fn cast(&self, sql: &str, _from: &PgType, cast: Cast) -> (String, bool) {
        match cast {
            Cast::Text => (format!("CAST({sql} AS TEXT)"), false),
            Cast::Integer => (format!("CAST({sql} AS INTEGER)"), false),
            Cast::Numeric => (format!("CAST({sql} AS NUMERIC)"), false),
            Cast::Boolean => (format!("CAST({sql} AS BOOLEAN)"), false),
            Cast::Json => (format!("to_json({sql})"), true),
        }
    }

    fn pattern(&self, kind: PatternKind, sql: &str, placeholder: &str) -> String {
        // An `imatch` pattern arrives prefixed with `(?i)`, which Postgres's regexes read too.
        let operator = match kind {
            PatternKind::Like => "LIKE",
            PatternKind::Ilike => "ILIKE",
            PatternKind::Match | PatternKind::Imatch => "~",
        };
        format!("(CAST({sql} AS TEXT) {operator} {placeholder})")
    }

    fn array_contain(&self, operator: ContainOperator, sql: &str, placeholder: &str) -> String {
        // The values arrive as a JSON array; compared as text, the element type's output form.
        format!(
            "(CAST({sql} AS TEXT[]) {} ARRAY(SELECT json_array_elements_text(CAST({placeholder} AS JSON))))",
            operator.symbol()
        )
    }

    fn json_contain(&self, operator: ContainOperator, sql: &str, placeholder: &str) -> String {
        format!(
            "(CAST({sql} AS JSONB) {} CAST({placeholder} AS JSONB))",
            operator.symbol()
        )
    }

    fn range_operator(
        &self,
        symbol: &str,
        kind: RangeType,
        sql: &str,
        placeholder: &str,
    ) -> String {
        format!("({sql} {symbol} CAST({placeholder} AS {}))", kind.name())
    }

    /// The function called on the row rebuilt as its table's type (the parent may be a
    /// subquery, whose whole-row reference is a bare record).
    fn row_call(&self, computed: &Computed, alias: &str) -> String {
        let fields: Vec<String> = computed
            .columns
            .iter()
            .map(|column| format!("{alias}.{}", quote_ident(column)))
            .collect();
        format!(
            "{}(CAST(ROW({}) AS {}))",
            self.relation(&computed.function),
            fields.join(", "),
            self.relation(&computed.table)
        )
    }

    fn row_call_rows(
        &self,
        computed: &Computed,
        _columns: &[Column],
        parent: &str,
        child: &str,
    ) -> String {
        format!("{} AS {child}", self.row_call(computed, parent))
    }
}
