//! [`Dataset`]: a collection whose partitions stay on the ranks that computed them.
//!
//! Every rank holds one partition of every dataset, the driver (rank 0) too: partition `p`
//! lives on rank `p`. A step (`map`, `filter`, `map_overlap`, `group_by_key`, ...) is one
//! small message from the driver to each worker; the items never leave their ranks unless
//! the step moves them rank to rank (halos, shuffles, rebalancing) or the driver asks for
//! them (`collect`, `take`, a fold's result). Steps are issued without waiting: a failed
//! task leaves a failed partition, and the next action on the dataset (or on one made from
//! it) returns that failure, naming the partition, the rank and the task.
//!
//! A step takes its dataset by value. When that was the last handle, the step takes the
//! partitions over (no copy: a `map_overlap` that updates its items in place allocates
//! nothing); clone the handle first to keep the dataset. A dataset's partitions are freed
//! on every rank when its last handle drops.

use crate::dist::kernel::{Body, Kernel};
use crate::dist::part::{share_start, Element, Input, Part, Partition, Store};
use crate::driver::dispatch;
use crate::driver::queue::Placement;
use crate::error::{panic_message, Error, Result};
use crate::task::Task;
use crate::wire::data_op::{DataId, DataOp, DataStep, Edge};
use crate::wire::payload::Payload;
use crate::wire::plan::{Batch, Plan};
use crate::world;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// What a whole-partition task returns: the new partition's items (a `Vec<U>`).
pub trait Items: 'static {
    /// The items' type.
    type Item: Element;
    /// The items.
    fn into_items(self) -> Vec<Self::Item>;
}

impl<U: Element> Items for Vec<U> {
    type Item = U;
    fn into_items(self) -> Vec<U> {
        self
    }
}

/// A partition's items with `halo` items of each neighbour partition on either side: the
/// input of a [`Dataset::map_overlap`] task. At an open border, `before` (first partition)
/// or `after` (last partition) is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Halo<T> {
    /// The last items of the partition before this one.
    pub before: Vec<T>,
    /// This partition's items; return them updated to reuse their memory.
    pub items: Vec<T>,
    /// The first items of the partition after this one.
    pub after: Vec<T>,
}

/// What a [`Dataset::map_overlap`] sees past the first and the last partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// The dataset is a ring: the last partition's `after` is the first partition's start,
    /// and the first one's `before` is the last one's end.
    Periodic,
    /// Nothing: the first partition's `before` and the last one's `after` are empty.
    Open,
}

thread_local! {
    /// The next dataset ID (never reused within a run).
    static NEXT_ID: Cell<DataId> = const { Cell::new(1) };
    /// The members as last read, and how many ranks were lost then.
    static MEMBERS: RefCell<Option<(usize, Members)>> = const { RefCell::new(None) };
}

/// The ranks that hold a dataset's partitions, partition `i` on `ranks[i]` (rank 0
/// first): every rank, or the ranks left after some were lost.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Members {
    ranks: Rc<[i32]>,
    /// Every rank of the world: partition `p` on rank `p`.
    whole: bool,
}

impl Members {
    /// The ranks not lost now.
    fn now() -> Members {
        let lost = dispatch::lost_ranks();
        if let Some(m) = MEMBERS.with_borrow(|c| {
            c.as_ref()
                .filter(|(n, _)| *n == lost)
                .map(|(_, m)| m.clone())
        }) {
            return m;
        }
        let ranks: Vec<i32> = dispatch::live_ranks();
        let whole = ranks.len() == world::size().max(1) as usize;
        let m = Members {
            ranks: ranks.into(),
            whole,
        };
        MEMBERS.set(Some((lost, m.clone())));
        m
    }

    fn parts(&self) -> usize {
        self.ranks.len()
    }

    /// `op` with the members it runs on, as it travels.
    fn step(&self, op: DataOp) -> DataStep {
        DataStep {
            members: (!self.whole).then(|| self.ranks.to_vec()),
            op,
        }
    }
}

/// Makes a source dataset under an ID on the given members.
type MakeSource = Box<dyn Fn(DataId, &Members) -> Result<()>>;
/// Makes the step from dataset `src` to `dst` (`consume`: take `src`'s partitions over).
type MakeStep = Rc<dyn Fn(DataId, DataId, bool) -> DataOp>;

/// How a dataset was made, kept (with `BLAZER_RETRIES` or `BLAZER_WORKER_TIMEOUT`) so that
/// its partitions can be made again on the ranks left when one is lost.
enum Lineage {
    /// Makes the dataset under an ID on the given members.
    Source(MakeSource),
    /// A step from the dataset `parent` made: `make(src, dst, consume)`.
    Step { parent: Rc<Lineage>, make: MakeStep },
}

