//! The driver's durable checkpoint log: an append-only file of checksummed records, each the
//! outputs of one finished batch, keyed by the call's identity and each item's index and input
//! hash (see [`crate::checkpoint::key`] for what the keys are made of). This module knows
//! bytes and keys, not calls.
//!
//! # File format
//!
//! ```text
//! header  "BLZCKPT2" | build identity (u64 LE) | CRC-32 of the 16 bytes before (u32 LE)
//! record  payload length (u64 LE) | CRC-32 of the payload (u32 LE) | payload
//! payload postcard of (call key: u128, [(index: u64, input hash: u128, output bytes)])
//! ```
//!
//! The last digit of the magic is the format's version. Version 1 had 32-bit record lengths,
//! which could not say 2 GiB or more; a record of any size fits a 64-bit length, so the
//! writer refuses nothing the reader cannot read back.
//!
//! On opening, records are read and checked in order. The first one that is cut short (a
//! record being written when the process was killed) or whose checksum or encoding is wrong
//! ends the valid prefix: a warning names the file and the byte offset, the records before it
//! are reused, and the file is truncated there before anything is appended. A log written by
//! another build of the program (another build identity), or in another format version, is
//! started afresh, with a warning. Reading allocates no more than the file's bytes justify: a
//! length field larger than the rest of the file is a torn record, never an allocation.
//!
//! # Opening safely
//!
//! The checkpoint directory may be shared (a project's scratch space), so the file is opened
//! with `O_NOFOLLOW` (a symbolic link planted at its name is refused, never followed and
//! truncated) and `O_CLOEXEC` (no child process inherits it, nor its lock), and must be a
//! regular file. A new file's directory is synced after its creation, so that the file
//! survives a crash of the node along with its records.
//!
//! One run at a time uses a log: the opener takes an exclusive `flock` on it for as long as
//! the log is open, and writes who it is (`pid P on host H`) into the sidecar file
//! `NAME.blazer-checkpoint.lock`, removed at the end of the run. A second run on the same log
//! (two jobs naming one directory, or a job started again while the first still runs) is
//! refused at start-up with an error naming the holder, rather than given a file of its own:
//! a run that counts on resuming must not silently start from nothing, and two runs appending
//! to one file would mix their records. The kernel drops the lock when the holder dies, so a
//! killed run never leaves the log locked. On a file system without locks (some Lustre mounts)
//! the run goes on with a warning.
//!
//! # Flush policy
//!
//! Each record is written with one `write(2)` as soon as its batch's outputs reach the driver,
//! so it is in the kernel from then on: killing the process (SIGKILL, the OOM killer, the end
//! of the walltime) loses no written record. Against a crash of the node itself the file is
//! `fdatasync`ed by a helper thread at most once every `BLAZER_CHECKPOINT_SYNC_S` seconds (one
//! by default) while records are being written, and always at SIGTERM and at the end of the
//! run; with `BLAZER_CHECKPOINT_SYNC_S=0` every record is synced before the driver goes on.

use crate::os;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

/// The magic of this format, its version last.
const MAGIC: &[u8; 8] = b"BLZCKPT2";
/// The magic without its version: a log of another version of the format.
const MAGIC_FAMILY: &[u8; 7] = b"BLZCKPT";
const HEADER: usize = 20;
/// A record's length (u64) and checksum (u32).
const FRAME: usize = 12;

/// Restored outputs by `(call key, index, input hash)`: several runs with different inputs
/// at the same index keep their records side by side.
type Restored = HashMap<(u128, u64, u128), Vec<u8>>;

/// The open log of this process (the driver), when checkpointing is on.
static LOG: Mutex<Option<Log>> = Mutex::new(None);

fn log() -> MutexGuard<'static, Option<Log>> {
    LOG.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An open checkpoint log.
