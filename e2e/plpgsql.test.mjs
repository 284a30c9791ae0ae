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
