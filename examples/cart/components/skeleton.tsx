// Placeholder blocks while data loads.
export function Skeleton({ rows }: { rows: number }) {
  return (
    <ul className="grid" aria-busy="true" aria-label="Loading" data-testid="skeleton">
      {Array.from({ length: rows }, (_, index) => (
        <li key={index} className="card skeleton" />
      ))}
    </ul>
  )
}
