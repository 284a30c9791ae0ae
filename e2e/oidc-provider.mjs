// A small OpenID Connect provider for the tests: discovery, an authorization endpoint that
// signs in at once as the user `login_hint` names (or refuses when it names none it knows),
// a token endpoint checking the client's credentials, the code and its redirect_uri, and
// userinfo for the access token.
import http from "node:http"
import { randomUUID } from "node:crypto"

export async function startProvider({ clientId, secret, users }) {
  const codes = new Map() // code → { user, redirectUri }
  const tokens = new Map() // access token → user
  const requests = []
  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url, issuer)
    requests.push(url.pathname)
    const json = (status, body) => {
      response.writeHead(status, { "content-type": "application/json" })
      response.end(JSON.stringify(body))
    }
    if (url.pathname === "/.well-known/openid-configuration") {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        response_types_supported: ["code"],
      })
    }
    if (url.pathname === "/authorize") {
      const redirect = new URL(url.searchParams.get("redirect_uri"))
      redirect.searchParams.set("state", url.searchParams.get("state"))
      const user = users[url.searchParams.get("login_hint")]
      if (url.searchParams.get("client_id") !== clientId || url.searchParams.get("response_type") !== "code" || !user) {
        redirect.searchParams.set("error", "access_denied")
        redirect.searchParams.set("error_description", "The user declined")
      } else {
        const code = randomUUID()
        codes.set(code, { user, redirectUri: url.searchParams.get("redirect_uri"), scope: url.searchParams.get("scope") })
        redirect.searchParams.set("code", code)
      }
      response.writeHead(302, { location: redirect.toString() })
      return response.end()
    }
    if (url.pathname === "/token" && request.method === "POST") {
      let body = ""
      for await (const chunk of request) body += chunk
      const form = new URLSearchParams(body)
      const expected = `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`
      if (request.headers.authorization !== expected) return json(401, { error: "invalid_client" })
      const grant = codes.get(form.get("code"))
      codes.delete(form.get("code"))
      if (form.get("grant_type") !== "authorization_code" || !grant || grant.redirectUri !== form.get("redirect_uri")) {
        return json(400, { error: "invalid_grant" })
      }
      const accessToken = randomUUID()
      tokens.set(accessToken, grant.user)
      return json(200, { access_token: accessToken, refresh_token: `refresh-${accessToken}`, token_type: "Bearer", expires_in: 300, scope: grant.scope })
    }
    if (url.pathname === "/userinfo") {
      const user = tokens.get((request.headers.authorization ?? "").replace(/^Bearer /, ""))
      return user ? json(200, user) : json(401, { error: "invalid_token" })
    }
    json(404, { error: "not_found" })
  })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  const issuer = `http://127.0.0.1:${server.address().port}`
  return { issuer, requests, stop: () => new Promise((resolve) => server.close(resolve)) }
}