impl std::fmt::Debug for Lineage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lineage::Source(_) => write!(f, "Source"),
            Lineage::Step { parent, .. } => write!(f, "Step({parent:?})"),
        }
    }
}

/// Whether lineage is kept: a lost rank may leave the job going.
fn recovering() -> bool {
    let c = crate::config::config();
    c.retries > 0 || c.worker_timeout.is_some()
}

/// Makes the dataset `lineage` describes again, on `members`; its new ID.
fn replay(lineage: &Lineage, members: &Members) -> Result<DataId> {
    match lineage {
        Lineage::Source(make) => {
            let id = new_id();
            make(id, members)?;
            Ok(id)
        }
        Lineage::Step { parent, make } => {
            let src = replay(parent, members)?;
            let dst = new_id();
            match issue(make(src, dst, true), members, |_| Payload::default()) {
                Ok(_) | Err(Error::Task(_)) => Ok(dst),
                Err(e) => Err(e),
            }
        }
    }
}

/// The driver's handle of one dataset: freeing its partitions when the last one drops.
#[derive(Debug)]
struct Handle {
    /// Its partitions' ID (a new one when they are made again after a loss).
    id: Cell<DataId>,
    /// The ranks that hold them.
    members: RefCell<Members>,
    /// How to make them again, when kept.
    lineage: Option<Rc<Lineage>>,
    /// A step took the partitions over: nothing left to free.
    taken: Cell<bool>,
    /// The step that should have made the dataset could not be issued.
    broken: Option<Error>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.taken.get() && self.broken.is_none() {
            // Best effort: a free that cannot be sent leaves memory, not a wrong result.
            let members = self.members.borrow().clone();
            let ids = vec![self.id.get()];
            let _ = issue(DataOp::Free { ids }, &members, |_| Payload::default());
        }
    }
}

/// A distributed collection of `T`: one partition on each rank, kept there between steps.
///
/// Every rank holds one partition of every dataset, the driver (rank 0) too: partition `p`
/// lives on rank `p`. A step (`map`, `filter`, `map_overlap`, `group_by_key`, ...) is one
/// small message from the driver to each worker; the items never leave their ranks unless
/// the step moves them rank to rank (halos, shuffles, rebalancing) or the driver asks for
/// them (`collect`, `take`, a fold's result). Steps are issued without waiting: a failed
/// task leaves a failed partition, and the next action on the dataset (or on one made from
/// it) returns that failure, naming the partition, the rank and the task.
///
/// A step takes its dataset by value. When that was the last handle, the step takes the
/// partitions over (no copy: a `map_overlap` that updates its items in place allocates
/// nothing); clone the handle first to keep the dataset. A dataset's partitions are freed
/// on every rank when its last handle drops. See the guide's "Datasets" page (`docs/guide/datasets.md`).
///
/// ```no_run
/// # use blazer_runtime as blazer;
/// # use blazer_runtime::{Dataset, Task};
/// # #[derive(Clone, Copy)] struct square; #[derive(Clone, Copy)] struct add;
/// # impl Task for square { type Input = u64; type Output = u64; type Head = (); type Last = u64;
/// #   const ARITY: usize = 1; const NAME: &'static str = "square"; const SIGNATURE: &'static str = "";
/// #   fn run(x: u64) -> Result<u64, String> { Ok(x * x) } }
/// # impl Task for add { type Input = (u64, u64); type Output = u64; type Head = u64; type Last = u64;
/// #   const ARITY: usize = 2; const NAME: &'static str = "add"; const SIGNATURE: &'static str = "";
/// #   fn run((a, b): (u64, u64)) -> Result<u64, String> { Ok(a + b) } }
/// // Made on the workers, squared there, summed up a tree of the ranks.
/// let sum = Dataset::range(1_000_000).map::<square>().reduce::<add>()?;
/// assert_eq!(sum, Some((0..1_000_000u64).map(|x| x * x).sum()));
/// # Ok::<(), blazer::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a dataset's partitions are freed when it drops"]
pub struct Dataset<T> {
    handle: Rc<Handle>,
    _items: PhantomData<fn() -> T>,
}

impl<T> Clone for Dataset<T> {
    /// Another handle of the same partitions (nothing is copied).
    fn clone(&self) -> Self {
        Dataset {
            handle: Rc::clone(&self.handle),
            _items: PhantomData,
        }
    }
}

/// Sends `op` to every member but the driver (its input for partition `i` from
/// `input(i)`), then runs it on the driver's own partition; returns the driver's output.
/// Nothing waits for the workers.
fn issue(
    op: DataOp,
    members: &Members,
    mut input: impl FnMut(usize) -> Payload,
) -> Result<Payload> {
    dispatch::on_driver_thread("Dataset")?;
    let step = members.step(op);
    let own = input(0);
    dispatch::post(placed(&step, members, 1..members.parts(), input))?;
    crate::exec::run_data_step(&step, own).map_err(Error::Task)
}

