//! Password hashing off the async runtime, on one dedicated thread per core. Argon2id takes
//! 19 MiB for each hash, so an unbounded number at once (a burst of sign-ins, or sign-ins
//! whose clients went away) would hold that much each; here at most one runs per thread, and
//! a job whose caller has gone is skipped.

use std::sync::{LazyLock, Mutex, PoisonError, mpsc};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

static QUEUE: LazyLock<Mutex<mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = std::sync::Arc::new(Mutex::new(receiver));
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    for index in 0..threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("solobase-hashing-{index}"))
            .spawn(move || {
                loop {
                    let job = receiver
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                }
            })
            .expect("spawning a hashing thread");
    }
    Mutex::new(sender)
});

/// Runs `work` on a hashing thread; `None` if it could not run (it panicked).
pub async fn run<T, F>(work: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        if reply.is_closed() {
            return;
        }
        if let Ok(value) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            let _ = reply.send(value);
        }
    });
    QUEUE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(job)
        .ok()?;
    answer.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_and_a_panic_answers_none_without_losing_the_threads() {
        assert_eq!(run(|| 2 + 2).await, Some(4));
        assert_eq!(
            run(|| -> u8 { panic!("a hash that fails badly") }).await,
            None
        );
        let answers = futures_util::future::join_all((0..16).map(|n| run(move || n * 2))).await;
        assert_eq!(answers, (0..16).map(|n| Some(n * 2)).collect::<Vec<_>>());
    }
}
