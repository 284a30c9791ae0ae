// REST through the official supabase-js against the real binary.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, PUBLISHABLE_KEY, SERVICE_KEY, signJwt, startServer } from "./harness.mjs"

const ANA = "11111111-1111-1111-1111-111111111111"
let server
before(async () => (server = await startServer("rest")))
after(async () => assert.equal(await server.stop(), 0))

test("select returns typed values, embeds and an exact count", async () => {
  const { data, error, count } = await server
    .client()
    .from("todos")
    .select("id, title, done, tags, owner:profiles(name)", { count: "exact" })
    .order("id")
  assert.equal(error, null)
  assert.equal(count, 2)
  assert.deepEqual(data, [
    { id: 1, title: "one", done: true, tags: ["a", "b"], owner: { name: "ana" } },
    { id: 2, title: "two", done: false, tags: [], owner: null },
  ])
  const { data: profiles } = await server.client().from("profiles").select("name, todos(title)")
  assert.deepEqual(profiles, [{ name: "ana", todos: [{ title: "one" }] }])
})

test("filters, or-trees, ranges and single behave as PostgREST", async () => {
  const client = server.client()
  const { data: open } = await client.from("todos").select("title").eq("done", false)
  assert.deepEqual(open, [{ title: "two" }])
  const { data: either } = await client.from("todos").select("id").or("title.eq.two,and(done.is.true,id.lt.5)").order("id", { ascending: false })
  assert.deepEqual(either, [{ id: 2 }, { id: 1 }])
  const { data: tagged } = await client.from("todos").select("id").contains("tags", ["b"])
  assert.deepEqual(tagged, [{ id: 1 }])
  const { data: page } = await client.from("todos").select("id").order("id").range(1, 1)
  assert.deepEqual(page, [{ id: 2 }])
  const { data: one } = await client.from("todos").select("title").eq("id", 1).single()
  assert.deepEqual(one, { title: "one" })
  const { error } = await client.from("todos").select().eq("id", 99).single()
  assert.equal(error.code, "PGRST116")
})

test("writes return representations and constraint errors carry SQLSTATEs", async () => {
  const client = server.client()
  const { data, status } = await client.from("todos").insert({ title: "three", meta: { x: 1 } }).select("title, done, meta").single()
  assert.equal(status, 201)
  assert.deepEqual(data, { title: "three", done: false, meta: { x: 1 } })
  const { data: updated } = await client.from("todos").update({ done: true }).eq("title", "three").select("done")
  assert.deepEqual(updated, [{ done: true }])
  const empty = await client.from("todos").insert({ title: "" })
  assert.equal(empty.error.code, "23514")
  const missing = await client.from("todos").insert({ done: true })
  assert.equal(missing.error.code, "23502")
  const badUuid = await client.from("profiles").select().eq("id", "abc")
  assert.equal(badUuid.error.code, "22P02")
  const unknown = await client.from("todos").select("nope")
  assert.equal(unknown.error.code, "42703")
  const table = await client.from("todoz").select()
  assert.equal(table.error.code, "PGRST205")
  const { count } = await client.from("todos").delete({ count: "exact" }).eq("title", "three")
  assert.equal(count, 1)
})

test("row-level security hides other users' rows and rejects forged tokens", async () => {
  const anon = await server.client().from("secrets").select("body")
  assert.deepEqual(anon.data, [])
  const ana = server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ sub: ANA, role: "authenticated", exp: 4e9 })}` } } })
  assert.deepEqual((await ana.from("secrets").select("body")).data, [{ body: "hidden" }])
  const bob = server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ sub: crypto.randomUUID(), role: "authenticated", exp: 4e9 })}` } } })
  assert.deepEqual((await bob.from("secrets").select("body")).data, [])
  assert.deepEqual((await bob.from("secrets").update({ body: "mine" }).eq("id", 1).select()).data, [])
  const denied = await bob.from("secrets").insert({ user_id: ANA, body: "forged" })
  assert.equal(denied.error.code, "42501")
  assert.deepEqual((await server.client(SERVICE_KEY).from("secrets").select("body")).data, [{ body: "hidden" }])
  const forged = server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ role: "service_role" }, "not-the-project-secret-but-long-enough")}` } } })
  const refused = await forged.from("secrets").select()
  assert.equal(refused.status, 401)
  assert.equal(refused.error.code, "PGRST301")
  const expired = server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ role: "authenticated", exp: 1000 })}` } } })
  assert.equal((await expired.from("todos").select()).error.code, "PGRST303")
  assert.equal((await server.client(PUBLISHABLE_KEY).from("todos").select("id")).error, null)
})
