// Crash safety: the server is killed with SIGKILL while clients insert single rows and
// multi-row batches; after each restart every acknowledged row is there and no batch is there
// in part. CRASH_ROUNDS sets the number of rounds (3 here; more on demand).
import { test } from "node:test"
import assert from "node:assert/strict"
import { SERVICE_KEY, copyFixture, startServer } from "./harness.mjs"

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 3)
const BATCH = 5

test(`nothing acknowledged is lost and no batch is partial over ${ROUNDS} kill -9 rounds`, async () => {
  const workdir = copyFixture("avail")
  const acknowledged = new Set()
  let attempted = 0
  for (let round = 0; round < ROUNDS; round++) {
    const server = await startServer("avail", workdir)
    const headers = { apikey: SERVICE_KEY, Authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json" }
    let running = true
    const writer = async (id) => {
      for (let n = 0; running; n++) {
        const names = Array.from({ length: n % 2 ? BATCH : 1 }, (_, i) => `r${round}-w${id}-n${n}-${i}/${n % 2 ? BATCH : 1}`)
        attempted += names.length
        const response = await fetch(`${server.url}/rest/v1/items`, {
          method: "POST",
          headers,
          body: JSON.stringify(names.map((name) => ({ name }))),
        }).catch(() => null)
        if (response?.status === 201) names.forEach((name) => acknowledged.add(name))
        else if (response) assert.fail(`insert answered ${response.status}: ${await response.text()}`)
      }
    }
    const writers = Array.from({ length: 8 }, (_, id) => writer(id))
    await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 400))
    assert.equal(await server.stop("SIGKILL"), "SIGKILL")
    running = false
    await Promise.all(writers)
  }
  const server = await startServer("avail", workdir)
  const response = await fetch(`${server.url}/rest/v1/items?select=name`, {
    headers: { apikey: SERVICE_KEY, Authorization: `Bearer ${SERVICE_KEY}`, Range: "0-999999" },
  })
  const stored = new Set((await response.json()).map((row) => row.name))
  assert.equal(await server.stop(), 0)
  const lost = [...acknowledged].filter((name) => !stored.has(name))
  assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.size} acknowledged rows lost`)
  // A batch is all there or not at all.
  const batches = new Map()
  for (const name of stored) {
    const [batch, size] = [name.slice(0, name.lastIndexOf("-")), Number(name.split("/")[1])]
    batches.set(batch, { size, count: (batches.get(batch)?.count ?? 0) + 1 })
  }
  const partial = [...batches].filter(([, { size, count }]) => size !== count)
  assert.deepEqual(partial, [])
  assert.ok(acknowledged.size > 0 && attempted > acknowledged.size / 2)
  console.log(`${ROUNDS} rounds: ${acknowledged.size} rows acknowledged, ${stored.size} stored, 0 lost, ${batches.size} inserts checked whole`)
})
