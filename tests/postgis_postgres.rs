//! PostGIS against PostgreSQL 15 with PostGIS 3: the same migration (geometry and geography
//! columns, values written in every input form) applied to Solobase and to a throwaway cluster
//! with `create extension postgis`; the stored text, the `ST_*` answers, the json cast and the
//! errors of writes a column's modifiers refuse must agree. Needs PostgreSQL 15's server
//! binaries (`/usr/lib/postgresql/15/bin`, or `PG_BIN`), `psql`, and PostGIS for them (Debian's
//! `postgresql-15-postgis-3`, which scripts/test installs).

mod oracle;

use oracle::{Postgres, Solobase};

const PLACES: &str = r#"
create extension if not exists postgis schema extensions;
create table public.places (
  id int primary key,
  label text,
  spot extensions.geometry(POINT, 4326),
  route extensions.geometry(LineString),
  area extensions.geometry,
  zone extensions.geography(Polygon)
);
insert into public.places (id, label, spot, route, area, zone) values
  (1, 'ewkt', 'SRID=4326;POINT(-71.10044 42.373695)', 'LINESTRING(0 0, 1 1, 2 0.5)', 'POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 1))', 'POLYGON((0 0,1 0,1 1,0 0))'),
  (2, 'wkt and hex', 'POINT(1.123456789012345 -0.000000001)', '0102000000020000000000000000000000000000000000000000000000000000000000F03F000000000000F03F', 'SRID=3857;MULTIPOINT(1 2, 3 4)', null),
  (3, 'geojson', '{"type":"Point","coordinates":[10,20]}', null, 'GEOMETRYCOLLECTION(POINT(1 2 3),LINESTRING(0 0 1,1 1 1))', null),
  (4, 'dimensions', st_setsrid(st_makepoint(5, 6), 4326), null, 'MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))', null),
  (5, 'measured', null, null, 'POINTM(1 2 3)', null),
  (6, 'empty', 'POINT EMPTY', 'LINESTRING EMPTY', 'MULTILINESTRING((0 0,1 1),(2 2,3 3))', null);
update public.places set label = label || '!', spot = st_geomfromtext('POINT(7 8)', 4326) where id = 5;
"#;

/// Queries whose answers must match, as text (`|` between columns, NULL as empty).
const CHECKS: &[&str] = &[
    "select id, spot, route, area, zone from public.places order by id",
    "select id, st_astext(spot), st_asewkt(spot), st_astext(route), st_astext(area), st_asewkt(area), st_astext(zone) from public.places order by id",
    "select id, st_asgeojson(spot), st_asgeojson(area), st_asgeojson(area, 3, 2), st_asgeojson(zone) from public.places order by id",
    "select id, spot::json, area::json from public.places order by id",
    // (Row 2's y, -1e-9, is a double, which the two sides print differently as text.)
    "select id, st_srid(spot), st_srid(area), st_srid(zone), st_x(spot), st_y(spot), st_geometrytype(area), geometrytype(area) from public.places where id <> 2 order by id",
    "select st_astext(st_geomfromgeojson('{\"type\":\"LineString\",\"coordinates\":[[1,2,3],[4,5,6]]}')), st_asewkt(st_geomfromewkt('SRID=4326;POINT(1 2)')), st_asewkt(st_makepoint(1, 2, 3, 4))",
    "select st_astext(st_makepoint(0.30000000000000004, 123456789.12345679)), st_asgeojson(st_makepoint(1e-11, 1e15)), st_astext(st_makepoint(1.0 / 3, 666.6666666666666))",
];

/// Writes a column's modifiers or PostGIS's parser refuse: the SQLSTATE must match.
const REFUSED: &[&str] = &[
    "insert into public.places (id, spot) values (10, 'LINESTRING(0 0, 1 1)')",
    "insert into public.places (id, spot) values (10, 'SRID=3857;POINT(0 0)')",
    "insert into public.places (id, spot) values (10, 'SRID=4326;POINT Z (1 2 3)')",
    "insert into public.places (id, route) values (10, 'LINESTRING(0 0)')",
    "insert into public.places (id, area) values (10, 'POINT(0 0')",
    "insert into public.places (id, zone) values (10, 'POINT(1 2)')",
    "update public.places set spot = st_makepoint(1, 2, 3) where id = 1",
    "select st_x(area) from public.places where id = 6",
];

#[test]
fn postgis_columns_store_and_print_what_postgis_does() {
    let postgres = Postgres::start();
    postgres
        .run("create schema extensions; alter database postgres set search_path = public, extensions")
        .unwrap();
    let installed = postgres.run("create extension postgis schema extensions");
    assert!(
        installed.is_ok(),
        "PostGIS is needed for the oracle (apt-get install postgresql-15-postgis-3): {installed:?}"
    );
    postgres.run("drop extension postgis").unwrap();
    postgres.run(PLACES).unwrap();
    let mut solobase = Solobase::new();
    solobase.migrate(0, PLACES);
    for check in CHECKS {
        assert_eq!(
            solobase.outcome(check, None),
            postgres.outcome(check, None),
            "{check}"
        );
    }
    for refused in REFUSED {
        let expected = postgres.outcome(refused, None);
        assert!(expected.is_err(), "{refused}: Postgres took it");
        assert_eq!(solobase.outcome(refused, None), expected, "{refused}");
    }
    let rows = "select count(*) from public.places";
    assert_eq!(solobase.query(rows, None), postgres.query(rows, None));

    // What PostGIS has beyond Solobase's subset is refused at its line, never taken as
    // something else (Postgres takes both).
    for (beyond, reason) in [
        (
            "create table public.arcs (id int, arc extensions.geometry(CIRCULARSTRING))",
            "the geometry type \"circularstring\" is not supported by Solobase",
        ),
        (
            "select st_buffer(spot, 1) from public.places",
            "the function st_buffer() is not supported",
        ),
    ] {
        postgres.run(beyond).unwrap();
        let refusal = solobase.refused(beyond);
        assert!(
            refusal.contains(reason) && refusal.contains("_step.sql") && refusal.contains(beyond),
            "{refusal}"
        );
    }
}
