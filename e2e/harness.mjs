// Starts the real solobase binary on a free port over a copy of a fixture project, waits for
// /auth/v1/health, and hands out supabase-js clients. One server per test file.
import { spawn } from "node:child_process"
import crypto from "node:crypto"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { createClient } from "@supabase/supabase-js"
import ws from "ws"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)

export const JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
export const ANON_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
export const SERVICE_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
export const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"

export function binary() {
  if (process.env.SOLOBASE_BIN) return process.env.SOLOBASE_BIN
  const target = process.env.CARGO_TARGET_DIR ?? path.join(root, "target")
  return path.join(target, "debug", "solobase")
}

/** Signs an HS256 JWT with `secret` (the project's by default). */
export function signJwt(claims, secret = JWT_SECRET) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`
  const signature = crypto.createHmac("sha256", secret).update(unsigned).digest("base64url")
  return `${unsigned}.${signature}`
}

/** A signed-in user's access token expiring `seconds` from now (negative: already expired). */
export function userToken(sub, seconds = 3600) {
  return signJwt({ sub, role: "authenticated", aud: "authenticated", exp: Math.floor(Date.now() / 1000) + seconds })
}

/** `client` with realtime signed in as the user `sub`. */
export function signedIn(client, sub) {
  client.realtime.setAuth(userToken(sub))
  return client
}

/** Leaves every channel of each client and closes its socket. */
export async function closeClients(...clients) {
  for (const client of clients) {
    await client.removeAllChannels()
    client.realtime.disconnect()
  }
}

/** A fresh copy of `e2e/fixtures/<fixture>` in a temporary folder. */
export function copyFixture(fixture) {
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), `solobase-${fixture}-`))
  fs.cpSync(path.join(here, "fixtures", fixture), workdir, { recursive: true })
  return workdir
}

/** Runs `solobase start` on `workdir` (with `args` added) until it exits; resolves with its exit code and output. */
export function runToExit(workdir, args = []) {
  const child = spawn(binary(), ["start", "--workdir", workdir, "--port", "0", "--inbucket-port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, output })))
}

/**
 * Starts a server over a fresh copy of `e2e/fixtures/<fixture>`, or over `workdir` when given,
 * on a free port or on `port`, with `args` added to `solobase start`'s (`--db-url …`).
 */
export async function startServer(fixture, workdir = copyFixture(fixture), port = 0, args = []) {
  const child = spawn(binary(), ["start", "--workdir", workdir, "--port", String(port), "--inbucket-port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stderr.on("data", (chunk) => (output += chunk))
  const url = await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      output += chunk
      const match = output.match(/API URL: (http:\/\/\S+)/)
      if (match) resolve(match[1])
    })
    child.on("exit", (code) => reject(new Error(`solobase exited with ${code}:\n${output}`)))
  })
  const deadline = Date.now() + 10_000
  for (;;) {
    const ready = await fetch(`${url}/auth/v1/health`).then((response) => response.ok, () => false)
    if (ready) break
    if (Date.now() > deadline) throw new Error(`solobase did not become ready:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return {
    url,
    workdir,
    /** The local inbox's address (Mailpit's API), when the project serves one. */
    get inboxUrl() {
      return output.match(/Inbucket URL: (http:\/\/\S+)/)?.[1]
    },
    /** The newest message to `address` in the local inbox, waiting up to `ms` for one newer than `after` (an ID). */
    async mail(address, { after, ms = 5000 } = {}) {
      const deadline = Date.now() + ms
      for (;;) {
        const query = encodeURIComponent(`to:${address}`)
        const { messages } = await fetch(`${this.inboxUrl}/api/v1/search?query=${query}`).then((response) => response.json())
        if (messages.length && messages[0].ID !== after) return messages[0]
        if (Date.now() > deadline) throw new Error(`no mail to ${address}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    /** What the server printed so far. */
    output: () => output,
    pid: child.pid,
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal))),
    client: (key = ANON_KEY, options = {}) =>
      createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: ws }, ...options }),
    /** Stops the server with `signal` (SIGTERM: a clean stop; SIGKILL: a crash). */
    async stop(signal = "SIGTERM") {
      const exited = new Promise((resolve) => child.on("exit", (code, killed) => resolve(code ?? killed)))
      child.kill(signal)
      return exited
    },
  }
}

/** Subscribes and resolves once the server has answered the join. */
export function subscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, error) => {
      if (status === "SUBSCRIBED") resolve(channel)
      else if (status === "CHANNEL_ERROR" || status === "TIMED_OUT") reject(error ?? new Error(status))
    })
  })
}

/** A queue of callback payloads with `next()` that waits for the next one; `items` are those not taken yet. */
export function inbox() {
  const items = []
  const waiters = []
  return {
    items,
    push(item) {
      const waiter = waiters.shift()
      if (waiter) waiter(item)
      else items.push(item)
    },
    next(ms = 5000) {
      if (items.length) return Promise.resolve(items.shift())
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("nothing arrived")), ms)
        waiters.push((item) => (clearTimeout(timer), resolve(item)))
      })
    },
  }
}
