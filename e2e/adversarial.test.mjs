// Tries to read or change another user's rows through every REST feature; finds nothing.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, signJwt, startServer } from "./harness.mjs"

const ANA = "11111111-1111-1111-1111-111111111111"
const MALLORY = "99999999-9999-9999-9999-999999999999"
let server, mallory
before(async () => {
  server = await startServer("rest")
  mallory = as({ sub: MALLORY, role: "authenticated", exp: 4e9 })
})
after(async () => assert.equal(await server.stop(), 0))

function as(claims, secret) {
  const token = signJwt(claims, secret)
  return server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${token}` } } })
}

async function anaSecretIsIntact() {
  const { data } = await server.client(SERVICE_KEY).from("secrets").select("user_id, body").order("id")
  assert.deepEqual(data, [{ user_id: ANA, body: "hidden" }])
}

test("filters, or-trees, ordering, counts and ranges reveal nothing", async () => {
  for (const query of [
    mallory.from("secrets").select("*").eq("body", "hidden"),
    mallory.from("secrets").select("*").or("body.eq.hidden,id.gt.0"),
    mallory.from("secrets").select("id").order("body", { ascending: false }),
    mallory.from("secrets").select("id").like("body", "%i%"),
    mallory.from("secrets").select("id").not("user_id", "is", null),
    server.client().from("secrets").select("*"),
  ]) {
    const { data, error } = await query
    assert.equal(error, null)
    assert.deepEqual(data, [])
  }
  const { count } = await mallory.from("secrets").select("*", { count: "exact", head: true })
  assert.equal(count, 0)
  const ranged = await fetch(`${server.url}/rest/v1/secrets?select=id`, {
    headers: { apikey: ANON_KEY, Authorization: `Bearer ${signJwt({ sub: MALLORY, role: "authenticated", exp: 4e9 })}`, Range: "0-9", Prefer: "count=exact" },
  })
  assert.equal(ranged.headers.get("content-range"), "*/0")
  assert.deepEqual(await ranged.json(), [])
})

test("embedding another user's rows shows none, with or without !inner", async () => {
  const { data } = await mallory.from("profiles").select("name, secrets(body)").eq("id", ANA)
  assert.deepEqual(data, [{ name: "ana", secrets: [] }])
  const { data: inner } = await mallory.from("profiles").select("name, secrets!inner(body)")
  assert.deepEqual(inner, [])
  const { data: counted } = await mallory.from("profiles").select("name, secrets(count)").eq("id", ANA)
  assert.deepEqual(counted, [{ name: "ana", secrets: [{ count: 0 }] }])
})

test("updates, deletes, inserts and upserts cannot touch another user's rows", async () => {
  assert.deepEqual((await mallory.from("secrets").update({ body: "pwned" }).eq("id", 1).select()).data, [])
  assert.deepEqual((await mallory.from("secrets").update({ body: "pwned" }).gt("id", 0).select()).data, [])
  assert.deepEqual((await mallory.from("secrets").delete().eq("id", 1).select()).data, [])
  const forged = await mallory.from("secrets").insert({ user_id: ANA, body: "planted" })
  assert.equal(forged.error.code, "42501")
  assert.equal(forged.status, 403)
  await mallory.from("secrets").upsert({ id: 1, user_id: MALLORY, body: "pwned" }, { onConflict: "id" })
  const anonymous = await server.client().from("secrets").insert({ user_id: ANA, body: "planted" })
  assert.equal(anonymous.error.code, "42501")
  assert.equal(anonymous.status, 401)
  await anaSecretIsIntact()
})

test("forged, expired, unsigned and escalated tokens are refused", async () => {
  const attempts = [
    as({ sub: ANA, role: "service_role" }, "a-guessed-secret-that-is-long-enough-to-sign"),
    as({ sub: ANA, role: "authenticated", exp: 1000 }),
    as({ sub: ANA, role: "postgres", exp: 4e9 }),
  ]
  const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")
  const body = Buffer.from(JSON.stringify({ sub: ANA, role: "service_role" })).toString("base64url")
  attempts.push(server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${header}.${body}.` } } }))
  for (const client of attempts) {
    const { data, status, error } = await client.from("secrets").select("body")
    assert.equal(status, 401)
    assert.equal(data, null)
    assert.match(error.code, /^PGRST30[13]$/)
  }
  // No credentials at all is PostgREST's anonymous role: anon's policies, nothing more.
  const noKey = await fetch(`${server.url}/rest/v1/secrets?select=body`)
  assert.equal(noKey.status, 200)
  assert.deepEqual(await noKey.json(), [])
  const noKeyWrite = await fetch(`${server.url}/rest/v1/secrets`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: ANA, body: "planted" }),
  })
  assert.equal(noKeyWrite.status, 401)
  assert.equal((await noKeyWrite.json()).code, "42501")
  await anaSecretIsIntact()
})

test("functions cannot be used to read around the policies", async () => {
  // secret_count() is security invoker: it counts what the caller's policies let it see.
  assert.deepEqual(await mallory.rpc("secret_count").then(({ data, error }) => ({ data, error })), { data: 0, error: null })
  assert.equal((await as({ sub: ANA, role: "authenticated", exp: 4e9 }).rpc("secret_count")).data, 1)
})
