// Storage through the official supabase-js (storage-js) against the real binary: buckets,
// objects, policies on storage.objects, signed and public URLs, limits, streaming and crashes.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import crypto from "node:crypto"
import fs from "node:fs"
import path from "node:path"
import { ANON_KEY, SERVICE_KEY, copyFixture, inbox, startServer, subscribed } from "./harness.mjs"

let server, admin, ana, ben
before(async () => {
  server = await startServer("storage")
  admin = server.client(SERVICE_KEY)
  ana = await signedIn("ana@example.com")
  ben = await signedIn("ben@example.com")
})
after(async () => {
  assert.equal(await server.stop(), 0)
})

async function signedIn(email) {
  const client = server.client()
  const { data, error } = await client.auth.signUp({ email, password: "correct horse" })
  assert.equal(error, null)
  client.userId = data.user.id
  return client
}

const text = (content, type = "text/plain") => new Blob([content], { type })

/** The API error storage-js hands back: its body's statusCode and the HTTP status. */
function failure(result) {
  assert.ok(result.error, `expected an error, got ${JSON.stringify(result.data)}`)
  return { status: result.error.status, statusCode: result.error.statusCode, message: result.error.message }
}

test("buckets: create, read, list, update, empty and delete; duplicates and policies refuse", async () => {
  const created = await admin.storage.createBucket("photos", { public: false, fileSizeLimit: "1MB", allowedMimeTypes: ["image/*"] })
  assert.deepEqual(created, { data: { name: "photos" }, error: null })
  const { data: bucket } = await admin.storage.getBucket("photos")
  assert.equal(bucket.id, "photos")
  assert.equal(bucket.public, false)
  assert.equal(bucket.file_size_limit, 1_000_000)
  assert.deepEqual(bucket.allowed_mime_types, ["image/*"])

  assert.deepEqual(failure(await admin.storage.createBucket("photos")), { status: 400, statusCode: "409", message: "The resource already exists" })
  assert.equal(failure(await admin.storage.createBucket("bad/name")).statusCode, "400")
  // No insert policy on storage.buckets: users cannot create buckets; anon cannot even see them.
  assert.deepEqual(failure(await ana.storage.createBucket("mine")), { status: 400, statusCode: "403", message: "new row violates row-level security policy" })
  const { data: seen } = await ana.storage.listBuckets()
  assert.deepEqual(seen.map((b) => b.id), ["avatars", "big", "docs", "drop", "mine", "photos"])
  assert.deepEqual((await server.client().storage.listBuckets()).data, [])
  assert.equal(failure(await server.client().storage.getBucket("docs")).statusCode, "404")

  assert.deepEqual((await admin.storage.updateBucket("photos", { public: true, fileSizeLimit: null })).data, { message: "Successfully updated" })
  const { data: updated } = await admin.storage.getBucket("photos")
  assert.equal(updated.public, true)
  assert.equal(updated.file_size_limit, null)
  assert.deepEqual(updated.allowed_mime_types, ["image/*"])
  assert.equal(failure(await admin.storage.updateBucket("nope", { public: true })).statusCode, "404")

  assert.equal((await admin.storage.from("photos").upload("a.png", text("png", "image/png"))).error, null)
  assert.deepEqual(failure(await admin.storage.deleteBucket("photos")), { status: 400, statusCode: "409", message: "The bucket you tried to delete is not empty" })
  assert.deepEqual((await admin.storage.emptyBucket("photos")).data, { message: "Successfully emptied" })
  assert.deepEqual((await admin.storage.deleteBucket("photos")).data, { message: "Successfully deleted" })
  assert.equal(failure(await admin.storage.getBucket("photos")).statusCode, "404")
})

