// The PostgreSQL store: `solobase start --db-url` on an empty PostgreSQL 15 cluster bootstraps
// what Supabase's Postgres has, applies the project's migrations natively (each file in one
// transaction, recorded in the Supabase CLI's `supabase_migrations` tables) and the seed once.
// REST reads and writes run there as PostgREST runs them, under the database's own grants and
// policies; each is checked against the same project on the SQLite store too.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import { ANON_KEY, SERVICE_KEY, copyFixture, runToExit, startServer, userToken } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const ANA = "11111111-1111-1111-1111-111111111111"
const BOB = "22222222-2222-2222-2222-222222222222"
// A diary only its writer reads, which anon may not read at all.
const DIARY = `create table public.diary (id serial primary key, user_id uuid not null default auth.uid(), body text not null);
alter table public.diary enable row level security;
create policy "owner" on public.diary for all to authenticated using (user_id = auth.uid()) with check (user_id = auth.uid());
revoke all on public.diary from anon;
insert into public.diary (user_id, body) values ('${ANA}', 'ana 1'), ('${ANA}', 'ana 2'), ('${BOB}', 'bob 1');
`
let postgres, server, sqlite
before(async () => {
  postgres = await startPostgres({ bare: true })
  const withDiary = () => {
    const workdir = copyFixture("rest")
    fs.writeFileSync(path.join(workdir, "supabase", "migrations", "20240301000000_diary.sql"), DIARY)
    return workdir
  }
  server = await startServer("rest", withDiary(), 0, ["--db-url", postgres.url])
  sqlite = await startServer("rest", withDiary(), 0)
})
after(async () => {
  assert.equal(await server?.stop(), 0)
  assert.equal(await sqlite?.stop(), 0)
  await postgres?.stop()
})

