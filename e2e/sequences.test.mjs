// Postgres is the judge of identity and serial columns and sequences: the sequences fixture's
// migration runs unchanged on a throwaway PostgreSQL 15 cluster, each step runs on both —
// through supabase-js against Solobase, as the SQL PostgREST would send to Postgres — and both
// must answer the same SQLSTATE (and message) and leave the same rows.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { SERVICE_KEY, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "sequences", "supabase")
let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("sequences"), startPostgres()])
  for (const file of fs.readdirSync(path.join(fixture, "migrations")).sort()) {
    assert.equal(postgres.sql(fs.readFileSync(path.join(fixture, "migrations", file), "utf8")).code, null, file)
  }
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server?.stop(), 0)
})

const db = () => server.client(SERVICE_KEY)

/** Runs one step on both; the SQLSTATEs and the rows of `table` must match. */
async function same(table, rest, sql) {
  const { error } = await rest(db())
  const answer = postgres.sql(sql)
  assert.equal(error?.code ?? null, answer.code, `${sql}\n${JSON.stringify(error)}`)
  const { data, error: readError } = await db().from(table).select("*").order("id")
  assert.equal(readError, null)
  assert.deepEqual(data, postgres.rows(`public.${table}`, "id"), sql)
  return error
}

test("an explicit id never moves the identity: later inserts count on, a collision is 23505 once", async () => {
  await same("items", (db) => db.from("items").insert({ id: "9223372036854775807", name: "max" }),
    `insert into items (id, name) values (9223372036854775807, 'max');`)
  await same("items", (db) => db.from("items").insert([{ name: "a" }, { name: "b" }]),
    `insert into items (name) values ('a'), ('b');`)
  await same("items", (db) => db.from("items").insert({ id: 4, name: "explicit" }),
    `insert into items (id, name) values (4, 'explicit');`)
  await same("items", (db) => db.from("items").insert({ name: "c" }), `insert into items (name) values ('c');`)
  const collision = await same("items", (db) => db.from("items").insert({ name: "d" }), `insert into items (name) values ('d');`)
  assert.equal(collision.code, "23505")
  // The failed insert used its value, as in Postgres: the next one takes the one after.
  await same("items", (db) => db.from("items").insert({ name: "e" }), `insert into items (name) values ('e');`)
  await same("items", (db) => db.from("items").insert({ id: null, name: "null" }), `insert into items (id, name) values (null, 'null');`)
  await same("tags", (db) => db.from("tags").insert([{ label: "x" }, { label: "y" }]), `insert into tags (label) values ('x'), ('y');`)
  await same("tags", (db) => db.from("tags").insert({ id: 3, label: "explicit" }), `insert into tags (id, label) values (3, 'explicit');`)
  // A bulk insert sends the union of its keys: a row without `id` sends null, as PostgREST does.
  const nulls = await same("tags", (db) => db.from("tags").insert([{ label: "z" }, { id: 10, label: "ten" }]),
    `insert into tags (id, label) values (null, 'z'), (10, 'ten');`)
  assert.equal(nulls.code, "23502")
})

test("generated always refuses an explicit value with 428C9, on insert and update", async () => {
  await same("locked", (db) => db.from("locked").insert({ name: "a" }), `insert into locked (name) values ('a');`)
  const { error } = await db().from("locked").insert({ id: 5, name: "b" })
  assert.equal(postgres.sql(`insert into locked (id, name) values (5, 'b');`).code, "428C9")
  assert.deepEqual(error, {
    code: "428C9",
    message: 'cannot insert a non-DEFAULT value into column "id"',
    details: 'Column "id" is an identity column defined as GENERATED ALWAYS.',
    hint: "Use OVERRIDING SYSTEM VALUE to override.",
  })
  const update = await same("locked", (db) => db.from("locked").update({ id: 9 }).eq("id", 1), `update locked set id = 9 where id = 1;`)
  assert.equal(update.message, 'column "id" can only be updated to DEFAULT')
  await same("locked", (db) => db.from("locked").upsert({ id: 1, name: "c" }),
    `insert into locked (id, name) values (1, 'c') on conflict (id) do update set name = excluded.name;`)
})

test("an exhausted sequence answers 2200H with Postgres's message", async () => {
  await same("small", (db) => db.from("small").insert([{ name: "a" }, { name: "b" }]), `insert into small (name) values ('a'), ('b');`)
  const error = await same("small", (db) => db.from("small").insert({ name: "c" }), `insert into small (name) values ('c');`)
  assert.equal(error.message, 'nextval: reached maximum value of sequence "small_id_seq" (32767)')
  const rpc = await db().rpc("next_ticket")
  assert.equal(rpc.data, Number(postgres.sql("select public.next_ticket();").output))
})

test("nextval, currval and setval work from defaults, SQL and plpgsql functions, and survive a restart", async () => {
  // `tickets` starts at 100 and steps by 5 up to 110; the previous test drew 100.
  await same("orders", (db) => db.from("orders").insert({ name: "a" }), `insert into orders (name) values ('a');`)
  const twice = await db().rpc("ticket_twice")
  assert.equal(twice.error, null)
  assert.equal(twice.data, Number(postgres.sql("select public.ticket_twice();").output))
  assert.equal(twice.data, 110110)
  const full = await db().rpc("next_ticket")
  assert.equal(full.error.code, postgres.sql("select public.next_ticket();").code)
  assert.equal(full.error.message, 'nextval: reached maximum value of sequence "tickets" (110)')
  const rewound = await db().rpc("rewind_tickets", { to_value: 100, called: false })
  assert.equal(rewound.data, Number(postgres.sql("select public.rewind_tickets(100, false);").output))
  const outOfBounds = await db().rpc("rewind_tickets", { to_value: 500, called: true })
  assert.equal(outOfBounds.error.code, postgres.sql("select public.rewind_tickets(500, true);").code)
  assert.equal(outOfBounds.error.message, 'setval: value 500 is out of bounds for sequence "tickets" (1..110)')
  // A read-only call cannot draw, as a GET on Postgres (read-only transaction) cannot.
  const readOnly = await db().rpc("next_ticket", {}, { get: true })
  assert.equal(readOnly.error.code, postgres.sql("begin read only; select public.next_ticket(); rollback;").code)

  assert.equal(await server.stop(), 0)
  server = await startServer("sequences", server.workdir)
  await same("orders", (db) => db.from("orders").insert({ name: "after restart" }), `insert into orders (name) values ('after restart');`)
  await same("items", (db) => db.from("items").insert({ name: "after restart" }), `insert into items (name) values ('after restart');`)
})
