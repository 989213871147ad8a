//! The work, in wire form: a [`Plan`] is a computation (a tree of task calls that any rank
//! can execute), a [`Batch`] is a plan with the inputs to run it on.
//!
//! Values travel as postcard bytes. postcard encodes a tuple as the concatenation of its
//! fields and a sequence as a varint length followed by its elements, so partial application
//! (bound arguments followed by the stage input), a tuple fan-out and a list fan-out are all
//! byte concatenations: the runtime moves bytes while the typed [`crate::Flow`] front end
//! guarantees at compile time that they fit.

use crate::error::TaskFailure;
use crate::task::TaskId;
use crate::wire::data_op::DataStep;
use crate::wire::payload::Payload;
use serde::{Deserialize, Deserializer, Serialize};

/// A batch closes once its inputs reach this many bytes, whatever its item count: with
/// [`crate::wire::payload::SPILL`] and [`crate::wire::transport::CHUNK`], it bounds every
/// MPI message blazer sends to at most 1 GiB (a message's head holds at most about
/// `BATCH_BYTES` plus one item's inline bytes; each part travels in chunks of at most 1 GiB).
pub(crate) const BATCH_BYTES: usize = 8 << 20;

/// The deepest nesting of plans (stages and branches inside stages and branches) a message
/// may hold: far past what flows build by hand, and a small part of a worker's stack, which
/// decoding takes about a kilobyte of per level (unoptimised).
pub(crate) const MAX_DEPTH: usize = 256;

thread_local! {
    /// How many plans the decode running on this thread is inside.
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Decodes the stages or branches of a plan, one level deeper. postcard follows nesting by
/// recursion, so without a limit a forged message of a few megabytes (two bytes a level)
/// would overflow the worker's stack: an abort of the rank, not an error.
fn nested<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Plan>, D::Error> {
    /// Leaves the level on every way out (an error included).
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.set(DEPTH.get() - 1);
        }
    }
    if DEPTH.get() >= MAX_DEPTH {
        return Err(serde::de::Error::custom(format!(
            "a plan nested deeper than {MAX_DEPTH} levels"
        )));
    }
    DEPTH.set(DEPTH.get() + 1);
    let _level = Level;
    Vec::<Plan>::deserialize(d)
}

