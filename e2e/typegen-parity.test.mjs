// `gen types typescript` against the Supabase CLI itself: the official postgrest-js suite
// (supabase/supabase-js, commit 381bded) ships `test/types.generated.ts`, made by the real CLI
// from the suite's schema. fixtures/postgrest-js-suite holds that schema verbatim and the facts
// of that file (e2e/typegen/facts.mjs; `node e2e/typegen/facts.mjs types.generated.ts` remakes
// them). Solobase generates from the same schema and must agree fact by fact. What Solobase
// refuses today is cut from both sides, each cut named in CUTS: the statements from the schema,
// their facts from the CLI's. The differences left are listed in KNOWN, each with its reason;
// a cut that is no longer needed or a listed difference that has gone away fails the test, so
// both lists stay true.
// Run with `node --test e2e/typegen-parity.test.mjs` after `cargo build`.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const fixture = path.join(here, "fixtures", "postgrest-js-suite")

/** Differences from the CLI's output that are known, by fact path, with why. */
const KNOWN = {
  __InternalSupabase: "the CLI that made the oracle predates `__InternalSupabase`; today's prints it",
  "public.Functions.echo_bigint_as_text": "the schema gained this function after the oracle was generated",
  "public.Functions.extract_jsonb_bigint_as_text": "the schema gained this function after the oracle was generated",
  "public.Functions.scalar_computed_count": "the oracle lists this computed field, which the suite's schema does not define",
  "public.Functions.scalar_computed_ids": "the oracle lists this computed field, which the suite's schema does not define",
}

/** The schema's statements Solobase refuses today, and how to find their facts. */
const CUTS = {
  postgis: {
    why: "PostGIS is refused: its column is cut",
    statement: (sql) => /^\s*,\s*shop_geom extensions\.geometry\(POINT, 4326\)\s*$/m.test(sql),
    line: /^\s*,\s*shop_geom extensions\.geometry\(POINT, 4326\)\s*$/m,
    column: (table, column) => table === "shops" && column === "shop_geom",
  },
}

/** The schema with every cut's statements removed, and which cuts removed something. */
function cutSchema(schema) {
  const used = new Set()
  const kept = schema.replace(CUTS.postgis.line, () => (used.add("postgis"), ""))
  return { kept, used }
}

/** The CLI's facts without what the cuts removed from the schema. */
function cutFacts(facts) {
  for (const schema of Object.values(facts)) {
    if (!schema.Functions) continue
    for (const [table, definition] of Object.entries(schema.Tables ?? {})) {
      for (const form of ["Row", "Insert", "Update"]) {
        for (const column of Object.keys(definition[form] ?? {})) {
          const bare = column.replace(/\?$/, "")
          if (CUTS.postgis.column(table, bare)) delete definition[form][column]
        }
      }
    }
  }
  return facts
}

test("gen types typescript matches the Supabase CLI's types for the postgrest-js suite's schema", async () => {
  if (!fs.existsSync(path.join(here, "typegen", "node_modules", "typescript"))) {
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: path.join(here, "typegen"), stdio: "inherit" })
  }
  const { facts, differences } = await import("./typegen/facts.mjs")
  const { kept, used } = cutSchema(fs.readFileSync(path.join(fixture, "schema.sql"), "utf8"))
  assert.deepEqual([...used].sort(), Object.keys(CUTS).sort(), "every cut still removes something from the schema")
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "solobase-typegen-parity-"))
  try {
    fs.mkdirSync(path.join(workdir, "supabase", "migrations"), { recursive: true })
    fs.writeFileSync(path.join(workdir, "supabase", "migrations", "00000000000000_schema.sql"), kept)
    const binary = process.env.SOLOBASE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "debug", "solobase")
    const ours = facts(
      execFileSync(binary, ["gen", "types", "typescript", "--schema", "public,personal", "--workdir", workdir], { encoding: "utf8" }),
    )
    const theirs = cutFacts(JSON.parse(fs.readFileSync(path.join(fixture, "types.facts.json"), "utf8")).facts)
    const found = differences(ours, theirs)
    const unexpected = found.filter((difference) => !(difference.path in KNOWN))
    assert.deepEqual(unexpected, [], "facts that differ from the Supabase CLI's output")
    const gone = Object.keys(KNOWN).filter((known) => !found.some((difference) => difference.path === known))
    assert.deepEqual(gone, [], "known differences that no longer differ: remove them from KNOWN")
  } finally {
    fs.rmSync(workdir, { recursive: true, force: true })
  }
})
