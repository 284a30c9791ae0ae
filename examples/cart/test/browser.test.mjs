// The cart in a real browser: Debian's chromium driven by playwright-core against `next start`
// and the real solobase binary. Signs up, selects and deselects products, watches the badge and
// totals, a second tab following live, a reload, a second user who sees and can read nothing of
// the first's, and the server stopped mid-action (error toast, rollback). Screenshots of the
// key screens go to test-artifacts/. Run with `node --test test/` in examples/cart after
// `cargo build` and `npm ci`.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { execFileSync, spawn } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { startServer, ANON_KEY } from "../../../e2e/harness.mjs"

const app = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const artifacts = path.join(app, "test-artifacts")
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium"
const PASSWORD = "correct-horse-battery"

let server
let next
let browser
let base

/** The newest modification time under `entry`, for deciding whether the build is stale. */
function newest(entry) {
  const stat = fs.statSync(entry)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...fs.readdirSync(entry).map((name) => newest(path.join(entry, name))))
}

/** Builds the app with `next build` unless the last build is newer than every source file. */
function build() {
  const sources = ["app", "components", "lib", "middleware.ts", "next.config.mjs", "package-lock.json"]
  const built = path.join(app, ".next", "BUILD_ID")
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs > Math.max(...sources.map((s) => newest(path.join(app, s))))) return
  const started = Date.now()
  execFileSync(process.execPath, [path.join(app, "node_modules", "next", "dist", "bin", "next"), "build"], {
    cwd: app,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  })
  console.log(`# next build took ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
    probe.on("error", reject)
  })
}

/** `next start` on a free port against `apiUrl`; resolves once it serves the login page. */
async function startNext(apiUrl) {
  const port = await freePort()
  const child = spawn(process.execPath, [path.join(app, "node_modules", "next", "dist", "bin", "next"), "start", "-p", String(port), "-H", "localhost"], {
    cwd: app,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", SUPABASE_URL: apiUrl, SUPABASE_ANON_KEY: ANON_KEY },
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const url = `http://localhost:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    const ready = await fetch(`${url}/login`).then((response) => response.ok, () => false)
    if (ready) break
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`next start did not come up:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { url, child, output: () => output }
}

/** Waits until `locator`'s text is `expected`, failing with the last text seen. */
async function hasText(locator, expected, what, ms = 10_000) {
  const deadline = Date.now() + ms
  let seen
  for (;;) {
    seen = (await locator.textContent({ timeout: ms }).catch(() => null))?.trim()
    if (seen === expected) return
    if (Date.now() > deadline) {
      await shot(locator.page(), `failed-${what.replace(/\W+/g, "-")}`).catch(() => {})
      assert.fail(`${what}: expected ${JSON.stringify(expected)}, saw ${JSON.stringify(seen)} on ${locator.page().url()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true })
}

/** Signs up on the login page the app redirected to, landing on `landing`. */
async function signUp(page, email, landing) {
  await page.getByLabel("Email").fill(email)
  await page.getByLabel("Password").fill(PASSWORD)
  await page.getByRole("button", { name: "Sign up" }).click()
  await page.waitForURL((url) => url.pathname === landing)
}

const product = (page, id) => page.getByTestId(`product-${id}`)
const badge = (page) => page.getByTestId("cart-badge")

before(async () => {
  fs.mkdirSync(artifacts, { recursive: true })
  build()
  server = await startServer(null, copyProject())
  next = await startNext(server.url)
  base = next.url
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] })
})

/** A fresh copy of the example's `supabase/` folder (migrations, seed, config). */
function copyProject() {
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "solobase-cart-"))
  fs.cpSync(path.join(app, "supabase"), path.join(workdir, "supabase"), {
    recursive: true,
    filter: (source) => !source.includes(".solobase"),
  })
  return workdir
}

after(async () => {
  await browser?.close()
  next?.child.kill("SIGTERM")
  if (server) {
    try {
      process.kill(server.pid, "SIGCONT")
    } catch {}
    await Promise.race([server.stop("SIGKILL"), server.exited])
  }
})