#[derive(Debug)]
struct Log {
    /// The file, locked, with the build identity it was opened for.
    file: LogFile,
    /// Outputs read from the file and not yet taken.
    restored: Restored,
    /// The calls `restored` holds outputs of.
    calls: HashSet<u128>,
    /// Records appended since the last sync.
    dirty: Arc<AtomicBool>,
    /// Sync every record (`BLAZER_CHECKPOINT_SYNC_S=0`).
    sync_each: bool,
    /// Records appended by this run.
    appended: u64,
}

/// What [`open`] found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    /// The log's path.
    pub(crate) path: PathBuf,
    /// Valid records read.
    pub(crate) records: u64,
    /// Outputs they hold.
    pub(crate) outputs: u64,
}

/// Opens (or creates) the log `dir/name.blazer-checkpoint` for a program of build `build`,
/// reads the valid records in it, and makes it this process's log; `sync` is
/// `BLAZER_CHECKPOINT_SYNC_S`. Problems with the file's contents are warnings on stderr (the
/// valid prefix is kept); a file that cannot be opened safely, locked or written is an error.
pub(crate) fn open(
    dir: &Path,
    name: &str,
    build: NonZeroU64,
    sync: Duration,
) -> io::Result<Opened> {
    let (file, scan) = open_file(dir, name, build.get())?;
    let dirty = Arc::new(AtomicBool::new(false));
    if !sync.is_zero() {
        start_syncer(Arc::downgrade(&file.file), Arc::clone(&dirty), sync);
    }
    let opened = Opened {
        path: file.path.clone(),
        records: scan.records,
        outputs: scan.restored.len() as u64,
    };
    let calls = scan.restored.keys().map(|(call, _, _)| *call).collect();
    *log() = Some(Log {
        file,
        restored: scan.restored,
        calls,
        dirty,
        sync_each: sync.is_zero(),
        appended: 0,
    });
    Ok(opened)
}

/// A log file opened safely and locked: see the module docs. Dropping it removes the holder's
/// sidecar file, then closes the file, which releases the lock.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    /// Shared with the sync thread, which holds it weakly: closing the log closes the file.
    file: Arc<File>,
    /// The sidecar file naming this process as the holder, when it could be written.
    holder: Option<PathBuf>,
    /// The build identity in the file's header.
    build: u64,
}

impl Drop for LogFile {
    fn drop(&mut self) {
        // Removed while the lock is still held, so no other run's note is removed.
        if let Some(holder) = &self.holder {
            let _ = std::fs::remove_file(holder);
        }
    }
}

/// Opens (or creates) the log file, locks it, reads its valid records and leaves it ready to
/// append.
fn open_file(dir: &Path, name: &str, build: u64) -> io::Result<(LogFile, Scan)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.blazer-checkpoint"));
    let (mut file, created) = open_no_follow(&path)?;
    if created {
        sync_directory(dir)?;
    }
    let holder = lock(&file, &path)?;
    let log = LogFile {
        path,
        file: Arc::new(file.try_clone()?),
        holder,
        build,
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let scan = scan(&bytes, build);
    if let Some(why) = &scan.warning {
        eprintln!("blazer: checkpoint log {}: {why}", log.path.display());
    }
    if scan.valid_len == 0 {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header(build))?;
    } else if (scan.valid_len as usize) < bytes.len() {
        file.set_len(scan.valid_len)?;
    }
    file.seek(SeekFrom::End(0))?;
    file.sync_data()?;
    Ok((log, scan))
}

/// Opens `path` for reading and writing, creating it if need be, without following a symbolic
/// link at its name; says whether it was created. Refuses anything but a regular file.
fn open_no_follow(path: &Path) -> io::Result<(File, bool)> {
    let options = |create_new: bool| {
        let mut o = OpenOptions::new();
        o.read(true)
            .write(true)
            .create_new(create_new)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        o
    };
    // Create, or else open what is there; a file removed in between is created again.
    let mut attempts = 0;
    let (file, created) = loop {
        attempts += 1;
        let opened = match options(true).open(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                options(false).open(path).map(|f| (f, false))
            }
            other => other.map(|f| (f, true)),
        };
        match opened {
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => continue,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{} is a symbolic link, which a checkpoint log never follows (in a \
                         shared directory it could point at anyone's file); remove it, or \
                         choose another BLAZER_CHECKPOINT directory",
                        path.display()
                    ),
                ));
            }
            other => break other?,
        }
    };
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file; remove it, or choose another BLAZER_CHECKPOINT directory",
            path.display()
        )));
    }
    Ok((file, created))
}

