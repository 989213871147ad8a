//! Letting the launcher read this process's last words before the job is ended.
//!
//! `MPI_Abort` makes the launcher kill every rank at once. MPICH's Hydra reads a rank's stdout
//! and stderr from pipes, and what is still in them when the abort reaches it is lost: under
//! MPICH 4.0 on 2 ranks the driver's report of a lost rank vanished in 4 runs of 15, cut off
//! mid-line. So before aborting, the driver waits, for a bounded time, until the launcher has
//! read its output pipes to the end.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};

/// Flushes stdout and stderr, then waits at most `limit` until the pipes they write to (when
/// they are pipes; a terminal or a file needs no reader) have been read to the end. Returns
/// whether they were.
pub(crate) fn drain(limit: Duration) -> bool {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    wait_read(&[stdout.as_fd(), stderr.as_fd()], limit)
}

/// Waits at most `limit` until no byte written to `fds` is left unread; `false` on time-out.
fn wait_read(fds: &[BorrowedFd<'_>], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while fds.iter().any(|fd| unread(*fd) > 0) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// How many bytes written to `fd` its reader has not read yet: what is in the pipe when `fd`
/// is one, else 0.
fn unread(fd: BorrowedFd<'_>) -> usize {
    let is_pipe = fd
        .try_clone_to_owned()
        .and_then(|owned| File::from(owned).metadata())
        .is_ok_and(|m| m.file_type().is_fifo());
    if !is_pipe {
        return 0;
    }
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, to `count`, which outlives the
    // call; on a pipe (checked above) it counts the bytes in it, from either end.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut count) };
    if rc == 0 {
        usize::try_from(count).unwrap_or(0)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn waits_until_the_reader_has_read_everything() {
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        writer.write_all(&[7; 1000]).unwrap();
        let started = Instant::now();
        let late_reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let mut buf = [0; 1000];
            reader.read_exact(&mut buf).unwrap();
            reader
        });
        assert!(wait_read(&[writer.as_fd()], Duration::from_secs(20)));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "returned before the reader read: {:?}",
            started.elapsed()
        );
        drop(late_reader.join().unwrap());
    }

    #[test]
    fn gives_up_after_the_limit_when_nobody_reads() {
        let (_reader, mut writer) = std::io::pipe().unwrap();
        writer.write_all(b"never read").unwrap();
        let started = Instant::now();
        assert!(!wait_read(&[writer.as_fd()], Duration::from_millis(200)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_empty_pipe_or_a_file_needs_no_wait() {
        let (_reader, writer) = std::io::pipe().unwrap();
        let file = tempfile_in_target();
        let started = Instant::now();
        assert!(wait_read(
            &[writer.as_fd(), file.as_fd()],
            Duration::from_secs(20)
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A file with content, which is never "unread" the way a pipe is.
    fn tempfile_in_target() -> File {
        let path = std::env::temp_dir().join(format!("blazer-output-{}", std::process::id()));
        let mut file = File::create(&path).unwrap();
        file.write_all(b"written").unwrap();
        let _ = std::fs::remove_file(&path);
        file
    }
}
