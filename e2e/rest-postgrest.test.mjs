// PostgREST's behaviour where the official postgrest-js suite relies on it: requests without
// credentials, the natural order of rows, and the rest of the suite's less common features.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, startServer } from "./harness.mjs"

let server, db
before(async () => {
  server = await startServer("postgrest")
  db = server.client(SERVICE_KEY)
})
after(async () => assert.equal(await server.stop(), 0))

const rest = (path, init = {}) => fetch(`${server.url}/rest/v1/${path}`, init)

test("a request with neither apikey nor Authorization is served as anon, under anon's policies", async () => {
  const read = await rest("notes?select=body")
  assert.equal(read.status, 200)
  assert.deepEqual(await read.json(), [{ body: "announcement" }])
  const write = await rest("notes", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ body: "spam" }) })
  assert.equal(write.status, 401)
  assert.equal((await write.json()).code, "42501")
  const badKey = await rest("notes?select=body", { headers: { apikey: "not-a-key" } })
  assert.equal(badKey.status, 401)
  assert.equal((await badKey.json()).code, "PGRST301")
})

test("rows come in insertion order when the request names no order, at the top and in embeds", async () => {
  const { data, error } = await db.from("users").select("username")
  assert.equal(error, null)
  assert.deepEqual(data.map((row) => row.username), ["supabot", "kiwicopple", "awailas", "dragarcia"])
  const filtered = await db.from("users").select("username").neq("username", "supabot")
  assert.deepEqual(filtered.data.map((row) => row.username), ["kiwicopple", "awailas", "dragarcia"])
  const first = await db.from("users").select("username, messages(body)").limit(1).single()
  assert.deepEqual(first.data, { username: "supabot", messages: [{ body: "Hello World" }, { body: "Perfection" }] })
  const ordered = await db.from("users").select("username").order("username").limit(2)
  assert.deepEqual(ordered.data, [{ username: "awailas" }, { username: "dragarcia" }])
})

test("an RPC call picks the overload whose arguments it names, on POST and on GET", async () => {
  assert.deepEqual(await db.rpc("pick").then(({ data, error }) => ({ data, error })), { data: "none", error: null })
  // `create or replace` replaced the pick(a int) it had created first.
  assert.equal((await db.rpc("pick", { a: 5 })).data, "int a 5")
  assert.equal((await db.rpc("pick", { a: 6 }, { get: true })).data, "int a 6")
  assert.equal((await db.rpc("pick", { b: "x", c: 2 })).data, "b and c")
  assert.equal((await db.rpc("score", { n: 2 })).data, 4)
  assert.equal((await db.rpc("score", { n: 2, bonus: 1 })).data, 5)
  // A plpgsql body calls the overloads by their number of arguments.
  assert.equal((await db.rpc("total")).data, 2 + 12)
})

test("a call that several overloads take is PGRST203; one that none takes is PGRST202", async () => {
  const clash = await db.rpc("clash", { a: "1" })
  assert.equal(clash.status, 300)
  assert.deepEqual(clash.error, {
    code: "PGRST203",
    details: null,
    hint: "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
    message: "Could not choose the best candidate function between: public.clash(a => integer), public.clash(a => text)",
  })
  // pick(b text) and pick(b text, c int default 1) both take {b}.
  const optional = await db.rpc("pick", { b: "x" })
  assert.equal(optional.error.code, "PGRST203")
  assert.match(optional.error.message, /public\.pick\(b => text\), public\.pick\(b => text, c => integer\)$/)
  // pick(c boolean) was dropped by its signature; the other overloads stayed.
  const dropped = await db.rpc("pick", { c: true })
  assert.equal(dropped.status, 404)
  assert.deepEqual(dropped.error, {
    code: "PGRST202",
    details: "Searched for the function public.pick with parameter c or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    hint: "Perhaps you meant to call the function public.pick(b, c)",
    message: "Could not find the function public.pick(c) in the schema cache",
  })
  const none = await db.rpc("clash")
  assert.equal(none.error.message, "Could not find the function public.clash without parameters in the schema cache")
})

