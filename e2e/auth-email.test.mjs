// Email flows through supabase-js, reading each link and code from the local inbox's API:
// confirmation, magic link and code, recovery, resend, reauthentication, invite, generateLink,
// email change with double confirmation, redirect_to validation and expiry.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import { ANON_KEY, SERVICE_KEY, copyFixture, startServer } from "./harness.mjs"

let server, quick
before(async () => {
  server = await startServer("auth-email")
  // Codes that expire after a second and may be resent at once.
  const workdir = copyFixture("auth-email")
  const config = path.join(workdir, "supabase", "config.toml")
  fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace('max_frequency = "1s"', 'max_frequency = "0"\notp_expiry = 1'))
  quick = await startServer(null, workdir)
})
after(async () => {
  assert.equal(await server.stop(), 0)
  assert.equal(await quick.stop(), 0)
})

const password = "correct horse battery"

test("sign-up stays pending until the emailed code is verified", async () => {
  const client = server.client()
  const email = "pending@example.com"
  const { data, error } = await client.auth.signUp({ email, password })
  assert.equal(error, null)
  assert.equal(data.session, null)
  assert.equal(data.user.email, email)
  assert.ok(data.user.confirmation_sent_at)

  const early = await client.auth.signInWithPassword({ email, password })
  assert.equal(early.error.code, "email_not_confirmed")

  const mail = await server.mail(email)
  assert.equal(mail.Subject, "Confirm Your Signup")
  assert.match(mail.Code, /^\d{6}$/)
  assert.match(mail.Link, /\/auth\/v1\/verify\?token=[0-9a-f]{56}&type=signup&redirect_to=http:\/\/127\.0\.0\.1:3000$/)
  const full = await fetch(`${server.inboxUrl}/api/v1/message/${mail.ID}`).then((response) => response.json())
  assert.ok(full.HTML.includes(mail.Code))
  const page = await fetch(server.inboxUrl).then((response) => response.text())
  assert.ok(page.includes("Confirm Your Signup"))

  const wrong = await client.auth.verifyOtp({ email, token: mail.Code === "000000" ? "111111" : "000000", type: "signup" })
  assert.equal(wrong.error.code, "otp_expired")
  const verified = await client.auth.verifyOtp({ email, token: mail.Code, type: "signup" })
  assert.equal(verified.error, null)
  assert.ok(verified.data.session.access_token)
  assert.ok(verified.data.user.email_confirmed_at)
  const again = await client.auth.verifyOtp({ email, token: mail.Code, type: "signup" })
  assert.equal(again.error.code, "otp_expired")

  const signedIn = await server.client().auth.signInWithPassword({ email, password })
  assert.equal(signedIn.error, null)
})

test("the emailed link redirects with the session in the fragment, once, to an allowed redirect_to", async () => {
  const email = "link@example.com"
  const { error } = await server.client().auth.signUp({ email, password, options: { emailRedirectTo: "https://app.example.com/welcome" } })
  assert.equal(error, null)
  const mail = await server.mail(email)
  assert.ok(mail.Link.endsWith("redirect_to=https://app.example.com/welcome"))

  const response = await fetch(mail.Link, { redirect: "manual" })
  assert.equal(response.status, 303)
  const location = new URL(response.headers.get("location"))
  assert.equal(`${location.origin}${location.pathname}`, "https://app.example.com/welcome")
  const fragment = new URLSearchParams(location.hash.slice(1))
  assert.equal(fragment.get("type"), "signup")
  assert.equal(fragment.get("token_type"), "bearer")
  const { data: user } = await server.client().auth.getUser(fragment.get("access_token"))
  assert.equal(user.user.email, email)

  const reused = await fetch(mail.Link, { redirect: "manual" })
  assert.equal(reused.status, 303)
  const failed = new URL(reused.headers.get("location"))
  const reason = new URLSearchParams(failed.hash.slice(1))
  assert.equal(reason.get("error"), "access_denied")
  assert.equal(reason.get("error_code"), "otp_expired")
  assert.equal(reason.get("error_description"), "Email link is invalid or has expired")

  // A redirect_to outside site_url and additional_redirect_urls falls back to site_url.
  await server.client().auth.signUp({ email: "evil@example.com", password, options: { emailRedirectTo: "https://evil.example.net/steal" } })
  const evil = await server.mail("evil@example.com")
  assert.ok(evil.Link.endsWith("redirect_to=http://127.0.0.1:3000"))
})

