//! Runs batches on the workers through the driver's scheduler, or inline when this process
//! has none (a world of one, or a worker running a nested primitive).

use crate::context;
use crate::error::{Error, Result};
use crate::exec;
use crate::plan::{join_outputs, Plan};
use crate::scheduler::{Job, Slot};
use crate::wire::Request;
use serde::de::DeserializeOwned;

/// Runs `jobs` (filling `outputs` slots) and returns the slots in order.
pub(crate) fn run_jobs(outputs: usize, jobs: Vec<Job>) -> Result<Vec<Slot>> {
    match submit(outputs, jobs)? {
        Submitted::Inline(slots) => Ok(slots),
        Submitted::Remote(call) => {
            context::with_scheduler(|s| s.wait(call)).expect("a remote call has a scheduler")
        }
    }
}

/// Runs `own` in this process while `remote` (filling `outputs` slots) runs on the workers;
/// returns `own`'s slots, then the others'.
pub(crate) fn run_here_and_there(
    own: Job,
    remote: Vec<Job>,
    outputs: usize,
    label: &str,
) -> Result<Vec<Slot>> {
    let submitted = submit(outputs, remote)?;
    let mut slots = run_inline(vec![own]);
    match submitted {
        Submitted::Remote(call) => slots.extend(wait_reporting(label, outputs, call)?),
        Submitted::Inline(theirs) => slots.extend(theirs),
    }
    Ok(slots)
}

/// Like [`run_jobs`], with a progress bar named `label` while the driver waits.
pub(crate) fn run_jobs_reporting(label: &str, outputs: usize, jobs: Vec<Job>) -> Result<Vec<Slot>> {
    match submit(outputs, jobs)? {
        Submitted::Inline(slots) => Ok(slots),
        Submitted::Remote(call) => wait_reporting(label, outputs, call),
    }
}

/// Where submitted jobs went.
pub(crate) enum Submitted {
    /// To the workers, under this call ID.
    Remote(u64),
    /// Nowhere: they already ran in this process.
    Inline(Vec<Slot>),
}

/// Submits `jobs` to the workers, or runs them here when there are none.
pub(crate) fn submit(outputs: usize, jobs: Vec<Job>) -> Result<Submitted> {
    let mut jobs = Some(jobs);
    match context::with_scheduler(|s| s.submit(outputs, jobs.take().expect("once"))) {
        Some(call) => Ok(Submitted::Remote(call?)),
        None => Ok(Submitted::Inline(run_inline(jobs.expect("not taken")))),
    }
}

/// Waits for `call`, showing a progress bar when bars are on.
pub(crate) fn wait_reporting(label: &str, outputs: usize, call: u64) -> Result<Vec<Slot>> {
    let bar = crate::progress::Progress::start(label, Some(outputs as u64));
    loop {
        let polled = context::with_scheduler(|s| s.poll(call).map(|r| (r, s.filled(call))));
        let (slots, filled) = polled.expect("a remote call has a scheduler")?;
        if let Some(slots) = slots {
            if let Some(bar) = bar {
                bar.finish();
            }
            return Ok(slots);
        }
        if let Some(bar) = &bar {
            bar.set(filled as u64);
        }
        context::with_scheduler(|s| s.progress()).expect("a remote call has a scheduler")?;
    }
}

/// Runs jobs in this process, in order.
pub(crate) fn run_inline(jobs: Vec<Job>) -> Vec<Slot> {
    let rank = context::rank();
    jobs.into_iter()
        .flat_map(|j| {
            let req = Request {
                call: 0,
                first: j.first,
                fold: j.fold,
                plan: j.plan,
                inputs: j.inputs,
            };
            exec::execute_request(&req)
        })
        .map(|r| (rank, r))
        .collect()
}

/// Number of ranks that run tasks: the workers, or this process alone.
pub(crate) fn workers() -> usize {
    context::with_scheduler(|s| s.workers()).unwrap_or(1).max(1)
}

/// Runs `plan` on `input`, spreading fan-out stages over the workers.
pub(crate) fn drive(plan: &Plan, input: Vec<u8>) -> Result<Vec<u8>> {
    if let Plan::Const(value) = plan {
        return Ok(value.clone());
    }
    if !plan.fans_out() {
        let job = Job {
            first: 0,
            fold: false,
            plan: plan.clone(),
            inputs: vec![input],
            target: None,
        };
        return first_ok(run_jobs(1, vec![job])?).map(|mut v| v.remove(0));
    }
    match plan {
        Plan::Pipeline(stages) => stages
            .iter()
            .try_fold(input, |value, stage| drive(stage, value)),
        Plan::Tuple(branches) | Plan::List(branches) => {
            let jobs = branches
                .iter()
                .enumerate()
                .map(|(i, b)| Job {
                    first: i as u32,
                    fold: false,
                    plan: b.clone(),
                    inputs: vec![input.clone()],
                    target: None,
                })
                .collect();
            let outputs = first_ok(run_jobs(branches.len(), jobs)?)?;
            Ok(join_outputs(matches!(plan, Plan::List(_)), outputs))
        }
        Plan::Task { .. } | Plan::Const(_) => unreachable!("does not fan out"),
    }
}

/// The encoded outputs, or the first failure in input order.
pub(crate) fn first_ok(slots: Vec<Slot>) -> Result<Vec<Vec<u8>>> {
    slots
        .into_iter()
        .map(|(_, r)| r.map_err(Error::Task))
        .collect()
}

/// Decodes one value produced by a task.
pub(crate) fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        rank: context::rank(),
        message: format!("a task result: {e}"),
    })
}

/// Decodes every slot: the outputs in order, or the first failure.
pub(crate) fn decode_all<T: DeserializeOwned>(slots: Vec<Slot>) -> Result<Vec<T>> {
    first_ok(slots)?.iter().map(|b| decode_value(b)).collect()
}
