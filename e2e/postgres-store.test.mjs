// The PostgreSQL store: `solobase start --db-url` on an empty PostgreSQL 15 cluster bootstraps
// what Supabase's Postgres has, applies the project's migrations natively (each file in one
// transaction, recorded in the Supabase CLI's `supabase_migrations` tables) and the seed once.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import { ANON_KEY, copyFixture, runToExit, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const ANA = "11111111-1111-1111-1111-111111111111"
let postgres, server
before(async () => {
  postgres = await startPostgres({ bare: true })
  server = await startServer("rest", undefined, 0, ["--db-url", postgres.url])
})
after(async () => {
  assert.equal(await server?.stop(), 0)
  await postgres?.stop()
})

const one = (sql, options) => {
  const { code, output } = postgres.sql(sql, options)
  assert.equal(code, null, `${sql}: ${code}`)
  return output
}

test("the migrations and the seed run natively and are recorded as the Supabase CLI records them", () => {
  assert.match(server.output(), /Applied migration supabase\/migrations\/20240101000000_init\.sql/)
  assert.match(server.output(), /Seeded data from supabase\/seed\.sql/)
  assert.equal(one("select version || ' ' || name from supabase_migrations.schema_migrations;"), "20240101000000 init")
  const statements = Number(one("select array_length(statements, 1) from supabase_migrations.schema_migrations;"))
  assert.ok(statements > 10, `${statements} statements recorded`)
  assert.match(one("select path || ' ' || length(hash) from supabase_migrations.seed_files;"), /^supabase\/seed\.sql 64$/)
  assert.equal(one("select string_agg(title, ',' order by id) from public.todos;"), "one,two")
  // Supabase's roles and grants: the API roles read public tables; auth's tables grant them nothing.
  assert.equal(one("select string_agg(rolname, ',' order by rolname) from pg_roles where rolname in ('anon', 'authenticated', 'service_role', 'authenticator');"), "anon,authenticated,authenticator,service_role")
  assert.equal(one("select count(*) from public.todos;", { role: "anon" }), "2")
  assert.equal(postgres.sql("select count(*) from auth.users;", { role: "authenticated" }).code, "42501")
})

test("policies are Postgres's own: auth.uid() reads the request's claims", () => {
  assert.equal(one("select count(*) from public.secrets;", { role: "authenticated", sub: ANA }), "1")
  assert.equal(one("select count(*) from public.secrets;", { role: "authenticated", sub: "22222222-2222-2222-2222-222222222222" }), "0")
  const claims = `select set_config('request.jwt.claims', '{"sub": "${ANA}", "role": "authenticated", "email": "ana@example.com"}', false);`
  assert.equal(one(`${claims} select auth.uid() || ' ' || auth.role() || ' ' || auth.email() || ' ' || (auth.jwt() ->> 'sub');`).split("\n")[1], `${ANA} authenticated ana@example.com ${ANA}`)
})

test("a second instance on the same database applies and seeds nothing again", async () => {
  const second = await startServer("rest", undefined, 0, ["--db-url", postgres.url])
  try {
    assert.doesNotMatch(second.output(), /Applied migration|Seeded/)
    assert.equal(one("select count(*) from public.todos;"), "2")
    assert.equal((await fetch(`${second.url}/auth/v1/health`)).status, 200)
  } finally {
    assert.equal(await second.stop(), 0)
  }
})

test("what the PostgreSQL store does not serve yet is refused in each API's error shape", async () => {
  const response = await server.client(ANON_KEY).from("todos").select("*")
  assert.equal(response.status, 501)
  assert.equal(response.error.code, "0A000")
  assert.match(response.error.message, /not served on the PostgreSQL store yet/)
  const auth = await server.client(ANON_KEY).auth.signUp({ email: "new@example.com", password: "secret-password" })
  assert.equal(auth.error.status, 501)
  const storage = await server.client(ANON_KEY).storage.listBuckets()
  assert.equal(storage.error.statusCode ?? storage.error.status, "501")
})

test("a failing migration stops the start, names its file, line and SQLSTATE, and leaves nothing of the file applied", async () => {
  const workdir = copyFixture("rest")
  fs.writeFileSync(
    path.join(workdir, "supabase", "migrations", "20240202000000_broken.sql"),
    "create table public.half (id int);\n\ninsert into public.nowhere values (1);\n",
  )
  const { code, output } = await runToExit(workdir, ["--db-url", postgres.url])
  assert.notEqual(code, 0)
  assert.match(output, /supabase\/migrations\/20240202000000_broken\.sql:3: ERROR: relation "public\.nowhere" does not exist \(SQLSTATE 42P01\)/)
  assert.equal(one("select to_regclass('public.half') is null;"), "t")
  assert.equal(one("select count(*) from supabase_migrations.schema_migrations;"), "1")
})

test("a database URL that cannot be reached stops the start with the reason", async () => {
  const { code, output } = await runToExit(copyFixture("rest"), ["--db-url", "postgres://postgres@127.0.0.1:1/postgres"])
  assert.notEqual(code, 0)
  assert.match(output, /cannot connect to the database/)
})
