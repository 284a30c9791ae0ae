// Tokens and the channel lifecycle as realtime-js meets them: heartbeats are answered, a
// refreshed access_token re-evaluates the subscriber (losing a read right closes the channel with
// Supabase Realtime's system message), an expired, incomplete or foreign token is refused in
// Realtime's words, and a left channel hears no more.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, closeClients, inbox, signJwt, startServer, subscribed, userToken } from "./harness.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
// Room 1's guest: may see who is in the room, not hear what is said.
const GUEST = "cccccccc-cccc-cccc-cccc-cccccccccccc"
let server
before(async () => (server = await startServer("broadcast")))
after(async () => assert.equal(await server.stop(), 0))

/** A private channel on `topic` whose broadcasts, system messages and statuses are collected;
 * with `presence`, it enables presence and collects each sync's keys too. */
function watch(client, topic, { presence = false } = {}) {
  const heard = inbox()
  const system = inbox()
  const statuses = inbox()
  const present = inbox()
  let channel = client
    .channel(topic, { config: { private: true } })
    .on("broadcast", { event: "*" }, (message) => heard.push(message.payload))
    .on("system", {}, (payload) => system.push(payload))
  if (presence) {
    channel = channel.on("presence", { event: "sync" }, () => present.push(Object.keys(channel.presenceState())))
  }
  channel.subscribe((status, error) => statuses.push(error ? `${status}: ${error.message}` : status))
  return { channel, heard, system, statuses, present }
}

/** Signs `client` in as `sub` and joins the private room 1 (a member's topic). */
async function joinRoom(client, sub, options) {
  client.realtime.setAuth(userToken(sub))
  const room = watch(client, "room:1", options)
  assert.equal(await room.statuses.next(), "SUBSCRIBED")
  return room
}

const writeTo = (room, body) => server.client(SERVICE_KEY).from("messages").insert({ room_id: room, body })

test("a heartbeat is answered", async () => {
  const client = server.client()
  try {
    const beats = inbox()
    client.realtime.onHeartbeat((status) => beats.push(status))
    client.realtime.connect()
    await subscribed(client.channel("beating"))
    await client.realtime.sendHeartbeat()
    assert.equal(await beats.next(), "sent")
    assert.equal(await beats.next(), "ok")
  } finally {
    await closeClients(client)
  }
})

test("a refreshed token with other claims re-evaluates the channel; losing the right to read closes it", async () => {
  const client = server.client()
  try {
    const room = await joinRoom(client, A)
    // A fresh token of the same user keeps the channel.
    await client.realtime.setAuth(userToken(A, 7200))
    await writeTo(1, "still here")
    assert.equal((await room.heard.next()).record.body, "still here")
    // B is no member of room 1: the channel closes with the message Supabase sends.
    await client.realtime.setAuth(userToken(B))
    const closed = await room.system.next()
    assert.equal(closed.status, "error")
    assert.equal(closed.extension, "system")
    assert.equal(closed.message, "You do not have permissions to read from this Channel topic: room:1")
    assert.equal(await room.statuses.next(), "CLOSED")
    await writeTo(1, "gone")
    await writeTo(1, "gone again")
    await assert.rejects(room.heard.next(500), /nothing arrived/)
  } finally {
    await closeClients(client)
  }
})

test("a refreshed token that keeps one read right but loses the other closes the channel", async () => {
  const client = server.client()
  try {
    // A member reads broadcasts and presence; the guest's token would keep presence only.
    const room = await joinRoom(client, A, { presence: true })
    await client.realtime.setAuth(userToken(GUEST))
    const closed = await room.system.next()
    assert.equal(closed.status, "error")
    assert.equal(closed.message, "You no longer have permission to read from this Channel topic: room:1")
    assert.equal(await room.statuses.next(), "CLOSED")
  } finally {
    await closeClients(client)
  }
})

