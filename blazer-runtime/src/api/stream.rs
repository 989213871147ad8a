//! `stream`: lazily apply a flow to an iterator of any length with a bounded number of items
//! in flight, so the driver's memory stays flat however long the source is.

use crate::api::flow::Flow;
use crate::checkpoint::resume::StreamCheckpoint;
use crate::driver::dispatch::{self, Submitted};
use crate::driver::pace::Pace;
use crate::driver::progress::Progress;
use crate::driver::queue::{Placement, Slot};
use crate::error::{Error, Result};
use crate::wire::message::SubmissionId;
use crate::wire::payload::Payload;
use crate::wire::plan::{Batch, Packed, Plan, BATCH_BYTES, PACK_ITEM_MAX};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;

/// The most items a paced batch takes (its bytes are bounded too: [`BATCH_BYTES`]).
pub(crate) const MAX_PACED_BATCH: usize = 1 << 16;

/// Batches an ordered stream holds at most, in windows: those running (one window) and
/// those finished early that wait for an older one. With one, a slow batch at the front
/// stops the stream handing out work: in the simulation, one task in fifty 20 times longer
/// left workers idle half the time; with 2, a quarter; with 4, 0.1 %.
const HELD_WINDOWS: usize = 4;

/// The most items a packed batch makes room for before its first item (a caller's
/// `batch(n)` may be far larger than its source).
const MAX_PACKED_RESERVE: usize = 1 << 12;

/// An item a stream can consume: a plain value, or the `Result` of an upstream stream (its
/// error is passed through), so streams chain: `stream(stream(source, f), g)`.
pub trait Feed<I> {
    /// The value, or the upstream error.
    fn into_input(self) -> Result<I>;
}

impl<I> Feed<I> for I {
    fn into_input(self) -> Result<I> {
        Ok(self)
    }
}

impl<I> Feed<I> for Result<I> {
    fn into_input(self) -> Result<I> {
        self
    }
}

/// Applies `f` to every item of `source` across the workers, lazily: an iterator of
/// `Result<O>`, one per item, in source order (see [`Stream::unordered`]).
///
/// At most [`Stream::window`] batches of [`Stream::batch`] items are in flight; the source is
/// pulled only when a batch completes, so a generator that never fits in memory streams in
/// constant memory. A failed item yields an `Err` and the stream goes on.
///
/// ```no_run
/// # use blazer_runtime as blazer;
/// # fn demo<M: blazer::Task<Input = u64, Output = u64>, R: blazer::Task<Input = u64, Output = String>>() -> blazer::Result<()> {
/// let mapper = blazer::stream(0..u64::MAX, blazer::task::<M>());
/// let reducer = blazer::stream(mapper, blazer::task::<R>());
/// for line in reducer.take(10) {
///     println!("{}", line?);
/// }
/// # Ok(()) }
/// ```
pub fn stream<S, I, O>(source: S, f: Flow<I, O>) -> Stream<S::IntoIter, I, O>
where
    S: IntoIterator,
    S::Item: Feed<I>,
    I: Serialize + 'static,
    O: DeserializeOwned + 'static,
{
    // The stream's place among the checkpointed calls is taken now, in program order.
    let key = f
        .plan()
        .ok()
        .and_then(|plan| crate::checkpoint::resume::begin("stream", plan));
    Stream::new(source.into_iter(), f, "stream", None, key)
}

impl<S, I, O> Stream<S, I, O> {
    /// A stream over `source` whose progress bar says `label`, out of `total` items if known;
    /// with `key`, a checkpointed call (`BLAZER_CHECKPOINT`) that skips what the log holds.
    pub(crate) fn new(
        source: S,
        f: Flow<I, O>,
        label: &'static str,
        total: Option<u64>,
        key: Option<crate::checkpoint::key::CheckpointKey>,
    ) -> Stream<S, I, O> {
        let checkpoint = key.map(|key| StreamCheckpoint::new(key, label));
        Stream {
            checkpoint,
            source,
            flow: f,
            batch: None,
            guess: 8,
            remaining: total.map(|t| t as usize),
            pace: Pace::default(),
            held: None,
            window: 0,
            ordered: true,
            in_flight: InFlight::ordered(),
            ready: VecDeque::new(),
            exhausted: false,
            progress: None,
            label,
            total,
            done: 0,
            peak: 0,
            types: PhantomData,
        }
    }
}