/// Syncs directory `dir`, so that a file just created in it survives a crash of the node. A
/// file system that cannot sync directories (`EINVAL`) is let be.
fn sync_directory(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

/// Locks the log `file` (at `path`) for this run, and names this process in the sidecar file,
/// whose path it returns when written. An error naming the holder when another run has it; a
/// warning only when the file system has no locks.
fn lock(file: &File, path: &Path) -> io::Result<Option<PathBuf>> {
    let sidecar = PathBuf::from(format!("{}.lock", path.display()));
    match os::try_lock_exclusive(file) {
        Ok(true) => {}
        Ok(false) => {
            let holder = std::fs::read_to_string(&sidecar)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "a process that did not say who it is".into());
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is in use by another run ({holder}, as {} says): two runs on one log \
                     would mix their records; wait for that run to end, or give this one \
                     another BLAZER_CHECKPOINT directory",
                    path.display(),
                    sidecar.display()
                ),
            ));
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOLCK | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL)
            ) =>
        {
            eprintln!(
                "blazer: checkpoint log {}: cannot be locked on this file system ({e}); make \
                 sure that no other run uses it at the same time",
                path.display()
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "an unknown host".into());
    let note = format!("pid {} on host {host}\n", std::process::id());
    // Best effort (the lock alone keeps other runs out), and never through a symbolic link.
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&sidecar)
        .and_then(|mut f| f.write_all(note.as_bytes()));
    Ok(written.ok().map(|()| sidecar))
}

/// Whether this process has a log open.
pub(crate) fn is_open() -> bool {
    log().is_some()
}

/// The build identity of the open log, with which its calls are keyed.
pub(crate) fn build() -> Option<NonZeroU64> {
    log()
        .as_ref()
        .and_then(|log| NonZeroU64::new(log.file.build))
}
/// Whether the log holds outputs of call `call` (a call it lacks need not look its items up).
pub(crate) fn holds(call: u128) -> bool {
    log().as_ref().is_some_and(|log| log.calls.contains(&call))
}

/// The restored output of item `index` of call `call`, if the log holds one computed from an
/// input with hash `input`. Each is handed out once.
pub(crate) fn take(call: u128, index: u64, input: u128) -> Option<Vec<u8>> {
    let mut guard = log();
    guard.as_mut()?.restored.remove(&(call, index, input))
}

/// Appends one record: outputs of call `call`, each `(index, input hash, output)`. A failure
/// to write is reported once on stderr and turns the log off (the run goes on without it).
pub(crate) fn append<'a>(call: u128, entries: impl IntoIterator<Item = (u64, u128, &'a [u8])>) {
    let mut guard = log();
    let Some(log) = guard.as_mut() else { return };
    let entries: Vec<(u64, u128, &'a serde_bytes::Bytes)> = entries
        .into_iter()
        .map(|(i, h, o)| (i, h, serde_bytes::Bytes::new(o)))
        .collect();
    if entries.is_empty() {
        return;
    }
    let record = match encode_record(call, &entries) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("blazer: checkpoint record not written: {e}");
            return;
        }
    };
    let file: &File = &log.file.file;
    let written = (&*file).write_all(&record).and_then(|()| {
        if log.sync_each {
            file.sync_data()
        } else {
            log.dirty.store(true, Ordering::Release);
            Ok(())
        }
    });
    match written {
        Ok(()) => log.appended += 1,
        Err(e) => {
            eprintln!(
                "blazer: checkpoint log {}: cannot write ({e}); checkpointing is off for the rest of the run",
                log.file.path.display()
            );
            *guard = None;
        }
    }
}

