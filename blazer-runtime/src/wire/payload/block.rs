//! Aligned blocks that a `Vec` can take over, and the spare blocks kept for the next
//! receive of the same size.
//!
//! Unsafe code here: a block's allocation and its hand-over to a `Vec` (`take_vec`,
//! `from_vec`).

use super::*;

/// An aligned, initialised heap allocation of `len` bytes that a `Vec` of an element type of
/// that alignment can take over. Dropped blocks are kept as spares for the next receive of
/// the same size (see [`Spares`]).
pub(crate) struct Block {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
}

impl Block {
    /// A block of `len` initialised bytes aligned to `align`, to be overwritten: a spare of
    /// that size, or fresh zeroed memory. `None` when `len` is 0, the layout is invalid, or
    /// memory runs out (a clear error for the caller, never an abort).
    pub(crate) fn for_writing(len: usize, align: usize) -> Option<Block> {
        #[cfg(test)]
        super::wire_form::observe::allocation();
        if let Ok(Some(block)) = SPARES.try_with(|s| s.borrow_mut().take(len, align)) {
            return Some(block);
        }
        let layout = Layout::from_size_align(len, align).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: `layout` has a non-zero size. Zeroed memory (which the allocator gets from
        // fresh pages without writing for large blocks) makes every byte initialised.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(Block { ptr, len, align })
    }

    /// A block holding a copy of `bytes`.
    pub(super) fn copy_of(bytes: &[u8], align: usize) -> Option<Block> {
        let mut block = Block::for_writing(bytes.len(), align)?;
        block.as_mut_slice().copy_from_slice(bytes);
        Some(block)
    }

    /// The memory of `v`, when all of it is initialised (its length is its capacity).
    pub(super) fn from_vec<E: Plain>(v: Vec<E>) -> Option<Block> {
        if v.len() != v.capacity() || v.is_empty() {
            return None;
        }
        let mut v = std::mem::ManuallyDrop::new(v);
        Some(Block {
            ptr: NonNull::new(v.as_mut_ptr().cast::<u8>())?,
            len: std::mem::size_of_val(v.as_slice()),
            align: std::mem::align_of::<E>(),
        })
    }

    /// The alignment the block was allocated with.
    pub(super) fn align(&self) -> usize {
        self.align
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` owns `len` initialised bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The memory as a `Vec<T>` without copying, when its alignment and length fit `T`;
    /// the block is left empty.
    pub(super) fn take_vec<T: Plain>(&mut self) -> Option<Vec<T>> {
        let size = std::mem::size_of::<T>();
        if self.len == 0
            || self.align != std::mem::align_of::<T>()
            || !self.len.is_multiple_of(size)
        {
            return None;
        }
        let n = self.len / size;
        let ptr = self.ptr.as_ptr().cast::<T>();
        self.len = 0;
        // SAFETY: the memory was allocated by the global allocator with the layout of
        // `[T; n]` (size `n * size_of::<T>()`, align `align_of::<T>()`), it is initialised,
        // and every bit pattern is a valid `T: Plain`; the block gave up its ownership (a
        // block of length 0 frees nothing).
        Some(unsafe { Vec::from_raw_parts(ptr, n, n) })
    }

    fn free(self) {
        let this = std::mem::ManuallyDrop::new(self);
        if this.len > 0 {
            // SAFETY: allocated with exactly this layout (by `for_writing`, or by a `Vec` of
            // elements of this alignment whose capacity was this many bytes), and owned.
            unsafe {
                std::alloc::dealloc(
                    this.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(this.len, this.align),
                )
            }
        }
    }
}

impl Drop for Block {
    /// Keeps the memory as a spare, or frees it.
    fn drop(&mut self) {
        let len = std::mem::replace(&mut self.len, 0);
        if len == 0 {
            return;
        }
        let block = Block {
            ptr: self.ptr,
            len,
            align: self.align,
        };
        // After this thread's spares are gone (at its exit), blocks are freed.
        let mut block = Some(block);
        let _ = SPARES.try_with(|s| block = s.borrow_mut().keep(block.take().expect("once")));
        if let Some(rejected) = block {
            rejected.free();
        }
    }
}

/// Blocks freed on this thread, kept for the next receive of the same length and alignment:
/// a fresh allocation of a large block costs a page fault per page (measured: a 64 MiB echo
/// spent more time faulting in fresh receive buffers than moving bytes). At most
/// [`Spares::MAX_BLOCKS`] blocks of [`PART_MIN`] bytes or more, [`Spares::MAX_BYTES`] in all.
#[derive(Default)]
struct Spares {
    blocks: Vec<Block>,
}

impl Spares {
    const MAX_BLOCKS: usize = 4;
    const MAX_BYTES: usize = 1 << 30;

    fn take(&mut self, len: usize, align: usize) -> Option<Block> {
        let i = self
            .blocks
            .iter()
            .position(|b| b.len == len && b.align == align)?;
        Some(self.blocks.swap_remove(i))
    }

    /// Keeps `block`, or gives it back when it is not worth keeping.
    fn keep(&mut self, block: Block) -> Option<Block> {
        if block.len < PART_MIN || block.len > Self::MAX_BYTES {
            return Some(block);
        }
        self.blocks.push(block);
        while self.blocks.len() > Self::MAX_BLOCKS
            || self.blocks.iter().map(|b| b.len).sum::<usize>() > Self::MAX_BYTES
        {
            self.blocks.remove(0).free();
        }
        None
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for block in self.blocks.drain(..) {
            block.free();
        }
    }
}

thread_local! {
    static SPARES: RefCell<Spares> = RefCell::new(Spares::default());
}
