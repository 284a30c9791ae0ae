//! Geometry: PostGIS's `geometry` and `geography` values as PostGIS reads, checks and prints
//! them. Input is WKT or EWKT (`wkt`), hex WKB or EWKB (`ewkb`) or GeoJSON (`geojson`); a value
//! written into a column is checked against its modifiers (`fit`, PostGIS's typmod check); the
//! stored form is PostGIS's output text, upper-case hex EWKB; WKT, EWKT and GeoJSON print with
//! PostGIS's number format (`ordinate`). Points, line strings, polygons, their multi forms and
//! collections, in 2, 3 or 4 dimensions; PostGIS's curves, surfaces and TINs are refused (0A000).
//! `functions` registers the `ST_*` subset as SQLite functions.

mod ewkb;
pub mod functions;
mod geojson;
mod traits;
mod wkt;

use crate::plpgsql::PgError;
use crate::schema::{GeometryColumn, GeometryKind};

pub use geojson::Crs;

/// x, y, z, m: z and m hold a value only where the geometry's `Dims` say so.
pub type Coord = [f64; 4];

/// The ordinates each coordinate has beyond x and y.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dims {
    pub z: bool,
    pub m: bool,
}

impl Dims {
    /// The coordinate's ordinates in order (x, y, then z and m when present).
    fn ordinates(self, coord: &Coord) -> Vec<f64> {
        let mut values = vec![coord[0], coord[1]];
        if self.z {
            values.push(coord[2]);
        }
        if self.m {
            values.push(coord[3]);
        }
        values
    }
}

/// A geometry's parts; `None` and empty lists are PostGIS's EMPTY.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Point(Option<Coord>),
    LineString(Vec<Coord>),
    Polygon(Vec<Vec<Coord>>),
    MultiPoint(Vec<Option<Coord>>),
    MultiLineString(Vec<Vec<Coord>>),
    MultiPolygon(Vec<Vec<Vec<Coord>>>),
    GeometryCollection(Vec<Shape>),
}

impl Shape {
    pub fn kind(&self) -> GeometryKind {
        match self {
            Shape::Point(_) => GeometryKind::Point,
            Shape::LineString(_) => GeometryKind::LineString,
            Shape::Polygon(_) => GeometryKind::Polygon,
            Shape::MultiPoint(_) => GeometryKind::MultiPoint,
            Shape::MultiLineString(_) => GeometryKind::MultiLineString,
            Shape::MultiPolygon(_) => GeometryKind::MultiPolygon,
            Shape::GeometryCollection(_) => GeometryKind::GeometryCollection,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Shape::Point(coord) => coord.is_none(),
            Shape::LineString(items) => items.is_empty(),
            Shape::Polygon(items) | Shape::MultiLineString(items) => items.is_empty(),
            Shape::MultiPoint(items) => items.is_empty(),
            Shape::MultiPolygon(items) => items.is_empty(),
            Shape::GeometryCollection(items) => items.is_empty(),
        }
    }

    /// Every coordinate, in order.
    fn coords(&self) -> Vec<&Coord> {
        match self {
            Shape::Point(coord) => coord.iter().collect(),
            Shape::LineString(line) => line.iter().collect(),
            Shape::Polygon(rings) | Shape::MultiLineString(rings) => {
                rings.iter().flatten().collect()
            }
            Shape::MultiPoint(points) => points.iter().flatten().collect(),
            Shape::MultiPolygon(polygons) => polygons.iter().flatten().flatten().collect(),
            Shape::GeometryCollection(shapes) => shapes.iter().flat_map(Shape::coords).collect(),
        }
    }
}

/// One PostGIS value: its SRID (0 for none), dimensions and parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub srid: i32,
    pub dims: Dims,
    pub shape: Shape,
}

impl Geometry {
    /// The stored form: PostGIS's text output, upper-case hex EWKB.
    pub fn to_hex(&self) -> String {
        ewkb::hex(self)
    }

    /// `ST_AsText`: ISO WKT (`POINT Z (1 2 3)`), 15 decimal digits at most.
    pub fn to_wkt(&self) -> String {
        wkt::write(self, false, 15)
    }

