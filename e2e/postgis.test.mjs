// PostGIS through supabase-js, as the postgrest-js suite's `geojson` test uses it: a geometry
// column reads as its GeoJSON, `.geojson()` answers PostgREST's FeatureCollection, writes take
// WKT, EWKT or a GeoJSON object and are checked against the column's modifiers, and realtime
// records carry the GeoJSON Supabase sends. The fixture runs unchanged on a throwaway
// PostgreSQL 15 cluster with PostGIS, which answers the same reads with PostgREST's SQL.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, inbox, startServer, subscribed } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("postgis"), startPostgres()])
  postgres.applyFixture("postgis")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

/** What Postgres answers for `sql` (one JSON value). */
function postgresJson(sql) {
  const { code, output } = postgres.sql(`set search_path = public, extensions; ${sql}`)
  assert.equal(code, null)
  return JSON.parse(output)
}

test("select=* reads a geometry as PostGIS's json cast prints it, a geography as hex EWKB", async () => {
  const { data, error } = await server.client(ANON_KEY).from("shops").select().order("id")
  assert.equal(error, null)
  assert.deepEqual(data, postgresJson("select json_agg(t order by id) from public.shops t"))
  assert.deepEqual(data[0].shop_geom, {
    type: "Point",
    crs: { type: "name", properties: { name: "EPSG:4326" } },
    coordinates: [-71.10044, 42.373695],
  })
  const { data: text } = await server.client(ANON_KEY).from("shops").select("shop_geom::text").eq("id", 1).single()
  assert.deepEqual(text, { shop_geom: "0101000020E610000075CDE49B6DC651C0E0D6DD3CD52F4540" })
})

test(".geojson() answers PostgREST's FeatureCollection", async () => {
  const client = server.client(ANON_KEY)
  const { data, error } = await client.from("shops").select().order("id").geojson()
  assert.equal(error, null)
  // PostgREST's `asGeoJsonF` over the same rows.
  const expected = postgresJson(
    "select json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(ST_AsGeoJSON(t)::json), '[]')) from (select * from public.shops order by id) t",
  )
  assert.deepEqual(data, expected)
  // The first geometry or geography column is the geometry, without its SRID 4326; a
  // geography among the properties stays hex EWKB; a missing geometry is `{"type": null}`.
  assert.deepEqual(data.features[0].geometry, { type: "Point", coordinates: [-71.10044, 42.373695] })
  assert.deepEqual(Object.keys(data.features[0].properties), ["id", "address", "area"])
  assert.match(data.features[0].properties.area, /^0103000020E6100000/)
  assert.deepEqual(data.features[1].geometry, { type: null })
  const missing = await client.from("shops").select("id,address").geojson()
  assert.equal(missing.error.code, "22023")
  assert.equal(missing.error.message, "geometry column is missing")
  assert.equal(missing.status, 400)
})

test("writes take WKT or a GeoJSON object and are checked against the column's type", async () => {
  const service = server.client(SERVICE_KEY)
  const { data, error } = await service
    .from("shops")
    .insert([
      { id: 10, address: "wkt", shop_geom: "POINT(1 2)" },
      { id: 11, address: "geojson", shop_geom: { type: "Point", coordinates: [3, 4] } },
    ])
    .select("id,shop_geom::text")
    .order("id")
  assert.equal(error, null)
  assert.deepEqual(
    data.map((row) => row.shop_geom),
    ["0101000020E6100000000000000000F03F0000000000000040", "0101000020E610000000000000000008400000000000001040"],
  )
  const before = await service.from("shops").select("id", { count: "exact", head: true })
  for (const [shop_geom, message] of [
    ["LINESTRING(0 0, 1 1)", "Geometry type (LineString) does not match column type (Point)"],
    ["SRID=3857;POINT(0 0)", "Geometry SRID (3857) does not match column SRID (4326)"],
  ]) {
    const refused = await service.from("shops").insert({ id: 12, shop_geom })
    assert.equal(refused.status, 400)
    assert.deepEqual([refused.error.code, refused.error.message], ["22023", message])
    assert.equal(postgres.sql(`insert into public.shops (id, shop_geom) values (12, '${shop_geom}')`).code, "22023")
  }
  const bad = await service.from("shops").insert({ id: 12, shop_geom: "POINT(0 0" })
  assert.deepEqual([bad.status, bad.error.code, bad.error.message], [500, "XX000", "parse error - invalid geometry"])
  const after = await service.from("shops").select("id", { count: "exact", head: true })
  assert.equal(after.count, before.count)
  await service.from("shops").delete().in("id", [10, 11])
})

test("a realtime record carries the geometry's GeoJSON, as Supabase Realtime's to_jsonb does", async () => {
  const client = server.client(ANON_KEY)
  try {
    const changes = inbox()
    const channel = client
      .channel("shops")
      .on("postgres_changes", { event: "INSERT", schema: "public", table: "shops" }, (payload) => changes.push(payload))
    await subscribed(channel)
    await server.client(SERVICE_KEY).from("shops").insert({ id: 20, address: "live", shop_geom: "SRID=4326;POINT(5 6)" })
    const insert = await changes.next()
    assert.deepEqual(insert.new.shop_geom, postgresJson("select to_jsonb('SRID=4326;POINT(5 6)'::geometry)"))
    await server.client(SERVICE_KEY).from("shops").delete().eq("id", 20)
  } finally {
    await client.removeAllChannels()
    client.realtime.disconnect()
  }
})