/// The iterator returned by [`stream`].
pub struct Stream<S, I, O> {
    source: S,
    flow: Flow<I, O>,
    /// Items per batch, as the caller set them; `None`: paced (`driver/pace.rs`).
    batch: Option<usize>,
    /// Items per batch until the workers' first report.
    guess: usize,
    /// Items not yet submitted, when the total is known.
    remaining: Option<usize>,
    /// What the workers reported of running this stream's batches.
    pace: Pace,
    /// An input that did not fit the last batch (packed or not), for the next one.
    held: Option<Payload>,
    /// Batches in flight at most; 0 means two per worker.
    window: usize,
    ordered: bool,
    /// Calls in flight, oldest first, with the upstream errors met while filling each.
    in_flight: InFlight,
    /// Outputs not yet yielded; an error boxed, so that an output moves in a small slot
    /// (`Error` is about 80 bytes, a `u64` 8).
    ready: VecDeque<Ready<O>>,
    exhausted: bool,
    progress: Option<Progress>,
    /// What the progress bar says, and the number of items if known.
    label: &'static str,
    total: Option<u64>,
    done: u64,
    /// Most batches ever in flight at once.
    peak: usize,
    types: PhantomData<fn(I) -> O>,
    /// With `BLAZER_CHECKPOINT`: what the log holds is not run again (`checkpoint/resume.rs`).
    checkpoint: Option<StreamCheckpoint>,
}

/// One submitted batch: its call ID on the work queue, or its outputs when run inline.
#[derive(Debug)]
enum Pending {
    Remote(SubmissionId, Shape),
    Done(Vec<Slot>, Shape),
    Failed(Error),
}

impl Pending {
    /// What submitting a batch of this `shape` gave.
    fn of(submitted: Result<Submitted>, shape: Shape) -> Pending {
        match submitted {
            Ok(Submitted::Remote(call)) => Pending::Remote(call, shape),
            Ok(Submitted::Inline(slots)) => Pending::Done(slots, shape),
            Err(e) => Pending::Failed(e),
        }
    }
}

/// The batches a stream has in flight. Either order keeps the remote ones by call, and the
/// work queue names them as they finish (`dispatch::take_finished`), so a finished batch
/// frees its place in the window at once, whatever the others do. In order, the batches
/// also wait in submission order until the oldest is done; unordered, the finished ones
/// wait in the order they finished.
#[derive(Debug)]
enum InFlight {
    Ordered {
        /// In submission order; the front is batch number `front`.
        queue: VecDeque<Pending>,
        front: u64,
        /// The remote ones, by call: their numbers.
        remote: HashMap<SubmissionId, u64>,
    },
    Unordered {
        remote: HashMap<SubmissionId, Shape>,
        done: VecDeque<Pending>,
    },
}

impl InFlight {
    fn ordered() -> InFlight {
        InFlight::Ordered {
            queue: VecDeque::new(),
            front: 0,
            remote: HashMap::new(),
        }
    }

    fn push_back(&mut self, pending: Pending) {
        if let Pending::Remote(call, _) = pending {
            // The work queue names it when it finishes (`take_finished`).
            dispatch::notify(call);
        }
        match self {
            InFlight::Ordered {
                queue,
                front,
                remote,
            } => {
                if let Pending::Remote(call, _) = pending {
                    remote.insert(call, *front + queue.len() as u64);
                }
                queue.push_back(pending)
            }
            InFlight::Unordered { remote, done } => match pending {
                Pending::Remote(call, shape) => {
                    remote.insert(call, shape);
                }
                other => done.push_back(other),
            },
        }
    }