test("a function of one unnamed json argument takes the whole body; other unnamed arguments are not offered", async () => {
  assert.deepEqual((await db.rpc("echo", { x: [1, 2] })).data, { x: [1, 2] })
  assert.deepEqual((await db.rpc("echo", { "": { y: 1 } })).data, { y: 1 })
  const hidden = await db.rpc("hidden", { "": 1 })
  assert.equal(hidden.status, 404)
  assert.equal(hidden.error.message, "Could not find the function public.hidden() in the schema cache")
})

test("a void function with an empty body answers 204; a scalar result counts as one row", async () => {
  const nothing = await db.rpc("nothing")
  assert.deepEqual([nothing.status, nothing.data, nothing.error], [204, null, null])
  const counted = await db.rpc("pick", { a: 1 }, { count: "exact" })
  assert.deepEqual([counted.data, counted.count], ["int a 1", 1])
  const head = await db.rpc("pick", { a: 1 }, { head: true, count: "exact", get: true })
  assert.deepEqual([head.status, head.data, head.count], [200, null, 1])
  const uncounted = await rest("rpc/pick?a=1", { headers: { apikey: SERVICE_KEY } })
  assert.equal(uncounted.headers.get("content-range"), "0-0/*")
})

test("a SQL function ending in `update … returning *` answers the rows it updated, filtered and counted", async () => {
  const { data, error, count } = await db.rpc("silence", { name_param: "%i%" }, { count: "exact" }).select("username, status").order("username")
  assert.equal(error, null)
  assert.deepEqual(data, [
    { username: "awailas", status: "OFFLINE" },
    { username: "dragarcia", status: "OFFLINE" },
    { username: "kiwicopple", status: "OFFLINE" },
  ])
  assert.equal(count, 3)
  const one = await db.rpc("silence", { name_param: "supabot" }).select("username").eq("username", "nobody")
  assert.deepEqual([one.error, one.data], [null, []])
  const read = await db.from("users").select("username").eq("status", "OFFLINE").order("username")
  assert.deepEqual(read.data.map((row) => row.username), ["awailas", "dragarcia", "kiwicopple", "supabot"])
})

test("a self-referencing table embeds its children under its own name and its parent under the key's column", async () => {
  const root = await db.from("collections").select("id, collections(id)").eq("id", 1).single()
  assert.deepEqual(root.data, { id: 1, collections: [{ id: 2 }, { id: 3 }] })
  const hinted = await db.from("collections").select("id, collections!parent_id(id)").eq("id", 1).single()
  assert.deepEqual(hinted.data, root.data)
  const child = await db.from("collections").select("id, up:parent_id(id)").eq("id", 2).single()
  assert.deepEqual(child.data, { id: 2, up: { id: 1 } })
  // The constraint's name is no hint for a self-relationship.
  const byName = await db.from("collections").select("id, collections!collections_parent_id_fkey(id)")
  assert.equal(byName.status, 400)
  assert.deepEqual(byName.error, {
    code: "PGRST200",
    details: "Searched for a foreign key relationship between 'collections' and 'collections' using the hint 'collections_parent_id_fkey' in the schema 'public', but no matches were found.",
    hint: null,
    message: "Could not find a relationship between 'collections' and 'collections' in the schema cache",
  })
  const task = await db.from("lab").select("id, parents:parent(id)").eq("id", 2).single()
  assert.deepEqual(task.data, { id: 2, parents: { id: 1 } })
  const children = await db.from("lab").select("children:lab(id)")
  assert.equal(children.status, 300)
  assert.equal(children.error.code, "PGRST201")
  assert.equal(children.error.hint, "Try changing 'lab' to one of the following: 'lab!lab_parent_fkey', 'lab!lab_main_fkey'. Find the desired relationship in the 'details' key.")
})

test("an ambiguous embed lists each relationship as PostgREST describes it", async () => {
  const { status, error } = await db.from("best_friends").select("first_user:users(*)")
  assert.equal(status, 300)
  assert.deepEqual(error.details, ["first_user", "second_user", "third_wheel"].map((column) => ({
    cardinality: "many-to-one",
    embedding: "best_friends with users",
    relationship: `best_friends_${column}_fkey using best_friends(${column}) and users(username)`,
  })))
  const back = await db.from("users").select("best_friends(id)")
  assert.equal(back.error.details[0].cardinality, "one-to-many")
  assert.equal(back.error.details[0].relationship, "best_friends_first_user_fkey using users(username) and best_friends(first_user)")
})

