// Auth through the official supabase-js (auth-js) against the real binary.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, startServer } from "./harness.mjs"

let server, strict
before(async () => {
  server = await startServer("auth")
  strict = await startServer("auth-strict")
})
after(async () => {
  assert.equal(await server.stop(), 0)
  assert.equal(await strict.stop(), 0)
})

test("sign up, sign in, read and update the user, and the profile trigger runs", async () => {
  const client = server.client()
  const { data, error } = await client.auth.signUp({ email: "ana@example.com", password: "correct horse", options: { data: { username: "ana" } } })
  assert.equal(error, null)
  assert.ok(data.session.access_token)
  assert.equal(data.user.email, "ana@example.com")
  assert.equal(data.user.user_metadata.username, "ana")
  assert.equal(data.user.app_metadata.provider, "email")
  assert.equal(data.user.is_anonymous, false)
  const { data: profile } = await client.from("profiles").select("username").single()
  assert.deepEqual(profile, { username: "ana" })

  const duplicate = await server.client().auth.signUp({ email: "ana@example.com", password: "correct horse" })
  assert.equal(duplicate.error.code, "user_already_exists")
  const weak = await server.client().auth.signUp({ email: "weak@example.com", password: "short" })
  assert.equal(weak.error.code, "weak_password")
  const invalid = await server.client().auth.signUp({ email: "not-an-email", password: "correct horse" })
  assert.equal(invalid.error.status, 400)

  const other = server.client()
  const wrong = await other.auth.signInWithPassword({ email: "ana@example.com", password: "wrong password" })
  assert.equal(wrong.error.code, "invalid_credentials")
  const signedIn = await other.auth.signInWithPassword({ email: "ana@example.com", password: "correct horse" })
  assert.equal(signedIn.error, null)
  const { data: got } = await other.auth.getUser()
  assert.equal(got.user.id, data.user.id)
  const updated = await other.auth.updateUser({ data: { theme: "dark", username: null } })
  assert.deepEqual(updated.data.user.user_metadata, { email_verified: true, theme: "dark" })
  const same = await other.auth.updateUser({ password: "correct horse" })
  assert.equal(same.error.code, "same_password")
})

test("refresh tokens rotate, a reused token revokes the session's tokens, and sign-out ends sessions", async () => {
  const client = server.client()
  const { data } = await client.auth.signUp({ email: "bob@example.com", password: "correct horse" })
  const first = data.session.refresh_token
  const refreshed = await client.auth.refreshSession({ refresh_token: first })
  assert.equal(refreshed.error, null)
  const second = refreshed.data.session.refresh_token
  assert.notEqual(second, first)
  // The parent of the active token answers the active token, even after the reuse interval
  // (0 s here): the client lost the answer of its last refresh.
  const retried = await server.client().auth.refreshSession({ refresh_token: first })
  assert.equal(retried.error, null)
  assert.equal(retried.data.session.refresh_token, second)
  const third = (await server.client().auth.refreshSession({ refresh_token: second })).data.session
  // An older token is reuse: every token of the session is revoked, the newest one included.
  const reused = await server.client().auth.refreshSession({ refresh_token: first })
  assert.equal(reused.error.code, "refresh_token_already_used")
  assert.equal(reused.error.message, "Invalid Refresh Token: Already Used")
  assert.equal(reused.error.status, 400)
  const after = await server.client().auth.refreshSession({ refresh_token: third.refresh_token })
  assert.equal(after.error.code, "refresh_token_already_used")
  // GoTrue revokes the tokens, not the session: its access token works until it expires.
  const user = await fetch(`${server.url}/auth/v1/user`, { headers: { apikey: SERVICE_KEY, Authorization: `Bearer ${third.access_token}` } })
  assert.equal(user.status, 200)
  const unknown = await server.client().auth.refreshSession({ refresh_token: "nope" })
  assert.equal(unknown.error.code, "refresh_token_not_found")

  const device = server.client()
  await device.auth.signInWithPassword({ email: "bob@example.com", password: "correct horse" })
  const token = (await device.auth.getSession()).data.session.access_token
  assert.equal((await device.auth.signOut()).error, null)
  const response = await fetch(`${server.url}/auth/v1/user`, { headers: { apikey: SERVICE_KEY, Authorization: `Bearer ${token}` } })
  assert.equal(response.status, 403)
  assert.equal((await response.json()).error_code, "session_not_found")
})

test("a seeded user signs in and anonymous users are authenticated but anonymous", async () => {
  const seeded = await server.client().auth.signInWithPassword({ email: "seeded@example.com", password: "password123" })
  assert.equal(seeded.error, null)
  assert.equal(seeded.data.user.user_metadata.username, "seeded")
  const anonymous = server.client()
  const { data, error } = await anonymous.auth.signInAnonymously()
  assert.equal(error, null)
  assert.equal(data.user.is_anonymous, true)
  assert.deepEqual(data.user.identities, [])
  const claims = JSON.parse(Buffer.from(data.session.access_token.split(".")[1], "base64url"))
  assert.equal(claims.role, "authenticated")
  assert.equal(claims.is_anonymous, true)
  assert.equal(claims.session_id.length, 36)
  assert.equal((await strict.client().auth.signInAnonymously()).error.code, "anonymous_provider_disabled")
})

