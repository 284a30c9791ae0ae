// Filtering on a column the table lacks must not compile.
// expect-error: nope
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function query(): Promise<void> {
  await supabase.from("products").select("id").eq("nope", 1)
}