test("signInWithOtp sends the configured magic-link template, creates users only when asked, and honours max_frequency", async () => {
  const email = "otp@example.com"
  const admin = server.client(SERVICE_KEY)
  await admin.auth.admin.createUser({ email, password, email_confirm: true })
  const client = server.client()
  assert.equal((await client.auth.signInWithOtp({ email })).error, null)
  const mail = await server.mail(email)
  assert.equal(mail.Subject, "Sign in to the shop")
  assert.ok(mail.Snippet.startsWith(`Hello ${email}`))
  assert.ok(mail.Snippet.includes(`enter ${mail.Code}.`))
  assert.match(mail.Link, /type=magiclink/)

  const tooSoon = await client.auth.signInWithOtp({ email })
  assert.equal(tooSoon.error.code, "over_email_send_rate_limit")
  assert.equal(tooSoon.error.status, 429)

  const verified = await client.auth.verifyOtp({ email, token: mail.Code, type: "email" })
  assert.equal(verified.error, null)
  assert.equal(verified.data.user.email, email)

  const unknown = await client.auth.signInWithOtp({ email: "nobody@example.com", options: { shouldCreateUser: false } })
  assert.equal(unknown.error.code, "otp_disabled")
  assert.equal(unknown.error.status, 422)

  // A new address gets the sign-up confirmation (confirmations are on), verifiable as "email".
  const fresh = "fresh-otp@example.com"
  assert.equal((await client.auth.signInWithOtp({ email: fresh, options: { data: { plan: "pro" } } })).error, null)
  const confirmation = await server.mail(fresh)
  assert.equal(confirmation.Subject, "Confirm Your Signup")
  const signedIn = await client.auth.verifyOtp({ email: fresh, token: confirmation.Code, type: "email" })
  assert.equal(signedIn.error, null)
  assert.equal(signedIn.data.user.user_metadata.plan, "pro")

  const invalid = await client.auth.signInWithOtp({ email: "not-an-address" })
  assert.equal(invalid.error.status, 400)
})

test("password recovery: the code signs in and the password can be changed", async () => {
  const email = "recover@example.com"
  await server.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const client = server.client()
  const { data, error } = await client.auth.resetPasswordForEmail(email)
  assert.equal(error, null)
  assert.deepEqual(data, {})
  const mail = await server.mail(email)
  assert.equal(mail.Subject, "Reset Your Password")
  const verified = await client.auth.verifyOtp({ email, token: mail.Code, type: "recovery" })
  assert.equal(verified.error, null)
  assert.equal((await client.auth.updateUser({ password: "a brand new password" })).error, null)
  assert.equal((await server.client().auth.signInWithPassword({ email, password: "a brand new password" })).error, null)

  const unknown = await client.auth.resetPasswordForEmail("ghost@example.com")
  assert.equal(unknown.error, null)
  await assert.rejects(server.mail("ghost@example.com", { ms: 200 }))
})

test("resend sends a new confirmation once max_frequency allows it; the new code works", async () => {
  const email = "resend@example.com"
  const client = quick.client()
  await client.auth.signUp({ email, password })
  const first = await quick.mail(email)
  assert.equal((await client.auth.resend({ type: "signup", email })).error, null)
  const second = await quick.mail(email, { after: first.ID })
  assert.notEqual(second.Link, first.Link)
  const verified = await client.auth.verifyOtp({ email, token: second.Code, type: "signup" })
  assert.equal(verified.error, null)

  const limited = server.client()
  await limited.auth.signUp({ email: "resend-limited@example.com", password })
  const refused = await limited.auth.resend({ type: "signup", email: "resend-limited@example.com" })
  assert.equal(refused.error.code, "over_email_send_rate_limit")
  const badType = await limited.auth.resend({ type: "magiclink", email })
  assert.equal(badType.error.code, "validation_failed")
})

test("an emailed code expires after otp_expiry", async () => {
  const email = "expiry@example.com"
  await quick.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const client = quick.client()
  await client.auth.signInWithOtp({ email })
  const mail = await quick.mail(email)
  await new Promise((resolve) => setTimeout(resolve, 1100)) // otp_expiry = 1 s
  const expired = await client.auth.verifyOtp({ email, token: mail.Code, type: "magiclink" })
  assert.equal(expired.error.code, "otp_expired")
  assert.equal(expired.error.status, 403)
})

