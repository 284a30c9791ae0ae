// Range columns through supabase-js as the postgrest-js suite uses them: every range filter
// (contains, containedBy, rangeLt/Gt/Gte/Lte, rangeAdjacent, overlaps, gt/lt, not) on every
// built-in range type, a policy, a check constraint and RPCs using range operators. The fixture
// runs unchanged on a throwaway PostgreSQL 15 cluster, which answers the same SQL PostgREST
// would send it: the rows, or the SQLSTATE, must agree.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("ranges"), startPostgres()])
  postgres.applyFixture("ranges")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

/** Each range column with the operands its filters take (every shape of bound, and empty). */
const OPERANDS = {
  seats: ["[2,25)", "[1,2)", "(1,5]", "(,3)", "[5,)", "empty", "[5,5]"],
  big: ["[1,2)", "(,0)", "[3000000000,)"],
  budget: ["[1.5,2.5)", "(2.5,3)", "[0,0]", "(,)"],
  days: ["[2024-01-31,2024-02-01)", "(2024-01-01,2024-01-31]", "[infinity,infinity]"],
  slot: ["[2024-01-01 11:00,2024-01-01 12:00)", "(,2024-01-01 10:00)"],
  moment: ["[2024-01-01 09:00+01,2024-01-01 12:00+00]", "(2024-01-01 12:00+00,)"],
}

/** supabase-js's range filters with the Postgres operator PostgREST sends for each. */
const FILTERS = [
  [(query, column, value) => query.contains(column, value), "@>"],
  [(query, column, value) => query.containedBy(column, value), "<@"],
  [(query, column, value) => query.overlaps(column, value), "&&"],
  [(query, column, value) => query.rangeLt(column, value), "<<"],
  [(query, column, value) => query.rangeGt(column, value), ">>"],
  [(query, column, value) => query.rangeGte(column, value), "&>"],
  [(query, column, value) => query.rangeLte(column, value), "&<"],
  [(query, column, value) => query.rangeAdjacent(column, value), "-|-"],
  [(query, column, value) => query.not(column, "adj", value), "-|-", true],
  [(query, column, value) => query.eq(column, value), "="],
  [(query, column, value) => query.gt(column, value), ">"],
  [(query, column, value) => query.lte(column, value), "<="],
]

/** What Postgres answers for the ids of `table` matching `where` as `role`, or its SQLSTATE. */
function postgresIds(table, where, role = "anon") {
  const { code, output } = postgres.sql(`select coalesce(json_agg(id order by id), '[]') from public.${table} where ${where};`, { role })
  return code ? { code } : { ids: JSON.parse(output) }
}

test("each range filter on each range type finds the rows Postgres finds", async () => {
  const anon = server.client(ANON_KEY)
  const cases = Object.entries(OPERANDS).flatMap(([column, operands]) =>
    operands.flatMap((value) => FILTERS.map(([filter, operator, negated]) => ({ column, value, filter, literal: `${column} ${operator} '${value}'`, negated }))),
  )
  // One psql run answers every case, a line each.
  const { code, output } = postgres.sql(
    cases.map(({ literal, negated }) => `select coalesce(json_agg(id order by id), '[]') from public.spans where ${negated ? `not (${literal})` : literal};`).join("\n"),
    { role: "anon" },
  )
  assert.equal(code, null)
  const expected = output.split("\n").map((line) => JSON.parse(line))
  assert.equal(expected.length, cases.length)
  assert.ok(expected.filter((ids) => ids.length > 0).length > cases.length / 3)
  for (const [index, { column, value, filter, literal }] of cases.entries()) {
    const { data, error } = await filter(anon.from("spans").select("id"), column, value).order("id")
    assert.equal(error, null, literal)
    assert.deepEqual(data.map((row) => row.id), expected[index], literal)
  }
})

test("a range column reads back as Postgres prints it", async () => {
  const { data, error } = await server.client(ANON_KEY).from("spans").select("*").order("id")
  assert.equal(error, null)
  const { output } = postgres.sql("select json_agg(t order by id) from public.spans t;")
  assert.deepEqual(data, JSON.parse(output))
})

test("an operand that is no range of the column's type is refused as Postgres refuses it", async () => {
  const anon = server.client(ANON_KEY)
  for (const [column, value] of [["seats", "5"], ["seats", "[5,1]"], ["seats", "[a,2)"], ["days", "[x,)"], ["seats", "[1,3000000000)"]]) {
    const { error } = await anon.from("spans").select("id").contains(column, value)
    assert.deepEqual({ code: error?.code }, postgresIds("spans", `${column} @> '${value}'`), `${column} ${value}`)
  }
})

test("a policy with a range operator shows the rows Postgres shows; a check refuses what Postgres refuses", async () => {
  const anon = server.client(ANON_KEY)
  const { data } = await anon.from("rooms").select("id").order("id")
  assert.deepEqual({ ids: data.map((row) => row.id) }, postgresIds("rooms", "true"))
  const { data: all } = await server.client(SERVICE_KEY).from("rooms").select("id").order("id")
  assert.deepEqual({ ids: all.map((row) => row.id) }, postgresIds("rooms", "true", "service_role"))
  for (const [id, seats] of [[4, "[0,3)"], [5, "empty"], [6, "[50,101)"]]) {
    const { error } = await anon.from("rooms").insert({ id, name: "x", seats })
    const { code } = postgres.sql(`insert into public.rooms values (${id}, 'x', '${seats}');`, { role: "anon" })
    assert.equal(error?.code ?? null, code, seats)
  }
  const { data: after } = await server.client(SERVICE_KEY).from("rooms").select("id,seats").order("id")
  const { output } = postgres.sql("select json_agg(json_build_object('id', id, 'seats', seats) order by id) from public.rooms;")
  assert.deepEqual(after, JSON.parse(output))
})

test("functions taking and returning ranges answer as in Postgres", async () => {
  const anon = server.client(ANON_KEY)
  const { data: overlapping, error } = await anon.rpc("rooms_overlapping", { wanted: "[4,11)" })
  assert.equal(error, null)
  const { output: rows } = postgres.sql("select json_agg(t) from public.rooms_overlapping('[4,11)') t;", { role: "anon" })
  assert.deepEqual(overlapping, JSON.parse(rows))
  for (const r of ["[3,5)", "empty", "(1,2]"]) {
    const { data, error } = await anon.rpc("widened", { r, by_: 2 })
    assert.equal(error, null, r)
    assert.equal(data, postgres.sql(`select public.widened('${r}', 2);`).output, r)
  }
})