    /// `ST_AsEWKT`: `SRID=4326;POINTM(1 2 3)`.
    pub fn to_ewkt(&self) -> String {
        wkt::write(self, true, 15)
    }

    /// `ST_AsGeoJSON(g, digits, options)`'s text.
    pub fn to_geojson(&self, digits: usize, crs: Crs) -> Result<String, PgError> {
        geojson::write(self, digits, crs)
    }

    /// The `geometry → json` cast (what `to_json` and PostgREST's JSON print): GeoJSON with
    /// 15 digits and the short CRS of any SRID.
    pub fn to_json(&self) -> Result<String, PgError> {
        geojson::write(self, 15, Crs::Short)
    }
}

/// PostGIS's error for text it cannot read as a geometry.
pub fn parse_error() -> PgError {
    PgError::new("XX000", "parse error - invalid geometry")
}

/// What PostGIS can read or do that Solobase does not.
pub fn unsupported(what: &str) -> PgError {
    let mut error = PgError::new("0A000", format!("{what} is not supported by Solobase"));
    error.hint = Some(
        "Solobase implements points, line strings, polygons, their multi forms and collections"
            .into(),
    );
    error
}

/// `geometry_in`: WKT, EWKT, hex (E)WKB (with an optional `SRID=n;`) or GeoJSON text.
pub fn parse(text: &str) -> Result<Geometry, PgError> {
    let text = text.trim();
    if text.starts_with('{') {
        return geojson::read(text, 0);
    }
    let (srid, rest) = srid_prefix(text)?;
    let mut geometry = if rest.starts_with('0') {
        ewkb::read_hex(rest)?
    } else {
        wkt::read(rest)?
    };
    if let Some(srid) = srid {
        geometry.srid = srid;
    }
    validate(&geometry.shape, geometry.dims)?;
    Ok(geometry)
}

/// `ST_GeomFromText`/`ST_GeomFromEWKT`: WKT or EWKT only.
pub fn parse_text(text: &str) -> Result<Geometry, PgError> {
    let (srid, rest) = srid_prefix(text.trim())?;
    let mut geometry = wkt::read(rest)?;
    if let Some(srid) = srid {
        geometry.srid = srid;
    }
    validate(&geometry.shape, geometry.dims)?;
    Ok(geometry)
}

/// `ST_GeomFromGeoJSON`: a GeoJSON geometry, SRID 4326 unless its `crs` names another.
pub fn parse_geojson(text: &str) -> Result<Geometry, PgError> {
    let geometry = geojson::read(text.trim(), 4326)?;
    validate(&geometry.shape, geometry.dims)?;
    Ok(geometry)
}

/// A stored or written WKB value (a blob).
pub fn parse_wkb(bytes: &[u8]) -> Result<Geometry, PgError> {
    let geometry = ewkb::read(bytes)?;
    validate(&geometry.shape, geometry.dims)?;
    Ok(geometry)
}

/// `SRID=4326;rest` → (4326, rest).
fn srid_prefix(text: &str) -> Result<(Option<i32>, &str), PgError> {
    if !text
        .get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case("srid="))
    {
        return Ok((None, text));
    }
    let (number, rest) = text[5..].split_once(';').ok_or_else(parse_error)?;
    let srid = number.trim().parse::<i32>().map_err(|_| parse_error())?;
    Ok((Some(srid.max(0)), rest.trim_start()))
}

