//! Runs batches on the workers through the driver's work queue, or inline when this process
//! has none (a world of one, or a worker running a nested primitive).

use crate::driver::progress::Progress;
use crate::driver::queue::{Placement, Slot, WorkQueue};
use crate::error::{Error, Result};
use crate::exec;
use crate::wire::message::CallId;
use crate::wire::payload::Payload;
use crate::wire::plan::{join_outputs, Batch, Plan};
use crate::world;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::sync::Mutex;
use std::thread::ThreadId;

thread_local! {
    /// The work queue, on the driver of a world of two or more ranks. It lives on the
    /// driver's main thread, the one thread that sends and receives blazer's messages.
    static QUEUE: RefCell<Option<WorkQueue>> = const { RefCell::new(None) };
}

/// The thread that holds the work queue, while it does.
static DRIVER_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

fn set_driver_thread(thread: Option<ThreadId>) {
    *DRIVER_THREAD.lock().unwrap_or_else(|p| p.into_inner()) = thread;
}

/// Makes `queue` the driver's work queue (at start-up), held by the calling thread.
pub(crate) fn install(queue: WorkQueue) {
    QUEUE.with_borrow_mut(|slot| *slot = Some(queue));
    set_driver_thread(Some(std::thread::current().id()));
}

/// Takes the driver's work queue back (at shutdown).
pub(crate) fn uninstall() -> Option<WorkQueue> {
    set_driver_thread(None);
    QUEUE.with_borrow_mut(Option::take)
}

/// An error when `primitive` is called, on a driver with workers, from another thread than
/// the one that holds the work queue: that thread alone may talk to the workers, and running
/// the work here instead would quietly run it serially on rank 0.
fn off_driver_thread(primitive: &str) -> Option<Error> {
    let driver = (*DRIVER_THREAD.lock().unwrap_or_else(|p| p.into_inner()))?;
    (driver != std::thread::current().id()).then(|| {
        Error::Usage(format!(
            "`{primitive}` was called from another thread than the driver's main thread; \
             blazer's primitives talk to the workers from the thread that runs the body of \
             `#[blazer::main]`: call `{primitive}` there (threads can hand it their inputs), or \
             inside a task, where primitives run on the task's own rank"
        ))
    })
}

/// Runs `f` with the driver's work queue, or returns `None` when there is none (a world of
/// one, or a worker running a nested primitive): then the caller runs the work inline.
/// The borrow never spans user code: the queue only moves messages.
pub(crate) fn with_queue<R>(f: impl FnOnce(&mut WorkQueue) -> R) -> Option<R> {
    QUEUE.with_borrow_mut(|q| q.as_mut().map(f))
}

/// Like [`with_queue`], where a queue must exist because a call was submitted to it.
fn on_queue<R>(f: impl FnOnce(&mut WorkQueue) -> R) -> R {
    with_queue(f).expect("a call submitted to the work queue has a work queue")
}

/// Runs `batches` of `primitive` (filling `outputs` result slots) and returns the slots in
/// order.
pub(crate) fn run(primitive: &str, outputs: usize, batches: Vec<Batch>) -> Result<Vec<Slot>> {
    match submit(
        primitive,
        outputs,
        batches.into_iter().map(anywhere).collect(),
    )? {
        Submitted::Inline(slots) => Ok(slots),
        Submitted::Remote(call) => on_queue(|q| q.wait(call)),
    }
}

/// Runs `own` in this process while `placed` (filling `outputs` slots) run on their ranks;
/// returns `own`'s slots, then the others'.
pub(crate) fn run_here_and_there(
    own: Batch,
    placed: Vec<(i32, Batch)>,
    outputs: usize,
    label: &str,
) -> Result<Vec<Slot>> {
    let placed = placed
        .into_iter()
        .map(|(rank, b)| (Placement::Rank(rank), b))
        .collect();
    let submitted = submit(label, outputs, placed)?;
    let mut slots = run_inline(vec![own]);
    match submitted {
        Submitted::Remote(call) => slots.extend(wait_reporting(label, outputs, call)?),
        Submitted::Inline(theirs) => slots.extend(theirs),
    }
    Ok(slots)
}

fn anywhere(batch: Batch) -> (Placement, Batch) {
    (Placement::AnyWorker, batch)
}