/// Syncs the log to its disk (`fdatasync`): at SIGTERM and at the end of the run. Returns the
/// number of records this run appended, or `None` when no log is open.
pub(crate) fn sync() -> Option<u64> {
    let guard = log();
    let log = guard.as_ref()?;
    if let Err(e) = log.file.file.sync_data() {
        eprintln!(
            "blazer: checkpoint log {}: sync failed: {e}",
            log.file.path.display()
        );
    }
    log.dirty.store(false, Ordering::Release);
    Some(log.appended)
}

/// Syncs and closes the log (the end of the run), which releases its lock; its file stays for
/// the next run.
pub(crate) fn close() {
    sync();
    *log() = None;
}

/// The helper thread that syncs the file every `every` while records are appended. It holds
/// the file weakly, so that closing the log closes the file (and releases its lock) at once.
fn start_syncer(file: Weak<File>, dirty: Arc<AtomicBool>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("blazer-checkpoint-sync".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(file) = file.upgrade() else {
                return; // the log was closed (it synced itself)
            };
            if dirty.swap(false, Ordering::AcqRel) {
                let _ = file.sync_data();
            }
        });
    if let Err(e) = spawned {
        eprintln!("blazer: no checkpoint sync thread ({e}); the log is synced at the end only");
    }
}

