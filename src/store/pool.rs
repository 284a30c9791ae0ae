//! The connection pool: one writer thread owning the only read-write connection, and a set of
//! read-only WAL connections handed out to blocking tasks. The writer commits in groups: the
//! grouped jobs that queue while it works run as savepoints of one transaction, and are
//! answered after the one commit (one fsync) that makes all of them durable.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit, oneshot};

use super::functions::{self, Session, StatementTimeouts};
use super::http::OwnAddresses;
use super::settings::RequestSettings;

/// Whom a job runs for: the caller's verified claims (`None` for the server's own work) and,
/// for a REST request, the request settings PostgREST gives its transaction.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub claims: Option<Arc<Value>>,
    pub request: Option<Arc<RequestSettings>>,
}

impl From<Option<Arc<Value>>> for Subject {
    fn from(claims: Option<Arc<Value>>) -> Self {
        Self {
            claims,
            request: None,
        }
    }
}

/// Work queued for the writer thread.
struct WriteJob {
    /// Runs inside the writer's group transaction; otherwise alone, outside any transaction.
    grouped: bool,
    /// Does the work and leaves the answer for its caller, to send once the work is durable.
    run: Box<dyn FnOnce(&mut Writer) -> Answer + Send>,
}

/// Answers a job's caller: `Ok` once its work is committed, or why its group's was not.
type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// The most jobs one group commit takes, to bound how long the first of them waits.
const MAX_GROUP: usize = 128;

/// Watches the writer connection: realtime uses it to capture committed changes.
///
/// `install` runs once on the writer thread, in order with the write jobs, so every job queued
/// after `Store::observe_writes` is seen. `after_write` runs after each commit (of one job, or
/// of a group) and before the callers are answered; it sees the connection outside any
/// transaction, so whatever TEMP triggers recorded was committed, in commit order — the work
/// of a job that rolled back to its savepoint left no record.
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
    /// Where the server serving this store listens (`Store::serving`).
    own_addresses: OwnAddresses,
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
        // A job stopped halfway (interrupted, panicked) leaves no transaction open behind it.
        if !pooled.connection.is_autocommit() {
            let _ = pooled.connection.execute_batch("ROLLBACK");
        }
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
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
}

