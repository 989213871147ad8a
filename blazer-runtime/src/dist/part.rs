//! Partitions as a rank holds them: typed (`Vec<T>` behind [`Part`]) once a step has run on
//! them, or encoded as they arrived (a scattered chunk, a rebalanced piece) until one does.
//! The [`Store`] keeps this rank's partition of every live dataset.

use crate::error::TaskFailure;
use crate::wire::data_op::DataId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

/// What a dataset can hold: values that travel (serde) and can be copied when a step reads
/// a partition that another handle still needs (`Clone`). Implemented for every such type.
pub trait Element: Serialize + DeserializeOwned + Clone + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + 'static> Element for T {}

/// A typed partition: a `Vec<T>` whose `T` only the kernels know.
pub(crate) trait Part: Any {
    /// Number of items.
    fn len(&self) -> usize;
    /// Items `range`, encoded as a `Vec` (postcard: a length, then the items).
    fn encode(&self, range: Range<usize>) -> Result<Vec<u8>, String>;
    /// For a typed take-over.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    /// For a typed read.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Element> Part for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn encode(&self, range: Range<usize>) -> Result<Vec<u8>, String> {
        postcard::to_allocvec(&self[range]).map_err(|e| format!("cannot encode items: {e}"))
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The type name of a partition's items, for errors.
fn wanted<T>() -> &'static str {
    std::any::type_name::<T>()
}

/// A step's input partition: taken over (the driver dropped its last handle of the dataset),
/// or read in place (a copy of each item is made).
pub(crate) enum Input<'a> {
    /// Taken over.
    Owned(Box<dyn Part>),
    /// Read in place.
    Shared(&'a dyn Part),
}

impl Input<'_> {
    /// The items, as the `Vec<T>` they are (copied when read in place).
    pub(crate) fn into_vec<T: Element>(self) -> Result<Vec<T>, String> {
        match self {
            Input::Owned(part) => part
                .into_any()
                .downcast::<Vec<T>>()
                .map(|v| *v)
                .map_err(|_| format!("the partition does not hold {}", wanted::<T>())),
            Input::Shared(part) => part
                .as_any()
                .downcast_ref::<Vec<T>>()
                .cloned()
                .ok_or_else(|| format!("the partition does not hold {}", wanted::<T>())),
        }
    }

    /// The items, read in place.
    pub(crate) fn items<T: Element>(&self) -> Result<&[T], String> {
        let part: &dyn Part = match self {
            Input::Owned(part) => part.as_ref(),
            Input::Shared(part) => *part,
        };
        part.as_any()
            .downcast_ref::<Vec<T>>()
            .map(Vec::as_slice)
            .ok_or_else(|| format!("the partition does not hold {}", wanted::<T>()))
    }

    /// The partition behind the input.
    pub(crate) fn part(&self) -> &dyn Part {
        match self {
            Input::Owned(part) => part.as_ref(),
            Input::Shared(part) => *part,
        }
    }
}

/// This rank's partition of one dataset.
pub(crate) enum Partition {
    /// Items a step made or decoded.
    Typed(Box<dyn Part>),
    /// A `Vec` as it arrived, postcard-encoded, until a step decodes it.
    Encoded(Vec<u8>),
    /// The step that made it failed: every later step on it fails the same way.
    Failed(TaskFailure),
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partition::Typed(p) => write!(f, "Typed({} items)", p.len()),
            Partition::Encoded(b) => write!(f, "Encoded({} bytes)", b.len()),
            Partition::Failed(e) => write!(f, "Failed({e})"),
        }
    }
}

/// Where member `m`'s share of `items` starts when `members` share them in order, as evenly
/// as can be (shares differ by at most one): a spread's shares (`worker.rs`), a dataset's
/// partitions.
pub(crate) fn share_start(m: usize, members: usize, items: usize) -> usize {
    (m as u128 * items as u128 / members.max(1) as u128) as usize
}

/// The number of items of an encoded `Vec` (its leading length), or an error.
pub(crate) fn encoded_len(bytes: &[u8]) -> Result<usize, String> {
    crate::wire::varint::read_u64(bytes)
        .map(|(n, _)| n as usize)
        .ok_or_else(|| "an encoded partition without a length".to_string())
}

