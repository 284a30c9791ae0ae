// The server's client: the session from the request's cookies (@supabase/ssr).
import { createServerClient } from "@supabase/ssr"
import { cookies } from "next/headers"
import type { Database } from "@/lib/db/database"
import { supabaseAnonKey, supabaseUrl } from "./config"

export async function serverClient() {
  const store = await cookies()
  return createServerClient<Database>(supabaseUrl, supabaseAnonKey, {
    cookies: {
      getAll: () => store.getAll(),
      setAll: (cookies) => {
        // A server component cannot set cookies; the middleware refreshes them instead.
        try {
          for (const { name, value, options } of cookies) store.set(name, value, options)
        } catch {}
      },
    },
  })
}
