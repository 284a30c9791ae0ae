// Functions that take a table's row type, as PostgREST serves them: over RPC with the row as a
// JSON object, under the caller's policies. The fixture's migration runs unchanged on a
// throwaway PostgreSQL 15 cluster, which answers each call as PostgREST would run it there
// (`json_populate_record` of the object given).
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, signJwt, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("rowtype"), startPostgres()])
  postgres.applyFixture("rowtype")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

const anon = () => server.client(ANON_KEY)
const signedIn = (sub) =>
  server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ sub, role: "authenticated", exp: 4e9 })}` } } })

/** What Postgres answers for `fn(row)` as `role`, the row populated from `object` as PostgREST does. */
function postgresCall(fn, object, { role = "anon", sub } = {}) {
  const literal = JSON.stringify(object).replaceAll("'", "''")
  const { code, output } = postgres.sql(`select to_json(public.${fn}(json_populate_record(null::public.users, '${literal}')));`, { role, sub })
  assert.equal(code, null)
  return JSON.parse(output)
}

const ada = { id: 1, username: "ada", first_name: "Ada", last_name: "Lovelace", born: "1815-12-10" }

test("an SQL function reads the row argument's fields by name and by position", async () => {
  const { data, error } = await anon().rpc("get_user_profile", { user_row: ada })
  assert.equal(error, null)
  assert.deepEqual(data, { username: "ada", full_name: "Ada Lovelace" })
  assert.deepEqual(data, postgresCall("get_user_profile", ada))
})

test("a plpgsql function reads the row argument as a record; missing fields are null", async () => {
  for (const row of [ada, { id: 3 }, { id: 4, username: "grace", unknown: true }]) {
    const { data, error } = await anon().rpc("greeting", { u: row })
    assert.equal(error, null)
    assert.equal(data, postgresCall("greeting", row))
  }
})

test("a row-typed function reads tables under the caller's policies", async () => {
  const { data: asAnon } = await anon().rpc("post_count", { u: ada })
  const { data: asOwner } = await signedIn(A).rpc("post_count", { u: ada })
  assert.deepEqual([asAnon, asOwner], [1, 2])
  assert.deepEqual([asAnon, asOwner], [postgresCall("post_count", ada), postgresCall("post_count", ada, { role: "authenticated", sub: A })])
})

test("a row argument that is not an object is refused as Postgres refuses it", async () => {
  const { error } = await anon().rpc("get_user_profile", { user_row: 1 })
  assert.equal(error.code, "22P02")
})

test("a function of the row is a computed field: selected, filtered and ordered on", async () => {
  const { data, error } = await anon().from("users").select("id,full_name,posts:post_count").order("full_name", { ascending: false })
  assert.equal(error, null)
  const { output } = postgres.sql(
    "select json_agg(json_build_object('id', id, 'full_name', full_name(u), 'posts', post_count(u)) order by full_name(u) desc) from public.users u;",
    { role: "anon" },
  )
  assert.deepEqual(data, JSON.parse(output))
  assert.deepEqual(data, [
    { id: 2, full_name: "Alan Turing", posts: 1 },
    { id: 1, full_name: "Ada Lovelace", posts: 1 },
  ])
  const { data: filtered } = await signedIn(A).from("users").select("username,post_count").eq("full_name", "Ada Lovelace")
  assert.deepEqual(filtered, [{ username: "ada", post_count: 2 }])
  const { error: unknown } = await anon().from("users").select("id,greeting_of")
  assert.equal(unknown.code, "42703")
})

test("a computed field needs EXECUTE on its function, as in Postgres", async () => {
  const { error } = await anon().from("users").select("id,shout")
  assert.equal(error.code, "42501")
  assert.equal(postgres.sql("select shout(u) from public.users u;", { role: "anon" }).code, "42501")
  const { data } = await signedIn(A).from("users").select("shout").order("id")
  assert.deepEqual(data, [{ shout: "ADA!" }, { shout: "ALAN!" }])
})

test("a function of the row returning rows is an embeddable computed relationship", async () => {
  // To-many, under the caller's policies: anon sees published posts only, the owner all.
  const select = "id,user_posts(id,title)"
  const sql = (fn) =>
    `select json_agg(json_build_object('id', u.id, 'user_posts', (select coalesce(json_agg(json_build_object('id', p.id, 'title', p.title)), '[]') from ${fn}(u) p)) order by u.id) from public.users u;`
  const { data: asAnon, error } = await anon().from("users").select(select).order("id")
  assert.equal(error, null)
  assert.deepEqual(asAnon, JSON.parse(postgres.sql(sql("user_posts"), { role: "anon" }).output))
  const { data: asOwner } = await signedIn(A).from("users").select(select).order("id")
  assert.deepEqual(asOwner, JSON.parse(postgres.sql(sql("user_posts"), { role: "authenticated", sub: A }).output))
  assert.deepEqual(asOwner[0].user_posts.map((post) => post.id), [1, 2])
  // Filters, order and limits apply to the embedded rows.
  const { data: filtered } = await signedIn(A).from("users").select("id,user_posts(title)").eq("id", 1).eq("user_posts.published", false)
  assert.deepEqual(filtered, [{ id: 1, user_posts: [{ title: "a draft" }] }])
  const { data: inner } = await anon().from("users").select("id,user_posts!inner(id)").eq("user_posts.id", 3)
  assert.deepEqual(inner, [{ id: 2, user_posts: [{ id: 3 }] }])
  // `rows 1` makes it to-one: an object. (Embedded twice, it needs an alias once, as each
  // embed is joined under its name.)
  const { data: posts } = await anon().from("posts").select("id,writer:author(username),...author(first_name)").order("id")
  assert.deepEqual(posts, [
    { id: 1, writer: { username: "ada" }, first_name: "Ada" },
    { id: 3, writer: { username: "alan" }, first_name: "Alan" },
  ])
})

test("a function returning a set of scalars answers a JSON array of them", async () => {
  const { data, error } = await anon().rpc("usernames")
  assert.equal(error, null)
  assert.deepEqual(data, ["alan", "ada"])
  assert.deepEqual(data, JSON.parse(postgres.sql("select json_agg(u) from public.usernames() u;", { role: "anon" }).output))
  const { data: asAnon } = await anon().rpc("post_ids", { u: ada })
  const { data: asOwner } = await signedIn(A).rpc("post_ids", { u: ada })
  assert.deepEqual([asAnon, asOwner], [[1], [1, 2]])
})
