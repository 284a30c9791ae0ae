"use client"
// The error boundary of every page: what failed to load, and a retry that loads it again.
export default function PageError({ error, reset }: { error: Error; reset: () => void }) {
  return (
    <div className="error" role="alert">
      <h2>Something went wrong loading this page.</h2>
      <p className="muted">{error.message}</p>
      <button type="button" onClick={() => reset()}>
        Try again
      </button>
    </div>
  )
}
