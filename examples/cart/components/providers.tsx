"use client"
// The browser's Supabase client (its session in cookies, shared with the server) and the toasts,
// for every client component below the root layout.
import { createBrowserClient } from "@supabase/ssr"
import type { SupabaseClient } from "@supabase/supabase-js"
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react"
import type { Database } from "@/lib/db/database"

const SupabaseContext = createContext<SupabaseClient<Database> | null>(null)

type Toast = { id: number; kind: "success" | "error"; text: string }
const ToastContext = createContext<(kind: Toast["kind"], text: string) => void>(() => {})

export function Providers({ url, anonKey, children }: { url: string; anonKey: string; children: ReactNode }) {
  const [client] = useState(() => createBrowserClient<Database>(url, anonKey))
  const [toasts, setToasts] = useState<Toast[]>([])
  const next = useRef(0)
  const toast = useCallback((kind: Toast["kind"], text: string) => {
    const id = next.current++
    setToasts((shown) => [...shown, { id, kind, text }])
    setTimeout(() => setToasts((shown) => shown.filter((other) => other.id !== id)), 4000)
  }, [])
  return (
    <SupabaseContext.Provider value={client}>
      <ToastContext.Provider value={toast}>
        {children}
        <div className="toasts" role="status" aria-live="polite">
          {toasts.map((shown) => (
            <p key={shown.id} className={`toast toast-${shown.kind}`} data-testid={`toast-${shown.kind}`}>
              {shown.text}
            </p>
          ))}
        </div>
      </ToastContext.Provider>
    </SupabaseContext.Provider>
  )
}

export function useSupabase(): SupabaseClient<Database> {
  const client = useContext(SupabaseContext)
  if (!client) throw new Error("useSupabase outside <Providers>")
  return client
}

export function useToast() {
  return useContext(ToastContext)
}
