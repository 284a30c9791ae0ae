// A subscribed client survives a server restart: realtime-js reconnects, rejoins, and hears
// changes committed after the restart.
import { test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, copyFixture, startServer } from "./harness.mjs"

test("subscribers reconnect after the server restarts and keep receiving changes", async () => {
  const workdir = copyFixture("realtime")
  let server = await startServer("realtime", workdir)
  const port = Number(new URL(server.url).port)
  const client = server.client()
  const received = []
  let joins = 0
  let joined
  const rejoined = () => new Promise((resolve) => (joined = resolve))
  const firstJoin = rejoined()
  client
    .channel("restart")
    .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (payload) => received.push(payload.new.title))
    .subscribe((status) => {
      if (status === "SUBSCRIBED") {
        joins += 1
        joined()
      }
    })
  await firstJoin
  const secondJoin = rejoined()
  const stopped = Date.now()
  assert.equal(await server.stop(), 0)
  assert.ok(Date.now() - stopped < 5000, "open websockets do not hold the shutdown")
  server = await startServer("realtime", workdir, port)
  await Promise.race([secondJoin, new Promise((_, reject) => setTimeout(() => reject(new Error("no rejoin")), 20_000))])
  assert.equal(joins, 2)
  await server.client(SERVICE_KEY).from("todos").insert({ title: "after restart" })
  const deadline = Date.now() + 5000
  while (!received.includes("after restart") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  assert.deepEqual(received, ["after restart"])
  await client.removeAllChannels()
  client.realtime.disconnect()
  assert.equal(await server.stop(), 0)
})
