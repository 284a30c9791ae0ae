// The modules `solobase gen hooks` writes for a second schema (e2e/fixtures/hooks): they
// type-check with `tsc --strict`, and, compiled, run against the real binary — validation before
// any request, the service by primary key, and the store behind the React hooks (optimistic
// change, pending state, rollback with the error, realtime across clients without applying a
// change twice, per-user rows, reload after a reconnect).
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { execFileSync, spawnSync } from "node:child_process"
import fs from "node:fs"
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { createClient } from "@supabase/supabase-js"
import ws from "ws"
import { startServer, copyFixture, SERVICE_KEY, ANON_KEY } from "./harness.mjs"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const harness = path.join(here, "hooks")
const binary = process.env.SOLOBASE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "debug", "solobase")

if (!fs.existsSync(path.join(harness, "node_modules", "typescript"))) {
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: harness, stdio: "inherit" })
}

// Inside the harness, so the compiled modules find its @supabase/supabase-js and react.
const build = fs.mkdtempSync(path.join(harness, ".build-"))
let generated
let server
let workdir

/** Waits until `condition()` holds, polling the store's published state. */
async function until(condition, what, ms = 5000) {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

let users = 0
/** A signed-in client of a new user (or of `email` again, as a second device). */
async function signedIn(email = `user${++users}-${Date.now()}@example.com`, create = true) {
  const client = createClient(server.url, ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws },
  })
  const { data, error } = create
    ? await client.auth.signUp({ email, password: "password-123" })
    : await client.auth.signInWithPassword({ email, password: "password-123" })
  assert.equal(error, null)
  return { client, email, uid: data.user.id }
}

/** The store of `notes` for `client`, subscribed, once its first load is in. */
async function readyStore(client) {
  const store = generated.notes.notesStore(client)
  const unsubscribe = store.subscribe(() => {})
  await until(() => store.getSnapshot().status === "ready", "the first load")
  return { store, unsubscribe, rows: () => store.getSnapshot().rows }
}

before(async () => {
  const out = path.join(build, "src")
  execFileSync(binary, ["gen", "hooks", "--workdir", path.join(here, "fixtures", "hooks"), "--out", out])
  const tsc = spawnSync(
    process.execPath,
    [
      path.join(harness, "node_modules", "typescript", "bin", "tsc"),
      "--strict", "--noUnusedLocals", "--skipLibCheck",
      "--target", "ES2022", "--module", "commonjs", "--moduleResolution", "node10",
      "--outDir", path.join(build, "out"),
      ...fs.readdirSync(out).map((name) => path.join(out, name)),
    ],
    { cwd: harness, encoding: "utf8" },
  )
  assert.equal(tsc.status, 0, `the generated modules must type-check:\n${tsc.stdout}${tsc.stderr}`)
  const require = createRequire(path.join(build, "out", "index.js"))
  generated = {
    runtime: require("./runtime.js"),
    notes: require("./notes.js"),
    labels: require("./labels.js"),
  }
  workdir = copyFixture("hooks")
  server = await startServer("hooks", workdir)
})

after(async () => {
  await server?.stop()
  fs.rmSync(build, { recursive: true, force: true })
})

test("invalid input is refused with each column's issue before any request", async () => {
  const { client } = await signedIn()
  const notes = generated.notes.notesService(client)
  const cases = [
    [{}, "title", "is required"],
    [{ title: "" }, "title", "must be at least 1 characters"],
    [{ title: "x".repeat(41) }, "title", "must be at most 40 characters"],
    [{ title: "ok", priority: 6 }, "priority", "must be at most 5"],
    [{ title: "ok", priority: 2.5 }, "priority", "must be a whole number"],
    [{ title: "ok", status: "later" }, "status", "must be one of open, done"],
    [{ title: "ok", body: 7 }, "body", "must be a string (text)"],
    [{ title: null }, "title", "must not be null"],
    [{ title: "ok", colour: "red" }, "colour", "is not a column"],
  ]
  for (const [values, column, message] of cases) {
    const { data, error } = await notes.insert(values)
    assert.equal(data, null)
    assert.ok(error instanceof generated.runtime.ValidationError, JSON.stringify(values))
    assert.deepEqual(error.issues, [{ column, message }], JSON.stringify(values))
  }
  const admin = server.client(SERVICE_KEY)
  const { count } = await admin.from("notes").select("*", { count: "exact", head: true })
  assert.equal(count, 0, "no invalid note reached the server")
  const labels = generated.labels.labelsService(client)
  const empty = await labels.insert({ name: "" })
  assert.deepEqual(empty.error.issues, [{ column: "name", message: "must be at least 1 characters" }])
})

