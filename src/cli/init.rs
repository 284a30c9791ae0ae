//! `solobase init`: a starter `supabase/` folder — config.toml as `supabase init` writes it
//! (trimmed to the keys Solobase reads and the common ones), `migrations/`, `seed.sql` and a
//! `.gitignore` for the local data.

use std::path::Path;

use anyhow::Context;

pub fn init(workdir: &Path) -> anyhow::Result<()> {
    let supabase = workdir.join("supabase");
    if supabase.join("config.toml").exists() {
        anyhow::bail!(
            "{} already exists: this folder is already a Supabase project (nothing was changed)",
            supabase.join("config.toml").display()
        );
    }
    let project_id = std::path::absolute(workdir)
        .ok()
        .and_then(|dir| {
            dir.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "solobase".into());
    std::fs::create_dir_all(supabase.join("migrations"))
        .with_context(|| format!("creating {}", supabase.join("migrations").display()))?;
    write_new(&supabase.join("config.toml"), &config_toml(&project_id))?;
    write_new(&supabase.join("seed.sql"), SEED_SQL)?;
    write_new(&supabase.join(".gitignore"), GITIGNORE)?;
    println!("Finished solobase init in {}.", supabase.display());
    println!("Create a migration with `solobase migration new NAME`, then `solobase start`.");
    Ok(())
}

/// Writes `text` to a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

const SEED_SQL: &str =
    "-- Rows inserted after the migrations by `solobase db reset` and on a fresh database.\n";

const GITIGNORE: &str = "# Solobase's local data\n.solobase\n\n# Supabase\n.branches\n.temp\n\n# dotenvx\n.env.keys\n.env.local\n.env.*.local\n";

pub(crate) fn config_toml(project_id: &str) -> String {
    format!(
        r#"# For detailed configuration reference documentation, visit:
# https://supabase.com/docs/guides/local-development/cli/config
# A string used to distinguish different Supabase projects on the same host. Defaults to the
# working directory name when running `supabase init`.
project_id = {project_id:?}

[api]
enabled = true
# Port to use for the API URL.
port = 54321
# Schemas to expose in your API. Tables, views and stored procedures in this schema will get API
# endpoints. `public` and `graphql_public` schemas are included by default.
schemas = ["public", "graphql_public"]
# Extra schemas to add to the search_path of every request.
extra_search_path = ["public", "extensions"]
# The maximum number of rows returns from a view, table, or stored procedure. Limits payload size
# for accidental or malicious requests.
max_rows = 1000

[db]
# Port to use for the local database URL.
port = 54322
# The database major version to use. This has to be the same as your remote database's.
major_version = 17

[db.seed]
# If enabled, seeds the database after migrations during a db reset.
enabled = true
# Specifies an ordered list of seed files to load during db reset.
sql_paths = ["./seed.sql"]

[realtime]
enabled = true

[auth]
enabled = true
# The base URL of your website. Used as an allow-list for redirects and for constructing URLs used
# in emails.
site_url = "http://127.0.0.1:3000"
# A list of *exact* URLs that auth providers are permitted to redirect to post authentication.
additional_redirect_urls = ["https://127.0.0.1:3000"]
# How long tokens are valid for, in seconds. Defaults to 3600 (1 hour), maximum 604,800 (1 week).
jwt_expiry = 3600
# If disabled, the refresh token will never expire.
enable_refresh_token_rotation = true
# Allows refresh tokens to be reused after expiry, up to the specified interval in seconds.
# Requires enable_refresh_token_rotation = true.
refresh_token_reuse_interval = 10
# Allow/disallow new user signups to your project.
enable_signup = true
# Allow/disallow anonymous sign-ins to your project.
enable_anonymous_sign_ins = false
# Passwords shorter than this value will be rejected as weak. Minimum 6, recommended 8 or more.
minimum_password_length = 6

[auth.rate_limit]
# Number of anonymous sign-ins that can be made per hour per IP address.
anonymous_users = 30
# Number of sessions that can be refreshed in a 5 minute interval per IP address.
token_refresh = 150
# Number of sign up and sign-in requests that can be made in a 5 minute interval per IP address
# (excludes anonymous users).
sign_in_sign_ups = 30
# Number of OTP / Magic link verifications that can be made in a 5 minute interval per IP address.
token_verifications = 30

[auth.email]
# Allow/disallow new user signups via email to your project.
enable_signup = true
# If enabled, a user will be required to confirm any email change on both the old, and new email
# addresses. If disabled, only the new email is required to confirm.
double_confirm_changes = true
# If enabled, users need to confirm their email address before signing in.
enable_confirmations = false
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_JWT_SECRET, DEFAULT_PORT};

    #[test]
    fn the_starter_config_parses_to_solobase_defaults() {
        let config: Config =
            crate::config::parse(&config_toml("demo"), Path::new("config.toml")).unwrap();
        let defaults = Config::default();
        assert_eq!(config.project_id.as_deref(), Some("demo"));
        assert_eq!(config.api.port, DEFAULT_PORT);
        assert_eq!(config.api.max_rows, defaults.api.max_rows);
        assert_eq!(config.auth.site_url, defaults.auth.site_url);
        assert_eq!(config.auth.jwt_expiry, defaults.auth.jwt_expiry);
        assert_eq!(config.auth.jwt_secret, DEFAULT_JWT_SECRET);
        assert_eq!(config.auth.enable_signup, defaults.auth.enable_signup);
        assert_eq!(
            config.auth.email.enable_confirmations,
            defaults.auth.email.enable_confirmations
        );
        let (limits, default_limits) = (&config.auth.rate_limit, &defaults.auth.rate_limit);
        assert_eq!(limits.sign_in_sign_ups, default_limits.sign_in_sign_ups);
        assert_eq!(limits.anonymous_users, default_limits.anonymous_users);
        assert_eq!(limits.token_refresh, default_limits.token_refresh);
        assert_eq!(
            limits.token_verifications,
            default_limits.token_verifications
        );
    }
}
