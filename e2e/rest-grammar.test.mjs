// The rest of PostgREST's grammar through supabase-js: every filter operator, embedding hints,
// embedded filters, views, bulk inserts and the parser's error codes.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"

let server, db
before(async () => {
  server = await startServer("rest")
  db = server.client(SERVICE_KEY)
})
after(async () => assert.equal(await server.stop(), 0))

const bodies = async (query) => {
  const { data, error } = await query
  assert.equal(error, null)
  return data.map((row) => row.body)
}

test("every filter operator selects what Postgres would", async () => {
  const m = () => db.from("messages").select("body").order("id")
  assert.deepEqual(await bodies(m().neq("body", "hi ana")), ["Hello Bob", "note to self"])
  assert.deepEqual(await bodies(m().gt("score", 1.5)), ["note to self"])
  assert.deepEqual(await bodies(m().gte("score", 1.5)), ["Hello Bob", "note to self"])
  assert.deepEqual(await bodies(m().lt("sent_at", "2024-01-02T00:00:00Z")), ["Hello Bob"])
  assert.deepEqual(await bodies(m().lte("sent_at", "2024-01-02 10:30:00.25+01")), ["Hello Bob", "hi ana"])
  assert.deepEqual(await bodies(m().like("body", "%Bob")), ["Hello Bob"])
  assert.deepEqual(await bodies(m().like("body", "%bob")), [])
  assert.deepEqual(await bodies(m().ilike("body", "%BOB")), ["Hello Bob"])
  assert.deepEqual(await bodies(m().likeAnyOf("body", ["hi%", "note%"])), ["hi ana", "note to self"])
  assert.deepEqual(await bodies(m().regexMatch("body", "^h")), ["hi ana"])
  assert.deepEqual(await bodies(m().regexIMatch("body", "^h")), ["Hello Bob", "hi ana"])
  assert.deepEqual(await bodies(m().match({ body: "hi ana", counter: 2 })), ["hi ana"])
  assert.deepEqual(await bodies(m().is("recipient_id", null)), ["note to self"])
  assert.deepEqual(await bodies(m().not("recipient_id", "is", null)), ["Hello Bob", "hi ana"])
  assert.deepEqual(await bodies(m().in("counter", ["2", "9007199254740993"])), ["Hello Bob", "hi ana"])
  assert.deepEqual(await bodies(m().not("body", "in", '("hi ana","note to self")')), ["Hello Bob"])
  assert.deepEqual(await bodies(m().or("score.is.null,and(score.gt.2,body.ilike.*self*)")), ["hi ana", "note to self"])
  assert.deepEqual(await bodies(m().textSearch("body", "note self")), ["note to self"])
  assert.deepEqual(await bodies(db.from("messages").select("body").order("score", { ascending: false, nullsFirst: true })), ["hi ana", "note to self", "Hello Bob"])
  const { data: tags } = await db.from("todos").select("id").overlaps("tags", ["b", "z"])
  assert.deepEqual(tags, [{ id: 1 }])
  const { data: contained } = await db.from("todos").select("id").containedBy("tags", ["a", "b", "c"]).order("id")
  assert.deepEqual(contained, [{ id: 1 }, { id: 2 }])
  const { data: meta } = await db.from("todos").select("id").contains("meta", {})
  assert.equal(meta.length, 2)
})

test("values come back typed as Postgres sends them", async () => {
  const { data } = await db.from("messages").select("sent_at, score, counter, id::text, sender:profiles!sender_id(name)").order("id").limit(1).single()
  assert.deepEqual(data, { sent_at: "2024-01-01T08:00:00+00:00", score: 1.5, counter: 9007199254740993, id: "1", sender: { name: "ana" } })
})

test("embedding hints pick a relationship; ambiguity and unknown ones are errors", async () => {
  const { data } = await db.from("messages").select("body, to:profiles!messages_recipient_id_fkey(name)").eq("id", 1)
  assert.deepEqual(data, [{ body: "Hello Bob", to: { name: "Bob" } }])
  const ambiguous = await db.from("messages").select("body, profiles(name)")
  assert.equal(ambiguous.error.code, "PGRST201")
  assert.equal(ambiguous.status, 300)
  const unknown = await db.from("messages").select("body, todos(title)")
  assert.equal(unknown.error.code, "PGRST200")
})

