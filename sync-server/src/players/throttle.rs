//! Password checks under load: argon2id hashes (each takes 19 MiB and tens of
//! milliseconds of a core) run on a fixed set of hashing threads with a bounded queue in
//! front of them, and back-off per username and per client address after failed attempts.
//!
//! Dedicated threads rather than the runtime's blocking pool: the allocator keeps a freed
//! 19 MiB block in the arena of the thread that used it, so hashes spread over the blocking
//! pool's many threads grew the process by 19 MiB per thread (256 MiB under a login flood,
//! measured); a fixed set of threads bounds it at 19 MiB each.
//!
//! Back-off: the first [`AuthSettings::free_failures`] failures cost nothing; each one
//! after that blocks the username (or the address, which gets four times as many free
//! failures, since players share addresses) for 1 s, 2 s, 4 s, ... up to
//! [`AuthSettings::max_backoff_secs`]. While blocked, attempts are answered 429 with
//! `Retry-After` without hashing anything. A correct password after the block works and
//! clears the username's record. Records are forgotten once idle for the longest back-off.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::AuthSettings;
use crate::error::ApiError;

/// Most usernames and addresses remembered at once (about 100 bytes each).
const MAX_RECORDS: usize = 200_000;

/// The password-check gate shared by login, sign-up and link.
pub struct LoginThrottle {
    jobs: std::sync::mpsc::SyncSender<HashJob>,
    failures: Mutex<HashMap<String, Failures>>,
    free_failures: u32,
    max_backoff: Duration,
}

type HashJob = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Instant,
}

impl LoginThrottle {
    /// A gate with the settings' concurrency, queue and back-off; starts the hashing
    /// threads (`argon2-N`), which end when the gate is dropped.
    pub fn new(settings: &AuthSettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let concurrency = settings
            .hashing_concurrency
            .unwrap_or((cores / 2).max(1))
            .max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(settings.hashing_queue);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            jobs,
            failures: Mutex::new(HashMap::new()),
            free_failures: settings.free_failures,
            max_backoff: Duration::from_secs(settings.max_backoff_secs.max(1)),
        }
    }

    fn keys(username: &str, address: &str) -> [(String, u32); 2] {
        [
            (format!("u:{}", username.to_lowercase()), 1),
            (format!("a:{address}"), 4),
        ]
    }

    /// Refuses an attempt for `username` from `address` (an address key) while either is
    /// backing off.
    ///
    /// # Errors
    /// [`ApiError::TooManyRequests`] with the time left.
    pub fn check(&self, username: &str, address: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        for (key, _) in Self::keys(username, address) {
            if let Some(f) = failures.get(&key)
                && f.blocked_until > now
            {
                let wait = f.blocked_until - now;
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let whom = if key.starts_with("u:") {
                    "this username"
                } else {
                    "this address"
                };
                return Err(ApiError::TooManyRequests {
                    message: format!(
                        "too many failed sign-ins for {whom}; retry in {} s",
                        secs.max(1)
                    ),
                    retry_after_secs: secs,
                });
            }
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, address: &str) {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_RECORDS {
            let idle = self.max_backoff;
            failures.retain(|_, f| now.duration_since(f.last) < idle);
            if failures.len() >= MAX_RECORDS {
                tracing::warn!(
                    records = failures.len(),
                    "login back-off table full; forgetting it"
                );
                failures.clear();
            }
        }
        for (key, factor) in Self::keys(username, address) {
            let f = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: now,
            });
            if now.duration_since(f.last) >= self.max_backoff && f.blocked_until <= now {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
            let free = self.free_failures.saturating_mul(factor);
            if f.count > free {
                let doublings = (f.count - free - 1).min(30);
                let backoff = Duration::from_secs(1u64 << doublings).min(self.max_backoff);
                f.blocked_until = now + backoff;
            }
        }
    }

    /// Records a successful attempt: the username's failures are forgotten (the address's
    /// are not, so one good account does not reset guessing at others).
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&format!("u:{}", username.to_lowercase()));
        }
    }

    /// Runs `hash` (an argon2id hash or verification) on a hashing thread. At most the
    /// configured number run at once; when the queue in front of them is full the attempt
    /// is refused at once.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] (503, `Retry-After: 1`) when the queue is full;
    /// [`ApiError::Internal`] when the hashing threads are gone or the hash panicked.
    pub async fn hash<T: Send + 'static>(
        &self,
        hash: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = reply.send(hash());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                return Err(ApiError::Overloaded {
                    message: "too many sign-ins in progress; retry shortly".into(),
                    retry_after_secs: 1,
                });
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "the password hashing threads have stopped"
                )));
            }
        }
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a password hash failed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(free: u32) -> LoginThrottle {
        LoginThrottle::new(&AuthSettings {
            free_failures: free,
            max_backoff_secs: 4,
            hashing_concurrency: Some(1),
            hashing_queue: 2,
            ..AuthSettings::default()
        })
    }

    #[test]
    fn back_off_starts_after_the_free_failures_and_grows() {
        let t = throttle(2);
        for _ in 0..2 {
            t.check("alice", "192.0.2.1").unwrap();
            t.failed("alice", "192.0.2.1");
        }
        // Third failure: blocked 1 s.
        t.check("alice", "192.0.2.1").unwrap();
        t.failed("alice", "192.0.2.1");
        let Err(ApiError::TooManyRequests {
            retry_after_secs, ..
        }) = t.check("alice", "192.0.2.9")
        else {
            panic!("the username is backing off from any address");
        };
        assert_eq!(retry_after_secs, 1);
        // Another username from the same address is still free (the address has 8).
        t.check("bob", "192.0.2.1").unwrap();
        std::thread::sleep(Duration::from_millis(1_050));
        t.check("alice", "192.0.2.1").unwrap();
        t.failed("alice", "192.0.2.1");
        let Err(ApiError::TooManyRequests {
            retry_after_secs, ..
        }) = t.check("alice", "192.0.2.1")
        else {
            panic!("blocked again");
        };
        assert_eq!(retry_after_secs, 2, "doubled");
        // Success clears the username only.
        t.succeeded("alice");
        t.check("alice", "192.0.2.7").unwrap();
    }

    #[tokio::test]
    async fn the_hash_queue_is_bounded() {
        // One hashing thread, two places in the queue.
        let t = Arc::new(throttle(5));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let t = t.clone();
            tokio::spawn(async move {
                t.hash(move || {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                })
                .await
            })
        };
        started_rx.await.unwrap();
        // The thread is busy: the queue takes two jobs, then an attempt is refused.
        for _ in 0..2 {
            assert!(t.jobs.try_send(Box::new(|| ())).is_ok());
        }
        let refused = t.hash(|| ()).await;
        assert!(
            matches!(refused, Err(ApiError::Overloaded { .. })),
            "{refused:?}"
        );
        release_tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        // Room again once the thread has drained the queue.
        let mut answered = false;
        for _ in 0..100 {
            if t.hash(|| 7).await.ok() == Some(7) {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(answered);
    }
}
