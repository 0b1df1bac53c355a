//! WAL checkpoints on a thread of their own (issue 11).
//!
//! SQLite's own checkpoint runs inside the commit that crosses `wal_autocheckpoint`: the
//! writer copies the WAL back into the database file and waits for two fsyncs before it
//! can go on. In a large database an ingest transaction dirties index pages all over the
//! file, so that wait grew with the database: it was most of what made an ingest into 1M
//! items slower than into an empty file (measured: with no checkpoint and no fsync in the
//! way, both ran at the same rate). Here the connections of a [`super::Db`] report each
//! commit's WAL size to a [`Checkpointer`], whose thread checkpoints (PASSIVE: it never
//! waits for readers or writers) while the writer parses its next batch.
//!
//! SQLite starts the WAL again from its beginning when a writer begins after a checkpoint
//! that copied all of it; a writer that commits while a checkpoint runs appends instead.
//! An ingest pauses between its transactions to parse the next files, which is usually
//! long enough. The bound is the limit: a commit that leaves [`WalBudget::limit_frames`]
//! or more in the WAL waits for a running checkpoint and then checkpoints itself, as
//! SQLite would, so a disk slower than the writer slows the writer instead of growing the
//! WAL. With 8 KiB pages the defaults are a checkpoint from 8 MiB and back-pressure from
//! 32 MiB; one transaction of an ingest (at most `app::ITEMS_PER_WRITE` items) adds at
//! most about 16 MiB to that (measured at 1M items: 39 MB at most).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

/// When the WAL is checkpointed, in frames (one frame is one page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalBudget {
    /// From this many frames after a commit, the background thread checkpoints.
    pub start_frames: u32,
    /// From this many, the committing connection waits for the checkpoint itself.
    pub limit_frames: u32,
}

impl Default for WalBudget {
    fn default() -> Self {
        WalBudget {
            start_frames: 1024,
            limit_frames: 4096,
        }
    }
}

/// How many checkpoints ran, and where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointCounts {
    /// On the checkpoint thread, while writers went on.
    pub background: u64,
    /// In a committing connection that found the WAL at its limit (back-pressure).
    pub in_commit: u64,
}

#[derive(Default)]
struct State {
    requested: bool,
    /// A checkpoint is running (on the thread or in a commit): at most one at a time, so
    /// that a commit at the limit never finds its own checkpoint refused as busy.
    running: bool,
    stop: bool,
    /// Only in tests: the thread takes no request, so the limit has to act.
    #[cfg(test)]
    held: bool,
    counts: CheckpointCounts,
}

/// Shared by the thread and the hook of every connection of one database. The mutex is
/// only taken by blocking threads (SQLite's commits, the checkpoint thread), and only to
/// flip these flags.
struct Shared {
    budget: WalBudget,
    state: Mutex<State>,
    /// Signalled when a checkpoint is requested or the thread must stop.
    wake: Condvar,
    /// Signalled when a checkpoint ends.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The flags stay consistent whatever panicked while they were held.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called after each commit with the frames now in the WAL; `checkpoint_here`
    /// checkpoints on the committing connection.
    fn committed(&self, frames: u32, checkpoint_here: impl FnOnce() -> rusqlite::Result<()>) {
        if frames < self.budget.start_frames {
            return;
        }
        let mut state = self.lock();
        if frames < self.budget.limit_frames {
            state.requested = true;
            self.wake.notify_one();
            return;
        }
        drop(state);
        let result = self.exclusive(checkpoint_here);
        self.lock().counts.in_commit += 1;
        if let Err(e) = result {
            tracing::warn!("WAL checkpoint after a commit failed: {e}");
        }
    }

    /// Runs `checkpoint` once no other checkpoint runs, keeping the thread's off until it
    /// ends (SQLite would refuse a second one as busy).
    fn exclusive<T>(&self, checkpoint: impl FnOnce() -> T) -> T {
        let mut state = self.lock();
        while state.running {
            state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        // This checkpoint covers every commit that asked for one so far.
        state.requested = false;
        let _running = Running::claim(self, state);
        checkpoint()
    }
}

/// The one running checkpoint; dropping it (also when the checkpoint panics) lets the
/// next one run.
struct Running<'a> {
    shared: &'a Shared,
}

impl<'a> Running<'a> {
    fn claim(shared: &'a Shared, mut state: MutexGuard<'_, State>) -> Running<'a> {
        state.running = true;
        Running { shared }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.running = false;
        self.shared.done.notify_all();
        // A request that came in meanwhile is the thread's.
        self.shared.wake.notify_one();
    }
}

/// The checkpoint thread of one database; it stops when this is dropped.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    /// Taken by [`Checkpointer::stop_and_wait`].
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the thread, with its own connection to `conn`'s file (opened by the
    /// caller, configured like any other).
    pub(super) fn start(conn: Connection, budget: WalBudget) -> std::io::Result<Checkpointer> {
        let shared = Arc::new(Shared {
            budget,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&thread_shared, conn))?;
        Ok(Checkpointer {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for it (blocking), so that its connection is closed.
    /// Commits after this checkpoint only at the limit, in the committing connection.
    pub(super) fn stop_and_wait(&self) {
        self.stop();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::warn!("the checkpoint thread panicked");
        }
    }

    fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }

    /// Routes `conn`'s commits here. This replaces SQLite's automatic checkpoint on that
    /// connection (both are the same hook).
    pub(super) fn attach(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let shared = Arc::clone(&self.shared);
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames| {
            shared.committed(u32::try_from(frames).unwrap_or(0), || wal.checkpoint());
            // Never an error: the commit has happened, and an error here would make
            // the statement that committed report a failure.
            Ok(())
        }))
    }

    /// Runs `checkpoint` (on a connection of the caller's) once the thread's has ended.
    pub(super) fn exclusive<T>(&self, checkpoint: impl FnOnce() -> T) -> T {
        self.shared.exclusive(checkpoint)
    }

    pub(super) fn counts(&self) -> CheckpointCounts {
        self.shared.lock().counts
    }

    /// Only in tests: holds requests back (or lets them through again).
    #[cfg(test)]
    fn hold(&self, held: bool) {
        self.shared.lock().held = held;
        self.shared.wake.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Not joined: this may be dropped on an async worker, and the thread ends after
        // at most the checkpoint it is running. Its connection closes with it.
        self.stop();
    }
}

