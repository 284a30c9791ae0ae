// Clients that go away mid-request (a fetch timeout, a closed tab, a half-sent body, a socket
// dropped during its join) leave nothing behind: afterwards every kind of request still works,
// also with more concurrent reads than the pool has connections.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import net from "node:net"
import ws from "ws"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"

const EMAIL = "walker@example.com"
const PASSWORD = "correct-horse-battery"
let server
before(async () => {
  server = await startServer("avail")
  const signup = await post("/auth/v1/signup", { email: EMAIL, password: PASSWORD })
  assert.equal(signup.status, 200)
  await post("/rest/v1/items", Array.from({ length: 20 }, (_, i) => ({ name: `item ${i}` })))
})
after(async () => assert.equal(await server.stop(), 0))

const headers = { apikey: ANON_KEY, Authorization: `Bearer ${ANON_KEY}`, "content-type": "application/json" }
const post = (path, body, signal) =>
  fetch(`${server.url}${path}`, { method: "POST", headers, body: JSON.stringify(body), signal })
const get = (path, signal) => fetch(`${server.url}${path}`, { headers, signal })

/** Every kind of request, each a function of an abort signal. */
const kinds = [
  (signal) => get("/rest/v1/items?select=*,tags(*)&order=id", signal),
  (signal) => post("/rest/v1/rpc/spin", { n: 1 + Math.floor(Math.random() * 5_000) }, signal),
  (signal) => post("/rest/v1/rpc/item_count", {}, signal),
  (signal) => post("/rest/v1/items", { name: "aborted" }, signal),
  (signal) => post("/rest/v1/rpc/rename_item", { item_id: 1, new_name: "renamed" }, signal),
]
const signIn = (signal) => post("/auth/v1/token?grant_type=password", { email: EMAIL, password: PASSWORD }, signal)

/** Opens a realtime socket, sends a join and drops the connection after `delay` ms. */
function abandonedJoin(delay) {
  return new Promise((resolve) => {
    const socket = new ws(`${server.url.replace("http", "ws")}/realtime/v1/websocket?apikey=${ANON_KEY}&vsn=1.0.0`)
    const config = { postgres_changes: [{ event: "*", schema: "public", table: "items" }] }
    socket.on("open", () => {
      socket.send(JSON.stringify({ topic: "realtime:left", event: "phx_join", payload: { config }, ref: "1", join_ref: "1" }))
      setTimeout(() => socket.terminate(), delay)
    })
    socket.on("close", resolve)
    socket.on("error", resolve)
  })
}

/** Sends the head of a request and half its body, then hangs up. */
function halfSent(path, delay) {
  return new Promise((resolve) => {
    const { port } = new URL(server.url)
    const socket = net.connect(Number(port), "127.0.0.1", () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\napikey: ${ANON_KEY}\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n{"name":`,
      )
      setTimeout(() => socket.destroy(), delay)
    })
    socket.on("close", resolve)
    socket.on("error", resolve)
  })
}

async function abortedTraffic(total, concurrency) {
  let next = 0
  const worker = async () => {
    while (next < total) {
      const index = next++
      const delay = Math.random() * 15
      if (index % 25 === 0) await abandonedJoin(delay)
      else if (index % 25 === 1) await halfSent("/rest/v1/items", delay)
      else {
        const controller = new AbortController()
        const timer = setTimeout(() => controller.abort(), delay)
        const send = index % 25 === 2 ? signIn : kinds[index % kinds.length]
        await send(controller.signal).then((response) => response.arrayBuffer()).catch(() => {})
        clearTimeout(timer)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

test("thousands of requests aborted at random moments leave every kind of request working", async () => {
  await abortedTraffic(2500, 32)

  // More slow reads at once than there are read connections: each waits its turn and succeeds.
  const spins = await Promise.all(Array.from({ length: 12 }, () => post("/rest/v1/rpc/spin", { n: 20_000 })))
  for (const response of spins) {
    assert.equal(response.status, 200)
    assert.equal(await response.json(), 20_000)
  }
  const read = await get("/rest/v1/items?select=id,tags(id)&id=eq.2")
  assert.equal(read.status, 200)
  assert.deepEqual(await read.json(), [{ id: 2, tags: [] }])
  const count = await post("/rest/v1/rpc/item_count", {})
  assert.equal(count.status, 200)
  assert.ok((await count.json()) >= 20)
  const rename = await post("/rest/v1/rpc/rename_item", { item_id: 3, new_name: "third" })
  assert.equal(rename.status, 204)
  assert.equal((await signIn()).status, 200)

  // A fresh subscriber hears a fresh insert.
  const socket = new ws(`${server.url.replace("http", "ws")}/realtime/v1/websocket?apikey=${SERVICE_KEY}&vsn=1.0.0`)
  const heard = new Promise((resolve, reject) => {
    socket.on("message", async (data) => {
      const message = JSON.parse(data)
      if (message.event === "phx_reply" && message.ref === "1") {
        assert.equal(message.payload.status, "ok")
        assert.equal((await post("/rest/v1/items", { name: "after the storm" })).status, 201)
      }
      if (message.event === "postgres_changes") resolve(message.payload.data.record.name)
    })
    socket.on("error", reject)
  })
  await new Promise((resolve) => socket.on("open", resolve))
  const config = { postgres_changes: [{ event: "INSERT", schema: "public", table: "items" }] }
  socket.send(JSON.stringify({ topic: "realtime:after", event: "phx_join", payload: { config }, ref: "1", join_ref: "1" }))
  assert.equal(await heard, "after the storm")
  socket.close()
})
