// On-demand soak (not part of the suite): `node e2e/soak.mjs` runs the debug binary (SOLOBASE_BIN
// for another) for SOAK_SECONDS (180) on loopback, mixing normal traffic (reads, embeds, writes,
// RPC, sign-ins, a realtime subscriber), requests aborted at random moments and hostile input,
// then checks that every kind of request still works. Prints the figures; exits 1 on any 5xx
// to a valid request.
import net from "node:net"
import fs from "node:fs"
import ws from "ws"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"

const SECONDS = Number(process.env.SOAK_SECONDS ?? 180)
const server = await startServer("avail")
const deadline = Date.now() + SECONDS * 1000
const headers = { apikey: ANON_KEY, Authorization: `Bearer ${ANON_KEY}`, "content-type": "application/json" }
const send = (method, path, body, signal) =>
  fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal })
const figures = { valid: 0, validFailed: [], hostile: 0, hostile5xx: [], aborted: 0, heard: 0, latencies: [] }

await send("POST", "/auth/v1/signup", { email: "soak@example.com", password: "soak-password" })
await send("POST", "/rest/v1/items", Array.from({ length: 50 }, (_, i) => ({ name: `seed ${i}` })))

const valid = [
  (signal) => send("GET", "/rest/v1/items?select=id,name,tags(label)&order=id.desc&limit=20", undefined, signal),
  (signal) => send("GET", "/rest/v1/items?id=eq.7", undefined, signal),
  (signal) => send("POST", "/rest/v1/items", { name: "soak" }, signal),
  (signal) => send("POST", "/rest/v1/items", [{ name: "soak a" }, { name: "soak b" }], signal),
  (signal) => send("PATCH", "/rest/v1/items?id=eq.3", { name: "patched" }, signal),
  (signal) => send("POST", "/rest/v1/rpc/item_count", {}, signal),
  (signal) => send("GET", "/rest/v1/rpc/spin?n=2000", undefined, signal),
  (signal) => send("POST", "/rest/v1/rpc/rename_item", { item_id: 5, new_name: "renamed" }, signal),
]
const signIn = (signal) =>
  send("POST", "/auth/v1/token?grant_type=password", { email: "soak@example.com", password: "soak-password" }, signal)
const deep = (open, leaf, close, depth) => open.repeat(depth) + leaf + close.repeat(depth)
const hostile = [
  `/rest/v1/items?or=(${deep("or(", "id.eq.1", ")", 1200)})`,
  `/rest/v1/items?select=${deep("tags(items(", "id", "))", 750)}`,
  "/rest/v1/items?name=match.(unclosed",
  "/rest/v1/items?select=name->a",
  "/rest/v1/items?offset=9223372036854775808",
  `/rest/v1/items?or=(${Array.from({ length: 1200 }, (_, i) => `id.eq.${i}`).join(",")})`,
  `/rest/v1/items?id=in.(${Array.from({ length: 30000 }, (_, i) => i % 10).join(",")})`,
  `/rest/v1/rpc/spin?n=1000000000000`,
]

async function loop(body) {
  while (Date.now() < deadline) await body()
}

async function validWorker(index) {
  await loop(async () => {
    const started = Date.now()
    const kind = figures.valid % 50 === index ? signIn : valid[Math.floor(Math.random() * valid.length)]
    const response = await kind().catch((error) => ({ status: 0, text: async () => String(error) }))
    figures.valid++
    figures.latencies.push(Date.now() - started)
    if (response.status === 0 || response.status >= 500) figures.validFailed.push(`${response.status} ${(await response.text()).slice(0, 120)}`)
    else await response.arrayBuffer()
  })
}

async function abortingWorker() {
  await loop(async () => {
    figures.aborted++
    const delay = Math.random() * 15
    if (figures.aborted % 20 === 0) {
      const socket = net.connect(Number(new URL(server.url).port), "127.0.0.1", () => {
        socket.write(`POST /rest/v1/items HTTP/1.1\r\nHost: x\r\napikey: ${ANON_KEY}\r\ncontent-length: 50\r\n\r\n{"na`)
        setTimeout(() => socket.destroy(), delay)
      })
      await new Promise((resolve) => socket.on("close", resolve).on("error", resolve))
      return
    }
    const controller = new AbortController()
    setTimeout(() => controller.abort(), delay)
    const kind = figures.aborted % 10 === 1 ? signIn : valid[figures.aborted % valid.length]
    await kind(controller.signal)
      .then((response) => response.arrayBuffer())
      .catch(() => {})
  })
}

async function hostileWorker() {
  await loop(async () => {
    const path = hostile[figures.hostile++ % hostile.length]
    const response = await send("GET", path).catch(() => null)
    const text = response ? await response.text() : ""
    if (!response || (response.status >= 500 && !text.includes('"57014"'))) figures.hostile5xx.push(`${response?.status} ${path.slice(0, 60)}`)
  })
}

function subscriber() {
  const socket = new ws(`${server.url.replace("http", "ws")}/realtime/v1/websocket?apikey=${SERVICE_KEY}&vsn=1.0.0`)
  socket.on("open", () => {
    const config = { postgres_changes: [{ event: "INSERT", schema: "public", table: "items" }] }
    socket.send(JSON.stringify({ topic: "realtime:soak", event: "phx_join", payload: { config }, ref: "1", join_ref: "1" }))
  })
  socket.on("message", (data) => {
    if (JSON.parse(data).event === "postgres_changes") figures.heard++
  })
  const heartbeat = setInterval(() => socket.send(JSON.stringify({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "h" })), 20_000)
  return () => (clearInterval(heartbeat), socket.close())
}

const rss = () => Number(fs.readFileSync(`/proc/${server.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1])
const rssBefore = rss()
const stopSubscriber = subscriber()
await Promise.all([
  ...Array.from({ length: 6 }, (_, i) => validWorker(i)),
  ...Array.from({ length: 4 }, abortingWorker),
  ...Array.from({ length: 2 }, hostileWorker),
])
stopSubscriber()

// Afterwards every kind of request works, with more concurrent reads than read connections.
const after = await Promise.all([...valid, signIn, ...valid, ...valid].map((kind) => kind()))
const afterFailed = after.filter((response) => response.status >= 400).map((response) => response.status)
const sorted = figures.latencies.sort((a, b) => a - b)
const percentile = (p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
console.log(
  JSON.stringify(
    {
      seconds: SECONDS,
      valid_requests: figures.valid,
      valid_5xx_or_no_answer: figures.validFailed.length,
      valid_latency_ms: { p50: percentile(50), p99: percentile(99), max: sorted.at(-1) },
      aborted_requests: figures.aborted,
      hostile_requests: figures.hostile,
      hostile_5xx_other_than_timeouts: figures.hostile5xx.length,
      realtime_inserts_heard: figures.heard,
      afterwards_failed: afterFailed,
      server_rss_kib: { before: rssBefore, after: rss() },
    },
    null,
    2,
  ),
)
for (const failure of figures.validFailed.slice(0, 10)) console.log("valid failed:", failure)
for (const failure of figures.hostile5xx.slice(0, 10)) console.log("hostile 5xx:", failure)
const code = await server.stop()
process.exit(figures.validFailed.length || afterFailed.length || figures.hostile5xx.length || code !== 0 ? 1 : 0)
