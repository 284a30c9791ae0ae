// Sign-in with an OpenID Connect provider configured in [auth.external.<name>], through
// supabase-js's signInWithOAuth against a small provider the test runs: the implicit flow
// (session in the redirect's fragment), PKCE (?code= exchanged with the client's verifier),
// linking a verified email to its existing account, and GoTrue's refusals.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import { ANON_KEY, SERVICE_KEY, copyFixture, startServer } from "./harness.mjs"
import { startProvider } from "./oidc-provider.mjs"

const users = {
  alice: { sub: "kc-alice", email: "alice@example.com", email_verified: true, name: "Alice Liddell", picture: "https://img.example.com/alice.png" },
  bob: { sub: "kc-bob", email: "bob@example.com", email_verified: true, name: "Bob" },
  mallory: { sub: "kc-mallory", email: "victim@example.com", email_verified: false, name: "Mallory" },
  unverified: { sub: "kc-new", email: "new@example.com", email_verified: false },
  carol: { sub: "kc-carol", email: "carol@example.com", email_verified: true, name: "Carol" },
}
let server, provider
before(async () => {
  provider = await startProvider({ clientId: "shop", secret: "provider-secret", users })
  const workdir = copyFixture("auth-email")
  process.env.SOLOBASE_TEST_OIDC_SECRET = "provider-secret"
  const config = path.join(workdir, "supabase", "config.toml")
  fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace("[auth]\n", "[auth]\nenable_manual_linking = true\nenable_anonymous_sign_ins = true\n"))
  fs.appendFileSync(
    config,
    `\n[auth.external.keycloak]\nenabled = true\nclient_id = "shop"\nsecret = "env(SOLOBASE_TEST_OIDC_SECRET)"\nurl = "${provider.issuer}"\n` +
      `\n[auth.external.github]\nenabled = false\nclient_id = "x"\nsecret = "env(SOLOBASE_TEST_UNSET_GITHUB)"\n`,
  )
  server = await startServer("auth-email", workdir)
})
after(async () => {
  await provider?.stop()
  assert.equal(await server.stop(), 0)
})

/** A memory storage whose items the test can read (the PKCE verifier). */
const memory = () => {
  const items = new Map()
  return { items, getItem: (key) => items.get(key) ?? null, setItem: (key, value) => items.set(key, value), removeItem: (key) => items.delete(key) }
}
const client = (flowType = "implicit", storage = memory()) => server.client(ANON_KEY, { auth: { persistSession: true, autoRefreshToken: false, detectSessionInUrl: false, flowType, storage } })

/** Follows one redirect of the sign-in and returns where it points. */
async function hop(url, expected = 302) {
  const response = await fetch(url, { redirect: "manual" })
  assert.equal(response.status, expected, `${url}: ${response.status} ${await response.clone().text()}`)
  return new URL(response.headers.get("location"))
}

/** Signs in (or links, with `how` "linkIdentity") through the provider as `login`; returns where the server sends the browser at each step. */
async function signIn(db, login, redirectTo = "https://app.example.com/done", how = "signInWithOAuth") {
  const { data, error } = await db.auth[how]({ provider: "keycloak", options: { redirectTo, skipBrowserRedirect: true, queryParams: { login_hint: login } } })
  assert.equal(error, null)
  // linkIdentity answers the provider's URL itself (skip_http_redirect); signInWithOAuth's goes through /authorize.
  const atProvider = how === "linkIdentity" ? new URL(data.url) : await hop(data.url)
  const callback = await hop(atProvider)
  return { atProvider, callback, done: await hop(callback) }
}

const fragment = (url) => new URLSearchParams(url.hash.slice(1))

test("settings list the configured provider as enabled, and the disabled one as not", async () => {
  const settings = await fetch(`${server.url}/auth/v1/settings`, { headers: { apikey: ANON_KEY } }).then((response) => response.json())
  assert.equal(settings.external.keycloak, true)
  assert.equal(settings.external.github, false)
})

