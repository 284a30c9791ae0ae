"use client"
// Sign in or sign up with email and password; then back to the page that sent the visitor here.
import { useRouter, useSearchParams } from "next/navigation"
import { Suspense, useState, type FormEvent } from "react"
import { useSupabase } from "@/components/providers"

function LoginForm() {
  const client = useSupabase()
  const router = useRouter()
  const next = useSearchParams().get("next") ?? "/"
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null
    const credentials = { email: String(form.get("email")), password: String(form.get("password")) }
    setBusy(true)
    setError(null)
    const { error } =
      submitter?.value === "sign-up"
        ? await client.auth.signUp(credentials)
        : await client.auth.signInWithPassword(credentials)
    setBusy(false)
    if (error) {
      setError(error.message)
      return
    }
    router.replace(next.startsWith("/") ? next : "/")
    router.refresh()
  }

  return (
    <form className="login" onSubmit={submit}>
      <h1>Sign in</h1>
      <label>
        Email <input name="email" type="email" autoComplete="email" required />
      </label>
      <label>
        Password <input name="password" type="password" autoComplete="current-password" minLength={8} required />
      </label>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <button type="submit" value="sign-in" disabled={busy}>
          Sign in
        </button>
        <button type="submit" value="sign-up" disabled={busy}>
          Sign up
        </button>
      </div>
    </form>
  )
}

export default function LoginPage() {
  return (
    <Suspense>
      <LoginForm />
    </Suspense>
  )
}
