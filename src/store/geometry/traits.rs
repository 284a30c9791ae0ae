//! Traits: a geometry the `geo-traits` interfaces describe (what the `wkt` and `wkb` readers
//! give) as a `Shape` of one dimensionality.

use geo_traits::{
    CoordTrait, Dimensions, GeometryCollectionTrait, GeometryTrait, GeometryType, LineStringTrait,
    MultiLineStringTrait, MultiPointTrait, MultiPolygonTrait, PointTrait, PolygonTrait,
};

use super::{Coord, Dims, Shape, parse_error};
use crate::plpgsql::PgError;

/// `geometry`'s parts and dimensions.
pub fn geometry<G: GeometryTrait<T = f64>>(geometry: &G) -> Result<(Shape, Dims), PgError> {
    let dims = dims(geometry.dim())?;
    Ok((shape(geometry, dims)?, dims))
}

fn dims(dimensions: Dimensions) -> Result<Dims, PgError> {
    Ok(match dimensions {
        Dimensions::Xy | Dimensions::Unknown(2) => Dims { z: false, m: false },
        Dimensions::Xyz | Dimensions::Unknown(3) => Dims { z: true, m: false },
        Dimensions::Xym => Dims { z: false, m: true },
        Dimensions::Xyzm | Dimensions::Unknown(4) => Dims { z: true, m: true },
        Dimensions::Unknown(_) => return Err(parse_error()),
    })
}

fn shape<G: GeometryTrait<T = f64>>(geometry: &G, expected: Dims) -> Result<Shape, PgError> {
    // PostGIS refuses a collection mixing dimensionalities.
    if dims(geometry.dim())? != expected {
        return Err(parse_error());
    }
    Ok(match geometry.as_type() {
        GeometryType::Point(point) => Shape::Point(point_coord(point, expected)),
        GeometryType::LineString(line) => Shape::LineString(line_coords(line, expected)),
        GeometryType::Polygon(polygon) => Shape::Polygon(rings(polygon, expected)),
        GeometryType::MultiPoint(points) => Shape::MultiPoint(
            points
                .points()
                .map(|point| point_coord(&point, expected))
                .collect(),
        ),
        GeometryType::MultiLineString(lines) => Shape::MultiLineString(
            lines
                .line_strings()
                .map(|line| line_coords(&line, expected))
                .collect(),
        ),
        GeometryType::MultiPolygon(polygons) => Shape::MultiPolygon(
            polygons
                .polygons()
                .map(|polygon| rings(&polygon, expected))
                .collect(),
        ),
        GeometryType::GeometryCollection(collection) => Shape::GeometryCollection(
            collection
                .geometries()
                .map(|member| shape(&member, expected))
                .collect::<Result<_, _>>()?,
        ),
        GeometryType::Rect(_) | GeometryType::Triangle(_) | GeometryType::Line(_) => {
            return Err(parse_error());
        }
    })
}

/// A point's coordinate; all-NaN is how WKB writes an empty point.
fn point_coord(point: &impl PointTrait<T = f64>, dims: Dims) -> Option<Coord> {
    let coord = coord(&point.coord()?, dims);
    (!coord[..2].iter().all(|value| value.is_nan())).then_some(coord)
}

fn line_coords(line: &impl LineStringTrait<T = f64>, dims: Dims) -> Vec<Coord> {
    line.coords().map(|each| coord(&each, dims)).collect()
}

fn rings(polygon: &impl PolygonTrait<T = f64>, dims: Dims) -> Vec<Vec<Coord>> {
    polygon
        .exterior()
        .iter()
        .map(|ring| line_coords(ring, dims))
        .chain(polygon.interiors().map(|ring| line_coords(&ring, dims)))
        .collect()
}

fn coord(coord: &impl CoordTrait<T = f64>, dims: Dims) -> Coord {
    let nth = |n: usize| coord.nth(n).unwrap_or(f64::NAN);
    [
        coord.x(),
        coord.y(),
        if dims.z { nth(2) } else { 0.0 },
        if dims.m {
            nth(if dims.z { 3 } else { 2 })
        } else {
            0.0
        },
    ]
}