test("the implicit flow signs a new user up through the provider and hands the app a session", async () => {
  const db = client()
  const { atProvider, callback, done } = await signIn(db, "alice")
  assert.equal(atProvider.origin, provider.issuer)
  assert.equal(atProvider.searchParams.get("client_id"), "shop")
  assert.equal(atProvider.searchParams.get("redirect_uri"), `${server.url}/auth/v1/callback`)
  assert.deepEqual(atProvider.searchParams.get("scope").split(" "), ["openid", "email", "profile"])
  assert.equal(atProvider.searchParams.get("login_hint"), "alice", "the app's own query parameters reach the provider")
  assert.equal(callback.searchParams.get("state"), atProvider.searchParams.get("state"))

  assert.equal(`${done.origin}${done.pathname}`, "https://app.example.com/done")
  const session = fragment(done)
  assert.equal(session.get("token_type"), "bearer")
  assert.match(session.get("provider_token"), /^[0-9a-f-]{36}$/)
  assert.equal(session.get("provider_refresh_token"), `refresh-${session.get("provider_token")}`)
  const { data, error } = await db.auth.setSession({ access_token: session.get("access_token"), refresh_token: session.get("refresh_token") })
  assert.equal(error, null)
  const user = data.user
  assert.equal(user.email, "alice@example.com")
  assert.ok(user.email_confirmed_at, "the provider verified the address")
  assert.deepEqual(user.app_metadata, { provider: "keycloak", providers: ["keycloak"] })
  assert.equal(user.user_metadata.full_name, "Alice Liddell")
  assert.equal(user.user_metadata.avatar_url, "https://img.example.com/alice.png")
  assert.deepEqual(user.identities.map((identity) => [identity.provider, identity.identity_data.sub]), [["keycloak", "kc-alice"]])
  const claims = JSON.parse(Buffer.from(session.get("access_token").split(".")[1], "base64url"))
  assert.equal(claims.amr[0].method, "oauth")

  // The state is spent: the same callback cannot sign in again.
  const replay = await fetch(callback, { redirect: "manual" })
  assert.equal(replay.status, 400)
  assert.equal((await replay.json()).error_code, "bad_oauth_state")

  // Signing in again finds the same user through its identity.
  const again = fragment((await signIn(client(), "alice")).done)
  const second = JSON.parse(Buffer.from(again.get("access_token").split(".")[1], "base64url"))
  assert.equal(second.sub, user.id)
})

test("a verified email is linked to its existing account; an unverified one cannot take it over", async () => {
  const admin = server.client(SERVICE_KEY)
  const { data: created } = await admin.auth.admin.createUser({ email: "bob@example.com", password: "bob's password 1", email_confirm: true })
  const session = fragment((await signIn(client(), "bob")).done)
  const db = client()
  const { data } = await db.auth.setSession({ access_token: session.get("access_token"), refresh_token: session.get("refresh_token") })
  assert.equal(data.user.id, created.user.id)
  assert.deepEqual(data.user.app_metadata.providers, ["email", "keycloak"])
  assert.deepEqual(data.user.identities.map((identity) => identity.provider).sort(), ["email", "keycloak"])

  // An account whose owner never used the provider stays theirs when the provider has not verified the address.
  await admin.auth.admin.createUser({ email: "victim@example.com", password: "victim's password", email_confirm: true })
  const refused = await signIn(client(), "mallory")
  assert.equal(refused.done.hash.includes("access_token"), false)
  assert.equal(fragment(refused.done).get("error_code"), "email_exists")
  const { data: victims } = await admin.auth.admin.listUsers()
  const victim = victims.users.find((user) => user.email === "victim@example.com")
  assert.deepEqual(victim.identities.map((identity) => identity.provider), ["email"])

  // With confirmations on, a new address the provider has not verified does not sign up.
  const unverified = await signIn(client(), "unverified")
  assert.equal(fragment(unverified.done).get("error"), "access_denied")
  assert.equal(fragment(unverified.done).get("error_code"), "provider_email_needs_verification")
})