/// One batch of `step` for each partition of `parts`, on its member.
fn placed(
    step: &DataStep,
    members: &Members,
    parts: std::ops::Range<usize>,
    mut input: impl FnMut(usize) -> Payload,
) -> Vec<(Placement, Batch)> {
    // Each batch fills its own slot of the call: the first one's slot 0, and so on.
    parts
        .enumerate()
        .map(|(slot, i)| {
            let plan = Plan::Data(Box::new(step.clone()));
            let rank = members.ranks[i];
            (
                Placement::Rank(rank),
                Batch::map(slot, plan, vec![input(i)]),
            )
        })
        .collect()
}

/// Runs `op` on partitions `parts` (partition 0 among them: here) and returns each one's
/// output, in partition order.
fn ask(op: DataOp, members: &Members, parts: std::ops::Range<usize>) -> Result<Vec<Payload>> {
    dispatch::on_driver_thread("Dataset")?;
    let step = members.step(op);
    let remote = parts.start.max(1)..parts.end;
    let submitted = match remote.is_empty() {
        true => None,
        false => {
            let batches = placed(&step, members, remote, |_| Payload::default());
            match dispatch::submit("dataset", batches.len(), batches)? {
                dispatch::Submitted::Remote(call) => Some(call),
                dispatch::Submitted::Inline(_) => None,
            }
        }
    };
    let mut out = Vec::new();
    if parts.start == 0 {
        out.push(crate::exec::run_data_step(&step, Payload::default()).map_err(Error::Task)?);
    }
    if let Some(call) = submitted {
        out.extend(dispatch::first_ok(dispatch::wait(call)?)?);
    }
    Ok(out)
}

fn new_id() -> DataId {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

/// Runs `f` (a user's task, inside a kernel), turning a panic into an error.
fn guarded<R>(
    f: impl FnOnce() -> std::result::Result<R, String>,
) -> std::result::Result<R, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&*panic))))
}

/// Calls task `F` on `input`, naming `what` (an item) in its error.
fn call<F: Task>(
    input: F::Input,
    what: impl FnOnce() -> String,
) -> std::result::Result<F::Output, String> {
    guarded(|| F::run(input)).map_err(|e| format!("{}: {e}", what()))
}

fn boxed<T: Element>(items: Vec<T>) -> Box<dyn Part> {
    Box::new(items)
}

fn encode<T: Serialize>(value: &T) -> std::result::Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|e| format!("cannot encode a value: {e}"))
}

fn decode<T: Element>(bytes: &[u8]) -> std::result::Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode a value: {e}"))
}

/// The kernel that only decodes partitions of `T`.
fn decoder<T: Element>() -> &'static Kernel {
    const { &Kernel::new::<T>("dataset", Body::Decode) }
}

// ---- Kernels: the typed bodies of each step, run on every rank. ----

