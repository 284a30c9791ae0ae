// The features Solobase does not offer answer through supabase-js (auth-js) as GoTrue does when
// they are disabled: an AuthError with GoTrue's code and message, never an empty 404.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"

let server
before(async () => {
  server = await startServer("auth")
})
after(async () => {
  assert.equal(await server.stop(), 0)
})

async function signedInClient(email) {
  const client = server.client()
  const { error } = await client.auth.signUp({ email, password: "correct horse" })
  assert.equal(error, null)
  return client
}

test("SSO, web3 and ID-token sign-in name the disabled feature", async () => {
  const client = server.client()
  const sso = await client.auth.signInWithSSO({ domain: "example.com" })
  assert.equal(sso.error.code, "saml_provider_disabled")
  assert.equal(sso.error.message, "SAML 2.0 is disabled")
  assert.equal(sso.error.status, 404)

  const web3 = await client.auth.signInWithWeb3({ chain: "solana", message: "sign in", signature: new Uint8Array([1, 2, 3]) })
  assert.equal(web3.error.code, "web3_provider_disabled")
  assert.equal(web3.error.message, "Web3 provider is disabled")

  const google = await client.auth.signInWithIdToken({ provider: "google", token: "an.id.token" })
  assert.equal(google.error.code, "provider_disabled")
  assert.equal(google.error.message, 'Provider (issuer "https://accounts.google.com") is not enabled')
  assert.equal(google.data.session, null)
})

test("OAuth sign-in and its callback refuse unconfigured providers and unknown state", async () => {
  const authorize = await fetch(`${server.url}/auth/v1/authorize?provider=github`, { headers: { apikey: ANON_KEY }, redirect: "manual" })
  assert.equal(authorize.status, 400)
  assert.deepEqual(
    await authorize.json().then(({ error_code, msg }) => ({ error_code, msg })),
    { error_code: "validation_failed", msg: "Unsupported provider: provider is not enabled" },
  )
  const unknown = await fetch(`${server.url}/auth/v1/authorize?provider=myspace`, { headers: { apikey: ANON_KEY }, redirect: "manual" })
  assert.equal((await unknown.json()).msg, "Unsupported provider: Provider myspace could not be found")
  const callback = await fetch(`${server.url}/auth/v1/callback?state=${crypto.randomUUID()}&code=x`, { headers: { apikey: ANON_KEY }, redirect: "manual" })
  assert.equal(callback.status, 400)
  assert.equal((await callback.json()).error_code, "bad_oauth_state")
})

test("identity linking, passkeys and the OAuth server answer as disabled, after the session check", async () => {
  const anonymous = server.client()
  const unlinkedSession = await anonymous.auth.linkIdentity({ provider: "github" })
  assert.ok(unlinkedSession.error)

  const client = await signedInClient("linker@example.com")
  const link = await client.auth.linkIdentity({ provider: "github", options: { skipBrowserRedirect: true } })
  assert.equal(link.error.code, "manual_linking_disabled")
  assert.equal(link.error.message, "Manual linking is disabled")
  const { data: identities } = await client.auth.getUserIdentities()
  const unlink = await client.auth.unlinkIdentity(identities.identities[0])
  assert.equal(unlink.error.code, "manual_linking_disabled")

  const passkeys = await fetch(`${server.url}/auth/v1/passkeys/authentication/options`, { method: "POST", headers: { apikey: ANON_KEY } })
  assert.equal(passkeys.status, 404)
  assert.equal((await passkeys.json()).error_code, "passkey_disabled")

  const admin = server.client(SERVICE_KEY).auth.admin
  const clients = await admin.oauth.listClients()
  assert.equal(clients.error.message, "OAuth server is disabled")
  const providers = await fetch(`${server.url}/auth/v1/admin/sso/providers`, { headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` } })
  assert.deepEqual(await providers.json(), { items: [] })
  const refused = await fetch(`${server.url}/auth/v1/admin/sso/providers`, { headers: { apikey: ANON_KEY, authorization: `Bearer ${ANON_KEY}` } })
  assert.equal((await refused.json()).error_code, "not_admin")
})

test("verifying an SMS code checks the phone's E.164 format first, as GoTrue does", async () => {
  const client = server.client()
  const bad = await client.auth.verifyOtp({ phone: "12-abc", token: "123456", type: "sms" })
  assert.equal(bad.error.status, 400)
  assert.equal(bad.error.code, "validation_failed")
  assert.equal(bad.error.message, "Invalid phone number format (E.164 required)")
  const good = await client.auth.verifyOtp({ phone: "+1 555 555 0100", token: "123456", type: "sms" })
  assert.equal(good.error.code, "otp_expired")
  assert.equal(good.error.message, "Token has expired or is invalid")
})
