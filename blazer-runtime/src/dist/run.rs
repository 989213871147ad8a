//! Runs one [`DataOp`] on this rank's partitions: the same code on every rank, the driver
//! included (it holds partition 0). Steps that need other partitions exchange with the
//! ranks that hold them (`dist/exchange.rs`); nothing passes through the driver unless it
//! asked for it (a read, a fold's result).

use crate::dist::exchange::{all_gather, exchange};
use crate::dist::kernel::{Body, Kernel, Made, Split, WindowFn};
use crate::dist::part::{concat_encoded, encoded_len, share_start, Input, Part, Partition, Store};
use crate::error::TaskFailure;
use crate::wire::data_op::{DataId, DataOp, DataStep, Edge, KernelRef};
use crate::wire::payload::Payload;
use crate::world;

/// Where this rank stands: its partition's index and how many there are, and which rank
/// holds each partition (`members`; `None`: partition `p` on rank `p`).
#[derive(Debug, Clone, Copy)]
struct Here<'a> {
    /// This rank's partition.
    rank: i32,
    parts: i32,
    members: Option<&'a [i32]>,
}

impl<'a> Here<'a> {
    fn of(members: Option<&'a [i32]>) -> Result<Here<'a>, TaskFailure> {
        let me = world::rank();
        let (rank, parts) = match members {
            None => (me, world::size().max(1)),
            Some(m) => match m.iter().position(|&r| r == me) {
                Some(i) => (i as i32, m.len() as i32),
                None => {
                    return Err(TaskFailure {
                        task: "?".into(),
                        rank: me,
                        host: world::host(),
                        message: format!("a dataset step for ranks {m:?}, sent to rank {me}"),
                    })
                }
            },
        };
        Ok(Here {
            rank,
            parts,
            members,
        })
    }

    /// The rank that holds partition `q`.
    fn rank_of(self, q: i32) -> i32 {
        self.members.map_or(q, |m| m[q as usize])
    }

    /// A failure of this rank's partition in the step running `task`.
    fn failure(self, task: &str, message: impl std::fmt::Display) -> TaskFailure {
        TaskFailure {
            task: task.to_string(),
            rank: world::rank(),
            host: world::host(),
            message: format!("partition {} of {}: {message}", self.rank, self.parts),
        }
    }

    /// [`exchange`] with partitions named by index.
    fn exchange(
        self,
        mut sends: Vec<(i32, Vec<u8>)>,
        from: &[i32],
    ) -> Result<Vec<Vec<u8>>, String> {
        if self.members.is_none() {
            return exchange(&sends, from);
        }
        for (q, _) in sends.iter_mut() {
            *q = self.rank_of(*q);
        }
        let from: Vec<i32> = from.iter().map(|&q| self.rank_of(q)).collect();
        exchange(&sends, &from)
    }

    /// Every partition's `value`, in partition order: one collective over every rank, or
    /// one message to and from each other member when some ranks hold none.
    fn all_gather(self, value: u64) -> Result<Vec<u64>, String> {
        if self.members.is_none() {
            return all_gather(value);
        }
        let others: Vec<i32> = (0..self.parts).filter(|&q| q != self.rank).collect();
        let sends: Vec<(i32, Vec<u8>)> = others
            .iter()
            .map(|&q| (q, value.to_le_bytes().to_vec()))
            .collect();
        let mut got = self.exchange(sends, &others)?.into_iter();
        (0..self.parts)
            .map(|q| {
                if q == self.rank {
                    return Ok(value);
                }
                let bytes = got.next().unwrap_or_default();
                <[u8; 8]>::try_from(bytes.as_slice())
                    .map(u64::from_le_bytes)
                    .map_err(|_| format!("a malformed length from partition {q}"))
            })
            .collect()
    }
}

/// Runs `op` here; `input` is this rank's share of a `Put`. The output: what the driver
/// reads of this rank (a read's items, the fold's result on rank 0), or the partition's
/// length for a step that makes a dataset.
pub(crate) fn run(step: &DataStep, input: Payload) -> Result<Payload, TaskFailure> {
    let here = Here::of(step.members.as_deref())?;
    match &step.op {
        DataOp::Put { dst, kernel } => {
            let kernel = resolve(here, *kernel)?;
            let bytes = input.to_vec();
            let made = encoded_len(&bytes)
                .map(|n| (Partition::Encoded(bytes), n))
                .map_err(|e| here.failure(kernel.task, e));
            file(*dst, made)
        }
        DataOp::Generate { dst, kernel, total } => {
            let kernel = resolve(here, *kernel)?;
            let Body::Generate(generate) = kernel.body else {
                return Err(wrong_kind(here, kernel));
            };
            let (p, n) = (here.rank as usize, here.parts as usize);
            let range = share_start(p, n, *total as usize) as u64
                ..share_start(p + 1, n, *total as usize) as u64;
            let made = generate(range).map_err(|e| here.failure(kernel.task, e));
            file(*dst, made.map(typed))
        }
        DataOp::Transform {
            src,
            dst,
            consume,
            kernel,
        } => {
            let kernel = resolve(here, *kernel)?;
            let Body::Transform(transform) = kernel.body else {
                return Err(wrong_kind(here, kernel));
            };
            let made = with_source(here, kernel, *src, *consume, |input| {
                transform(input).map_err(|e| here.failure(kernel.task, e))
            });
            file(*dst, made.map(typed))
        }
        DataOp::Window {
            src,
            dst,
            consume,
            kernel,
            halo,
            edge,
        } => {
            let kernel = resolve(here, *kernel)?;
            let Body::Window(step) = kernel.body else {
                return Err(wrong_kind(here, kernel));
            };
            let made = window(here, kernel, *src, *consume, *halo as usize, *edge, step);
            file(*dst, made.map(typed))
        }
        DataOp::Shuffle {
            src,
            dst,
            consume,
            kernel,
        } => {
            let kernel = resolve(here, *kernel)?;
            let Body::Shuffle { split, merge } = kernel.body else {
                return Err(wrong_kind(here, kernel));
            };
            let made = shuffle(here, kernel, *src, *consume, split, merge);
            file(*dst, made.map(typed))
        }
        DataOp::Rebalance {
            src,
            dst,
            consume,
            kernel,
        } => {
            let kernel = resolve(here, *kernel)?;
            let made = rebalance(here, kernel, *src, *consume);
            file(*dst, made)
        }
        DataOp::Fold { src, kernel, zero } => fold(here, *src, *kernel, zero),
        DataOp::Read { src, kernel, limit } => {
            let kernel = resolve(here, *kernel)?;
            read(here, kernel, *src, *limit).map(Payload::from)
        }
        DataOp::Free { ids } => {
            Store::with(|s| ids.iter().for_each(|id| s.free(*id)));
            Ok(Payload::default())
        }
    }
}

/// What a trace or a report calls one run of `step`: the task(s) its kernel runs, or the
/// step's kind; `None` for a free (not worth a span).
pub(crate) fn label(step: &DataStep) -> Option<&'static str> {
    let task = |k: KernelRef| k.resolve().map_or("dataset step", |k| k.task);
    Some(match &step.op {
        DataOp::Put { .. } => "dataset scatter",
        DataOp::Generate { kernel, .. }
        | DataOp::Transform { kernel, .. }
        | DataOp::Window { kernel, .. }
        | DataOp::Shuffle { kernel, .. } => task(*kernel),
        DataOp::Rebalance { .. } => "dataset rebalance",
        DataOp::Fold { kernel: None, .. } => "dataset count",
        DataOp::Fold {
            kernel: Some(kernel),
            ..
        } => task(*kernel),
        DataOp::Read { .. } => "dataset read",
        DataOp::Free { .. } => return None,
    })
}

