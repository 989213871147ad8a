//! The few operating-system calls that std lacks, each behind a safe function: every unsafe
//! block of the checkpoint log and of the build identity lives here.
//!
//! * [`try_lock_exclusive`]: a non-blocking exclusive `flock(2)` on an open file (std's
//!   `File::try_lock` needs Rust 1.89; the workspace supports 1.88).
//! * [`program_image`]: the running program's own image as the loader mapped it
//!   (`dl_iterate_phdr`): its notes and its read-only segments, which can be read even when
//!   the executable's file cannot (mode 0711 on shared systems).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Takes an exclusive `flock` on `file` without waiting: `Ok(true)` when taken, `Ok(false)`
/// when another open file description holds it (another process, or another `open` of the
/// same file in this one). Released when the last descriptor of `file`'s description closes.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor that `file` owns and keeps open during the call; no
    // memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::WouldBlock => Ok(false),
        _ => Err(err),
    }
}

/// The running program's image as mapped in memory: the parts that identify its build.
#[derive(Debug, Default)]
pub(crate) struct ProgramImage {
    /// The contents of its `PT_NOTE` segments (the GNU build ID is one of the notes).
    pub(crate) notes: Vec<&'static [u8]>,
    /// Its loaded segments that are neither writable nor written: code and constants.
    pub(crate) read_only: Vec<&'static [u8]>,
    /// `[start, end)` of each loaded segment that holds no code, as loaded from the file
    /// (constants, and data the loader made read-only after relocating it): where a kernel
    /// descriptor may lie (`dist/kernel.rs`).
    pub(crate) data: Vec<(usize, usize)>,
}

/// The image of the running program (the main executable, not its shared libraries), read
/// from memory through `dl_iterate_phdr`; `None` where the loader offers no such walk.
#[cfg(target_os = "linux")]
pub(crate) fn program_image() -> Option<ProgramImage> {
    /// Called by `dl_iterate_phdr` for each loaded object, the program first: reads that one
    /// into `*data` (an `Option<ProgramImage>`) and stops the walk.
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the duration of the
        // call, and `data` is the `&mut Option<ProgramImage>` that `program_image` passed,
        // which nothing else uses until the walk returns.
        let (info, image) = unsafe { (&*info, &mut *data.cast::<Option<ProgramImage>>()) };
        *image = Some(read_image(info));
        1
    }
    let mut image: Option<ProgramImage> = None;
    // SAFETY: `first` has the signature `dl_iterate_phdr` calls, touches `data` only as the
    // `Option<ProgramImage>` it is, and `image` outlives the call, which is synchronous.
    unsafe { libc::dl_iterate_phdr(Some(first), (&raw mut image).cast()) };
    image
}

/// Elsewhere: no walk of the loaded image (the identity comes from the file).
#[cfg(not(target_os = "linux"))]
pub(crate) fn program_image() -> Option<ProgramImage> {
    None
}

