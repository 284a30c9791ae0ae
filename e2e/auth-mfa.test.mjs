// MFA with TOTP through supabase-js (auth-js): enroll, challenge, verify to aal2 (which a policy
// reading auth.jwt() ->> 'aal' lets through), refresh, unenroll and the admin factor API.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import crypto from "node:crypto"
import { SERVICE_KEY, startServer } from "./harness.mjs"

let server
before(async () => {
  server = await startServer("auth-defaults")
})
after(async () => {
  assert.equal(await server.stop(), 0)
})

/** RFC 6238's code for a base32 secret (SHA-1, 6 digits, 30-second steps). */
function totpCode(secret, at = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
  let bits = ""
  for (const char of secret.replace(/=+$/, "")) bits += alphabet.indexOf(char).toString(2).padStart(5, "0")
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30000)))
  const digest = crypto.createHmac("sha1", key).update(counter).digest()
  const offset = digest[digest.length - 1] & 0xf
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, "0")
}

async function signedUp(email) {
  const client = server.client()
  const { error } = await client.auth.signUp({ email, password: "correct horse" })
  assert.equal(error, null)
  return client
}

test("a TOTP factor is enrolled, verified to aal2, kept across a refresh, and unlocks an aal2 policy", async () => {
  const client = await signedUp("mfa@example.com")
  const enrolled = await client.auth.mfa.enroll({ factorType: "totp", friendlyName: "phone app" })
  assert.equal(enrolled.error, null)
  assert.equal(enrolled.data.type, "totp")
  assert.equal(enrolled.data.friendly_name, "phone app")
  assert.match(enrolled.data.totp.qr_code, /^data:image\/svg\+xml;utf-8,.*<svg/s)
  assert.match(enrolled.data.totp.uri, /^otpauth:\/\/totp\/.*:mfa%40example%2Ecom\?algorithm=SHA1&digits=6&issuer=.*&period=30&secret=/)
  assert.ok(enrolled.data.totp.uri.endsWith(`secret=${enrolled.data.totp.secret}`))
  const factorId = enrolled.data.id

  const before = await client.auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(before.data.currentLevel, "aal1")
  assert.equal((await client.from("vault").select("secret")).data.length, 0)

  const challenge = await client.auth.mfa.challenge({ factorId })
  assert.equal(challenge.error, null)
  assert.ok(challenge.data.expires_at > Date.now() / 1000)
  const wrong = await client.auth.mfa.verify({ factorId, challengeId: challenge.data.id, code: totpCode(enrolled.data.totp.secret, Date.now() - 300000) })
  assert.equal(wrong.error.code, "mfa_verification_failed")
  assert.equal(wrong.error.message, "Invalid TOTP code entered")

  const verified = await client.auth.mfa.challengeAndVerify({ factorId, code: totpCode(enrolled.data.totp.secret) })
  assert.equal(verified.error, null)
  const level = await client.auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(level.data.currentLevel, "aal2")
  assert.equal(level.data.nextLevel, "aal2")
  assert.deepEqual(level.data.currentAuthenticationMethods.map(({ method }) => method), ["totp", "password"])
  assert.deepEqual((await client.from("vault").select("secret")).data, [{ secret: "the combination" }])

  const factors = await client.auth.mfa.listFactors()
  assert.deepEqual(factors.data.totp.map(({ id, status }) => ({ id, status })), [{ id: factorId, status: "verified" }])

  const refreshed = await client.auth.refreshSession()
  assert.equal(refreshed.error, null)
  const claims = JSON.parse(Buffer.from(refreshed.data.session.access_token.split(".")[1], "base64url"))
  assert.equal(claims.aal, "aal2")
  assert.deepEqual(claims.amr.map(({ method }) => method), ["totp", "password"])

  // A fresh sign-in is aal1 and must pass the factor again before it may remove it.
  const other = server.client()
  assert.equal((await other.auth.signInWithPassword({ email: "mfa@example.com", password: "correct horse" })).error, null)
  const next = await other.auth.mfa.getAuthenticatorAssuranceLevel()
  assert.deepEqual([next.data.currentLevel, next.data.nextLevel], ["aal1", "aal2"])
  const refused = await other.auth.mfa.unenroll({ factorId })
  assert.equal(refused.error.code, "insufficient_aal")
  const unenrolled = await client.auth.mfa.unenroll({ factorId })
  assert.equal(unenrolled.error, null)
  assert.equal((await client.auth.mfa.listFactors()).data.all.length, 0)
})