    /// Batches held: running, or finished and waiting to be read.
    fn len(&self) -> usize {
        match self {
            InFlight::Ordered { queue, .. } => queue.len(),
            InFlight::Unordered { remote, done } => remote.len() + done.len(),
        }
    }

    /// Batches still on the work queue.
    fn running(&self) -> usize {
        match self {
            InFlight::Ordered { remote, .. } => remote.len(),
            InFlight::Unordered { remote, .. } => remote.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The calls still on the work queue.
    fn remote_calls(&self) -> Vec<SubmissionId> {
        match self {
            InFlight::Ordered { remote, .. } => remote.keys().copied().collect(),
            InFlight::Unordered { remote, .. } => remote.keys().copied().collect(),
        }
    }
}

/// How a batch's inputs travel: one payload each, or packed into one ([`Packed`]) with
/// this many items.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Items,
    Packed(usize),
}

/// An output waiting in a stream's `ready` queue.
type Ready<O> = std::result::Result<O, Box<Error>>;

/// The `items` outputs of a packed batch, decoded into `ready` in order: each its value or
/// its own failure; all of them the batch's failure if it failed as a whole.
fn unpack<O: DeserializeOwned + 'static>(
    slot: Option<std::result::Result<Payload, crate::error::TaskFailure>>,
    items: usize,
    ready: &mut VecDeque<Ready<O>>,
) {
    let packed = match slot {
        Some(Ok(payload)) => payload.decode::<Packed>(),
        Some(Err(failure)) => Err(Error::Task(failure)),
        None => Err(Error::Usage("a packed batch without its output".into())),
    };
    let error = match &packed {
        Ok(packed) => match packed.items() {
            Some(outputs) if outputs.len() == items => {
                // Straight into `ready`: no vector of results in between.
                ready.extend(outputs.into_iter().map(|out| match out {
                    Ok(bytes) => postcard::from_bytes(bytes).map_err(|e| {
                        Box::new(Error::Decode {
                            rank: crate::world::rank(),
                            message: format!("a value: {e}"),
                        })
                    }),
                    Err(failure) => Err(Box::new(Error::Task(failure.clone()))),
                }));
                return;
            }
            _ => Error::Decode {
                rank: crate::world::rank(),
                message: format!("packed outputs that do not fit the batch's {items} items"),
            },
        },
        Err(e) => e.clone(),
    };
    ready.extend((0..items).map(|_| Err(Box::new(error.clone()))));
}

