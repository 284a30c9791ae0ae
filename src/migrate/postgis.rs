//! Postgis: PostGIS's SQL surface as the translator reads it while `create extension postgis`
//! is installed — the `geometry` and `geography` column types, casts to them (an explicit
//! `'POINT(1 2)'::geometry`, and every SQL write into such a column, through `pg_geometry`,
//! which checks the column's modifiers), a geometry column cast to json (its GeoJSON, as
//! PostGIS's cast), and calls of the `ST_*` functions `store::geometry` implements, unqualified
//! or qualified by the extension's schema. Without the extension they do not exist, as in
//! Postgres; modifiers and functions beyond the subset are refused with a hint.

use sqlparser::ast::{DataType, Expr, ObjectName};

use super::expression::Unsupported;
use super::translate::Refusal;
use crate::schema::{GeometryColumn, PgType, PrintedType, SchemaCache};
use crate::store::geometry::{self, functions::FUNCTIONS};

/// The extension's name in `create extension`.
pub const EXTENSION: &str = "postgis";

const SUBSET: &str = "Solobase implements PostGIS's geometry and geography types (points, line strings, polygons, their multi forms and collections) and ST_GeomFromText, ST_GeomFromEWKT, ST_GeomFromGeoJSON, ST_MakePoint, ST_SetSRID, ST_SRID, ST_X, ST_Y, ST_Z, ST_M, ST_AsText, ST_AsEWKT, ST_AsGeoJSON, ST_GeometryType and GeometryType";

fn installed(cache: &SchemaCache) -> bool {
    cache.extensions.contains_key(EXTENSION)
}

/// The column type `text` (`extensions.geometry(POINT, 4326)`) names, if the extension is
/// installed and Solobase implements its modifiers.
pub fn column_type(cache: &SchemaCache, text: &str) -> Result<GeometryColumn, Refusal> {
    let name = text.split('(').next().unwrap_or(text).trim();
    if !installed(cache) {
        return Err(Refusal::new(format!("type \"{name}\" does not exist"))
            .hint("create extension postgis first"));
    }
    match geometry::column_type(text) {
        Some(Ok(column)) => Ok(column),
        Some(Err(reason)) => Err(Refusal::new(reason).hint(SUBSET)),
        None => Err(Refusal::new(format!("type \"{name}\" does not exist"))),
    }
}

/// A cast of `inner` to `data_type` when that is PostGIS's type: the checked value.
pub fn cast(
    cache: Option<&SchemaCache>,
    inner: &Expr,
    data_type: &DataType,
) -> Result<Option<String>, Unsupported> {
    let text = data_type.to_string();
    let Some(column) = geometry::column_type(&text) else {
        return Ok(None);
    };
    if !cache.is_some_and(installed) {
        let name = text.split('(').next().unwrap_or(&text).trim().to_owned();
        return Err(Unsupported(format!("type \"{name}\" does not exist")));
    }
    let column = column.map_err(|reason| Unsupported(format!("{reason}; {SUBSET}")))?;
    Ok(Some(format!(
        "pg_geometry({inner}, '{}')",
        geometry::type_text(&column)
    )))
}

/// The type a write into a column of `pg_type` casts its value to, when it is PostGIS's.
pub fn write_type(pg_type: &PgType) -> Option<String> {
    match pg_type {
        PgType::Printed(PrintedType::Geometry(column)) => Some(geometry::type_text(column)),
        _ => None,
    }
}

/// `inner::json` (or `::jsonb`) of a value of `column_type`: a geometry's GeoJSON, as PostGIS's
/// cast prints it (a geography has no such cast and stays text).
pub fn json_cast(
    column_type: Option<&PgType>,
    inner: &Expr,
    data_type: &DataType,
) -> Option<String> {
    let PgType::Printed(PrintedType::Geometry(column)) = column_type? else {
        return None;
    };
    let json = matches!(data_type, DataType::JSON | DataType::JSONB);
    (json && !column.geography).then(|| format!("json(pg_geometry_json({inner}))"))
}

/// The SQLite call of the extension's function `name` with translated `args`, while the
/// extension is installed. A project function of the same unqualified name comes first.
pub fn call(cache: Option<&SchemaCache>, name: &ObjectName, args: &[String]) -> Option<String> {
    let cache = cache.filter(|cache| installed(cache))?;
    let bare = super::extensions::own_name(cache, EXTENSION, name)?;
    if name.0.len() == 1 && cache.called(&bare, args.len()).is_some() {
        return None;
    }
    FUNCTIONS
        .iter()
        .any(|(function, arities)| *function == bare && arities.contains(&args.len()))
        .then(|| format!("{bare}({})", args.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::expression::{Typed, translate_expr_text, translate_expr_text_with};

    fn installed_cache() -> SchemaCache {
        let mut cache = SchemaCache::default();
        cache
            .extensions
            .insert(EXTENSION.to_owned(), "extensions".to_owned());
        cache
    }

    #[test]
    fn calls_and_casts_translate_only_while_postgis_is_installed() {
        let cache = installed_cache();
        let translated =
            |text: &str| translate_expr_text_with(text, &Typed(&cache)).map_err(|error| error.0);
        assert_eq!(
            translated("extensions.st_setsrid(st_makepoint(1, 2), 4326)").unwrap(),
            "st_setsrid(st_makepoint(1, 2), 4326)"
        );
        assert_eq!(
            translated("'POINT(1 2)'::extensions.geometry(POINT, 4326)").unwrap(),
            "pg_geometry('POINT(1 2)', 'geometry(Point,4326)')"
        );
        assert!(translated("other.st_x(g)").is_err());
        assert!(
            translated("st_buffer(g, 1)")
                .unwrap_err()
                .contains("st_buffer")
        );
        assert!(
            translated("'POINT(1 2)'::geometry(CIRCULARSTRING)")
                .unwrap_err()
                .contains("not supported")
        );
        assert_eq!(
            translate_expr_text("'POINT(1 2)'::geometry").unwrap_err().0,
            "type \"geometry\" does not exist"
        );
        assert!(translate_expr_text("st_makepoint(1, 2)").is_err());
    }

    #[test]
    fn column_types_need_the_extension() {
        let refusal =
            column_type(&SchemaCache::default(), "extensions.geometry(POINT, 4326)").unwrap_err();
        assert_eq!(
            refusal.reason,
            "type \"extensions.geometry\" does not exist"
        );
        let cache = installed_cache();
        assert_eq!(
            geometry::type_text(&column_type(&cache, "extensions.geometry(POINT, 4326)").unwrap()),
            "geometry(Point,4326)"
        );
        assert!(
            column_type(&cache, "geometry(TIN)")
                .unwrap_err()
                .hint
                .is_some()
        );
    }
}