test("a shopper's cart: saved at once, live across tabs, kept over reloads, private, and rolled back when the server goes away", async () => {
  const stamp = Date.now()
  const alice = `alice-${stamp}@example.com`
  const bob = `bob-${stamp}@example.com`
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } })
  const page = await context.newPage()

  // A protected page sends a signed-out visitor to sign in, then back.
  await page.goto(`${base}/`)
  await page.waitForURL((url) => url.pathname === "/login")
  await shot(page, "01-sign-in")
  await signUp(page, alice, "/")
  await product(page, 1).waitFor()
  await hasText(badge(page), "0", "a new user's badge")
  await shot(page, "02-catalog")

  // Select and deselect products; the badge counts every item.
  await product(page, 1).getByRole("button", { name: "Add to cart" }).click()
  await hasText(badge(page), "1", "after adding the pan")
  await page.getByTestId("toast-success").first().waitFor()
  await product(page, 3).getByRole("button", { name: "Add to cart" }).click()
  await hasText(badge(page), "2", "after adding the watering can")
  await product(page, 1).getByRole("button", { name: "Increase" }).click()
  await hasText(product(page, 1).getByTestId("quantity"), "2", "the pan's quantity")
  await hasText(badge(page), "3", "after a second pan")
  await product(page, 3).getByRole("button", { name: "Remove" }).click()
  await hasText(badge(page), "2", "after removing the watering can")
  await product(page, 3).getByRole("button", { name: "Add to cart" }).waitFor()
  await product(page, 4).getByRole("button", { name: "Save to wishlist" }).click()
  await product(page, 4).getByRole("button", { name: "Remove from wishlist" }).waitFor()
  await shot(page, "03-catalog-with-cart")

  // A second tab on the cart page follows the first one live.
  const cartTab = await context.newPage()
  await cartTab.goto(`${base}/cart`)
  await hasText(cartTab.getByTestId("cart-total"), "$69.00", "two pans")
  await product(page, 2).getByRole("button", { name: "Add to cart" }).click()
  await hasText(cartTab.getByTestId("cart-total"), "$128.00", "the second tab's total after the knife")
  await hasText(badge(cartTab), "3", "the second tab's badge")
  await cartTab.getByTestId("line-1").getByRole("button", { name: "Decrease" }).click()
  await hasText(cartTab.getByTestId("cart-total"), "$93.50", "one pan and the knife")
  await hasText(product(page, 1).getByTestId("quantity"), "1", "the first tab's pan quantity")
  await hasText(badge(page), "2", "the first tab's badge")
  await shot(cartTab, "04-cart-second-tab")

  // A reload shows exactly what was saved.
  await page.reload()
  await hasText(badge(page), "2", "the badge after a reload")
  await hasText(product(page, 1).getByTestId("quantity"), "1", "the pan after a reload")
  await hasText(product(page, 2).getByTestId("quantity"), "1", "the knife after a reload")
  await product(page, 4).getByRole("button", { name: "Remove from wishlist" }).waitFor()
  await cartTab.reload()
  await hasText(cartTab.getByTestId("cart-total"), "$93.50", "the cart page after a reload")
  await cartTab.close()

  // Signing out ends access to the shop's pages.
  await page.getByRole("button", { name: "Sign out" }).click()
  await page.waitForURL((url) => url.pathname === "/login")
  await page.goto(`${base}/cart`)
  await page.waitForURL((url) => url.pathname === "/login")

  // A second user sees an empty cart, and cannot read the first user's rows over REST either.
  await signUp(page, bob, "/cart")
  await page.getByTestId("cart-empty").waitFor()
  await hasText(badge(page), "0", "the second user's badge")
  await shot(page, "05-second-user-empty-cart")
  const signedIn = async (email) => {
    const client = server.client(ANON_KEY)
    const { data, error } = await client.auth.signInWithPassword({ email, password: PASSWORD })
    assert.equal(error, null)
    return { client, uid: data.user.id }
  }
  const a = await signedIn(alice)
  const b = await signedIn(bob)
  const own = await a.client.from("cart_items").select("product_id, quantity").order("product_id")
  assert.deepEqual(own.data, [{ product_id: 1, quantity: 1 }, { product_id: 2, quantity: 1 }])
  const peek = await b.client.from("cart_items").select("*").eq("user_id", a.uid)
  assert.deepEqual(peek, { ...peek, error: null, data: [] })
  const wishes = await b.client.from("wishlist_items").select("*")
  assert.deepEqual(wishes.data, [])
  const forged = await b.client.from("cart_items").insert({ user_id: a.uid, product_id: 5 })
  assert.equal(forged.error?.code, "42501", "writing into another user's cart is refused")

  // The server stops while a change is in flight: the change shows and is pending, then the
  // error is toasted and the cart rolls back.
  await page.goto(`${base}/`)
  await product(page, 5).getByRole("button", { name: "Add to cart" }).click()
  await hasText(badge(page), "1", "the second user's first item")
  await page.getByTestId("toast-success").first().waitFor()
  process.kill(server.pid, "SIGSTOP")
  const add = product(page, 6).getByRole("button", { name: "Add to cart" })
  await add.click()
  await hasText(badge(page), "2", "the optimistic badge while the server is frozen")
  const increase = product(page, 6).getByRole("button", { name: "Increase" })
  assert.equal(await increase.isDisabled(), true, "the control is disabled while its change is pending")
  await shot(page, "06-pending-while-server-frozen")
  await server.stop("SIGKILL")
  await page.getByTestId("toast-error").waitFor({ timeout: 15_000 })
  await hasText(badge(page), "1", "the badge rolled back")
  await product(page, 6).getByRole("button", { name: "Add to cart" }).waitFor()
  assert.equal(await add.isDisabled(), false)
  await shot(page, "07-error-toast-and-rollback")
  await context.close()
})
