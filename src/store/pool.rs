//! The connection pool: one writer thread owning the only read-write connection, and a set of
//! read-only WAL connections handed out to blocking tasks.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use tokio::sync::{Semaphore, oneshot};

use super::functions::{self, Session, StatementTimeouts};

/// Claims of the caller a job runs for (`None` for the server's own work).
pub type Claims = Option<Arc<Value>>;

type WriteJob = Box<dyn FnOnce(&mut Writer) + Send>;

/// Watches the writer connection: realtime uses it to capture committed changes.
///
/// `install` runs once on the writer thread, in order with the write jobs, so every job queued
/// after `Store::observe_writes` is seen. `after_write` runs after each job returns and before its
/// caller is answered; it sees the connection outside any transaction (jobs commit or roll back
/// before returning), so whatever the job's TEMP triggers recorded was committed.
pub trait WriteObserver: Send + Sync {
    fn install(&self, connection: &Connection) -> rusqlite::Result<()>;
    fn after_write(&self, connection: &Connection);
}

/// What the writer thread owns: the connection, its session and the observers.
struct Writer {
    connection: Connection,
    session: Arc<Session>,
    observers: Vec<Arc<dyn WriteObserver>>,
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<PooledConnection>>,
    readers_available: Semaphore,
    timeouts: StatementTimeouts,
}

struct PooledConnection {
    connection: Connection,
    session: Arc<Session>,
}