impl<S, I, O> Stream<S, I, O>
where
    S: Iterator,
    S::Item: Feed<I>,
    I: Serialize + 'static,
    O: DeserializeOwned + 'static,
{
    /// Items per message. By default the stream chooses: 8 at first, then as many as make
    /// a batch's work long enough for the driver to keep up with every worker (from the
    /// run times the workers report and the number of workers; `driver/pace.rs`). Larger
    /// batches amortise messages for small tasks; 1 balances long, uneven tasks best.
    pub fn batch(mut self, items: usize) -> Self {
        self.batch = Some(items.max(1));
        self
    }

    /// Paced batches (the default) that start at `guess` items.
    pub(crate) fn first_batches(mut self, guess: usize) -> Self {
        self.guess = guess.max(1);
        self
    }

    /// Items for the next batch.
    fn batch_size(&self) -> usize {
        self.batch.unwrap_or_else(|| {
            self.pace.batch(
                dispatch::workers(),
                self.guess,
                self.remaining,
                MAX_PACED_BATCH,
            )
        })
    }

    /// Batches in flight at most (default: two per worker). Bounds the driver's memory: in
    /// order, finished batches may also wait for an older one, at most three windows of
    /// them, so that a slow batch does not stop the others' workers from taking new ones.
    pub fn window(mut self, batches: usize) -> Self {
        self.window = batches.max(1);
        self
    }

    /// Yields results as they complete instead of in source order (more throughput when
    /// task durations vary).
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        if self.in_flight.is_empty() {
            self.in_flight = InFlight::Unordered {
                remote: HashMap::new(),
                done: VecDeque::new(),
            };
        }
        self
    }

    /// The most batches that were ever in flight (on the workers) at once: at most the
    /// window. Lets a test or a benchmark check that memory is bounded.
    pub fn peak_in_flight(&self) -> usize {
        self.peak
    }

    fn window_size(&self) -> usize {
        if self.window > 0 {
            self.window
        } else {
            dispatch::workers() * 2
        }
    }

    /// Whether batches may travel packed ([`Packed`]): not when the checkpoint records each
    /// item, nor when `BLAZER_RETRIES` runs failed items again one by one.
    fn packs(&self) -> bool {
        self.checkpoint.is_none() && crate::config::config().retries == 0
    }

    /// Pulls one batch from the source and submits it; false when the source is empty. A
    /// batch closes at [`Stream::batch`] items or [`BATCH_BYTES`] of encoded inputs. Small
    /// one-value inputs travel packed, many to one payload and encoded in place; a batch
    /// holds one kind or the other, and an input of the other kind waits for the next one.
    fn submit_batch(&mut self) -> bool {
        let size = self.batch_size();
        let packs = self.packs() && self.flow.takes_one_value();
        let mut inputs = Vec::new();
        let mut packed = if packs {
            Packed::with_capacity(size.min(MAX_PACKED_RESERVE))
        } else {
            Packed::default()
        };
        let mut bytes = 0;
        let mut any = false;
        while inputs.len() + packed.len() < size && bytes < BATCH_BYTES {
            let input = match self.held.take() {
                Some(held) => Ok(Some(held)),
                None => match self.source.next() {
                    None => {
                        self.exhausted = true;
                        break;
                    }
                    Some(item) => item.into_input().and_then(|input| {
                        // In place when it is small and the batch is packed (or empty).
                        let placed = packs
                            && inputs.is_empty()
                            && packed
                                .push_value(&input, PACK_ITEM_MAX)
                                .map_err(|e| Error::Encode(e.to_string()))?;
                        match placed {
                            true => Ok(None),
                            false => self.flow.encode_input(input).map(Some),
                        }
                    }),
                },
            };
            any = true;
            match input {
                Ok(None) => bytes = packed.byte_len(),
                Ok(Some(payload)) if packed.len() == 0 => {
                    bytes += payload.len();
                    inputs.push(payload);
                }
                // Not small: it waits for the next batch, which it starts.
                Ok(Some(payload)) => {
                    self.held = Some(payload);
                    break;
                }
                // An upstream or encoding error takes the item's place in the output.
                Err(e) => {
                    self.flush_inputs(&mut inputs);
                    self.flush_packed(&mut packed);
                    self.in_flight.push_back(Pending::Failed(e));
                    if let Some(c) = &mut self.checkpoint {
                        c.skip();
                    }
                }
            }
        }
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(inputs.len() + packed.len());
        }
        self.pace.sent(inputs.len() + packed.len());
        self.flush_inputs(&mut inputs);
        self.flush_packed(&mut packed);
        any || !self.exhausted
    }

    /// Submits the packed inputs as one batch of `Plan::Each`.
    fn flush_packed(&mut self, packed: &mut Packed) {
        if packed.len() == 0 {
            return;
        }
        let packed = std::mem::take(packed);
        let items = packed.len();
        let submitted = self
            .flow
            .plan()
            .and_then(|plan| {
                let stages = match plan {
                    Plan::Pipeline(stages) => stages.clone(),
                    other => vec![other.clone()],
                };
                Ok(Batch::map(
                    0,
                    Plan::Each(stages),
                    vec![Payload::encode(&packed)?],
                ))
            })
            .and_then(|batch| dispatch::submit(self.label, 1, vec![(Placement::AnyWorker, batch)]));
        self.in_flight
            .push_back(Pending::of(submitted, Shape::Packed(items)));
    }

    fn flush_inputs(&mut self, inputs: &mut Vec<Payload>) {
        if inputs.is_empty() {
            return;
        }
        let inputs = std::mem::take(inputs);
        let plan = match self.flow.plan() {
            Ok(p) => p.clone(),
            Err(e) => {
                self.in_flight.push_back(Pending::Failed(e));
                return;
            }
        };
        let n = inputs.len();
        let batch = Batch::map(0, plan, inputs);
        // With no workers, the batch runs here, lazily, as it is pulled.
        let submitted = match &mut self.checkpoint {
            Some(c) => c.submit(batch.plan, batch.inputs),
            None => dispatch::submit(self.label, n, vec![(Placement::AnyWorker, batch)]),
        };
        self.in_flight
            .push_back(Pending::of(submitted, Shape::Items));
    }

    /// Moves one finished batch's outputs to `ready`, or notes batches that finished out of
    /// order (their places in the window are free again), blocking until one of the two.
    /// Neither order looks at every batch in flight: the work queue names the calls that
    /// finished (`dispatch::take_finished`), so the cost of a reply does not grow with the
    /// window.
    fn complete_one(&mut self) -> Result<()> {
        loop {
            let pace = &mut self.pace;
            let finished = match &mut self.in_flight {
                InFlight::Ordered {
                    queue,
                    front,
                    remote,
                } => {
                    let mut freed = false;
                    for call in dispatch::take_finished(|c| remote.contains_key(&c)) {
                        let number = remote.remove(&call).expect("one of this stream's");
                        Self::settle(pace, &mut queue[(number - *front) as usize]);
                        freed = true;
                    }
                    match queue.front() {
                        None => return Ok(()),
                        Some(p) if is_done(p) => {
                            *front += 1;
                            queue.pop_front()
                        }
                        // Room in the window for another batch: the caller fills it.
                        Some(_) if freed => return Ok(()),
                        Some(_) => None,
                    }
                }
                InFlight::Unordered { remote, done } => {
                    if done.is_empty() {
                        for call in dispatch::take_finished(|c| remote.contains_key(&c)) {
                            let shape = remote.remove(&call).expect("one of this stream's");
                            let mut p = Pending::Remote(call, shape);
                            Self::settle(pace, &mut p);
                            done.push_back(p);
                        }
                    }
                    if done.is_empty() && remote.is_empty() {
                        return Ok(());
                    }
                    done.pop_front()
                }
            };
            if let Some(pending) = finished {
                self.take(pending);
                return Ok(());
            }
            dispatch::advance()?;
        }
    }

    /// A remote batch whose slots are all filled becomes `Done`; its run time is noted.
    fn settle(pace: &mut Pace, p: &mut Pending) {
        if let Pending::Remote(call, shape) = p {
            match dispatch::poll_ran(*call) {
                Ok(Some((slots, (items, us)))) => {
                    let items = match shape {
                        Shape::Packed(n) if items > 0 => *n as u64,
                        _ => items,
                    };
                    pace.observe((items, us));
                    *p = Pending::Done(slots, *shape);
                }
                Ok(None) => {}
                Err(e) => *p = Pending::Failed(e),
            }
        }
    }

    fn take(&mut self, pending: Pending) {
        match pending {
            Pending::Done(slots, Shape::Items) => {
                self.done += slots.len() as u64;
                for (_, slot) in slots {
                    self.ready.push_back(
                        slot.map_err(Error::Task)
                            .and_then(Payload::decode)
                            .map_err(Box::new),
                    );
                }
            }
            Pending::Done(slots, Shape::Packed(items)) => {
                self.done += items as u64;
                let slot = slots.into_iter().next().map(|(_, slot)| slot);
                unpack(slot, items, &mut self.ready);
            }
            Pending::Failed(e) => self.ready.push_back(Err(Box::new(e))),
            Pending::Remote(..) => unreachable!("only finished batches are taken"),
        }
        if let Some(p) = &self.progress {
            p.set(self.done);
        }
    }
}

