//! The primitives of the original blazer, typed: `parallel`, `pipeline`, `map`, `scatter`,
//! `reduce`. Each runs on the driver and returns results in input order.

use crate::api::flow::{Call, Flow};
use crate::api::stream::Stream;
use crate::checkpoint::resume;

use crate::driver::dispatch::{self, decode_all, first_ok, workers};
use crate::driver::pace::first_batch;
use crate::error::{Error, Result, TaskFailure};
use crate::wire::payload::Payload;
use crate::wire::plan::Batch;
use crate::world;
use serde::{de::DeserializeOwned, Serialize};

/// Encodes every item as `f` takes it (a task's arguments one by one).
fn encode_all<I: Serialize + 'static, O>(
    f: &Flow<I, O>,
    data: impl IntoIterator<Item = I>,
) -> Result<Vec<Payload>> {
    data.into_iter().map(|item| f.encode_input(item)).collect()
}

/// One batch per call, each with the empty input of a fully bound call.
fn call_batches<O>(calls: impl IntoIterator<Item = Call<O>>) -> Result<Vec<Batch>> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| Ok(Batch::map(i, c.into_plan()?, vec![Payload::default()])))
        .collect()
}

/// Runs independent calls in parallel on the workers; results come back **in input order**.
/// A failed call makes the whole result an `Err` naming the task, rank and message (the
/// first failure in input order), after every other call has finished.
///
/// ```no_run
/// # use blazer_runtime as blazer;
/// # fn demo<T: blazer::Task<Input = i64, Output = i64>>() -> blazer::Result<()> {
/// let squares = blazer::parallel((1..=5).map(blazer::call::<T>))?;
/// # Ok(()) }
/// ```
pub fn parallel<O: DeserializeOwned + 'static>(
    calls: impl IntoIterator<Item = Call<O>>,
) -> Result<Vec<O>> {
    let batches = call_batches(calls)?;
    decode_all(dispatch::run("parallel", batches.len(), batches)?)
}

/// Like [`parallel`], but returns every call's own outcome, so one failure loses nothing.
pub fn parallel_settled<O: DeserializeOwned + 'static>(
    calls: impl IntoIterator<Item = Call<O>>,
) -> Result<Vec<Result<O, TaskFailure>>> {
    let batches = call_batches(calls)?;
    dispatch::run("parallel_settled", batches.len(), batches)?
        .into_iter()
        .map(|(_, slot)| match slot {
            Ok(payload) => payload.decode().map(Ok),
            Err(f) => Ok(Err(f)),
        })
        .collect()
}

/// Runs a chain of stages whose first stage is a [`crate::call`]: each output is the next
/// stage's input. Build the chain with [`Flow::then`]; `fork` stages inside it spread over
/// the workers.
pub fn pipeline<O: DeserializeOwned + 'static>(stages: Call<O>) -> Result<O> {
    stages.run(())
}

/// Applies `f` to every item, spreading batches over the workers with a pull-based queue (a
/// worker that finishes early takes the next batch). Results are in input order; the first
/// failure in input order makes the whole result an `Err`.
///
/// Items are encoded as batches are sent, two per worker ahead, so the driver never holds
/// the whole data set encoded. A batch holds a share of the items (a few batches per
/// worker, when the iterator knows its length), at most 65,536 items and about 8 MiB.
pub fn map<I: Serialize + 'static, O: DeserializeOwned + 'static>(
    f: Flow<I, O>,
    data: impl IntoIterator<Item = I>,
) -> Result<Vec<O>> {
    map_batched(f, data.into_iter(), None)
}

/// Like [`map`] with an explicit batch size (items per message). Use 1 for long, uneven tasks.
pub fn map_chunked<I: Serialize + 'static, O: DeserializeOwned + 'static>(
    f: Flow<I, O>,
    data: impl IntoIterator<Item = I>,
    batch: usize,
) -> Result<Vec<O>> {
    map_batched(f, data.into_iter(), Some(batch.max(1)))
}

fn map_batched<I: Serialize + 'static, O: DeserializeOwned + 'static>(
    f: Flow<I, O>,
    data: impl Iterator<Item = I>,
    batch: Option<usize>,
) -> Result<Vec<O>> {
    let (known, exact) = data.size_hint();
    if let Some(key) = resume::begin("map", f.plan()?) {
        // Item by item, what the log holds is restored and the rest runs: the inputs are
        // encoded up front, to be looked up.
        let inputs = encode_all(&f, data)?;
        let batch = batch.unwrap_or_else(|| resume::map_batch(inputs.len(), workers()));
        return decode_all(resume::map(key, f.plan()?, inputs, batch)?);
    }
    // A few batches per worker at first (driver/pace.rs: `first_batch`), then paced by the
    // workers' run times, unless the caller fixed the size.
    let total = (exact == Some(known)).then_some(known as u64);
    let mut out = Vec::with_capacity(known);
    // Not checkpointed (asked above): a plain stream.
    let stream = Stream::new(data, f, "map", total, None);
    let stream = match batch {
        Some(batch) => stream.batch(batch),
        None => stream.first_batches(first_batch(known, workers())),
    };
    for result in stream {
        out.push(result?);
    }
    Ok(out)
}

