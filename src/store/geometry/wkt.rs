//! WKT: reads WKT and EWKT bodies with the `wkt` crate (after the dimension a marker-less
//! `POINT(1 2 3)` implies, which PostGIS infers from the first coordinate), and prints ISO WKT
//! (`ST_AsText`) and PostGIS's extended WKT (`ST_AsEWKT`), with at most `digits` decimals.

use std::str::FromStr;

use super::{Coord, Dims, Geometry, Shape, ordinate, parse_error, traits, unsupported};
use crate::plpgsql::PgError;

/// PostGIS's types beyond Solobase's subset, named so they are refused rather than misread.
const CURVED: [&str; 8] = [
    "CIRCULARSTRING",
    "COMPOUNDCURVE",
    "CURVEPOLYGON",
    "MULTICURVE",
    "MULTISURFACE",
    "POLYHEDRALSURFACE",
    "TRIANGLE",
    "TIN",
];

/// The type words WKT may carry a dimension marker after.
const TYPES: [&str; 7] = [
    "GEOMETRYCOLLECTION",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "MULTIPOINT",
    "LINESTRING",
    "POLYGON",
    "POINT",
];

/// A WKT body (no `SRID=` prefix) as a geometry with SRID 0.
pub fn read(text: &str) -> Result<Geometry, PgError> {
    let upper = text.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    if let Some(curved) = CURVED.iter().find(|curved| words.contains(curved)) {
        return Err(unsupported(&format!("the geometry type {curved}")));
    }
    let marked = with_implied_dimension(&upper, &words);
    let parsed = wkt::Wkt::<f64>::from_str(&marked).map_err(|_| parse_error())?;
    let (shape, dims) = traits::geometry(&parsed)?;
    Ok(Geometry {
        srid: 0,
        dims,
        shape,
    })
}

/// `upper` with a ` Z` or ` ZM` after each type word when it has no marker of its own and its
/// first coordinate has three or four ordinates, as PostGIS reads `POINT(1 2 3)`.
fn with_implied_dimension(upper: &str, words: &[&str]) -> String {
    let marked = words.iter().any(|word| {
        matches!(*word, "Z" | "M" | "ZM")
            || TYPES.iter().any(|name| {
                word.strip_prefix(name)
                    .is_some_and(|rest| matches!(rest, "Z" | "M" | "ZM"))
            })
    });
    let first = upper
        .split(['(', ')', ','])
        .find(|part| part.chars().any(|c| c.is_ascii_digit()))
        .map_or(2, |part| part.split_whitespace().count());
    let marker = match first {
        3 => " Z",
        4 => " ZM",
        _ => return upper.to_owned(),
    };
    if marked {
        return upper.to_owned();
    }
    let mut out = String::with_capacity(upper.len() + 16);
    let mut rest = upper;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        let end = rest[start..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(rest.len(), |end| start + end);
        out.push_str(&rest[..end]);
        if TYPES.contains(&&rest[start..end]) {
            out.push_str(marker);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// ISO WKT, or PostGIS's extended WKT (`SRID=n;` and an `M` suffix for measured-only values).
pub fn write(geometry: &Geometry, extended: bool, digits: usize) -> String {
    let mut out = String::new();
    if extended && geometry.srid != 0 {
        out.push_str(&format!("SRID={};", geometry.srid));
    }
    shape(&mut out, &geometry.shape, geometry.dims, extended, digits);
    out
}

fn shape(out: &mut String, shape: &Shape, dims: Dims, extended: bool, digits: usize) {
    out.push_str(&shape.kind().name().to_ascii_uppercase());
    match (extended, dims.z, dims.m) {
        (true, false, true) => out.push('M'),
        (false, true, true) => out.push_str(" ZM "),
        (false, true, false) => out.push_str(" Z "),
        (false, false, true) => out.push_str(" M "),
        _ => {}
    }
    if shape.is_empty() {
        if !out.ends_with(' ') {
            out.push(' ');
        }
        out.push_str("EMPTY");
        return;
    }
    let coords = |out: &mut String, coords: &[Coord]| {
        list(out, coords, |out, c| coord(out, c, dims, digits))
    };
    let rings =
        |out: &mut String, rings: &[Vec<Coord>]| list(out, rings, |out, ring| coords(out, ring));
    match shape {
        Shape::Point(Some(point)) => coords(out, std::slice::from_ref(point)),
        Shape::Point(None) => {}
        Shape::LineString(line) => coords(out, line),
        Shape::Polygon(polygon) | Shape::MultiLineString(polygon) => rings(out, polygon),
        // ISO WKT parenthesizes each point of a multipoint; extended WKT does not.
        Shape::MultiPoint(points) => list(out, points, |out, point| match point {
            None => out.push_str("EMPTY"),
            Some(point) if extended => coord(out, point, dims, digits),
            Some(point) => coords(out, std::slice::from_ref(point)),
        }),
        Shape::MultiPolygon(polygons) => list(out, polygons, |out, polygon| rings(out, polygon)),
        Shape::GeometryCollection(shapes) => list(out, shapes, |out, member| {
            self::shape(out, member, dims, extended, digits)
        }),
    }
}

fn list<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    out.push('(');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(')');
}

fn coord(out: &mut String, coord: &Coord, dims: Dims, digits: usize) {
    let printed: Vec<String> = dims
        .ordinates(coord)
        .into_iter()
        .map(|value| ordinate(value, digits))
        .collect();
    out.push_str(&printed.join(" "));
}
