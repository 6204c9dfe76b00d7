//! The detached worker's priority: the lowest CPU priority and the idle I/O class, so the
//! captures it runs take what the machine does not use (a rebase's post-rewrite starts it while
//! git still works), and the priority it ended up with, read back for its log lines.

/// The detached worker's priority as it set it (see [`lower_worker_priority`]), named in each
/// line it logs.
static WORKER_PRIORITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Puts this process (the detached worker the hook starts) at the lowest CPU priority (nice 19)
/// and, on Linux, in the idle I/O class: the captures it runs then take what the machine does
/// not use, and a rebase or a build the user is waiting for is not slowed by them. Best effort:
/// what could not be set stays as it was. The result is logged with each entry it handles.
pub fn lower_worker_priority() {
    // SAFETY: setpriority and the ioprio_set system call take plain integers and act on the
    // calling process only (who = 0); a failure leaves the priority unchanged.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        #[cfg(target_os = "linux")]
        libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
    }
    let _ = WORKER_PRIORITY.set(current_priority());
}

#[cfg(target_os = "linux")]
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
#[cfg(target_os = "linux")]
const IOPRIO_CLASS_IDLE: libc::c_int = 3;
#[cfg(target_os = "linux")]
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// This process's niceness and (Linux) I/O class, read back from the kernel: `nice 19, idle
/// I/O`.
fn current_priority() -> String {
    // SAFETY: getpriority and ioprio_get read the calling process's own settings.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as above.
        let io = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
        let class = if io >= 0 { (io >> IOPRIO_CLASS_SHIFT) as libc::c_int } else { -1 };
        let io = match class {
            IOPRIO_CLASS_IDLE => "idle I/O",
            1 => "real-time I/O",
            -1 => "I/O class unknown",
            _ => "best-effort I/O",
        };
        format!("nice {nice}, {io}")
    }
    #[cfg(not(target_os = "linux"))]
    format!("nice {nice}")
}

/// The priority the worker set, when it did (each line it logs names it).
pub(super) fn worker_priority() -> Option<&'static String> {
    WORKER_PRIORITY.get()
}
