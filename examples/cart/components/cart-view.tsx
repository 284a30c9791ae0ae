"use client"
// The cart page: each line with its quantity controls and total, and the cart's total.
import Link from "next/link"
import { useProducts } from "@/lib/db/products"
import { price, useCartActions } from "./cart-actions"
import { useSupabase } from "./providers"
import { Skeleton } from "./skeleton"

export function CartView() {
  const products = useProducts(useSupabase(), { order: "id" })
  const actions = useCartActions()
  if (products.status === "error") throw products.error
  if (actions.cart.status === "error") throw actions.cart.error
  if (products.status === "loading" || actions.cart.status === "loading") return <Skeleton rows={3} />
  const lines = products.rows
    .map((product) => ({ product, quantity: actions.quantity(product) }))
    .filter((line) => line.quantity > 0)
  const total = lines.reduce((sum, line) => sum + line.quantity * line.product.price_cents, 0)
  if (lines.length === 0) {
    return (
      <p data-testid="cart-empty">
        Your cart is empty. <Link href="/">Browse the catalog</Link>.
      </p>
    )
  }
  return (
    <table className="cart">
      <tbody>
        {lines.map(({ product, quantity }) => {
          const busy = actions.pending(product)
          return (
            <tr key={product.id} data-testid={`line-${product.id}`}>
              <td>{product.name}</td>
              <td className="row">
                <button type="button" disabled={busy} aria-label="Decrease" onClick={() => actions.setQuantity(product, quantity - 1)}>
                  −
                </button>
                <span data-testid="quantity">{quantity}</span>
                <button type="button" disabled={busy || quantity >= 99} aria-label="Increase" onClick={() => actions.setQuantity(product, quantity + 1)}>
                  +
                </button>
              </td>
              <td className="price">{price(quantity * product.price_cents)}</td>
            </tr>
          )
        })}
      </tbody>
      <tfoot>
        <tr>
          <th colSpan={2}>Total</th>
          <th className="price" data-testid="cart-total">
            {price(total)}
          </th>
        </tr>
      </tfoot>
    </table>
  )
}
