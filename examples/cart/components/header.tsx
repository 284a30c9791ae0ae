"use client"
// The header on every page: navigation, the cart badge (items in the cart, live) and sign-out.
import Link from "next/link"
import { useRouter } from "next/navigation"
import { useCartItems } from "@/lib/db/cart_items"
import { useSupabase } from "./providers"

export function Header({ email }: { email: string | null }) {
  const client = useSupabase()
  const router = useRouter()
  return (
    <header className="header">
      <Link href="/" className="brand">
        Solobase Shop
      </Link>
      {email && (
        <nav>
          <Link href="/">Catalog</Link>
          <Link href="/cart" aria-label="Cart">
            Cart <CartBadge />
          </Link>
          <span className="email">{email}</span>
          <button
            type="button"
            onClick={async () => {
              await client.auth.signOut()
              router.replace("/login")
              router.refresh()
            }}
          >
            Sign out
          </button>
        </nav>
      )}
    </header>
  )
}

function CartBadge() {
  const cart = useCartItems(useSupabase())
  const count = cart.rows.reduce((sum, item) => sum + item.quantity, 0)
  return (
    <span className="badge" data-testid="cart-badge" aria-label={`${count} items in the cart`}>
      {cart.status === "loading" ? "…" : count}
    </span>
  )
}
