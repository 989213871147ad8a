//! Runs a local process (ssh) with bounded time: stdin fed and stdout/stderr drained on
//! helper threads, so neither a full pipe nor a dead network can hang the caller.

use crate::error::{ClusterError, Result};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished process left.
pub(crate) struct Output {
    /// Exit status; `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `cmd` with `stdin` as its input; kills it after `timeout`.
pub(crate) fn run(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .map_err(|e| ClusterError::Io(format!("cannot start `{program}`: {e}")))?;
    let feeder = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(thread::spawn(move || {
            // A remote side that stops reading early is reported by its exit status.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let out = drain(child.stdout.take().expect("piped"));
    let err = drain(child.stderr.take().expect("piped"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ClusterError::Timeout(format!(
                    "`{program}` took longer than {timeout:?}"
                )));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(ClusterError::Io(format!("waiting for `{program}`: {e}"))),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Ok(Output {
        status: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    })
}

/// The result of a remote shell command.
#[derive(Debug, Clone)]
pub struct ShellOutput {
    /// Exit status; `None` when it was killed by a signal.
    pub status: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Starts `cmd` as a child that the kernel ends (SIGTERM) when this process ends, however it
/// ends: `MPI_Abort`, `process::exit`, a panic with `panic = "abort"`, SIGKILL.
///
/// Linux delivers the parent-death signal when the *thread* that forked the child exits, so
/// children are forked by one thread kept for the life of the process.
pub(crate) fn spawn_tied(cmd: Command) -> std::io::Result<std::process::Child> {
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};
    type Order = (Command, mpsc::Sender<std::io::Result<std::process::Child>>);
    static FORKER: OnceLock<Mutex<mpsc::Sender<Order>>> = OnceLock::new();
    let forker = FORKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Order>();
        thread::Builder::new()
            .name("blazer-cluster-forker".into())
            .spawn(move || {
                for (mut cmd, back) in rx {
                    let _ = back.send(spawn_with_parent_death_signal(&mut cmd));
                }
            })
            .expect("a thread for ssh masters");
        Mutex::new(tx)
    });
    let (back, answer) = mpsc::channel();
    forker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, back))
        .map_err(|_| std::io::Error::other("the forker thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the forker thread is gone"))?
}

fn spawn_with_parent_death_signal(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: `getpid` has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (prctl, getppid), allocating nothing: its errors are plain
    // OS codes (an `io::Error` with a message would allocate after fork).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the signal was asked for.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
    cmd.spawn()
}