/// The notes and read-only segments of the object `info` describes.
#[cfg(target_os = "linux")]
fn read_image(info: &libc::dl_phdr_info) -> ProgramImage {
    let mut image = ProgramImage::default();
    if info.dlpi_phdr.is_null() || info.dlpi_phnum == 0 {
        return image;
    }
    // SAFETY: the loader's program headers of a loaded object: `dlpi_phnum` entries at
    // `dlpi_phdr`, mapped and never changed while the object is loaded (the program always).
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let bias = info.dlpi_addr as usize;
    // A segment's bytes as loaded: [start, end) in memory, taken from the file (`filesz`).
    let range = |vaddr: usize, filesz: usize| -> Option<(usize, usize)> {
        let start = bias.checked_add(vaddr)?;
        let end = start.checked_add(filesz)?;
        (filesz > 0 && filesz <= isize::MAX as usize).then_some((start, end))
    };
    // Segments mapped readable and never written: not PF_W (RELRO lies inside writable
    // ones, and text relocations are done before `main`).
    let read_only: Vec<(usize, usize)> = headers
        .iter()
        .filter(|h| {
            h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_R != 0 && h.p_flags & libc::PF_W == 0
        })
        .filter_map(|h| range(h.p_vaddr as usize, h.p_filesz as usize))
        .collect();
    let slice = |(start, end): (usize, usize)| -> &'static [u8] {
        // SAFETY: `[start, end)` lies inside a read-only segment of the running program, which
        // the loader mapped readable from the file and which stays mapped and unchanged for
        // the life of the process (the program is never unloaded).
        unsafe { std::slice::from_raw_parts(start as *const u8, end - start) }
    };
    for h in headers.iter().filter(|h| h.p_type == libc::PT_NOTE) {
        // Only a note inside a read-only loaded segment is surely mapped.
        if let Some((start, end)) = range(h.p_vaddr as usize, h.p_filesz as usize) {
            if read_only.iter().any(|&(s, e)| s <= start && end <= e) {
                image.notes.push(slice((start, end)));
            }
        }
    }
    image.read_only = read_only.into_iter().map(slice).collect();
    image.data = headers
        .iter()
        .filter(|h| {
            h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_R != 0 && h.p_flags & libc::PF_X == 0
        })
        .filter_map(|h| range(h.p_vaddr as usize, h.p_filesz as usize))
        .collect();
    image
}

/// Test support: the peak of bytes that a closure keeps allocated on its thread, counted by
/// the global allocator of this crate's unit tests.
#[cfg(test)]
pub(crate) mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The system allocator, counting each thread's live bytes while the thread measures.
    struct Counting;

    #[global_allocator]
    static COUNTING: Counting = Counting;

    thread_local! {
        /// Bytes allocated minus bytes freed on this thread since its measure began.
        static LIVE: Cell<isize> = const { Cell::new(0) };
        /// The highest `LIVE` since then.
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    /// Counts `delta` bytes on this thread. Const thread-locals without `Drop` need no
    /// allocation and live until the thread's end, so the allocator may use them.
    fn note(delta: isize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    // SAFETY: every method forwards to the system allocator under the same contract; the
    // counting beside it neither allocates nor touches the memory.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size() as isize);
            // SAFETY: the caller's contract for `alloc`, passed on unchanged.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size() as isize);
            // SAFETY: the caller's contract for `alloc_zeroed`, passed on unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            note(-(layout.size() as isize));
            // SAFETY: the caller's contract for `dealloc`, passed on unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size as isize - layout.size() as isize);
            // SAFETY: the caller's contract for `realloc`, passed on unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Runs `f` and returns its result with the most bytes it held allocated at once on this
    /// thread (what it allocated and had not freed).
    pub(crate) fn peak_allocated<R>(f: impl FnOnce() -> R) -> (R, usize) {
        LIVE.set(0);
        PEAK.set(0);
        let r = f();
        (r, PEAK.get().max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_file_is_refused_until_the_first_is_closed() {
        let path = std::env::temp_dir().join(format!("blazer-os-lock-{}", std::process::id()));
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap()
        };
        let first = open();
        assert!(try_lock_exclusive(&first).unwrap());
        let second = open();
        assert!(!try_lock_exclusive(&second).unwrap(), "held by the first");
        drop(first);
        assert!(try_lock_exclusive(&second).unwrap());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_program_image_has_its_code() {
        let image = program_image().expect("dl_iterate_phdr");
        let code: usize = image.read_only.iter().map(|s| s.len()).sum();
        assert!(code > 4096, "{code} bytes of read-only segments");
        // Its notes can be read (identity.rs checks the build ID among them against the file).
        let noted: usize = image
            .notes
            .iter()
            .map(|n| n.iter().filter(|b| **b != 0).count())
            .sum();
        assert!(noted > 0, "{} notes", image.notes.len());
    }

    #[test]
    fn the_peak_counts_what_was_held_at_once() {
        let ((), peak) = counting::peak_allocated(|| {
            let a = vec![0u8; 10_000];
            drop(a);
            let b = vec![0u8; 3_000];
            drop(b);
        });
        assert!((10_000..13_000).contains(&peak), "{peak}");
    }
}
