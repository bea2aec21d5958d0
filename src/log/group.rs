//! Group commit: callers waiting for their records to be durable share one
//! fsync.
//!
//! One waiter at a time is the leader. It gathers the appenders still
//! inside `append_batch` (so that one fsync covers them all), runs the
//! fsync, then wakes exactly the waiters it covered and hands the lead to
//! one waiter it did not cover. Each waiter parks on its own thread: a
//! covered waiter wakes once and leaves on an atomic check, without taking
//! the lock again (a shared condition variable would wake every waiter
//! onto the same mutex, one after the other).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, MutexGuard};
use std::thread::{self, Thread};
use std::time::Instant;

use super::{lock_mutex, Log};
use crate::error::{Error, Result};

/// Group-commit state behind the log's `sync` mutex.
pub(crate) struct SyncState {
    /// Every id up to this one is durable.
    pub synced_id: u64,
    /// A leader is gathering or running an fsync.
    pub in_progress: bool,
    /// Why the writer stopped (a failed fsync), for every later waiter.
    pub failed: Option<String>,
    /// The interval flusher is to stop.
    pub shutdown: bool,
    /// Callers of `wait_durable` whose id no completed fsync covers yet,
    /// the leader among them.
    waiters: Vec<Waiter>,
    /// Generations of pending frames whose write failed (rare: each is a
    /// disk error). Their ids were given out again, so a waiter of one of
    /// them must not take a later fsync for its own.
    failed_gens: Vec<FailedWrite>,
}

/// A caller of `wait_durable` parked until its id is durable.
struct Waiter {
    id: u64,
    /// Generation of its pending frames.
    gen: u64,
    thread: Thread,
}

/// A failed write of pending frames, as each of their waiters reports it.
struct FailedWrite {
    gen: u64,
    path: PathBuf,
    os_code: Option<i32>,
    kind: std::io::ErrorKind,
    message: String,
}

impl FailedWrite {
    fn error(&self) -> Error {
        let source = match self.os_code {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(self.kind, self.message.clone()),
        };
        Error::io("append to", &self.path, source)
    }
}

/// The lock-free side of group commit, read without the `sync` mutex.
pub(crate) struct GroupCommit {
    /// Mirror of `SyncState::synced_id`, for waiters that wake or arrive.
    synced: AtomicU64,
    /// Set once with `SyncState::failed`.
    failed: AtomicBool,
    /// Set at the first failed write of pending frames: from then on a
    /// waiter checks the failed generations under the lock.
    write_failed: AtomicBool,
    /// A leader waits on `gather_cv` for its group to form.
    gathering: AtomicBool,
    /// Appenders inside `append_batch` in `always` mode.
    in_flight: AtomicUsize,
    /// Wakes a gathering leader (a caller queued, or an appender left).
    gather_cv: Condvar,
}

impl SyncState {
    /// The state of a log whose records up to `synced_id` are durable.
    pub(crate) fn new(synced_id: u64) -> SyncState {
        SyncState {
            synced_id,
            in_progress: false,
            failed: None,
            shutdown: false,
            waiters: Vec::new(),
            failed_gens: Vec::new(),
        }
    }
}

impl GroupCommit {
    /// For a log whose records up to `synced_id` are durable.
    pub(crate) fn new(synced_id: u64) -> GroupCommit {
        GroupCommit {
            synced: AtomicU64::new(synced_id),
            failed: AtomicBool::new(false),
            write_failed: AtomicBool::new(false),
            gathering: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            gather_cv: Condvar::new(),
        }
    }
}

/// Wakes the threads a state change released (call with the lock released).
pub(crate) fn wake(threads: Vec<Thread>) {
    for t in threads {
        t.unpark();
    }
}

impl Log {
    /// Records that everything up to `last` is durable. Returns the
    /// waiters this releases, to [`wake`] once the lock is released.
    pub(crate) fn mark_durable(&self, s: &mut SyncState, last: u64) -> Vec<Thread> {
        s.synced_id = s.synced_id.max(last);
        let synced = s.synced_id;
        self.group.synced.store(synced, Ordering::Release);
        let me = thread::current().id();
        let mut out = Vec::new();
        s.waiters.retain(|w| {
            if w.id > synced {
                return true;
            }
            if w.thread.id() != me {
                out.push(w.thread.clone());
            }
            false
        });
        out
    }

    /// Stops group commit for good with `reason` (a failed fsync). Returns
    /// every waiter, to [`wake`] once the lock is released: each leaves
    /// with [`Error::WriterFailed`].
    pub(crate) fn fail_durable(&self, s: &mut SyncState, reason: String) -> Vec<Thread> {
        s.failed.get_or_insert(reason);
        self.group.failed.store(true, Ordering::Release);
        let me = thread::current().id();
        s.waiters
            .drain(..)
            .filter(|w| w.thread.id() != me)
            .map(|w| w.thread)
            .collect()
    }

    /// The frames of generation `gen` could not be written: records the
    /// error for their waiters and returns those parked, to [`wake`] once
    /// the lock is released. Each leaves with the write's error.
    pub(crate) fn fail_generation(
        &self,
        s: &mut SyncState,
        gen: u64,
        path: &Path,
        e: &std::io::Error,
    ) -> Vec<Thread> {
        s.failed_gens.push(FailedWrite {
            gen,
            path: path.to_path_buf(),
            os_code: e.raw_os_error(),
            kind: e.kind(),
            message: e.to_string(),
        });
        self.group.write_failed.store(true, Ordering::Release);
        let me = thread::current().id();
        let mut out = Vec::new();
        s.waiters.retain(|w| {
            if w.gen != gen {
                return true;
            }
            if w.thread.id() != me {
                out.push(w.thread.clone());
            }
            false
        });
        out
    }