test("an unknown embed is PGRST200 with PostgREST's details, and one name embedded twice is 42712", async () => {
  const { status, error } = await db.from("users").select("username, messages(id, nothing(*))")
  assert.equal(status, 400)
  assert.deepEqual(error, {
    code: "PGRST200",
    details: "Searched for a foreign key relationship between 'messages' and 'nothing' in the schema 'public', but no matches were found.",
    hint: null,
    message: "Could not find a relationship between 'messages' and 'nothing' in the schema cache",
  })
  const twice = await db.from("best_friends").select("users!first_user(*), users!second_user(*)")
  assert.equal(twice.status, 400)
  assert.deepEqual(twice.error, { code: "42712", details: null, hint: null, message: 'table name "best_friends_users_1" specified more than once' })
  const aliased = await db.from("best_friends").select("a:users!first_user(username), b:users!second_user(username)").single()
  assert.deepEqual(aliased.data, { a: { username: "supabot" }, b: { username: "kiwicopple" } })
})

test("an embed with no columns only filters: it adds nothing to the row", async () => {
  const { data } = await db.from("messages").select("body, users()").limit(1).single()
  assert.deepEqual(data, { body: "Hello World" })
  const inner = await db.from("messages").select("body, users!inner()").eq("users.username", "kiwicopple")
  assert.deepEqual(inner.data, [{ body: "hi" }])
})

test("a count inside a to-one embed is one object, inside a to-many embed an array of one", async () => {
  const { data } = await db.from("messages").select("body, users(count)").eq("body", "hi").single()
  assert.deepEqual(data, { body: "hi", users: { count: 1 } })
  const nested = await db.from("users").select("username, messages(users(n:count()))").eq("username", "kiwicopple").single()
  assert.deepEqual(nested.data, { username: "kiwicopple", messages: [{ users: { n: 1 } }] })
  const many = await db.from("users").select("messages(count)").eq("username", "supabot").single()
  assert.deepEqual(many.data, { messages: [{ count: 2 }] })
})

test("an unknown column of an embedded relation is named by the embed's alias in the query, table_depth", async () => {
  const top = await db.from("users").select("nope")
  assert.equal(top.error.message, "column users.nope does not exist")
  const embedded = await db.from("users").select("username, messages(nope)")
  assert.deepEqual([embedded.status, embedded.error.code, embedded.error.message], [400, "42703", "column messages_1.nope does not exist"])
  const deeper = await db.from("users").select("messages(users(nope))")
  assert.equal(deeper.error.message, "column users_2.nope does not exist")
  const filtered = await db.from("users").select("messages(body)").eq("messages.nope", 1)
  assert.equal(filtered.error.message, "column messages_1.nope does not exist")
})

test("a key reaches through a view that passes its columns, either way and through `select *`", async () => {
  const viewAsTarget = await db.from("messages").select("id, user_names(username, constant)").eq("id", 1).single()
  assert.equal(viewAsTarget.error, null)
  assert.deepEqual(viewAsTarget.data, { id: 1, user_names: { username: "supabot", constant: 1 } })
  const viewAsParent = await db.from("recent_messages").select("id, users(username)").order("id").limit(1).single()
  assert.deepEqual(viewAsParent.data, { id: 1, users: { username: "supabot" } })
  const toMany = await db.from("user_names").select("username, messages(body)").eq("username", "supabot").single()
  assert.deepEqual(toMany.data, { username: "supabot", messages: [{ body: "Hello World" }, { body: "Perfection" }] })
})

test("a tsvector is stored as Postgres prints it, whether cast from a literal or an expression", async () => {
  const { data } = await db.from("phrases").select("id, words").order("id")
  assert.deepEqual(data, [
    { id: 1, words: "'cat' 'fat'" },
    { id: 2, words: "'fat' 'rat'" },
  ])
})

test("a function of a row is a computed field, not an RPC", async () => {
  const field = await db.from("messages").select("id, blurb").eq("id", 2).single()
  assert.deepEqual(field.data, { id: 2, blurb: "Per" })
  const call = await rest("rpc/blurb", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })
  assert.equal(call.status, 404)
  assert.equal((await call.json()).code, "PGRST202")
  const named = await rest("rpc/blurb", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: 2 }) })
  assert.equal(named.status, 404)
})