fn generate_body<F>(range: std::ops::Range<u64>) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task<Input = u64>,
    F::Output: Element,
{
    let items = range
        .map(|i| call::<F>(i, || format!("index {i}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(boxed(items))
}

fn range_body(range: std::ops::Range<u64>) -> std::result::Result<Box<dyn Part>, String> {
    Ok(boxed(range.collect::<Vec<u64>>()))
}

fn map_body<F>(input: Input<'_>) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task,
    F::Input: Element,
    F::Output: Element,
{
    let items: Vec<F::Input> = input.into_vec()?;
    let out = items
        .into_iter()
        .enumerate()
        .map(|(i, x)| call::<F>(x, || format!("item {i} of the partition")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(boxed(out))
}

fn filter_body<F>(input: Input<'_>) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task<Output = bool>,
    F::Input: Element,
{
    let items: Vec<F::Input> = input.into_vec()?;
    let mut kept = Vec::new();
    for (i, x) in items.into_iter().enumerate() {
        if call::<F>(x.clone(), || format!("item {i} of the partition"))? {
            kept.push(x);
        }
    }
    Ok(boxed(kept))
}

fn flat_map_body<F, U>(input: Input<'_>) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task,
    F::Input: Element,
    F::Output: IntoIterator<Item = U>,
    U: Element,
{
    let items: Vec<F::Input> = input.into_vec()?;
    let mut out = Vec::new();
    for (i, x) in items.into_iter().enumerate() {
        out.extend(call::<F>(x, || format!("item {i} of the partition"))?);
    }
    Ok(boxed(out))
}

fn partition_body<F, T>(input: Input<'_>) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task<Input = Vec<T>>,
    F::Output: Items,
    T: Element,
{
    let items: Vec<T> = input.into_vec()?;
    Ok(boxed(
        call::<F>(items, || "the partition".into())?.into_items(),
    ))
}

fn window_body<F, T>(
    input: Input<'_>,
    before: &[u8],
    after: &[u8],
) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task<Input = Halo<T>>,
    F::Output: Items,
    T: Element,
{
    let halo = Halo {
        before: decode(before)?,
        items: input.into_vec()?,
        after: decode(after)?,
    };
    Ok(boxed(
        call::<F>(halo, || "the partition".into())?.into_items(),
    ))
}

fn reduce_local<F, T>(
    input: Input<'_>,
    _zero: &[u8],
) -> std::result::Result<Option<Vec<u8>>, String>
where
    F: Task<Input = (T, T), Output = T>,
    T: Element,
{
    let mut acc: Option<T> = None;
    for (i, x) in input.items::<T>()?.iter().enumerate() {
        acc = Some(match acc {
            None => x.clone(),
            Some(a) => call::<F>((a, x.clone()), || format!("item {i} of the partition"))?,
        });
    }
    acc.map(|a| encode(&a)).transpose()
}

fn fold_local<S, A, T>(
    input: Input<'_>,
    zero: &[u8],
) -> std::result::Result<Option<Vec<u8>>, String>
where
    S: Task<Input = (A, T), Output = A>,
    A: Element,
    T: Element,
{
    let mut acc: A = decode(zero)?;
    for (i, x) in input.items::<T>()?.iter().enumerate() {
        acc = call::<S>((acc, x.clone()), || format!("item {i} of the partition"))?;
    }
    encode(&acc).map(Some)
}

fn combine<C, A>(a: &[u8], b: &[u8]) -> std::result::Result<Vec<u8>, String>
where
    C: Task<Input = (A, A), Output = A>,
    A: Element,
{
    let merged = call::<C>((decode(a)?, decode(b)?), || {
        "two partitions' results".into()
    })?;
    encode(&merged)
}

/// The partition a key goes to: the same on every rank of one build (std's `DefaultHasher`
/// with its fixed keys).
fn bucket<K: Hash>(key: &K, parts: usize) -> usize {
    (BuildHasherDefault::<DefaultHasher>::default().hash_one(key) % parts as u64) as usize
}

/// Items in first-seen order of their keys, each key once, its values gathered by `add`.
fn gather_by_key<K, V, G>(
    items: impl IntoIterator<Item = (K, V)>,
    mut add: impl FnMut(&mut G, V) -> std::result::Result<(), String>,
    new: impl Fn(V) -> G,
) -> std::result::Result<Vec<(K, G)>, String>
where
    K: Hash + Eq + Clone,
{
    let mut at: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<(K, G)> = Vec::new();
    for (k, v) in items {
        match at.get(&k) {
            Some(&i) => add(&mut out[i].1, v)?,
            None => {
                at.insert(k.clone(), out.len());
                out.push((k, new(v)));
            }
        }
    }
    Ok(out)
}

fn split_by_key<K, V>(input: Input<'_>, parts: usize) -> std::result::Result<Vec<Vec<u8>>, String>
where
    K: Element + Hash + Eq,
    V: Element,
{
    let mut pieces: Vec<Vec<(K, V)>> = (0..parts).map(|_| Vec::new()).collect();
    for (k, v) in input.into_vec::<(K, V)>()? {
        pieces[bucket(&k, parts)].push((k, v));
    }
    pieces.iter().map(encode).collect()
}

fn group_merge<K, V>(pieces: Vec<Vec<u8>>) -> std::result::Result<Box<dyn Part>, String>
where
    K: Element + Hash + Eq,
    V: Element,
{
    let mut items = Vec::new();
    for piece in pieces {
        items.extend(decode::<Vec<(K, V)>>(&piece)?);
    }
    let grouped = gather_by_key(
        items,
        |g: &mut Vec<V>, v| {
            g.push(v);
            Ok(())
        },
        |v| vec![v],
    )?;
    Ok(boxed(grouped))
}

fn reduce_split<F, K, V>(
    input: Input<'_>,
    parts: usize,
) -> std::result::Result<Vec<Vec<u8>>, String>
where
    F: Task<Input = (V, V), Output = V>,
    K: Element + Hash + Eq,
    V: Element,
{
    let combined = reduce_by_key_in::<F, K, V>(input.into_vec::<(K, V)>()?)?;
    let mut pieces: Vec<Vec<(K, V)>> = (0..parts).map(|_| Vec::new()).collect();
    for (k, v) in combined {
        pieces[bucket(&k, parts)].push((k, v));
    }
    pieces.iter().map(encode).collect()
}

fn reduce_merge<F, K, V>(pieces: Vec<Vec<u8>>) -> std::result::Result<Box<dyn Part>, String>
where
    F: Task<Input = (V, V), Output = V>,
    K: Element + Hash + Eq,
    V: Element,
{
    let mut items = Vec::new();
    for piece in pieces {
        items.extend(decode::<Vec<(K, V)>>(&piece)?);
    }
    Ok(boxed(reduce_by_key_in::<F, K, V>(items)?))
}

/// Combines the values of each key with `F`, in order; keys in first-seen order.
fn reduce_by_key_in<F, K, V>(items: Vec<(K, V)>) -> std::result::Result<Vec<(K, V)>, String>
where
    F: Task<Input = (V, V), Output = V>,
    K: Element + Hash + Eq,
    V: Element,
{
    let gathered = gather_by_key(
        items,
        |acc: &mut Option<V>, v| {
            let a = acc.take().expect("a value");
            *acc = Some(call::<F>((a, v), || "two values of one key".into())?);
            Ok(())
        },
        Some,
    )?;
    Ok(gathered
        .into_iter()
        .map(|(k, v)| (k, v.expect("a value")))
        .collect())
}

// ---- The driver's API. ----

impl<T: Element> Dataset<T> {
    fn made(
        id: DataId,
        members: Members,
        lineage: Option<Rc<Lineage>>,
        issued: Result<Payload>,
    ) -> Dataset<T> {
        // A step that could not be issued at all (no rank ran it) breaks the dataset; a
        // step that failed here left a failed partition, which the next action reports.
        let broken = match issued {
            Ok(_) | Err(Error::Task(_)) => None,
            Err(e) => Some(e),
        };
        Dataset {
            handle: Rc::new(Handle {
                id: Cell::new(id),
                members: RefCell::new(members),
                lineage,
                taken: Cell::new(false),
                broken,
            }),
            _items: PhantomData,
        }
    }

    /// A dataset that `make` makes under an ID on the members now; `make` is kept as its
    /// lineage when a lost rank may leave the job going.
    fn from_source(make: impl Fn(DataId, &Members) -> Result<()> + 'static) -> Dataset<T> {
        let id = new_id();
        let members = Members::now();
        let issued = dispatch::on_driver_thread("Dataset")
            .and_then(|()| make(id, &members))
            .map(|()| Payload::default());
        let lineage = recovering().then(|| Rc::new(Lineage::Source(Box::new(make))));
        Dataset::made(id, members, lineage, issued)
    }

    /// A dataset of `items`, cut in order into one partition per rank (lengths differ by at
    /// most one). The items cross the driver's link once. With `BLAZER_RETRIES` or
    /// `BLAZER_WORKER_TIMEOUT` the driver keeps a copy, to make the partitions again if a
    /// rank is lost.
    pub fn scatter(items: Vec<T>) -> Dataset<T> {
        if recovering() {
            return Dataset::from_source(move |id, m| put_chunks(id, items.clone(), m));
        }
        let items = RefCell::new(Some(items));
        Dataset::from_source(move |id, m| put_chunks(id, items.take().unwrap_or_default(), m))
    }

    /// A dataset of `task(i)` for `i` in `0..n`, each rank computing its own partition's
    /// items (partition `p` holds a contiguous range of indices, in order).
    pub fn generate<F>(n: u64) -> Dataset<T>
    where
        F: Task<Input = u64, Output = T>,
    {
        let kernel = const { &Kernel::new::<T>(F::NAME, Body::Generate(generate_body::<F>)) };
        Dataset::from_source(move |id, m| generate_on(kernel, id, n, m))
    }

    /// The results of `map(task, items)`, kept where they were computed: the items are
    /// scattered, then mapped on their ranks.
    pub fn from_map<F>(items: Vec<F::Input>) -> Dataset<T>
    where
        F: Task<Output = T>,
        F::Input: Element,
    {
        Dataset::<F::Input>::scatter(items).map::<F>()
    }

    /// The ID of the dataset's partitions, and whether this step may take them over (the
    /// handle was the last one). A broken dataset makes broken ones.
    fn source(self) -> (DataId, bool, Option<Error>) {
        let consume = Rc::strong_count(&self.handle) == 1;
        if consume {
            self.handle.taken.set(true);
        }
        (self.handle.id.get(), consume, self.handle.broken.clone())
    }

    /// The ranks that hold the partitions.
    fn members(&self) -> Members {
        self.handle.members.borrow().clone()
    }

    /// Makes the partitions again on the members now if a rank was lost since they were
    /// made (with lineage kept), or says that it cannot.
    fn current(&self) -> Result<()> {
        if self.handle.broken.is_some() || *self.handle.members.borrow() == Members::now() {
            return Ok(());
        }
        self.rebuild()
    }

    /// Makes the partitions again from the lineage on the ranks left.
    fn rebuild(&self) -> Result<()> {
        let lineage = self.handle.lineage.clone().ok_or_else(|| {
            Error::Usage(
                "a rank that held a partition of this dataset was lost; datasets are made again \
                 on the other ranks only with BLAZER_RETRIES or BLAZER_WORKER_TIMEOUT set"
                    .into(),
            )
        })?;
        let members = Members::now();
        let id = replay(&lineage, &members)?;
        let old = self.handle.id.replace(id);
        self.handle.members.replace(members.clone());
        // The ranks left free what they held of the old partitions.
        let _ = issue(DataOp::Free { ids: vec![old] }, &members, |_| {
            Payload::default()
        });
        eprintln!(
            "blazer: dataset {old} made again from its lineage on rank(s) {:?} (a rank was lost): \
             dataset {id}",
            members.ranks
        );
        Ok(())
    }

    /// Runs an action; when it fails and a rank turns out lost (once the driver has heard
    /// from every rank), makes the partitions again from their lineage and runs it again.
    fn acting<R>(&self, act: impl Fn(&Self) -> Result<R>) -> Result<R> {
        self.current()?;
        let mut again = 0;
        loop {
            match act(self) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    if self.handle.lineage.is_none() || again >= world::size() {
                        return Err(e);
                    }
                    // The steps out finish or fail: a rank silent past the time-out is
                    // declared lost meanwhile.
                    let _ = dispatch::settle_posted();
                    if *self.handle.members.borrow() == Members::now() {
                        return Err(e);
                    }
                    self.rebuild()?;
                    again += 1;
                }
            }
        }
    }

    /// Issues a step that makes a new dataset from this one (kept in the new one's lineage
    /// when this one has one).
    fn step<U: Element>(
        self,
        make: impl Fn(DataId, DataId, bool) -> DataOp + 'static,
    ) -> Dataset<U> {
        let id = new_id();
        if let Err(e) = self.current() {
            return Dataset::<U>::made(id, self.members(), None, Err(e));
        }
        let members = self.members();
        let parent = self.handle.lineage.clone();
        let (src, consume, broken) = self.source();
        if let Some(e) = broken {
            return Dataset::<U>::made(id, members, None, Err(e));
        }
        let issued = issue(make(src, id, consume), &members, |_| Payload::default());
        let lineage = parent.map(|parent| {
            Rc::new(Lineage::Step {
                parent,
                make: Rc::new(make),
            })
        });
        Dataset::made(id, members, lineage, issued)
    }

    /// `task` on every item, where the items are.
    pub fn map<F>(self) -> Dataset<F::Output>
    where
        F: Task<Input = T>,
        F::Output: Element,
    {
        let kernel = const { &Kernel::new::<T>(F::NAME, Body::Transform(map_body::<F>)) };
        self.step(move |src, dst, consume| DataOp::Transform {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
        })
    }

    /// The items for which `task` returns `true`, in order.
    pub fn filter<F>(self) -> Dataset<T>
    where
        F: Task<Input = T, Output = bool>,
    {
        let kernel = const { &Kernel::new::<T>(F::NAME, Body::Transform(filter_body::<F>)) };
        self.step(move |src, dst, consume| DataOp::Transform {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
        })
    }

    /// Every item of every `task(item)`, in order (`task` returns a `Vec`, an `Option`, or
    /// any other collection).
    pub fn flat_map<F>(self) -> Dataset<<F::Output as IntoIterator>::Item>
    where
        F: Task<Input = T>,
        F::Output: IntoIterator,
        <F::Output as IntoIterator>::Item: Element,
    {
        let kernel = const {
            &Kernel::new::<T>(
                F::NAME,
                Body::Transform(flat_map_body::<F, <F::Output as IntoIterator>::Item>),
            )
        };
        self.step(move |src, dst, consume| DataOp::Transform {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
        })
    }

    /// `task` on each whole partition (`Vec<T>` in, `Vec<U>` out).
    pub fn map_partitions<F>(self) -> Dataset<<F::Output as Items>::Item>
    where
        F: Task<Input = Vec<T>>,
        F::Output: Items,
    {
        let kernel = const { &Kernel::new::<T>(F::NAME, Body::Transform(partition_body::<F, T>)) };
        self.step(move |src, dst, consume| DataOp::Transform {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
        })
    }

    /// `task` on each partition with `halo` items of its neighbours on either side (a
    /// [`Halo`]), sent rank to rank: a stencil. Each neighbour partition must hold at least
    /// `halo` items ([`Dataset::rebalance`] evens them out).
    pub fn map_overlap<F>(self, halo: usize, border: Border) -> Dataset<<F::Output as Items>::Item>
    where
        F: Task<Input = Halo<T>>,
        F::Output: Items,
    {
        let kernel = const { &Kernel::new::<T>(F::NAME, Body::Window(window_body::<F, T>)) };
        let edge = match border {
            Border::Periodic => Edge::Periodic,
            Border::Open => Edge::Open,
        };
        self.step(move |src, dst, consume| DataOp::Window {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
            halo: halo as u64,
            edge,
        })
    }

    /// The same items in the same order, moved rank to rank so that the partitions' lengths
    /// differ by at most one.
    pub fn rebalance(self) -> Dataset<T> {
        let kernel = decoder::<T>().reference();
        self.step(move |src, dst, consume| DataOp::Rebalance {
            src,
            dst,
            consume,
            kernel,
        })
    }

    /// An error if the step that made this dataset could not be issued.
    fn usable(&self) -> Result<DataId> {
        match &self.handle.broken {
            Some(e) => Err(e.clone()),
            None => Ok(self.handle.id.get()),
        }
    }

    /// Runs a fold op; the value rank 0 ended with.
    fn fold_op<A: Element>(
        &self,
        kernel: Option<&'static Kernel>,
        zero: Vec<u8>,
    ) -> Result<Option<A>> {
        let op = DataOp::Fold {
            src: self.usable()?,
            kernel: kernel.map(Kernel::reference),
            zero,
        };
        let out = issue(op, &self.members(), |_| Payload::default())?;
        let value: Option<serde_bytes::ByteBuf> = out.decode()?;
        value
            .map(|v| {
                postcard::from_bytes::<A>(&v).map_err(|e| Error::Decode {
                    rank: 0,
                    message: e.to_string(),
                })
            })
            .transpose()
    }

    /// How many items, counted where they are and summed up a tree of the ranks.
    pub fn count(&self) -> Result<u64> {
        self.acting(|d| Ok(d.fold_op::<u64>(None, Vec::new())?.unwrap_or(0)))
    }

    /// The items combined by `task` in order, each partition on its rank and the results
    /// up a tree of the ranks; `None` when the dataset is empty.
    pub fn reduce<F>(&self) -> Result<Option<T>>
    where
        F: Task<Input = (T, T), Output = T>,
    {
        let kernel = const {
            &Kernel::new::<T>(
                F::NAME,
                Body::Fold {
                    local: reduce_local::<F, T>,
                    combine: combine::<F, T>,
                },
            )
        };
        self.acting(|d| d.fold_op(Some(kernel), Vec::new()))
    }

    /// Each partition folded by `step` from `zero`, in order, and the partitions' results
    /// combined by `combine` in partition order up a tree of the ranks.
    pub fn fold<S, C>(&self, zero: S::Output) -> Result<S::Output>
    where
        S: Task<Input = (<S as Task>::Output, T)>,
        S::Output: Element,
        C: Task<Input = (S::Output, S::Output), Output = S::Output>,
    {
        let kernel = const {
            &Kernel::new::<T>(
                S::NAME,
                Body::Fold {
                    local: fold_local::<S, S::Output, T>,
                    combine: combine::<C, S::Output>,
                },
            )
        };
        let zero = postcard::to_allocvec(&zero).map_err(|e| Error::Encode(e.to_string()))?;
        self.acting(|d| {
            d.fold_op::<S::Output>(Some(kernel), zero.clone())?
                .ok_or_else(|| Error::Usage("a fold without a result".into()))
        })
    }

    /// Reads partitions `parts`, at most `limit` items of each.
    fn read(&self, parts: std::ops::Range<usize>, limit: Option<u64>) -> Result<Vec<T>> {
        let op = DataOp::Read {
            src: self.usable()?,
            kernel: decoder::<T>().reference(),
            limit,
        };
        let members = self.members();
        let mut items = Vec::new();
        for (i, bytes) in ask(op, &members, parts.clone())?.into_iter().enumerate() {
            let part: Vec<T> =
                postcard::from_bytes(&bytes.to_vec()).map_err(|e| Error::Decode {
                    rank: members.ranks[parts.start + i],
                    message: e.to_string(),
                })?;
            items.extend(part);
        }
        Ok(items)
    }

    /// Every item, in order, on the driver.
    pub fn collect(&self) -> Result<Vec<T>> {
        self.acting(|d| d.read(0..d.partitions(), None))
    }

    /// The first `n` items, in order: the driver reads partitions from the first on, one
    /// more partition each round than the round before, until it has `n`.
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        self.acting(|d| {
            let parts = d.partitions();
            let mut items = Vec::new();
            let (mut next, mut width) = (0, 1);
            while items.len() < n && next < parts {
                let end = (next + width).min(parts);
                let want = (n - items.len()) as u64;
                items.extend(d.read(next..end, Some(want))?);
                next = end;
                width *= 2;
            }
            items.truncate(n);
            Ok(items)
        })
    }

    /// How many partitions: one per rank (per rank left, after a rank was lost).
    pub fn partitions(&self) -> usize {
        self.handle.members.borrow().parts()
    }
}

/// Cuts `items` in order into one chunk per member: the driver's own filed here, the
/// others sent encoded.
fn put_chunks<T: Element>(id: DataId, items: Vec<T>, members: &Members) -> Result<()> {
    let parts = members.parts();
    let n = items.len();
    let mut rest = items;
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(parts);
    for p in (0..parts).rev() {
        chunks.push(rest.split_off(share_start(p, parts, n)));
    }
    chunks.reverse();
    let mut chunks = chunks.into_iter();
    let own = chunks.next().unwrap_or_default();
    let encoded = chunks
        .map(|chunk| postcard::to_allocvec(&chunk).map(Payload::from))
        .collect::<std::result::Result<Vec<Payload>, _>>()
        .map_err(|e| Error::Encode(e.to_string()))?;
    Store::with(|s| s.put(id, Partition::Typed(boxed(own))));
    let step = members.step(DataOp::Put {
        dst: id,
        kernel: decoder::<T>().reference(),
    });
    let mut encoded = encoded.into_iter();
    dispatch::post(placed(&step, members, 1..parts, |_| {
        encoded.next().unwrap_or_default()
    }))
}

/// Makes dataset `id` on `members` with a generating kernel over `0..n`.
fn generate_on(kernel: &'static Kernel, id: DataId, n: u64, members: &Members) -> Result<()> {
    let op = DataOp::Generate {
        dst: id,
        kernel: kernel.reference(),
        total: n,
    };
    match issue(op, members, |_| Payload::default()) {
        Ok(_) | Err(Error::Task(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

impl<K, V> Dataset<(K, V)>
where
    K: Element + Hash + Eq,
    V: Element,
{
    /// Each key once with all its values, the items moving rank to rank to the partition
    /// their key hashes to. Keys come in the order first seen, and each key's values in
    /// partition order, so the result is the same on every run of the same ranks.
    pub fn group_by_key(self) -> Dataset<(K, Vec<V>)> {
        let kernel = const {
            &Kernel::new::<(K, V)>(
                "group_by_key",
                Body::Shuffle {
                    split: split_by_key::<K, V>,
                    merge: group_merge::<K, V>,
                },
            )
        };
        self.step(move |src, dst, consume| DataOp::Shuffle {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
        })
    }

    /// Each key once with its values combined by `task` (first within each partition, then
    /// across partitions in order), the items moving rank to rank by key.
    pub fn reduce_by_key<F>(self) -> Dataset<(K, V)>
    where
        F: Task<Input = (V, V), Output = V>,
    {
        let kernel = const {
            &Kernel::new::<(K, V)>(
                F::NAME,
                Body::Shuffle {
                    split: reduce_split::<F, K, V>,
                    merge: reduce_merge::<F, K, V>,
                },
            )
        };
        self.step(move |src, dst, consume| DataOp::Shuffle {
            src,
            dst,
            consume,
            kernel: kernel.reference(),
        })
    }
}

impl Dataset<u64> {
    /// The numbers `0..n`, each rank making its own partition's range.
    pub fn range(n: u64) -> Dataset<u64> {
        let kernel = const { &Kernel::new::<u64>("range", Body::Generate(range_body)) };
        Dataset::from_source(move |id, m| generate_on(kernel, id, n, m))
    }
}

/// Datasets with a partition on this rank (for tests of freeing).
#[doc(hidden)]
pub fn partitions_held() -> usize {
    Store::with(|s| s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x * x`, a task written by hand (the macros live in another crate).
    #[derive(Debug, Clone, Copy)]
    struct Square;
    impl Task for Square {
        type Input = u64;
        type Output = u64;
        type Head = ();
        type Last = u64;
        const ARITY: usize = 1;
        const NAME: &'static str = "square";
        const SIGNATURE: &'static str = "fn(u64) -> u64";
        fn run(x: u64) -> std::result::Result<u64, String> {
            Ok(x * x)
        }
    }

    /// `a + b`.
    #[derive(Debug, Clone, Copy)]
    struct Add;
    impl Task for Add {
        type Input = (u64, u64);
        type Output = u64;
        type Head = u64;
        type Last = u64;
        const ARITY: usize = 2;
        const NAME: &'static str = "add";
        const SIGNATURE: &'static str = "fn(u64, u64) -> u64";
        fn run((a, b): (u64, u64)) -> std::result::Result<u64, String> {
            Ok(a + b)
        }
    }

    /// A world of one that never started MPI (a unit test, a tool): every step runs here,
    /// the shuffles and rebalances too, with nothing to exchange.
    #[test]
    fn every_step_runs_in_a_process_without_mpi() {
        let squares = Dataset::range(10).map::<Square>();
        assert_eq!(squares.reduce::<Add>().unwrap(), Some(285));
        assert_eq!(squares.clone().rebalance().count().unwrap(), 10);
        let pairs = Dataset::scatter(vec![(1u8, 2u64), (2, 5), (1, 3)]);
        assert_eq!(
            pairs.reduce_by_key::<Add>().collect().unwrap(),
            vec![(1, 5), (2, 5)]
        );
        assert_eq!(squares.take(3).unwrap(), vec![0, 1, 4]);
    }
}
