// Realtime through the official supabase-js (realtime-js over `ws`) against the real binary:
// postgres_changes for writes made through REST, filters, per-user isolation, token expiry,
// broadcast, presence and both serializers.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import ws from "ws"
import { postgresChangesFilter as where } from "@supabase/realtime-js"
import { SERVICE_KEY, inbox, signJwt, startServer, subscribed } from "./harness.mjs"

const ANA = "11111111-1111-4111-8111-111111111111"
const BEN = "22222222-2222-4222-8222-222222222222"

let server
before(async () => (server = await startServer("realtime")))
after(async () => assert.equal(await server.stop(), 0))

const userToken = (sub, seconds = 3600) =>
  signJwt({ sub, role: "authenticated", aud: "authenticated", exp: Math.floor(Date.now() / 1000) + seconds })

async function withClient(client, body) {
  try {
    return await body(client)
  } finally {
    await client.removeAllChannels()
    client.realtime.disconnect()
  }
}

test("a subscriber hears inserts, updates and deletes committed through REST, typed", async () => {
  await withClient(server.client(), async (client) => {
    const changes = inbox()
    const channel = client
      .channel("todos-all")
      .on("postgres_changes", { event: "*", schema: "public", table: "todos" }, (payload) => changes.push(payload))
    await subscribed(channel)
    const service = server.client(SERVICE_KEY)
    const { data: row } = await service.from("todos").insert({ title: "a", meta: { x: 1 }, tags: ["p"] }).select().single()
    await service.from("todos").update({ done: true }).eq("id", row.id)
    await service.from("todos").delete().eq("id", row.id)

    const insert = await changes.next()
    assert.equal(insert.eventType, "INSERT")
    assert.equal(insert.schema, "public")
    assert.equal(insert.table, "todos")
    assert.match(insert.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.deepEqual(insert.new, row)
    const update = await changes.next()
    assert.equal(update.eventType, "UPDATE")
    assert.equal(update.new.done, true)
    assert.equal(update.old.id, row.id)
    const remove = await changes.next()
    assert.equal(remove.eventType, "DELETE")
    assert.equal(remove.old.id, row.id)
    assert.deepEqual(remove.new, {})
  })
})

test("event types and filters choose which changes arrive", async () => {
  await withClient(server.client(), async (client) => {
    const matched = inbox()
    const channel = client
      .channel("todos-filtered")
      .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos", filter: "title=eq.wanted" }, (p) =>
        matched.push(["eq", p.new.title]),
      )
      .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos", filter: "title=in.(x,y)" }, (p) =>
        matched.push(["in", p.new.title]),
      )
      .on("postgres_changes", { event: "UPDATE", schema: "public", table: "todos", filter: "title=like.w*" }, (p) =>
        matched.push(["like", p.new.title]),
      )
    await subscribed(channel)
    const service = server.client(SERVICE_KEY)
    await service.from("todos").insert([{ title: "other" }, { title: "y" }, { title: "wanted" }])
    await service.from("todos").update({ done: true }).eq("title", "wanted")
    assert.deepEqual(await matched.next(), ["in", "y"])
    assert.deepEqual(await matched.next(), ["eq", "wanted"])
    assert.deepEqual(await matched.next(), ["like", "wanted"])
  })
})

test("every filter operator realtime-js builds selects the rows Postgres would", async () => {
  const filters = {
    eq: where().eq("title", "apple"),
    neq: where().neq("title", "apple"),
    gt: where().gt("title", "b"),
    gte: where().gte("title", "cherry"),
    lt: where().lt("title", "b"),
    lte: where().lte("title", "apple"),
    in: where().in("title", ["apple", "cherry"]),
    like: where().like("title", "%split"),
    ilike: where().ilike("title", "BAN%"),
    match: where().match("title", "^ch"),
    imatch: where().imatch("title", "^CH"),
    is: where().is("meta", null),
    isDistinct: where().isDistinct("done", true),
    notIn: where().not("title", "in", ["apple", "cherry"]),
    notIs: where().not("meta", "is", null),
    notLike: where().not("title", "like", "%split"),
    quoted: where().eq("title", "x, (y)"),
    and: where().eq("done", true).like("title", "b%"),
    end: where().eq("title", "zz-end"),
  }
  await withClient(server.client(), async (client) => {
    const heard = Object.fromEntries(Object.keys(filters).map((name) => [name, []]))
    const done = inbox()
    let channel = client.channel("todos-operators")
    for (const [name, filter] of Object.entries(filters)) {
      channel = channel.on("postgres_changes", { event: "INSERT", schema: "public", table: "todos", filter }, (p) => {
        heard[name].push(p.new.title)
        if (name === "end") done.push(true)
      })
    }
    await subscribed(channel)
    const rows = [
      { title: "apple", done: false, meta: null },
      { title: "banana split", done: true, meta: { x: 1 } },
      { title: "cherry", done: false, meta: null },
      { title: "x, (y)", done: false, meta: null },
      { title: "zz-end", done: false, meta: null },
    ]
    const { error } = await server.client(SERVICE_KEY).from("todos").insert(rows)
    assert.equal(error, null)
    await done.next()
    const rest = ["cherry", "x, (y)", "zz-end"]
    assert.deepEqual(heard, {
      eq: ["apple"],
      neq: ["banana split", ...rest],
      gt: ["banana split", ...rest],
      gte: rest,
      lt: ["apple"],
      lte: ["apple"],
      in: ["apple", "cherry"],
      like: ["banana split"],
      ilike: ["banana split"],
      match: ["cherry"],
      imatch: ["cherry"],
      is: ["apple", ...rest],
      isDistinct: ["apple", ...rest],
      notIn: ["banana split", "x, (y)", "zz-end"],
      notIs: ["banana split"],
      notLike: ["apple", ...rest],
      quoted: ["x, (y)"],
      and: ["banana split"],
      end: ["zz-end"],
    })
  })
})

