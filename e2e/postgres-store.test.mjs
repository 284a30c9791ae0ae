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
// Scores each user sees only their own of, and the functions RPC calls on them: as the caller
// (invoker) or as their owner (definer), overloads, a RAISE, a writer, a computed field.
const SCORES = `create table public.scores (id serial primary key, user_id uuid not null default auth.uid(), points int not null);
alter table public.scores enable row level security;
create policy "own scores" on public.scores for all to authenticated using (user_id = auth.uid()) with check (user_id = auth.uid());
insert into public.scores (user_id, points) values ('${ANA}', 10), ('${ANA}', 30), ('${BOB}', 5);
create function public.my_scores(min_points int default 0) returns setof public.scores
language sql stable as $$ select * from public.scores where points >= min_points $$;
create function public.my_total() returns bigint
language sql stable as $$ select coalesce(sum(points), 0) from public.scores $$;
create function public.total_points() returns bigint
language sql stable security definer as $$ select sum(points) from public.scores $$;
create function public.all_points() returns setof int
language sql stable security definer as $$ select points from public.scores order by id $$;
create function public.board() returns table (user_id uuid, points int)
language sql stable security definer as $$ select user_id, points from public.scores $$;
create function public.best() returns public.scores
language sql stable as $$ select * from public.scores order by points desc limit 1 $$;
create function public.label(points int) returns text
language sql immutable as $$ select points || ' points' $$;
create function public.label(name text, points int) returns text
language sql immutable as $$ select name || ': ' || points || ' points' $$;
create function public.pick(x int) returns text language sql immutable as $$ select 'int' $$;
create function public.pick(x text) returns text language sql immutable as $$ select 'text' $$;
create function public.add_score(points int) returns public.scores
language sql as $$ insert into public.scores (points) values (points) returning * $$;
create function public.nothing() returns void language sql as $$ select 1 $$;
create function public.joined(variadic parts text[]) returns text
language sql immutable as $$ select array_to_string(parts, '-') $$;
create function public.echo(json) returns json language sql immutable as $$ select $1 $$;
create function public.stats(out low int, out high int)
language sql stable as $$ select min(points) as low, max(points) as high from public.scores $$;
create function public.owned(p public.profiles) returns setof public.scores
language sql stable as $$ select * from public.scores where user_id = p.id $$;
create function public.doubled(s public.scores) returns int language sql stable as $$ select s.points * 2 $$;
create function public.checked(points int) returns int language plpgsql immutable as $$
begin
  if points < 0 then
    raise exception 'points must not be negative' using detail = format('got %s', points), hint = 'send 0 or more';
  end if;
  return points;
end $$;
`
let postgres, server, sqlite
before(async () => {
  postgres = await startPostgres({ bare: true })
  const withDiary = () => {
    const workdir = copyFixture("rest")
    fs.writeFileSync(path.join(workdir, "supabase", "migrations", "20240301000000_diary.sql"), DIARY)
    fs.writeFileSync(path.join(workdir, "supabase", "migrations", "20240302000000_scores.sql"), SCORES)
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
  assert.equal(one("select string_agg(version || ' ' || name, ',' order by version) from supabase_migrations.schema_migrations;"), "20240101000000 init,20240301000000 diary,20240302000000 scores")
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
  assert.equal(one("select count(*) from supabase_migrations.schema_migrations;"), "3")
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

onBothStores("an RPC answers a scalar, a set of scalars, rows and nothing as PostgREST does", async (store) => {
  const ana = as(store, ANA)
  const added = await ana.rpc("add", { a: 1, b: 2 })
  assert.deepEqual([added.status, added.data], [200, 3])
  const viaGet = await ana.rpc("add", { a: 4, b: 5 }, { get: true })
  assert.equal(viaGet.data, 9)
  assert.deepEqual((await ana.rpc("all_points")).data, [10, 30, 5])
  const mine = await ana.rpc("my_scores").select("points").order("points", { ascending: false })
  assert.deepEqual(mine.data, [{ points: 30 }, { points: 10 }])
  const counted = await ana.rpc("my_scores", {}, { count: "exact" }).select("points").order("id").range(1, 1)
  assert.equal(counted.status, 206)
  assert.equal(counted.count, 2)
  assert.deepEqual(counted.data, [{ points: 30 }])
  const filtered = await ana.rpc("my_scores", { min_points: 20 }, { get: true }).select("points, doubled")
  assert.deepEqual(filtered.data, [{ points: 30, doubled: 60 }])
  const single = await ana.rpc("my_scores").select("points").gt("points", 20).single()
  assert.deepEqual(single.data, { points: 30 })
  const none = await ana.rpc("my_scores").select("points").gt("points", 100).single()
  assert.equal(none.status, 406)
  assert.equal(none.error.code, "PGRST116")
  const best = await ana.rpc("best")
  assert.deepEqual([best.data.points, best.data.user_id], [30, ANA])
  const board = await ana.rpc("board").select("points").lt("points", 20).order("points")
  assert.deepEqual(board.data, [{ points: 5 }, { points: 10 }])
  const nothing = await ana.rpc("nothing")
  assert.deepEqual([nothing.status, nothing.data, nothing.error], [204, null, null])
  assert.deepEqual((await ana.rpc("echo", { a: [1, { b: null }] })).data, { a: [1, { b: null }] })
  assert.deepEqual((await ana.rpc("stats")).data, { low: 10, high: 30 })
  const computed = await ana.from("scores").select("points, doubled").order("doubled", { ascending: false })
  assert.deepEqual(computed.data, [{ points: 30, doubled: 60 }, { points: 10, doubled: 20 }])
  const related = await ana.from("profiles").select("name, owned(points)").order("name").order("points", { referencedTable: "owned" })
  assert.deepEqual(related.data, [{ name: "Bob", owned: [] }, { name: "ana", owned: [{ points: 10 }, { points: 30 }] }])
})

onBothStores("an RPC picks its overload by the argument names, and refuses unknown or ambiguous calls", async (store) => {
  const client = store.client(ANON_KEY)
  assert.equal((await client.rpc("label", { points: 3 })).data, "3 points")
  assert.equal((await client.rpc("label", { name: "ana", points: 3 })).data, "ana: 3 points")
  assert.equal((await client.rpc("label", { name: "ana", points: 3 }, { get: true })).data, "ana: 3 points")
  const unknown = await client.rpc("label", { nope: 1 })
  assert.equal(unknown.status, 404)
  assert.equal(unknown.error.code, "PGRST202")
  assert.equal(unknown.error.message, "Could not find the function public.label(nope) in the schema cache")
  const ambiguous = await client.rpc("pick", { x: 1 })
  assert.equal(ambiguous.status, 300)
  assert.equal(ambiguous.error.code, "PGRST203")
  assert.equal(ambiguous.error.message, "Could not choose the best candidate function between: public.pick(x => integer), public.pick(x => text)")
  const bad = await client.rpc("add", { a: "one", b: 2 })
  assert.equal(bad.status, 400)
  assert.equal(bad.error.code, "22P02")
  assert.equal(bad.error.message, 'invalid input syntax for type integer: "one"')
})

onBothStores("a RAISE in an RPC answers its SQLSTATE, message, detail and hint", async (store) => {
  assert.equal((await store.client(ANON_KEY).rpc("checked", { points: 2 })).data, 2)
  const raised = await store.client(ANON_KEY).rpc("checked", { points: -1 })
  assert.equal(raised.status, 400)
  assert.deepEqual(raised.error, { code: "P0001", message: "points must not be negative", details: "got -1", hint: "send 0 or more" })
})

onBothStores("an invoker function reads under the caller's policies; a definer one as its owner", async (store) => {
  assert.equal((await as(store, ANA).rpc("my_total")).data, 40)
  assert.equal((await as(store, BOB).rpc("my_total")).data, 5)
  assert.deepEqual((await as(store, BOB).rpc("my_scores").select("points")).data, [{ points: 5 }])
  assert.equal((await as(store, BOB).rpc("total_points")).data, 45)
  assert.deepEqual((await store.client(ANON_KEY).rpc("board").select("points").order("points")).data, [{ points: 5 }, { points: 10 }, { points: 30 }])
  const anon = await store.client(ANON_KEY).rpc("my_scores")
  assert.deepEqual(anon.data, [])
})

test("a variadic argument takes an array, or its repeated query parameter on GET (PostgreSQL)", async () => {
  const client = server.client(ANON_KEY)
  assert.equal((await client.rpc("joined", { parts: ["a", "b", "c"] })).data, "a-b-c")
  const viaGet = await fetch(`${server.url}/rest/v1/rpc/joined?parts=x&parts=y`, { headers: { apikey: ANON_KEY } })
  assert.equal(viaGet.status, 200)
  assert.equal(await viaGet.json(), "x-y")
})

// SQLite refuses an invoker body's `insert … returning` on a table with row-level security.
test("a volatile RPC writes on POST under the caller's policies and is refused on GET (PostgreSQL)", async () => {
  const store = server
  const bob = as(store, BOB)
  const added = await bob.rpc("add_score", { points: 7 })
  assert.equal(added.status, 200)
  assert.deepEqual([added.data.points, added.data.user_id], [7, BOB])
  assert.deepEqual((await bob.rpc("my_scores").select("points").order("id")).data, [{ points: 5 }, { points: 7 }])
  const viaGet = await bob.rpc("add_score", { points: 8 }, { get: true })
  assert.equal(viaGet.status, 405)
  assert.equal(viaGet.error.code, "25006")
  assert.equal(viaGet.error.message, "cannot execute INSERT in a read-only transaction")
  const anon = await store.client(ANON_KEY).rpc("add_score", { points: 9 })
  assert.equal(anon.error.code, "42501")
})
