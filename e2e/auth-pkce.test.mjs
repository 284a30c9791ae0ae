// PKCE for the email flows through supabase-js with flowType "pkce": the emailed link
// redirects with ?code=, which exchangeCodeForSession trades (with the client's stored
// verifier) for a session; the emailed code still verifies directly.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"

let server
before(async () => {
  server = await startServer("auth-email")
})
after(async () => assert.equal(await server.stop(), 0))

const password = "correct horse battery"
const pkceClient = () => server.client(ANON_KEY, { auth: { persistSession: false, autoRefreshToken: false, flowType: "pkce" } })
const exchange = (body) =>
  fetch(`${server.url}/auth/v1/token?grant_type=pkce`, { method: "POST", headers: { apikey: ANON_KEY, "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (response) => ({ status: response.status, body: await response.json() }))

/** Follows an emailed link and returns where it redirects to. */
async function follow(link) {
  const response = await fetch(link, { redirect: "manual" })
  assert.equal(response.status, 303)
  return new URL(response.headers.get("location"))
}

test("a magic link of a PKCE flow redirects with a code that only its verifier exchanges, once", async () => {
  const email = "pkce-otp@example.com"
  await server.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const client = pkceClient()
  assert.equal((await client.auth.signInWithOtp({ email, options: { emailRedirectTo: "https://app.example.com/welcome" } })).error, null)
  const mail = await server.mail(email)
  assert.match(mail.Link, /\?token=pkce_[0-9a-f]{56}&type=magiclink&/)

  const location = await follow(mail.Link)
  assert.equal(`${location.origin}${location.pathname}`, "https://app.example.com/welcome")
  assert.equal(location.hash, "", "no session in the fragment")
  const code = location.searchParams.get("code")
  assert.match(code, /^[0-9a-f-]{36}$/)

  const wrong = await exchange({ auth_code: code, code_verifier: "not-the-verifier-this-client-made-for-its-challenge" })
  assert.equal(wrong.status, 400)
  assert.equal(wrong.body.error_code, "bad_code_verifier")

  const { data, error } = await client.auth.exchangeCodeForSession(code)
  assert.equal(error, null)
  assert.equal(data.user.email, email)
  const claims = JSON.parse(Buffer.from(data.session.access_token.split(".")[1], "base64url"))
  assert.equal(claims.amr[0].method, "magiclink")
  assert.equal((await client.auth.getUser()).data.user.email, email)

  const again = await exchange({ auth_code: code, code_verifier: "anything" })
  assert.equal(again.status, 404)
  assert.equal(again.body.error_code, "flow_state_not_found")
  const reused = new URLSearchParams((await follow(mail.Link)).search)
  assert.equal(reused.get("error_code"), "otp_expired", "a PKCE link's error is in the query too")
})

test("sign-up and password recovery of a PKCE flow confirm and sign in through the exchanged code", async () => {
  const email = "pkce-signup@example.com"
  const client = pkceClient()
  const signedUp = await client.auth.signUp({ email, password })
  assert.equal(signedUp.error, null)
  assert.equal(signedUp.data.session, null)
  const confirmation = await server.mail(email)
  const code = (await follow(confirmation.Link)).searchParams.get("code")
  const confirmed = await client.auth.exchangeCodeForSession(code)
  assert.equal(confirmed.error, null)
  assert.ok(confirmed.data.user.email_confirmed_at)

  const recovering = pkceClient()
  assert.equal((await recovering.auth.resetPasswordForEmail(email)).error, null)
  const reset = await server.mail(email, { after: confirmation.ID })
  assert.match(reset.Link, /type=recovery/)
  const recovered = await recovering.auth.exchangeCodeForSession((await follow(reset.Link)).searchParams.get("code"))
  assert.equal(recovered.error, null)
  assert.equal((await recovering.auth.updateUser({ password: "a new pkce password" })).error, null)
  assert.equal((await server.client().auth.signInWithPassword({ email, password: "a new pkce password" })).error, null)
})

test("the code emailed with a PKCE link verifies directly; malformed challenges and exchanges are refused", async () => {
  const email = "pkce-code@example.com"
  await server.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const client = pkceClient()
  await client.auth.signInWithOtp({ email })
  const mail = await server.mail(email)
  const verified = await client.auth.verifyOtp({ email, token: mail.Code, type: "email" })
  assert.equal(verified.error, null)
  assert.equal(verified.data.user.email, email)

  const otp = (body) =>
    fetch(`${server.url}/auth/v1/otp`, { method: "POST", headers: { apikey: ANON_KEY, "content-type": "application/json" }, body: JSON.stringify({ email, ...body }) }).then((response) => response.json())
  assert.equal((await otp({ code_challenge: "a".repeat(43) })).msg, "PKCE flow requires code_challenge_method and code_challenge")
  assert.equal((await otp({ code_challenge: "short", code_challenge_method: "s256" })).msg, "code challenge has to be between 43 and 128 characters")

  const empty = await exchange({ auth_code: "", code_verifier: "v" })
  assert.equal(empty.status, 400)
  assert.equal(empty.body.msg, "invalid request: both auth code and code verifier should be non-empty")
  const unknown = await exchange({ auth_code: "a-code-nobody-issued", code_verifier: "verifier" })
  assert.equal(unknown.status, 404)
  assert.equal(unknown.body.error_code, "flow_state_not_found")
})
