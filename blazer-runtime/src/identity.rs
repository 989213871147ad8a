//! The build identity of this process: compared between ranks at start-up, and part of every
//! checkpoint key. Equal task names and signatures do not make two builds compatible: a struct
//! whose fields changed order keeps its name, and postcard would then decode one build's
//! values into the other's fields without an error; and a rebuilt task keeps its ID, so a
//! checkpoint must not hand a rebuilt program the results of the old one.
//!
//! The identity is a hash of the first of these that can be had:
//!
//! 1. the GNU build ID of the program's image in memory (the `NT_GNU_BUILD_ID` note, a hash
//!    of the linked file that Linux toolchains write by default), found through the loader
//!    (`dl_iterate_phdr`, [`crate::os::program_image`]) in microseconds. The image can be read
//!    even when the executable's file cannot (mode 0711, common on shared systems);
//! 2. without that note, a hash of the image's read-only segments in memory (code and
//!    constants: what a rebuild changes);
//! 3. where the image cannot be walked, the build ID note of the executable's file
//!    (`/proc/self/exe`), then a hash of the whole file.
//!
//! It is found once per process, and is never 0. Two copies of one build at different paths
//! have the same identity. When none can be had (no image walk, and a file that cannot be
//! read), ranks are not compared, and the checkpoint refuses to start rather than key results
//! with an identity that another build would share ([`checkpoint_build`]).

use std::io::{Read, Seek, SeekFrom};
use std::num::NonZeroU64;
use std::sync::OnceLock;
use xxhash_rust::xxh3::Xxh3;

/// The identity of the executable this process runs (see the module docs), found once; why
/// there is none otherwise.
pub(crate) fn executable() -> Result<NonZeroU64, String> {
    static FOUND: OnceLock<Result<NonZeroU64, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            identify(crate::os::program_image(), || {
                std::fs::File::open("/proc/self/exe")
                    .or_else(|_| std::env::current_exe().and_then(std::fs::File::open))
            })
        })
        .clone()
}

/// The identity that ranks compare at start-up ([`explain_builds`]): the executable's, or 0
/// when it has none (such a rank is not compared).
pub(crate) fn build_id() -> u64 {
    executable().map_or(0, NonZeroU64::get)
}

/// The build identity a checkpoint keys its results with: the executable's, combined with the
/// program's task set (`tasks`, the registry's fingerprint of its task IDs). Never 0; an error
/// that says why when the executable has no identity.
pub(crate) fn checkpoint_build(tasks: u64) -> Result<NonZeroU64, String> {
    combine(executable(), tasks)
}

/// The checkpoint's build identity of an executable of identity `executable` with task set
/// `tasks`: either part that differs makes another identity, and it is never 0.
fn combine(executable: Result<NonZeroU64, String>, tasks: u64) -> Result<NonZeroU64, String> {
    let executable = executable?;
    let mut h = Xxh3::new();
    h.update(b"blazer checkpoint build v1\0");
    h.update(&executable.get().to_le_bytes());
    h.update(&tasks.to_le_bytes());
    Ok(nonzero(h.digest()))
}

/// The identity of a program whose loaded image is `image` (`None`: it cannot be walked) and
/// whose executable file `open` opens: see the module docs for the order.
fn identify(
    image: Option<crate::os::ProgramImage>,
    open: impl Fn() -> std::io::Result<std::fs::File>,
) -> Result<NonZeroU64, String> {
    // Each source hashed under its own tag, so that different sources never agree by chance;
    // a build ID is the same whether read from memory or from the file.
    let tagged = |tag: &[u8], parts: &[&[u8]]| {
        let mut h = Xxh3::new();
        h.update(tag);
        for part in parts {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        nonzero(h.digest())
    };
    if let Some(image) = image {
        if let Some(id) = image.notes.iter().find_map(|notes| build_id_note(notes)) {
            return Ok(tagged(b"gnu build id\0", &[id]));
        }
        if !image.read_only.is_empty() {
            return Ok(tagged(b"read-only image\0", &image.read_only));
        }
    }
    let unreadable = |e: std::io::Error| {
        format!(
            "this program has no identity: its image in memory could not be read, nor its \
             executable file ({e})"
        )
    };
    let noted = open().ok().and_then(|mut f| gnu_build_id(&mut f));
    if let Some(id) = noted {
        return Ok(tagged(b"gnu build id\0", &[&id]));
    }
    let file = open().map_err(unreadable)?;
    hash_of(file).map_err(unreadable)
}

/// `hash` as an identity: 0 ("unknown" on the wire) becomes 1.
fn nonzero(hash: u64) -> NonZeroU64 {
    NonZeroU64::new(hash).unwrap_or(NonZeroU64::MIN)
}

/// The GNU build ID of an ELF64 little-endian file (x86_64, aarch64): the `NT_GNU_BUILD_ID`
/// note of a `PT_NOTE` segment. `None` for other files and files without one.
fn gnu_build_id(file: &mut (impl Read + Seek)) -> Option<Vec<u8>> {
    const PT_NOTE: u32 = 4;
    let mut header = [0u8; 64];
    file.read_exact(&mut header).ok()?;
    // Magic, 64-bit class, little-endian.
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 0x20),
        usize::from(u16_at(&header, 0x36)),
        usize::from(u16_at(&header, 0x38)),
    );
    // An entry is 56 bytes; a bound keeps a corrupt header from asking for gigabytes.
    if !(56..=256).contains(&phentsize) {
        return None;
    }
    let mut table = vec![0u8; phentsize * phnum];
    file.seek(SeekFrom::Start(phoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    for entry in table.chunks_exact(phentsize) {
        let (offset, size) = (u64_at(entry, 8), u64_at(entry, 32));
        if u32_at(entry, 0) != PT_NOTE || size > 1 << 20 {
            continue;
        }
        let mut notes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut notes).ok()?;
        if let Some(id) = build_id_note(&notes) {
            return Some(id.to_vec());
        }
    }
    None
}

