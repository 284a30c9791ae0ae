// Access control as Postgres enforces it: two users and anon attack one schema (owner-only,
// membership through a definer helper, restrictive policies, a junction to auth.users, invoker
// and definer functions and views) and see nothing their policies refuse.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, signJwt, startServer } from "./harness.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
let server, a, b, anon, service
before(async () => {
  server = await startServer("access")
  a = as(A)
  b = as(B)
  anon = server.client()
  service = server.client(SERVICE_KEY)
})
after(async () => assert.equal(await server.stop(), 0))

function as(sub) {
  const token = signJwt({ sub, role: "authenticated", exp: 4e9 })
  return server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${token}` } } })
}

async function rest(path, { token, ...init } = {}) {
  const headers = { apikey: ANON_KEY, ...(token ? { Authorization: `Bearer ${token}` } : {}), ...init.headers }
  const response = await fetch(`${server.url}/rest/v1/${path}`, { ...init, headers })
  return { status: response.status, body: await response.json() }
}

test("auth.users is reachable through no embed, junction or profile", async () => {
  for (const select of ["id,users(id,email,encrypted_password)", "id,team_members(users(email))", "id,users!team_members(email)"]) {
    const { data, error } = await b.from("teams").select(select)
    assert.equal(data, null, select)
    assert.equal(error.code, "PGRST200", select)
  }
  const { data, error } = await service.from("teams").select("id,users(email)")
  assert.equal(data, null)
  assert.equal(error.code, "PGRST200")
  const direct = await rest("users?select=email", { headers: { "Accept-Profile": "auth" } })
  assert.equal(direct.status, 406)
  assert.equal(direct.body.code, "PGRST106")
  const missing = await b.from("users").select("email")
  assert.equal(missing.error.code, "PGRST205")
  const exposed = await b.schema("graphql_public").from("teams").select("id")
  assert.equal(exposed.error.code, "PGRST205")
})

test("a definer helper's argument binds to the caller's row, not the helper's table", async () => {
  assert.deepEqual((await b.from("projects").select("name")).data, [{ name: "beta plan" }])
  assert.deepEqual((await a.from("projects").select("name")).data, [{ name: "alpha plan" }])
  assert.deepEqual((await b.from("teams").select("name, projects(name)")).data, [{ name: "beta", projects: [{ name: "beta plan" }] }])
  assert.deepEqual((await anon.from("projects").select("name")).data, [])
})

test("unquoted mixed-case names in a function body are the same table", async () => {
  // note_count() reads public.Notes: the caller's policies on notes apply to it.
  assert.equal((await b.rpc("note_count")).data, 1)
  assert.equal((await anon.rpc("note_count")).data, 0)
})

test("every statement of an invoker function runs under the caller's policies, writes included", async () => {
  const notes = async () => (await service.from("notes").select("id, user_id, body").order("id")).data
  const before = await notes()
  // B renames A's note: the update reaches no row of A's, and the result shows none.
  const renamed = await b.rpc("rename_note", { note_id: 1, new_body: "pwned" })
  assert.equal(renamed.error, null)
  assert.deepEqual(renamed.data, [])
  // B's own note, renamed to what the restrictive policy refuses: the with check fails.
  const shouted = await b.rpc("rename_note", { note_id: 2, new_body: "LOUD" })
  assert.equal(shouted.error.code, "42501")
  // Planting a note as A, and deleting everyone's notes (notes has no delete policy), as B.
  const planted = await b.rpc("plant_note", { note_id: 9, owner: A, note_body: "planted" })
  assert.equal(planted.error.code, "42501")
  assert.equal((await b.rpc("wipe_notes")).error, null)
  assert.equal((await anon.rpc("wipe_notes")).error, null)
  assert.deepEqual(await notes(), before)
  // What B's policies allow goes through.
  assert.equal((await b.rpc("plant_note", { note_id: 3, owner: B, note_body: "b new" })).error, null)
  assert.deepEqual((await b.rpc("rename_note", { note_id: 2, new_body: "b renamed" })).data, [{ id: 2, user_id: B, body: "b renamed" }])
  assert.deepEqual(await notes(), [before[0], { id: 2, user_id: B, body: "b renamed" }, { id: 3, user_id: B, body: "b new" }])
})

test("order with an unknown direction is a grammar error", async () => {
  const { status, body } = await rest("products?order=name.sideways")
  assert.equal(status, 400)
  assert.equal(body.code, "PGRST100")
  assert.equal((await rest("products?order=name.desc.nullsfirst")).status, 200)
  assert.equal((await rest("products?order=name.nullsfirst.desc")).body.code, "PGRST100")
})

test("inserting as another user is refused by the policy before any key conflict", async () => {
  const { error, status } = await b.from("likes").insert({ user_id: A, post_id: 1 })
  assert.equal(error.code, "42501")
  assert.equal(status, 403)
  const fresh = await b.from("likes").insert({ user_id: A, post_id: 2 })
  assert.equal(fresh.error.code, "42501")
  const duplicate = await a.from("likes").insert({ user_id: A, post_id: 1 })
  assert.equal(duplicate.error.code, "23505")
})

test("an upsert that updates is checked by the INSERT check, the UPDATE using and the UPDATE check", async () => {
  const ticket = async (id) => (await service.from("tickets").select("user_id, title, approved").eq("id", id).single()).data
  // The proposed row fails the INSERT check: B cannot approve their own ticket.
  const approve = await b.from("tickets").upsert({ id: 2, user_id: B, title: "b ticket", approved: true })
  assert.equal(approve.error.code, "42501")
  assert.match(approve.error.message, /new row violates row-level security policy for table "tickets"/)
  assert.equal((await ticket(2)).approved, false)
  // The existing row is A's: B's upsert onto A's key is refused, not a silent 200.
  const takeover = await b.from("tickets").upsert({ id: 1, user_id: B, title: "mine now" }).select()
  assert.equal(takeover.error.code, "42501")
  assert.match(takeover.error.message, /USING expression/)
  assert.deepEqual(await ticket(1), { user_id: A, title: "a ticket", approved: false })
  // With ignoreDuplicates the proposed row is still checked first.
  const ignored = await b.from("tickets").upsert({ id: 1, user_id: A, title: "x" }, { ignoreDuplicates: true })
  assert.equal(ignored.error.code, "42501")
  // A's own upsert updates, and answers the row.
  const own = await a.from("tickets").upsert({ id: 1, user_id: A, title: "renamed" }).select("title")
  assert.equal(own.error, null)
  assert.deepEqual(own.data, [{ title: "renamed" }])
})

test("a security_invoker view applies the caller's policies; an owner's view reads as its owner and is warned about", async () => {
  assert.deepEqual((await anon.from("notes_invoker").select("body")).data, [])
  assert.deepEqual((await a.from("notes_invoker").select("body")).data, [{ body: "a secret" }])
  assert.deepEqual((await b.from("notes_invoker").select("body").eq("user_id", A)).data, [])
  const everyone = (await service.from("notes").select("user_id")).data
  const { count } = await b.from("notes_invoker").select("*", { count: "exact", head: true })
  assert.equal(count, everyone.filter((note) => note.user_id === B).length)
  // As in Postgres, a view without security_invoker reads with its owner's rights.
  assert.equal((await anon.from("notes_owner").select("body")).data.length, everyone.length)
  assert.match(server.output(), /WARNING: view public\.notes_owner reads public\.notes \(row-level security on\)/)
  assert.doesNotMatch(server.output(), /view public\.notes_invoker/)
})
