// Statement timeouts per role ([db.statement_timeout] in config.toml; this fixture: anon 400 ms,
// authenticated 1.5 s): a query past its role's time is canceled with Postgres's 57014, and a
// fast request stays fast while slow ones run.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, signJwt, startServer } from "./harness.mjs"

let server
before(async () => {
  server = await startServer("avail")
  assert.equal((await call("/rest/v1/items", { name: "one" }, ANON_KEY)).status, 201)
})
after(async () => assert.equal(await server.stop(), 0))

const USER = signJwt({ sub: "11111111-1111-4111-8111-111111111111", role: "authenticated", exp: 4e9 })
const FOREVER = 1e12

function call(path, body, token) {
  return fetch(`${server.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { apikey: ANON_KEY, Authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

async function timed(promise) {
  const started = Date.now()
  const response = await promise
  return { response, body: await response.json(), ms: Date.now() - started }
}

function assertCanceled({ response, body }) {
  assert.equal(response.status, 500)
  assert.equal(body.code, "57014")
  assert.equal(body.message, "canceling statement due to statement timeout")
}

test("a read past the role's statement timeout is canceled with 57014", async () => {
  const anon = await timed(call(`/rest/v1/rpc/spin?n=${FOREVER}`, undefined, ANON_KEY))
  assertCanceled(anon)
  assert.ok(anon.ms >= 350 && anon.ms < 3000, `anon canceled after ${anon.ms} ms`)
  const user = await timed(call(`/rest/v1/rpc/spin?n=${FOREVER}`, undefined, USER))
  assertCanceled(user)
  assert.ok(user.ms >= 1400 && user.ms < 6000, `authenticated canceled after ${user.ms} ms`)
  const quick = await timed(call("/rest/v1/rpc/spin", { n: 1000 }, ANON_KEY))
  assert.equal(quick.body, 1000)
})

test("a write past the timeout is canceled and rolled back; the writer goes on", async () => {
  assertCanceled(await timed(call("/rest/v1/rpc/spin_write", { n: FOREVER }, ANON_KEY)))
  const insert = await call("/rest/v1/items", { name: "after" }, ANON_KEY)
  assert.equal(insert.status, 201)
})

test("a write statement canceled in a group commit costs the writes grouped with it nothing", async () => {
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const slow = () => timed(call("/rest/v1/rpc/slow_update", { n: FOREVER }, ANON_KEY))
  const insert = (name) => call("/rest/v1/items", { name }, ANON_KEY)
  // The first slow write holds the writer; the next three queue behind it as one group.
  const holding = slow()
  await pause(100)
  const before = insert("queued before")
  await pause(30)
  const canceled = slow()
  await pause(30)
  const after = insert("queued after")
  assertCanceled(await holding)
  assertCanceled(await canceled)
  assert.equal((await before).status, 201)
  assert.equal((await after).status, 201)
  const names = await (await call("/rest/v1/items?select=name&name=like.queued*&order=name", undefined, ANON_KEY)).json()
  assert.deepEqual(names, [{ name: "queued after" }, { name: "queued before" }])
})

test("a one-row read stays fast while slow reads run", async () => {
  const slow = Array.from({ length: 6 }, () => timed(call(`/rest/v1/rpc/spin?n=${FOREVER}`, undefined, USER)))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const fast = await timed(call("/rest/v1/items?select=name&id=eq.1", undefined, USER))
  assert.deepEqual(fast.body, [{ name: "one" }])
  assert.ok(fast.ms < 700, `the one-row read took ${fast.ms} ms beside six slow ones`)
  for (const result of await Promise.all(slow)) assertCanceled(result)
})
