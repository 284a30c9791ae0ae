// Privileges as Postgres enforces them, with Supabase's default grants: the grants fixture's
// migration runs unchanged on a throwaway PostgreSQL 15 cluster, and each request answers, as
// the same role, what the SQL PostgREST would send answers there — 42501 where a table, column,
// function or schema privilege is missing, the rows otherwise. Realtime delivers a table's
// changes only to roles that may SELECT it.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, inbox, signJwt, startServer, subscribed } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("grants"), startPostgres()])
  postgres.applyFixture("grants")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

const userToken = signJwt({ sub: A, role: "authenticated", exp: 4e9 })
const as = (role) =>
  role === "anon"
    ? server.client(ANON_KEY)
    : server.client(ANON_KEY, { global: { headers: { Authorization: `Bearer ${userToken}` } } })

/**
 * Runs `rest` on Solobase and `sql` on Postgres as `role`: both must fail with the same
 * SQLSTATE (and Solobase with `message`) or both succeed, Solobase answering `data`.
 */
async function same(role, rest, sql, expected) {
  const { data, error, status } = await rest(as(role))
  const answer = postgres.sql(sql, { role, sub: A })
  assert.equal(error?.code ?? null, answer.code, `${sql}: ${JSON.stringify(error)}`)
  if ("message" in expected) {
    assert.equal(error.message, expected.message, sql)
    assert.equal(status, role === "anon" ? 401 : 403, sql)
  }
  if ("data" in expected) assert.deepEqual(data, expected.data, sql)
}

test("a revoked table privilege answers 42501 to that role only", async () => {
  await same("anon", (db) => db.from("closed").select("*"), "select * from closed;", {
    message: "permission denied for table closed",
  })
  await same("authenticated", (db) => db.from("closed").select("*"), "select * from closed;", {
    data: [{ id: 1, note: "x" }],
  })
  await same("authenticated", (db) => db.from("closed").delete().eq("id", 1), "delete from closed where id = 1;", {
    message: "permission denied for table closed",
  })
  // Revoking a column privilege leaves the table's own SELECT in place, as in Postgres.
  await same("anon", (db) => db.from("audit").select("id,note"), "select id, note from audit;", {
    data: [{ id: 1, note: "opened" }],
  })
  // Default privileges changed after a table was created apply only to tables created later.
  await same("anon", (db) => db.from("later").select("*"), "select * from later;", {
    message: "permission denied for table later",
  })
  await same("anon", (db) => db.from("audit").select("id"), "select id from audit;", { data: [{ id: 1 }] })
})

test("column grants limit what is selected, filtered, ordered and embedded", async () => {
  const denied = { message: "permission denied for table accounts" }
  await same("authenticated", (db) => db.from("accounts").select("*"), "select accounts.* from accounts;", denied)
  await same("authenticated", (db) => db.from("accounts").select("id,name").order("id"), "select id, name from accounts order by id;", {
    data: [{ id: 1, name: "a" }, { id: 2, name: "b" }],
  })
  await same("authenticated", (db) => db.from("accounts").select("id").eq("balance", 10), "select id from accounts where balance = 10;", denied)
  await same("authenticated", (db) => db.from("accounts").select("id").order("secret"), "select id from accounts order by secret;", denied)
  await same(
    "authenticated",
    (db) => db.from("audit").select("id,accounts(name)"),
    "select audit.id, (select name from accounts where accounts.id = audit.account_id) from audit;",
    { data: [{ id: 1, accounts: { name: "a" } }] },
  )
  await same(
    "authenticated",
    (db) => db.from("audit").select("id,accounts(balance)"),
    "select audit.id, (select balance from accounts where accounts.id = audit.account_id) from audit;",
    denied,
  )
  await same("anon", (db) => db.from("audit").select("id,accounts(id)"), "select audit.id, (select id from accounts where accounts.id = audit.account_id) from audit;", denied)
})

