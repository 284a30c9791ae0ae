// Partitioned tables as the postgrest-js test schema declares them: rows written through the
// parent land in the partition their key falls in, each partition reads its rows under its own
// name, and a row no partition takes is refused with Postgres's error. The fixture's migration
// runs unchanged on a throwaway PostgreSQL 15 cluster, which answers the same reads and writes.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { ANON_KEY, SERVICE_KEY, binary, copyFixture, startServer } from "./harness.mjs"
import { startPostgres } from "./postgres.mjs"

let server, postgres
before(async () => {
  ;[server, postgres] = await Promise.all([startServer("partitions"), startPostgres()])
  postgres.applyFixture("partitions")
})
after(async () => {
  await postgres?.stop()
  assert.equal(await server.stop(), 0)
})

/** What Postgres answers for `select … from relation` as `role`, ordered by `order`. */
function postgresRows(relation, columns, { role = "anon", order = "id" } = {}) {
  const { code, output } = postgres.sql(`select coalesce(json_agg(json_build_object(${columns.map((c) => `'${c}', ${c}`).join(", ")}) order by ${order}), '[]') from public.${relation};`, { role })
  assert.equal(code, null)
  return JSON.parse(output)
}

/** The rows of `relation` over REST, ordered by id. */
async function rows(client, relation, columns) {
  const { data, error } = await client.from(relation).select(columns.join(",")).order("id")
  assert.equal(error, null)
  return data
}

test("reads through the parent apply its policies; a partition reads its bound, as in Postgres", async () => {
  const anon = server.client(ANON_KEY)
  const columns = ["id", "created_at", "event_type", "data"]
  for (const relation of ["events", "events_2024", "events_2025"]) {
    assert.deepEqual(await rows(anon, relation, columns), postgresRows(relation, columns), relation)
  }
  assert.deepEqual((await rows(anon, "events", columns)).map((row) => row.event_type), ["login", "new year", "logout"])
  assert.deepEqual((await rows(anon, "events_2024", columns)).map((row) => row.event_type), ["login", "secret"])
  for (const relation of ["tickets", "tickets_open", "tickets_other"]) {
    assert.deepEqual(await rows(anon, relation, ["id", "title"]), postgresRows(relation, ["id", "title"]), relation)
  }
})

test("an insert through the parent lands in its partition; a key no partition takes is 23514", async () => {
  const service = server.client(SERVICE_KEY)
  const { data, error } = await service.from("events").insert({ created_at: "2025-07-01T12:00:00Z", event_type: "signup" }).select("id, created_at, event_type").single()
  assert.equal(error, null)
  assert.equal(data.event_type, "signup")
  assert.equal(data.created_at, "2025-07-01T12:00:00+00:00")
  const { data: inPartition } = await service.from("events_2025").select("event_type").eq("id", data.id)
  assert.deepEqual(inPartition, [{ event_type: "signup" }])
  const { data: elsewhere } = await service.from("events_2024").select("event_type").eq("id", data.id)
  assert.deepEqual(elsewhere, [])

  const outside = await service.from("events").insert({ created_at: "2023-06-01T00:00:00Z", event_type: "old" })
  assert.equal(outside.status, 400)
  assert.deepEqual(
    { code: outside.error.code, message: outside.error.message, details: outside.error.details },
    {
      code: "23514",
      message: 'no partition of relation "events" found for row',
      details: "Partition key of the failing row contains (created_at) = (2023-06-01 00:00:00+00).",
    },
  )
  const postgresOutside = postgres.sql("insert into public.events (created_at, event_type) values ('2023-06-01T00:00:00Z', 'old');")
  assert.equal(postgresOutside.code, outside.error.code)

  const moved = await service.from("events").update({ created_at: "2030-01-01T00:00:00Z" }).eq("event_type", "login")
  assert.equal(moved.error.code, "23514")
  assert.equal(moved.error.details, "Partition key of the failing row contains (created_at) = (2030-01-01 00:00:00+00).")
})

test("a default partition takes the rows no other partition does", async () => {
  const service = server.client(SERVICE_KEY)
  const { error } = await service.from("tickets").insert({ id: 4, state: "lost", title: "d" })
  assert.equal(error, null)
  assert.deepEqual(await rows(service, "tickets_other", ["id", "title"]), [{ id: 2, title: "b" }, { id: 4, title: "d" }])
  assert.deepEqual(await rows(service, "tickets_open", ["id", "title"]), [{ id: 1, title: "a" }, { id: 3, title: "c" }])
})

test("a write naming a partition is refused with a hint to write through the parent", async () => {
  const { error } = await server.client(SERVICE_KEY).from("events_2024").insert({ created_at: "2024-02-01T00:00:00Z", event_type: "direct" })
  assert.equal(error.code, "0A000")
  assert.equal(error.message, 'cannot insert into partition "events_2024"')
  assert.match(error.hint, /write to "events"/)
})

test("gen types lists each partition as a table with its parent's columns, as Supabase's CLI does", () => {
  const types = execFileSync(binary(), ["gen", "types", "typescript", "--workdir", copyFixture("partitions")], { encoding: "utf8" })
  // postgrest-js's types.generated.ts, generated by the Supabase CLI from the same schema.
  const events2024 = `      events_2024: {
        Row: {
          created_at: string
          data: Json | null
          event_type: string | null
          id: number
        }
        Insert: {
          created_at?: string
          data?: Json | null
          event_type?: string | null
          id?: number
        }
        Update: {
          created_at?: string
          data?: Json | null
          event_type?: string | null
          id?: number
        }
        Relationships: []
      }
`
  assert.ok(types.includes(events2024), types)
})

test("a partitioned table as pg_dump writes it (attached partition, ON ONLY index, index attach) works as in Postgres", async () => {
  const db = server.client(SERVICE_KEY)
  const row = { id: 1, logged_at: "2024-03-01T00:00:00+00:00", level: "info" }
  assert.equal((await db.from("logs").insert(row)).error, null)
  const duplicate = await db.from("logs").insert(row)
  const sql = `insert into public.logs values (1, '2024-03-01T00:00:00+00:00', 'info');`
  assert.equal(postgres.sql(sql).code, null)
  assert.equal(duplicate.error?.code, postgres.sql(sql).code)
  const outside = await db.from("logs").insert({ ...row, id: 2, logged_at: "2030-01-01T00:00:00+00:00" })
  assert.equal(outside.error?.code, postgres.sql(`insert into public.logs values (2, '2030-01-01T00:00:00+00:00', 'info');`).code)
  const columns = ["id", "level"]
  assert.deepEqual(await rows(db, "logs_2024", columns), postgresRows("logs_2024", columns, { role: "service_role" }))
})
