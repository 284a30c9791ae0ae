// `gen types typescript` against the Supabase CLI itself: the official postgrest-js suite
// (supabase/supabase-js, commit 381bded) ships `test/types.generated.ts`, made by the real CLI
// from the suite's schema. fixtures/postgrest-js-suite holds that schema verbatim and the facts
// of that file (e2e/typegen/facts.mjs; `node e2e/typegen/facts.mjs types.generated.ts` remakes
// them). Solobase generates from the same schema, unchanged, and must agree fact by fact. The
// differences left are listed in KNOWN, each with its reason; a listed difference that has gone
// away fails the test, so the list stays true.
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

test("gen types typescript matches the Supabase CLI's types for the postgrest-js suite's schema", async () => {
  if (!fs.existsSync(path.join(here, "typegen", "node_modules", "typescript"))) {
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: path.join(here, "typegen"), stdio: "inherit" })
  }
  const { facts, differences } = await import("./typegen/facts.mjs")
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "solobase-typegen-parity-"))
  try {
    fs.mkdirSync(path.join(workdir, "supabase", "migrations"), { recursive: true })
    fs.copyFileSync(path.join(fixture, "schema.sql"), path.join(workdir, "supabase", "migrations", "00000000000000_schema.sql"))
    const binary = process.env.SOLOBASE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "debug", "solobase")
    const ours = facts(
      execFileSync(binary, ["gen", "types", "typescript", "--schema", "public,personal", "--workdir", workdir], { encoding: "utf8" }),
    )
    const theirs = JSON.parse(fs.readFileSync(path.join(fixture, "types.facts.json"), "utf8")).facts
    const found = differences(ours, theirs)
    const unexpected = found.filter((difference) => !(difference.path in KNOWN))
    assert.deepEqual(unexpected, [], "facts that differ from the Supabase CLI's output")
    const gone = Object.keys(KNOWN).filter((known) => !found.some((difference) => difference.path === known))
    assert.deepEqual(gone, [], "known differences that no longer differ: remove them from KNOWN")
  } finally {
    fs.rmSync(workdir, { recursive: true, force: true })
  }
})
