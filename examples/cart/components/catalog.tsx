"use client"
// The catalog: each product with add/remove and quantity controls and a wishlist toggle.
import { useProducts } from "@/lib/db/products"
import { price, useCartActions } from "./cart-actions"
import { useSupabase } from "./providers"
import { Skeleton } from "./skeleton"

export function Catalog() {
  const products = useProducts(useSupabase(), { order: "id" })
  const actions = useCartActions()
  // Caught by app/error.tsx, which offers a retry.
  if (products.status === "error") throw products.error
  if (products.status === "loading") return <Skeleton rows={6} />
  return (
    <ul className="grid">
      {products.rows.map((product) => {
        const quantity = actions.quantity(product)
        const busy = actions.pending(product)
        const wished = actions.wished(product)
        return (
          <li key={product.id} className="card" data-testid={`product-${product.id}`}>
            <h2>{product.name}</h2>
            <p className="muted">{product.description}</p>
            <p className="price">{price(product.price_cents)}</p>
            <div className="row">
              {quantity === 0 ? (
                <button type="button" disabled={busy} aria-busy={busy} onClick={() => actions.add(product)}>
                  Add to cart
                </button>
              ) : (
                <>
                  <button type="button" disabled={busy} aria-busy={busy} aria-label="Decrease" onClick={() => actions.setQuantity(product, quantity - 1)}>
                    −
                  </button>
                  <span data-testid="quantity">{quantity}</span>
                  <button type="button" disabled={busy || quantity >= 99} aria-busy={busy} aria-label="Increase" onClick={() => actions.setQuantity(product, quantity + 1)}>
                    +
                  </button>
                  <button type="button" disabled={busy} aria-busy={busy} onClick={() => actions.remove(product)}>
                    Remove
                  </button>
                </>
              )}
              <button
                type="button"
                className="wish"
                aria-pressed={wished}
                aria-label={wished ? "Remove from wishlist" : "Save to wishlist"}
                disabled={actions.wishPending(product)}
                onClick={() => actions.toggleWish(product)}
              >
                {wished ? "♥" : "♡"}
              </button>
            </div>
          </li>
        )
      })}
    </ul>
  )
}
