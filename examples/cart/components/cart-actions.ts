"use client"
// What the catalog and the cart page do to a product's line: each change shows at once, its
// control pending until saved, a toast either way, rolled back by the store on failure.
import { useCartItems } from "@/lib/db/cart_items"
import type { ProductsRow } from "@/lib/db/products"
import { useWishlistItems } from "@/lib/db/wishlist_items"
import { useSupabase, useToast } from "./providers"

export function useCartActions() {
  const client = useSupabase()
  const toast = useToast()
  const cart = useCartItems(client)
  const wishlist = useWishlistItems(client)
  const report = (done: string) => (result: { error: Error | null }) => {
    if (result.error) toast("error", `Could not save: ${result.error.message}`)
    else toast("success", done)
  }
  const quantity = (product: ProductsRow) => cart.rows.find((item) => item.product_id === product.id)?.quantity ?? 0
  return {
    cart,
    wishlist,
    quantity,
    pending: (product: ProductsRow) => cart.isPending({ product_id: product.id }),
    wishPending: (product: ProductsRow) => wishlist.isPending({ product_id: product.id }),
    wished: (product: ProductsRow) => wishlist.rows.some((item) => item.product_id === product.id),
    add: (product: ProductsRow) =>
      cart.upsert({ product_id: product.id, quantity: 1 }).then(report(`Added ${product.name} to the cart`)),
    setQuantity: (product: ProductsRow, next: number) =>
      next < 1
        ? cart.remove({ product_id: product.id }).then(report(`Removed ${product.name} from the cart`))
        : cart.update({ product_id: product.id }, { quantity: next }).then(report(`${product.name}: ${next} in the cart`)),
    remove: (product: ProductsRow) =>
      cart.remove({ product_id: product.id }).then(report(`Removed ${product.name} from the cart`)),
    toggleWish: (product: ProductsRow) =>
      wishlist.rows.some((item) => item.product_id === product.id)
        ? wishlist.remove({ product_id: product.id }).then(report(`Removed ${product.name} from the wishlist`))
        : wishlist.insert({ product_id: product.id }).then(report(`Saved ${product.name} to the wishlist`)),
  }
}

export function price(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`
}
