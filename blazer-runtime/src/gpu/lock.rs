//! The per-device lock files that make a held GPU exclusive on its node (an advisory `flock`
//! each, dropped by the kernel when the process ends), and how long to wait for a free one.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`gpu()`](crate::gpu()) waits for a GPU of the node to become free when
/// `BLAZER_GPU_WAIT_S` is not set.
pub const DEFAULT_GPU_WAIT: Duration = Duration::from_secs(300);

/// Environment variable: seconds [`gpu()`](crate::gpu()) waits for a busy GPU (a decimal
/// number, `0` for no wait), read through [`crate::config`].
pub(super) const WAIT_ENV: &str = crate::config::GPU_WAIT;

/// The wait from `BLAZER_GPU_WAIT_S`, or [`DEFAULT_GPU_WAIT`].
pub(super) fn wait_from_env() -> Result<Duration> {
    match &crate::config::config().gpu_wait {
        None => Ok(DEFAULT_GPU_WAIT),
        Some(v) => parse_wait(v).ok_or_else(|| {
            Error::Gpu(format!(
                "{WAIT_ENV} must be a number of seconds, such as 60 or 0.5; it is {v:?}"
            ))
        }),
    }
}

/// Parses a wait in seconds (a decimal number, `0` for none); `None` when it is not one.
fn parse_wait(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Where the lock files live: shared memory when there is one (per node, cleared at boot).
pub(super) fn lock_dir() -> PathBuf {
    if let Some(dir) = &crate::config::config().gpu_lock_dir {
        return dir.clone();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// An exclusive advisory lock on one lock file, released when dropped or when the process
/// ends (the kernel drops `flock` locks with the last descriptor).
pub(super) struct DeviceLock {
    _file: File,
}

/// Why no lock file could be locked.
#[derive(Debug)]
pub(super) enum LockError {
    /// Every file is locked by another process: who holds each, in the order given.
    Busy(Vec<String>),
    /// A lock file could not be opened or locked.
    Io(String),
}

/// Locks the first free file of `paths`, retrying (with back-off) until `wait` has passed.
/// Returns the position of the locked file. `note` is written into it to name the holder.
pub(super) fn lock_first_free(
    paths: &[PathBuf],
    wait: Duration,
    note: &str,
) -> std::result::Result<(usize, DeviceLock), LockError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        for (pos, path) in paths.iter().enumerate() {
            let locked = try_lock(path, note)
                .map_err(|e| LockError::Io(format!("cannot lock {}: {e}", path.display())))?;
            if let Some(lock) = locked {
                return Ok((pos, lock));
            }
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(LockError::Busy(paths.iter().map(|p| holder(p)).collect()));
        }
        std::thread::sleep(pause.min(wait - waited));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Tries once to lock `path` exclusively; `Ok(None)` when another descriptor holds it.
fn try_lock(path: &Path, note: &str) -> io::Result<Option<DeviceLock>> {
    let file = open_lock_file(path)?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(err),
        };
    }
    // Best effort: only used to name the holder in a waiting rank's error.
    let _ = file
        .set_len(0)
        .and_then(|()| (&file).write_all(note.as_bytes()));
    Ok(Some(DeviceLock { _file: file }))
}

/// Opens (creating) a lock file that other users may lock too; a file another user created
/// without write permission is locked read-only.
fn open_lock_file(path: &Path) -> io::Result<File> {
    let rw = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .open(path);
    match rw {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path),
        other => other,
    }
}

/// Who holds the lock on `path`, as its holder wrote it.
fn holder(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => "an unknown process".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::test_support::{skip, TempDir};

    #[test]
    fn a_held_lock_excludes_others_until_dropped() {
        let dir = TempDir::new("excl");
        let path = dir.file("gpu-a.lock");
        let (pos, first) =
            lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "rank 1").unwrap();
        assert_eq!(pos, 0);
        // flock locks of two open descriptions conflict, in one process as across processes.
        match lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "rank 2") {
            Err(LockError::Busy(holders)) => assert_eq!(holders, ["rank 1"]),
            other => panic!("expected Busy, got {:?}", other.map(|(p, _)| p)),
        }
        drop(first);
        let (_, second) =
            lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "rank 2").unwrap();
        assert_eq!(holder(&path), "rank 2");
        drop(second);
    }

    #[test]
    fn a_busy_first_choice_falls_over_to_the_next_free_gpu() {
        let dir = TempDir::new("next");
        let paths = [dir.file("a.lock"), dir.file("b.lock"), dir.file("c.lock")];
        let (p0, _a) = lock_first_free(&paths, Duration::ZERO, "x").unwrap();
        let (p1, _b) = lock_first_free(&paths, Duration::ZERO, "y").unwrap();
        let (p2, _c) = lock_first_free(&paths, Duration::ZERO, "z").unwrap();
        assert_eq!((p0, p1, p2), (0, 1, 2));
        match lock_first_free(&paths, Duration::ZERO, "w") {
            Err(LockError::Busy(holders)) => assert_eq!(holders, ["x", "y", "z"]),
            other => panic!("expected Busy, got {:?}", other.map(|(p, _)| p)),
        }
    }

    /// The lock is the kernel's `flock`, so another process (here util-linux `flock`) sees it.
    #[test]
    fn another_process_cannot_take_a_held_gpu() {
        let dir = TempDir::new("proc");
        let path = dir.file("gpu.lock");
        let other_tries = || {
            std::process::Command::new("flock")
                .args(["--nonblock", "--conflict-exit-code", "7"])
                .arg(&path)
                .arg("true")
                .status()
        };
        let held = lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "h").unwrap();
        let Ok(status) = other_tries() else {
            skip("the `flock` command is not installed");
            return;
        };
        assert_eq!(status.code(), Some(7), "another process took a held lock");
        drop(held);
        assert_eq!(other_tries().unwrap().code(), Some(0));
    }

    #[test]
    fn waiting_for_a_busy_gpu_is_bounded() {
        let dir = TempDir::new("wait");
        let path = dir.file("gpu.lock");
        let _held = lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "h").unwrap();
        let wait = Duration::from_millis(150);
        let start = Instant::now();
        let got = lock_first_free(std::slice::from_ref(&path), wait, "w");
        let took = start.elapsed();
        assert!(matches!(got, Err(LockError::Busy(_))));
        assert!(took >= wait, "gave up after {took:?}");
        assert!(took < wait + Duration::from_secs(5), "waited {took:?}");
    }

    #[test]
    fn a_waiting_rank_gets_the_gpu_once_it_is_released() {
        let dir = TempDir::new("release");
        let path = dir.file("gpu.lock");
        let (_, held) = lock_first_free(std::slice::from_ref(&path), Duration::ZERO, "h").unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let got = lock_first_free(std::slice::from_ref(&path), Duration::from_secs(30), "w");
        releaser.join().unwrap();
        assert!(got.is_ok());
        assert_eq!(holder(&path), "w");
    }

    #[test]
    fn an_unusable_lock_directory_is_an_io_error() {
        let dir = TempDir::new("io");
        let path = dir.file("missing-dir").join("gpu.lock");
        assert!(matches!(
            lock_first_free(&[path], Duration::ZERO, "x"),
            Err(LockError::Io(_))
        ));
    }

    #[test]
    fn the_wait_parses_seconds_and_rejects_garbage() {
        assert_eq!(parse_wait("0"), Some(Duration::ZERO));
        assert_eq!(parse_wait(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(parse_wait("-1"), None);
        assert_eq!(parse_wait("soon"), None);
    }
}
