// A throwaway PostgreSQL 15 cluster for tests that compare Solobase with Postgres: initdb into
// a temporary folder, served on a Unix socket only, stopped by its PID. As root the server
// runs as the `postgres` user. PG_BIN overrides where the PostgreSQL binaries are.
import { execFileSync, spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"

const bin = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin"

/** A function running a binary as the user the cluster belongs to. */
function runner() {
  if (process.getuid() !== 0) return (file, args) => execFileSync(file, args, { stdio: "pipe" })
  return (file, args) => execFileSync("runuser", ["-u", "postgres", "--", file, ...args], { stdio: "pipe" })
}

/**
 * Starts a cluster with Supabase's roles (`anon`, `authenticated`, `service_role`), an `auth`
 * schema whose `auth.uid()` reads `request.jwt.claim.sub`, `auth.users`, pgcrypto, the
 * `supabase_realtime` publication and `realtime.messages` with `realtime.topic()`, as the
 * Supabase images provide them; with `{ bare: true }`, an empty cluster (for Solobase's own
 * PostgreSQL store, which bootstraps it).
 */
export async function startPostgres({ bare = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "solobase-pg-"))
  if (process.getuid() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString())
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString())
    fs.chownSync(dir, uid, gid)
  }
  const data = path.join(dir, "data")
  const run = runner()
  run(path.join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
  run(path.join(bin, "pg_ctl"), ["-D", data, "-w", "-l", path.join(dir, "log"), "-o", `-k ${dir} -c listen_addresses='' -c fsync=off`, "start"])
  const pid = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0])
  const cluster = {
    /** The connection URL of the cluster's `postgres` database, as the superuser. */
    url: `postgres://postgres@/postgres?host=${encodeURIComponent(dir)}`,
    /**
     * Runs `sql` as the superuser, or with `role` and the JWT subject `sub` as PostgREST
     * sets them; resolves with `{ code, output }` (the SQLSTATE of an error, else null).
     */
    sql(sql, { role, sub } = {}) {
      const setup = role
        ? `select set_config('request.jwt.claim.sub', '${sub ?? ""}', false);\nset role ${role};\n`
        : ""
      const result = spawnSync(path.join(bin, "psql"), ["-h", dir, "-U", "postgres", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=sqlstate", "-f", "-"], {
        input: `${setup}${sql}`,
        encoding: "utf8",
      })
      const error = result.stderr.match(/ERROR:\s+([0-9A-Z]{5})/)
      if (!error && result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
      return { code: error ? error[1] : null, output: result.stdout.split("\n").slice(role ? 1 : 0).join("\n").trim() }
    },
    /** Runs an e2e fixture's migrations and seed as the superuser; throws on the first error. */
    applyFixture(name) {
      const folder = path.join(path.dirname(new URL(import.meta.url).pathname), "fixtures", name, "supabase")
      const files = fs.readdirSync(path.join(folder, "migrations")).sort().map((file) => path.join(folder, "migrations", file))
      for (const file of [...files, path.join(folder, "seed.sql")]) {
        const { code } = cluster.sql(fs.readFileSync(file, "utf8"))
        if (code) throw new Error(`${file}: ${code}`)
      }
    },
    /** Rows of `table` ordered by `order`, as JSON values. */
    rows(table, order) {
      const { output } = cluster.sql(`select coalesce(json_agg(t order by ${order}), '[]') from ${table} t;`)
      return JSON.parse(output)
    },
    async stop() {
      process.kill(pid, "SIGINT")
      for (;;) {
        try {
          process.kill(pid, 0)
        } catch {
          break
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
  if (bare) return cluster
  cluster.sql(`
    create extension pgcrypto;
    create role anon nologin;
    create role authenticated nologin;
    create role service_role nologin bypassrls;
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
    create table auth.users (instance_id uuid, id uuid primary key, aud text, role text, email text,
      encrypted_password text, email_confirmed_at timestamptz, raw_app_meta_data jsonb,
      raw_user_meta_data jsonb, created_at timestamptz, updated_at timestamptz);
    create function auth.uid() returns uuid language sql stable as
      $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
    create publication supabase_realtime;
    create schema realtime;
    grant usage on schema realtime to anon, authenticated;
    create table realtime.messages (id uuid primary key default gen_random_uuid(), topic text not null,
      extension text not null, payload jsonb, event text, private boolean default false,
      updated_at timestamptz not null default now(), inserted_at timestamptz not null default now());
    alter table realtime.messages enable row level security;
    create function realtime.topic() returns text language sql stable as
      $$ select nullif(current_setting('realtime.topic', true), '')::text $$;
    grant usage on schema public to anon, authenticated, service_role;
    alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
    alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
    alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
  `)
  return cluster
}