/// The descriptor of the `NT_GNU_BUILD_ID` note among the contents of one `PT_NOTE` segment,
/// whose notes are aligned to 4 bytes (or to 8, as some linkers align them).
fn build_id_note(notes: &[u8]) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let u32_at = |at: usize| Some(u32::from_le_bytes(notes.get(at..at + 4)?.try_into().ok()?));
    [4usize, 8].into_iter().find_map(|align| {
        // Each note: name size, descriptor size, type, then name and descriptor, each padded.
        let mut at = 0usize;
        while at + 12 <= notes.len() {
            let (namesz, descsz) = (u32_at(at)? as usize, u32_at(at + 4)? as usize);
            let kind = u32_at(at + 8)?;
            let name = at + 12;
            let desc = name.checked_add(namesz.checked_next_multiple_of(align)?)?;
            let end = desc.checked_add(descsz.checked_next_multiple_of(align)?)?;
            if desc.checked_add(descsz)? > notes.len() {
                return None;
            }
            if kind == NT_GNU_BUILD_ID && notes[name..name + namesz] == *b"GNU\0" && descsz > 0 {
                return Some(&notes[desc..desc + descsz]);
            }
            at = end;
        }
        None
    })
}

/// Hashes everything `reader` yields (xxh3, with the length; never 0).
fn hash_of(mut reader: impl Read) -> std::io::Result<NonZeroU64> {
    let mut h = Xxh3::new();
    h.update(b"executable file\0");
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        h.update(&buffer[..n]);
        total += n as u64;
    }
    h.update(&total.to_le_bytes());
    Ok(nonzero(h.digest()))
}

