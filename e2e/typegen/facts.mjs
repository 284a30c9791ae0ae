// Reads a `gen types typescript` file into canonical facts: the `Database` type as plain JSON
// (object members by name, `Relationships` and other tuples as sorted arrays, every other type as its
// text with whitespace removed and union members sorted), so two generators' outputs compare
// by content rather than by layout.
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { createRequire } from "node:module"

const require = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), "package.json"))
const ts = require("typescript")

/** The canonical facts of the `Database` type declared in `source` (TypeScript text). */
export function facts(source) {
  const file = ts.createSourceFile("types.ts", source, ts.ScriptTarget.Latest, true)
  const database = file.statements.find((node) => ts.isTypeAliasDeclaration(node) && node.name.text === "Database")
  if (!database) throw new Error("no `Database` type")
  return value(database.type, file)
}

function value(node, file) {
  if (ts.isParenthesizedTypeNode(node)) return value(node.type, file)
  if (ts.isTypeLiteralNode(node)) {
    const members = {}
    for (const member of node.members) {
      const name = member.name && (ts.isIdentifier(member.name) || ts.isStringLiteral(member.name)) ? member.name.text : member.getText(file)
      const optional = member.questionToken ? "?" : ""
      members[name + optional] = member.type ? value(member.type, file) : member.getText(file)
    }
    return members
  }
  if (ts.isTupleTypeNode(node)) {
    return node.elements.map((element) => value(element, file)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
  }
  if (ts.isUnionTypeNode(node) && node.types.some((member) => ts.isTypeLiteralNode(member))) {
    return { "|": node.types.map((member) => value(member, file)) }
  }
  return text(node, file)
}

function text(node, file) {
  if (ts.isUnionTypeNode(node)) return node.types.map((member) => text(member, file)).sort().join("|")
  return node
    .getText(file)
    .replace(/'([^']*)'/g, (_, inner) => JSON.stringify(inner))
    .replace(/\s+/g, "")
    .replace(/;}/g, "}")
    .replace(/,]/g, "]")
}

/** Paths (`public.Tables.users.Row.age_range`) where `a` and `b` differ, each with both sides. */
export function differences(a, b, at = "") {
  if (JSON.stringify(a) === JSON.stringify(b)) return []
  const bothObjects = a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)
  if (!bothObjects) return [{ path: at, ours: a, theirs: b }]
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
  return keys.flatMap((key) => differences(a[key], b[key], at ? `${at}.${key}` : key))
}

// `node facts.mjs FILE` prints FILE's facts; `node facts.mjs OURS THEIRS` prints their differences.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const read = process.argv.slice(2).map((file) => facts(fs.readFileSync(file, "utf8")))
  if (read.length === 1) console.log(JSON.stringify(read[0], null, 1))
  else for (const difference of differences(...read)) console.log(JSON.stringify(difference))
}