test("a filter the server cannot apply is refused on join, not ignored", async () => {
  await withClient(server.client(), async (client) => {
    for (const filter of ["tags=cs.{p}", "nope=eq.1", "done=eq.maybe"]) {
      const channel = client
        .channel(`todos-bad-${filter}`)
        .on("postgres_changes", { event: "*", schema: "public", table: "todos", filter }, () => {})
      await assert.rejects(subscribed(channel), (error) => {
        assert.match(error.message, /Error parsing `filter` params/)
        return true
      })
      await client.removeChannel(channel)
    }
  })
})

test("two users each hear only their own rows, deletes included", async () => {
  const subscribe = async (user) => {
    const client = server.client()
    client.realtime.setAuth(userToken(user))
    const heard = inbox()
    await subscribed(
      client
        .channel(`notes-${user}`)
        .on("postgres_changes", { event: "*", schema: "public", table: "notes" }, (p) =>
          heard.push([p.eventType, p.new.id ?? p.old.id]),
        ),
    )
    return { client, heard }
  }
  const ana = await subscribe(ANA)
  const ben = await subscribe(BEN)
  try {
    const service = server.client(SERVICE_KEY)
    const insert = async (user_id, body) => (await service.from("notes").insert({ user_id, body }).select("id").single()).data.id
    const bens = await insert(BEN, "ben's")
    const anas = await insert(ANA, "ana's")
    await service.from("notes").delete().eq("user_id", BEN)
    await service.from("notes").delete().eq("user_id", ANA)
    // A delete's old row is only its primary key: the notes table has row-level security on.
    assert.deepEqual(await ana.heard.next(), ["INSERT", anas])
    assert.deepEqual(await ana.heard.next(), ["DELETE", anas])
    assert.deepEqual(await ben.heard.next(), ["INSERT", bens])
    assert.deepEqual(await ben.heard.next(), ["DELETE", bens])
  } finally {
    for (const { client } of [ana, ben]) {
      await client.removeAllChannels()
      client.realtime.disconnect()
    }
  }
})

test("a token that expires closes the channel with a system error", async () => {
  await withClient(server.client(), async (client) => {
    client.realtime.setAuth(userToken(ANA, 2))
    const system = inbox()
    const statuses = inbox()
    const channel = client
      .channel("expiring")
      .on("system", {}, (payload) => system.push(payload))
      .on("postgres_changes", { event: "*", schema: "public", table: "notes" }, () => {})
    channel.subscribe((status) => statuses.push(status))
    assert.equal(await statuses.next(), "SUBSCRIBED")
    assert.equal((await system.next()).message, "Subscribed to PostgreSQL")
    const expired = await system.next(10_000)
    assert.equal(expired.status, "error")
    assert.match(expired.message, /^Token has expired/)
    assert.equal(await statuses.next(), "CLOSED")
  })
})