    /// Whether `id` is durable, judged without the lock (false when that
    /// cannot be told so).
    fn durable_now(&self, id: u64) -> bool {
        !self.group.failed.load(Ordering::Acquire)
            && !self.group.write_failed.load(Ordering::Acquire)
            && self.group.synced.load(Ordering::Acquire) >= id
    }

    /// Returns once `id`, written in generation `gen`, is durable (or
    /// writing it failed, or the writer has failed).
    pub(crate) fn wait_durable(&self, id: u64, gen: u64) -> Result<()> {
        if self.durable_now(id) {
            return Ok(());
        }
        let mut s = lock_mutex(&self.sync);
        let mut registered = false;
        loop {
            if let Some(f) = &s.failed {
                let reason = f.clone();
                let me = thread::current().id();
                s.waiters.retain(|w| w.thread.id() != me || w.id != id);
                return Err(Error::WriterFailed { reason });
            }
            if let Some(f) = s.failed_gens.iter().find(|f| f.gen == gen) {
                // `fail_generation` took this waiter off the list.
                return Err(f.error());
            }
            if s.synced_id >= id {
                // `mark_durable` took this waiter off the list.
                return Ok(());
            }
            if !registered {
                registered = true;
                s.waiters.push(Waiter {
                    id,
                    gen,
                    thread: thread::current(),
                });
                self.notify_gathered(&s);
            }
            if !s.in_progress {
                s = self.lead(s);
                continue;
            }
            drop(s);
            // Parked until a leader covers this id, fails, or hands over
            // the lead; a spurious wake-up only looks again.
            thread::park();
            if self.durable_now(id) {
                return Ok(());
            }
            s = lock_mutex(&self.sync);
        }
    }

    /// The leader's part (`s.in_progress` was false, and this caller is
    /// registered as a waiter): gathers the group, fsyncs, wakes the
    /// covered waiters and hands the lead to one left uncovered. Returns
    /// the lock again, for the caller to see where it stands.
    fn lead<'a>(&'a self, mut s: MutexGuard<'a, SyncState>) -> MutexGuard<'a, SyncState> {
        s.in_progress = true;
        s = self.gather(s);
        drop(s);
        let res = self.sync_once();
        let mut s = lock_mutex(&self.sync);
        s.in_progress = false;
        let mut wake_up = match res {
            Ok(Some(last)) => self.mark_durable(&mut s, last),
            // The write of the pending frames failed: `write_pending`
            // released their waiters; the writer goes on.
            Ok(None) => Vec::new(),
            Err(e) => self.fail_durable(&mut s, e.to_string()),
        };
        // Whoever queued during the fsync needs a leader.
        let me = thread::current().id();
        if let Some(next) = s.waiters.iter().find(|w| w.thread.id() != me) {
            wake_up.push(next.thread.clone());
        }
        drop(s);
        wake(wake_up);
        lock_mutex(&self.sync)
    }

    /// Wakes a gathering leader once its group is complete (every
    /// appender in flight has queued), and not before: a wake-up per
    /// arrival would cost the leader a context switch each.
    fn notify_gathered(&self, s: &SyncState) {
        if self.group.gathering.load(Ordering::SeqCst) && self.gathered(s) {
            self.group.gather_cv.notify_one();
        }
    }

    /// Whether the leader's group is complete: every appender inside
    /// `append_batch` has queued (or the writer has failed).
    fn gathered(&self, s: &SyncState) -> bool {
        s.failed.is_some() || s.waiters.len() >= self.group.in_flight.load(Ordering::SeqCst)
    }

    /// Group commit, before a leader's fsync: waits until every appender
    /// inside `append_batch` (in `always` mode) has queued for this fsync,
    /// at most [`crate::Options::group_commit_wait`]. Appenders just woken
    /// by the previous fsync are still inside and usually append again at
    /// once: waiting for them makes one fsync cover them all, instead of
    /// the first one back syncing alone and the rest forming the next
    /// group. With a single appender nothing is waited for.
    fn gather<'a>(&'a self, mut s: MutexGuard<'a, SyncState>) -> MutexGuard<'a, SyncState> {
        let mut deadline = None;
        loop {
            // `gathering` is set before `in_flight` is read, and an
            // appender leaving decrements `in_flight` before it reads
            // `gathering` (both sequentially consistent): either this
            // check sees it gone or it sees this leader gathering and
            // notifies under the lock, which this thread holds until
            // it waits.
            self.group.gathering.store(true, Ordering::SeqCst);
            if self.gathered(&s) {
                break;
            }
            let now = Instant::now();
            let end = *deadline.get_or_insert(now + self.opts.group_commit_wait);
            if now >= end {
                break;
            }
            s = match self.group.gather_cv.wait_timeout(s, end - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        self.group.gathering.store(false, Ordering::SeqCst);
        s
    }
}

/// Counts an appender inside `append_batch` (`always` mode) for group
/// commit; leaving wakes a gathering leader that may be waiting for it.
pub(crate) struct InFlight<'a>(&'a Log);

impl<'a> InFlight<'a> {
    /// Enters; the count drops when the guard does.
    pub(crate) fn enter(log: &'a Log) -> Self {
        log.group.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(log)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let g = &self.0.group;
        g.in_flight.fetch_sub(1, Ordering::SeqCst);
        if g.gathering.load(Ordering::SeqCst) {
            self.0.notify_gathered(&lock_mutex(&self.0.sync));
        }
    }
}
