//! The build identity of this process, compared between ranks at start-up. Equal task names
//! and signatures do not make two builds compatible: a struct whose fields changed order keeps
//! its name, and postcard would then decode one build's values into the other's fields without
//! an error.
//!
//! The identity is the executable's GNU build ID, a hash of the linked file that the linker
//! writes into an ELF note (Linux toolchains add it by default), read in microseconds; without
//! one, a hash of the whole file (about 0.3 s for a 20 MB debug binary).

use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom};

/// The identity of the executable this process runs (`/proc/self/exe`, or what
/// `std::env::current_exe` names elsewhere); 0 when it cannot be read. Two copies of one
/// build at different paths have the same identity.
pub(crate) fn build_id() -> u64 {
    let open = || {
        std::fs::File::open("/proc/self/exe")
            .or_else(|_| std::env::current_exe().and_then(std::fs::File::open))
    };
    let noted = open().ok().and_then(|mut f| gnu_build_id(&mut f));
    match noted {
        Some(id) => hash_of(&id[..]).unwrap_or(0),
        None => open().and_then(hash_of).unwrap_or(0),
    }
}

/// The GNU build ID of an ELF64 little-endian file (x86_64, aarch64): the `NT_GNU_BUILD_ID`
/// note of a `PT_NOTE` segment. `None` for other files and files without one.
fn gnu_build_id(file: &mut (impl Read + Seek)) -> Option<Vec<u8>> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
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
    if phentsize < 56 {
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
        // Each note: name size, descriptor size, type, then name and descriptor, each padded
        // to 4 bytes.
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz) = (u32_at(&notes, at) as usize, u32_at(&notes, at + 4) as usize);
            let kind = u32_at(&notes, at + 8);
            let name = at + 12;
            let desc = name + namesz.div_ceil(4) * 4;
            let end = desc + descsz.div_ceil(4) * 4;
            if desc + descsz > notes.len() {
                break;
            }
            if kind == NT_GNU_BUILD_ID && notes[name..name + namesz] == *b"GNU\0" && descsz > 0 {
                return Some(notes[desc..desc + descsz].to_vec());
            }
            at = end;
        }
    }
    None
}

/// Hashes everything `reader` yields (never 0, which means "unknown"). SipHash through std's
/// `DefaultHasher`, whose algorithm may change between Rust releases: then the builds differ
/// anyway.
fn hash_of(mut reader: impl Read) -> std::io::Result<u64> {
    let mut hasher = std::hash::DefaultHasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.write(&buffer[..n]);
        total += n as u64;
    }
    hasher.write_u64(total);
    Ok(hasher.finish().max(1))
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

    /// A minimal ELF64 file: its header, one program header (a `PT_NOTE` segment) and two
    /// notes, the second the build ID.
    fn elf_with_notes(build_id: &[u8]) -> Vec<u8> {
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