test("upload, download, info, exists, list, move, copy and remove in the user's own folder", async () => {
  const docs = ana.storage.from("docs")
  const own = `${ana.userId}`
  const uploaded = await docs.upload(`${own}/notes/todo.txt`, text("buy milk"), { cacheControl: "60" })
  assert.equal(uploaded.error, null)
  assert.equal(uploaded.data.path, `${own}/notes/todo.txt`)
  assert.equal(uploaded.data.fullPath, `docs/${own}/notes/todo.txt`)
  assert.match(uploaded.data.id, /^[0-9a-f-]{36}$/)
  // A raw body (not a Blob) with its content type.
  assert.equal((await docs.upload(`${own}/readme.txt`, Buffer.from("read me"), { contentType: "text/plain" })).error, null)

  const { data: blob } = await docs.download(`${own}/notes/todo.txt`)
  assert.equal(await blob.text(), "buy milk")
  assert.equal(blob.type, "text/plain")
  const url = `${server.url}/storage/v1/object/docs/${own}/notes/todo.txt`
  const auth = { apikey: ANON_KEY, authorization: `Bearer ${(await ana.auth.getSession()).data.session.access_token}` }
  const part = await fetch(url, { headers: { ...auth, range: "bytes=4-" } })
  assert.equal(part.status, 206)
  assert.equal(part.headers.get("content-range"), "bytes 4-7/8")
  assert.equal(await part.text(), "milk")
  const unsatisfiable = await fetch(url, { headers: { ...auth, range: "bytes=9-" } })
  assert.equal(unsatisfiable.status, 416)
  assert.equal((await unsatisfiable.json()).code, "InvalidRange")
  const cached = await fetch(url, { headers: { ...auth, "if-none-match": part.headers.get("etag") } })
  assert.equal(cached.status, 304)
  const { data: info } = await docs.info(`${own}/notes/todo.txt`)
  assert.equal(info.size, 8)
  assert.equal(info.contentType, "text/plain")
  assert.equal(info.cacheControl, "max-age=60")
  assert.equal(info.bucketId, "docs")
  assert.deepEqual(await docs.exists(`${own}/notes/todo.txt`), { data: true, error: null })
  assert.equal((await docs.exists(`${own}/missing.txt`)).data, false)

  const { data: root } = await docs.list(own)
  assert.deepEqual(root.map((entry) => [entry.name, entry.id === null]), [["notes", true], ["readme.txt", false]])
  assert.equal(root[1].metadata.size, 7)
  const { data: searched } = await docs.list(own, { search: "READ" })
  assert.deepEqual(searched.map((entry) => entry.name), ["readme.txt"])
  const { data: page } = await docs.list(own, { limit: 1, offset: 1, sortBy: { column: "name", order: "desc" } })
  assert.deepEqual(page.map((entry) => entry.name), ["notes"])

  assert.deepEqual((await docs.move(`${own}/readme.txt`, `${own}/archive/readme.txt`)).data.message, "Successfully moved")
  assert.equal((await docs.download(`${own}/readme.txt`)).error.statusCode, "404")
  assert.equal(await (await docs.download(`${own}/archive/readme.txt`)).data.text(), "read me")
  const copied = await docs.copy(`${own}/archive/readme.txt`, `${own}/copy.txt`)
  assert.equal(copied.data.path, `docs/${own}/copy.txt`)
  assert.equal(await (await docs.download(`${own}/copy.txt`)).data.text(), "read me")

  const { data: removed } = await docs.remove([`${own}/copy.txt`, `${own}/archive/readme.txt`, `${own}/never.txt`])
  assert.deepEqual(removed.map((object) => object.name).sort(), [`${own}/archive/readme.txt`, `${own}/copy.txt`])
  assert.equal((await docs.download(`${own}/copy.txt`)).error.statusCode, "404")
  assert.deepEqual((await docs.list(own)).data.map((entry) => entry.name), ["notes"])
})

test("upsert: an existing object is refused without it and replaced with it or with update()", async () => {
  const docs = ana.storage.from("docs")
  const file = `${ana.userId}/upsert.txt`
  assert.equal((await docs.upload(file, text("one"))).error, null)
  assert.deepEqual(failure(await docs.upload(file, text("two"))), { status: 400, statusCode: "409", message: "The resource already exists" })
  assert.equal(await (await docs.download(file)).data.text(), "one")
  assert.equal((await docs.upload(file, text("three"), { upsert: true })).error, null)
  assert.equal(await (await docs.download(file)).data.text(), "three")
  assert.equal((await docs.update(file, text("four"))).error, null)
  assert.equal(await (await docs.download(file)).data.text(), "four")
  // Replacing leaves one file per object on disk, not one per version.
  const { data: info } = await docs.info(file)
  const files = fs.readdirSync(path.join(server.workdir, "supabase/.solobase/storage/objects"), { recursive: true })
  assert.ok(files.some((name) => name.endsWith(info.version)))
})