/** `test` once per store: `run(server)` against PostgreSQL, then against SQLite. */
const onBothStores = (name, run) => {
  test(`${name} (PostgreSQL)`, () => run(server))
  test(`${name} (SQLite)`, () => run(sqlite))
}
const as = (store, sub) => store.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${userToken(sub)}` } } })

const one = (sql, options) => {
  const { code, output } = postgres.sql(sql, options)
  assert.equal(code, null, `${sql}: ${code}`)
  return output
}

test("the migrations and the seed run natively and are recorded as the Supabase CLI records them", () => {
  assert.match(server.output(), /Applied migration supabase\/migrations\/20240101000000_init\.sql/)
  assert.match(server.output(), /Seeded data from supabase\/seed\.sql/)
  assert.equal(one("select string_agg(version || ' ' || name, ',' order by version) from supabase_migrations.schema_migrations;"), "20240101000000 init,20240301000000 diary")
  const statements = Number(one("select array_length(statements, 1) from supabase_migrations.schema_migrations where name = 'init';"))
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
  const second = await startServer("rest", server.workdir, 0, ["--db-url", postgres.url])
  try {
    assert.doesNotMatch(second.output(), /Applied migration|Seeded/)
    assert.equal(one("select count(*) from public.todos;"), "2")
    assert.equal((await fetch(`${second.url}/auth/v1/health`)).status, 200)
  } finally {
    assert.equal(await second.stop(), 0)
  }
})

test("what the PostgreSQL store does not serve yet is refused in each API's error shape", async () => {
  const response = await server.client(ANON_KEY).rpc("add", { a: 1, b: 2 })
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
  assert.equal(one("select count(*) from supabase_migrations.schema_migrations;"), "2")
})

test("a database URL that cannot be reached stops the start with the reason", async () => {
  const { code, output } = await runToExit(copyFixture("rest"), ["--db-url", "postgres://postgres@127.0.0.1:1/postgres"])
  assert.notEqual(code, 0)
  assert.match(output, /cannot connect to the database/)
})

onBothStores("a read filters, orders, limits and counts as PostgREST does", async (store) => {
  const client = store.client(ANON_KEY)
  const page = await client.from("todos").select("id, title, done, tags, meta", { count: "exact" }).order("id", { ascending: false }).range(1, 1)
  assert.equal(page.error, null)
  assert.deepEqual(page.data, [{ id: 1, title: "one", done: true, tags: ["a", "b"], meta: {} }])
  assert.equal(page.count, 2)
  assert.equal(page.status, 206)
  const done = await client.from("todos").select("title").eq("done", false).ilike("title", "T%")
  assert.deepEqual(done.data, [{ title: "two" }])
  const tagged = await client.from("todos").select("title").contains("tags", ["b"]).in("id", [1, 2])
  assert.deepEqual(tagged.data, [{ title: "one" }])
  const head = await client.from("todos").select("*", { count: "exact", head: true }).is("owner_id", null)
  assert.equal(head.count, 1)
  const message = await client.from("messages").select("body, score, sent_at").order("id").limit(1).single()
  assert.deepEqual(message.data, { body: "Hello Bob", score: 1.5, sent_at: "2024-01-01T08:00:00+00:00" })
})

onBothStores("an embed follows the foreign keys both ways", async (store) => {
  const client = store.client(SERVICE_KEY)
  const todo = await client.from("todos").select("title, owner:profiles(name)").eq("id", 1).single()
  assert.deepEqual(todo.data, { title: "one", owner: { name: "ana" } })
  const profiles = await client.from("profiles").select("name, todos(title)").order("id")
  assert.deepEqual(profiles.data, [{ name: "ana", todos: [{ title: "one" }] }, { name: "Bob", todos: [] }])
  const inner = await client.from("profiles").select("name, todos!inner(title)")
  assert.deepEqual(inner.data, [{ name: "ana", todos: [{ title: "one" }] }])
})

onBothStores("each user reads only the rows the policies give them; anon is refused", async (store) => {
  const ana = await as(store, ANA).from("diary").select("body", { count: "exact" }).order("id")
  assert.deepEqual(ana.data, [{ body: "ana 1" }, { body: "ana 2" }])
  assert.equal(ana.count, 2)
  const bob = await as(store, BOB).from("diary").select("body")
  assert.deepEqual(bob.data, [{ body: "bob 1" }])
  const all = await store.client(SERVICE_KEY).from("diary").select("body", { count: "exact", head: true })
  assert.equal(all.count, 3)
  const anon = await store.client(ANON_KEY).from("diary").select("body")
  assert.equal(anon.status, 401)
  assert.equal(anon.error.code, "42501")
  assert.equal(anon.error.message, "permission denied for table diary")
  // A policy that reads another RLS table, and a restrictive one, as Postgres combines them.
  const notes = await as(store, ANA).from("notes").select("body")
  assert.deepEqual(notes.data, [{ body: "plan" }])
})

onBothStores("a bad filter value fails with Postgres's SQLSTATE and message", async (store) => {
  const response = await store.client(ANON_KEY).from("todos").select("id").eq("id", "abc")
  assert.equal(response.status, 400)
  assert.equal(response.error.code, "22P02")
  assert.equal(response.error.message, 'invalid input syntax for type bigint: "abc"')
})

onBothStores("a user inserts, updates, upserts and deletes only their own rows", async (store) => {
  const ana = as(store, ANA)
  const bob = as(store, BOB)
  const inserted = await ana.from("diary").insert({ body: "ana 3" }).select("body, user_id")
  assert.equal(inserted.status, 201)
  assert.deepEqual(inserted.data, [{ body: "ana 3", user_id: ANA }])
  const minimal = await ana.from("diary").insert([{ body: "ana 4" }, { body: "ana 5" }])
  assert.equal(minimal.status, 201)
  assert.equal(minimal.data, null)
  const forged = await ana.from("diary").insert({ body: "as bob", user_id: BOB })
  assert.equal(forged.status, 403)
  assert.equal(forged.error.code, "42501")
  assert.equal(forged.error.message, 'new row violates row-level security policy for table "diary"')
  const untouched = await bob.from("diary").update({ body: "bob was here" }).eq("body", "ana 3").select()
  assert.deepEqual(untouched.data, [])
  const updated = await ana.from("diary").update({ body: "ana three" }).eq("body", "ana 3").select("body")
  assert.deepEqual(updated.data, [{ body: "ana three" }])
  const upserted = await ana.from("diary").upsert({ id: 1, user_id: ANA, body: "ana one" }, { onConflict: "id" }).select("id, body")
  assert.deepEqual(upserted.data, [{ id: 1, body: "ana one" }])
  const removed = await bob.from("diary").delete().like("body", "ana%").select("body")
  assert.deepEqual(removed.data, [])
  const deleted = await ana.from("diary").delete({ count: "exact" }).in("body", ["ana 4", "ana 5"])
  assert.equal(deleted.status, 204)
  assert.equal(deleted.count, 2)
  const mine = await ana.from("diary").select("body").order("id")
  assert.deepEqual(mine.data, [{ body: "ana one" }, { body: "ana 2" }, { body: "ana three" }])
  const service = store.client(SERVICE_KEY)
  const embedded = await service.from("todos").insert({ title: "three", owner_id: ANA, tags: ["x", 'say "hi"', null] }).select("title, tags, owner:profiles(name)").single()
  assert.deepEqual(embedded.data, { title: "three", tags: ["x", 'say "hi"', null], owner: { name: "ana" } })
  const tagged = await service.from("todos").update({ tags: ["y"] }).contains("tags", ["x"]).select("title, tags")
  assert.deepEqual(tagged.data, [{ title: "three", tags: ["y"] }])
  const anon = await store.client(ANON_KEY).from("diary").insert({ body: "anonymous" })
  assert.equal(anon.status, 401)
  assert.equal(anon.error.code, "42501")
})
