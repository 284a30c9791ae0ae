// PostgREST's behaviour where the official postgrest-js suite relies on it: requests without
// credentials, the natural order of rows, and the rest of the suite's less common features.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, startServer } from "./harness.mjs"

let server, db
before(async () => {
  server = await startServer("postgrest")
  db = server.client(SERVICE_KEY)
})
after(async () => assert.equal(await server.stop(), 0))

const rest = (path, init = {}) => fetch(`${server.url}/rest/v1/${path}`, init)

test("a request with neither apikey nor Authorization is served as anon, under anon's policies", async () => {
  const read = await rest("notes?select=body")
  assert.equal(read.status, 200)
  assert.deepEqual(await read.json(), [{ body: "announcement" }])
  const write = await rest("notes", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ body: "spam" }) })
  assert.equal(write.status, 401)
  assert.equal((await write.json()).code, "42501")
  const badKey = await rest("notes?select=body", { headers: { apikey: "not-a-key" } })
  assert.equal(badKey.status, 401)
  assert.equal((await badKey.json()).code, "PGRST301")
})

test("rows come in insertion order when the request names no order, at the top and in embeds", async () => {
  const { data, error } = await db.from("users").select("username")
  assert.equal(error, null)
  assert.deepEqual(data.map((row) => row.username), ["supabot", "kiwicopple", "awailas", "dragarcia"])
  const filtered = await db.from("users").select("username").neq("username", "supabot")
  assert.deepEqual(filtered.data.map((row) => row.username), ["kiwicopple", "awailas", "dragarcia"])
  const first = await db.from("users").select("username, messages(body)").limit(1).single()
  assert.deepEqual(first.data, { username: "supabot", messages: [{ body: "Hello World" }, { body: "Perfection" }] })
  const ordered = await db.from("users").select("username").order("username").limit(2)
  assert.deepEqual(ordered.data, [{ username: "awailas" }, { username: "dragarcia" }])
})

test("an RPC call picks the overload whose arguments it names, on POST and on GET", async () => {
  assert.deepEqual(await db.rpc("pick").then(({ data, error }) => ({ data, error })), { data: "none", error: null })
  // `create or replace` replaced the pick(a int) it had created first.
  assert.equal((await db.rpc("pick", { a: 5 })).data, "int a 5")
  assert.equal((await db.rpc("pick", { a: 6 }, { get: true })).data, "int a 6")
  assert.equal((await db.rpc("pick", { b: "x", c: 2 })).data, "b and c")
  assert.equal((await db.rpc("score", { n: 2 })).data, 4)
  assert.equal((await db.rpc("score", { n: 2, bonus: 1 })).data, 5)
  // A plpgsql body calls the overloads by their number of arguments.
  assert.equal((await db.rpc("total")).data, 2 + 12)
})

test("a call that several overloads take is PGRST203; one that none takes is PGRST202", async () => {
  const clash = await db.rpc("clash", { a: "1" })
  assert.equal(clash.status, 300)
  assert.deepEqual(clash.error, {
    code: "PGRST203",
    details: null,
    hint: "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
    message: "Could not choose the best candidate function between: public.clash(a => integer), public.clash(a => text)",
  })
  // pick(b text) and pick(b text, c int default 1) both take {b}.
  const optional = await db.rpc("pick", { b: "x" })
  assert.equal(optional.error.code, "PGRST203")
  assert.match(optional.error.message, /public\.pick\(b => text\), public\.pick\(b => text, c => integer\)$/)
  // pick(c boolean) was dropped by its signature; the other overloads stayed.
  const dropped = await db.rpc("pick", { c: true })
  assert.equal(dropped.status, 404)
  assert.deepEqual(dropped.error, {
    code: "PGRST202",
    details: "Searched for the function public.pick with parameter c or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    hint: "Perhaps you meant to call the function public.pick(b, c)",
    message: "Could not find the function public.pick(c) in the schema cache",
  })
  const none = await db.rpc("clash")
  assert.equal(none.error.message, "Could not find the function public.clash without parameters in the schema cache")
})

test("a function of one unnamed json argument takes the whole body; other unnamed arguments are not offered", async () => {
  assert.deepEqual((await db.rpc("echo", { x: [1, 2] })).data, { x: [1, 2] })
  assert.deepEqual((await db.rpc("echo", { "": { y: 1 } })).data, { y: 1 })
  const hidden = await db.rpc("hidden", { "": 1 })
  assert.equal(hidden.status, 404)
  assert.equal(hidden.error.message, "Could not find the function public.hidden() in the schema cache")
})

test("a void function with an empty body answers 204; a scalar result counts as one row", async () => {
  const nothing = await db.rpc("nothing")
  assert.deepEqual([nothing.status, nothing.data, nothing.error], [204, null, null])
  const counted = await db.rpc("pick", { a: 1 }, { count: "exact" })
  assert.deepEqual([counted.data, counted.count], ["int a 1", 1])
  const head = await db.rpc("pick", { a: 1 }, { head: true, count: "exact", get: true })
  assert.deepEqual([head.status, head.data, head.count], [200, null, 1])
  const uncounted = await rest("rpc/pick?a=1", { headers: { apikey: SERVICE_KEY } })
  assert.equal(uncounted.headers.get("content-range"), "0-0/*")
})

test("a SQL function ending in `update … returning *` answers the rows it updated, filtered and counted", async () => {
  const { data, error, count } = await db.rpc("silence", { name_param: "%i%" }, { count: "exact" }).select("username, status").order("username")
  assert.equal(error, null)
  assert.deepEqual(data, [
    { username: "awailas", status: "OFFLINE" },
    { username: "dragarcia", status: "OFFLINE" },
    { username: "kiwicopple", status: "OFFLINE" },
  ])
  assert.equal(count, 3)
  const one = await db.rpc("silence", { name_param: "supabot" }).select("username").eq("username", "nobody")
  assert.deepEqual([one.error, one.data], [null, []])
  const read = await db.from("users").select("username").eq("status", "OFFLINE").order("username")
  assert.deepEqual(read.data.map((row) => row.username), ["awailas", "dragarcia", "kiwicopple", "supabot"])
})