impl<S, I, O> std::fmt::Debug for Stream<S, I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("flow", &self.flow)
            .field("batch", &self.batch)
            .field("window", &self.window)
            .field("ordered", &self.ordered)
            .field("in_flight", &self.in_flight.len())
            .field("ready", &self.ready.len())
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}

impl<S, I, O> Drop for Stream<S, I, O> {
    /// A stream dropped before its end removes its progress bar and cancels its batches:
    /// those still queued never run, and the answers of those already sent are dropped as
    /// they arrive instead of being kept until shutdown.
    fn drop(&mut self) {
        if let Some(p) = self.progress.take() {
            p.finish();
        }
        for call in self.in_flight.remote_calls() {
            dispatch::cancel(call);
        }
    }
}

fn is_done(p: &Pending) -> bool {
    !matches!(p, Pending::Remote(..))
}

impl<S, I, O> Iterator for Stream<S, I, O>
where
    S: Iterator,
    S::Item: Feed<I>,
    I: Serialize + 'static,
    O: DeserializeOwned + 'static,
{
    type Item = Result<O>;

    fn next(&mut self) -> Option<Result<O>> {
        if self.progress.is_none() && self.done == 0 {
            self.progress = Progress::start(self.label, self.total);
        }
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r.map_err(|e| *e));
            }
            // Keep the window full, then wait for the oldest (or any) batch. In order,
            // finished batches may wait for an older one, up to `HELD_WINDOWS` windows.
            let window = self.window_size();
            while !self.exhausted
                && self.in_flight.running() < window
                && self.in_flight.len() < HELD_WINDOWS * window
            {
                if !self.submit_batch() {
                    break;
                }
                self.peak = self.peak.max(self.in_flight.running());
            }
            if self.in_flight.is_empty() {
                if let Some(p) = self.progress.take() {
                    p.finish();
                }
                return None;
            }
            if let Err(e) = self.complete_one() {
                return Some(Err(e));
            }
        }
    }
}

