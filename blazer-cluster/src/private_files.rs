//! Files on this machine that only this process may read: the private directory of a session
//! (ssh's control socket, its log, the askpass script and FIFOs) and the files in it.
//!
//! Nothing here follows a symbolic link or reuses a path that already exists: a directory is
//! created with mode 0700 in one `mkdir` (no window in which it is open to others), and each
//! file with `O_CREAT | O_EXCL | O_NOFOLLOW`, so a link planted in advance is refused.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `path` as a directory that only this user can enter, atomically; fails if anything
/// (a link included) is already there.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(0o700).create(path)
}

/// Creates the new file `path` with `mode` (the umask can only narrow it); fails if anything
/// is already there.
pub(crate) fn create_private_file(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens an existing file, refusing a link in its place.
pub(crate) fn open_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    options.custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Creates the FIFO `path` with mode 0600; fails if anything is already there.
pub(crate) fn create_fifo(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{symlink, FileTypeExt, PermissionsExt};

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("blz-private-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_private_directory_is_0700_and_never_a_planted_link() {
        let base = scratch("dir");
        let dir = base.join("d");
        create_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A link planted where the directory will be (to a directory the attacker reads).
        let elsewhere = base.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let planted = base.join("p");
        symlink(&elsewhere, &planted).unwrap();
        assert!(create_private_dir(&planted).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_private_file_never_follows_a_planted_link() {
        let base = scratch("file");
        let target = base.join("target");
        std::fs::write(&target, "untouched").unwrap();
        let planted = base.join("master.log");
        symlink(&target, &planted).unwrap();
        assert!(create_private_file(&planted, 0o600).is_err());
        assert!(open_no_follow(&planted, OpenOptions::new().write(true)).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
        // An existing plain file is not reused either.
        assert!(create_private_file(&target, 0o600).is_err());
        let fresh = base.join("fresh");
        create_private_file(&fresh, 0o600)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let fifo = base.join("q");
        create_fifo(&fifo).unwrap();
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(create_fifo(&planted).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
