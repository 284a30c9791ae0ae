//! EWKB: reads WKB and PostGIS's extended WKB (either byte order; the SRID from the header,
//! the body with the `wkb` crate) and writes EWKB as PostGIS prints it: little-endian,
//! upper-case hex, Z/M/SRID flags in the type word, the SRID on the outermost value only, an
//! empty point as NaN ordinates.

use super::{Coord, Dims, Geometry, Shape, parse_error, traits, unsupported};
use crate::plpgsql::PgError;

const FLAG_Z: u32 = 0x8000_0000;
const FLAG_M: u32 = 0x4000_0000;
const FLAG_SRID: u32 = 0x2000_0000;

/// Hex (E)WKB text.
pub fn read_hex(text: &str) -> Result<Geometry, PgError> {
    if !text.len().is_multiple_of(2) {
        return Err(PgError::new(
            "XX000",
            format!(
                "Invalid hex string, length ({}) has to be a multiple of two!",
                text.len()
            ),
        ));
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(parse_error)?;
    read(&bytes)
}

/// (E)WKB bytes.
pub fn read(bytes: &[u8]) -> Result<Geometry, PgError> {
    let header = |range: std::ops::Range<usize>| -> Result<[u8; 4], PgError> {
        bytes
            .get(range)
            .and_then(|slice| slice.try_into().ok())
            .ok_or_else(parse_error)
    };
    let little = match bytes.first() {
        Some(1) => true,
        Some(0) => false,
        _ => return Err(parse_error()),
    };
    let word = |raw: [u8; 4]| match little {
        true => u32::from_le_bytes(raw),
        false => u32::from_be_bytes(raw),
    };
    let code = word(header(1..5)?);
    let base = (code & 0x0FFF_FFFF) % 1000;
    if !(1..=7).contains(&base) {
        return Err(unsupported(&format!("the WKB geometry type {base}")));
    }
    let srid = match code & FLAG_SRID {
        0 => 0,
        _ => word(header(5..9)?) as i32,
    };
    let parsed = wkb::reader::read_wkb(bytes).map_err(|_| parse_error())?;
    let (shape, dims) = traits::geometry(&parsed)?;
    Ok(Geometry {
        srid: srid.max(0),
        dims,
        shape,
    })
}

/// The upper-case hex EWKB of `geometry`.
pub fn hex(geometry: &Geometry) -> String {
    let mut bytes = Vec::new();
    write(&mut bytes, &geometry.shape, geometry.dims, geometry.srid);
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

fn write(out: &mut Vec<u8>, shape: &Shape, dims: Dims, srid: i32) {
    let mut code = shape.kind().code();
    if dims.z {
        code |= FLAG_Z;
    }
    if dims.m {
        code |= FLAG_M;
    }
    if srid != 0 {
        code |= FLAG_SRID;
    }
    out.push(1);
    out.extend(code.to_le_bytes());
    if srid != 0 {
        out.extend(srid.to_le_bytes());
    }
    let count = |out: &mut Vec<u8>, count: usize| out.extend((count as u32).to_le_bytes());
    let coords = |out: &mut Vec<u8>, coords: &[Coord]| {
        count(out, coords.len());
        for each in coords {
            coord(out, each, dims);
        }
    };
    let rings = |out: &mut Vec<u8>, rings: &[Vec<Coord>]| {
        count(out, rings.len());
        for ring in rings {
            coords(out, ring);
        }
    };
    match shape {
        Shape::Point(point) => coord(out, &point.unwrap_or([f64::NAN; 4]), dims),
        Shape::LineString(line) => coords(out, line),
        Shape::Polygon(polygon) => rings(out, polygon),
        Shape::MultiPoint(points) => {
            count(out, points.len());
            for point in points {
                write(out, &Shape::Point(*point), dims, 0);
            }
        }
        Shape::MultiLineString(lines) => {
            count(out, lines.len());
            for line in lines {
                write(out, &Shape::LineString(line.clone()), dims, 0);
            }
        }
        Shape::MultiPolygon(polygons) => {
            count(out, polygons.len());
            for polygon in polygons {
                write(out, &Shape::Polygon(polygon.clone()), dims, 0);
            }
        }
        Shape::GeometryCollection(shapes) => {
            count(out, shapes.len());
            for member in shapes {
                write(out, member, dims, 0);
            }
        }
    }
}

fn coord(out: &mut Vec<u8>, coord: &Coord, dims: Dims) {
    for value in dims.ordinates(coord) {
        out.extend(value.to_le_bytes());
    }
}