/// Groups the items of `source` into `Vec`s of `size` (the last may be shorter), passing
/// upstream errors through: turns a stream of results into a stream of chunks for a
/// reducing stage, as the original's chunked streams did.
///
/// ```
/// let chunks: Vec<_> = blazer_runtime::chunks(1..=5, 2).map(Result::unwrap).collect();
/// assert_eq!(chunks, vec![vec![1, 2], vec![3, 4], vec![5]]);
/// ```
pub fn chunks<S, I>(source: S, size: usize) -> Chunks<S::IntoIter, I>
where
    S: IntoIterator,
    S::Item: Feed<I>,
{
    Chunks {
        source: source.into_iter(),
        size: size.max(1),
        types: PhantomData,
    }
}

/// The iterator returned by [`chunks`].
#[derive(Debug)]
pub struct Chunks<S, I> {
    source: S,
    size: usize,
    types: PhantomData<fn() -> I>,
}

impl<S, I> Iterator for Chunks<S, I>
where
    S: Iterator,
    S::Item: Feed<I>,
{
    type Item = Result<Vec<I>>;

    fn next(&mut self) -> Option<Result<Vec<I>>> {
        let mut chunk = Vec::with_capacity(self.size);
        while chunk.len() < self.size {
            match self.source.next().map(Feed::into_input) {
                None => break,
                Some(Ok(item)) => chunk.push(item),
                Some(Err(e)) => return Some(Err(e)),
            }
        }
        (!chunk.is_empty()).then_some(Ok(chunk))
    }
}
