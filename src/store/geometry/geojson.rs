//! GeoJSON: reads a GeoJSON geometry with the `geojson` crate (its SRID from a `crs` member)
//! and prints one as PostGIS's `ST_AsGeoJSON` does — member order, number format, the CRS
//! member its options ask for, M dropped.

use geojson::{GeometryValue, Position};

use super::{Coord, Dims, Geometry, Shape, ordinate};
use crate::plpgsql::PgError;

/// Which `crs` member a printed geometry carries (`ST_AsGeoJSON`'s options 2, 4 and 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crs {
    None,
    /// `EPSG:4326`, for any SRID.
    Short,
    /// `urn:ogc:def:crs:EPSG::4326`.
    Long,
    /// The short form, except for 4326 (the default).
    ShortUnless4326,
}

fn invalid() -> PgError {
    PgError::new("XX000", "invalid GeoJson representation")
}

/// A GeoJSON geometry object; its SRID is its `crs` member's, or `srid`.
pub fn read(text: &str, srid: i32) -> Result<Geometry, PgError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
    let is_collection =
        value.get("type").and_then(|kind| kind.as_str()) == Some("GeometryCollection");
    if !is_collection && value.get("coordinates").is_none() {
        return Err(PgError::new(
            "XX000",
            "Unable to find 'coordinates' in GeoJSON string",
        ));
    }
    let parsed: geojson::Geometry = serde_json::from_value(value).map_err(|_| invalid())?;
    let srid = match parsed
        .foreign_members
        .as_ref()
        .and_then(|members| members.get("crs"))
    {
        Some(crs) => crs_srid(crs).ok_or_else(invalid)?,
        None => srid,
    };
    let mut z = false;
    let shape = shape(&parsed.value, &mut z)?;
    Ok(Geometry {
        srid,
        dims: Dims { z, m: false },
        shape,
    })
}

/// `{"type":"name","properties":{"name":"EPSG:3857"}}` (or the `urn:ogc:def:crs:EPSG::` form).
fn crs_srid(crs: &serde_json::Value) -> Option<i32> {
    let name = crs.pointer("/properties/name")?.as_str()?;
    let number = name.rsplit(':').next()?;
    number.parse().ok()
}

fn shape(value: &GeometryValue, z: &mut bool) -> Result<Shape, PgError> {
    let mut coord = |position: &Position| -> Result<Coord, PgError> {
        let values = position.as_slice();
        if values.len() < 2 {
            return Err(invalid());
        }
        *z |= values.len() > 2;
        Ok([
            values[0],
            values[1],
            values.get(2).copied().unwrap_or(0.0),
            0.0,
        ])
    };
    let mut line = |positions: &Vec<Position>| {
        positions
            .iter()
            .map(&mut coord)
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match value {
        GeometryValue::Point { coordinates } if coordinates.is_empty() => Shape::Point(None),
        GeometryValue::Point { coordinates } => {
            Shape::Point(Some(line(&vec![coordinates.clone()])?[0]))
        }
        GeometryValue::MultiPoint { coordinates } => {
            Shape::MultiPoint(line(coordinates)?.into_iter().map(Some).collect())
        }
        GeometryValue::LineString { coordinates } => Shape::LineString(line(coordinates)?),
        GeometryValue::MultiLineString { coordinates } => Shape::MultiLineString(
            coordinates
                .iter()
                .map(&mut line)
                .collect::<Result<_, _>>()?,
        ),
        GeometryValue::Polygon { coordinates } => Shape::Polygon(
            coordinates
                .iter()
                .map(&mut line)
                .collect::<Result<_, _>>()?,
        ),
        GeometryValue::MultiPolygon { coordinates } => Shape::MultiPolygon(
            coordinates
                .iter()
                .map(|polygon| polygon.iter().map(&mut line).collect::<Result<Vec<_>, _>>())
                .collect::<Result<_, _>>()?,
        ),
        GeometryValue::GeometryCollection { geometries } => Shape::GeometryCollection(
            geometries
                .iter()
                .map(|member| shape(&member.value, z))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// `ST_AsGeoJSON(geometry, digits, options)`'s text.
pub fn write(geometry: &Geometry, digits: usize, crs: Crs) -> Result<String, PgError> {
    let name = match (crs, geometry.srid) {
        (_, 0) | (Crs::None, _) => None,
        (Crs::ShortUnless4326, 4326) => None,
        (Crs::Short | Crs::ShortUnless4326, srid) => Some(format!("EPSG:{srid}")),
        (Crs::Long, srid) => Some(format!("urn:ogc:def:crs:EPSG::{srid}")),
    };
    let mut out = String::new();
    object(
        &mut out,
        &geometry.shape,
        geometry.dims,
        digits,
        name.as_deref(),
        false,
    )?;
    Ok(out)
}

fn object(
    out: &mut String,
    shape: &Shape,
    dims: Dims,
    digits: usize,
    crs: Option<&str>,
    nested: bool,
) -> Result<(), PgError> {
    out.push_str(&format!("{{\"type\":\"{}\",", shape.kind().name()));
    if let Some(name) = crs {
        out.push_str(&format!(
            "\"crs\":{{\"type\":\"name\",\"properties\":{{\"name\":\"{name}\"}}}},"
        ));
    }
    let position = |out: &mut String, coord: &Coord| {
        let mut values = vec![ordinate(coord[0], digits), ordinate(coord[1], digits)];
        if dims.z {
            values.push(ordinate(coord[2], digits));
        }
        out.push_str(&format!("[{}]", values.join(",")));
    };
    let positions = |out: &mut String, coords: &[Coord]| {
        list(out, coords, |out, coord| position(out, coord));
    };
    let rings =
        |out: &mut String, rings: &[Vec<Coord>]| list(out, rings, |out, ring| positions(out, ring));
    if !matches!(shape, Shape::GeometryCollection(_)) {
        out.push_str("\"coordinates\":");
    }
    match shape {
        Shape::GeometryCollection(_) if nested => {
            return Err(PgError::new("XX000", "GeoJson: geometry not supported."));
        }
        Shape::GeometryCollection(shapes) => {
            out.push_str("\"geometries\":[");
            for (index, member) in shapes.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                object(out, member, dims, digits, None, true)?;
            }
            out.push(']');
        }
        Shape::Point(None) => out.push_str("[]"),
        Shape::Point(Some(coord)) => position(out, coord),
        Shape::LineString(line) => positions(out, line),
        Shape::MultiPoint(points) => {
            let present: Vec<Coord> = points.iter().flatten().copied().collect();
            positions(out, &present);
        }
        Shape::Polygon(polygon) | Shape::MultiLineString(polygon) => rings(out, polygon),
        Shape::MultiPolygon(polygons) => list(out, polygons, |out, polygon| rings(out, polygon)),
    }
    out.push('}');
    Ok(())
}

fn list<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}
