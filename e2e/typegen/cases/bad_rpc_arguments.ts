// Calling a function without its required argument must not compile.
// expect-error: Property 'query' is missing
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function query(): Promise<void> {
  await supabase.rpc("search_products", { max_price: 10 })
}
