//! A Solobase server for the integration tests: a fresh project holding one migration, migrated
//! and served on a free port, removed when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;

use solobase::app::App;
use solobase::config::Project;
use solobase::store::Store;

pub struct TestServer {
    pub app: App,
    pub address: SocketAddr,
    pub dir: PathBuf,
}

impl TestServer {
    /// A project (its folder named after `name`) with `migration` and `config` as its
    /// config.toml, served on a free port.
    pub async fn launch(name: &str, migration: &str, config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("solobase-{name}-{}", uuid::Uuid::new_v4()));
        let migrations = dir.join("supabase/migrations");
        std::fs::create_dir_all(&migrations).unwrap();
        std::fs::write(migrations.join("20240101000000_init.sql"), migration).unwrap();
        std::fs::write(dir.join("supabase/config.toml"), config).unwrap();
        let project = Project::load(&dir).unwrap();
        std::fs::create_dir_all(project.data_dir()).unwrap();
        let store = Store::open(&project.database_path(), 2).unwrap();
        let found = solobase::migrate::discover(&project.migrations_dir()).unwrap();
        let schema = store
            .write(None, move |connection| {
                solobase::migrate::apply_pending(connection, &found, None).unwrap();
                solobase::migrate::load_schema(connection).unwrap()
            })
            .await
            .unwrap();
        let mailer = solobase::auth::mail::Mailer::new(&project, Default::default()).unwrap();
        let app = App::new(project, store, schema, mailer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = app.clone();
        tokio::spawn(async move {
            solobase::server::serve(listener, served, std::future::pending()).await
        });
        Self { app, address, dir }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.app.store().close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
