// Inserting a string into a bigint column must not compile.
// expect-error: Type 'string' is not assignable to type 'number'
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function query(): Promise<void> {
  await supabase.from("orders").insert({ product_id: "one", buyer_id: "0b5c", quantity: 2 })
}