impl Store {
    /// Opens (creating if needed) the database file with `readers` read-only connections.
    pub fn open(path: &Path, readers: usize) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let timeouts = StatementTimeouts::default();
        let own_addresses = OwnAddresses::default();
        let writer = open_connection(path, &timeouts, Some(&own_addresses)).map_err(open_error)?;
        let reader_connections = (0..readers.max(1))
            .map(|_| open_connection(path, &timeouts, None))
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
                let mut next = receiver.recv().ok();
                while let Some(job) = next.take() {
                    if !job.grouped {
                        writer.run_alone(job);
                    } else {
                        // What queued while the last commit was in flight commits together.
                        let mut group = vec![job];
                        while group.len() < MAX_GROUP {
                            match receiver.try_recv() {
                                Ok(job) if job.grouped => group.push(job),
                                Ok(job) => {
                                    next = Some(job);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        writer.run_group(group);
                    }
                    if next.is_none() {
                        next = receiver.recv().ok();
                    }
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
                own_addresses,
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

    /// Records that a server answers on `address` for this store: a job on the writer cannot
    /// send it a request (`store::http`), which would wait for the writer that waits for it.
    pub fn serving(&self, address: std::net::SocketAddr) {
        self.inner
            .own_addresses
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(address);
    }

    /// Runs `job` alone on the writer connection for `subject`, outside any transaction: the job
    /// manages its own (migrations, which switch pragmas between transactions). Writes are
    /// serialized in arrival order.
    pub async fn write<T, F>(&self, subject: impl Into<Subject>, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        self.submit(false, subject.into(), job).await
    }

    /// Runs `job` on the writer connection for `subject` inside the transaction it shares with
    /// the grouped jobs queued beside it. The job makes its work atomic with
    /// `Connection::savepoint` (never BEGIN or COMMIT): a job that fails rolls back to its
    /// savepoint and leaves the others' work in place. The answer comes after the one commit
    /// that makes the whole group durable (`synchronous=FULL`).
    pub async fn write_grouped<T, F>(
        &self,
        subject: impl Into<Subject>,
        job: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        self.submit(true, subject.into(), job).await
    }

    async fn submit<T, F>(&self, grouped: bool, subject: Subject, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, response) = oneshot::channel();
        self.enqueue(WriteJob {
            grouped,
            run: Box::new(move |writer| {
                writer.session.begin(subject);
                // A job that panics loses its answer, not the writer thread: its savepoint or
                // transaction rolls back as the unwind drops it, and the next job runs as usual.
                let connection = &mut writer.connection;
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| job(connection)));
                if let Err(error) = super::sequence::keep(connection, &writer.session) {
                    tracing::error!("keeping the sequences a job moved failed: {error}");
                }
                writer.session.end();
                Box::new(move |committed: Result<(), StoreError>| {
                    let answer = committed.and_then(|()| result.map_err(|_| StoreError::Panicked));
                    let _ = reply.send(answer);
                })
            }),
        })?;
        response.await.map_err(|_| StoreError::Closed)?
    }

    /// Installs `observer` on the writer connection; every write queued after this call is
    /// observed. An install that fails is logged and the observer is not added.
    pub fn observe_writes(&self, observer: Arc<dyn WriteObserver>) -> Result<(), StoreError> {
        self.enqueue(WriteJob {
            grouped: false,
            run: Box::new(move |writer| {
                match observer.install(&writer.connection) {
                    Ok(()) => writer.observers.push(observer),
                    Err(error) => tracing::error!("installing a write observer failed: {error}"),
                }
                Box::new(|_| {})
            }),
        })
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

    /// Runs `job` on a read-only connection for `subject`; reads run in parallel.
    ///
    /// Most reads take microseconds, less than handing them to another thread costs: with a
    /// connection free, `job` runs at once on the calling thread, for at most `INLINE_BUDGET`.
    /// One that outlasts it is interrupted (a read leaves nothing behind) and run again on a
    /// blocking thread, where it may take its time without holding up the async workers.
    pub async fn read<T, F>(&self, subject: impl Into<Subject>, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> T + Send + 'static,
    {
        let subject = subject.into();
        if let Ok(permit) = self.inner.readers_available.try_acquire()
            && let Some(lease) = self.lease(permit)
        {
            let pooled = lease.pooled.as_ref().expect("a lease holds its connection");
            pooled.session.begin(subject.clone());
            pooled.session.limit(INLINE_BUDGET);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| job(&pooled.connection)));
            if !pooled.session.overran() {
                return result.map_err(|_| StoreError::Panicked);
            }
        }
        let permit = self
            .inner
            .readers_available
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        // From here the lease owns the slot: it goes back to the pool when the blocking task
        // ends, also when the request awaiting it was dropped (client gone) or the job panicked.
        let lease = self.lease(permit).ok_or(StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let pooled = lease.pooled.as_ref().expect("a lease holds its connection");
            pooled.session.begin(subject);
            job(&pooled.connection)
        })
        .await
        .map_err(|_| StoreError::Panicked)
    }

