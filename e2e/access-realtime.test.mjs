// Realtime as Supabase authorizes it: with row-level security on, old rows carry only their
// primary key, and private channels are open only where policies on realtime.messages allow.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, closeClients, inbox, signedIn, startServer, subscribed, userToken } from "./harness.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
let server
before(async () => (server = await startServer("access")))
after(async () => assert.equal(await server.stop(), 0))

const clientFor = (sub) => signedIn(server.client(), sub)

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
    await closeClients(a, b)
  }
})

test("private channels follow the policies on realtime.messages: no policy, no access", async () => {
  const [a, b, anon] = [clientFor(A), clientFor(B), server.client()]
  try {
    const join = (client, topic) =>
      subscribed(client.channel(topic, { config: { private: true, broadcast: { self: true, ack: true } } }))
    // A's own topic is open to A; B's topic and a topic no policy names are not.
    const own = await join(a, `user:${A}`)
    await assert.rejects(join(a, `user:${B}`), /permissions to read/)
    await assert.rejects(join(anon, `user:${A}`), /permissions to read/)
    await assert.rejects(join(b, "lobby"), /permissions to read/)
    // The public channel of the same name is another topic, open to all.
    const heard = inbox()
    await subscribed(b.channel(`user:${A}`).on("broadcast", { event: "hi" }, (p) => heard.push(p.payload)))
    // A may send broadcasts on the own topic (the policy allows extension 'broadcast')…
    const received = inbox()
    own.on("broadcast", { event: "hi" }, (p) => received.push(p.payload))
    assert.equal(await own.send({ type: "broadcast", event: "hi", payload: { n: 1 } }), "ok")
    assert.deepEqual(await received.next(), { n: 1 })
    // …but not track presence there (no policy allows extension 'presence').
    assert.notEqual(await own.track({ online: true }), "ok")
    // Server-side sends to a private topic need the same right.
    const send = (token, topic) =>
      fetch(`${server.url}/realtime/v1/api/broadcast`, {
        method: "POST",
        headers: { apikey: ANON_KEY, Authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ topic, event: "hi", payload: { n: 2 }, private: true }] }),
      })
    assert.equal((await send(userToken(B), `user:${A}`)).status, 403)
    assert.equal((await send(userToken(A), `user:${A}`)).status, 202)
    assert.deepEqual(await received.next(), { n: 2 })
    assert.equal(heard.items.length, 0)
  } finally {
    await closeClients(a, b, anon)
  }
})