test("the service lists, gets, inserts, updates, upserts and removes by primary key as the owner", async () => {
  const { client, uid } = await signedIn()
  const notes = generated.notes.notesService(client)
  const inserted = await notes.insert({ title: "first", priority: 2 })
  assert.equal(inserted.error, null)
  assert.equal(inserted.data.owner_id, uid, "the owner column is the signed-in user's")
  assert.equal(inserted.data.status, "open")
  const id = inserted.data.id
  assert.deepEqual((await notes.get({ id })).data, inserted.data)
  const updated = await notes.update({ id }, { status: "done" })
  assert.equal(updated.data.status, "done")
  const upserted = await notes.upsert({ id, title: "first, renamed", priority: 1, status: "done" })
  assert.equal(upserted.data.title, "first, renamed")
  await notes.insert({ title: "second" })
  const listed = await notes.list({ order: "title" })
  assert.deepEqual(listed.data.map((note) => note.title), ["first, renamed", "second"])
  assert.deepEqual((await notes.list({ eq: { status: "done" } })).data.map((note) => note.id), [id])
  assert.equal((await notes.remove({ id })).error, null)
  assert.equal((await notes.get({ id })).data, null)
  const missingKey = await notes.update({}, { title: "x" })
  assert.deepEqual(missingKey.error.issues, [{ column: "id", message: "is required" }])
})

test("a change shows at once and pending, then the saved row; a refused one rolls back with the server's error", async () => {
  const { client } = await signedIn()
  const { store, unsubscribe, rows } = await readyStore(client)
  try {
    const saving = store.insert({ title: "draft", priority: 4 })
    assert.deepEqual(rows().map((note) => note.title), ["draft"], "shown before the server answers")
    assert.equal(store.isPending({ title: "draft" }), true)
    const saved = await saving
    assert.equal(saved.error, null)
    assert.equal(store.isPending({ title: "draft" }), false)
    assert.equal(rows().length, 1)
    assert.equal(rows()[0].id, saved.data.id, "the optimistic row became the saved one")

    // Allowed by every column's own rule, refused by the check over two columns.
    const refusing = store.update({ id: saved.data.id }, { priority: 5, status: "done" })
    assert.equal(rows()[0].priority, 5, "shown at once")
    assert.equal(store.isPending({ id: saved.data.id }), true)
    const refused = await refusing
    assert.ok(refused.error instanceof generated.runtime.RequestError)
    assert.equal(refused.error.code, "23514")
    assert.match(refused.error.message, /done_notes_are_not_urgent/)
    assert.equal(rows()[0].priority, 4, "rolled back")
    assert.equal(rows()[0].status, "open")
    assert.equal(store.isPending({ id: saved.data.id }), false)

    const invalid = await store.update({ id: saved.data.id }, { priority: 0 })
    assert.ok(invalid.error instanceof generated.runtime.ValidationError)
    assert.equal(rows()[0].priority, 4, "an invalid change is never shown")

    const removing = store.remove({ id: saved.data.id })
    assert.equal(rows().length, 0, "removed at once")
    assert.equal((await removing).error, null)
    assert.equal(rows().length, 0)
  } finally {
    unsubscribe()
  }
})

test("a second device of the same user follows live; the writer's own echo is not applied twice; another user sees nothing", async () => {
  const first = await signedIn()
  const second = await signedIn(first.email, false)
  const stranger = await signedIn()
  const a = await readyStore(first.client)
  const b = await readyStore(second.client)
  const c = await readyStore(stranger.client)
  try {
    // Let both channels join before writing.
    await until(() => first.client.getChannels().every((channel) => channel.state === "joined"), "a's channel")
    await until(() => second.client.getChannels().every((channel) => channel.state === "joined"), "b's channel")
    const saved = await a.store.insert({ title: "shared" })
    assert.equal(saved.error, null)
    await until(() => b.rows().some((note) => note.id === saved.data.id), "the second device to see the insert")
    await a.store.update({ id: saved.data.id }, { title: "shared, edited" })
    await until(() => b.rows()[0]?.title === "shared, edited", "the second device to see the update")
    // The echoes of a's own writes have arrived (b got them): a still holds the one row.
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.deepEqual(a.rows().map((note) => note.title), ["shared, edited"])
    await b.store.remove({ id: saved.data.id })
    await until(() => a.rows().length === 0, "the first device to see the removal")
    assert.deepEqual(c.rows(), [], "another user's store saw none of it")
    const peek = await generated.notes.notesService(stranger.client).get({ id: saved.data.id })
    assert.equal(peek.data, null)
  } finally {
    a.unsubscribe()
    b.unsubscribe()
    c.unsubscribe()
  }
})

test("after the server comes back the store reloads what changed while it was away", async () => {
  const { client, uid } = await signedIn()
  const a = await readyStore(client)
  try {
    await until(() => client.getChannels().every((channel) => channel.state === "joined"), "the channel")
    const port = new URL(server.url).port
    await server.stop()
    server = await startServer("hooks", workdir, Number(port))
    const admin = server.client(SERVICE_KEY)
    const { error } = await admin.from("notes").insert({ title: "made while away", owner_id: uid })
    assert.equal(error, null)
    await until(() => a.rows().some((note) => note.title === "made while away"), "the reload after rejoining", 20_000)
  } finally {
    a.unsubscribe()
  }
})