/// PostGIS's parser checks: a line string has two points, a ring four and is closed.
fn validate(shape: &Shape, dims: Dims) -> Result<(), PgError> {
    let more = || PgError::new("XX000", "geometry requires more points");
    let ring = |ring: &Vec<Coord>| {
        if ring.len() < 4 {
            return Err(more());
        }
        let (first, last) = (ring[0], ring[ring.len() - 1]);
        let closed = first[0] == last[0] && first[1] == last[1] && (!dims.z || first[2] == last[2]);
        match closed {
            true => Ok(()),
            false => Err(PgError::new("XX000", "geometry contains non-closed rings")),
        }
    };
    let line = |line: &Vec<Coord>| match line.len() {
        1 => Err(more()),
        _ => Ok(()),
    };
    match shape {
        Shape::Point(_) | Shape::MultiPoint(_) => Ok(()),
        Shape::LineString(points) => line(points),
        Shape::MultiLineString(lines) => lines.iter().try_for_each(line),
        Shape::Polygon(rings) => rings.iter().try_for_each(ring),
        Shape::MultiPolygon(polygons) => polygons.iter().flatten().try_for_each(ring),
        Shape::GeometryCollection(shapes) => {
            shapes.iter().try_for_each(|shape| validate(shape, dims))
        }
    }
}

/// `geometry` value `geometry` as column type `column` takes it (PostGIS's
/// `postgis_valid_typmod`): an SRID-less value takes the column's SRID; another SRID, subtype
/// or dimension is 22023. A geography's SRID defaults to 4326.
pub fn fit(mut geometry: Geometry, column: &GeometryColumn) -> Result<Geometry, PgError> {
    let invalid = |message: String| PgError::new("22023", message);
    if column.geography {
        geography(&mut geometry)?;
    }
    if !column.typmod {
        return Ok(geometry);
    }
    // A MULTIPOINT EMPTY is how EWKB dumps a POINT EMPTY: PostGIS reads it back as one.
    if column.kind == Some(GeometryKind::Point) && geometry.shape == Shape::MultiPoint(Vec::new()) {
        geometry.shape = Shape::Point(None);
    }
    if column.srid > 0 && geometry.srid == 0 {
        geometry.srid = column.srid;
    }
    if column.srid > 0 && column.srid != geometry.srid {
        return Err(invalid(format!(
            "Geometry SRID ({}) does not match column SRID ({})",
            geometry.srid, column.srid
        )));
    }
    if let Some(kind) = column.kind
        && kind != geometry.shape.kind()
    {
        return Err(invalid(format!(
            "Geometry type ({}) does not match column type ({})",
            geometry.shape.kind().name(),
            kind.name()
        )));
    }
    let dims = geometry.dims;
    for (column_has, value_has, name) in [(column.z, dims.z, "Z"), (column.m, dims.m, "M")] {
        match (column_has, value_has) {
            (true, false) => {
                return Err(invalid(format!(
                    "Column has {name} dimension but geometry does not"
                )));
            }
            (false, true) => {
                return Err(invalid(format!(
                    "Geometry has {name} dimension but column does not"
                )));
            }
            _ => {}
        }
    }
    Ok(geometry)
}

/// A geography: longitude and latitude on SRID 4326. PostGIS also takes the other lon/lat
/// systems of its `spatial_ref_sys` and moves coordinates out of range into it, with a notice;
/// Solobase refuses both rather than store a different value.
fn geography(geometry: &mut Geometry) -> Result<(), PgError> {
    if geometry.srid == 0 {
        geometry.srid = 4326;
    }
    if geometry.srid != 4326 {
        return Err(unsupported(&format!(
            "a geography in SRID {} (only 4326 is)",
            geometry.srid
        )));
    }
    let outside =
        geometry.shape.coords().into_iter().any(|coord| {
            !(-180.0..=180.0).contains(&coord[0]) || !(-90.0..=90.0).contains(&coord[1])
        });
    match outside {
        true => Err(unsupported(
            "a geography coordinate outside [-180 -90, 180 90]",
        )),
        false => Ok(()),
    }
}

/// `text` as stored in a column of type `column`: checked, then hex EWKB.
pub fn normalize(column: &GeometryColumn, text: &str) -> Result<String, PgError> {
    Ok(fit(parse(text)?, column)?.to_hex())
}

