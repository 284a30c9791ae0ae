// Using a column the select names but the table lacks must not compile.
// expect-error: nope
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function query(): Promise<number> {
  const { data } = await supabase.from("products").select("id, nope").single()
  return data!.id
}
