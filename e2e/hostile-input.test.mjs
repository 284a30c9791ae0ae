// Every class of malformed or hostile input we know of gets a shaped 4xx — PostgREST's
// {code, message, details, hint} on /rest/v1, GoTrue's {code, error_code, msg} on /auth/v1 —
// never a 5xx, a hang or a dead process.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { ANON_KEY, SERVICE_KEY, startServer } from "./harness.mjs"

let server
before(async () => {
  server = await startServer("avail")
  const seeded = await rest("POST", "/items", [{ name: "first" }, { name: "second" }])
  assert.equal(seeded.status, 201)
})
after(async () => assert.equal(await server.stop(), 0))

const deep = (open, leaf, close, depth) => open.repeat(depth) + leaf + close.repeat(depth)
const many = (term, count, joiner = ",") => Array.from({ length: count }, (_, i) => term(i)).join(joiner)

async function rest(method, path, body, extra = {}) {
  const headers = { apikey: SERVICE_KEY, Authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json", ...extra }
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
  return fetch(`${server.url}/rest/v1${path}`, { method, headers, body: payload })
}

/** Any answer but a 5xx (inputs PostgREST itself takes leniently). */
const ANY = "any"

/** [what, method, path, body, headers, expected status (undefined: some 4xx), expected code] */
const restCases = [
  ["or nested 1,200 deep", "GET", `/items?or=(${deep("or(", "id.eq.1", ")", 1200)})`, , , 400, "PGRST100"],
  ["and nested 1,200 deep", "GET", `/items?and=(${deep("and(", "id.eq.1", ")", 1200)})`, , , 400, "PGRST100"],
  ["select nesting embeds 1,500 deep", "GET", `/items?select=${deep("tags(items(", "id", "))", 750)}`, , , 400, "PGRST100"],
  ["embeds nested 32 deep, the most allowed", "GET", `/items?select=${deep("tags(items(", "id", "))", 16)}`, , , 200],
  ["or nested 32 deep, the most allowed", "GET", `/items?or=(${deep("or(", "id.eq.1", ")", 31)})`, , , 200],
  ["embedded filter path 2,000 deep", "GET", `/items?${many(() => "tags", 2000, ".")}.id=eq.1`],
  ["1,200-term or", "GET", `/items?or=(${many((i) => `id.eq.${i}`, 1200)})`, , , 200],
  ["30,000-value in list", "GET", `/items?id=in.(${many((i) => i % 10, 30000)})`, , , 200],
  ["5,000 filters", "GET", `/items?${many((i) => `id=neq.${i}`, 5000, "&")}`, , , 200],
  ["3,000 embedded filters", "GET", `/items?select=id,tags(id)&${many((i) => `tags.id=neq.${i}`, 3000, "&")}`, , , 200],
  ["invalid regex for match", "GET", "/items?name=match.(unclosed", , , 400, "2201B"],
  ["invalid regex for imatch", "GET", "/items?name=imatch.[z-a]", , , 400, "2201B"],
  ["-> on a text column in select", "GET", "/items?select=name->a", , , 404, "42883"],
  ["->> on a text column in a filter", "GET", "/items?name->>a=eq.1", , , 404, "42883"],
  ["-> on a text column in order", "GET", "/items?order=name->a", , , 404, "42883"],
  ["offset 2^63", "GET", "/items?offset=9223372036854775808", , , 400],
  ["limit 2^63", "GET", "/items?limit=9223372036854775808", , , 400],
  ["offset 2^64", "GET", "/items?offset=18446744073709551616", , , 400, "PGRST100"],
  ["Range 2^63", "GET", "/items", , { Range: "9223372036854775808-9223372036854775809" }],
  ["on_conflict on a non-unique column", "POST", "/items?on_conflict=name", [{ name: "x" }], { Prefer: "resolution=merge-duplicates" }, 400, "42P10"],
  ["on_conflict on a missing column", "POST", "/items?on_conflict=nope", [{ name: "x" }], { Prefer: "resolution=merge-duplicates" }, 400],
  ["id beyond bigint", "POST", "/items", { id: 9223372036854775808, name: "x" }, , 400],
  ["id as a huge float", "POST", "/items", { id: 1e300, name: "x" }, , 400],
  ["filter value beyond bigint", "GET", "/items?id=eq.99999999999999999999", , , 400],
  ["text for a bigint filter", "GET", "/items?id=gt.abc", , , 400, "22P02"],
  ["JSON nested 10,000 deep", "POST", "/items", deep("[", "1", "]", 10000), , 400, "PGRST102"],
  ["body of invalid UTF-8", "POST", "/items", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ["body over the size limit", "POST", "/items", JSON.stringify({ name: "x".repeat(3 * 1024 * 1024) }), , 413],
  ["an object where rows are expected", "POST", "/items", "42", , 400],
  ["select with an unbalanced quote", "GET", '/items?select="name', , , ANY],
  ["cast to an unknown type", "GET", "/items?select=name::nosuchtype"],
  ["order by a missing column", "GET", "/items?order=nope.desc"],
  ["invalid percent-encoding", "GET", "/items?name=eq.%ZZ%", , , ANY],
  ["NUL bytes in a value", "GET", "/items?name=eq.a%00b", , , 200],
  ["a 50 KB column name", "GET", `/items?select=${"c".repeat(50_000)}`, , , 400, "42703"],
  // Past 64 KiB the HTTP layer refuses the request line itself, before any handler runs.
  ["a 100 KB query string", "GET", `/items?select=${"c".repeat(100_000)}`, , , 414, "54000"],
  ["500 KB of headers", "GET", "/items", , { "X-Big": "a".repeat(500_000) }, 431, "54000"],
  ["unknown function", "POST", "/rpc/nope", {}, , 404],
  ["spin with a bad argument", "POST", "/rpc/spin", { n: "many" }],
  ["invalid cs value", "GET", "/items?name=cs.{unclosed"],
  ["invalid json path index", "GET", "/items?select=name->99999999999999999999999"],
  ["fts on a text column with an odd query", "GET", "/items?name=fts.!!!&&&|||"],
  ["empty embed", "GET", "/items?select=tags()", , , ANY],
  ["many embeds side by side", "GET", `/items?select=${many(() => "tags(id)", 2000)}`],
  ["Prefer with a huge max-affected", "PATCH", "/items?id=eq.1", { name: "y" }, { Prefer: "handling=strict,max-affected=99999999999999999999999" }],
  ["columns naming 10,000 columns", "POST", `/items?columns=${many((i) => `c${i}`, 10000)}`, [{ name: "x" }]],
  ["Accept-Profile injection", "GET", "/items", , { "Accept-Profile": "public\"; drop table items; --" }],
]

test("malformed REST requests get a shaped 4xx, never a 5xx", async () => {
  const failures = []
  for (const [what, method, path, body, headers, status, code] of restCases) {
    const response = await rest(method, path, body, headers).catch((error) => error)
    if (response instanceof Error) {
      failures.push(`${what}: no answer (${response.cause?.code ?? response.message})`)
      continue
    }
    const text = await response.text()
    let shaped = response.status < 400
    try {
      const json = JSON.parse(text)
      if (response.status >= 400) shaped = ["code", "message", "details", "hint"].every((key) => key in json)
      if (code && json.code !== code) failures.push(`${what}: code ${json.code}, expected ${code}`)
    } catch {
      shaped &&= text === "" && response.status < 400 && !code
    }
    if (response.status >= 500) failures.push(`${what}: ${response.status} ${text.slice(0, 200)}`)
    else if (status === ANY) {
    } else if (status !== undefined && response.status !== status) failures.push(`${what}: status ${response.status}, expected ${status}: ${text.slice(0, 200)}`)
    else if (status === undefined && response.status < 400) failures.push(`${what}: ${response.status}, expected a 4xx`)
    if (!shaped) failures.push(`${what}: not a PostgREST error body: ${text.slice(0, 200)}`)
  }
  assert.deepEqual(failures, [])
  // The server is still up and the table still usable.
  const after = await rest("GET", "/items?select=name&order=id&limit=2")
  assert.deepEqual(await after.json(), [{ name: "first" }, { name: "second" }])
})

test("malformed auth requests get GoTrue's error shape, never a 5xx", async () => {
  const cases = [
    ["/token?grant_type=password", "{not json"],
    ["/token?grant_type=password", JSON.stringify({ email: "x".repeat(100_000), password: "p" })],
    ["/token?grant_type=password", deep("[", "1", "]", 10000)],
    ["/token?grant_type=nope", "{}"],
    ["/signup", JSON.stringify({ email: 42, password: ["no"] })],
    ["/signup", JSON.stringify({ email: "a@b.c", password: "x".repeat(3 * 1024 * 1024) })],
    ["/token?grant_type=refresh_token", JSON.stringify({ refresh_token: "\u0000".repeat(1000) })],
    // Refused by the HTTP layer before any handler: still GoTrue's shape.
    [`/user?x=${"c".repeat(100_000)}`, undefined],
  ]
  const failures = []
  for (const [path, body] of cases) {
    const response = await fetch(`${server.url}/auth/v1${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { apikey: ANON_KEY, "content-type": "application/json" },
      body,
    })
    const text = await response.text()
    let shaped = false
    try {
      const json = JSON.parse(text)
      shaped = "code" in json && "error_code" in json && "msg" in json
    } catch {}
    if (response.status < 400 || response.status >= 500 || !shaped) failures.push(`${path.slice(0, 40)} ${body?.slice(0, 40)}: ${response.status} ${text.slice(0, 200)}`)
  }
  assert.deepEqual(failures, [])
})