test("reauthenticate mails a nonce that a password change must match", async () => {
  const email = "reauth@example.com"
  await server.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const client = server.client()
  await client.auth.signInWithPassword({ email, password })
  const { data, error } = await client.auth.reauthenticate()
  assert.equal(error, null)
  assert.equal(data.session, null)
  const mail = await server.mail(email)
  assert.equal(mail.Subject, "Confirm reauthentication")
  assert.equal(mail.Link, null)
  const wrong = await client.auth.updateUser({ password: "another password", nonce: "000000" === mail.Code ? "111111" : "000000" })
  assert.equal(wrong.error.code, "reauthentication_not_valid")
  assert.equal((await client.auth.updateUser({ password: "another password", nonce: mail.Code })).error, null)
  const reused = await client.auth.updateUser({ password: "a third password", nonce: mail.Code })
  assert.equal(reused.error.code, "reauthentication_not_valid")
  const noSession = await server.client().auth.reauthenticate()
  assert.ok(noSession.error)
})

test("admin invite mails a link; generateLink returns properties without sending mail", async () => {
  const admin = server.client(SERVICE_KEY).auth.admin
  const email = "invited@example.com"
  const invited = await admin.inviteUserByEmail(email, { data: { team: "blue" } })
  assert.equal(invited.error, null)
  assert.ok(invited.data.user.invited_at)
  const mail = await server.mail(email)
  assert.equal(mail.Subject, "You have been invited")
  assert.match(mail.Link, /type=invite/)
  const accepted = await server.client().auth.verifyOtp({ email, token: mail.Code, type: "invite" })
  assert.equal(accepted.error, null)
  assert.equal(accepted.data.user.user_metadata.team, "blue")
  const again = await admin.inviteUserByEmail(email)
  assert.equal(again.error.code, "email_exists")
  assert.equal((await admin.inviteUserByEmail("bad address")).error.message, "Unable to validate email address: invalid format")

  const linked = await admin.generateLink({ type: "magiclink", email, options: { redirectTo: "https://app.example.com/in" } })
  assert.equal(linked.error, null)
  const { properties } = linked.data
  assert.equal(properties.verification_type, "magiclink")
  assert.equal(properties.redirect_to, "https://app.example.com/in")
  assert.match(properties.action_link, /\?token=[0-9a-f]{56}&type=magiclink&redirect_to=https:\/\/app\.example\.com\/in$/)
  assert.match(properties.email_otp, /^\d{6}$/)
  const byHash = await server.client().auth.verifyOtp({ token_hash: properties.hashed_token, type: "magiclink" })
  assert.equal(byHash.error, null)
  assert.equal(byHash.data.user.email, email)
  const latest = await server.mail(email)
  assert.equal(latest.ID, mail.ID, "generateLink sends no mail")

  const signup = await admin.generateLink({ type: "signup", email: "generated@example.com", password, options: { data: { a: 1 } } })
  assert.equal(signup.error, null)
  assert.deepEqual(signup.data.user.user_metadata, { a: 1 })
  assert.equal((await server.client().auth.verifyOtp({ email: "generated@example.com", token: signup.data.properties.email_otp, type: "signup" })).error, null)
  const missing = await admin.generateLink({ type: "recovery", email: "ghost@example.com" })
  assert.equal(missing.error.code, "user_not_found")
  const badType = await admin.generateLink({ type: "bogus", email })
  assert.equal(badType.error.code, "validation_failed")
  const anon = await server.client().auth.admin.generateLink({ type: "magiclink", email })
  assert.equal(anon.error.status, 403)
})

test("an email change is confirmed from both addresses before it takes effect", async () => {
  const email = "old@example.com"
  const newEmail = "new@example.com"
  await server.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const client = server.client()
  await client.auth.signInWithPassword({ email, password })
  const { data, error } = await client.auth.updateUser({ email: newEmail })
  assert.equal(error, null)
  assert.equal(data.user.email, email)
  assert.equal(data.user.new_email, newEmail)
  const toOld = await server.mail(email)
  const toNew = await server.mail(newEmail)
  assert.equal(toOld.Subject, "Confirm Email Change")
  assert.match(toNew.Link, /type=email_change/)

  const half = await client.auth.verifyOtp({ email, token: toOld.Code, type: "email_change" })
  assert.equal(half.error, null)
  assert.equal(half.data.session, null)
  const { data: still } = await server.client(SERVICE_KEY).auth.admin.listUsers()
  assert.ok(still.users.some((user) => user.email === email))

  const done = await client.auth.verifyOtp({ email: newEmail, token: toNew.Code, type: "email_change" })
  assert.equal(done.error, null)
  assert.equal(done.data.user.email, newEmail)
  assert.equal(done.data.user.new_email, undefined)
  assert.equal((await server.client().auth.signInWithPassword({ email: newEmail, password })).error, null)
  assert.equal((await server.client().auth.signInWithPassword({ email, password })).error.code, "invalid_credentials")
})

