//! Passwords and one-time codes: asked for once per connection, handed to ssh through a
//! private pipe, never logged, printed or written to a file.

use crate::error::{ClusterError, Result};
use crate::private_files;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

/// A password or one-time code. Its `Debug` output is `Secret(***)`, it has no `Display`,
/// and its bytes are overwritten when it is dropped.
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for handing to ssh.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: clear the heap copy we own before the allocator reuses it.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        for b in bytes.iter_mut() {
            // SAFETY: a valid, exclusive pointer into our own buffer; volatile so the write
            // is not optimised away; zero bytes keep the string valid UTF-8.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

type AnswerFn = dyn Fn(&str) -> std::io::Result<Secret> + Send + Sync;

/// How a password or one-time code is obtained when the server asks for one.
#[derive(Clone)]
pub enum Prompt {
    /// ssh itself asks on the controlling terminal (`/dev/tty`), with echo off. The secret
    /// never passes through this process.
    Terminal,
    /// The function is called with the server's prompt text (e.g. `Password:` or a
    /// `MobilePASS code:` question) and answers it. It runs on a helper thread.
    With(Arc<AnswerFn>),
}

impl Prompt {
    /// A prompt answered by `f`, called with the server's question.
    pub fn with(f: impl Fn(&str) -> std::io::Result<Secret> + Send + Sync + 'static) -> Self {
        Prompt::With(Arc::new(f))
    }
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prompt::Terminal => f.write_str("Prompt::Terminal"),
            Prompt::With(_) => f.write_str("Prompt::With(..)"),
        }
    }
}

/// The `SSH_ASKPASS` relay: ssh runs a small script for each question; the script writes the
/// question into one FIFO and prints what it reads from another. A thread here answers. FIFOs
/// keep the secret in kernel pipe buffers only: nothing reaches the disk.
pub(crate) struct Relay {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Sets up the script and FIFOs in `dir` (a private directory) and starts answering.
    pub(crate) fn start(dir: &Path, answer: Arc<AnswerFn>) -> Result<Relay> {
        let io =
            |what: &str, e: std::io::Error| ClusterError::Io(format!("askpass relay: {what}: {e}"));
        for fifo in ["q", "a"] {
            private_files::create_fifo(&dir.join(fifo)).map_err(|e| io("mkfifo", e))?;
        }
        let script = dir.join("askpass");
        let q = crate::quote(&dir.join("q").to_string_lossy());
        let a = crate::quote(&dir.join("a").to_string_lossy());
        private_files::create_private_file(&script, 0o700)
            .and_then(|mut f| {
                f.write_all(
                    format!("#!/bin/sh\nprintf '%s\\000' \"$1\" > {q}\nexec head -n 1 {a}\n")
                        .as_bytes(),
                )
            })
            .map_err(|e| io("writing the script", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (qp, ap, flag) = (dir.join("q"), dir.join("a"), stop.clone());
        thread::spawn(move || loop {
            let Ok(file) = private_files::open_no_follow(&qp, OpenOptions::new().read(true)) else {
                return;
            };
            let mut question = Vec::new();
            let _ = BufReader::new(file).read_until(0, &mut question);
            if flag.load(Ordering::SeqCst) {
                return;
            }
            question.pop_if(|b| *b == 0);
            let question = String::from_utf8_lossy(&question);
            // A failed or refused answer is an empty line: ssh then reports a failed login.
            let secret = answer(question.trim()).unwrap_or_else(|_| Secret::new(""));
            if flag.load(Ordering::SeqCst) {
                return; // ssh gave up meanwhile: nobody would read the answer.
            }
            if let Ok(mut out) = private_files::open_no_follow(&ap, OpenOptions::new().write(true))
            {
                let line = Secret::new(format!("{}\n", secret.expose()));
                let _ = out.write_all(line.0.as_bytes());
            }
        });
        Ok(Relay {
            dir: dir.to_path_buf(),
            stop,
        })
    }

    /// The script to put in `SSH_ASKPASS`.
    pub(crate) fn script(&self) -> PathBuf {
        self.dir.join("askpass")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the thread if it waits for a question. Read-write opening of a FIFO never
        // blocks on Linux, so this cannot hang even when the thread is already gone.
        if let Ok(mut f) = private_files::open_no_follow(
            &self.dir.join("q"),
            OpenOptions::new().read(true).write(true),
        ) {
            let _ = f.write_all(&[0]);
        }
    }
}
