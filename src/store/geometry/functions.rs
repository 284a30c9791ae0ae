//! Functions: the `ST_*` subset as SQLite functions over stored (hex EWKB) or input text, with
//! PostGIS's names, results and errors, plus the casts the translator writes: `pg_geometry`
//! (text to a column type), `pg_geometry_json` (the cast to json) and `pg_geojson_feature`
//! (a Feature's geometry). The translator calls them only while PostGIS is installed.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Error};

use super::{
    Crs, Dims, Geometry, Shape, column_type, fit, parse, parse_geojson, parse_text, parse_wkb,
    unsupported,
};
use crate::plpgsql::PgError;

/// The functions and their argument counts (the translator's list too).
pub const FUNCTIONS: &[(&str, &[usize])] = &[
    ("st_geomfromtext", &[1, 2]),
    ("st_geomfromewkt", &[1]),
    ("st_geomfromgeojson", &[1]),
    ("st_makepoint", &[2, 3, 4]),
    ("st_setsrid", &[2]),
    ("st_srid", &[1]),
    ("st_x", &[1]),
    ("st_y", &[1]),
    ("st_z", &[1]),
    ("st_m", &[1]),
    ("st_astext", &[1, 2]),
    ("st_asewkt", &[1]),
    ("st_asgeojson", &[1, 2, 3]),
    ("st_geometrytype", &[1]),
    ("geometrytype", &[1]),
];

pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, arities) in FUNCTIONS {
        for arity in *arities {
            let name = *name;
            connection.create_scalar_function(name, *arity as i32, pure, move |context| {
                call(name, context).map_err(|error| Error::UserFunctionError(Box::new(error)))
            })?;
        }
    }
    connection.create_scalar_function("pg_geometry", 2, pure, |context| {
        let type_text: String = context.get(1)?;
        let column = column_type(&type_text)
            .and_then(Result::ok)
            .ok_or_else(|| {
                Error::UserFunctionError(format!("no geometry type {type_text}").into())
            })?;
        geometry_arg(context, 0)
            .and_then(|value| value.map(|value| fit(value, &column)).transpose())
            .map(|value| value.map(|value| value.to_hex()))
            .map_err(|error| Error::UserFunctionError(Box::new(error)))
    })?;
    connection.create_scalar_function("pg_geometry_json", 1, pure, |context| {
        geometry_arg(context, 0)
            .and_then(|value| value.map(|value| value.to_json()).transpose())
            .map_err(|error| Error::UserFunctionError(Box::new(error)))
    })?;
    // PostGIS's `ST_AsGeoJSON(record)` prints a Feature's geometry with 9 digits, its CRS
    // unless 4326, and a missing one as `{"type": null}`.
    connection.create_scalar_function("pg_geojson_feature", 1, pure, |context| {
        match geometry_arg(context, 0) {
            Ok(None) => Ok(r#"{"type": null}"#.to_owned()),
            Ok(Some(value)) => value.to_geojson(9, Crs::ShortUnless4326),
            Err(error) => Err(error),
        }
        .map_err(|error| Error::UserFunctionError(Box::new(error)))
    })
}

/// The geometry argument `index` holds (text in any input form, or WKB bytes).
fn geometry_arg(context: &Context, index: usize) -> Result<Option<Geometry>, PgError> {
    match context.get_raw(index) {
        ValueRef::Null => Ok(None),
        ValueRef::Text(text) => parse(&String::from_utf8_lossy(text)).map(Some),
        ValueRef::Blob(bytes) => parse_wkb(bytes).map(Some),
        ValueRef::Integer(_) | ValueRef::Real(_) => Err(super::parse_error()),
    }
}

