//! The driver's durable checkpoint log: an append-only file of checksummed records, each the
//! outputs of one finished batch, keyed by the call's identity and each item's index and input
//! hash (see [`crate::checkpoint::key`] for what the keys are made of). This module knows
//! bytes and keys, not calls.
//!
//! # File format
//!
//! ```text
//! header  "BLZCKPT1" | build ID (u64 LE) | CRC-32 of the 16 bytes before (u32 LE)
//! record  payload length (u32 LE) | CRC-32 of the payload (u32 LE) | payload
//! payload postcard of (call key: u128, [(index: u64, input hash: u128, output bytes)])
//! ```
//!
//! On opening, records are read and checked in order. The first one that is cut short (a
//! record being written when the process was killed) or whose checksum or encoding is wrong
//! ends the valid prefix: a warning names the file and the byte offset, the records before it
//! are reused, and the file is truncated there before anything is appended. A log written by
//! another build of the program (another build ID) is started afresh, with a warning.
//!
//! # Flush policy
//!
//! Each record is written with one `write(2)` as soon as its batch's outputs reach the driver,
//! so it is in the kernel from then on: killing the process (SIGKILL, the OOM killer, the end
//! of the walltime) loses no written record. Against a crash of the node itself the file is
//! `fdatasync`ed by a helper thread at most once every `BLAZER_CHECKPOINT_SYNC_S` seconds (one
//! by default) while records are being written, and always at SIGTERM and at the end of the
//! run; with `BLAZER_CHECKPOINT_SYNC_S=0` every record is synced before the driver goes on.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

const MAGIC: &[u8; 8] = b"BLZCKPT1";
const HEADER: usize = 20;
/// A record larger than this is taken for a corrupt length (outputs of one batch).
const MAX_RECORD: u32 = 1 << 31;

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
    path: PathBuf,
    file: File,
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
/// valid prefix is kept); only a file that cannot be opened or written is an error.
pub(crate) fn open(dir: &Path, name: &str, build: u64, sync: Duration) -> std::io::Result<Opened> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.blazer-checkpoint"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let scan = scan(&bytes, build);
    if let Some(why) = &scan.warning {
        eprintln!("blazer: checkpoint log {}: {why}", path.display());
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
    let dirty = Arc::new(AtomicBool::new(false));
    if !sync.is_zero() {
        start_syncer(file.try_clone()?, Arc::clone(&dirty), sync);
    }
    let opened = Opened {
        path: path.clone(),
        records: scan.records,
        outputs: scan.restored.len() as u64,
    };
    let calls = scan.restored.keys().map(|(call, _, _)| *call).collect();
    *log() = Some(Log {
        path,
        file,
        restored: scan.restored,
        calls,
        dirty,
        sync_each: sync.is_zero(),
        appended: 0,
    });
    Ok(opened)
}

/// Whether this process has a log open.
pub(crate) fn is_open() -> bool {
    log().is_some()
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
    let written = log.file.write_all(&record).and_then(|()| {
        if log.sync_each {
            log.file.sync_data()
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
                log.path.display()
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
    if let Err(e) = log.file.sync_data() {
        eprintln!(
            "blazer: checkpoint log {}: sync failed: {e}",
            log.path.display()
        );
    }
    log.dirty.store(false, Ordering::Release);
    Some(log.appended)
}

/// Syncs and closes the log (the end of the run); its file stays for the next run.
pub(crate) fn close() {
    sync();
    *log() = None;
}

/// The helper thread that syncs the file every `every` while records are appended.
fn start_syncer(file: File, dirty: Arc<AtomicBool>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("blazer-checkpoint-sync".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            if Arc::strong_count(&dirty) == 1 {
                return; // the log was closed (it synced itself)
            }
            if dirty.swap(false, Ordering::AcqRel) {
                let _ = file.sync_data();
            }
        });
    if let Err(e) = spawned {
        eprintln!("blazer: no checkpoint sync thread ({e}); the log is synced at the end only");
    }
}

fn header(build: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&build.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

fn encode_record(
    call: u128,
    entries: &[(u64, u128, &serde_bytes::Bytes)],
) -> postcard::Result<Vec<u8>> {
    let mut record = vec![0u8; 8];
    record = postcard::to_extend(&(call, entries), record)?;
    let len = (record.len() - 8) as u32;
    let crc = crc32fast::hash(&record[8..]);
    record[..4].copy_from_slice(&len.to_le_bytes());
    record[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(record)
}

/// What the bytes of a log hold.
#[derive(Debug, Default)]
struct Scan {
    /// Bytes of the valid prefix (0: write a fresh header).
    valid_len: u64,
    records: u64,
    restored: Restored,
    /// Why some of the file is not used.
    warning: Option<String>,
}

fn scan(bytes: &[u8], build: u64) -> Scan {
    let mut scan = Scan::default();
    if bytes.is_empty() {
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
        if rest.len() < 8 {
            break Some("a record cut short (torn write)");
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len >= MAX_RECORD || rest.len() - 8 < len as usize {
            break Some("a record cut short (torn write)");
        }
        let payload = &rest[8..8 + len as usize];
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
        at += 8 + len as usize;
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
    }
}
