//! Kernels: the typed code of a dataset step, found on every rank from a reference that
//! travels in the op.
//!
//! A step such as `map(square)` needs code generic over the task and the item types
//! (`Vec<i64>` in, `Vec<i64>` out). Rust makes that code where the driver names the step,
//! and only there: no registry can list every instantiation. But every rank runs the same
//! build (the start-up handshake checks it), so a descriptor's distance from an anchor in
//! the program image is the same on every rank. The driver sends that distance
//! ([`KernelRef`]); a rank turns it back into the descriptor after checking that it lies
//! inside a loaded data segment of the program, is aligned, and starts with [`MAGIC`]: a
//! corrupted reference is an error, not a jump. (UPC++ sends its RPCs' function pointers
//! the same way.) The types themselves are checked again where it costs nothing: a kernel
//! downcasts its partition, so a kernel of the wrong type fails with an error.

use crate::dist::part::{Element, Input, Part};
use crate::wire::data_op::KernelRef;
use std::sync::OnceLock;

/// The first word of every descriptor.
const MAGIC: u64 = 0xB1A2_E7D5_7A5E_C0DE;

/// A partition a step made, or why it could not.
pub(crate) type Made = Result<Box<dyn Part>, String>;

/// A window step: the partition, the items before it and after it (encoded `Vec`s).
pub(crate) type WindowFn = fn(Input<'_>, &[u8], &[u8]) -> Made;
/// A partition's fold from the encoded first value: `None` when it has nothing to fold.
pub(crate) type LocalFold = fn(Input<'_>, &[u8]) -> Result<Option<Vec<u8>>, String>;
/// Two encoded results combined in partition order.
pub(crate) type Combine = fn(&[u8], &[u8]) -> Result<Vec<u8>, String>;
/// A partition cut into one encoded piece per partition.
pub(crate) type Split = fn(Input<'_>, usize) -> Result<Vec<Vec<u8>>, String>;

/// What a step does with its partition; each kind has its own shape.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    /// Makes this rank's partition from its range of indices.
    Generate(fn(std::ops::Range<u64>) -> Made),
    /// One partition into another.
    Transform(fn(Input<'_>) -> Made),
    /// One partition into another, seeing the items before and after it (encoded `Vec`s).
    Window(WindowFn),
    /// Folds a partition (`None` when it is empty and the fold has no first value), and
    /// combines two partitions' results, all encoded.
    Fold {
        /// A partition's result, from the encoded first value (empty: none).
        local: LocalFold,
        /// Two results in partition order.
        combine: Combine,
    },
    /// Cuts a partition into one encoded piece per destination partition, by key; and
    /// makes a partition from the pieces every partition sent it, in partition order.
    Shuffle {
        /// Pieces, one per partition.
        split: Split,
        /// The new partition.
        merge: fn(Vec<Vec<u8>>) -> Made,
    },
    /// Nothing but the decoder: reads, rebalances.
    Decode,
}

/// A step's code, as a constant in the program image. Made by [`Kernel::new`] inside
/// `const { &... }` in a generic function, so that each instantiation has its own.
#[repr(C)]
pub(crate) struct Kernel {
    magic: u64,
    /// `!MAGIC`: a lone copy of the magic word (a literal among constants) is not followed
    /// by it.
    check: u64,
    /// The task(s) the step runs, for errors.
    pub(crate) task: &'static str,
    /// Decodes an encoded partition of the step's input items.
    pub(crate) decode: fn(&[u8]) -> Made,
    /// What the step does.
    pub(crate) body: Body,
}

impl Kernel {
    /// A descriptor for a step over items `T` running `task`.
    pub(crate) const fn new<T: Element>(task: &'static str, body: Body) -> Kernel {
        Kernel {
            magic: MAGIC,
            check: !MAGIC,
            task,
            decode: decode::<T>,
            body,
        }
    }

    /// The reference to this descriptor that every rank of the build understands.
    pub(crate) fn reference(&'static self) -> KernelRef {
        KernelRef(self as *const Kernel as i64 - anchor())
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernel({})", self.task)
    }
}

/// Decodes an encoded `Vec<T>` partition.
fn decode<T: Element>(bytes: &[u8]) -> Made {
    postcard::from_bytes::<Vec<T>>(bytes)
        .map(|v| Box::new(v) as Box<dyn Part>)
        .map_err(|e| {
            format!(
                "a partition that does not decode as Vec<{}>: {e}",
                std::any::type_name::<T>()
            )
        })
}

/// The anchor the references count from (any constant of the image would do).
static ANCHOR: u8 = 0x5A;

fn anchor() -> i64 {
    &raw const ANCHOR as i64
}

/// Where descriptors may lie: the program's loaded segments without code.
fn data_segments() -> &'static [(usize, usize)] {
    static SEGMENTS: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        crate::os::program_image()
            .map(|image| image.data)
            .unwrap_or_default()
    })
}

impl KernelRef {
    /// The descriptor this reference names, checked: inside a data segment of the program,
    /// aligned, and starting with the magic word.
    pub(crate) fn resolve(self) -> Result<&'static Kernel, String> {
        let bad = || format!("a kernel reference ({:#x}) that names no kernel", self.0);
        let addr = anchor().checked_add(self.0).ok_or_else(bad)? as usize;
        let end = addr
            .checked_add(std::mem::size_of::<Kernel>())
            .ok_or_else(bad)?;
        let inside = data_segments()
            .iter()
            .any(|&(start, stop)| start <= addr && end <= stop);
        if !inside || !addr.is_multiple_of(std::mem::align_of::<Kernel>()) {
            return Err(bad());
        }
        // SAFETY: `[addr, end)` lies inside a segment of the program image that the loader
        // mapped readable from the file and never unmaps, and `addr` is aligned for a u64; it holds at least two.
        let words = unsafe { std::ptr::read(addr as *const [u64; 2]) };
        if words != [MAGIC, !MAGIC] {
            return Err(bad());
        }
        // SAFETY: every rank runs the same build (checked at start-up), and the driver sent
        // the distance of a `&'static Kernel` from `ANCHOR`: the same distance here names the
        // same constant, which starts with `MAGIC` as checked. A corrupted reference that
        // still passes would have to land on another descriptor's first words (only they hold
        // `MAGIC, !MAGIC` outside code), and a wrong kernel fails on its downcast.
        Ok(unsafe { &*(addr as *const Kernel) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel<T: Element>() -> &'static Kernel {
        const { &Kernel::new::<T>("test", Body::Decode) }
    }

    #[test]
    fn references_resolve_to_their_descriptor_and_nothing_else() {
        for k in [
            kernel::<u8>(),
            kernel::<String>(),
            kernel::<(u64, Vec<f64>)>(),
        ] {
            let back = k.reference().resolve().unwrap();
            assert!(std::ptr::eq(back, k));
        }
        let part = (kernel::<u32>().decode)(&postcard::to_allocvec(&vec![7u32]).unwrap()).unwrap();
        assert_eq!(part.len(), 1);
        let good = kernel::<u8>().reference().0;
        for off in [
            good + 1,
            good + 8,
            good - 8,
            0,
            8,
            i64::MAX,
            i64::MIN,
            -anchor(),
        ] {
            assert!(KernelRef(off).resolve().is_err(), "{off:#x}");
        }
        // A reference to code is refused.
        let code = references_resolve_to_their_descriptor_and_nothing_else as *const () as i64;
        assert!(KernelRef(code - anchor()).resolve().is_err());
    }
}