test("broadcast reaches the others, the sender only with self, and ack resolves ok", async () => {
  const alice = server.client()
  const bob = server.client()
  try {
    const aliceHeard = inbox()
    const bobHeard = inbox()
    const aliceChannel = alice
      .channel("room", { config: { broadcast: { self: true, ack: true } } })
      .on("broadcast", { event: "cursor" }, ({ payload }) => aliceHeard.push(payload))
    const bobChannel = bob
      .channel("room")
      .on("broadcast", { event: "*" }, ({ event, payload }) => bobHeard.push([event, payload]))
    await subscribed(aliceChannel)
    await subscribed(bobChannel)
    assert.equal(await aliceChannel.send({ type: "broadcast", event: "cursor", payload: { x: 2 } }), "ok")
    assert.deepEqual(await aliceHeard.next(), { x: 2 })
    assert.deepEqual(await bobHeard.next(), ["cursor", { x: 2 }])
    await bobChannel.send({ type: "broadcast", event: "typing", payload: { who: "bob" } })
    const response = await fetch(`${server.url}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: { apikey: SERVICE_KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ topic: "room", event: "server", payload: { n: 1 } }] }),
    })
    assert.equal(response.status, 202)
    // Bob did not hear his own message (no self): the next one is the server's.
    assert.deepEqual(await bobHeard.next(), ["server", { n: 1 }])
  } finally {
    for (const client of [alice, bob]) {
      await client.removeAllChannels()
      client.realtime.disconnect()
    }
  }
})

test("binary payloads (httpSend of an ArrayBuffer, send over the socket) arrive as bytes under 2.0.0", async () => {
  const sender = server.client(SERVICE_KEY)
  const listener = server.client()
  try {
    const heard = inbox()
    const listening = listener
      .channel("bytes")
      .on("broadcast", { event: "*" }, ({ event, payload }) => heard.push([event, payload]))
    await subscribed(listening)
    const sending = sender.channel("bytes")
    const bytes = new Uint8Array([0, 1, 2, 254, 255])
    const sent = await sending.httpSend("blob", bytes.buffer)
    assert.deepEqual(sent, { success: true })
    const [event, payload] = await heard.next()
    assert.equal(event, "blob")
    assert.ok(payload instanceof ArrayBuffer, "the payload is an ArrayBuffer")
    assert.deepEqual([...new Uint8Array(payload)], [0, 1, 2, 254, 255])

    await subscribed(sending)
    await sending.send({ type: "broadcast", event: "raw", payload: new Uint8Array([9, 8]).buffer })
    const [rawEvent, raw] = await heard.next()
    assert.equal(rawEvent, "raw")
    assert.deepEqual([...new Uint8Array(raw)], [9, 8])

    // A JSON httpSend still arrives as JSON.
    assert.deepEqual(await sending.httpSend("json", { n: 1 }), { success: true })
    assert.deepEqual(await heard.next(), ["json", { n: 1 }])
  } finally {
    for (const client of [sender, listener]) {
      await client.removeAllChannels()
      client.realtime.disconnect()
    }
  }
})

test("presence syncs state, joins and leaves", async () => {
  const alice = server.client()
  const bob = server.client()
  try {
    const events = inbox()
    const aliceChannel = alice
      .channel("lobby", { config: { presence: { key: "alice" } } })
      .on("presence", { event: "join" }, ({ key }) => events.push(["join", key]))
      .on("presence", { event: "leave" }, ({ key }) => events.push(["leave", key]))
    await subscribed(aliceChannel)
    assert.equal(await aliceChannel.track({ mood: "calm" }), "ok")
    assert.deepEqual(await events.next(), ["join", "alice"])
    const bobChannel = bob.channel("lobby", { config: { presence: { key: "bob" } } }).on("presence", { event: "sync" }, () => {})
    await subscribed(bobChannel)
    await bobChannel.track({ mood: "busy" })
    assert.deepEqual(await events.next(), ["join", "bob"])
    const state = aliceChannel.presenceState()
    assert.deepEqual(Object.keys(state).sort(), ["alice", "bob"])
    assert.equal(state.bob[0].mood, "busy")
    assert.equal(typeof state.bob[0].presence_ref, "string")
    await bob.removeChannel(bobChannel)
    assert.deepEqual(await events.next(), ["leave", "bob"])
  } finally {
    for (const client of [alice, bob]) {
      await client.removeAllChannels()
      client.realtime.disconnect()
    }
  }
})

test("the 1.0.0 serializer works the same and unsubscribe answers ok", async () => {
  const client = server.client(undefined, { realtime: { transport: ws, vsn: "1.0.0" } })
  await withClient(client, async () => {
    const changes = inbox()
    const heard = inbox()
    const channel = client
      .channel("v1", { config: { broadcast: { self: true } } })
      .on("postgres_changes", { event: "INSERT", schema: "public", table: "todos" }, (p) => changes.push(p.new.title))
      .on("broadcast", { event: "ping" }, ({ payload }) => heard.push(payload))
    await subscribed(channel)
    await server.client(SERVICE_KEY).from("todos").insert({ title: "over v1" })
    assert.equal(await changes.next(), "over v1")
    await channel.send({ type: "broadcast", event: "ping", payload: { v: 1 } })
    assert.deepEqual(await heard.next(), { v: 1 })
    assert.equal(await channel.unsubscribe(), "ok")
  })
})