fn call(name: &str, context: &Context) -> Result<Value, PgError> {
    let number = |index: usize| -> Result<Option<f64>, PgError> {
        match context.get_raw(index) {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => Ok(Some(number as f64)),
            ValueRef::Real(number) => Ok(Some(number)),
            ValueRef::Text(text) => String::from_utf8_lossy(text)
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| {
                    PgError::new("22P02", "invalid input syntax for type double precision")
                }),
            ValueRef::Blob(_) => Err(PgError::new("42883", "function does not exist")),
        }
    };
    let text = |index: usize| match context.get_raw(index) {
        ValueRef::Null => None,
        ValueRef::Text(text) => Some(String::from_utf8_lossy(text).into_owned()),
        other => Some(format!("{:?}", other)),
    };
    let hex = |geometry: Geometry| Value::Text(geometry.to_hex());
    let optional = |value: Option<Value>| value.unwrap_or(Value::Null);
    let arity = context.len();
    Ok(match name {
        "st_geomfromtext" | "st_geomfromewkt" => {
            let Some(input) = text(0) else {
                return Ok(Value::Null);
            };
            let mut geometry = parse_text(&input)?;
            if arity == 2 {
                let Some(srid) = number(1)? else {
                    return Ok(Value::Null);
                };
                geometry.srid = srid as i32;
            }
            hex(geometry)
        }
        "st_geomfromgeojson" => optional(
            text(0)
                .map(|input| parse_geojson(&input))
                .transpose()?
                .map(hex),
        ),
        "st_makepoint" => {
            let mut ordinates = Vec::new();
            for index in 0..arity {
                match number(index)? {
                    Some(value) => ordinates.push(value),
                    None => return Ok(Value::Null),
                }
            }
            let dims = Dims {
                z: arity >= 3,
                m: arity == 4,
            };
            let coord = [
                ordinates[0],
                ordinates[1],
                ordinates.get(2).copied().unwrap_or(0.0),
                ordinates.get(3).copied().unwrap_or(0.0),
            ];
            hex(Geometry {
                srid: 0,
                dims,
                shape: Shape::Point(Some(coord)),
            })
        }
        _ => {
            let Some(geometry) = geometry_arg(context, 0)? else {
                return Ok(Value::Null);
            };
            of_geometry(name, geometry, arity, &number)?
        }
    })
}

/// A function of one geometry (and options).
fn of_geometry(
    name: &str,
    mut geometry: Geometry,
    arity: usize,
    number: &dyn Fn(usize) -> Result<Option<f64>, PgError>,
) -> Result<Value, PgError> {
    let option = |index: usize, default: f64| -> Result<f64, PgError> {
        Ok(if arity > index {
            number(index)?.unwrap_or(default)
        } else {
            default
        })
    };
    Ok(match name {
        "st_setsrid" => {
            let Some(srid) = number(1)? else {
                return Ok(Value::Null);
            };
            geometry.srid = (srid as i32).max(0);
            Value::Text(geometry.to_hex())
        }
        "st_srid" => Value::Integer(i64::from(geometry.srid)),
        "st_x" | "st_y" | "st_z" | "st_m" => {
            let Shape::Point(point) = geometry.shape else {
                return Err(PgError::new(
                    "XX000",
                    format!(
                        "Argument to {}() must have type POINT",
                        name.to_ascii_uppercase()
                    ),
                ));
            };
            let present = match name {
                "st_z" => geometry.dims.z,
                "st_m" => geometry.dims.m,
                _ => true,
            };
            let index = match name {
                "st_x" => 0,
                "st_y" => 1,
                "st_z" => 2,
                _ => 3,
            };
            match point {
                Some(coord) if present => Value::Real(coord[index]),
                _ => Value::Null,
            }
        }
        "st_astext" if arity == 2 => {
            let digits = option(1, 15.0)?.max(0.0) as usize;
            Value::Text(super::wkt::write(&geometry, false, digits))
        }
        "st_astext" => Value::Text(geometry.to_wkt()),
        "st_asewkt" => Value::Text(geometry.to_ewkt()),
        "st_asgeojson" => {
            let digits = option(1, 9.0)?.max(0.0) as usize;
            let options = option(2, 8.0)? as i64;
            if options & 1 != 0 {
                return Err(unsupported("ST_AsGeoJSON's bounding box (option 1)"));
            }
            let crs = if options & 4 != 0 {
                Crs::Long
            } else if options & 2 != 0 {
                Crs::Short
            } else if options & 8 != 0 {
                Crs::ShortUnless4326
            } else {
                Crs::None
            };
            Value::Text(geometry.to_geojson(digits, crs)?)
        }
        "st_geometrytype" => Value::Text(format!("ST_{}", geometry.shape.kind().name())),
        "geometrytype" => {
            let suffix = if geometry.dims.m && !geometry.dims.z {
                "M"
            } else {
                ""
            };
            Value::Text(format!(
                "{}{suffix}",
                geometry.shape.kind().name().to_ascii_uppercase()
            ))
        }
        other => {
            return Err(PgError::new(
                "42883",
                format!("function {other} does not exist"),
            ));
        }
    })
}