test("a caller who may only see presence joins with presence on, sees who is there, hears no broadcast", async () => {
  const guest = server.client()
  const host = server.client(SERVICE_KEY)
  const member = server.client()
  try {
    guest.realtime.setAuth(userToken(GUEST))
    // Without presence the guest may read nothing here: the join is refused.
    const deaf = watch(guest, "room:1")
    assert.equal(
      await deaf.statuses.next(),
      "CHANNEL_ERROR: Unauthorized: You do not have permissions to read from this Channel topic: room:1",
    )
    await guest.removeChannel(deaf.channel)
    const room = watch(guest, "room:1", { presence: true })
    assert.equal(await room.statuses.next(), "SUBSCRIBED")
    assert.deepEqual(await room.present.next(), [])
    const heardByMember = await joinRoom(member, A)
    const hosting = host.channel("room:1", { config: { private: true, presence: { key: "host" } } })
    await subscribed(hosting)
    assert.equal(await hosting.track({ online: true }), "ok")
    assert.deepEqual(await room.present.next(), ["host"])
    await writeTo(1, "members only")
    assert.equal((await heardByMember.heard.next()).record.body, "members only")
    await hosting.send({ type: "broadcast", event: "note", payload: { body: "members only too" } })
    assert.deepEqual(await heardByMember.heard.next(), { body: "members only too" })
    // The guest's socket delivers in order: once the untrack shows, nothing sent before it is due.
    assert.equal(await hosting.untrack(), "ok")
    assert.deepEqual(await room.present.next(), [])
    assert.equal(room.heard.items.length, 0)
  } finally {
    await closeClients(guest, host, member)
  }
})

test("a refreshed token signed with another key closes the channel; such a token cannot join", async () => {
  const client = server.client()
  const stranger = server.client()
  try {
    const room = await joinRoom(client, A)
    const forged = signJwt({ sub: A, role: "authenticated", exp: Math.floor(Date.now() / 1000) + 600 }, "x".repeat(40))
    await client.realtime.setAuth(forged)
    // Supabase Realtime prints the verifier's error term here.
    assert.equal((await room.system.next()).message, ":signature_error")
    assert.equal(await room.statuses.next(), "CLOSED")
    stranger.realtime.setAuth(forged)
    const refused = watch(stranger, "room:1")
    assert.equal(await refused.statuses.next(), "CHANNEL_ERROR: JwtSignatureError: Failed to validate JWT signature")
  } finally {
    await closeClients(client, stranger)
  }
})

test("an expired token sent on a joined channel closes it, saying how long ago it expired", async () => {
  const client = server.client()
  try {
    const room = await joinRoom(client, A)
    await client.realtime.setAuth(userToken(A, -120))
    const closed = await room.system.next()
    assert.equal(closed.status, "error")
    assert.match(closed.message, /^Token has expired 1[2-3]\d seconds ago$/)
    assert.equal(await room.statuses.next(), "CLOSED")
  } finally {
    await closeClients(client)
  }
})

test("a join is refused for an expired token and for one without exp", async () => {
  const expired = server.client()
  const endless = server.client()
  try {
    expired.realtime.setAuth(userToken(A, -60))
    const first = watch(expired, "room:1")
    assert.match(await first.statuses.next(), /^CHANNEL_ERROR: InvalidJWTToken: Token has expired \d+ seconds ago$/)
    endless.realtime.setAuth(signJwt({ sub: A, role: "authenticated" }))
    const second = watch(endless, "room:1")
    assert.equal(
      await second.statuses.next(),
      "CHANNEL_ERROR: InvalidJWTToken: Fields `role` and `exp` are required in JWT",
    )
  } finally {
    await closeClients(expired, endless)
  }
})

test("a channel left with unsubscribe hears nothing more", async () => {
  const client = server.client()
  try {
    const room = await joinRoom(client, A)
    assert.equal(await room.channel.unsubscribe(), "ok")
    assert.equal(await room.statuses.next(), "CLOSED")
    const other = watch(client, "room:1")
    assert.equal(await other.statuses.next(), "SUBSCRIBED")
    await writeTo(1, "after leaving")
    assert.equal((await other.heard.next()).record.body, "after leaving")
    assert.equal(room.heard.items.length, 0)
  } finally {
    await closeClients(client)
  }
})
