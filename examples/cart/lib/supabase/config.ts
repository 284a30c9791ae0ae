// Where the API is: `solobase start`'s defaults, or SUPABASE_URL / SUPABASE_ANON_KEY read at run
// time by the server, which hands them to the browser (so one build runs against any port).
export const supabaseUrl = process.env.SUPABASE_URL ?? "http://127.0.0.1:54321"
export const supabaseAnonKey =
  process.env.SUPABASE_ANON_KEY ??
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
