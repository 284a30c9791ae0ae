// Realtime as Supabase authorizes it: with row-level security on, old rows carry only their
// primary key, and private channels are open only where policies on realtime.messages allow.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, inbox, signJwt, startServer, subscribed } from "./harness.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
let server
before(async () => (server = await startServer("access")))
after(async () => assert.equal(await server.stop(), 0))

const token = (sub) => signJwt({ sub, role: "authenticated", aud: "authenticated", exp: Math.floor(Date.now() / 1000) + 3600 })

function clientFor(sub) {
  const client = server.client()
  client.realtime.setAuth(token(sub))
  return client
}

async function closeAll(...clients) {
  for (const client of clients) {
    await client.removeAllChannels()
    client.realtime.disconnect()
  }
}

test("old rows of updates and deletes carry only the primary key, and a row moved away says nothing old", async () => {
  const [a, b] = [clientFor(A), clientFor(B)]
  try {
    const heardByA = inbox()
    const heardByB = inbox()
    await subscribed(a.channel("a-notes").on("postgres_changes", { event: "*", schema: "public", table: "notes" }, (p) => heardByA.push(p)))
    await subscribed(b.channel("b-notes").on("postgres_changes", { event: "*", schema: "public", table: "notes" }, (p) => heardByB.push(p)))
    const service = server.client(SERVICE_KEY)
    await service.from("notes").insert({ id: 50, user_id: A, body: "draft" })
    assert.equal((await heardByA.next()).eventType, "INSERT")
    await service.from("notes").update({ body: "final" }).eq("id", 50)
    const update = await heardByA.next()
    assert.equal(update.new.body, "final")
    assert.deepEqual(update.old, { id: 50 })
    // Handed to B: B hears the row as it is now and nothing of what it was; A hears nothing.
    await service.from("notes").update({ user_id: B, body: "handed over" }).eq("id", 50)
    const moved = await heardByB.next()
    assert.equal(moved.eventType, "UPDATE")
    assert.equal(moved.new.body, "handed over")
    assert.deepEqual(moved.old, { id: 50 })
    await service.from("notes").delete().eq("id", 50)
    const removed = await heardByB.next()
    assert.equal(removed.eventType, "DELETE")
    assert.deepEqual(removed.old, { id: 50 })
    assert.equal(heardByA.items.length, 0)
    assert.equal(heardByB.items.length, 0)
  } finally {
    await closeAll(a, b)
  }
})
