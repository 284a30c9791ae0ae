//! App: the state every handler shares — the project, the store, the schema cache, the keys,
//! realtime and auth's mailer.

use std::sync::Arc;

use crate::auth::Keys;
use crate::auth::mail::Mailer;
use crate::config::Project;
use crate::realtime::Realtime;
use crate::schema::SchemaCache;
use crate::store::Store;

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    project: Project,
    store: Store,
    schema: Arc<SchemaCache>,
    keys: Keys,
    realtime: Realtime,
    auth_limits: crate::auth::limits::RateLimits,
    mailer: Mailer,
}

impl App {
    pub fn new(project: Project, store: Store, schema: SchemaCache, mailer: Mailer) -> Self {
        let keys = Keys::new(&project.config.auth);
        let auth_limits = crate::auth::limits::RateLimits::new(&project.config.auth.rate_limit);
        let schema = Arc::new(schema);
        let realtime = Realtime::start(
            store.clone(),
            schema.clone(),
            project.config.realtime.clone(),
        );
        Self {
            inner: Arc::new(AppInner {
                project,
                store,
                schema,
                keys,
                realtime,
                auth_limits,
                mailer,
            }),
        }
    }

    pub fn project(&self) -> &Project {
        &self.inner.project
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn schema(&self) -> &Arc<SchemaCache> {
        &self.inner.schema
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn realtime(&self) -> &Realtime {
        &self.inner.realtime
    }

    /// Auth's outgoing mail and the local inbox it goes to.
    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    /// Auth's request budgets per IP address.
    pub fn auth_limits(&self) -> &crate::auth::limits::RateLimits {
        &self.inner.auth_limits
    }
}
