// The root layout: the signed-in user from the request's cookies, the header and the providers.
import type { Metadata } from "next"
import type { ReactNode } from "react"
import { Header } from "@/components/header"
import { Providers } from "@/components/providers"
import { supabaseAnonKey, supabaseUrl } from "@/lib/supabase/config"
import { serverClient } from "@/lib/supabase/server"
import "./globals.css"

export const metadata: Metadata = { title: "Solobase Shop" }
export const dynamic = "force-dynamic"

export default async function RootLayout({ children }: { children: ReactNode }) {
  const supabase = await serverClient()
  const {
    data: { user },
  } = await supabase.auth.getUser()
  return (
    <html lang="en">
      <body>
        <Providers url={supabaseUrl} anonKey={supabaseAnonKey}>
          <Header email={user?.email ?? null} />
          <main>{children}</main>
        </Providers>
      </body>
    </html>
  )
}
