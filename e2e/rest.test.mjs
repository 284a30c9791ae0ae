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
  const { data: profiles } = await server.client().from("profiles").select("name, todos(title)").order("name")
  assert.deepEqual(profiles, [{ name: "Bob", todos: [] }, { name: "ana", todos: [{ title: "one" }] }])
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
  assert.equal(missing.error.message, 'null value in column "title" of relation "todos" violates not-null constraint')
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

test("rpc calls sql functions with named arguments and shapes their results", async () => {
  const client = server.client()
  assert.deepEqual(await client.rpc("add", { a: 2, b: 3 }).then((r) => r.data), 5)
  assert.equal((await client.rpc("todo_count", { min_id: 2 }, { get: true })).data, 1)
  const { data: open } = await client.rpc("open_todos").select("id, title")
  assert.deepEqual(open, [{ id: 2, title: "two" }])
  const { data: titles } = await client.rpc("titles").eq("done", true)
  assert.deepEqual(titles, [{ title: "one", done: true }])
  const renamed = await client.rpc("rename_todo", { todo_id: 2, new_title: "second" })
  assert.equal(renamed.status, 204)
  assert.equal((await client.from("todos").select("title").eq("id", 2).single()).data.title, "second")
  await client.rpc("rename_todo", { todo_id: 2, new_title: "two" })
  const missing = await client.rpc("nope", {})
  assert.equal(missing.error.code, "PGRST202")
  const wrongArgs = await client.rpc("add", { a: 1 })
  assert.equal(wrongArgs.error.code, "PGRST202")
  // An invoker function cannot read another user's rows behind row-level security.
  // An invoker function reads under the caller's policies: anon sees no secret.
  const guarded = await client.rpc("secret_count")
  assert.equal(guarded.data, 0)
})

test("head, csv, ranges and upserts follow PostgREST", async () => {
  const client = server.client()
  const { count, data, status } = await client.from("todos").select("*", { count: "exact", head: true })
  assert.equal(status, 200)
  assert.equal(count, 2)
  assert.equal(data, null)
  const csv = await client.from("todos").select("id,title").order("id").csv()
  assert.equal(csv.data, "id,title\n1,one\n2,two")
  const ranged = await fetch(`${server.url}/rest/v1/todos?select=id&order=id`, { headers: { apikey: ANON_KEY, Range: "1-1", Prefer: "count=exact" } })
  assert.equal(ranged.status, 206)
  assert.equal(ranged.headers.get("content-range"), "1-1/2")
  assert.deepEqual(await ranged.json(), [{ id: 2 }])
  const upserted = await client.from("profiles").upsert({ id: ANA, name: "ana maria" }, { onConflict: "id" }).select("name")
  assert.deepEqual(upserted.data, [{ name: "ana maria" }])
  const ignored = await client.from("profiles").upsert({ id: ANA, name: "ignored" }, { ignoreDuplicates: true }).select("name")
  assert.deepEqual(ignored.data, [])
  assert.equal((await client.from("profiles").select("name").eq("id", ANA).single()).data.name, "ana maria")
  const duplicate = await client.from("profiles").insert({ id: ANA, name: "again" })
  assert.equal(duplicate.error.code, "23505")
  assert.equal(duplicate.error.message, 'duplicate key value violates unique constraint "profiles_pkey"')
  assert.equal(duplicate.status, 409)
  const dangling = await client.from("todos").insert({ title: "x", owner_id: crypto.randomUUID() })
  assert.equal(dangling.error.code, "23503")
  assert.equal(dangling.error.message, 'insert or update on table "todos" violates foreign key constraint "todos_owner_id_fkey"')
  const preflight = await fetch(`${server.url}/rest/v1/todos`, {
    method: "OPTIONS",
    headers: { Origin: "http://localhost:3000", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "apikey,authorization,prefer" },
  })
  assert.ok(preflight.ok)
  assert.match(preflight.headers.get("access-control-allow-headers"), /prefer/i)
  const cors = await fetch(`${server.url}/rest/v1/todos?select=id`, { headers: { apikey: ANON_KEY, Origin: "http://localhost:3000" } })
  assert.equal(cors.headers.get("access-control-allow-origin"), "*")
  assert.match(cors.headers.get("access-control-expose-headers"), /content-range/i)
})

test("policies filter their subqueries by the other table's policies and inline definer helpers", async () => {
  const as = (sub) => server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${signJwt({ sub, role: "authenticated", exp: 4e9 })}` } } })
  const ana = as(ANA)
  const boss = as("22222222-2222-2222-2222-222222222222")
  // Ana is in team 1 only; team 2's membership row is hidden from her, so its note is too.
  assert.deepEqual((await ana.from("notes").select("body")).data, [{ body: "plan" }])
  assert.deepEqual((await boss.from("notes").select("body")).data, [{ body: "other team" }])
  assert.deepEqual((await server.client().from("notes").select("body")).data, [])
  const { count } = await ana.from("notes").select("*", { count: "exact", head: true })
  assert.equal(count, 1)
  // Only admins (checked by a security definer function) may delete; Ana deletes nothing.
  const { data: none } = await ana.from("notes").delete().eq("team_id", 1).select()
  assert.deepEqual(none, [])
  assert.equal((await server.client(SERVICE_KEY).from("notes").select("id", { count: "exact", head: true })).count, 3)
  const { data: deleted } = await boss.from("notes").delete().eq("body", "other team").select("body")
  assert.deepEqual(deleted, [{ body: "other team" }])
})
