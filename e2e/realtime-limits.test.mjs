// Realtime's limits as Supabase Realtime enforces them, against hostile clients: a broadcast
// flood shuts the flooding channel down with "Too many messages per second" while others keep
// talking and the server's memory stays put; too many channels, users, joins, presence calls
// and oversized payloads get Supabase's replies; the REST broadcast endpoint has a budget too.
// The project lowers `[realtime]` limits in its config.toml so each is quick to reach.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import WebSocket from "ws"
import { ANON_KEY, SERVICE_KEY, closeClients, copyFixture, inbox, startServer, subscribed } from "./harness.mjs"

let server
before(async () => {
  const workdir = copyFixture("realtime")
  const config = "[realtime]\nmax_concurrent_users = 4\nmax_channels_per_client = 3\nmax_payload_size_in_kb = 1\n"
  fs.writeFileSync(path.join(workdir, "supabase", "config.toml"), config)
  server = await startServer("realtime", workdir)
})
after(async () => assert.equal(await server.stop(), 0))

/** A raw vsn 2.0.0 socket: `push` sends a message, `next` waits for one matching `pick`. */
async function rawSocket() {
  const url = `${server.url.replace("http", "ws")}/realtime/v1/websocket?apikey=${ANON_KEY}&vsn=2.0.0`
  const socket = new WebSocket(url)
  const messages = inbox()
  socket.on("message", (data) => messages.push(JSON.parse(data.toString())))
  const closed = new Promise((resolve) => socket.on("close", (code) => resolve(code)))
  await new Promise((resolve, reject) => (socket.on("open", resolve), socket.on("error", reject)))
  let ref = 0
  return {
    closed,
    push(topic, event, payload) {
      ref += 1
      socket.send(JSON.stringify([String(ref), String(ref), topic, event, payload]))
      return String(ref)
    },
    async next(pick, ms = 5000) {
      const deadline = Date.now() + ms
      for (;;) {
        const [, reference, topic, event, payload] = await messages.next(Math.max(deadline - Date.now(), 1))
        const message = { reference, topic, event, payload }
        if (pick(message)) return message
      }
    },
    /** Joins `topic` and resolves with the join's reply payload. */
    async join(topic, config = {}) {
      const reference = this.push(topic, "phx_join", { config })
      return (await this.next((message) => message.reference === reference)).payload
    },
    close: () => (socket.close(), closed),
  }
}

function rssKib(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(status.match(/VmRSS:\s+(\d+)/)[1])
}

test("a broadcast flood shuts the flooding channel down; other clients keep talking; memory stays bounded", async () => {
  const bystander = server.client()
  const otherSender = server.client()
  const flooder = await rawSocket()
  try {
    const floodHeard = inbox()
    const floodRoom = bystander.channel("flood").on("broadcast", { event: "*" }, (message) => floodHeard.push(message))
    await subscribed(floodRoom)
    const quietHeard = inbox()
    const quiet = bystander.channel("quiet").on("broadcast", { event: "*" }, ({ payload }) => quietHeard.push(payload))
    await subscribed(quiet)
    const quietSender = otherSender.channel("quiet")
    await subscribed(quietSender)
    assert.equal((await flooder.join("realtime:flood")).status, "ok")

    const before = rssKib(server.pid)
    // Twice the budget: the replies to what follows the shutdown stay within the socket's
    // 1,024-message outbox even when this process reads them slowly.
    for (let i = 0; i < 1000; i++) flooder.push("realtime:flood", "broadcast", { type: "broadcast", event: "spam", payload: { i } })
    const system = await flooder.next((message) => message.event === "system")
    assert.deepEqual(system.payload, { extension: "system", status: "error", message: "Too many messages per second", channel: "flood" })
    const closed = await flooder.next((message) => message.event === "phx_close")
    assert.equal(closed.topic, "realtime:flood")
    // Pushes after the shutdown are to a topic the socket no longer joined.
    const unmatched = await flooder.next((message) => message.event === "phx_reply" && message.payload.status === "error")
    assert.deepEqual(unmatched.payload.response, { reason: "unmatched topic" })

    // Only the budget's worth got through (500 in the first five seconds), not the flood.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const relayed = floodHeard.items.length
    assert.ok(relayed >= 400 && relayed <= 500, `relayed ${relayed}`)
    assert.ok(rssKib(server.pid) - before < 20 * 1024, "server memory grew by more than 20 MiB")

    // Another client on another channel is unaffected, and so is the listener.
    assert.equal(await quietSender.send({ type: "broadcast", event: "hi", payload: { ok: true } }), "ok")
    assert.deepEqual(await quietHeard.next(), { ok: true })
  } finally {
    await flooder.close()
    await closeClients(bystander, otherSender)
  }
})

test("a client may join max_channels_per_client channels; the next join is refused with Supabase's reason", async () => {
  const socket = await rawSocket()
  try {
    for (const name of ["a", "b", "c"]) assert.equal((await socket.join(`realtime:${name}`)).status, "ok")
    // Joining a joined topic again replaces it and is not one more channel.
    assert.equal((await socket.join("realtime:c")).status, "ok")
    assert.deepEqual(await socket.join("realtime:d"), { status: "error", response: { reason: "ChannelRateLimitReached: Too many channels" } })
    socket.push("realtime:a", "phx_leave", {})
    await socket.next((message) => message.topic === "realtime:a" && message.event === "phx_reply")
    assert.equal((await socket.join("realtime:d")).status, "ok")
  } finally {
    await socket.close()
  }
})

