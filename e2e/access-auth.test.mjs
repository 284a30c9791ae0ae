// Token and sign-in tricks an attacker tries against /auth/v1 and the keys: a token not valid
// yet, probing which emails exist by timing, locking a victim out from elsewhere, control
// characters in emails, and a refresh token replayed to fork the session.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import http from "node:http"
import { ANON_KEY, signJwt, startServer } from "./harness.mjs"

let server, strict
before(async () => {
  server = await startServer("access")
  strict = await startServer("auth-strict")
})
after(async () => {
  assert.equal(await server.stop(), 0)
  assert.equal(await strict.stop(), 0)
})

/** POSTs JSON to `url` from the local address `from` (any 127.x address is this machine). */
function post(url, body, from = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", localAddress: from, headers: { apikey: ANON_KEY, "content-type": "application/json" } }, (response) => {
      let text = ""
      response.on("data", (chunk) => (text += chunk))
      response.on("end", () => resolve({ status: response.statusCode, body: JSON.parse(text) }))
    })
    request.on("error", reject)
    request.end(JSON.stringify(body))
  })
}

test("a token that is not valid yet is refused", async () => {
  const now = Math.floor(Date.now() / 1000)
  const early = signJwt({ sub: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", role: "authenticated", nbf: now + 3600, exp: now + 7200 })
  const response = await fetch(`${server.url}/rest/v1/notes?select=body`, { headers: { apikey: ANON_KEY, Authorization: `Bearer ${early}` } })
  assert.equal(response.status, 401)
  assert.equal((await response.json()).code, "PGRST303")
  const ready = signJwt({ sub: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", role: "authenticated", nbf: now - 10, exp: now + 7200 })
  const allowed = await fetch(`${server.url}/rest/v1/notes?select=body`, { headers: { apikey: ANON_KEY, Authorization: `Bearer ${ready}` } })
  assert.deepEqual(await allowed.json(), [{ body: "a secret" }])
})

test("signing in with an unknown email takes as long as with a wrong password", async () => {
  assert.equal((await server.client().auth.signUp({ email: "timed@example.com", password: "long enough password" })).error, null)
  // Interleaved, so both see the same load; without the dummy hash an unknown email answers
  // in a few milliseconds against tens for a password check.
  const times = { known: [], unknown: [] }
  for (let i = 0; i < 7; i++) {
    for (const [kind, email] of [["known", "timed@example.com"], ["unknown", "nobody@example.com"]]) {
      const started = performance.now()
      const { error } = await server.client().auth.signInWithPassword({ email, password: "wrong password" })
      times[kind].push(performance.now() - started)
      assert.equal(error.code, "invalid_credentials")
    }
  }
  const median = (list) => list.sort((x, y) => x - y)[3]
  const [known, unknown] = [median(times.known), median(times.unknown)]
  assert.ok(unknown > known / 3, `unknown email answered in ${unknown} ms, a wrong password in ${known} ms`)
})

test("failed sign-ins from elsewhere do not lock the victim out", async () => {
  const signIn = `${strict.url}/auth/v1/token?grant_type=password`
  const victim = { email: "victim@example.com", password: "correct horse" }
  // The strict project allows 4 password sign-ins (token_refresh) per window and address.
  assert.equal((await post(`${strict.url}/auth/v1/signup`, victim)).status, 200)
  for (let i = 0; i < 4; i++) await post(signIn, { email: victim.email, password: "guess" }, "127.0.0.2")
  const attacker = await post(signIn, { email: victim.email, password: "guess" }, "127.0.0.2")
  assert.equal(attacker.status, 429)
  const own = await post(signIn, victim)
  assert.equal(own.body.error_code, "email_not_confirmed")
})

test("emails with NUL or control characters are refused", async () => {
  for (const email of ["a\u0000b@example.com", "bell\u0007@example.com", "a@example.com\u0000"]) {
    const signUp = await server.client().auth.signUp({ email, password: "long enough password" })
    assert.equal(signUp.error?.code, "validation_failed", JSON.stringify(email))
    const signIn = await server.client().auth.signInWithPassword({ email, password: "password-a" })
    assert.equal(signIn.error?.code, "validation_failed", JSON.stringify(email))
  }
})

test("a refresh token replayed within the reuse interval answers the active token, not a second chain", async () => {
  const client = server.client()
  const { data } = await client.auth.signInWithPassword({ email: "a@example.com", password: "password-a" })
  const first = data.session.refresh_token
  const second = (await server.client().auth.refreshSession({ refresh_token: first })).data.session.refresh_token
  const third = (await server.client().auth.refreshSession({ refresh_token: second })).data.session.refresh_token
  const replayed = await server.client().auth.refreshSession({ refresh_token: first })
  assert.equal(replayed.error, null)
  assert.equal(replayed.data.session.refresh_token, third)
  const again = await server.client().auth.refreshSession({ refresh_token: second })
  assert.equal(again.data.session.refresh_token, third)
  const next = await server.client().auth.refreshSession({ refresh_token: third })
  assert.equal(next.error, null)
  assert.notEqual(next.data.session.refresh_token, third)
})