    /// Takes a read connection for the holder of `permit`.
    fn lease(&self, permit: SemaphorePermit<'_>) -> Option<Lease> {
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()?;
        permit.forget();
        Some(Lease {
            inner: self.inner.clone(),
            pooled: Some(pooled),
        })
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

impl Writer {
    /// Runs a job that manages its own transaction, then shows the observers what it committed.
    fn run_alone(&mut self, job: WriteJob) {
        let answer = (job.run)(self);
        if self.connection.is_autocommit() {
            self.observe();
        }
        answer(Ok(()));
    }

    /// Runs grouped jobs in one transaction, commits it once, shows the observers what was
    /// committed, then answers every job.
    fn run_group(&mut self, group: Vec<WriteJob>) {
        let mut answers: Vec<Answer> = Vec::with_capacity(group.len());
        // Should BEGIN fail, each job's savepoint is its own transaction.
        let mut open = self.begin();
        for job in group {
            let answer = (job.run)(self);
            if open && self.connection.is_autocommit() {
                // An error that ends the whole transaction (I/O, disk full, a write statement
                // interrupted by its timeout): the work of the jobs before this one in the group
                // is gone, through no fault of theirs; this one gets its own error.
                for answer in answers.drain(..) {
                    answer(Err(StoreError::NotCommitted(
                        "the transaction was rolled back".into(),
                    )));
                }
                answer(Ok(()));
                open = self.begin();
            } else {
                answers.push(answer);
            }
        }
        let committed = if open {
            self.connection.execute_batch("COMMIT").map_err(|error| {
                let _ = self.connection.execute_batch("ROLLBACK");
                error.to_string()
            })
        } else {
            Ok(())
        };
        self.observe();
        for answer in answers {
            answer(committed.clone().map_err(StoreError::NotCommitted));
        }
    }

    fn begin(&self) -> bool {
        match self.connection.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => true,
            Err(error) => {
                tracing::error!("beginning a group transaction failed: {error}");
                false
            }
        }
    }

    fn observe(&self) {
        for observer in &self.observers {
            observer.after_write(&self.connection);
        }
    }
}

/// How long a read may hold the async worker that runs it (`Store::read`).
const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// How much of the database file each connection maps into memory.
const MMAP_SIZE: i64 = 1 << 30;

/// How many SQLite VM steps run between two checks of the statement timeout.
const TIMEOUT_CHECK_STEPS: i32 = 1000;

/// Opens one connection with the pragmas every connection needs, the stand-in functions and
/// the statement-timeout check: the writer, which knows the server's `own_addresses`, or a
/// read-only one.
fn open_connection(
    path: &Path,
    timeouts: &StatementTimeouts,
    own_addresses: Option<&OwnAddresses>,
) -> rusqlite::Result<PooledConnection> {
    let read_only = own_addresses.is_none();
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
    // Pages are read through a shared mapping of the file rather than a read() per page.
    connection.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    // A plan never depends on the values bound to it, so a cached statement is not prepared
    // again each time it runs with another caller's id (STAT4 would otherwise ask for that).
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.set_prepared_statement_cache_capacity(256);
    let session = Arc::new(match own_addresses {
        Some(addresses) => Session::writing(timeouts.clone(), addresses.clone()),
        None => Session::new(timeouts.clone()),
    });
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

    /// Records, per commit it is shown, the values inserted into `t`, as realtime's capture
    /// does: a TEMP trigger logs into a TEMP table that `after_write` drains.
    #[derive(Default)]
    struct Log(Mutex<Vec<Vec<String>>>);

    impl WriteObserver for Log {
        fn install(&self, connection: &Connection) -> rusqlite::Result<()> {
            connection.execute_batch(
                "CREATE TEMP TABLE log (v TEXT);
                 CREATE TEMP TRIGGER log_t AFTER INSERT ON main.t BEGIN INSERT INTO log VALUES (NEW.v); END;",
            )
        }

        fn after_write(&self, connection: &Connection) {
            let mut statement = connection
                .prepare("SELECT v FROM log ORDER BY rowid")
                .unwrap();
            let values = statement
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<Vec<String>, _>>()
                .unwrap();
            connection.execute("DELETE FROM log", []).unwrap();
            self.0.lock().unwrap().push(values);
        }
    }

    /// A store with `t (v text unique)` observed by a `Log` and `r`, which refuses every insert
    /// with RAISE(ROLLBACK), and a job that holds the writer
    /// until the returned sender is dropped, so that what is queued meanwhile forms one group.
    async fn held_store() -> (Store, Arc<Log>, std::sync::mpsc::Sender<()>) {
        let store = Store::open(&tempdir().join("db.sqlite"), 2).unwrap();
        store
            .write(None, |connection| {
                connection.execute_batch(
                    "create table t (v text unique);
                     create table r (v text);
                     create trigger r_refuses before insert on r begin select raise(rollback, 'refused'); end;",
                )
            })
            .await
            .unwrap()
            .unwrap();
        let log = Arc::new(Log::default());
        store.observe_writes(log.clone()).unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let holder = store.clone();
        let hold = queued(async move {
            holder
                .write_grouped(None, move |_| {
                    let _ = started.send(());
                    let _ = held.recv();
                })
                .await
        })
        .await;
        tokio::spawn(hold);
        // Only once the writer runs the holding job do later jobs queue behind its commit.
        running.await.unwrap();
        log.0.lock().unwrap().clear();
        (store, log, release)
    }

    /// `write` polled once, so that it is queued on the writer, to be awaited later.
    async fn queued<F: Future>(write: F) -> std::pin::Pin<Box<F>> {
        let mut write = Box::pin(write);
        assert!(futures_util::poll!(&mut write).is_pending());
        write
    }

    fn insert(value: &'static str) -> impl FnOnce(&mut Connection) -> rusqlite::Result<()> {
        move |connection| {
            let savepoint = connection.savepoint()?;
            savepoint.execute("insert into t values (?1)", [value])?;
            savepoint.commit()
        }
    }

    async fn values(store: &Store) -> Vec<String> {
        store
            .read(None, |connection| {
                let mut statement = connection.prepare("select v from t order by rowid")?;
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn writes_queued_during_a_commit_commit_together_and_are_answered_once_durable() {
        let (store, log, release) = held_store().await;
        let mut pending = Vec::new();
        for value in ["a", "b", "c", "d"] {
            let write = queued(store.write_grouped(None, insert(value))).await;
            pending.push(write);
        }
        drop(release);
        let mut pending = pending.into_iter();
        pending.next().unwrap().await.unwrap().unwrap();
        // Answered after the commit: a reader already sees the whole group.
        assert_eq!(values(&store).await, ["a", "b", "c", "d"]);
        for write in pending {
            write.await.unwrap().unwrap();
        }
        // Two commits: the holding job's, then one for the four writes, in queue order.
        assert_eq!(*log.0.lock().unwrap(), [vec![], vec!["a", "b", "c", "d"]]);
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_to_its_savepoint_only() {
        let (store, log, release) = held_store().await;
        let first = queued(store.write_grouped(None, insert("a"))).await;
        // Inserts, then fails on the unique key: its savepoint rolls back both statements.
        let failing = queued(store.write_grouped(None, |connection| {
            let savepoint = connection.savepoint()?;
            savepoint.execute("insert into t values ('x')", [])?;
            savepoint.execute("insert into t values ('a')", [])?;
            savepoint.commit()
        }))
        .await;
        let last = queued(store.write_grouped(None, insert("c"))).await;
        drop(release);
        first.await.unwrap().unwrap();
        let error = failing.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("UNIQUE"), "{error}");
        last.await.unwrap().unwrap();
        assert_eq!(values(&store).await, ["a", "c"]);
        assert_eq!(*log.0.lock().unwrap(), [vec![], vec!["a", "c"]]);
    }

    #[tokio::test]
    async fn a_job_that_ends_the_group_transaction_fails_the_jobs_before_it_not_after() {
        let (store, log, release) = held_store().await;
        let first = queued(store.write_grouped(None, insert("a"))).await;
        // A trigger's RAISE(ROLLBACK) ends the transaction the statement runs in.
        let ending = queued(store.write_grouped(None, |connection| {
            connection.execute("insert into r values ('x')", [])
        }))
        .await;
        let last = queued(store.write_grouped(None, insert("c"))).await;
        drop(release);
        assert!(matches!(first.await, Err(StoreError::NotCommitted(_))));
        // The job that ended it is answered with its own error.
        let error = ending.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("refused"), "{error}");
        last.await.unwrap().unwrap();
        assert_eq!(values(&store).await, ["c"]);
        assert_eq!(log.0.lock().unwrap().last().unwrap(), &["c"]);
    }

    #[tokio::test]
    async fn jobs_whose_caller_went_away_or_that_panicked_leave_the_store_whole() {
        let dir = tempdir();
        let store = Store::open(&dir.join("db.sqlite"), 2).unwrap();
        let slow_count = |connection: &Connection| {
            connection.query_row(
                "with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000) \
                 select count(*) from c",
                [],
                |row| row.get::<_, i64>(0),
            )
        };
        for _ in 0..8 {
            let slow = store.read(None, slow_count);
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
        let panicking = store.write_grouped(None, |_| panic!("a grouped write that fails badly"));
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

    #[test]
    fn a_cached_statement_keeps_its_plan_whoever_is_bound() {
        let dir = tempdir();
        let path = dir.join("db.sqlite");
        let timeouts = StatementTimeouts::default();
        let writer = open_connection(&path, &timeouts, Some(&OwnAddresses::default()))
            .unwrap()
            .connection;
        // Skewed owners and fresh statistics: what makes SQLite's STAT4 plan per bound value.
        writer
            .execute_batch(
                "create table t (id integer primary key, owner text);
                 create index t_owner on t (owner);
                 with recursive n(i) as (select 0 union all select i + 1 from n where i < 4999)
                 insert into t (owner) select case when i < 4000 then 'many' else 'u' || i end from n;
                 analyze;",
            )
            .unwrap();
        let reader = open_connection(&path, &timeouts, None).unwrap().connection;
        for owner in ["many", "u4001", "u4002", "many"] {
            let mut statement = reader
                .prepare_cached("select count(*) from t where owner = ?1")
                .unwrap();
            statement
                .query_row([owner], |row| row.get::<_, i64>(0))
                .unwrap();
            let reprepared = statement.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(reprepared, 0, "prepared again for {owner}");
        }
    }

    #[tokio::test]
    async fn a_long_read_gives_the_async_worker_back_and_still_answers_in_full() {
        let dir = tempdir();
        let store = Store::open(&dir.join("db.sqlite"), 2).unwrap();
        let long = store.read(None, |connection| {
            connection.query_row(
                "with recursive c(x) as (select 1 union all select x + 1 from c where x < 2000000) \
                 select count(*) from c",
                [],
                |row| row.get::<_, i64>(0),
            )
        });
        // The test's runtime has one thread: a tick is late by as long as the read holds it.
        let started = std::time::Instant::now();
        let tick = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            started.elapsed()
        };
        let (count, waited) = tokio::join!(long, tick);
        assert_eq!(count.unwrap().unwrap(), 2_000_000);
        assert!(waited < Duration::from_millis(50), "{waited:?}");
        assert!(started.elapsed() > waited * 2, "the read ran that long");
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