test("column grants limit what is written and returned", async () => {
  const denied = { message: "permission denied for table accounts" }
  await same("authenticated", (db) => db.from("accounts").update({ name: "renamed" }).eq("id", 1), "update accounts set name = 'renamed' where id = 1;", {})
  await same("authenticated", (db) => db.from("accounts").update({ balance: 0 }).eq("id", 1), "update accounts set balance = 0 where id = 1;", denied)
  await same("authenticated", (db) => db.from("accounts").update({ name: "x" }).eq("id", 1).select(), "update accounts set name = 'x' where id = 1 returning accounts.*;", denied)
  await same(
    "authenticated",
    (db) => db.from("accounts").update({ name: "again" }).eq("id", 1).select("id,name"),
    "update accounts set name = 'again' where id = 1 returning id, name;",
    { data: [{ id: 1, name: "again" }] },
  )
  await same("authenticated", (db) => db.from("accounts").insert({ id: 3, owner: A, name: "c" }), `insert into accounts (id, owner, name) values (3, '${A}', 'c');`, {})
  await same("authenticated", (db) => db.from("accounts").insert({ id: 4, owner: A, name: "d", balance: 1 }), `insert into accounts (id, owner, name, balance) values (4, '${A}', 'd', 1);`, denied)
  await same("authenticated", (db) => db.from("accounts").delete().eq("id", 3), "delete from accounts where id = 3;", denied)
  const { data } = await server.client(SERVICE_KEY).from("accounts").select("id,name,balance").order("id")
  assert.deepEqual(data, postgres.rows("public.accounts", "id").map(({ id, name, balance }) => ({ id, name, balance })))
})

test("EXECUTE revoked from public and the API roles stops their RPC; revoked from public alone it does not", async () => {
  await same("anon", (db) => db.rpc("server_only"), "select server_only();", { message: "permission denied for function server_only" })
  await same("authenticated", (db) => db.rpc("server_only"), "select server_only();", { message: "permission denied for function server_only" })
  // Supabase's default privileges grant anon its own EXECUTE, which `from public` leaves.
  await same("anon", (db) => db.rpc("still_open"), "select still_open();", { data: 7 })
  const { data, error } = await server.client(SERVICE_KEY).rpc("server_only")
  assert.equal(error, null)
  assert.equal(data, 42)
})

test("a created schema is unusable until USAGE is granted on it", async () => {
  await same("authenticated", (db) => db.schema("private").from("hidden").select("*"), "select * from private.hidden;", {
    message: "permission denied for schema private",
  })
})

test("realtime delivers a table's changes only to roles holding SELECT on it", async () => {
  const user = server.client()
  user.realtime.setAuth(userToken)
  const anon = server.client()
  try {
    const heardByUser = inbox()
    const heardByAnon = inbox()
    const listen = (client, name, heard, tables) => {
      let channel = client.channel(name)
      for (const table of tables) channel = channel.on("postgres_changes", { event: "*", schema: "public", table }, (p) => heard.push(p))
      return subscribed(channel)
    }
    // authenticated holds only column privileges on accounts; anon none on accounts or closed.
    await listen(user, "user", heardByUser, ["accounts", "closed"])
    await listen(anon, "anon", heardByAnon, ["accounts", "closed", "audit"])
    const service = server.client(SERVICE_KEY)
    assert.equal((await service.from("accounts").insert({ id: 9, owner: A, name: "z", secret: "s9" })).error, null)
    assert.equal((await service.from("closed").insert({ id: 9, note: "n" })).error, null)
    assert.equal((await service.from("audit").insert({ id: 9, account_id: 9, note: "n" })).error, null)
    // Each socket hears its later changes in commit order; the earlier ones, which its role
    // may not read, never came.
    assert.deepEqual([(await heardByUser.next()).table, heardByUser.items.length], ["closed", 0])
    assert.deepEqual([(await heardByAnon.next()).table, heardByAnon.items.length], ["audit", 0])
  } finally {
    for (const client of [user, anon]) {
      await client.removeAllChannels()
      client.realtime.disconnect()
    }
  }
})

test("a policy reading a table needs the caller's SELECT on what it reads there; a definer helper reads with its owner's", async () => {
  const denied = { message: "permission denied for table members" }
  await same("authenticated", (db) => db.from("teams").select("id"), "select id from teams;", denied)
  // anon holds SELECT on the columns its policy reads, not on the one the other policy reads.
  await same("anon", (db) => db.from("teams").select("id").order("id"), "select id from teams order by id;", {
    data: [{ id: 1 }, { id: 2 }],
  })
  await same("anon", (db) => db.from("projects").select("id"), "select id from projects;", denied)
  await same("authenticated", (db) => db.from("boards").select("id"), "select id from boards;", { data: [{ id: 1 }] })
  // Embedding the guarded table fails the same way.
  await same("authenticated", (db) => db.from("boards").select("id,teams(id)"), "select id, (select id from teams where teams.id = boards.team_id) from boards;", denied)
})

