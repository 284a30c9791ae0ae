// Postgres is the judge: the access fixture's migration and seed run unchanged on a throwaway
// PostgreSQL 15 cluster, then each attack runs as the same user on both — through supabase-js
// against Solobase, as the SQL PostgREST would send to Postgres — and both must answer the
// same SQLSTATE and leave the same rows (order of RLS and constraint checks, upsert policies).
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, signJwt, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("access"), startPostgres()])
  postgres.applyFixture("access")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

const client = (sub) =>
  server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ sub, role: "authenticated", exp: 4e9 })}` } } })

/** Runs one attack on both and compares the answer and the rows of `table` after it. */
async function same({ as, table, order, rest, sql }) {
  const { error } = await rest(client(as))
  const postgresAnswer = postgres.sql(sql, { role: "authenticated", sub: as }).code
  assert.equal(error?.code ?? null, postgresAnswer, sql)
  const { data } = await server.client(SERVICE_KEY).from(table).select("*").order(order)
  assert.deepEqual(data, postgres.rows(`public.${table}`, order), sql)
}

test("the INSERT with check is checked before the key: 42501, not 23505", async () => {
  await same({
    as: B,
    table: "likes",
    order: "post_id",
    rest: (db) => db.from("likes").insert({ user_id: A, post_id: 1 }),
    sql: `insert into likes (user_id, post_id) values ('${A}', 1);`,
  })
  await same({
    as: A,
    table: "likes",
    order: "post_id",
    rest: (db) => db.from("likes").insert({ user_id: A, post_id: 1 }),
    sql: `insert into likes (user_id, post_id) values ('${A}', 1);`,
  })
  await same({
    as: B,
    table: "likes",
    order: "post_id",
    rest: (db) => db.from("likes").insert({ user_id: B, post_id: 1 }),
    sql: `insert into likes (user_id, post_id) values ('${B}', 1);`,
  })
})

test("an upsert checks the INSERT check, the UPDATE and SELECT using, then the UPDATE check", async () => {
  const upsert = (table, row, { ignore = false } = {}) => {
    const columns = Object.keys(row)
    const values = Object.values(row).map((value) => (typeof value === "string" ? `'${value}'` : String(value)))
    const action = ignore ? "do nothing" : `do update set ${columns.map((column) => `${column} = excluded.${column}`).join(", ")}`
    return {
      table,
      order: "id",
      rest: (db) => db.from(table).upsert(row, { ignoreDuplicates: ignore }),
      sql: `insert into ${table} (${columns.join(", ")}) values (${values.join(", ")}) on conflict (id) ${action};`,
    }
  }
  // The proposed row fails the INSERT check.
  await same({ as: B, ...upsert("tickets", { id: 2, user_id: B, title: "b ticket", approved: true }) })
  await same({ as: B, ...upsert("tickets", { id: 1, user_id: A, title: "x" }, { ignore: true }) })
  // The existing row is another user's: the UPDATE (and SELECT) using refuse it.
  await same({ as: B, ...upsert("tickets", { id: 1, user_id: B, title: "mine now" }) })
  // The result fails the UPDATE check, though the proposed row passed the INSERT check.
  await same({ as: B, ...upsert("drafts", { id: 2, user_id: B, status: "published" }) })
  // What the policies allow: an update, an insert, an ignored duplicate.
  await same({ as: B, ...upsert("drafts", { id: 2, user_id: B, status: "review" }) })
  await same({ as: B, ...upsert("drafts", { id: 3, user_id: B, status: "published" }) })
  await same({ as: B, ...upsert("drafts", { id: 2, user_id: B, status: "published" }, { ignore: true }) })
})

test("security_invoker set, reset and replaced as Postgres does: a user sees through each view what Postgres shows", async () => {
  for (const view of ["notes_bare", "notes_yes", "notes_off", "notes_altered", "notes_reset", "notes_replaced", "notes_table_set"]) {
    const { data, error } = await client(B).from(view).select("id").order("id")
    assert.equal(error, null, view)
    const { output } = postgres.sql(`select coalesce(json_agg(id order by id), '[]') from ${view};`, { role: "authenticated", sub: B })
    assert.deepEqual(data.map((row) => row.id), JSON.parse(output), view)
  }
})

test("numeric(10, 2) rounds half away from zero and refuses what does not fit, as Postgres does", async () => {
  for (const [id, price] of [[10, 19.999], [11, 1.005], [12, -0.004], [13, "2.5"], [14, 123456789], [15, 99999999.995]]) {
    await same({
      as: A,
      table: "products",
      order: "id",
      rest: (db) => db.from("products").insert({ id, name: `p${id}`, price }),
      sql: `insert into products (id, name, price) values (${id}, 'p${id}', ${price});`,
    })
  }
  const { data } = await server.client(SERVICE_KEY).from("products").select("id,price").gte("id", 10).order("id")
  assert.deepEqual(data, [{ id: 10, price: 20 }, { id: 11, price: 1.01 }, { id: 12, price: 0 }, { id: 13, price: 2.5 }])

  // The scale shows in the JSON and in text, as PostgREST prints Postgres's values.
  const response = await fetch(`${server.url}/rest/v1/products?select=id,price,text:price::text&id=gte.10&order=id`, {
    headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` },
  })
  const texts = postgres.sql("select string_agg(price::text, ',' order by id) from products where id >= 10;", { role: "service_role" })
  assert.equal(
    await response.text(),
    '[{"id":10,"price":20.00,"text":"20.00"},{"id":11,"price":1.01,"text":"1.01"},{"id":12,"price":0.00,"text":"0.00"},{"id":13,"price":2.50,"text":"2.50"}]',
  )
  assert.equal(texts.output, "20.00,1.01,0.00,2.50", "what Postgres prints")
})