/// Joins encoded `Vec`s of one item type into one encoded `Vec` of all their items, in
/// order, without knowing the type: postcard writes a `Vec` as its length, then its items.
pub(crate) fn concat_encoded(pieces: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut total = 0u64;
    let mut bodies = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let (n, used) = crate::wire::varint::read_u64(piece)
            .ok_or_else(|| "an encoded piece without a length".to_string())?;
        total += n;
        bodies.push(&piece[used..]);
    }
    let mut out = Vec::with_capacity(10 + bodies.iter().map(|b| b.len()).sum::<usize>());
    crate::wire::varint::write_u64(&mut out, total);
    for body in bodies {
        out.extend_from_slice(body);
    }
    Ok(out)
}

thread_local! {
    /// This rank's partitions, by dataset.
    static STORE: RefCell<Store> = RefCell::new(Store::default());
}

/// This rank's partition of every live dataset.
#[derive(Debug, Default)]
pub(crate) struct Store {
    parts: HashMap<DataId, Partition>,
}

impl Store {
    /// Runs `f` on this thread's store (the driver's or the serve loop's thread).
    pub(crate) fn with<R>(f: impl FnOnce(&mut Store) -> R) -> R {
        STORE.with_borrow_mut(f)
    }

    /// Files `part` as this rank's partition of `id`.
    pub(crate) fn put(&mut self, id: DataId, part: Partition) {
        self.parts.insert(id, part);
    }

    /// Takes this rank's partition of `id` out.
    pub(crate) fn take(&mut self, id: DataId) -> Option<Partition> {
        self.parts.remove(&id)
    }

    /// This rank's partition of `id`.
    pub(crate) fn get_mut(&mut self, id: DataId) -> Option<&mut Partition> {
        self.parts.get_mut(&id)
    }

    /// Forgets `id`'s partition.
    pub(crate) fn free(&mut self, id: DataId) {
        self.parts.remove(&id);
    }

    /// Datasets with a partition here.
    pub(crate) fn len(&self) -> usize {
        self.parts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_items_in_order_and_differ_by_at_most_one() {
        for (members, items) in [(1, 0), (3, 10), (7, 7), (5, 2), (64, 1000)] {
            let starts: Vec<usize> = (0..=members)
                .map(|m| share_start(m, members, items))
                .collect();
            assert_eq!(starts[0], 0);
            assert_eq!(starts[members], items);
            let sizes: Vec<usize> = starts.windows(2).map(|w| w[1] - w[0]).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{members} members, {items} items: {sizes:?}");
        }
    }

    #[test]
    fn encoded_vecs_join_without_their_type() {
        let a = postcard::to_allocvec(&vec![1u32, 300, 7]).unwrap();
        let b = postcard::to_allocvec(&Vec::<u32>::new()).unwrap();
        let c = postcard::to_allocvec(&vec![70_000u32; 200]).unwrap();
        let joined = concat_encoded(&[a, b, c]).unwrap();
        let back: Vec<u32> = postcard::from_bytes(&joined).unwrap();
        let mut want = vec![1u32, 300, 7];
        want.extend([70_000u32; 200]);
        assert_eq!(back, want);
        assert_eq!(encoded_len(&joined).unwrap(), 203);
        assert!(concat_encoded(&[vec![]]).is_err());
    }

    #[test]
    fn inputs_read_or_take_their_items_and_name_a_wrong_type() {
        let part: Box<dyn Part> = Box::new(vec![1.5f64, 2.5]);
        assert_eq!(
            Input::Shared(part.as_ref()).into_vec::<f64>().unwrap(),
            [1.5, 2.5]
        );
        assert_eq!(
            Input::Shared(part.as_ref()).items::<f64>().unwrap(),
            [1.5, 2.5]
        );
        let err = Input::Shared(part.as_ref()).into_vec::<u8>().unwrap_err();
        assert!(err.contains("u8"), "{err}");
        assert_eq!(Input::Owned(part).into_vec::<f64>().unwrap(), [1.5, 2.5]);
    }
}
