// Auth email through the SMTP server of [auth.email.smtp], here a small sink this test runs:
// supabase-js signs up, the confirmation arrives over SMTP (authenticated, from the configured
// sender) and its code verifies; an unreachable server is GoTrue's 500.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import net from "node:net"
import path from "node:path"
import { ANON_KEY, SERVICE_KEY, copyFixture, startServer } from "./harness.mjs"

/** An SMTP server that accepts every message (AUTH PLAIN included) and keeps it. */
function smtpSink() {
  const messages = []
  const waiters = []
  const server = net.createServer((socket) => {
    let buffer = ""
    let message = null
    socket.write("220 sink ESMTP\r\n")
    socket.on("data", (chunk) => {
      buffer += chunk
      for (;;) {
        if (message?.data !== undefined) {
          const end = buffer.indexOf("\r\n.\r\n")
          if (end < 0) return
          message.data = buffer.slice(0, end)
          buffer = buffer.slice(end + 5)
          messages.push(message)
          waiters.splice(0).forEach((resolve) => resolve())
          message = { rcpt: [] }
          socket.write("250 OK queued\r\n")
          continue
        }
        const newline = buffer.indexOf("\r\n")
        if (newline < 0) return
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 2)
        const verb = line.split(" ")[0].toUpperCase()
        if (verb === "EHLO") socket.write("250-sink\r\n250 AUTH PLAIN\r\n")
        else if (verb === "AUTH") {
          socket.auth = Buffer.from(line.split(" ")[2], "base64").toString().split("\0").slice(1)
          socket.write("235 2.7.0 Authentication successful\r\n")
        } else if (verb === "MAIL") {
          message = { auth: socket.auth, from: line, rcpt: [] }
          socket.write("250 OK\r\n")
        } else if (verb === "RCPT") {
          message.rcpt.push(line)
          socket.write("250 OK\r\n")
        } else if (verb === "DATA") {
          message.data = ""
          socket.write("354 End data with <CR><LF>.<CR><LF>\r\n")
        } else if (verb === "QUIT") socket.end("221 Bye\r\n")
        else socket.write("250 OK\r\n")
      }
    })
  })
  return {
    messages,
    listen: () => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port))),
    close: () => new Promise((resolve) => server.close(resolve)),
    /** The next message, waiting for it. */
    async next(count) {
      while (messages.length < count) await new Promise((resolve) => waiters.push(resolve))
      return messages[count - 1]
    },
  }
}

/** A server over the auth-email fixture whose email goes to the SMTP server on `port`. */
function withSmtp(port) {
  const workdir = copyFixture("auth-email")
  const config = path.join(workdir, "supabase", "config.toml")
  const smtp = `\n[auth.email.smtp]\nhost = "127.0.0.1"\nport = ${port}\nuser = "mailer"\npass = "env(SOLOBASE_TEST_SMTP_PASS)"\nadmin_email = "no-reply@shop.example.com"\nsender_name = "The Shop"\n`
  fs.writeFileSync(config, fs.readFileSync(config, "utf8") + smtp)
  return startServer(null, workdir)
}

process.env.SOLOBASE_TEST_SMTP_PASS = "smtp secret"
let sink, server, broken
before(async () => {
  sink = smtpSink()
  server = await withSmtp(await sink.listen())
  const closed = net.createServer()
  const port = await new Promise((resolve) => closed.listen(0, "127.0.0.1", () => resolve(closed.address().port)))
  await new Promise((resolve) => closed.close(resolve))
  broken = await withSmtp(port)
})
after(async () => {
  assert.equal(await server.stop(), 0)
  assert.equal(await broken.stop(), 0)
  await sink.close()
})

test("the sign-up confirmation goes out over SMTP, authenticated, from the configured sender", async () => {
  const email = "smtp@example.com"
  const client = server.client()
  const { error } = await client.auth.signUp({ email, password: "correct horse battery" })
  assert.equal(error, null)
  const message = await sink.next(1)
  assert.deepEqual(message.auth, ["mailer", "smtp secret"])
  assert.equal(message.from, "MAIL FROM:<no-reply@shop.example.com>")
  assert.deepEqual(message.rcpt, [`RCPT TO:<${email}>`])
  assert.match(message.data, /^From: "The Shop" <no-reply@shop\.example\.com>\r$/m)
  assert.match(message.data, /^Subject: Confirm Your Signup\r$/m)
  assert.match(message.data, /^Content-Type: text\/html; charset=utf-8\r$/m)
  const code = message.data.match(/enter the code: (\d{6})/)[1]
  const verified = await client.auth.verifyOtp({ email, token: code, type: "signup" })
  assert.equal(verified.error, null)
  assert.ok(verified.data.user.email_confirmed_at)

  const { messages } = await fetch(`${server.inboxUrl}/api/v1/messages`).then((response) => response.json())
  assert.equal(messages.length, 0, "nothing goes to the local inbox")
})

test("an SMTP server that cannot be reached is GoTrue's 500 for that email", async () => {
  const { error } = await broken.client().auth.resetPasswordForEmail("nobody-yet@example.com")
  assert.equal(error, null, "an unknown address sends nothing")
  // auth-js reports any 5xx as retryable, without reading the body.
  const signUp = await broken.client().auth.signUp({ email: "unsent@example.com", password: "correct horse battery" })
  assert.equal(signUp.error.status, 500)
  assert.equal(signUp.error.name, "AuthRetryableFetchError")
  const response = await fetch(`${broken.url}/auth/v1/otp`, { method: "POST", headers: { apikey: ANON_KEY, "content-type": "application/json" }, body: JSON.stringify({ email: "unsent-otp@example.com" }) })
  assert.equal(response.status, 500)
  const body = await response.json()
  assert.equal(body.error_code, "unexpected_failure")
  assert.equal(body.msg, "Error sending confirmation email")

  // Nothing was sent, so nothing holds back a retry (max_frequency is 1s): it fails the same way, not 429.
  const again = await broken.client().auth.signUp({ email: "unsent@example.com", password: "correct horse battery" })
  assert.equal(again.error.status, 500)
  const { data } = await broken.client(SERVICE_KEY).auth.admin.listUsers()
  const unsent = data.users.find((user) => user.email === "unsent@example.com")
  assert.equal(unsent.confirmation_sent_at, undefined, "no confirmation counts as sent")
})
