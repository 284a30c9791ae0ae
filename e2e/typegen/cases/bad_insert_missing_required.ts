// Leaving out a required column (`quantity` has no default and is not null) must not compile.
// expect-error: Property 'quantity' is missing
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function query(): Promise<void> {
  await supabase.from("orders").insert({ product_id: 1, buyer_id: "0b5c" })
}