test("verify refuses malformed requests with GoTrue's errors", async () => {
  const post = (body) =>
    fetch(`${server.url}/auth/v1/verify`, { method: "POST", headers: { apikey: SERVICE_KEY, "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (response) => ({ status: response.status, body: await response.json() }))
  assert.deepEqual((await post({ token: "1" })).body.msg, "Verify requires a verification type")
  assert.equal((await post({ type: "signup" })).body.msg, "Verify requires either a token or a token hash")
  assert.equal((await post({ type: "signup", token_hash: "x", email: "a@b.co" })).body.msg, "Only the token_hash and type should be provided")
  const unknown = await post({ type: "bogus", token_hash: "x" })
  assert.equal(unknown.status, 400)
  assert.equal(unknown.body.msg, "Invalid email verification type")
  const phone = await post({ type: "sms", token: "123456", phone: "15555550100" })
  assert.equal(phone.status, 403)
  assert.equal(phone.body.error_code, "otp_expired")
  const get = await fetch(`${server.url}/auth/v1/verify?type=signup`, { redirect: "manual" })
  assert.equal(get.status, 400)
})

test("the older POST /magiclink mails a link to a known address and a confirmation to a new one", async () => {
  const post = (body) =>
    fetch(`${server.url}/auth/v1/magiclink`, { method: "POST", headers: { apikey: ANON_KEY, "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (response) => ({ status: response.status, body: await response.json() }))
  const email = "magic@example.com"
  await server.client(SERVICE_KEY).auth.admin.createUser({ email, password, email_confirm: true })
  const sent = await post({ email })
  assert.equal(sent.status, 200)
  assert.deepEqual(sent.body, {})
  const mail = await server.mail(email)
  assert.match(mail.Link, /type=magiclink/)
  const response = await fetch(mail.Link, { redirect: "manual" })
  const fragment = new URLSearchParams(new URL(response.headers.get("location")).hash.slice(1))
  const { data } = await server.client().auth.getUser(fragment.get("access_token"))
  assert.equal(data.user.email, email)

  const fresh = "magic-new@example.com"
  assert.equal((await post({ email: fresh, data: { plan: "free" } })).status, 200)
  const confirmation = await server.mail(fresh)
  assert.equal(confirmation.Subject, "Confirm Your Signup")
  const verified = await server.client().auth.verifyOtp({ email: fresh, token: confirmation.Code, type: "signup" })
  assert.equal(verified.error, null)
  assert.equal(verified.data.user.user_metadata.plan, "free")

  const missing = await post({})
  assert.equal(missing.status, 422)
  assert.equal(missing.body.error_code, "validation_failed")
  assert.equal(missing.body.msg, "Password recovery requires an email")
  assert.equal((await post({ email: "not-an-address" })).status, 400)
})

test("signing up again with a taken address tells nothing: a confirmed owner's is answered with a made-up user, an unconfirmed one's confirmation is sent again", async () => {
  const admin = server.client(SERVICE_KEY)
  const email = "taken@example.com"
  const { data: owner } = await admin.auth.admin.createUser({ email, password, email_confirm: true })
  const stranger = await quick.client().auth.signUp({ email: "fresh@example.com", password })
  const repeated = await server.client().auth.signUp({ email, password: "another password 1" })
  assert.equal(repeated.error, null, "no user_already_exists to enumerate with")
  assert.equal(repeated.data.session, null)
  assert.notEqual(repeated.data.user.id, owner.user.id)
  assert.deepEqual(Object.keys(repeated.data.user).sort(), Object.keys(stranger.data.user).filter((key) => key in repeated.data.user).sort())
  assert.deepEqual(repeated.data.user.identities, [])
  const { data: signIn } = await server.client().auth.signInWithPassword({ email, password })
  assert.equal(signIn.user.id, owner.user.id, "the owner's password is untouched")

  // Unconfirmed: the same user, and a second confirmation in the inbox.
  const pending = "pending-again@example.com"
  const first = await quick.client().auth.signUp({ email: pending, password })
  const firstMail = await quick.mail(pending)
  const again = await quick.client().auth.signUp({ email: pending, password })
  assert.equal(again.error, null)
  assert.equal(again.data.user.id, first.data.user.id)
  const secondMail = await quick.mail(pending, { after: firstMail.ID })
  assert.notEqual(secondMail.Code, firstMail.Code)
})