test("size and MIME limits of the bucket and of the server", async () => {
  const docs = ana.storage.from("docs")
  const tooBig = await docs.upload(`${ana.userId}/big.txt`, text("x".repeat(1025)))
  assert.deepEqual(failure(tooBig), { status: 400, statusCode: "413", message: "The object exceeded the maximum allowed size" })
  assert.equal((await docs.upload(`${ana.userId}/fits.txt`, text("x".repeat(1024)))).error, null)
  const html = await docs.upload(`${ana.userId}/page.html`, text("<p>", "text/html"))
  assert.deepEqual(failure(html), { status: 400, statusCode: "415", message: "mime type text/html is not supported" })
  assert.equal((await docs.upload(`${ana.userId}/pic.png`, text("png", "image/png"))).error, null)
  assert.equal((await docs.exists(`${ana.userId}/big.txt`)).data, false)
  // Server-wide: [storage] file_size_limit = "60MiB" caps buckets without a limit.
  const huge = await admin.storage.from("big").upload("huge.bin", Buffer.alloc(61 * 1024 * 1024), { contentType: "application/octet-stream" })
  assert.equal(failure(huge).statusCode, "413")
})

test("two users are isolated by an owner policy on storage.foldername(name) and auth.uid()", async () => {
  const mine = `${ana.userId}/secret.txt`
  assert.equal((await ana.storage.from("docs").upload(mine, text("ana's"))).error, null)
  const docs = ben.storage.from("docs")
  assert.equal((await docs.download(mine)).error.statusCode, "404")
  assert.equal((await docs.info(mine)).error.statusCode, "404")
  assert.deepEqual((await docs.list(ana.userId)).data, [])
  assert.equal(failure(await docs.upload(mine, text("ben's"), { upsert: true })).statusCode, "403")
  assert.equal(failure(await docs.upload(`${ana.userId}/planted.txt`, text("ben's"))).statusCode, "403")
  assert.deepEqual((await docs.remove([mine])).data, [])
  assert.equal(failure(await docs.move(mine, `${ben.userId}/stolen.txt`)).statusCode, "404")
  assert.equal(failure(await docs.createSignedUrl(mine, 60)).statusCode, "404")
  assert.equal(await (await ana.storage.from("docs").download(mine)).data.text(), "ana's")
  // Ben's own folder works, and Ana cannot see it either.
  assert.equal((await docs.upload(`${ben.userId}/mine.txt`, text("ben's"))).error, null)
  assert.deepEqual((await ana.storage.from("docs").list(ben.userId)).data, [])
  // Avatars: anyone reads, each user writes only their own folder.
  assert.equal((await ana.storage.from("avatars").upload(`${ana.userId}/me.png`, text("png", "image/png"))).error, null)
  assert.equal(failure(await ben.storage.from("avatars").upload(`${ana.userId}/me.png`, text("x"), { upsert: true })).statusCode, "403")
  assert.equal(await (await ben.storage.from("avatars").download(`${ana.userId}/me.png`)).data.text(), "png")
})

test("deleting needs the select policies too; owner is the uploader, for owner = auth.uid() policies", async () => {
  assert.equal((await ana.storage.from("drop").upload("box.txt", text("kept"))).error, null)
  assert.deepEqual((await ana.storage.from("drop").remove(["box.txt"])).data, [])
  assert.equal(await (await admin.storage.from("drop").download("box.txt")).data.text(), "kept")

  assert.equal((await ana.storage.from("mine").upload("notes.txt", text("ana"), { metadata: { topic: "x" } })).error, null)
  const { data: info } = await ana.storage.from("mine").info("notes.txt")
  assert.deepEqual(info.metadata, { topic: "x" })
  assert.equal((await ben.storage.from("mine").info("notes.txt")).error.statusCode, "404")
  const { data: rows } = await admin.storage.from("mine").list()
  assert.deepEqual(rows.map((row) => row.name), ["notes.txt"])
})