/// Where submitted batches went.
#[derive(Debug)]
pub(crate) enum Submitted {
    /// To the workers, under this call ID.
    Remote(CallId),
    /// Nowhere: they already ran in this process.
    Inline(Vec<Slot>),
}

/// Submits `batches` of `primitive` to the workers, or runs them here when there are none.
pub(crate) fn submit(
    primitive: &str,
    outputs: usize,
    batches: Vec<(Placement, Batch)>,
) -> Result<Submitted> {
    let mut batches = Some(batches);
    match with_queue(|q| q.submit(outputs, batches.take().expect("once"))) {
        Some(call) => Ok(Submitted::Remote(call?)),
        None => {
            if let Some(e) = off_driver_thread(primitive) {
                return Err(e);
            }
            let batches = batches.expect("not taken");
            Ok(Submitted::Inline(run_inline(
                batches.into_iter().map(|(_, b)| b).collect(),
            )))
        }
    }
}

/// The result slots of `call` if all are filled, without blocking.
pub(crate) fn poll(call: CallId) -> Result<Option<Vec<Slot>>> {
    on_queue(|q| q.poll(call))
}

/// Forgets `call`: its queued batches never run, its late replies are dropped.
pub(crate) fn cancel(call: CallId) {
    with_queue(|q| q.cancel(call));
}

/// Blocks until one more reply has arrived and been filed.
pub(crate) fn progress() -> Result<()> {
    on_queue(WorkQueue::progress)
}

/// Waits for `call`, showing a progress bar when bars are on.
fn wait_reporting(label: &str, outputs: usize, call: CallId) -> Result<Vec<Slot>> {
    let bar = Progress::start(label, Some(outputs as u64));
    loop {
        let (slots, filled) = on_queue(|q| q.poll(call).map(|r| (r, q.filled(call))))?;
        if let Some(slots) = slots {
            if let Some(bar) = bar {
                bar.finish();
            }
            return Ok(slots);
        }
        if let Some(bar) = &bar {
            bar.set(filled as u64);
        }
        progress()?;
    }
}

/// Runs batches in this process, in order.
pub(crate) fn run_inline(batches: Vec<Batch>) -> Vec<Slot> {
    let rank = world::rank();
    batches
        .into_iter()
        .flat_map(exec::run_batch)
        .map(|r| (rank, r))
        .collect()
}

/// Number of ranks that run tasks: the workers, or this process alone.
pub(crate) fn workers() -> usize {
    with_queue(|q| q.workers()).unwrap_or(1).max(1)
}

/// Runs `plan` on `input`, spreading fan-out stages over the workers.
pub(crate) fn drive(plan: &Plan, input: Payload) -> Result<Payload> {
    if let Plan::Const(value) = plan {
        return Ok(value.clone());
    }
    if !plan.fans_out() {
        let batch = Batch::map(0, plan.clone(), vec![input]);
        return first_ok(run("pipeline", 1, vec![batch])?).map(|mut v| v.remove(0));
    }
    match plan {
        Plan::Pipeline(stages) => stages
            .iter()
            .try_fold(input, |value, stage| drive(stage, value)),
        Plan::Tuple(branches) | Plan::List(branches) => {
            let batches = branches
                .iter()
                .enumerate()
                .map(|(i, b)| Batch::map(i, b.clone(), vec![input.clone()]))
                .collect();
            let outputs = first_ok(run("pipeline", branches.len(), batches)?)?;
            Ok(join_outputs(matches!(plan, Plan::List(_)), outputs))
        }
        Plan::Task { .. } | Plan::Const(_) => unreachable!("does not fan out"),
    }
}

/// The encoded outputs, or the first failure in input order.
pub(crate) fn first_ok(slots: Vec<Slot>) -> Result<Vec<Payload>> {
    slots
        .into_iter()
        .map(|(_, r)| r.map_err(Error::Task))
        .collect()
}

/// Decodes every slot: the outputs in order, or the first failure.
pub(crate) fn decode_all<T: DeserializeOwned + 'static>(slots: Vec<Slot>) -> Result<Vec<T>> {
    first_ok(slots)?.into_iter().map(Payload::decode).collect()
}
