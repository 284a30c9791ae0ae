// Correct queries against the fixture schema: every one must type-check.
import { createClient } from "@supabase/supabase-js"
import {
  Constants,
  type Database,
  type Enums,
  type Tables,
  type TablesInsert,
  type TablesUpdate,
} from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function queries(): Promise<void> {
  const { data: products } = await supabase
    .from("products")
    .select("id, name, price, tags, metadata")
    .eq("in_stock", true)
    .gt("price", 1)
    .order("name")
  for (const product of products ?? []) {
    const id: number = product.id
    const name: string = product.name
    const tags: string[] | null = product.tags
    console.log(id, name.toUpperCase(), tags?.length, product.metadata)
  }

  const { data: order } = await supabase
    .from("orders")
    .select("id, quantity, status, products(name)")
    .eq("status", "paid")
    .single()
  if (order) {
    const status: Enums<"order_status"> = order.status
    const quantity: number = order.quantity
    console.log(status, quantity, order.products?.name)
  }

  await supabase.from("orders").insert({ product_id: 1, buyer_id: "0b5c", quantity: 2 })
  await supabase
    .from("products")
    .insert({ name: "Pen", tags: ["office"], metadata: { color: "blue" }, mood: "happy" })
  await supabase.from("products").update({ price: 2.5, tags: null }).eq("id", 1)
  await supabase.from("profiles").upsert({ id: "0b5c", username: "ada", "Display Name": "Ada" })

  const { data: found } = await supabase.rpc("search_products", { query: "pen" })
  console.log(found?.map((product) => product.name.toUpperCase()))
  const { data: count } = await supabase.rpc("order_count")
  const total: number | null = count
  const { data: sales } = await supabase.rpc("sales_by_product")
  console.log(total, sales?.[0]?.revenue.toFixed(2))
  await supabase.rpc("cancel_order", {
    order_id: "0b5c",
    reason_for_the_cancellation_of_this_order: "changed my mind",
  })

  const { data: names } = await supabase.from("product_names").select("id, title")
  for (const row of names ?? []) {
    const title: string | null = row.title
    console.log(title)
  }

  const row: Tables<"products"> | undefined = products?.[0] as Tables<"products"> | undefined
  const insert: TablesInsert<"orders"> = { product_id: 1, buyer_id: "0b5c", quantity: 1 }
  const update: TablesUpdate<"orders"> = { status: "shipped" }
  const statuses: readonly Enums<"order_status">[] = Constants.public.Enums.order_status
  console.log(row, insert, update, statuses)
}