test("anon is denied writes and private reads; public URLs need no key", async () => {
  const anon = server.client()
  assert.deepEqual(failure(await anon.storage.from("avatars").upload("someone/x.png", text("x", "image/png"))), { status: 400, statusCode: "403", message: "new row violates row-level security policy" })
  assert.equal((await anon.storage.from("docs").download(`${ana.userId}/secret.txt`)).error.statusCode, "404")
  assert.deepEqual((await anon.storage.from("docs").list(ana.userId)).data, [])

  const { data } = anon.storage.from("avatars").getPublicUrl(`${ana.userId}/me.png`)
  assert.equal(data.publicUrl, `${server.url}/storage/v1/object/public/avatars/${ana.userId}/me.png`)
  const response = await fetch(data.publicUrl)
  assert.equal(response.status, 200)
  assert.equal(await response.text(), "png")
  const download = await fetch(anon.storage.from("avatars").getPublicUrl(`${ana.userId}/me.png`, { download: "my avatar.png" }).data.publicUrl)
  assert.equal(download.headers.get("content-disposition"), "attachment; filename=my%20avatar.png; filename*=UTF-8''my%20avatar.png")
  // A private bucket has no public URLs.
  const hidden = await fetch(anon.storage.from("docs").getPublicUrl(`${ana.userId}/secret.txt`).data.publicUrl)
  assert.equal(hidden.status, 400)
  assert.deepEqual(await hidden.json(), { statusCode: "404", code: "NoSuchBucket", error: "Bucket not found", message: "Bucket not found" })
  // A bad token is refused in Storage's shape.
  const forged = await fetch(`${server.url}/storage/v1/object/docs/x`, { headers: { apikey: ANON_KEY, authorization: "Bearer not.a.jwt" } })
  assert.equal(forged.status, 400)
  assert.equal((await forged.json()).statusCode, "403")
})

test("signed download URLs work without a key until they expire; signed upload URLs upload once allowed", async () => {
  const docs = ana.storage.from("docs")
  const file = `${ana.userId}/signed.txt`
  assert.equal((await docs.upload(file, text("signed content"))).error, null)
  const { data: signed } = await docs.createSignedUrl(file, 60)
  assert.match(signed.signedUrl, new RegExp(`^${server.url}/storage/v1/object/sign/docs/${ana.userId}/signed.txt\\?token=`))
  const response = await fetch(signed.signedUrl)
  assert.equal(response.status, 200)
  assert.equal(await response.text(), "signed content")
  // The token is bound to its object.
  const other = await fetch(signed.signedUrl.replace("signed.txt", "secret.txt"))
  assert.equal((await other.json()).code, "InvalidSignature")

  const { data: batch } = await docs.createSignedUrls([file, `${ana.userId}/missing.txt`], 60)
  assert.equal(batch[0].error, null)
  assert.equal(await (await fetch(batch[0].signedUrl)).text(), "signed content")
  assert.equal(batch[1].signedUrl, null)
  assert.equal(batch[1].error, "Either the object does not exist or you do not have access to it")

  const { data: brief } = await docs.createSignedUrl(file, 1)
  await new Promise((resolve) => setTimeout(resolve, 2100))
  const expired = await fetch(brief.signedUrl)
  assert.equal(expired.status, 400)
  assert.deepEqual(await expired.json(), { statusCode: "400", code: "InvalidJWT", error: "InvalidJWT", message: "jwt expired" })

  const target = `${ana.userId}/via-signed-upload.txt`
  const { data: upload } = await docs.createSignedUploadUrl(target)
  assert.ok(upload.token)
  const done = await server.client().storage.from("docs").uploadToSignedUrl(target, upload.token, text("uploaded by link"))
  assert.equal(done.error, null)
  assert.equal(done.data.fullPath, `docs/${target}`)
  assert.equal(await (await docs.download(target)).data.text(), "uploaded by link")
  const { data: row } = await docs.info(target)
  assert.ok(row.id)
  // Signing an upload into someone else's folder is refused up front.
  assert.equal(failure(await ben.storage.from("docs").createSignedUploadUrl(`${ana.userId}/x.txt`)).statusCode, "403")
})

test("realtime and REST see storage.objects only through its policies", async () => {
  const seen = inbox()
  const { data: session } = await ben.auth.getSession()
  ben.realtime.setAuth(session.session.access_token)
  const channel = ben
    .channel("ben-objects")
    .on("postgres_changes", { event: "INSERT", schema: "storage", table: "objects" }, (payload) => seen.push(payload.new.name))
  await subscribed(channel)
  assert.equal((await ana.storage.from("docs").upload(`${ana.userId}/private.txt`, text("no"))).error, null)
  assert.equal((await ben.storage.from("docs").upload(`${ben.userId}/visible.txt`, text("yes"))).error, null)
  assert.equal(await seen.next(), `${ben.userId}/visible.txt`)
  assert.deepEqual(seen.items, [])
  await ben.removeChannel(channel)
  ben.realtime.disconnect()
  // The storage schema is not exposed over REST, as in Supabase.
  const { error } = await admin.schema("storage").from("objects").select("*")
  assert.equal(error.code, "PGRST106")
})

