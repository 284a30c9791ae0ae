//! `solobase status`: where the project's API is and its keys — the same lines `solobase start`
//! prints, from one function.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::auth::Keys;

/// Prints the API URL, database and keys (what `supabase status` shows).
pub fn print_endpoints(keys: &Keys, api_url: &str, database: &str) {
    println!("         API URL: {api_url}");
    println!("        Database: {database}");
    println!("        anon key: {}", keys.anon_key);
    println!("service_role key: {}", keys.service_role_key);
    if let (Some(publishable), Some(secret)) = (keys.publishable_key(), keys.secret_key()) {
        println!(" Publishable key: {publishable}");
        println!("      Secret key: {secret}");
    }
}

pub fn status(workdir: &Path) -> anyhow::Result<()> {
    let project = super::existing_project(workdir)?;
    let port = project.config.api.port;
    let running = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok();
    if running {
        println!("Solobase is running.\n");
    } else {
        println!("Solobase is not running (start it with `solobase start`).\n");
    }
    let keys = Keys::new(&project.config.auth);
    print_endpoints(
        &keys,
        &format!("http://127.0.0.1:{port}"),
        &match &project.config.db.url {
            Some(url) => crate::store::postgres::redacted(url),
            None => project.database_path().display().to_string(),
        },
    );
    Ok(())
}