test("MFA refuses callers without a session, unknown factors and disabled factor types", async () => {
  const noToken = await fetch(`${server.url}/auth/v1/factors`, {
    method: "POST",
    headers: { apikey: SERVICE_KEY, "content-type": "application/json" },
    body: JSON.stringify({ factor_type: "totp" }),
  })
  assert.equal(noToken.status, 401)
  assert.equal((await noToken.json()).msg, "This endpoint requires a valid Bearer token")
  // supabase-js sends the anon key as the bearer when signed out: a token of no user.
  const signedOut = await server.client().auth.mfa.enroll({ factorType: "totp" })
  assert.equal(signedOut.error.message, "invalid claim: missing sub claim")

  const client = await signedUp("mfa-errors@example.com")
  const phone = await client.auth.mfa.enroll({ factorType: "phone", phone: "+15555550100" })
  assert.equal(phone.error.code, "mfa_phone_enroll_not_enabled")
  const unknown = await client.auth.mfa.challenge({ factorId: crypto.randomUUID() })
  assert.equal(unknown.error.code, "mfa_factor_not_found")
  assert.equal((await client.auth.mfa.enroll({ factorType: "totp" })).error, null)
  const duplicate = await client.auth.mfa.enroll({ factorType: "totp" })
  assert.equal(duplicate.error.code, "mfa_factor_name_conflict")
})

test("the admin API lists and deletes a user's factors", async () => {
  const client = await signedUp("mfa-admin@example.com")
  const enrolled = await client.auth.mfa.enroll({ factorType: "totp", friendlyName: "laptop" })
  const { data: { user } } = await client.auth.getUser()
  const admin = server.client(SERVICE_KEY).auth.admin
  const listed = await admin.mfa.listFactors({ userId: user.id })
  assert.deepEqual(listed.data.factors.map(({ id, friendly_name }) => ({ id, friendly_name })), [{ id: enrolled.data.id, friendly_name: "laptop" }])
  const deleted = await admin.mfa.deleteFactor({ userId: user.id, id: enrolled.data.id })
  assert.equal(deleted.error, null)
  // auth-js wraps the removed factor GoTrue answers once more.
  assert.equal(deleted.data.data.id, enrolled.data.id)
  assert.deepEqual((await admin.mfa.listFactors({ userId: user.id })).data.factors, [])
  const refused = await server.client().auth.admin.mfa.listFactors({ userId: user.id })
  assert.equal(refused.error.code, "not_admin")
})

// Last in this file: it spends this address's MFA budget.
test("guessing codes is cut off after GoTrue's MFA budget, so six digits cannot be tried through", async () => {
  const client = await signedUp("guess@example.com")
  const enrolled = await client.auth.mfa.enroll({ factorType: "totp" })
  assert.equal(enrolled.error, null)
  const factorId = enrolled.data.id
  const challenge = await client.auth.mfa.challenge({ factorId })
  assert.equal(challenge.error, null)
  const codes = []
  for (let guess = 0; guess < 31; guess++) {
    const code = String(guess).padStart(6, "0")
    const { error } = await client.auth.mfa.verify({ factorId, challengeId: challenge.data.id, code })
    codes.push(error?.code)
  }
  // The earlier tests in this file spent a few; every guess within the budget is checked.
  const refused = codes.indexOf("over_request_rate_limit")
  assert.ok(refused > 20, `refused after ${refused} guesses: ${codes}`)
  assert.ok(codes.slice(0, refused).every((code) => code === "mfa_verification_failed"), String(codes))
  assert.ok(codes.slice(refused).every((code) => code === "over_request_rate_limit"), String(codes))
  // The right code is refused too until the budget refills: the limit is on attempts.
  const right = await client.auth.mfa.verify({ factorId, challengeId: challenge.data.id, code: totpCode(enrolled.data.totp.secret) })
  assert.equal(right.error.status, 429)
})