test("embedded resources take their own filters, order and limit", async () => {
  const { data } = await db
    .from("profiles")
    .select("name, sent:messages!sender_id(body)")
    .eq("name", "Bob")
    .order("body", { referencedTable: "sent", ascending: false })
    .limit(1, { referencedTable: "sent" })
  assert.deepEqual(data, [{ name: "Bob", sent: [{ body: "note to self" }] }])
  const { data: filtered } = await db.from("profiles").select("name, sent:messages!sender_id!inner(body)").eq("sent.body", "hi ana")
  assert.deepEqual(filtered, [{ name: "Bob", sent: [{ body: "hi ana" }] }])
})

test("views read like tables", async () => {
  const { data } = await server.client().from("open_todo_titles").select("title").order("id")
  assert.deepEqual(data, [{ title: "two" }])
})

test("bulk inserts fill missing columns with null, or with defaults when asked", async () => {
  const rows = [{ sender_id: "11111111-1111-1111-1111-111111111111", body: "a", score: 1 }, { sender_id: "11111111-1111-1111-1111-111111111111", body: "b" }]
  const { data: nulls } = await db.from("messages").insert(rows).select("body, score")
  assert.deepEqual(nulls, [{ body: "a", score: 1 }, { body: "b", score: null }])
  const { data: defaults, error } = await db.from("todos").insert([{ title: "x", done: true }, { title: "y" }], { defaultToNull: false }).select("title, done")
  assert.equal(error, null)
  assert.deepEqual(defaults, [{ title: "x", done: true }, { title: "y", done: false }])
  const nullDone = await db.from("todos").insert([{ title: "x", done: true }, { title: "y" }]).select("title, done")
  assert.equal(nullDone.error.code, "23502")
  assert.equal((await db.from("todos").select("id", { count: "exact", head: true })).count, 4)
})

test("grammar and payload errors carry PostgREST's codes", async () => {
  const get = (query) => fetch(`${server.url}/rest/v1/${query}`, { headers: { apikey: ANON_KEY } })
  const badFilter = await get("todos?id=nope.1")
  assert.equal(badFilter.status, 400)
  assert.equal((await badFilter.json()).code, "PGRST100")
  const badSelect = await get("todos?select=id,owner(")
  assert.equal((await badSelect.json()).code, "PGRST100")
  const unknownKey = await db.from("todos").insert({ title: "x", nope: 1 })
  assert.equal(unknownKey.error.code, "PGRST204")
  const badJson = await fetch(`${server.url}/rest/v1/todos`, { method: "POST", headers: { apikey: ANON_KEY, "Content-Type": "application/json" }, body: "{oops" })
  assert.equal((await badJson.json()).code, "PGRST102")
  const badSchema = await fetch(`${server.url}/rest/v1/todos`, { headers: { apikey: ANON_KEY, "Accept-Profile": "private" } })
  assert.equal(badSchema.status, 406)
  assert.equal((await badSchema.json()).code, "PGRST106")
  const badInt = await db.from("todos").select().eq("id", "x")
  assert.equal(badInt.error.code, "22P02")
})

test("return=headers-only gives a Location, and max-affected refuses wide changes", async () => {
  const inserted = await fetch(`${server.url}/rest/v1/todos`, {
    method: "POST",
    headers: { apikey: SERVICE_KEY, "Content-Type": "application/json", Prefer: "return=headers-only" },
    body: JSON.stringify({ title: "located" }),
  })
  assert.equal(inserted.status, 201)
  const location = inserted.headers.get("location")
  assert.match(location, /^\/todos\?id=eq\.\d+$/)
  const found = await fetch(`${server.url}/rest/v1${location}&select=title`, { headers: { apikey: SERVICE_KEY } })
  assert.deepEqual(await found.json(), [{ title: "located" }])
  const wide = await db.from("todos").update({ done: true }).gt("id", 0).maxAffected(1)
  assert.equal(wide.error.code, "PGRST124")
  assert.equal((await db.from("todos").select("id").eq("done", false)).data.length > 0, true)
})