/// A column type's text (`extensions.geometry(POINT, 4326)`, `geography(PointZ)`) as its
/// modifiers; `None` when it names neither type, a refusal for modifiers Solobase lacks.
pub fn column_type(text: &str) -> Option<Result<GeometryColumn, String>> {
    let lowered = text.trim().to_ascii_lowercase();
    let (name, modifiers) = match lowered.split_once('(') {
        Some((name, rest)) => (name.trim(), Some(rest.trim_end().strip_suffix(')')?)),
        None => (lowered.as_str(), None),
    };
    let geography = match name.trim_start_matches("extensions.").trim_matches('"') {
        "geometry" => false,
        "geography" => true,
        _ => return None,
    };
    let mut column = GeometryColumn {
        geography,
        typmod: modifiers.is_some(),
        kind: None,
        z: false,
        m: false,
        srid: 0,
    };
    let Some(modifiers) = modifiers else {
        return Some(Ok(column));
    };
    let mut parts = modifiers.split(',').map(str::trim);
    let subtype = parts.next().unwrap_or("");
    let (base, z, m) = if let Some(base) = subtype.strip_suffix("zm") {
        (base, true, true)
    } else if let Some(base) = subtype.strip_suffix('z') {
        (base, true, false)
    } else if let Some(base) = subtype.strip_suffix('m') {
        (base, false, true)
    } else {
        (subtype, false, false)
    };
    column.kind = match base {
        "geometry" => None,
        _ => match GeometryKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(base))
        {
            Some(kind) => Some(kind),
            None => {
                return Some(Err(format!(
                    "the geometry type \"{subtype}\" is not supported by Solobase"
                )));
            }
        },
    };
    (column.z, column.m) = (z, m);
    column.srid = match parts.next() {
        Some(srid) => match srid.parse::<i32>() {
            Ok(srid) => srid.max(0),
            Err(_) => return Some(Err(format!("invalid SRID \"{srid}\""))),
        },
        None if geography => 4326,
        None => 0,
    };
    if parts.next().is_some() {
        return Some(Err("a geometry type takes at most two modifiers".into()));
    }
    if geography && column.srid != 4326 {
        return Some(Err(format!(
            "a geography in SRID {} is not supported by Solobase (only 4326 is)",
            column.srid
        )));
    }
    Some(Ok(column))
}

/// The column type as `format_type` prints it and `column_type` reads it back:
/// `geometry(PointZ,4326)`, `geography(Point,4326)`, `geometry`.
pub fn type_text(column: &GeometryColumn) -> String {
    let name = if column.geography {
        "geography"
    } else {
        "geometry"
    };
    if !column.typmod {
        return name.into();
    }
    let dims = match (column.z, column.m) {
        (true, true) => "ZM",
        (true, false) => "Z",
        (false, true) => "M",
        (false, false) => "",
    };
    let kind = column.kind.map_or("Geometry", GeometryKind::name);
    match column.srid {
        0 => format!("{name}({kind}{dims})"),
        srid => format!("{name}({kind}{dims},{srid})"),
    }
}

/// One ordinate as PostGIS prints it (`lwprint_double`): fixed notation with at most `digits`
/// decimals, trailing zeros dropped; exponential at or below 1e-8 and from 1e15 up.
pub fn ordinate(value: f64, digits: usize) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs();
    if magnitude <= 1e-8 || magnitude >= 1e15 {
        let shortest = format!("{value:e}");
        let text = match shortest.split_once('e') {
            Some((mantissa, _)) if decimals(mantissa) > digits => format!("{value:.digits$e}"),
            _ => shortest,
        };
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let sign = if exponent.starts_with('-') { "" } else { "+" };
        format!("{}e{sign}{exponent}", trim_zeros(mantissa))
    } else {
        let shortest = value.to_string();
        match decimals(&shortest) > digits {
            true => trim_zeros(&format!("{value:.digits$}")).to_owned(),
            false => shortest,
        }
    }
}

fn decimals(number: &str) -> usize {
    number
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
}