test("the PKCE flow redirects with a code that only the client's verifier exchanges, with the provider's tokens", async () => {
  const storage = memory()
  const db = client("pkce", storage)
  const { atProvider, callback, done } = await signIn(db, "alice")
  assert.equal(atProvider.searchParams.get("code_challenge"), null, "the app's challenge stays with the server")
  assert.equal(done.hash, "")
  const code = done.searchParams.get("code")
  assert.match(code, /^[0-9a-f-]{36}$/)
  const replay = await fetch(callback, { redirect: "manual" })
  assert.equal((await replay.json()).error_code, "flow_state_already_used")

  const verifier = [...storage.items].find(([key]) => key.endsWith("-code-verifier"))[1]
  const { data, error } = await db.auth.exchangeCodeForSession(code)
  assert.equal(error, null)
  assert.equal(data.user.email, "alice@example.com")
  assert.match(data.session.provider_token, /^[0-9a-f-]{36}$/)
  // The code is spent with its first exchange.
  const again = await fetch(`${server.url}/auth/v1/token?grant_type=pkce`, {
    method: "POST",
    headers: { apikey: ANON_KEY, "content-type": "application/json" },
    body: JSON.stringify({ auth_code: code, code_verifier: JSON.parse(verifier).split("/")[0] }),
  })
  assert.deepEqual([again.status, (await again.json()).error_code], [404, "flow_state_not_found"])
})

test("refusals answer as GoTrue's: a declined sign-in, an unknown or disabled provider, a forged state", async () => {
  const declined = await signIn(client(), "nobody")
  assert.deepEqual([fragment(declined.done).get("error"), fragment(declined.done).get("error_description")], ["access_denied", "The user declined"])

  const authorize = (provider) => fetch(`${server.url}/auth/v1/authorize?provider=${provider}`, { redirect: "manual" }).then((response) => response.json())
  assert.equal((await authorize("github")).msg, "Unsupported provider: provider is not enabled")
  assert.equal((await authorize("nope")).msg, "Unsupported provider: Provider nope could not be found")

  const forged = await fetch(`${server.url}/auth/v1/callback?code=x&state=${crypto.randomUUID()}`, { redirect: "manual" })
  assert.deepEqual([forged.status, (await forged.json()).msg], [400, "OAuth state not found or expired"])
  const off = await hop(`${server.url}/auth/v1/authorize?provider=keycloak&redirect_to=${encodeURIComponent("https://evil.example.net/")}`)
  const back = await hop(await hop(off))
  assert.equal(back.origin, "http://127.0.0.1:3000", "a redirect_to outside the allow list falls back to the site URL")
})

const sessionOf = async (db, done) => {
  const session = fragment(done)
  const { data, error } = await db.auth.setSession({ access_token: session.get("access_token"), refresh_token: session.get("refresh_token") })
  assert.equal(error, null, `${done}`)
  return data.user
}

test("linkIdentity adds the provider's identity to the signed-in user; unlinkIdentity removes one, never the last", async () => {
  // An anonymous user keeps its id and rows, and takes the provider's verified address.
  const db = client()
  const { data: anonymous } = await db.auth.signInAnonymously()
  const linked = await sessionOf(db, (await signIn(db, "carol", undefined, "linkIdentity")).done)
  assert.equal(linked.id, anonymous.user.id)
  assert.equal(linked.email, "carol@example.com")
  assert.equal(linked.is_anonymous, false)
  assert.deepEqual(linked.identities.map((identity) => identity.provider), ["keycloak"])

  // Alice's identity cannot be taken by Carol.
  const taken = await signIn(db, "alice", undefined, "linkIdentity")
  assert.deepEqual([fragment(taken.done).get("error_code"), fragment(taken.done).get("error_description")], ["identity_already_exists", "Identity is already linked to another user"])

  // Bob has his password and the provider: he may drop the provider, then not his last identity.
  const bob = client()
  await bob.auth.signInWithPassword({ email: "bob@example.com", password: "bob's password 1" })
  const { data: before } = await bob.auth.getUserIdentities()
  const keycloak = before.identities.find((identity) => identity.provider === "keycloak")
  assert.equal((await bob.auth.unlinkIdentity(keycloak)).error, null)
  const { data: after } = await bob.auth.refreshSession()
  assert.deepEqual(after.user.app_metadata.providers, ["email"])
  assert.deepEqual(after.user.identities.map((identity) => identity.provider), ["email"])
  const last = await bob.auth.unlinkIdentity(after.user.identities[0])
  assert.equal(last.error.code, "single_identity_not_deletable")
})
