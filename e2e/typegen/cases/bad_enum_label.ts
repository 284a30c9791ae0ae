// A label the enum does not have must not compile.
// expect-error: Type '"lost"' is not assignable
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function query(): Promise<void> {
  await supabase.from("orders").update({ status: "lost" }).eq("id", "0b5c")
}
