//! App: the state every handler shares — the project, the store, the schema cache and the keys.

use std::sync::Arc;

use crate::auth::Keys;
use crate::config::Project;
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
}

impl App {
    pub fn new(project: Project, store: Store, schema: SchemaCache) -> Self {
        let keys = Keys::new(&project.config.auth);
        Self {
            inner: Arc::new(AppInner {
                project,
                store,
                schema: Arc::new(schema),
                keys,
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
}