fn resolve(here: Here, kernel: KernelRef) -> Result<&'static Kernel, TaskFailure> {
    kernel.resolve().map_err(|e| here.failure("?", e))
}

fn wrong_kind(here: Here, kernel: &Kernel) -> TaskFailure {
    here.failure(kernel.task, "a kernel of another kind of step")
}

fn typed(part: Box<dyn Part>) -> (Partition, usize) {
    let n = part.len();
    (Partition::Typed(part), n)
}

/// Files the step's outcome as this rank's partition of `dst` (a failure too, so that later
/// steps on it fail the same way); answers its length.
fn file(
    dst: DataId,
    made: Result<(Partition, usize), TaskFailure>,
) -> Result<Payload, TaskFailure> {
    match made {
        Ok((part, n)) => {
            Store::with(|s| s.put(dst, part));
            Payload::encode(&(n as u64)).map_err(|e| TaskFailure {
                task: "?".into(),
                rank: world::rank(),
                host: world::host(),
                message: format!("the partition's length does not encode: {e}"),
            })
        }
        Err(f) => {
            Store::with(|s| s.put(dst, Partition::Failed(f.clone())));
            Err(f)
        }
    }
}

/// This rank's partition of `src`, decoded if it is still encoded: taken out of the store
/// for the step (so that no borrow spans the user's code) and put back after it unless
/// `consume`.
fn with_source<R>(
    here: Here,
    kernel: &Kernel,
    src: DataId,
    consume: bool,
    step: impl FnOnce(Input<'_>) -> Result<R, TaskFailure>,
) -> Result<R, TaskFailure> {
    let part = typed_source(here, kernel, src)?;
    if consume {
        return step(Input::Owned(part));
    }
    let out = step(Input::Shared(part.as_ref()));
    Store::with(|s| s.put(src, Partition::Typed(part)));
    out
}

/// This rank's partition of `src`, typed, taken out of the store.
fn typed_source(here: Here, kernel: &Kernel, src: DataId) -> Result<Box<dyn Part>, TaskFailure> {
    match Store::with(|s| s.take(src)) {
        Some(Partition::Typed(part)) => Ok(part),
        Some(Partition::Encoded(bytes)) => match (kernel.decode)(&bytes) {
            Ok(part) => Ok(part),
            Err(e) => {
                Store::with(|s| s.put(src, Partition::Encoded(bytes)));
                Err(here.failure(kernel.task, e))
            }
        },
        Some(Partition::Failed(f)) => {
            Store::with(|s| s.put(src, Partition::Failed(f.clone())));
            Err(f)
        }
        None => Err(here.failure(
            kernel.task,
            format!("no partition of dataset {src} here (it was freed or never made)"),
        )),
    }
}

/// A message to another rank: its bytes, or the failure of the partition that should have
/// sent them (so that the receivers fail too instead of waiting).
fn piece(made: Result<Vec<u8>, TaskFailure>) -> Vec<u8> {
    match made {
        Ok(mut bytes) => {
            bytes.insert(0, 0);
            bytes
        }
        Err(f) => {
            let mut bytes = postcard::to_allocvec(&f).unwrap_or_default();
            bytes.insert(0, 1);
            bytes
        }
    }
}

/// The bytes of a [`piece`] from partition `from`, or its failure.
fn unpiece(here: Here, task: &str, from: i32, mut bytes: Vec<u8>) -> Result<Vec<u8>, TaskFailure> {
    match bytes.first() {
        Some(0) => {
            bytes.remove(0);
            Ok(bytes)
        }
        Some(1) => Err(postcard::from_bytes::<TaskFailure>(&bytes[1..])
            .unwrap_or_else(|_| here.failure(task, format!("partition {from} failed")))),
        _ => Err(here.failure(task, format!("a malformed message from rank {from}"))),
    }
}

/// A step that sees `halo` items on each side of its partition.
fn window(
    here: Here,
    kernel: &Kernel,
    src: DataId,
    consume: bool,
    halo: usize,
    edge: Edge,
    step: WindowFn,
) -> Result<Box<dyn Part>, TaskFailure> {
    let Here { rank, parts, .. } = here;
    let source = typed_source(here, kernel, src);
    // The first and last `halo` items, for the neighbours.
    let edges = source.as_ref().map_err(Clone::clone).and_then(|part| {
        let n = part.len();
        let h = halo.min(n);
        let first = part
            .encode(0..h)
            .map_err(|e| here.failure(kernel.task, e))?;
        let last = part
            .encode(n - h..n)
            .map_err(|e| here.failure(kernel.task, e))?;
        Ok((first, last))
    });
    let (left, right) = match edge {
        Edge::Periodic => (Some((rank + parts - 1) % parts), Some((rank + 1) % parts)),
        Edge::Open => (
            (rank > 0).then(|| rank - 1),
            (rank + 1 < parts).then_some(rank + 1),
        ),
    };
    let empty = || postcard::to_allocvec(&Vec::<u8>::new()).expect("an empty Vec encodes");
    let (before, after) = if parts == 1 {
        match (&edges, edge) {
            (Ok((first, last)), Edge::Periodic) => (Ok(last.clone()), Ok(first.clone())),
            _ => (Ok(empty()), Ok(empty())),
        }
    } else {
        // To the left my first items, to the right my last; from the right its first items,
        // from the left its last (with two partitions, periodic, both are one rank: it
        // sends its first items, then its last, and they are received in that order).
        let (first, last) = match &edges {
            Ok((first, last)) => (Ok(first.clone()), Ok(last.clone())),
            Err(f) => (Err(f.clone()), Err(f.clone())),
        };
        let mut sends = Vec::new();
        if let Some(l) = left {
            sends.push((l, piece(first)));
        }
        if let Some(r) = right {
            sends.push((r, piece(last)));
        }
        let from: Vec<i32> = right.into_iter().chain(left).collect();
        let mut got = here
            .exchange(sends, &from)
            .map_err(|e| here.failure(kernel.task, e))?
            .into_iter();
        let mut next = |neighbour: Option<i32>| match neighbour {
            Some(q) => unpiece(here, kernel.task, q, got.next().unwrap_or_default()),
            None => Ok(empty()),
        };
        let after = next(right);
        let before = next(left);
        (before, after)
    };
    let part = source?;
    let (before, after) = (before?, after?);
    for (side, bytes, neighbour) in [("before", &before, left), ("after", &after, right)] {
        let got = encoded_len(bytes).map_err(|e| here.failure(kernel.task, e))?;
        if let Some(q) = neighbour.filter(|_| got < halo) {
            return Err(here.failure(
                kernel.task,
                format!(
                    "a halo of {halo} items, but partition {q} {side} this one has only {got} \
                     (rebalance the dataset, or use a smaller halo)"
                ),
            ));
        }
    }
    let run =
        |input: Input<'_>| step(input, &before, &after).map_err(|e| here.failure(kernel.task, e));
    if consume {
        run(Input::Owned(part))
    } else {
        let out = run(Input::Shared(part.as_ref()));
        Store::with(|s| s.put(src, Partition::Typed(part)));
        out
    }
}

/// Every item to the partition its key hashes to.
fn shuffle(
    here: Here,
    kernel: &Kernel,
    src: DataId,
    consume: bool,
    split: Split,
    merge: fn(Vec<Vec<u8>>) -> Made,
) -> Result<Box<dyn Part>, TaskFailure> {
    let Here { rank, parts, .. } = here;
    let pieces = with_source(here, kernel, src, consume, |input| {
        split(input, parts as usize).map_err(|e| here.failure(kernel.task, e))
    });
    let others: Vec<i32> = (0..parts).filter(|&q| q != rank).collect();
    let (own, sends) = match pieces {
        Ok(mut pieces) => {
            let own = std::mem::take(&mut pieces[rank as usize]);
            let sends = pieces
                .into_iter()
                .enumerate()
                .filter(|&(q, _)| q as i32 != rank)
                .map(|(q, p)| (q as i32, piece(Ok(p))))
                .collect::<Vec<_>>();
            (Ok(own), sends)
        }
        Err(f) => {
            let sends = others.iter().map(|&q| (q, piece(Err(f.clone())))).collect();
            (Err(f), sends)
        }
    };
    let received = here
        .exchange(sends, &others)
        .map_err(|e| here.failure(kernel.task, e))?;
    let own = own?;
    let mut all = Vec::with_capacity(parts as usize);
    let mut received = others.iter().zip(received);
    for q in 0..parts {
        if q == rank {
            all.push(own.clone());
        } else {
            let (&from, bytes) = received.next().expect("one per other rank");
            all.push(unpiece(here, kernel.task, from, bytes)?);
        }
    }
    merge(all).map_err(|e| here.failure(kernel.task, e))
}

/// Items move so that partition `p` holds items `share_start(p)..share_start(p + 1)` of
/// the whole, in order.
fn rebalance(
    here: Here,
    kernel: &Kernel,
    src: DataId,
    consume: bool,
) -> Result<(Partition, usize), TaskFailure> {
    let Here { rank, parts, .. } = here;
    let source = typed_source(here, kernel, src);
    // u64::MAX: this partition failed, and every rank learns it from the same gather.
    let mine = source.as_ref().map_or(u64::MAX, |p| p.len() as u64);
    let lens = here
        .all_gather(mine)
        .map_err(|e| here.failure(kernel.task, e))?;
    if let Some(q) = lens.iter().position(|&n| n == u64::MAX) {
        if let Ok(part) = source {
            Store::with(|s| s.put(src, Partition::Typed(part)));
        }
        return Err(here.failure(
            kernel.task,
            format!("partition {q} failed before the rebalance"),
        ));
    }
    let part = source?;
    let total: u64 = lens.iter().sum();
    let starts: Vec<u64> = lens
        .iter()
        .scan(0u64, |at, &n| {
            let start = *at;
            *at += n;
            Some(start)
        })
        .collect();
    let target = |q: i32| {
        share_start(q as usize, parts as usize, total as usize) as u64
            ..share_start(q as usize + 1, parts as usize, total as usize) as u64
    };
    let overlap =
        |a: std::ops::Range<u64>, b: std::ops::Range<u64>| a.start.max(b.start)..a.end.min(b.end);
    let held = |q: i32| starts[q as usize]..starts[q as usize] + lens[q as usize];
    let mine = held(rank);
    let mut sends = Vec::new();
    for q in 0..parts {
        let o = overlap(mine.clone(), target(q));
        if o.start < o.end {
            let local = (o.start - mine.start) as usize..(o.end - mine.start) as usize;
            sends.push((
                q,
                part.encode(local)
                    .map_err(|e| here.failure(kernel.task, e))?,
            ));
        }
    }
    let from: Vec<i32> = (0..parts)
        .filter(|&q| {
            let o = overlap(held(q), target(rank));
            o.start < o.end
        })
        .collect();
    let received = here
        .exchange(sends, &from)
        .map_err(|e| here.failure(kernel.task, e))?;
    if !consume {
        Store::with(|s| s.put(src, Partition::Typed(part)));
    }
    let bytes = if received.is_empty() {
        postcard::to_allocvec(&Vec::<u8>::new()).expect("an empty Vec encodes")
    } else {
        concat_encoded(&received).map_err(|e| here.failure(kernel.task, e))?
    };
    let n = encoded_len(&bytes).map_err(|e| here.failure(kernel.task, e))?;
    Ok((Partition::Encoded(bytes), n))
}

/// A fold's value on its way up the tree: none (empty partitions), a value, or a failure.
type Folded = Result<Option<Vec<u8>>, TaskFailure>;

fn encode_folded(folded: &Folded) -> Vec<u8> {
    match folded {
        Ok(None) => vec![0],
        Ok(Some(value)) => [&[1u8][..], value].concat(),
        Err(f) => [&[2u8][..], &postcard::to_allocvec(f).unwrap_or_default()].concat(),
    }
}

fn decode_folded(here: Here, from: i32, bytes: &[u8]) -> Folded {
    match bytes.split_first() {
        Some((0, _)) => Ok(None),
        Some((1, value)) => Ok(Some(value.to_vec())),
        Some((2, f)) => Err(postcard::from_bytes::<TaskFailure>(f)
            .unwrap_or_else(|_| here.failure("?", format!("partition {from} failed")))),
        _ => Err(here.failure("?", format!("a malformed fold from rank {from}"))),
    }
}

/// Folds this rank's partition, then the partitions' results up a binomial tree to rank 0
/// (rank `r` takes in turn the results of `r + 1`, `r + 2`, `r + 4`, ... below its lowest
/// set bit: each covers the partitions that follow what `r` holds so far, so the results
/// combine in partition order). Rank 0 answers the whole fold, the others nothing.
fn fold(
    here: Here,
    src: DataId,
    kernel: Option<KernelRef>,
    zero: &[u8],
) -> Result<Payload, TaskFailure> {
    let Here { rank, parts, .. } = here;
    let kernel = kernel.map(|k| resolve(here, k)).transpose()?;
    let task = kernel.map_or("count", |k| k.task);
    let mut acc: Folded = match kernel {
        None => match Store::with(|s| s.get_mut(src).map(part_len)) {
            Some(Ok(n)) => Ok(Some(
                postcard::to_allocvec(&(n as u64)).expect("a u64 encodes"),
            )),
            Some(Err(f)) => Err(f),
            None => Err(here.failure(task, format!("no partition of dataset {src} here"))),
        },
        Some(kernel) => {
            let Body::Fold { local, .. } = kernel.body else {
                return Err(wrong_kind(here, kernel));
            };
            with_source(here, kernel, src, false, |input| {
                local(input, zero).map_err(|e| here.failure(task, e))
            })
        }
    };
    let combine = |a: Vec<u8>, b: Vec<u8>| -> Result<Vec<u8>, TaskFailure> {
        match kernel.map(|k| k.body) {
            Some(Body::Fold { combine, .. }) => combine(&a, &b).map_err(|e| here.failure(task, e)),
            _ => {
                let (x, y): (u64, u64) = postcard::from_bytes(&a)
                    .and_then(|x| postcard::from_bytes(&b).map(|y| (x, y)))
                    .map_err(|e| here.failure(task, e))?;
                Ok(postcard::to_allocvec(&(x + y)).expect("a u64 encodes"))
            }
        }
    };
    let mut step = 1i32;
    while step < parts {
        if rank & step != 0 {
            here.exchange(vec![(rank - step, encode_folded(&acc))], &[])
                .map_err(|e| here.failure(task, e))?;
            return Ok(Payload::default());
        }
        if rank + step < parts {
            let got = here
                .exchange(Vec::new(), &[rank + step])
                .map_err(|e| here.failure(task, e))?;
            let theirs = decode_folded(here, rank + step, &got[0]);
            acc = match (acc, theirs) {
                (Err(f), _) | (Ok(_), Err(f)) => Err(f),
                (Ok(None), Ok(x)) | (Ok(x), Ok(None)) => Ok(x),
                (Ok(Some(a)), Ok(Some(b))) => combine(a, b).map(Some),
            };
        }
        step <<= 1;
    }
    let value = acc?;
    Payload::encode(&value.map(serde_bytes::ByteBuf::from)).map_err(|e| here.failure(task, e))
}

fn part_len(part: &mut Partition) -> Result<usize, TaskFailure> {
    match part {
        Partition::Typed(p) => Ok(p.len()),
        Partition::Encoded(bytes) => encoded_len(bytes).map_err(|e| TaskFailure {
            task: "count".into(),
            rank: world::rank(),
            host: world::host(),
            message: e,
        }),
        Partition::Failed(f) => Err(f.clone()),
    }
}

/// The first `limit` items of this rank's partition (all when `None`), encoded as a `Vec`.
fn read(
    here: Here,
    kernel: &Kernel,
    src: DataId,
    limit: Option<u64>,
) -> Result<Vec<u8>, TaskFailure> {
    if limit.is_none() {
        let whole = Store::with(|s| match s.get_mut(src) {
            Some(Partition::Encoded(bytes)) => Some(Ok(bytes.clone())),
            Some(Partition::Failed(f)) => Some(Err(f.clone())),
            _ => None,
        });
        if let Some(whole) = whole {
            return whole;
        }
    }
    with_source(here, kernel, src, false, |input| {
        let part = input.part();
        let n = limit.map_or(part.len(), |l| part.len().min(l as usize));
        part.encode(0..n).map_err(|e| here.failure(kernel.task, e))
    })
}
