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
    /// The note of a holder that never released the lock (killed: a clean release empties the
    /// file), found when this process took it.
    pub killed_holder: Option<String>,
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
    // A clean release empties the file (see `Drop`): a note still there is a killed holder's.
    let mut previous = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut previous);
    let previous = previous.trim();
    let killed_holder = (!previous.is_empty()).then(|| previous.to_owned());
    let note = format!("pid {} ({purpose})\n", std::process::id());
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.write_all(note.as_bytes());
    Ok(Lock { file, killed_holder })
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
/// can never deadlock on them. When a holder of either was killed, the temporary files killed
/// runs left in the stores are removed now, under the locks (issue 12), and counted: see
/// [`take_swept`].
pub fn lock_stores(roots: &crate::roots::Roots, purpose: &str) -> Result<(Lock, Lock)> {
    let (a, b) = lock_stores_readonly(roots, purpose)?;
    if let Some(killed) = a.killed_holder.as_ref().or(b.killed_holder.as_ref()) {
        let objects = crate::objects::ObjectStore::new(&roots.objects.path);
        let mut n = crate::fsutil::sweep_temp_files(&objects.root, &["archive"]);
        n += crate::fsutil::sweep_temp_files(&roots.event_store.path, &[".git"]);
        if n > 0 {
            let said = format!(
                "recovered: removed {n} temporary files that a killed run ({killed}) left in {} and {}",
                objects.root.display(),
                roots.event_store.path.display()
            );
            SWEPT.lock().unwrap_or_else(|e| e.into_inner()).push(said);
        }
    }
    Ok((a, b))
}

/// Both stores' locks, changing nothing in them (for `verify`).
pub fn lock_stores_readonly(roots: &crate::roots::Roots, purpose: &str) -> Result<(Lock, Lock)> {
    let timeout = Duration::from_secs(roots.lock_timeout_secs());
    let objects = crate::objects::ObjectStore::new(&roots.objects.path);
    let a = acquire(&objects.lock_path(), purpose, timeout)?;
    let b = acquire(&roots.event_store.path.join(EVENT_STORE_LOCK), purpose, timeout)?;
    Ok((a, b))
}

/// What [`lock_stores`] removed in this process, not yet said (the export, or the import, puts
/// it among its manifest's problems: the next `recovered:` line on stderr).
static SWEPT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Takes the lines [`lock_stores`] left to say.
pub fn take_swept() -> Vec<String> {
    std::mem::take(&mut *SWEPT.lock().unwrap_or_else(|e| e.into_inner()))
}

pub const EVENT_STORE_LOCK: &str = ".nexus-event-store.lock";
