//! The primitives of the original blazer, typed: `parallel`, `pipeline`, `map`, `scatter`,
//! `reduce`. Each runs on the driver and returns results in input order.

use crate::context;
use crate::dispatch::{self, decode_all, decode_value, run_jobs, workers};
use crate::error::{Error, Result, TaskFailure};
use crate::flow::{Call, Flow};
use crate::scheduler::Job;
use serde::{de::DeserializeOwned, Serialize};

fn encode_all<I: Serialize>(data: impl IntoIterator<Item = I>) -> Result<Vec<Vec<u8>>> {
    data.into_iter().map(|d| crate::wire::encode(&d)).collect()
}

fn call_jobs<O>(calls: impl IntoIterator<Item = Call<O>>) -> Result<Vec<Job>> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(Job {
                first: i as u32,
                fold: false,
                plan: c.into_plan()?,
                inputs: vec![Vec::new()],
                target: None,
            })
        })
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
pub fn parallel<O: DeserializeOwned>(calls: impl IntoIterator<Item = Call<O>>) -> Result<Vec<O>> {
    let jobs = call_jobs(calls)?;
    decode_all(run_jobs(jobs.len(), jobs)?)
}

/// Like [`parallel`], but returns every call's own outcome, so one failure loses nothing.
pub fn parallel_settled<O: DeserializeOwned>(
    calls: impl IntoIterator<Item = Call<O>>,
) -> Result<Vec<Result<O, TaskFailure>>> {
    let jobs = call_jobs(calls)?;
    run_jobs(jobs.len(), jobs)?
        .into_iter()
        .map(|(_, slot)| match slot {
            Ok(bytes) => decode_value(&bytes).map(Ok),
            Err(f) => Ok(Err(f)),
        })
        .collect()
}

/// Runs a chain of stages whose first stage is a [`crate::call`]: each output is the next
/// stage's input. Build the chain with [`Flow::then`]; `fork` stages inside it spread over
/// the workers.
pub fn pipeline<O: DeserializeOwned>(stages: Call<O>) -> Result<O> {
    stages.run(())
}

/// Applies `f` to every item, spreading batches over the workers with a pull-based queue (a
/// worker that finishes early takes the next batch). Results are in input order.
pub fn map<I: Serialize, O: DeserializeOwned>(
    f: Flow<I, O>,
    data: impl IntoIterator<Item = I>,
) -> Result<Vec<O>> {
    let inputs = encode_all(data)?;
    // A few batches per worker: big enough to amortise messages, small enough to balance.
    let batch = inputs.len().div_ceil(workers() * 4).max(1);
    map_batched(f, inputs, batch)
}

/// Like [`map`] with an explicit batch size (items per message). Use 1 for long, uneven tasks.
pub fn map_chunked<I: Serialize, O: DeserializeOwned>(
    f: Flow<I, O>,
    data: impl IntoIterator<Item = I>,
    batch: usize,
) -> Result<Vec<O>> {
    map_batched(f, encode_all(data)?, batch.max(1))
}

fn map_batched<I, O: DeserializeOwned>(
    f: Flow<I, O>,
    inputs: Vec<Vec<u8>>,
    batch: usize,
) -> Result<Vec<O>> {
    let plan = f.plan()?;
    let n = inputs.len();
    let mut jobs = Vec::new();
    let mut rest = inputs.into_iter();
    for first in (0..n).step_by(batch) {
        let inputs = rest.by_ref().take(batch).collect();
        jobs.push(Job {
            first: first as u32,
            fold: false,
            plan: plan.clone(),
            inputs,
            target: None,
        });
    }
    decode_all(dispatch::run_jobs_reporting("map", n, jobs)?)
}

/// Splits `data` into one contiguous block per rank (the driver included), applies `f` to
/// every item of each block on its rank, and gathers the results in input order.
/// Uneven lengths give uneven blocks: nothing is padded.
pub fn scatter<I: Serialize, O: DeserializeOwned>(
    data: impl IntoIterator<Item = I>,
    f: Flow<I, O>,
) -> Result<Vec<O>> {
    let inputs = encode_all(data)?;
    let plan = f.plan()?;
    let n = inputs.len();
    let ranks = context::size().max(1) as usize;
    let bounds: Vec<usize> = (0..=ranks).map(|k| k * n / ranks).collect();
    let mut blocks = inputs.into_iter();
    let own = Job {
        first: 0,
        fold: false,
        plan: plan.clone(),
        inputs: blocks.by_ref().take(bounds[1]).collect(),
        target: None,
    };
    let remote: Vec<Job> = (1..ranks)
        .map(|k| Job {
            first: (bounds[k] - bounds[1]) as u32,
            fold: false,
            plan: plan.clone(),
            inputs: blocks.by_ref().take(bounds[k + 1] - bounds[k]).collect(),
            target: Some(k as i32),
        })
        .filter(|j| !j.inputs.is_empty())
        .collect();
    decode_all(dispatch::run_here_and_there(
        own,
        remote,
        n - bounds[1],
        "scatter",
    )?)
}

/// Reduces `data` with an associative two-argument task, `f(a, b)`, as a tree: each worker
/// folds a contiguous block, then the partial results are folded the same way until one is
/// left. The order of the items is kept, so `f` need not be commutative.
/// Reducing an empty sequence is an error.
pub fn reduce<T: Serialize + DeserializeOwned>(
    f: Flow<(T, T), T>,
    data: impl IntoIterator<Item = T>,
) -> Result<T> {
    let plan = f.plan()?;
    let mut items = encode_all(data)?;
    if items.is_empty() {
        return Err(Error::Usage("reduce of an empty sequence".into()));
    }
    while items.len() > 1 {
        let block = items.len().div_ceil(workers()).max(2);
        let mut jobs = Vec::new();
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            let inputs: Vec<Vec<u8>> = rest.by_ref().take(block).collect();
            jobs.push(Job {
                first: jobs.len() as u32,
                fold: inputs.len() > 1,
                plan: plan.clone(),
                inputs,
                target: None,
            });
        }
        // A lone leftover item is passed through untouched: a batch of one is the identity.
        let (folds, singles): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.fold);
        let n = folds.len();
        let mut done = dispatch::first_ok(run_jobs(n, folds)?)?;
        done.extend(singles.into_iter().flat_map(|j| j.inputs));
        items = done;
    }
    decode_value(&items[0])
}

/// Runs `call` once on every rank, the driver included, and returns the results in rank
/// order. For per-rank set-up, and for contributing each rank's entries to a
/// [`crate::Shared`] variable.
pub fn on_every_rank<O: DeserializeOwned>(call: Call<O>) -> Result<Vec<O>> {
    if !context::is_root() {
        return Err(Error::Usage(
            "on_every_rank is started by the driver (rank 0), not from inside a task".into(),
        ));
    }
    let plan = call.plan()?.clone();
    let ranks = context::size().max(1) as usize;
    let job = |rank: usize| Job {
        first: rank as u32 - 1,
        fold: false,
        plan: plan.clone(),
        inputs: vec![Vec::new()],
        target: Some(rank as i32),
    };
    let remote: Vec<Job> = (1..ranks).map(job).collect();
    let own = Job {
        first: 0,
        fold: false,
        plan: plan.clone(),
        inputs: vec![Vec::new()],
        target: None,
    };
    decode_all(dispatch::run_here_and_there(
        own,
        remote,
        ranks - 1,
        "every rank",
    )?)
}
