// plpgsql through supabase-js: the sign-up trigger, definer helpers in policies, BEFORE/AFTER
// triggers on REST writes, RPCs that raise P0001 or return rows.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { startServer } from "./harness.mjs"

let server
before(async () => {
  server = await startServer("plpgsql")
})
after(async () => {
  assert.equal(await server.stop(), 0)
})

async function signUp(email, data = {}) {
  const client = server.client()
  const { error } = await client.auth.signUp({ email, password: "correct horse", options: { data } })
  assert.equal(error, null)
  return client
}

test("sign-up runs handle_new_user, and policies call definer helpers with the row's columns", async () => {
  const ana = await signUp("ana@example.com", { username: "ana" })
  const boss = await signUp("boss+admin@example.com")
  const { data: profile } = await ana.from("profiles").select("username, is_admin").single()
  assert.deepEqual(profile, { username: "ana", is_admin: false })
  const { data: bossProfile } = await boss.from("profiles").select("username, is_admin").single()
  assert.deepEqual(bossProfile, { username: "boss+admin@example.com", is_admin: true })

  assert.deepEqual((await ana.from("teams").select("name")).data, [])
  const joined = await ana.rpc("join_team", { team_name: "red" })
  assert.equal(joined.error, null)
  assert.equal(joined.data, 1)
  assert.deepEqual((await ana.from("teams").select("name, members")).data, [{ name: "red", members: 1 }])
  assert.deepEqual((await ana.rpc("my_teams").select("name")).data, [{ name: "red" }])
  const all = await boss.from("teams").select("name").order("name")
  assert.deepEqual(all.data, [{ name: "blue" }, { name: "red" }])

  const missing = await ana.rpc("join_team", { team_name: "green" })
  assert.equal(missing.error.code, "P0001")
  assert.equal(missing.error.message, "no team named green")
  assert.equal(missing.error.hint, "create it first")
  assert.equal(missing.status, 400)
})

test("a REST update fires the BEFORE trigger that sets updated_at, only on rows the caller may update", async () => {
  const eve = await signUp("eve@example.com", { username: "eve" })
  assert.equal((await eve.rpc("join_team", { team_name: "blue" })).error, null)
  const { data: before } = await eve.from("teams").select("updated_at").eq("name", "blue").single()
  await new Promise((resolve) => setTimeout(resolve, 5))
  const renamed = await eve.from("teams").update({ name: "navy" }).eq("name", "blue").select("name, updated_at, members")
  assert.equal(renamed.error, null)
  assert.equal(renamed.data.length, 1)
  assert.equal(renamed.data[0].name, "navy")
  assert.equal(renamed.data[0].members, 1)
  assert.ok(new Date(renamed.data[0].updated_at) > new Date(before.updated_at), JSON.stringify([before, renamed.data]))
  const other = await eve.from("teams").update({ name: "mine" }).eq("name", "red").select()
  assert.deepEqual(other.data, [])
})

test("SQL reads PostgREST's request settings: headers in an RPC, a default, a trigger and a policy", async () => {
  const client = server.client(undefined, { global: { headers: { "x-tenant": "acme", traceparent: "00-abc-01" } } })
  const echoed = await client.rpc("request_header", { name: "traceparent" })
  assert.equal(echoed.error, null)
  assert.equal(echoed.data, "00-abc-01")
  assert.equal((await server.client().rpc("request_header", { name: "traceparent" })).data, null)

  const inserted = await client.from("visits").insert({ tenant: "acme" }).select("method, path, tenant, visitor")
  assert.equal(inserted.error, null)
  assert.deepEqual(inserted.data, [{ method: "POST", path: "/visits", tenant: "acme", visitor: "anon" }])
  const refused = await client.from("visits").insert({ tenant: "other" })
  assert.equal(refused.error.code, "42501")
  const otherTenant = server.client(undefined, { global: { headers: { "x-tenant": "globex" } } })
  assert.deepEqual((await otherTenant.from("visits").select("tenant")).data, [])
  assert.deepEqual((await client.from("visits").select("tenant")).data, [{ tenant: "acme" }])
})

test("set_config lasts for the request; an unknown setting is 42704 unless missing_ok", async () => {
  const client = server.client(undefined, { global: { headers: { cookie: "theme=dark; lang=en" } } })
  for (let round = 0; round < 2; round++) {
    const { data, error } = await client.rpc("setting_round_trip")
    assert.equal(error, null)
    // Postgres answers NULL on a fresh connection and '' on one a previous request set it on.
    assert.ok(data.before === null || data.before === "", JSON.stringify(data))
    assert.deepEqual(data, { ...data, after: "hello", cookies: { theme: "dark", lang: "en" }, role: "anon" })
  }
  const unknown = await client.rpc("unknown_setting")
  assert.equal(unknown.error.code, "42704")
  assert.equal(unknown.error.message, 'unrecognized configuration parameter "app.not_set"')
  assert.equal(unknown.status, 400)
})

test("OUT parameters over RPC: one row is an object, setof record an array, one INOUT its value", async () => {
  const client = server.client()
  const counts = await client.rpc("team_counts")
  assert.equal(counts.error, null)
  assert.deepEqual(Object.keys(counts.data).sort(), ["memberships", "teams"])
  assert.equal(counts.data.teams, 2)
  const names = await client.rpc("team_names")
  assert.equal(names.error, null)
  assert.deepEqual(names.data.map((row) => row.name), ["navy", "red"])
  assert.deepEqual(Object.keys(names.data[0]).sort(), ["name", "size"])
  const filtered = await client.rpc("team_names").eq("name", "red").select("size")
  assert.equal(filtered.error, null)
  assert.equal(filtered.data.length, 1)
  const squared = await client.rpc("squared", { n: 12 })
  assert.equal(squared.error, null)
  assert.equal(squared.data, 144)
})
