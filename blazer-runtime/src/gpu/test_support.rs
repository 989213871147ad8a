//! Helpers shared by the GPU module's unit tests (compiled only for tests).

use std::io::{self, Write};
use std::path::PathBuf;

/// A fresh directory for lock files, removed at the end.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    /// Creates the directory, named by `tag` and this process.
    pub(super) fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("blazer-gpu-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path of `name` inside the directory.
    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Says why a test checked nothing. Written to the descriptor, past libtest's capture,
/// so that the skip shows in a plain `cargo test`; and added to the ledger of skipped checks
/// that `scripts/test.sh` counts (`BLAZER_SKIP_LOG`; kind `gpu`).
pub(super) fn skip(why: &str) {
    let _ = writeln!(io::stderr(), "skipped: {why}");
    if let Some(path) = std::env::var_os("BLAZER_SKIP_LOG") {
        let line = format!("gpu\tblazer-runtime unit test\t{why}\n");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .expect("BLAZER_SKIP_LOG");
    }
}