test("the admin API manages users for the service role only, and deleting a user cascades", async () => {
  const adminClient = server.client(SERVICE_KEY)
  const created = await adminClient.auth.admin.createUser({ email: "carol@example.com", password: "correct horse", email_confirm: true, user_metadata: { username: "carol" } })
  assert.equal(created.error, null)
  const id = created.data.user.id
  assert.ok(created.data.user.email_confirmed_at)
  const listed = await adminClient.auth.admin.listUsers({ page: 1, perPage: 2 })
  assert.equal(listed.data.users.length, 2)
  assert.ok(listed.data.total >= 3)
  const updated = await adminClient.auth.admin.updateUserById(id, { app_metadata: { plan: "pro" } })
  assert.equal(updated.data.user.app_metadata.plan, "pro")
  assert.equal((await adminClient.auth.admin.getUserById(id)).data.user.email, "carol@example.com")
  assert.equal((await adminClient.from("profiles").select("id").eq("id", id)).data.length, 1)
  assert.equal((await adminClient.auth.admin.deleteUser(id)).error, null)
  assert.equal((await adminClient.from("profiles").select("id").eq("id", id)).data.length, 0)
  assert.equal((await adminClient.auth.admin.getUserById(id)).error.code, "user_not_found")
  const refused = await server.client().auth.admin.listUsers()
  assert.equal(refused.error.code, "not_admin")
})

test("the admin API lists newest first, validates pages and emails, and bans users", async () => {
  const admin = server.client(SERVICE_KEY).auth.admin
  const invalid = await admin.createUser({ email: "xx:;x@x.x", password: "correct horse" })
  assert.equal(invalid.error.message, "Unable to validate email address: invalid format")
  assert.equal(invalid.data.user, null)
  const created = await admin.createUser({
    email: "newest@example.com",
    password: "correct horse",
    email_confirm: true,
    user_metadata: { full_name: "Newest Person" },
    app_metadata: { plan: "pro" },
  })
  assert.equal(created.error, null)
  assert.equal(created.data.user.user_metadata.full_name, "Newest Person")
  assert.equal(created.data.user.app_metadata.plan, "pro")
  assert.equal(created.data.user.app_metadata.provider, "email")

  const first = await admin.listUsers({ page: 1, perPage: 1 })
  assert.equal(first.data.users[0].email, "newest@example.com")
  assert.ok(first.data.total >= 2)
  assert.equal(first.data.nextPage, 2)
  const badPage = await admin.listUsers({ page: -1, perPage: 10 })
  assert.equal(badPage.error.code, "validation_failed")
  assert.deepEqual(badPage.data.users, [])

  const client = server.client()
  const signedIn = await client.auth.signInWithPassword({ email: "newest@example.com", password: "correct horse" })
  assert.equal(signedIn.error, null)
  const banned = await admin.updateUserById(created.data.user.id, { ban_duration: "24h" })
  assert.ok(banned.data.user.banned_until > new Date().toISOString())
  const refused = await server.client().auth.signInWithPassword({ email: "newest@example.com", password: "correct horse" })
  assert.equal(refused.error.code, "user_banned")
  assert.equal((await client.auth.getUser()).error.code, "user_banned")
  assert.equal((await client.auth.refreshSession()).error.code, "user_banned")
  const badBan = await admin.updateUserById(created.data.user.id, { ban_duration: "forever" })
  assert.equal(badBan.error.code, "validation_failed")
  await admin.updateUserById(created.data.user.id, { ban_duration: "none" })
  const again = await server.client().auth.signInWithPassword({ email: "newest@example.com", password: "correct horse" })
  assert.equal(again.error, null)
})

test("confirmations and rate limits follow config.toml", async () => {
  const signUp = await strict.client().auth.signUp({ email: "dana@example.com", password: "correct horse" })
  assert.equal(signUp.error, null)
  assert.equal(signUp.data.session, null)
  assert.ok(signUp.data.user.confirmation_sent_at)
  const signIn = await strict.client().auth.signInWithPassword({ email: "dana@example.com", password: "correct horse" })
  assert.equal(signIn.error.code, "email_not_confirmed")
  // sign_in_sign_ups = 3 sign-ups per window; one was used above.
  for (const name of ["erin", "fred"]) {
    assert.equal((await strict.client().auth.signUp({ email: `${name}@example.com`, password: "correct horse" })).error, null)
  }
  const limited = await strict.client().auth.signUp({ email: "gina@example.com", password: "correct horse" })
  assert.equal(limited.error.code, "over_request_rate_limit")
  assert.equal(limited.error.status, 429)
  // Password sign-ins spend token_refresh (4 here), a budget of their own.
  for (let attempt = 0; attempt < 3; attempt++) {
    const again = await strict.client().auth.signInWithPassword({ email: "dana@example.com", password: "correct horse" })
    assert.equal(again.error.code, "email_not_confirmed")
  }
  const tooMany = await strict.client().auth.signInWithPassword({ email: "dana@example.com", password: "correct horse" })
  assert.equal(tooMany.error.code, "over_request_rate_limit")
})

test("sign-ups and sign-ins spend separate default budgets: 25 sign-ups and 10 sign-ins pass", async () => {
  const defaults = await startServer("auth-defaults")
  try {
    for (let index = 0; index < 25; index++) {
      const { error } = await defaults.client().auth.signUp({ email: `bulk${index}@example.com`, password: "correct horse" })
      assert.equal(error, null)
    }
    for (let index = 0; index < 10; index++) {
      const { error } = await defaults.client().auth.signInWithPassword({ email: `bulk${index}@example.com`, password: "correct horse" })
      assert.equal(error, null)
    }
  } finally {
    assert.equal(await defaults.stop(), 0)
  }
})
