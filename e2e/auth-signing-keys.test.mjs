// Asymmetric signing keys (`[auth] signing_keys_path`): access tokens signed with the first key,
// tokens of every listed key and of the legacy HS256 secret verified by Auth, REST, realtime and
// Storage alike, and the public keys served at /auth/v1/.well-known/jwks.json.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import crypto from "node:crypto"
import fs from "node:fs"
import path from "node:path"
import { copyFixture, signJwt, startServer, subscribed } from "./harness.mjs"

const jwk = (type, options, kid, alg) => ({
  ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: "jwk" }),
  kid,
  alg,
  key_ops: ["sign", "verify"],
  ext: true,
})
const rsa = jwk("rsa", { modulusLength: 2048 }, "rsa-key-1", "RS256")
const ec = jwk("ec", { namedCurve: "P-256" }, "ec-key-2", "ES256")
const stranger = jwk("rsa", { modulusLength: 2048 }, "rsa-key-1", "RS256")

/** Signs `claims` with a private JWK, as `jsonwebtoken` would (ES256 signatures in JOSE form). */
function sign(claims, key) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const unsigned = `${encode({ alg: key.alg, typ: "JWT", kid: key.kid })}.${encode(claims)}`
  const privateKey = crypto.createPrivateKey({ key, format: "jwk" })
  const options = key.alg === "ES256" ? { key: privateKey, dsaEncoding: "ieee-p1363" } : privateKey
  return `${unsigned}.${crypto.sign("sha256", Buffer.from(unsigned), options).toString("base64url")}`
}

const exp = Math.floor(Date.now() / 1000) + 3600
const anonKey = sign({ iss: "supabase-demo", role: "anon", exp }, rsa)
const serviceKey = sign({ iss: "supabase-demo", role: "service_role", exp }, ec)

let server
before(async () => {
  const workdir = copyFixture("auth")
  fs.writeFileSync(path.join(workdir, "supabase", "signing_keys.json"), JSON.stringify([rsa, ec]))
  const config = path.join(workdir, "supabase", "config.toml")
  fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace("[auth]\n", '[auth]\nsigning_keys_path = "./signing_keys.json"\n'))
  server = await startServer("auth", workdir)
})
after(async () => assert.equal(await server.stop(), 0))

test("the JWKS lists the public halves of the signing keys and access tokens carry the first key's kid", async () => {
  const jwks = await (await fetch(`${server.url}/auth/v1/.well-known/jwks.json`)).json()
  assert.deepEqual(jwks.keys.map((key) => [key.kid, key.alg, key.kty]), [["rsa-key-1", "RS256", "RSA"], ["ec-key-2", "ES256", "EC"]])
  for (const key of jwks.keys) assert.equal(key.d, undefined)

  const client = server.client(anonKey)
  const { data, error } = await client.auth.signUp({ email: "keys@example.com", password: "correct horse" })
  assert.equal(error, null)
  const [header, claims, signature] = data.session.access_token.split(".")
  assert.deepEqual(JSON.parse(Buffer.from(header, "base64url")), { typ: "JWT", alg: "RS256", kid: "rsa-key-1" })
  const publicKey = crypto.createPublicKey({ key: jwks.keys[0], format: "jwk" })
  assert.ok(crypto.verify("sha256", Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature, "base64url")))

  // The user's RS256 token reads their own row under RLS; getUser verifies it too.
  const { data: profile } = await client.from("profiles").select("id").single()
  assert.equal(profile.id, data.user.id)
  assert.equal((await client.auth.getUser()).data.user.email, "keys@example.com")
})

test("every listed key and the legacy HS256 secret verify; a token of an unlisted key does not", async () => {
  const service = server.client(serviceKey)
  assert.equal((await service.from("profiles").select("id")).error, null)
  assert.equal((await service.storage.listBuckets()).error, null)
  const legacy = signJwt({ role: "service_role", exp })
  assert.equal((await server.client(legacy).from("profiles").select("id")).error, null)

  const forged = sign({ role: "service_role", exp }, stranger)
  const refused = await server.client(forged).from("profiles").select("id")
  assert.equal(refused.status, 401)
  assert.equal(refused.error.code, "PGRST301")
  const noKid = signJwt({ role: "service_role", exp }).replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT" })).toString("base64url"))
  assert.equal((await server.client(noKid).from("profiles").select("id")).status, 401)
})

test("GoTrue's admin roles, supabase_admin included, may use the admin API; others may not", async () => {
  const admin = sign({ sub: "1234567890", role: "supabase_admin" }, rsa)
  const response = await fetch(`${server.url}/auth/v1/admin/users`, { headers: { apikey: serviceKey, authorization: `Bearer ${admin}` } })
  assert.equal(response.status, 200)
  assert.ok(Array.isArray((await response.json()).users))
  const listed = await server.client(serviceKey).auth.admin.listUsers()
  assert.equal(listed.error, null)
  const anon = await server.client(anonKey).auth.admin.listUsers()
  assert.equal(anon.error.status, 403)
  assert.equal(anon.error.code, "not_admin")
})

test("realtime accepts an asymmetric key and refuses an unlisted one", async () => {
  const client = server.client(anonKey)
  const channel = await subscribed(client.channel("room-1"))
  await client.removeChannel(channel)
  const forged = server.client(sign({ role: "anon", exp }, stranger))
  await assert.rejects(subscribed(forged.channel("room-1")))
  forged.realtime.disconnect()
  client.realtime.disconnect()
})