fn run(shared: &Shared, conn: Connection) {
    loop {
        let mut state = shared.lock();
        // Sleeps until there is a request to take and no checkpoint runs, or a stop.
        while !state.stop && (state.running || !takes_request(&state)) {
            state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if state.stop {
            return;
        }
        state.requested = false;
        state.counts.background += 1;
        let running = Running::claim(shared, state);
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        drop(running);
        if let Err(e) = result {
            tracing::warn!("background WAL checkpoint failed: {e}");
            // A failing file is not retried in a tight loop.
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

#[cfg(not(test))]
fn takes_request(state: &State) -> bool {
    state.requested
}

#[cfg(test)]
fn takes_request(state: &State) -> bool {
    state.requested && !state.held
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::WalBudget;
    use crate::store::Db;

    /// Ten rows of 6,000 bytes: about ten WAL frames a commit.
    fn write_some(db: &Db) {
        db.with(|store| {
            let tx = store.write()?;
            tx.execute_batch("CREATE TABLE IF NOT EXISTS filler (bytes BLOB)")?;
            for _ in 0..10 {
                tx.execute("INSERT INTO filler (bytes) VALUES (randomblob(6000))", [])?;
            }
            tx.commit()?;
            Ok(())
        })
        .expect("write");
    }

    fn wal_bytes(db_path: &Path) -> u64 {
        std::fs::metadata(format!("{}-wal", db_path.display())).map_or(0, |m| m.len())
    }

    fn frames(n: u64) -> u64 {
        n * (8192 + 24)
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    const SMALL: WalBudget = WalBudget {
        start_frames: 16,
        limit_frames: 64,
    };

    #[test]
    fn the_thread_checkpoints_once_the_wal_passes_its_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.db");
        // A limit never reached: only the thread checkpoints.
        let budget = WalBudget {
            start_frames: 16,
            limit_frames: 100_000,
        };
        let db = Db::open_with(&path, budget).expect("open");
        // The schema's own commits (before the hook) out of the way.
        db.checkpoint_now().expect("checkpoint");
        write_some(&db);
        assert!(
            !db.inner.checkpointer.shared.lock().requested,
            "below the start, no checkpoint is asked for"
        );
        // Positive control: the next commit passes the start and asks.
        write_some(&db);
        wait_for("a background checkpoint", || {
            db.checkpoint_counts().background >= 1
        });
        // A writer that pauses between commits (as an ingest does while it parses its
        // next files) finds the WAL checkpointed and starts it again from its beginning:
        // 60 commits of ten frames leave a WAL of about two commits, not 600 frames.
        for _ in 0..60 {
            write_some(&db);
            wait_for("the thread to be idle", || {
                let state = db.inner.checkpointer.shared.lock();
                !state.requested && !state.running
            });
        }
        let counts = db.checkpoint_counts();
        assert!(counts.background >= 20, "{counts:?}");
        assert_eq!(counts.in_commit, 0);
        assert!(wal_bytes(&path) <= frames(40), "WAL {}", wal_bytes(&path));
    }

    #[test]
    fn a_commit_at_the_limit_checkpoints_when_the_thread_does_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Positive control: with the thread held and no limit, the same writes grow
        // the WAL past the bound checked below.
        let unbounded = dir.path().join("unbounded.db");
        let db = Db::open_with(
            &unbounded,
            WalBudget {
                start_frames: 16,
                limit_frames: u32::MAX,
            },
        )
        .expect("open");
        db.checkpoint_now().expect("checkpoint");
        db.inner.checkpointer.hold(true);
        for _ in 0..30 {
            write_some(&db);
        }
        assert!(wal_bytes(&unbounded) > frames(64 + 20));
        assert_eq!(db.checkpoint_counts().in_commit, 0);

        let bounded = dir.path().join("bounded.db");
        let db = Db::open_with(&bounded, SMALL).expect("open");
        db.checkpoint_now().expect("checkpoint");
        db.inner.checkpointer.hold(true);
        for _ in 0..30 {
            write_some(&db);
        }
        let counts = db.checkpoint_counts();
        assert!(counts.in_commit >= 1, "{counts:?}");
        assert_eq!(counts.background, 0);
        // The limit, plus the commit that crossed it.
        assert!(
            wal_bytes(&bounded) <= frames(64 + 20),
            "WAL {}",
            wal_bytes(&bounded)
        );
        // Let through again, the thread takes the next request (a checkpoint in a commit
        // answers those made before it).
        db.inner.checkpointer.hold(false);
        write_some(&db);
        write_some(&db);
        wait_for("the next request", || {
            db.checkpoint_counts().background >= 1
        });
    }

    #[test]
    fn checkpoint_now_empties_the_wal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("now.db");
        let db = Db::open_with(&path, SMALL).expect("open");
        db.inner.checkpointer.hold(true);
        for _ in 0..3 {
            write_some(&db);
        }
        assert!(wal_bytes(&path) > 0);
        db.checkpoint_now().expect("checkpoint");
        assert_eq!(wal_bytes(&path), 0);
    }
}