test("a security_invoker view reads its tables with the caller's privileges, an owner's view with the owner's", async () => {
  await same("authenticated", (db) => db.from("member_list").select("team_id"), "select team_id from member_list;", {
    message: "permission denied for table members",
  })
  await same("authenticated", (db) => db.from("member_list_owner").select("team_id").order("team_id"), "select team_id from member_list_owner order by team_id;", {
    data: [{ team_id: 1 }, { team_id: 2 }],
  })
  await same("anon", (db) => db.from("member_list").select("team_id").order("team_id"), "select team_id from member_list order by team_id;", {
    data: [{ team_id: 1 }, { team_id: 2 }],
  })
})

test("an invoker function's statements need the caller's privileges; a definer's run with the owner's", async () => {
  await same("authenticated", (db) => db.rpc("member_count"), "select member_count();", { message: "permission denied for table members" })
  // count(*) needs SELECT on some column, which anon holds.
  await same("anon", (db) => db.rpc("member_count"), "select member_count();", { data: 2 })
  await same("authenticated", (db) => db.rpc("member_count_definer"), "select member_count_definer();", { data: 2 })
  await same("authenticated", (db) => db.rpc("member_total"), "select member_total();", { message: "permission denied for table members" })
  await same("anon", (db) => db.rpc("member_total"), "select member_total();", { data: 2 })
  await same("authenticated", (db) => db.rpc("member_total_definer"), "select member_total_definer();", { data: 2 })
  // UPDATE without a WHERE needs UPDATE on the column, not SELECT (revoked from anon).
  await same("anon", (db) => db.rpc("rename_closed"), "select rename_closed();", {})
  await same("authenticated", (db) => db.rpc("zero_balance"), "select zero_balance();", { message: "permission denied for table accounts" })
  const { data } = await server.client(SERVICE_KEY).from("closed").select("id,note").eq("id", 1)
  assert.deepEqual(data, postgres.rows("public.closed", "id").filter(({ id }) => id === 1))
})

test("auth.users grants nothing to the API roles: a policy or invoker function reading it is refused, a definer helper reads it", async () => {
  await same("authenticated", (db) => db.from("staff_notes").select("*"), "select * from staff_notes;", { message: "permission denied for table users" })
  await same("authenticated", (db) => db.rpc("my_email"), "select my_email();", { message: "permission denied for table users" })
  await same("authenticated", (db) => db.rpc("my_email_definer"), "select my_email_definer();", { data: null })
  await same("authenticated", (db) => db.from("staff_boards").select("*"), "select * from staff_boards;", { data: [] })
})

test("a serial column's default draws from its sequence with the caller's USAGE or UPDATE on it; an identity needs none", async () => {
  const sequence = (name) => ({ message: `permission denied for sequence ${name}` })
  // Revoking USAGE alone leaves Supabase's UPDATE, which nextval accepts too.
  await same("anon", (db) => db.from("tickets").insert({ note: "t" }), "insert into tickets (note) values ('t');", {})
  await same("anon", (db) => db.from("stamps").insert({ note: "s" }), "insert into stamps (note) values ('s');", sequence("stamps_id_seq"))
  await same("anon", (db) => db.from("stamps").insert({ id: 7, note: "s" }), "insert into stamps (id, note) values (7, 's');", {})
  await same("anon", (db) => db.from("orders").insert({ note: "o" }), "insert into orders (note) values ('o');", {})
  await same("anon", (db) => db.from("receipts").insert({ note: "r" }), "insert into receipts (note) values ('r');", {})
  await same("authenticated", (db) => db.from("receipts").insert({ note: "r" }), "insert into receipts (note) values ('r');", sequence("receipt_numbers"))
  await same("authenticated", (db) => db.from("tickets").insert([{ id: 5, note: "a" }, { note: "b" }], { defaultToNull: false }), "insert into tickets (id, note) values (5, 'a'), (default, 'b');", sequence("tickets_id_seq"))
  await same("anon", (db) => db.rpc("draw_receipt"), "select draw_receipt();", { data: 2 })
  await same("authenticated", (db) => db.rpc("draw_receipt"), "select draw_receipt();", sequence("receipt_numbers"))
  for (const table of ["tickets", "stamps", "orders", "receipts"]) {
    const { data } = await server.client(SERVICE_KEY).from(table).select("*").order("id")
    assert.deepEqual(data, postgres.rows(`public.${table}`, "id"), table)
  }
})
