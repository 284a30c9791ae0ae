// Functions and triggers that are not `security definer` run as the caller, as in Postgres:
// each statement of their bodies reads and writes under the caller's policies and needs the
// caller's privileges, whether the function is called over RPC or fired as a trigger by the
// caller's own write. The fixture's migration runs unchanged on a throwaway PostgreSQL 15
// cluster; each request must answer what the same SQL answers there, as the same role, and
// leave the same rows.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, signJwt, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
const B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("invoker"), startPostgres()])
  postgres.applyFixture("invoker")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

const as = (who) => {
  if (who === "anon") return server.client(ANON_KEY)
  if (who === "service_role") return server.client(SERVICE_KEY)
  const token = signJwt({ sub: who, role: "authenticated", exp: 4e9 })
  return server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${token}` } } })
}
const pgRole = (who) => (who === "anon" || who === "service_role" ? { role: who } : { role: "authenticated", sub: who })

/** Runs `rest` on Solobase as `who` and `sql` on Postgres as the same caller; both fail with
 * the same SQLSTATE or both succeed, Solobase answering `expected.data` (and `message`). */
async function same(who, rest, sql, expected = {}) {
  const { data, error } = await rest(as(who))
  const answer = postgres.sql(sql, pgRole(who))
  assert.equal(error?.code ?? null, answer.code, `${sql}: ${JSON.stringify(error)}`)
  if ("message" in expected) assert.equal(error.message, expected.message, sql)
  if ("data" in expected) assert.deepEqual(data, expected.data, sql)
}

/** The table's rows on Solobase (read as service_role) equal Postgres's. */
async function sameRows(table, order = "id") {
  const { data, error } = await as("service_role").from(table).select("*").order(order)
  assert.equal(error, null)
  assert.deepEqual(data, postgres.rows(`public.${table}`, order), table)
}

test("an invoker trigger writes under the policies of whoever fired it; a definer trigger as its owner", async () => {
  // B likes A's post: the trigger's UPDATE of A's post reaches no row, as B may not update it.
  await same(B, (db) => db.from("likes").insert({ post_id: 1 }), "insert into likes (post_id) values (1);")
  await same(B, (db) => db.from("likes").insert({ post_id: 2 }), "insert into likes (post_id) values (2);")
  await same(A, (db) => db.from("likes").insert({ post_id: 1 }), "insert into likes (post_id) values (1);")
  // The definer trigger counts B's save of A's post.
  await same(B, (db) => db.from("saves").insert({ post_id: 1 }), "insert into saves (post_id) values (1);")
  await sameRows("posts")
  const { data } = await as("service_role").from("posts").select("id,likes,saves").order("id")
  assert.deepEqual(data, [
    { id: 1, likes: 1, saves: 1 },
    { id: 2, likes: 1, saves: 0 },
  ])
})

test("an invoker plpgsql RPC updates only rows the caller's policies let it", async () => {
  await same(B, (db) => db.rpc("rename_post", { post: 1, name: "taken over" }).select("id,title"), "select id, title from rename_post(1, 'taken over');", {
    data: [{ id: 1, title: "post of a" }],
  })
  await same(A, (db) => db.rpc("rename_post", { post: 1, name: "renamed by a" }).select("id,title"), "select id, title from rename_post(1, 'renamed by a');", {
    data: [{ id: 1, title: "renamed by a" }],
  })
  await sameRows("posts")
})

test("an invoker plpgsql RPC reads, inserts and deletes under the caller's policies", async () => {
  await same(B, (db) => db.rpc("count_drafts"), "select count_drafts();", { data: 2 })
  await same(A, (db) => db.rpc("count_drafts"), "select count_drafts();", { data: 1 })
  await same("anon", (db) => db.rpc("count_drafts"), "select count_drafts();", { data: 0 })
  await same(B, (db) => db.rpc("add_draft", { owner_id: B, text_body: "b3" }), `select add_draft('${B}', 'b3');`, { data: 4 })
  await same(B, (db) => db.rpc("add_draft", { owner_id: A, text_body: "planted" }), `select add_draft('${A}', 'planted');`, {
    message: 'new row violates row-level security policy for table "drafts"',
  })
  await same(B, (db) => db.rpc("purge_drafts"), "select purge_drafts();", { data: 3 })
  await sameRows("drafts")
  await same(A, (db) => db.rpc("count_drafts"), "select count_drafts();", { data: 1 })
})

test("service_role skips policies, not privileges: an invoker body reading auth.users is refused", async () => {
  const denied = { message: "permission denied for table users" }
  await same("service_role", (db) => db.rpc("first_email"), "select first_email();", denied)
  await same("service_role", (db) => db.rpc("user_count"), "select user_count();", denied)
  // Only A's first draft is left; service_role counts it although no policy names it.
  await same("service_role", (db) => db.rpc("count_drafts"), "select count_drafts();", { data: 1 })
})

test("a refused invoker body answers as PostgREST does: 401 to anon, 403 to a signed-in user", async () => {
  for (const fn of ["first_email", "user_count", "members_only"]) {
    for (const [who, status] of [["anon", 401], [A, 403]]) {
      await same(who, (db) => db.rpc(fn), `select ${fn}();`)
      const { status: got, error } = await as(who).rpc(fn)
      assert.deepEqual([got, error.code], [status, "42501"], `${fn} as ${who}`)
    }
  }
  // Raised while the body runs: anon's insert meets no policy of drafts.
  const draft = { owner_id: A, text_body: "anon's" }
  await same("anon", (db) => db.rpc("add_draft", draft), `select add_draft('${A}', 'anon''s');`)
  const { status, error } = await as("anon").rpc("add_draft", draft)
  assert.deepEqual([status, error.code], [401, "42501"])
})