test("CSV rows are printed as Postgres prints a record; nulls=stripped leaves null fields out", async () => {
  const csv = await db.from("phrases").select("id, words, note").order("id").csv()
  assert.equal(csv.data, `id,words,note\n1,"'cat' 'fat'",\n2,"'fat' 'rat'","{""b"": 1, ""a"": [1, 2]}"`)
  const stripped = await db.from("phrases").select("id, note").order("id").stripNulls()
  assert.deepEqual(stripped.data, [{ id: 1 }, { id: 2, note: { b: 1, a: [1, 2] } }])
  const single = await db.from("phrases").select("id, note").eq("id", 1).single().stripNulls()
  assert.deepEqual(single.data, { id: 1 })
})

test("a computed relationship returning one row embeds a row of nulls where it finds none, as Postgres's null composite", async () => {
  const { data, error } = await db.from("users").select("username, profile(*)").in("username", ["supabot", "awailas"])
  assert.equal(error, null)
  assert.deepEqual(data, [
    { username: "supabot", profile: { id: 1, username: "supabot" } },
    { username: "awailas", profile: { id: null, username: null } },
  ])
})

test("with missing=default every row draws its identity's next value, given or not, as PostgREST evaluates defaults", async () => {
  const rows = [{ id: 100, username: "kiwicopple", body: "given" }, { username: "kiwicopple", body: "defaulted" }]
  const first = await db.from("messages").insert(rows, { defaultToNull: false }).select("id").rollback()
  assert.equal(first.error, null)
  const [given, defaulted] = first.data.map((row) => row.id)
  assert.equal(given, 100)
  // The second insert starts two values further: each row drew one, and a rollback returns none.
  const second = await db.from("messages").insert(rows, { defaultToNull: false }).select("id").rollback()
  assert.deepEqual(second.data.map((row) => row.id), [100, defaulted + 2])
})

test("a function's rows take its result's columns by position, whatever the body names them", async () => {
  assert.deepEqual((await db.rpc("message_span")).data, { first_id: 1, last_id: 3 })
  assert.deepEqual((await db.rpc("per_user")).data, [
    { who: "kiwicopple", messages: 1 },
    { who: "supabot", messages: 2 },
  ])
  assert.deepEqual((await db.rpc("per_user").eq("who", "supabot").select("messages")).data, [{ messages: 2 }])
})

test("with missing=default an upsert that updates sets the columns a row leaves out to their defaults", async () => {
  const rows = [{ username: "kiwicopple" }, { username: "newbie", status: "OFFLINE" }]
  const { data, error } = await db.from("users").upsert(rows, { defaultToNull: false }).select().rollback()
  assert.equal(error, null)
  assert.deepEqual(data, [
    { username: "kiwicopple", status: "ONLINE" },
    { username: "newbie", status: "OFFLINE" },
  ])
})

// Last: it moves rows, which the insertion-order test above relies on.
test("an updated row moves to the end of its table, as Postgres writes it anew; an upsert of the key alone answers the row", async () => {
  const order = async (table, column) => (await db.from(table).select(column)).data.map((row) => row[column])
  await db.from("users").update({ status: "ONLINE" }).eq("username", "kiwicopple")
  assert.deepEqual(await order("users", "username"), ["supabot", "awailas", "dragarcia", "kiwicopple"])
  const before = await db.from("users").select().eq("username", "supabot")
  const upsert = await db.from("users").upsert({ username: "supabot" }, { onConflict: "username" }).select()
  assert.deepEqual(upsert.data, before.data)
  assert.deepEqual(await order("users", "username"), ["awailas", "dragarcia", "kiwicopple", "supabot"])
  await db.from("messages").update({ body: "Hello again" }).eq("id", 1)
  assert.deepEqual(await order("messages", "id"), [2, 3, 1])
  // A table whose key is an integer without default keeps its rows in key order, as SQLite does.
  await db.from("phrases").update({ note: { c: 3 } }).eq("id", 1)
  assert.deepEqual(await order("phrases", "id"), [1, 2])
})
