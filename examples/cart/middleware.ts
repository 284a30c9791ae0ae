// Refreshes the session cookie on every page request and sends signed-out visitors of the
// shop's pages to /login (and signed-in ones away from it).
import { createServerClient } from "@supabase/ssr"
import { NextResponse, type NextRequest } from "next/server"
import { supabaseAnonKey, supabaseUrl } from "@/lib/supabase/config"

export async function middleware(request: NextRequest) {
  let response = NextResponse.next({ request })
  const supabase = createServerClient(supabaseUrl, supabaseAnonKey, {
    cookies: {
      getAll: () => request.cookies.getAll(),
      setAll: (cookies) => {
        for (const { name, value } of cookies) request.cookies.set(name, value)
        response = NextResponse.next({ request })
        for (const { name, value, options } of cookies) response.cookies.set(name, value, options)
      },
    },
  })
  const {
    data: { user },
  } = await supabase.auth.getUser()
  const onLogin = request.nextUrl.pathname === "/login"
  const redirect = (location: string) => {
    // On the host the browser asked for (nextUrl may name another); keeps refreshed cookies.
    const origin = `${request.nextUrl.protocol}//${request.headers.get("host") ?? request.nextUrl.host}`
    const moved = NextResponse.redirect(new URL(location, origin))
    for (const cookie of response.cookies.getAll()) moved.cookies.set(cookie)
    return moved
  }
  if (!user && !onLogin) return redirect(`/login?next=${encodeURIComponent(request.nextUrl.pathname)}`)
  if (user && onLogin) return redirect("/")
  return response
}

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
}