/// Explains which ranks run another build than rank 0, given every rank's [`build_id`]
/// (`ids[r]` is rank `r`'s); `None` when they all agree. A rank whose identity is unknown (0)
/// is not compared.
pub(crate) fn explain_builds(ids: &[u64]) -> Option<String> {
    let ours = *ids.first()?;
    if ours == 0 {
        return None;
    }
    // One group per foreign build, in rank order.
    let mut groups: Vec<(u64, Vec<String>)> = Vec::new();
    for (rank, id) in ids.iter().enumerate().skip(1) {
        if *id == 0 || *id == ours {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| g == id) {
            Some((_, ranks)) => ranks.push(rank.to_string()),
            None => groups.push((*id, vec![rank.to_string()])),
        }
    }
    let each: Vec<String> = groups
        .iter()
        .map(|(_, ranks)| match ranks.as_slice() {
            [one] => format!("rank {one} runs another build of the program than rank 0"),
            many => format!(
                "ranks {} run another build of the program than rank 0",
                many.join(", ")
            ),
        })
        .collect();
    (!each.is_empty()).then(|| {
        format!(
            "{} (the same tasks, but another executable: a type or a dependency may differ, and \
             values would be decoded wrongly); start the same build on every rank",
            each.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::ProgramImage;

    #[test]
    fn the_hash_covers_every_byte() {
        let a = vec![7u8; 3 << 20];
        let mut b = a.clone();
        b[(3 << 20) - 1] = 8;
        let (ha, hb) = (hash_of(&a[..]).unwrap(), hash_of(&b[..]).unwrap());
        assert_ne!(ha, hb);
        assert_eq!(ha, hash_of(&a[..]).unwrap());
        assert_ne!(hash_of(&a[..10]).unwrap(), hash_of(&a[..11]).unwrap());
        assert_ne!(build_id(), 0, "this test binary can be read");
    }

    /// The contents of a note segment: two notes, the second the build ID `build_id`.
    fn notes_with(build_id: &[u8]) -> Vec<u8> {
        let mut notes = Vec::new();
        for (name, kind, desc) in [
            (&b"GNU\0"[..], 1u32, &[0u8; 16][..]),
            (b"GNU\0", 3, build_id),
        ] {
            notes.extend((name.len() as u32).to_le_bytes());
            notes.extend((desc.len() as u32).to_le_bytes());
            notes.extend(kind.to_le_bytes());
            notes.extend(name);
            notes.extend(desc);
            notes.resize(notes.len().div_ceil(4) * 4, 0);
        }
        notes
    }

    /// A minimal ELF64 file: its header, one program header (a `PT_NOTE` segment) and the
    /// notes of [`notes_with`].
    fn elf_with_notes(build_id: &[u8]) -> Vec<u8> {
        let notes = notes_with(build_id);
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // program headers at 64
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        elf[64 + 8..64 + 16].copy_from_slice(&120u64.to_le_bytes());
        elf[64 + 32..64 + 40].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        elf.extend(notes);
        elf
    }

    #[test]
    fn the_gnu_build_id_note_is_found() {
        let id = [0xab, 0xcd, 0xef, 1, 2];
        let elf = elf_with_notes(&id);
        assert_eq!(
            gnu_build_id(&mut std::io::Cursor::new(&elf)),
            Some(id.to_vec())
        );
        // Truncated, or not ELF: no build ID, and no panic.
        for cut in [0, 10, 64, 100, 130, elf.len() - 1] {
            assert_eq!(gnu_build_id(&mut std::io::Cursor::new(&elf[..cut])), None);
        }
        assert_eq!(
            gnu_build_id(&mut std::io::Cursor::new(vec![0u8; 200])),
            None
        );
    }

    fn unreadable() -> std::io::Result<std::fs::File> {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    }

    /// A program image as [`crate::os::program_image`] finds it: one note segment (with the
    /// build ID `id`, if any) and one read-only segment `code`.
    fn image(id: Option<&[u8]>, code: &[u8]) -> ProgramImage {
        let leak = |v: Vec<u8>| -> &'static [u8] { Box::leak(v.into_boxed_slice()) };
        ProgramImage {
            notes: id.map(|id| leak(notes_with(id))).into_iter().collect(),
            read_only: vec![leak(code.to_vec())],
            data: Vec::new(),
        }
    }

    #[test]
    fn an_unreadable_executable_is_identified_from_its_image() {
        // Mode 0711: the file cannot be read, its image in memory can.
        let a = identify(Some(image(Some(&[1, 2, 3]), b"code")), unreadable).unwrap();
        let b = identify(Some(image(Some(&[1, 2, 4]), b"code")), unreadable).unwrap();
        assert_ne!(a, b, "another build ID");
        // The same build ID read from the file (another rank, say) gives the same identity.
        let path = std::env::temp_dir().join(format!("blazer-identity-{}", std::process::id()));
        std::fs::write(&path, elf_with_notes(&[1, 2, 3])).unwrap();
        assert_eq!(identify(None, || std::fs::File::open(&path)), Ok(a));
        std::fs::remove_file(&path).unwrap();
        // Without a build ID, the read-only segments say which build it is.
        let c = identify(Some(image(None, b"code")), unreadable).unwrap();
        let d = identify(Some(image(None, b"cod3")), unreadable).unwrap();
        assert!(c != d && c != a, "the code is hashed");
        // Nothing to read: no identity, and the reason.
        let none = identify(None, unreadable).unwrap_err();
        assert!(
            none.contains("no identity") && none.contains("permission denied"),
            "{none}"
        );
    }

    #[test]
    fn the_checkpoint_build_is_never_0_and_sees_the_task_set() {
        let exe = identify(Some(image(Some(&[9]), b"")), unreadable).unwrap();
        let other = identify(Some(image(Some(&[8]), b"")), unreadable).unwrap();
        let build = combine(Ok(exe), 1).unwrap();
        assert_eq!(combine(Ok(exe), 1), Ok(build));
        assert_ne!(combine(Ok(exe), 2), Ok(build), "another task set");
        assert_ne!(combine(Ok(other), 1), Ok(build), "another executable");
        assert_eq!(combine(Err("why".into()), 1), Err("why".into()));
        // 0 means "unknown" on the wire: no hash maps to it.
        assert_eq!(nonzero(0), NonZeroU64::MIN);
        // This test binary has an identity, the same each time.
        assert!(executable().is_ok_and(|e| Ok(e) == executable() && e.get() == build_id()));
    }

    #[test]
    fn the_image_in_memory_has_the_build_id_of_the_file() {
        let exe = || std::fs::File::open("/proc/self/exe");
        let in_file = exe().ok().and_then(|mut f| gnu_build_id(&mut f));
        let from_memory = identify(crate::os::program_image(), unreadable).unwrap();
        match in_file {
            // What another rank would find reading the file, the memory says without it.
            Some(_) => assert_eq!(identify(None, exe), Ok(from_memory)),
            None => eprintln!("this test binary has no GNU build ID: its code is hashed"),
        }
    }

    #[test]
    fn ranks_with_another_build_are_named() {
        assert_eq!(explain_builds(&[5, 5, 5]), None);
        assert_eq!(explain_builds(&[5, 0, 5]), None, "unknown is not compared");
        assert_eq!(explain_builds(&[0, 6, 7]), None);
        let one = explain_builds(&[5, 6, 5]).unwrap();
        assert!(
            one.starts_with("rank 1 runs another build of the program than rank 0 (the same"),
            "{one}"
        );
        let groups = explain_builds(&[5, 6, 7, 6]).unwrap();
        assert!(
            groups.starts_with(
                "ranks 1, 3 run another build of the program than rank 0; rank 2 runs another"
            ),
            "{groups}"
        );
    }
}