test("a join storm is refused with Too many joins per second and the socket is disconnected", async () => {
  const socket = await rawSocket()
  try {
    // Joins with a bad token: each is counted and answered with one error.
    for (let i = 0; i < 600; i++) socket.push("realtime:storm", "phx_join", { config: {}, access_token: "bad" })
    const refused = await socket.next((message) => /ClientJoin/.test(message.payload.response?.reason))
    assert.deepEqual(refused.payload.response, { reason: "ClientJoinRateLimitReached: Too many joins per second" })
    assert.equal(await socket.closed, 1000)
  } finally {
    await socket.close()
  }
})

test("a broadcast over max_payload_size_in_kb is not relayed; with ack the reply says payload_size_exceeded", async () => {
  const listener = server.client()
  const sender = await rawSocket()
  try {
    const heard = inbox()
    await subscribed(listener.channel("big").on("broadcast", { event: "*" }, ({ payload }) => heard.push(payload)))
    assert.equal((await sender.join("realtime:big", { broadcast: { ack: true } })).status, "ok")
    const big = sender.push("realtime:big", "broadcast", { type: "broadcast", event: "e", payload: { text: "x".repeat(2000) } })
    const reply = await sender.next((message) => message.reference === big)
    assert.deepEqual(reply.payload, { status: "error", response: "payload_size_exceeded" })
    const small = sender.push("realtime:big", "broadcast", { type: "broadcast", event: "e", payload: { text: "ok" } })
    assert.equal((await sender.next((message) => message.reference === small)).payload.status, "ok")
    assert.deepEqual(await heard.next(), { text: "ok" })
    assert.equal(heard.items.length, 0)

    const rest = await fetch(`${server.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ topic: "big", event: "e", payload: { text: "x".repeat(2000) } }] }),
    })
    assert.equal(rest.status, 422)
    assert.deepEqual(await rest.json(), { message: "Payload size exceeds tenant limit" })
  } finally {
    await sender.close()
    await closeClients(listener)
  }
})

test("a sixth presence call within 30 seconds shuts the channel down", async () => {
  const socket = await rawSocket()
  try {
    assert.equal((await socket.join("realtime:lobby", { presence: { key: "me" } })).status, "ok")
    for (let i = 0; i < 5; i++) {
      const reference = socket.push("realtime:lobby", "presence", { type: "presence", event: "track", payload: { i } })
      assert.equal((await socket.next((message) => message.reference === reference)).payload.status, "ok")
    }
    socket.push("realtime:lobby", "presence", { type: "presence", event: "track", payload: { i: 5 } })
    const system = await socket.next((message) => message.event === "system")
    assert.deepEqual(system.payload, { extension: "system", status: "error", message: "Client presence rate limit exceeded", channel: "lobby" })
    assert.equal((await socket.next((message) => message.event === "phx_close")).topic, "realtime:lobby")
  } finally {
    await socket.close()
  }
})

test("max_concurrent_users sockets may have channels; another is refused until one leaves", async () => {
  const sockets = []
  // The sockets of earlier tests are let go of first.
  await new Promise((resolve) => setTimeout(resolve, 300))
  try {
    for (let i = 0; i < 4; i++) {
      const socket = await rawSocket()
      sockets.push(socket)
      assert.equal((await socket.join("realtime:crowd")).status, "ok")
    }
    const late = await rawSocket()
    sockets.push(late)
    assert.deepEqual(await late.join("realtime:crowd"), {
      status: "error",
      response: { reason: "ConnectionRateLimitReached: Too many connected users" },
    })
    await sockets.shift().close()
    const deadline = Date.now() + 5000
    let reply
    do reply = await late.join("realtime:crowd")
    while (reply.status !== "ok" && Date.now() < deadline)
    assert.equal(reply.status, "ok")
  } finally {
    await Promise.all(sockets.map((socket) => socket.close()))
  }
})

test("the REST broadcast endpoint is held to max_events_per_second with Supabase's 429", async () => {
  const post = (count) =>
    fetch(`${server.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: Array.from({ length: count }, (_, i) => ({ topic: "rest", event: "e", payload: { i } })) }),
    })
  const batch = await post(101)
  assert.equal(batch.status, 429)
  assert.deepEqual(await batch.json(), { message: "Too many messages to broadcast, please reduce the batch size" })
  let accepted = 0
  let refused
  for (let i = 0; i < 20 && !refused; i++) {
    const response = await post(50)
    if (response.status === 202) accepted += 50
    else refused = response
  }
  assert.ok(refused, "the budget was never reached")
  assert.equal(refused.status, 429)
  // Supabase refuses a batch once the rate plus the batch would pass the limit: 50/s + 50.
  assert.ok(accepted >= 250 && accepted <= 500, `accepted ${accepted}`)
})