/// Splits `data` into one contiguous block per rank (the driver included), applies `f` to
/// every item of each block on its rank, and gathers the results in input order.
/// Uneven lengths give uneven blocks: nothing is padded.
pub fn scatter<I: Serialize + 'static, O: DeserializeOwned + 'static>(
    data: impl IntoIterator<Item = I>,
    f: Flow<I, O>,
) -> Result<Vec<O>> {
    let inputs = encode_all(&f, data)?;
    let plan = f.plan()?;
    if let Some(key) = resume::begin("scatter", plan) {
        return decode_all(resume::scatter(key, plan, inputs)?);
    }
    let (own, remote, outputs, _) = resume::scatter_blocks(plan, inputs);
    decode_all(dispatch::run_here_and_there_observed(
        own, remote, outputs, "scatter", None,
    )?)
}

/// Items of a `reduce` at most this many bytes together fold down a tree of the workers
/// (`worker.rs`); larger ones are first folded in blocks, one per worker, the usual way.
const SPREAD_BYTES: usize = 1 << 20;

/// Reduces `data` with an associative two-argument task, `f(a, b)`, as a tree: each worker
/// folds a contiguous block, then the partial results are folded the same way until one is
/// left. The order of the items is kept, so `f` need not be commutative.
/// Reducing an empty sequence is an error.
pub fn reduce<T: Serialize + DeserializeOwned + 'static>(
    f: Flow<(T, T), T>,
    data: impl IntoIterator<Item = T>,
) -> Result<T> {
    let plan = f.plan()?;
    // Each item is one argument of a fold: encoded alone, the fold puts two side by side.
    let mut items: Vec<Payload> = data
        .into_iter()
        .map(Payload::encode_owned)
        .collect::<Result<_>>()?;
    if items.is_empty() {
        return Err(Error::Usage("reduce of an empty sequence".into()));
    }
    let key = resume::begin("reduce", plan);
    // Not checkpointed (each level's folds are recorded) nor retried item by item: small
    // items fold down a tree of the workers in one message and one answer.
    let spreads = key.is_none() && crate::config::config().retries == 0;
    let mut level = 0;
    while items.len() > 1 {
        let bytes: usize = items.iter().map(Payload::len).sum();
        if spreads && bytes <= SPREAD_BYTES && dispatch::can_spread() {
            let all = Batch {
                first: 0,
                fold: true,
                plan: plan.clone(),
                inputs: items,
            };
            let folded = first_ok(dispatch::spread_here_and_there(None, all, "reduce")?)?;
            items = folded;
            break;
        }
        let block = resume::reduce_block(items.len(), workers(), key.is_some());
        let mut batches = Vec::new();
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            let inputs: Vec<Payload> = rest.by_ref().take(block).collect();
            batches.push(Batch {
                first: batches.len() as u64,
                fold: inputs.len() > 1,
                plan: plan.clone(),
                inputs,
            });
        }
        // A lone leftover item is passed through untouched: a batch of one is the identity.
        let (folds, singles): (Vec<Batch>, Vec<Batch>) = batches.into_iter().partition(|b| b.fold);
        let n = folds.len();
        let mut done = match key {
            Some(key) => first_ok(resume::folds(key, level, folds)?)?,
            None => first_ok(dispatch::run("reduce", n, folds)?)?,
        };
        level += 1;
        done.extend(singles.into_iter().flat_map(|b| b.inputs));
        items = done;
    }
    items.remove(0).decode()
}

/// Runs `call` once on every rank, the driver included, and returns the results in rank
/// order. For per-rank set-up, and for contributing each rank's entries to a
/// [`crate::Shared`] variable.
pub fn on_every_rank<O: DeserializeOwned + 'static>(call: Call<O>) -> Result<Vec<O>> {
    if !world::is_root() {
        return Err(Error::Usage(
            "on_every_rank is started by the driver (rank 0), not from inside a task".into(),
        ));
    }
    let plan = call.plan()?.clone();
    let ranks = world::size().max(1) as usize;
    let own = Batch::map(0, plan.clone(), vec![Payload::default()]);
    if dispatch::can_spread() {
        // One message down a tree of the workers and one answer up: O(log N) rounds, and
        // rank 0 sends and receives once however many workers there are.
        let theirs = Batch::map(0, plan, vec![Payload::default(); ranks - 1]);
        return decode_all(dispatch::spread_here_and_there(
            Some(own),
            theirs,
            "on_every_rank",
        )?);
    }
    let remote: Vec<(i32, Batch)> = (1..ranks)
        .map(|rank| {
            (
                rank as i32,
                Batch::map(rank - 1, plan.clone(), vec![Payload::default()]),
            )
        })
        .collect();
    decode_all(dispatch::run_here_and_there(
        own,
        remote,
        ranks - 1,
        "on_every_rank",
    )?)
}
