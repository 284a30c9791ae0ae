// `solobase start` on a project folder: migrations, seed, persistence, failures, shutdown.
import { test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import { SERVICE_KEY, copyFixture, runToExit, startServer } from "./harness.mjs"

test("data persists across restarts and the seed runs only on a fresh database", async () => {
  const workdir = copyFixture("rest")
  let server = await startServer("rest", workdir)
  await server.client(SERVICE_KEY).from("todos").insert({ title: "kept" })
  const started = Date.now()
  assert.equal(await server.stop(), 0)
  assert.ok(Date.now() - started < 5000, "SIGTERM stops the server promptly")
  server = await startServer("rest", workdir)
  const { data } = await server.client(SERVICE_KEY).from("todos").select("title").order("id")
  assert.deepEqual(data.map((row) => row.title), ["one", "two", "kept"])
  assert.equal(await server.stop(), 0)
})

test("a failing migration stops the start with its location and applies nothing of it", async () => {
  const workdir = copyFixture("rest")
  const migrations = path.join(workdir, "supabase", "migrations")
  const broken = path.join(migrations, "20250101000000_broken.sql")
  fs.writeFileSync(broken, "create table public.extra (id int primary key);\n\ndo $$ begin execute 'drop table public.extra'; end $$;\n")
  const { code, output } = await runToExit(workdir)
  assert.notEqual(code, 0)
  assert.match(output, /20250101000000_broken\.sql:3: DO block: EXECUTE of dynamic SQL cannot be translated/)
  assert.match(output, /statement: do \$\$ begin execute 'drop table public.extra'; end \$\$/)
  assert.match(output, /hint: /)

  // Fixed, the migration applies on the next start; its first statement was not left behind.
  fs.writeFileSync(broken, "create table public.extra (id int primary key);\n")
  const server = await startServer("rest", workdir)
  const { data, error } = await server.client(SERVICE_KEY).from("extra").select()
  assert.equal(error, null)
  assert.deepEqual(data, [])
  assert.equal(await server.stop(), 0)
})

test("hash partitioning is refused at its line with a hint, not run as something else", async () => {
  const workdir = copyFixture("rest")
  fs.writeFileSync(
    path.join(workdir, "supabase", "migrations", "20250101000000_events.sql"),
    "create table public.logs (id bigint primary key);\n" +
      "create table public.events (id bigint, at timestamptz, primary key (id, at))\n  partition by hash (id);\n",
  )
  const { code, output } = await runToExit(workdir)
  assert.notEqual(code, 0)
  assert.match(output, /20250101000000_events\.sql:2: partition by hash is not supported/)
  assert.match(output, /hint: partition by range or list/)
})

test("a malformed config.toml is a clear error", async () => {
  const workdir = copyFixture("rest")
  fs.writeFileSync(path.join(workdir, "supabase", "config.toml"), "[api\nport = 1\n")
  const { code, output } = await runToExit(workdir)
  assert.notEqual(code, 0)
  assert.match(output, /config\.toml is not valid/)
})
