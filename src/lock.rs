//! The shared-root lock (README, *Concurrency*). Captures from many repositories serialize on an exclusive
//! `flock` of a file in each store; the OS releases it when the process dies, so a killed capture
//! never wedges the next one. The holder writes its pid and purpose into the file so that a
//! waiter that gives up can name it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fsutil;
use anyhow::{Context, Result, bail};

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Takes the exclusive lock at `path`, waiting at most `timeout`.
pub fn acquire(path: &Path, purpose: &str, timeout: Duration) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode_private()
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= timeout {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    let holder = if holder.is_empty() { "an unknown process".to_owned() } else { holder.to_owned() };
                    bail!(
                        "gave up after {}s waiting for the lock {} held by {holder}; if that process is gone, retry",
                        timeout.as_secs(),
                        path.display()
                    );
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    let note = format!("pid {} ({purpose})\n", std::process::id());
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.write_all(note.as_bytes());
    Ok(Lock { file })
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Both stores' locks, always in the same order (objects, then event store) so two processes
/// can never deadlock on them.
pub fn lock_stores(roots: &crate::roots::Roots, purpose: &str) -> Result<(Lock, Lock)> {
    let timeout = Duration::from_secs(roots.lock_timeout_secs());
    let objects = crate::objects::ObjectStore::new(&roots.objects.path);
    let a = acquire(&objects.lock_path(), purpose, timeout)?;
    let b = acquire(&roots.event_store.path.join(EVENT_STORE_LOCK), purpose, timeout)?;
    Ok((a, b))
}

pub const EVENT_STORE_LOCK: &str = ".nexus-event-store.lock";
