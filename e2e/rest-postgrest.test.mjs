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