test("numeric(10, 2) written by SQL — the seed, a trigger's assignment to NEW, a function called over RPC — rounds and overflows as Postgres does", async () => {
  const detail = "A field with precision 10, scale 2 must round to an absolute value less than 10^8."
  for (const [id, amount] of [[10, 1.005], [11, 99999999.995], [12, 0.5], [13, 99999999]]) {
    const { data, error } = await client(A).rpc("add_quote", { quote_id: id, amount })
    const answer = postgres.sql(`select public.add_quote(${id}, ${amount});`, { role: "authenticated", sub: A })
    assert.equal(error?.code ?? null, answer.code, `add_quote(${id}, ${amount})`)
    if (error) assert.deepEqual([error.message, error.details], ["numeric field overflow", detail])
    else assert.equal(data, answer.output)
  }
  // 99999999 fits, its tax does not: the trigger's assignment refuses it.
  await same({ as: A, table: "quotes", order: "id", rest: (db) => db.from("quotes").insert({ id: 14, price: 99999999 }), sql: "insert into quotes (id, price) values (14, 99999999);" })
  await same({ as: A, table: "quotes", order: "id", rest: (db) => db.from("quotes").update({ price: 2.345 }).eq("id", 3), sql: "update quotes set price = 2.345 where id = 3;" })

  const response = await fetch(`${server.url}/rest/v1/quotes?select=id,price,with_tax,text:price::text&order=id`, {
    headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` },
  })
  const texts = postgres.sql("select string_agg(price::text || '/' || with_tax::text, ',' order by id) from quotes;", { role: "service_role" })
  assert.equal(texts.output, "2.35/2.82,-2.35/-2.82,2.35/2.82,1.01/1.21,0.50/0.60", "what Postgres prints")
  assert.equal(
    await response.text(),
    '[{"id":1,"price":2.35,"with_tax":2.82,"text":"2.35"},{"id":2,"price":-2.35,"with_tax":-2.82,"text":"-2.35"},{"id":3,"price":2.35,"with_tax":2.82,"text":"2.35"},{"id":10,"price":1.01,"with_tax":1.21,"text":"1.01"},{"id":12,"price":0.50,"with_tax":0.60,"text":"0.50"}]',
  )
})

test("a computed numeric printed as text has the scale Postgres derives for it", async () => {
  const { data, error } = await client(A).rpc("quote_totals")
  assert.equal(error, null)
  const answer = postgres.sql("select public.quote_totals();", { role: "authenticated", sub: A })
  assert.equal(answer.code, null)
  assert.equal(data, answer.output)
  assert.match(data, /^-?\d+\.\d\d -?\d+\.\d\d -?\d+\.\d -?\d+\.\d\d 1\.50$/)
})
