// Compiles TypeScript against the types Solobase generates, with the real `tsc` and
// `@supabase/supabase-js` from npm: correct queries type-check, wrong ones fail with the expected
// error. Run with `node --test e2e/typegen.test.mjs` after `cargo build`.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync, spawnSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const harness = path.join(here, "typegen")
const cases = path.join(harness, "cases")

function ensureDependencies() {
  if (!fs.existsSync(path.join(harness, "node_modules", "typescript"))) {
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: harness, stdio: "inherit" })
  }
}

/** Runs `tsc --noEmit` over one case file next to `types`, returning its output and status. */
function compile(caseName, types) {
  const dir = fs.mkdtempSync(path.join(harness, ".check-"))
  try {
    fs.writeFileSync(path.join(dir, "database.types.ts"), types)
    fs.copyFileSync(path.join(cases, caseName), path.join(dir, caseName))
    const result = spawnSync(
      process.execPath,
      [
        path.join(harness, "node_modules", "typescript", "bin", "tsc"),
        "--noEmit",
        "--strict",
        "--target", "ES2022",
        "--module", "ESNext",
        "--moduleResolution", "Bundler",
        "--skipLibCheck",
        path.join(dir, caseName),
      ],
      { cwd: harness, encoding: "utf8" },
    )
    return { status: result.status, output: `${result.stdout}${result.stderr}` }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Checks good.ts compiles and every bad_*.ts fails with the error its `expect-error` names. */
function checkCases(types) {
  const good = compile("good.ts", types)
  assert.equal(good.status, 0, `good.ts must type-check:\n${good.output}`)
  const bad = fs.readdirSync(cases).filter((name) => name.startsWith("bad_")).sort()
  assert.ok(bad.length >= 4)
  for (const name of bad) {
    const expected = fs
      .readFileSync(path.join(cases, name), "utf8")
      .match(/^\/\/ expect-error: (.*)$/m)?.[1]
    assert.ok(expected, `${name} must name its expected error`)
    const result = compile(name, types)
    assert.notEqual(result.status, 0, `${name} must not compile`)
    assert.ok(
      result.output.includes(expected),
      `${name} must fail with ${JSON.stringify(expected)}, got:\n${result.output}`,
    )
  }
}

test("types generated for the example project compile correct queries and reject wrong ones", () => {
  ensureDependencies()
  const binary = process.env.SOLOBASE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, "target"), "debug", "solobase")
  const types = execFileSync(binary, ["gen", "types", "typescript", "--workdir", path.join(root, "examples", "shop")], { encoding: "utf8" })
  checkCases(types)
})