test("bad requests get Storage-shaped errors, never a bare status", async () => {
  const headers = { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json" }
  const cases = [
    ["GET", "/bucket?limit=abc", undefined, 400, "400"],
    ["GET", "/object/big/%FF", undefined, 400, "400"],
    ["PATCH", "/bucket/big", undefined, 404, "404"],
    ["GET", "/no/such/route", undefined, 404, "404"],
    ["POST", "/object/move", "{bad", 400, "400"],
    ["POST", "/object/move", "{}", 400, "400"],
    ["POST", "/object/list/big", JSON.stringify({ prefix: "", sortBy: { column: "size" } }), 400, "400"],
    ["POST", "/object/list/nope", JSON.stringify({ prefix: "" }), 200, undefined],
    ["DELETE", "/object/big", JSON.stringify({ prefixes: [] }), 400, "400"],
    ["POST", "/object/sign/big/x.txt", JSON.stringify({ expiresIn: 0 }), 400, "400"],
    ["GET", "/object/sign/big/x.txt?token=nope", undefined, 400, "400"],
    ["POST", "/object/big/bad%5Ekey", "x", 400, "400"],
    ["POST", "/object/nope/a.txt", "x", 400, "404"],
    ["POST", "/bucket", JSON.stringify({ name: "x", file_size_limit: "lots" }), 400, "400"],
  ]
  for (const [method, route, body, status, statusCode] of cases) {
    const response = await fetch(`${server.url}/storage/v1${route}`, { method, headers, body })
    assert.equal(response.status, status, `${method} ${route}`)
    const json = await response.json()
    if (statusCode) {
      assert.equal(json.statusCode, statusCode, `${method} ${route}`)
      assert.equal(typeof json.message, "string")
      assert.equal(typeof json.error, "string")
    }
  }
})

function peakMemoryKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(status.match(/VmHWM:\s+(\d+)/)[1])
}

test("a 50 MB upload is streamed to disk with bounded server memory and downloads intact", async () => {
  const size = 50 * 1024 * 1024
  const content = crypto.randomBytes(size)
  const before = peakMemoryKiB(server.pid)
  const bucket = admin.storage.from("big")
  const uploaded = await bucket.upload("fifty.bin", new Blob([content], { type: "application/octet-stream" }))
  assert.equal(uploaded.error, null)
  const grown = peakMemoryKiB(server.pid) - before
  assert.ok(grown < 20 * 1024, `server peak memory grew by ${grown} KiB for a 50 MB upload`)
  const response = await fetch(`${server.url}/storage/v1/object/big/fifty.bin`, { headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` } })
  assert.equal(response.headers.get("content-length"), String(size))
  const downloaded = Buffer.from(await response.arrayBuffer())
  assert.equal(crypto.createHash("sha256").update(downloaded).digest("hex"), crypto.createHash("sha256").update(content).digest("hex"))
  assert.ok(peakMemoryKiB(server.pid) - before < 20 * 1024, "downloading is streamed too")
})

test("kill -9 during an upload leaves no half object, and the restart removes the partial file", async () => {
  const workdir = copyFixture("storage")
  const crashing = await startServer("storage", workdir)
  let sent = 0
  let killed = false
  const body = new ReadableStream({
    async pull(controller) {
      if (killed) return controller.close()
      controller.enqueue(new Uint8Array(1024 * 1024))
      sent += 1
      if (sent === 8) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        process.kill(crashing.pid, "SIGKILL")
        killed = true
      }
    },
  })
  const upload = fetch(`${crashing.url}/storage/v1/object/big/partial.bin`, {
    method: "POST",
    headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/octet-stream" },
    body,
    duplex: "half",
  }).then(() => "answered", () => "failed")
  assert.equal(await crashing.exited, "SIGKILL")
  assert.equal(await upload, "failed")
  const storage = path.join(workdir, "supabase/.solobase/storage")
  assert.ok(fs.readdirSync(path.join(storage, "tmp")).length > 0, "the interrupted upload left a partial file")

  const restarted = await startServer("storage", workdir)
  try {
    const bucket = restarted.client(SERVICE_KEY).storage.from("big")
    assert.equal((await bucket.exists("partial.bin")).data, false)
    assert.deepEqual((await bucket.list()).data, [])
    assert.equal(fs.existsSync(path.join(storage, "tmp")), false)
    // And the store still works after the crash.
    assert.equal((await bucket.upload("after.bin", Buffer.from("ok"))).error, null)
    assert.equal(await (await bucket.download("after.bin")).data.text(), "ok")
  } finally {
    assert.equal(await restarted.stop(), 0)
  }
})