/// A computation from one encoded value to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Plan {
    /// Call a task on `bound ++ input` (its bound leading arguments, then the stage input).
    Task {
        /// Which task.
        id: TaskId,
        /// Encoded leading arguments (empty when none are bound).
        bound: Payload,
    },
    /// Run stages in order, each output feeding the next stage.
    Pipeline(#[serde(deserialize_with = "nested")] Vec<Plan>),
    /// Feed the same input to every branch; the output is the tuple of their outputs.
    Tuple(#[serde(deserialize_with = "nested")] Vec<Plan>),
    /// Feed the same input to every branch; the output is the `Vec` of their outputs.
    List(#[serde(deserialize_with = "nested")] Vec<Plan>),
    /// Ignore the input and output this encoded value.
    Const(Payload),
    /// The input is a [`Packed`] list of items: these stages run as a pipeline on each
    /// item, and the output is the [`Packed`] list of their outputs and failures.
    Each(#[serde(deserialize_with = "nested")] Vec<Plan>),
    /// A dataset step on this rank's partitions (`dist/run.rs`); the input is this rank's
    /// share of a `Put`.
    Data(Box<DataStep>),
}

impl Plan {
    /// True if running this plan on the driver can spread work over several ranks.
    pub(crate) fn fans_out(&self) -> bool {
        match self {
            Plan::Task { .. } | Plan::Const(_) | Plan::Each(_) | Plan::Data(_) => false,
            Plan::Pipeline(stages) => stages.iter().any(Plan::fans_out),
            Plan::Tuple(_) | Plan::List(_) => true,
        }
    }

    /// Every payload in the plan, in the order they are encoded.
    pub(crate) fn payloads_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Payload>) {
        match self {
            Plan::Task { bound, .. } => out.push(bound),
            Plan::Const(value) => out.push(value),
            Plan::Data(_) => {}
            Plan::Pipeline(plans) | Plan::Tuple(plans) | Plan::List(plans) | Plan::Each(plans) => {
                for p in plans {
                    p.payloads_mut(out);
                }
            }
        }
    }

    /// Appends `next` after `self`, flattening nested pipelines.
    pub(crate) fn then(self, next: Plan) -> Plan {
        let mut stages = match self {
            Plan::Pipeline(s) => s,
            other => vec![other],
        };
        match next {
            Plan::Pipeline(s) => stages.extend(s),
            other => stages.push(other),
        }
        Plan::Pipeline(stages)
    }
}

/// A batch: the unit of work a worker runs. `plan` runs on each input, filling the slots of
/// its call from `first` on, or folds the inputs into one output.
/// Items at most this long (encoded) travel packed: many to one payload ([`Packed`]).
pub(crate) const PACK_ITEM_MAX: usize = 1024;

/// postcard's output appended to a `Vec` in place: an item costs no move of the `Vec` in
/// and out, and a varint one `extend_from_slice` (postcard's `to_extend` goes through
/// `Extend`, byte by byte).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline(always)]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Small items side by side in one payload, with their lengths: how a stream sends a batch
/// of many small items, and gets their outputs back, without a payload (and its
/// allocations) per item on the driver. An item that failed has length 0 and its failure
/// in `failed`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Packed {
    /// Items.
    count: u32,
    /// Each item's length, as LEB128 varints one after the other: one block of bytes, read
    /// and written by a plain loop rather than an element at a time through serde.
    #[serde(with = "serde_bytes")]
    lens: Vec<u8>,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    failed: Vec<(u32, TaskFailure)>,
}

/// Appends `n` to `out` as a LEB128 varint.
fn put_len(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The LEB128 varint at `*at` in `lens`, moving `*at` past it; `None` if it is cut short or
/// longer than a `u32`.
fn take_len(lens: &[u8], at: &mut usize) -> Option<u32> {
    let mut n = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *lens.get(*at)?;
        *at += 1;
        n |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

impl Packed {
    /// Room for `items` items: the first item's length sizes the bytes for the rest
    /// ([`Packed::push_value`]), so a batch grows its buffers once.
    pub(crate) fn with_capacity(items: usize) -> Packed {
        Packed {
            lens: Vec::with_capacity(items),
            ..Packed::default()
        }
    }

    /// Adds an item's postcard bytes.
    pub(crate) fn push(&mut self, item: &[u8]) {
        put_len(&mut self.lens, item.len() as u32);
        self.count += 1;
        self.bytes.extend_from_slice(item);
    }

    /// Adds `value`, encoded in place, if its encoding is at most `max` bytes long; else
    /// adds nothing and says so (`Ok(false)`).
    pub(crate) fn push_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        max: usize,
    ) -> Result<bool, postcard::Error> {
        let start = self.bytes.len();
        postcard::serialize_with_flavor(value, Append(&mut self.bytes))?;
        let len = self.bytes.len() - start;
        if len > max {
            self.bytes.truncate(start);
            return Ok(false);
        }
        if self.count == 0 {
            // Items of a batch tend to be alike: room for the rest at this item's length.
            let rest = self.lens.capacity().saturating_sub(1);
            self.bytes
                .reserve(rest.saturating_mul(len).min(BATCH_BYTES));
        }
        put_len(&mut self.lens, len as u32);
        self.count += 1;
        Ok(true)
    }

    /// Adds a failed item.
    pub(crate) fn fail(&mut self, failure: TaskFailure) {
        self.failed.push((self.count, failure));
        put_len(&mut self.lens, 0);
        self.count += 1;
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// Bytes of the items together.
    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the lengths and failures fit the bytes and the count: the lengths add up to
    /// the bytes, there are `count` of them, and the failures are in order, each at an
    /// item of length 0.
    fn fits(&self) -> bool {
        let mut failed = self.failed.iter().peekable();
        let (mut at, mut total, mut items) = (0usize, 0u64, 0u32);
        while at < self.lens.len() {
            let Some(len) = take_len(&self.lens, &mut at) else {
                return false;
            };
            if failed.next_if(|(i, _)| *i == items).is_some() && len != 0 {
                return false;
            }
            total += u64::from(len);
            items += 1;
        }
        failed.next().is_none() && items == self.count && total == self.bytes.len() as u64
    }

    /// The items in order, each its bytes or its failure; `None` if the lengths and
    /// failures do not fit the bytes (a packed list that was not made by [`Packed::push`]
    /// and [`Packed::fail`]).
    pub(crate) fn items(
        &self,
    ) -> Option<impl ExactSizeIterator<Item = Result<&[u8], &TaskFailure>> + '_> {
        if !self.fits() {
            return None;
        }
        let mut failed = self.failed.iter().peekable();
        let (mut at, mut from) = (0usize, 0usize);
        Some((0..self.count).map(move |i| {
            let len = take_len(&self.lens, &mut at).expect("checked by fits") as usize;
            match failed.next_if(|(f, _)| *f == i) {
                Some((_, failure)) => Err(failure),
                None => {
                    let item = &self.bytes[from..from + len];
                    from += len;
                    Ok(item)
                }
            }
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// Index of the first result slot of its call that this batch fills (64 bits: a `map`
    /// may have more than 2^32 items).
    pub(crate) first: u64,
    /// Fold: `acc = inputs[0]; acc = plan(acc ++ x)` for each further input, one output.
    pub(crate) fold: bool,
    /// What to run.
    pub(crate) plan: Plan,
    /// Encoded inputs.
    pub(crate) inputs: Vec<Payload>,
}

impl Batch {
    /// A batch that maps `plan` over `inputs`, filling slots from `first` on.
    pub(crate) fn map(first: usize, plan: Plan, inputs: Vec<Payload>) -> Batch {
        Batch {
            first: first as u64,
            fold: false,
            plan,
            inputs,
        }
    }

    /// Every payload in the batch, in the order they are encoded.
    pub(crate) fn payloads_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Payload>) {
        self.plan.payloads_mut(out);
        out.extend(self.inputs.iter_mut());
    }

    /// Cuts `inputs` into batches of at most `items` inputs and about [`BATCH_BYTES`], the
    /// first filling slot `first`.
    pub(crate) fn cut(first: usize, plan: &Plan, inputs: Vec<Payload>, items: usize) -> Vec<Batch> {
        let mut batches = Vec::new();
        let mut current = Vec::new();
        let (mut start, mut bytes) = (first, 0);
        for input in inputs {
            bytes += input.len();
            current.push(input);
            if current.len() >= items || bytes >= BATCH_BYTES {
                let n = current.len();
                batches.push(Batch::map(
                    start,
                    plan.clone(),
                    std::mem::take(&mut current),
                ));
                start += n;
                bytes = 0;
            }
        }
        if !current.is_empty() {
            batches.push(Batch::map(start, plan.clone(), current));
        }
        batches
    }

    /// How many result slots the batch fills: one per input, or one for a fold.
    pub(crate) fn outputs(&self) -> u64 {
        if self.fold {
            1
        } else {
            self.inputs.len() as u64
        }
    }
}

/// Joins branch outputs into the encoding of a tuple (`Tuple`), one piece per branch, so
/// that a task taking the tuple as its arguments takes each branch's output as it is; or of
/// a `Vec` (`List`), one value.
pub(crate) fn join_outputs(as_list: bool, outputs: Vec<Payload>) -> Payload {
    if !as_list {
        return Payload::from_pieces(outputs);
    }
    // postcard writes a sequence length as a varint usize.
    let len = Payload::from(postcard::to_allocvec(&outputs.len()).expect("a usize encodes"));
    Payload::concat(std::iter::once(len).chain(outputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan nested far deeper than any flow builds (a forged or corrupt message: two
    /// bytes a level) is refused, not followed until the worker's stack overflows.
    #[test]
    fn deeply_nested_plans_are_refused() {
        // `Plan::Pipeline` (variant 1) of one stage, a million times, then an empty one.
        let mut bytes = [1u8, 1].repeat(1_000_000);
        bytes.extend([1, 0]);
        assert!(crate::wire::codec::decode::<Plan>(&bytes, 0).is_err());
    }

    /// Every nesting up to the limit decodes, on a test thread's stack.
    #[test]
    fn plans_nested_up_to_the_limit_decode() {
        let nest = |depth: usize| {
            let mut plan = Plan::List(vec![]);
            for _ in 0..depth {
                plan = Plan::Tuple(vec![Plan::Const(Payload::default()), plan]);
            }
            plan
        };
        // The innermost list is one level more than the tuples around it.
        let deepest = nest(MAX_DEPTH - 1);
        let bytes = crate::wire::codec::encode(&deepest).unwrap();
        assert_eq!(
            crate::wire::codec::decode::<Plan>(&bytes, 0).unwrap(),
            deepest
        );
        let bytes = crate::wire::codec::encode(&nest(MAX_DEPTH)).unwrap();
        assert!(crate::wire::codec::decode::<Plan>(&bytes, 0).is_err());
        // The depth is per decode: after a refusal, the next message starts from the top.
        let bytes = crate::wire::codec::encode(&deepest).unwrap();
        assert!(crate::wire::codec::decode::<Plan>(&bytes, 0).is_ok());
    }

    #[test]
    fn joined_outputs_decode_as_tuple_and_vec() {
        let parts: Vec<Payload> = vec![
            Payload::encode(&1u32).unwrap(),
            Payload::encode(&"x").unwrap(),
        ];
        let t: (u32, String) = join_outputs(false, parts).decode().unwrap();
        assert_eq!(t, (1, "x".to_string()));
        let many: Vec<Payload> = (0..300i64).map(|i| Payload::encode(&i).unwrap()).collect();
        let v: Vec<i64> = join_outputs(true, many).decode().unwrap();
        assert_eq!(v, (0..300).collect::<Vec<_>>());
    }

    /// A `map` of more than 2^32 items: the batch that fills slots from 2^32 + 5 on must say
    /// so, or its outputs would land at slot 5 and the call would wait forever.
    #[test]
    fn slot_indices_go_past_u32() {
        let first = (1usize << 32) + 5;
        let batch = Batch::map(
            first,
            Plan::Const(Payload::default()),
            vec![vec![1u8].into(); 3],
        );
        assert_eq!(batch.first, first as u64);
        assert_eq!(batch.outputs(), 3);
    }

    #[test]
    fn then_flattens_and_fan_out_is_detected() {
        let t = |i| Plan::Task {
            id: TaskId(i),
            bound: Payload::default(),
        };
        let p = t(1).then(t(2)).then(t(3).then(t(4)));
        assert_eq!(p, Plan::Pipeline(vec![t(1), t(2), t(3), t(4)]));
        assert!(!p.fans_out());
        assert!(p.then(Plan::List(vec![t(5)])).fans_out());
    }

    /// Items just under the size that goes out of line stay inline in a batch's message: the
    /// batch closes by bytes, so no message grows with the item count.
    #[test]
    fn packed_items_come_back_in_order_with_their_failures() {
        let failure = TaskFailure {
            task: "t".into(),
            rank: 1,
            host: String::new(),
            message: "boom".into(),
        };
        let long = vec![7u8; 300]; // a length of two varint bytes
        let mut packed = Packed::with_capacity(4);
        assert!(packed.push_value(&5u64, 1024).unwrap());
        packed.fail(failure.clone());
        packed.push(&long);
        assert!(
            !packed.push_value(&vec![0u8; 2000], 1024).unwrap(),
            "too long"
        );
        assert!(packed.push_value(&u64::MAX, 1024).unwrap());
        let back: Packed = postcard::from_bytes(&postcard::to_allocvec(&packed).unwrap()).unwrap();
        assert_eq!(back.len(), 4);
        let items: Vec<_> = back.items().unwrap().collect();
        assert_eq!(items.len(), 4);
        assert_eq!(postcard::from_bytes::<u64>(items[0].unwrap()).unwrap(), 5);
        assert_eq!(items[1], Err(&failure));
        assert_eq!(items[2], Ok(&long[..]));
        assert_eq!(
            postcard::from_bytes::<u64>(items[3].unwrap()).unwrap(),
            u64::MAX
        );
    }

    #[test]
    fn packed_lengths_that_do_not_fit_are_refused() {
        let mut packed = Packed::default();
        packed.push(b"abc");
        packed.push(b"de");
        let mut short = packed.clone();
        short.bytes.pop();
        assert!(short.items().is_none(), "lengths past the bytes");
        let mut counted = packed.clone();
        counted.count = 3;
        assert!(counted.items().is_none(), "a count the lengths do not have");
        let mut cut = packed.clone();
        cut.lens = vec![0x83];
        assert!(cut.items().is_none(), "a varint cut short");
        let mut misplaced = packed.clone();
        misplaced.failed.push((
            0,
            TaskFailure {
                task: "t".into(),
                rank: 1,
                host: String::new(),
                message: String::new(),
            },
        ));
        assert!(
            misplaced.items().is_none(),
            "a failure at an item with bytes"
        );
        assert_eq!(packed.items().unwrap().count(), 2);
    }

    #[test]
    fn batches_close_at_a_byte_bound() {
        let item = Payload::encode(&vec![1u16; 30_000]).unwrap();
        let n = 1000;
        let batches = Batch::cut(0, &Plan::List(vec![]), vec![item.clone(); n], usize::MAX);
        assert!(batches.len() > 1);
        let mut next = 0;
        for b in &batches {
            assert_eq!(b.first, next, "consecutive slots");
            let bytes: usize = b.inputs.iter().map(Payload::len).sum();
            assert!(
                bytes < BATCH_BYTES + item.len(),
                "{bytes} bytes in one batch"
            );
            next += b.inputs.len() as u64;
        }
        assert_eq!(next, n as u64);
        // The item count still bounds a batch of small items.
        let small = Batch::cut(5, &Plan::List(vec![]), vec![Payload::default(); 10], 4);
        let sizes: Vec<usize> = small.iter().map(|b| b.inputs.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(small[2].first, 13);
    }
}