/// A read connection taken from the pool. Dropping it ends the job's session and returns the
/// connection and its permit, unless the store was closed meanwhile.
struct Lease {
    inner: Arc<Inner>,
    pooled: Option<PooledConnection>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(pooled) = self.pooled.take() else {
            return;
        };
        pooled.session.end();
        let mut readers = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.inner.readers_available.is_closed() {
            readers.push(pooled);
            self.inner.readers_available.add_permits(1);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database is closed")]
    Closed,
    #[error("a database job panicked")]
    Panicked,
}

impl Store {
    /// Opens (creating if needed) the database file with `readers` read-only connections.
    pub fn open(path: &Path, readers: usize) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let timeouts = StatementTimeouts::default();
        let writer = open_connection(path, false, &timeouts).map_err(open_error)?;
        let reader_connections = (0..readers.max(1))
            .map(|_| open_connection(path, true, &timeouts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(open_error)?;

        let (sender, receiver) = mpsc::channel::<WriteJob>();
        let writer_thread = std::thread::Builder::new()
            .name("solobase-writer".into())
            .spawn(move || {
                let PooledConnection {
                    connection,
                    session,
                } = writer;
                let mut writer = Writer {
                    connection,
                    session,
                    observers: Vec::new(),
                };
                for job in receiver {
                    job(&mut writer);
                }
                // Dropping the connection here checkpoints and closes the database cleanly.
            })
            .expect("spawning the writer thread");

        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(Some(sender)),
                writer_thread: Mutex::new(Some(writer_thread)),
                readers_available: Semaphore::new(reader_connections.len()),
                readers: Mutex::new(reader_connections),
                timeouts,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Bounds every later job of a caller with one of these roles (`anon`, `authenticated`, …):
    /// a statement still running when its role's time is up fails with `SQLITE_INTERRUPT`
    /// (Postgres's 57014), and its transaction rolls back.
    pub fn set_statement_timeouts(&self, timeouts: HashMap<String, Duration>) {
        *self
            .inner
            .timeouts
            .write()
            .unwrap_or_else(PoisonError::into_inner) = timeouts;
    }

    /// Runs `job` on the writer connection for `claims`. Writes are serialized in arrival order.
    pub async fn write<T, F>(&self, claims: Claims, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, response) = oneshot::channel();
        self.enqueue(Box::new(move |writer| {
            writer.session.begin(claims);
            // A job that panics loses its answer, not the writer thread: its transaction rolls
            // back as the unwind drops it, and the next job runs as usual.
            let connection = &mut writer.connection;
            let result = std::panic::catch_unwind(AssertUnwindSafe(move || job(connection)));
            writer.session.end();
            if writer.connection.is_autocommit() {
                for observer in &writer.observers {
                    observer.after_write(&writer.connection);
                }
            }
            let _ = reply.send(result);
        }))?;
        response
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(|_| StoreError::Panicked)
    }

    /// Installs `observer` on the writer connection; every write queued after this call is
    /// observed. An install that fails is logged and the observer is not added.
    pub fn observe_writes(&self, observer: Arc<dyn WriteObserver>) -> Result<(), StoreError> {
        self.enqueue(Box::new(move |writer| {
            match observer.install(&writer.connection) {
                Ok(()) => writer.observers.push(observer),
                Err(error) => tracing::error!("installing a write observer failed: {error}"),
            }
        }))
    }

    fn enqueue(&self, job: WriteJob) -> Result<(), StoreError> {
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sender = writer.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// Runs `job` on a read-only connection for `claims`; reads run in parallel.
    pub async fn read<T, F>(&self, claims: Claims, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> T + Send + 'static,
    {
        let permit = self
            .inner
            .readers_available
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .ok_or(StoreError::Closed)?;
        // From here the lease owns the slot: it goes back to the pool when the blocking task
        // ends, also when the request awaiting it was dropped (client gone) or the job panicked.
        permit.forget();
        let lease = Lease {
            inner: self.inner.clone(),
            pooled: Some(pooled),
        };
        tokio::task::spawn_blocking(move || {
            let pooled = lease.pooled.as_ref().expect("a lease holds its connection");
            pooled.session.begin(claims);
            job(&pooled.connection)
        })
        .await
        .map_err(|_| StoreError::Panicked)
    }

    /// Finishes queued writes, then closes every connection. Later calls fail with `Closed`.
    pub fn close(&self) {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = self
            .inner
            .writer_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
        self.inner.readers_available.close();
        self.inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// How many SQLite VM steps run between two checks of the statement timeout.
const TIMEOUT_CHECK_STEPS: i32 = 1000;

/// Opens one connection with the pragmas every connection needs, the stand-in functions and
/// the statement-timeout check.
fn open_connection(
    path: &Path,
    read_only: bool,
    timeouts: &StatementTimeouts,
) -> rusqlite::Result<PooledConnection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    if !read_only {
        // WAL lets readers run beside the writer; FULL sync so an acknowledged commit survives
        // a power loss, not only a crash.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
    }
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.set_prepared_statement_cache_capacity(256);
    let session = Arc::new(Session::new(timeouts.clone()));
    functions::register(&connection, session.clone())?;
    let watched = session.clone();
    connection.progress_handler(TIMEOUT_CHECK_STEPS, Some(move || watched.expired()))?;
    Ok(PooledConnection {
        connection,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn writes_are_visible_to_readers_and_jobs_see_their_own_caller() {
        let dir = tempdir();
        let store = Store::open(&dir.join("db.sqlite"), 2).unwrap();
        store
            .write(None, |connection| {
                connection.execute_batch("create table t (owner text)")
            })
            .await
            .unwrap()
            .unwrap();
        let claims = Some(Arc::new(json!({"sub": "ana"})));
        store
            .write(claims, |connection| {
                connection.execute("insert into t values (auth_uid())", [])
            })
            .await
            .unwrap()
            .unwrap();
        let owner: String = store
            .read(None, |connection| {
                connection.query_row("select owner from t", [], |row| row.get(0))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(owner, "ana");
        store.close();
        assert!(matches!(
            store.read(None, |_| ()).await,
            Err(StoreError::Closed)
        ));
    }

    #[tokio::test]
    async fn jobs_whose_caller_went_away_or_that_panicked_leave_the_store_whole() {
        let dir = tempdir();
        let store = Store::open(&dir.join("db.sqlite"), 2).unwrap();
        for _ in 0..8 {
            let slow = store.read(None, |_| std::thread::sleep(Duration::from_millis(30)));
            assert!(
                tokio::time::timeout(Duration::from_millis(2), slow)
                    .await
                    .is_err()
            );
        }
        for _ in 0..4 {
            let panicking = store.read(None, |_| panic!("a job that fails badly"));
            assert!(matches!(panicking.await, Err(StoreError::Panicked)));
        }
        let panicking = store.write(None, |_| panic!("a write that fails badly"));
        assert!(matches!(panicking.await, Err(StoreError::Panicked)));
        store.write(None, |_| ()).await.unwrap();
        let reads = (0..4).map(|_| {
            store.read(None, |connection| {
                connection.query_row("select 1", [], |row| row.get::<_, i64>(0))
            })
        });
        for result in futures_util::future::join_all(reads).await {
            assert_eq!(result.unwrap().unwrap(), 1);
        }
    }

    #[tokio::test]
    async fn a_job_past_its_roles_statement_timeout_is_interrupted() {
        let dir = tempdir();
        let store = Store::open(&dir.join("db.sqlite"), 2).unwrap();
        store.set_statement_timeouts(HashMap::from([(
            "anon".to_owned(),
            Duration::from_millis(50),
        )]));
        let endless = "with recursive c(x) as (select 1 union all select x + 1 from c) \
                       select count(*) from c";
        let anon = Some(Arc::new(json!({"role": "anon"})));
        let count =
            |connection: &Connection| connection.query_row(endless, [], |row| row.get::<_, i64>(0));
        let error = store.read(anon.clone(), count).await.unwrap().unwrap_err();
        assert_eq!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted)
        );
        let written = store
            .write(anon, move |connection| count(connection))
            .await
            .unwrap();
        assert!(written.is_err());
        let bounded = store
            .read(
                Some(Arc::new(json!({"role": "service_role"}))),
                |connection| connection.query_row("select 1", [], |row| row.get::<_, i64>(0)),
            )
            .await
            .unwrap();
        assert_eq!(bounded.unwrap(), 1);
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("solobase-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