/// The file's header for build identity `build`.
fn header(build: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&build.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// One record: the outputs `entries` of call `call`, framed. Any size can be framed (and read
/// back).
fn encode_record(
    call: u128,
    entries: &[(u64, u128, &serde_bytes::Bytes)],
) -> postcard::Result<Vec<u8>> {
    let mut record = vec![0u8; FRAME];
    record = postcard::to_extend(&(call, entries), record)?;
    let crc = crc32fast::hash(&record[FRAME..]);
    let frame = frame((record.len() - FRAME) as u64, crc);
    record[..FRAME].copy_from_slice(&frame);
    Ok(record)
}

/// The frame before a payload of `len` bytes with checksum `crc`.
fn frame(len: u64, crc: u32) -> [u8; FRAME] {
    let mut f = [0u8; FRAME];
    f[..8].copy_from_slice(&len.to_le_bytes());
    f[8..].copy_from_slice(&crc.to_le_bytes());
    f
}

/// The payload length and checksum of the frame that `rest` starts with; `None` when `rest`
/// is shorter than a frame.
fn unframe(rest: &[u8]) -> Option<(u64, u32)> {
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let crc = u32::from_le_bytes(rest.get(8..FRAME)?.try_into().ok()?);
    Some((len, crc))
}

/// What the bytes of a log hold.
#[derive(Debug, Default)]
struct Scan {
    /// Bytes of the valid prefix (0: write a fresh header).
    valid_len: u64,
    /// Whole, valid records read.
    records: u64,
    /// Their outputs.
    restored: Restored,
    /// Why some of the file is not used.
    warning: Option<String>,
}

/// Reads the valid prefix of the log `bytes` for build identity `build`: see the module docs.
fn scan(bytes: &[u8], build: u64) -> Scan {
    let mut scan = Scan::default();
    if bytes.is_empty() {
        return scan;
    }
    if bytes.len() >= HEADER && bytes[..7] == MAGIC_FAMILY[..] && bytes[7] != MAGIC[7] {
        scan.warning = Some(format!(
            "it is in format version {} of another version of blazer (this one writes \
             version {}); starting a new log, nothing reused",
            char::from(bytes[7]).escape_default(),
            char::from(MAGIC[7])
        ));
        return scan;
    }
    if bytes.len() < HEADER || bytes[..8] != MAGIC[..] {
        scan.warning = Some(format!(
            "not a blazer checkpoint log ({} bytes with no valid header); starting a new log, nothing reused",
            bytes.len()
        ));
        return scan;
    }
    let stored_crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..16]) != stored_crc {
        scan.warning = Some("its header is corrupt; starting a new log, nothing reused".into());
        return scan;
    }
    let theirs = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if theirs != build {
        scan.warning = Some(format!(
            "it was written by another build of the program (build {theirs:016x}, this is \
             {build:016x}); starting a new log, nothing reused"
        ));
        return scan;
    }
    let mut at = HEADER;
    let problem = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break None;
        }
        // A length past the end of the file is a record cut short, whatever its size: it is
        // compared with what is there, never allocated.
        let Some((len, crc)) = unframe(rest) else {
            break Some("a record cut short (torn write)");
        };
        let Some(payload) = usize::try_from(len)
            .ok()
            .and_then(|len| rest[FRAME..].get(..len))
        else {
            break Some("a record cut short (torn write)");
        };
        if crc32fast::hash(payload) != crc {
            break Some("a record whose checksum is wrong");
        }
        let Ok((call, entries)) =
            postcard::from_bytes::<(u128, Vec<(u64, u128, serde_bytes::ByteBuf)>)>(payload)
        else {
            break Some("a record that does not decode");
        };
        for (index, input, output) in entries {
            scan.restored
                .insert((call, index, input), output.into_vec());
        }
        scan.records += 1;
        at += FRAME + payload.len();
    };
    scan.valid_len = at as u64;
    if let Some(what) = problem {
        scan.warning = Some(format!(
            "{what} at byte offset {at}; ignoring the {} bytes from there and reusing the {} \
             valid records before it",
            bytes.len() - at,
            scan.records
        ));
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(call, [(index, input hash, output)])`.
    type Record = (u128, Vec<(u64, u128, Vec<u8>)>);

    fn log_of(records: &[Record]) -> Vec<u8> {
        let mut bytes = header(7);
        for (call, entries) in records {
            let e: Vec<_> = entries
                .iter()
                .map(|(i, h, o)| (*i, *h, serde_bytes::Bytes::new(o)))
                .collect();
            bytes.extend(encode_record(*call, &e).unwrap());
        }
        bytes
    }

    fn two_records() -> Vec<u8> {
        log_of(&[
            (1, vec![(0, 10, vec![1]), (1, 11, vec![2, 2])]),
            (1, vec![(2, 12, vec![3; 300])]),
        ])
    }

    #[test]
    fn records_round_trip() {
        let bytes = two_records();
        let scan = scan(&bytes, 7);
        assert_eq!(scan.warning, None);
        assert_eq!((scan.records, scan.valid_len), (2, bytes.len() as u64));
        assert_eq!(scan.restored[&(1, 1, 11)], vec![2, 2]);
        assert_eq!(scan.restored[&(1, 2, 12)].len(), 300);
    }

    #[test]
    fn a_torn_tail_keeps_the_valid_prefix() {
        let full = two_records();
        let first_end = log_of(&[(1, vec![(0, 10, vec![1]), (1, 11, vec![2, 2])])]).len();
        // Every cut inside the second record keeps exactly the first.
        for cut in first_end + 1..full.len() {
            let scan = scan(&full[..cut], 7);
            assert_eq!(scan.records, 1, "cut at {cut}");
            assert_eq!(scan.valid_len, first_end as u64);
            let warning = scan.warning.expect("a warning");
            assert!(
                warning.contains(&format!("torn write) at byte offset {first_end}")),
                "{warning}"
            );
        }
    }

    #[test]
    fn a_corrupt_record_ends_the_valid_prefix() {
        let mut bytes = two_records();
        let first_end = log_of(&[(1, vec![(0, 10, vec![1]), (1, 11, vec![2, 2])])]).len();
        bytes[first_end + 20] ^= 0x55;
        let scan = scan(&bytes, 7);
        assert_eq!(scan.records, 1);
        assert!(scan.warning.unwrap().contains("checksum is wrong"));
        // A flipped byte in the first record: nothing is reused.
        let mut bytes = two_records();
        bytes[HEADER + 9] ^= 1;
        let scan = scan_again(&bytes);
        assert_eq!((scan.records, scan.valid_len), (0, HEADER as u64));
    }

    fn scan_again(bytes: &[u8]) -> Scan {
        scan(bytes, 7)
    }

    #[test]
    fn another_build_or_no_header_starts_afresh() {
        let bytes = two_records();
        let other = scan(&bytes, 8);
        assert_eq!((other.records, other.valid_len), (0, 0));
        assert!(other.warning.unwrap().contains("another build"));
        let junk = scan(b"hello, this is not a log at all", 7);
        assert_eq!(junk.valid_len, 0);
        assert!(junk
            .warning
            .unwrap()
            .contains("not a blazer checkpoint log"));
        let mut bad_header = bytes.clone();
        bad_header[12] ^= 1;
        assert!(scan(&bad_header, 7)
            .warning
            .unwrap()
            .contains("header is corrupt"));
        assert_eq!(scan(&[], 7).warning, None);
        // A log of format version 1 (32-bit lengths), of an older blazer.
        let mut v1 = bytes.clone();
        v1[..8].copy_from_slice(b"BLZCKPT1");
        let old = scan(&v1, 7);
        assert_eq!((old.records, old.valid_len), (0, 0));
        assert!(old
            .warning
            .unwrap()
            .contains("format version 1 of another version"));
    }

    /// A fresh directory for one test.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("blazer-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_symlinked_log_is_refused_and_its_target_left_intact() {
        let dir = temp_dir("symlink");
        let target = dir.join("precious");
        std::fs::write(&target, b"someone's data").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("t.blazer-checkpoint")).unwrap();
        let err = open_file(&dir, "t", 7).expect_err("a symlink is refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"someone's data");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_log_in_use_is_refused_naming_its_holder() {
        let dir = temp_dir("lock");
        // flock locks belong to open file descriptions: a second `open` conflicts with the
        // first in one process as in two.
        let first = open_file(&dir, "t", 7).unwrap();
        let err = open_file(&dir, "t", 7).expect_err("a log in use is refused");
        let msg = err.to_string();
        let holder = format!("pid {}", std::process::id());
        assert!(
            msg.contains("in use by another run") && msg.contains(&holder),
            "{msg}"
        );
        drop(first);
        open_file(&dir, "t", 7).expect("free again once the first run is done");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn record_lengths_of_any_size_round_trip() {
        for len in [0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) + 5, u64::MAX] {
            let framed = frame(len, 0xdead_beef);
            assert_eq!(unframe(&framed), Some((len, 0xdead_beef)), "length {len}");
        }
    }

    #[test]
    fn a_huge_length_in_a_short_file_is_a_torn_record() {
        let mut bytes = two_records();
        let whole = bytes.len();
        bytes.extend(frame(1 << 40, 0));
        bytes.extend([0u8; 100]);
        let scan = scan(&bytes, 7);
        assert_eq!((scan.records, scan.valid_len), (2, whole as u64));
        assert!(scan.warning.unwrap().contains("cut short"));
    }

    use proptest::prelude::*;

    /// Scans `bytes` and checks what it returns: a valid prefix of whole records, read with
    /// no more memory than the bytes justify.
    fn check_scan(bytes: &[u8]) -> Scan {
        let (found, peak) = crate::os::counting::peak_allocated(|| scan(bytes, 7));
        // Each output costs at most a map entry and its bytes; a length field costs nothing.
        assert!(
            peak <= 256 * bytes.len() + (64 << 10),
            "{peak} bytes allocated to read {} bytes",
            bytes.len()
        );
        let valid = found.valid_len as usize;
        assert!(valid <= bytes.len() && (valid == 0 || valid >= HEADER));
        assert_eq!(found.warning.is_some(), valid < bytes.len(), "{found:?}");
        if valid > 0 {
            // The prefix alone reads back whole: the same records, and no warning.
            let again = scan(&bytes[..valid], 7);
            assert_eq!(again.warning, None);
            assert_eq!(
                (again.records, again.valid_len, &again.restored),
                (found.records, found.valid_len, &found.restored)
            );
        }
        found
    }

    /// A valid log of records with keys all different: its bytes, the byte offset where each
    /// record ends, and every output by key.
    fn valid_log(records: &[Record]) -> (Vec<u8>, Vec<usize>, Restored) {
        let mut ends = Vec::new();
        let mut all = Restored::new();
        let mut bytes = header(7);
        for (call, entries) in records {
            bytes = [
                bytes,
                log_of(&[(*call, entries.clone())])[HEADER..].to_vec(),
            ]
            .concat();
            ends.push(bytes.len());
            for (i, h, o) in entries {
                all.insert((*call, *i, *h), o.clone());
            }
        }
        (bytes, ends, all)
    }

    /// Records whose entries have indices all different.
    fn records() -> impl Strategy<Value = Vec<Record>> {
        let entry = (any::<u128>(), proptest::collection::vec(any::<u8>(), 0..40));
        let record = (0u128..4, proptest::collection::vec(entry, 1..5));
        proptest::collection::vec(record, 0..6).prop_map(|records| {
            let mut index = 0u64;
            records
                .into_iter()
                .map(|(call, entries)| {
                    let entries = entries
                        .into_iter()
                        .map(|(h, o)| {
                            index += 1;
                            (index, h, o)
                        })
                        .collect();
                    (call, entries)
                })
                .collect()
        })
    }

    proptest! {
        // A few seconds in all; no regression files in the source tree.
        #![proptest_config(ProptestConfig {
            cases: 400,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_bytes_scan_without_panic(
            headed in any::<bool>(),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let bytes = if headed { [header(7), tail].concat() } else { tail };
            check_scan(&bytes);
        }

        #[test]
        fn a_cut_log_keeps_exactly_its_whole_records(records in records(), cut in any::<prop::sample::Index>()) {
            let (bytes, ends, all) = valid_log(&records);
            let cut = cut.index(bytes.len() + 1);
            let found = check_scan(&bytes[..cut]);
            let whole = ends.iter().filter(|end| **end <= cut).count();
            prop_assert_eq!(found.records, whole as u64);
            let kept: Restored = records[..whole]
                .iter()
                .flat_map(|(call, entries)| entries.iter().map(|(i, h, _)| (*call, *i, *h)))
                .map(|key| (key, all[&key].clone()))
                .collect();
            prop_assert_eq!(found.restored, kept);
        }

        #[test]
        fn flipped_bits_keep_the_records_before_them(
            records in records(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        ) {
            let (mut bytes, ends, all) = valid_log(&records);
            let mut first = bytes.len();
            for (at, bit) in flips {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
                first = first.min(at);
            }
            let found = check_scan(&bytes);
            // Every record that ends before the first damaged byte is kept, and whatever is
            // restored is what was written (CRC-32 catches a few flipped bits).
            if first >= HEADER {
                let intact = ends.iter().filter(|end| **end <= first).count();
                prop_assert!(found.records >= intact as u64);
            }
            for (key, output) in &found.restored {
                prop_assert_eq!(Some(output), all.get(key));
            }
        }

        #[test]
        fn a_huge_length_field_ends_the_prefix_without_allocating(
            records in records(),
            which in any::<prop::sample::Index>(),
            len in (1u64 << 31)..=u64::MAX,
        ) {
            prop_assume!(!records.is_empty());
            let (mut bytes, ends, _) = valid_log(&records);
            let r = which.index(records.len());
            let start = if r == 0 { HEADER } else { ends[r - 1] };
            bytes[start..start + 8].copy_from_slice(&len.to_le_bytes());
            let found = check_scan(&bytes);
            prop_assert_eq!(found.records, r as u64);
            prop_assert_eq!(found.valid_len, start as u64);
        }
    }
}
