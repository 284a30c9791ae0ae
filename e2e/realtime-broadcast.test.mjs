// Broadcast from the database, as Supabase delivers it: realtime.broadcast_changes from a
// trigger and realtime.send from an RPC reach the topic's subscribers after commit, in commit
// order, only those the policies on realtime.messages let in — and never for a rollback.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, closeClients, inbox, signedIn, startServer, subscribed } from "./harness.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
let server
before(async () => (server = await startServer("broadcast")))
after(async () => assert.equal(await server.stop(), 0))

const clientFor = (sub) => signedIn(server.client(), sub)

/** Joins `topic` and collects every broadcast, whatever its event. */
async function listen(client, topic, isPrivate = true) {
  const heard = inbox()
  const channel = client.channel(topic, { config: { private: isPrivate } })
  channel.on("broadcast", { event: "*" }, (message) => heard.push(message))
  await subscribed(channel)
  return heard
}

test("a trigger's broadcast_changes sends inserts, updates and deletes to the room's private topic", async () => {
  const a = clientFor(A)
  try {
    const heard = await listen(a, "room:1")
    const writer = server.client(SERVICE_KEY)
    const { data: created, error } = await writer
      .from("messages")
      .insert({ room_id: 1, body: "hello", meta: { tags: ["x"] } })
      .select()
      .single()
    assert.equal(error, null)
    await writer.from("messages").update({ body: "hello!", pinned: true }).eq("id", created.id)
    await writer.from("messages").delete().eq("id", created.id)

    const insert = await heard.next()
    assert.equal(insert.type, "broadcast")
    assert.equal(insert.event, "INSERT")
    const row = { id: created.id, room_id: 1, body: "hello", pinned: false, meta: { tags: ["x"] } }
    assert.deepEqual(
      { ...insert.payload, id: undefined },
      { operation: "INSERT", table: "messages", schema: "public", record: row, old_record: null, id: undefined },
    )
    // The message's id is in the payload and in meta, as Supabase's realtime.send puts it.
    assert.match(insert.payload.id, /^[0-9a-f-]{36}$/)
    assert.deepEqual(insert.meta, { id: insert.payload.id })

    const update = await heard.next()
    assert.equal(update.event, "UPDATE")
    assert.equal(update.payload.operation, "UPDATE")
    assert.deepEqual(update.payload.record, { ...row, body: "hello!", pinned: true })
    assert.deepEqual(update.payload.old_record, row)

    const remove = await heard.next()
    assert.equal(remove.event, "DELETE")
    assert.equal(remove.payload.record, null)
    assert.deepEqual(remove.payload.old_record, { ...row, body: "hello!", pinned: true })
    assert.notEqual(remove.payload.id, update.payload.id)
  } finally {
    await closeClients(a)
  }
})

test("a rolled-back statement broadcasts nothing, and neither does a failed job committed in a group", async () => {
  const a = clientFor(A)
  try {
    const heard = await listen(a, "room:1")
    const writer = server.client(SERVICE_KEY)
    // The second row breaks the foreign key: the first row's broadcast is rolled back with it.
    const { error } = await writer.from("messages").insert([
      { room_id: 1, body: "lost" },
      { room_id: 99, body: "no such room" },
    ])
    assert.equal(error?.code, "23503")
    // Concurrent writes commit together; the failing ones roll back to their savepoints only.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, n) =>
        writer.from("messages").insert({ room_id: n % 2 === 0 ? 1 : 99, body: `concurrent ${n}` }),
      ),
    )
    assert.deepEqual(
      results.map((result) => result.error?.code ?? "ok"),
      Array.from({ length: 12 }, (_, n) => (n % 2 === 0 ? "ok" : "23503")),
    )
    const bodies = []
    for (let n = 0; n < 6; n++) bodies.push((await heard.next()).payload.record.body)
    assert.deepEqual(bodies.sort(), [0, 10, 2, 4, 6, 8].map((n) => `concurrent ${n}`))
    // A marker after them all: once it is heard, nothing else can still be on its way.
    await writer.from("messages").insert({ room_id: 1, body: "marker" })
    assert.equal((await heard.next()).payload.record.body, "marker")
    assert.equal(heard.items.length, 0)
  } finally {
    await closeClients(a)
  }
})

test("only subscribers the policies let in hear a private topic", async () => {
  const [a, b, bElsewhere] = [clientFor(A), clientFor(B), clientFor(B)]
  try {
    const heardByA = await listen(a, "room:1")
    // B is not a member of room 1: the private join is refused; the public channel of the same
    // name is another topic and hears nothing of the private broadcasts.
    await assert.rejects(listen(bElsewhere, "room:1"), /permissions to read/)
    const heardByBPublic = await listen(b, "room:1", false)
    const heardByB = await listen(b, "room:2")
    const writer = server.client(SERVICE_KEY)
    await writer.from("messages").insert({ room_id: 1, body: "for room 1" })
    await writer.from("messages").insert({ room_id: 2, body: "for room 2" })
    assert.equal((await heardByA.next()).payload.record.body, "for room 1")
    assert.equal((await heardByB.next()).payload.record.body, "for room 2")
    assert.equal(heardByA.items.length, 0)
    assert.equal(heardByBPublic.items.length, 0)
  } finally {
    await closeClients(a, b, bElsewhere)
  }
})

test("realtime.send from an RPC reaches a public topic after commit; a failing RPC sends nothing", async () => {
  const anonymous = server.client()
  try {
    const heard = await listen(anonymous, "room:7", false)
    const caller = server.client()
    const failed = await caller.rpc("announce_then_fail", { room: 7 })
    assert.equal(failed.error?.message, "changed my mind")
    const { error } = await caller.rpc("announce", { room: 7, body: "doors open" })
    assert.equal(error, null)
    const message = await heard.next()
    assert.equal(message.event, "announcement")
    assert.equal(message.payload.body, "doors open")
    assert.deepEqual(message.meta, { id: message.payload.id })
    assert.equal(heard.items.length, 0)
  } finally {
    await closeClients(anonymous)
  }
})