fn trim_zeros(number: &str) -> &str {
    match number.contains('.') {
        true => number.trim_end_matches('0').trim_end_matches('.'),
        false => number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(text: &str) -> GeometryColumn {
        column_type(text).unwrap().unwrap()
    }

    #[test]
    fn ordinates_print_as_postgis_prints_them() {
        // PostGIS 3.3's ST_AsText (15 digits) and ST_AsGeoJSON (9) of the same values.
        for (value, wkt, geojson) in [
            (0.30000000000000004, "0.3", "0.3"),
            (1.123456789012345, "1.123456789012345", "1.123456789"),
            (
                123456789.12345679,
                "123456789.12345679",
                "123456789.12345679",
            ),
            (1e-11, "1e-11", "1e-11"),
            (1e-8, "1e-8", "1e-8"),
            (1.23456789e-8, "0.000000012345679", "0.000000012"),
            (5e-7, "0.0000005", "0.0000005"),
            (1e14, "100000000000000", "100000000000000"),
            (1e15, "1e+15", "1e+15"),
            (
                1.2345678901234568e17,
                "1.234567890123457e+17",
                "1.23456789e+17",
            ),
            (-71.10044, "-71.10044", "-71.10044"),
            (1.0 / 3.0, "0.333333333333333", "0.333333333"),
            (666.6666666666666, "666.6666666666666", "666.666666667"),
            (0.0, "0", "0"),
        ] {
            assert_eq!(ordinate(value, 15), wkt, "{value}");
            assert_eq!(ordinate(value, 9), geojson, "{value}");
        }
    }

    #[test]
    fn the_suites_point_reads_and_prints_as_postgis_does() {
        let point = parse("SRID=4326;POINT(-71.10044 42.373695)").unwrap();
        assert_eq!(
            point.to_hex(),
            "0101000020E610000075CDE49B6DC651C0E0D6DD3CD52F4540"
        );
        assert_eq!(point.to_wkt(), "POINT(-71.10044 42.373695)");
        assert_eq!(point.to_ewkt(), "SRID=4326;POINT(-71.10044 42.373695)");
        assert_eq!(
            point.to_json().unwrap(),
            r#"{"type":"Point","crs":{"type":"name","properties":{"name":"EPSG:4326"}},"coordinates":[-71.10044,42.373695]}"#
        );
        assert_eq!(
            point.to_geojson(9, Crs::ShortUnless4326).unwrap(),
            r#"{"type":"Point","coordinates":[-71.10044,42.373695]}"#
        );
        assert_eq!(parse(&point.to_hex()).unwrap(), point);
    }

    #[test]
    fn input_forms_read_as_postgis_reads_them() {
        let hex = |text: &str| parse(text).unwrap().to_hex();
        let expected = "0101000020E6100000000000000000F03F0000000000000040";
        assert_eq!(
            hex("0101000020e6100000000000000000f03f0000000000000040"),
            expected
        );
        assert_eq!(
            hex("SRID=4326;0101000000000000000000F03F0000000000000040"),
            expected
        );
        assert_eq!(hex("srid=4326;point(1 2)"), expected);
        assert_eq!(
            hex("  point ( 1   2 ) "),
            "0101000000000000000000F03F0000000000000040"
        );
        // Big-endian WKB.
        assert_eq!(
            parse("000000000140000000000000004010000000000000")
                .unwrap()
                .to_wkt(),
            "POINT(2 4)"
        );
        assert_eq!(
            hex(r#"{"type":"Point","coordinates":[1,2]}"#),
            "0101000000000000000000F03F0000000000000040"
        );
        assert_eq!(
            parse_geojson(r#"{"type":"Point","coordinates":[1,2]}"#)
                .unwrap()
                .to_hex(),
            expected
        );
        assert_eq!(
            parse_geojson(r#"{"type":"Point","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"coordinates":[1,2]}"#)
                .unwrap()
                .to_ewkt(),
            "SRID=3857;POINT(1 2)"
        );
        assert_eq!(
            hex("POINT(1 2 3)"),
            "0101000080000000000000F03F00000000000000400000000000000840"
        );
        assert_eq!(
            hex("POINTM(1 2 3)"),
            "0101000040000000000000F03F00000000000000400000000000000840"
        );
        assert_eq!(
            hex("POINT(1 2 3 4)"),
            "01010000C0000000000000F03F000000000000004000000000000008400000000000001040"
        );
        assert_eq!(
            hex("POINT EMPTY"),
            "0101000000000000000000F87F000000000000F87F"
        );
        assert_eq!(hex("LINESTRING EMPTY"), "010200000000000000");
        for (bad, message) in [
            ("POINT(0 0", "parse error - invalid geometry"),
            ("PINT(0 0)", "parse error - invalid geometry"),
            ("LINESTRING(0 0)", "geometry requires more points"),
            ("POLYGON((0 0,1 0,1 1))", "geometry requires more points"),
            (
                "POLYGON((0 0,1 0,1 1,0 1))",
                "geometry contains non-closed rings",
            ),
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(
                (error.code.as_str(), error.message.as_str()),
                ("XX000", message),
                "{bad}"
            );
        }
        assert_eq!(
            parse("CIRCULARSTRING(0 0,1 1,2 0)").unwrap_err().code,
            "0A000"
        );
    }

    #[test]
    fn text_forms_print_as_postgis_prints_them() {
        for (input, wkt, ewkt) in [
            (
                "MULTIPOINT(1 2, 3 4)",
                "MULTIPOINT((1 2),(3 4))",
                "MULTIPOINT(1 2,3 4)",
            ),
            (
                "POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))",
                "POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))",
                "POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))",
            ),
            (
                "GEOMETRYCOLLECTION(POINT(1 2 3),LINESTRING(0 0 1,1 1 1))",
                "GEOMETRYCOLLECTION Z (POINT Z (1 2 3),LINESTRING Z (0 0 1,1 1 1))",
                "GEOMETRYCOLLECTION(POINT(1 2 3),LINESTRING(0 0 1,1 1 1))",
            ),
            (
                "SRID=4326;GEOMETRYCOLLECTIONM(POINTM(1 2 3))",
                "GEOMETRYCOLLECTION M (POINT M (1 2 3))",
                "SRID=4326;GEOMETRYCOLLECTIONM(POINTM(1 2 3))",
            ),
            (
                "MULTIPOINTM(1 2 3,4 5 6)",
                "MULTIPOINT M ((1 2 3),(4 5 6))",
                "MULTIPOINTM(1 2 3,4 5 6)",
            ),
            ("POINT Z EMPTY", "POINT Z EMPTY", "POINT EMPTY"),
            ("POINTM EMPTY", "POINT M EMPTY", "POINTM EMPTY"),
            (
                "GEOMETRYCOLLECTION EMPTY",
                "GEOMETRYCOLLECTION EMPTY",
                "GEOMETRYCOLLECTION EMPTY",
            ),
            (
                "POLYGON((0 0 0 1,1 0 0 1,1 1 0 1,0 0 0 1))",
                "POLYGON ZM ((0 0 0 1,1 0 0 1,1 1 0 1,0 0 0 1))",
                "POLYGON((0 0 0 1,1 0 0 1,1 1 0 1,0 0 0 1))",
            ),
        ] {
            let geometry = parse(input).unwrap_or_else(|error| panic!("{input}: {error:?}"));
            assert_eq!(geometry.to_wkt(), wkt, "{input}");
            assert_eq!(geometry.to_ewkt(), ewkt, "{input}");
            assert_eq!(parse(&geometry.to_hex()).unwrap(), geometry, "{input}");
        }
        assert_eq!(
            parse("GEOMETRYCOLLECTION(POINT(1 2 3),LINESTRING(0 0 1,1 1 1))")
                .unwrap()
                .to_hex(),
            "0107000080020000000101000080000000000000F03F0000000000000040000000000000084001020000800200000000000000000000000000000000000000000000000000F03F000000000000F03F000000000000F03F000000000000F03F"
        );
    }

    #[test]
    fn geojson_prints_as_postgis_prints_it() {
        let geojson = |text: &str| {
            parse(text)
                .unwrap()
                .to_geojson(9, Crs::ShortUnless4326)
                .unwrap()
        };
        assert_eq!(
            geojson("POINT EMPTY"),
            r#"{"type":"Point","coordinates":[]}"#
        );
        assert_eq!(
            geojson("POINTM(1 2 3)"),
            r#"{"type":"Point","coordinates":[1,2]}"#
        );
        assert_eq!(
            geojson("POINT(1 2 3 4)"),
            r#"{"type":"Point","coordinates":[1,2,3]}"#
        );
        assert_eq!(
            geojson("SRID=3857;LINESTRING(0 0,1 1)"),
            r#"{"type":"LineString","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"coordinates":[[0,0],[1,1]]}"#
        );
        assert_eq!(
            geojson("MULTIPOLYGON(((0 0,1 0,1 1,0 0)))"),
            r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}"#
        );
        assert_eq!(
            geojson("GEOMETRYCOLLECTION(POINT(1 2 3),LINESTRING(0 0 1,1 1 1))"),
            r#"{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2,3]},{"type":"LineString","coordinates":[[0,0,1],[1,1,1]]}]}"#
        );
        assert_eq!(
            parse("SRID=4326;POINT(1 2)")
                .unwrap()
                .to_geojson(9, Crs::Long)
                .unwrap(),
            r#"{"type":"Point","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4326"}},"coordinates":[1,2]}"#
        );
        let nested = parse("GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(POINT(1 2)))").unwrap();
        assert_eq!(
            nested.to_geojson(9, Crs::None).unwrap_err().message,
            "GeoJson: geometry not supported."
        );
    }

    #[test]
    fn columns_check_values_as_postgis_typmods_do() {
        let point = column("extensions.geometry(POINT, 4326)");
        assert_eq!(type_text(&point), "geometry(Point,4326)");
        let fitted = |column: &GeometryColumn, text: &str| {
            fit(parse(text).unwrap(), column).map(|geometry| geometry.to_ewkt())
        };
        assert_eq!(
            fitted(&point, "POINT(0 0)").unwrap(),
            "SRID=4326;POINT(0 0)"
        );
        for (text, message) in [
            (
                "LINESTRING(0 0, 1 1)",
                "Geometry type (LineString) does not match column type (Point)",
            ),
            (
                "SRID=3857;POINT(0 0)",
                "Geometry SRID (3857) does not match column SRID (4326)",
            ),
            (
                "SRID=4326;POINT Z(1 2 3)",
                "Geometry has Z dimension but column does not",
            ),
        ] {
            let error = fitted(&point, text).unwrap_err();
            assert_eq!(
                (error.code.as_str(), error.message.as_str()),
                ("22023", message)
            );
        }
        assert_eq!(
            fitted(&column("geometry(POINTZ, 4326)"), "POINT(1 2)")
                .unwrap_err()
                .message,
            "Column has Z dimension but geometry does not"
        );
        assert_eq!(
            fitted(&column("geometry(Point)"), "MULTIPOINT EMPTY").unwrap(),
            "POINT EMPTY"
        );
        assert_eq!(
            fitted(&column("geometry(GeometryCollection)"), "MULTIPOINT(1 2)")
                .unwrap_err()
                .message,
            "Geometry type (MultiPoint) does not match column type (GeometryCollection)"
        );
        assert_eq!(
            fitted(&column("geometry"), "POINT(1 2 3)").unwrap(),
            "POINT(1 2 3)"
        );
        let geography = column("geography(Point)");
        assert_eq!(type_text(&geography), "geography(Point,4326)");
        assert_eq!(
            fitted(&geography, "POINT(1 2)").unwrap(),
            "SRID=4326;POINT(1 2)"
        );
        assert_eq!(
            fitted(&geography, "POINT(200 100)").unwrap_err().code,
            "0A000"
        );
        assert_eq!(
            type_text(&column("geometry(Geometry,3857)")),
            "geometry(Geometry,3857)"
        );
        assert_eq!(type_text(&column("geography")), "geography");
        assert!(column_type("geometry(CIRCULARSTRING)").unwrap().is_err());
        assert!(column_type("geography(Point, 3857)").unwrap().is_err());
        assert!(column_type("text").is_none());
    }
}
