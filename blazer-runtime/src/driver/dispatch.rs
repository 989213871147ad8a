//! Runs batches on the workers through the driver's work queue, or inline when this process
//! has none (a world of one, or a worker running a nested primitive).

use crate::driver::progress::Progress;
use crate::driver::queue::{Finished, Observer, Placement, Slot, WorkQueue};
use crate::driver::recovery::run_with_retries;
use crate::error::{Error, Result};
use crate::exec;
use crate::wire::message::SubmissionId;
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

/// An error unless this is the driver's thread (rank 0's main thread, or any thread of a
/// world of one): `what` can only run there.
pub(crate) fn on_driver_thread(what: &str) -> Result<()> {
    if world::rank() != 0 {
        return Err(Error::Usage(format!(
            "`{what}` was called on rank {} (inside a task): datasets are made and used by the \
             driver, rank 0, whose steps run on every rank's partition",
            world::rank()
        )));
    }
    match off_driver_thread(what) {
        None => Ok(()),
        Some(_) => Err(Error::Usage(format!(
            "`{what}` was called from another thread than the driver's main thread: datasets \
             live on the thread that runs the body of `#[blazer::main]`; hand this thread's \
             data to it"
        ))),
    }
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
    run_here_and_there_observed(own, placed, outputs, label, None)
}

/// Like [`run_here_and_there`] with batches `placed` as they say, and an `observer` told the
/// outputs of every batch as they arrive (`own`'s slots are numbered from 0, the others'
/// from 0 too, as their batches say).
pub(crate) fn run_here_and_there_observed(
    own: Batch,
    placed: Vec<(Placement, Batch)>,
    outputs: usize,
    label: &str,
    observers: Option<(Observer, Observer)>,
) -> Result<Vec<Slot>> {
    let (mut ours, mut theirs) = match observers {
        Some((ours, theirs)) => (Some(ours), Some(theirs)),
        None => (None, None),
    };
    let submitted = submit(label, outputs, placed)?;
    if let (Submitted::Remote(call), Some(observer)) = (&submitted, theirs.take()) {
        on_queue(|q| q.observe(*call, observer));
    }
    let mut slots = run_inline(vec![own]);
    if let Some(observe) = ours.as_mut() {
        observe(0, &outputs_of(&slots));
    }
    match submitted {
        Submitted::Remote(call) => slots.extend(wait_reporting(label, outputs, call)?),
        Submitted::Inline(others) => {
            if let Some(observe) = theirs.as_mut() {
                observe(0, &outputs_of(&others));
            }
            slots.extend(others)
        }
    }
    Ok(slots)
}

fn outputs_of(slots: &[Slot]) -> Vec<Result<Payload, crate::error::TaskFailure>> {
    slots.iter().map(|(_, r)| r.clone()).collect()
}

/// Runs `batches` of `primitive` (filling `outputs` slots) with a progress bar, telling
/// `observer` the outputs of each batch as they arrive; returns the slots in order. With no
/// workers the batches run here one after the other, each observed when it ends.
pub(crate) fn run_observed(
    label: &str,
    outputs: usize,
    batches: Vec<Batch>,
    mut observer: Observer,
) -> Result<Vec<Slot>> {
    if with_queue(|_| ()).is_none() {
        if let Some(e) = off_driver_thread(label) {
            return Err(e);
        }
        let mut slots = Vec::with_capacity(outputs);
        for batch in batches {
            let done = run_inline(vec![batch]);
            observer(slots.len() as u64, &outputs_of(&done));
            slots.extend(done);
        }
        return Ok(slots);
    }
    match submit(label, outputs, batches.into_iter().map(anywhere).collect())? {
        Submitted::Inline(slots) => Ok(slots),
        Submitted::Remote(call) => {
            on_queue(|q| q.observe(call, observer));
            wait_reporting(label, outputs, call)
        }
    }
}

/// Tells `observer` the outputs of `call` as they are filed.
/// Whether a batch can be spread over every worker in a tree (`worker.rs`): there is a
/// work queue and no worker was lost.
pub(crate) fn can_spread() -> bool {
    // A spread's parent waits for its children; a child may be in a dataset step waiting
    // for that parent's items, the parent having taken the spread first: no spread while
    // posted steps are out.
    reap_posted();
    POSTED.with_borrow(Vec::is_empty) && with_queue(|q| q.can_spread()).unwrap_or(false)
}

/// Posted calls out at once, at most: a driver that posts faster than the workers answer
/// waits for answers beyond it.
const POSTED_MAX: usize = 64;

thread_local! {
    /// Posted calls not yet finished.
    static POSTED: RefCell<Vec<SubmissionId>> = const { RefCell::new(Vec::new()) };
}

/// Submits `batches`, placed as they say, whose answers nobody reads (a dataset step that
/// makes partitions where they run): they are taken as they come, and spreads wait until
/// none is out. With no workers there is nothing to post to.
pub(crate) fn post(batches: Vec<(Placement, Batch)>) -> Result<()> {
    reap_posted();
    if batches.is_empty() {
        return Ok(());
    }
    // Answers not taken wait in MPI's buffers on this rank: at most this many calls' worth.
    while POSTED.with_borrow(Vec::len) >= POSTED_MAX {
        advance()?;
        reap_posted();
    }
    let outputs = batches.len();
    if let Some(call) = with_queue(|q| q.submit(outputs, batches)) {
        let call = call?;
        POSTED.with_borrow_mut(|p| p.push(call));
    }
    Ok(())
}

/// Blocks until every slot of `call` is filled; the slots in order.
pub(crate) fn wait(call: SubmissionId) -> Result<Vec<Slot>> {
    on_queue(|q| q.wait(call))
}

/// Waits until every posted call has finished (its batches answered, or failed with their
/// lost rank): how the driver learns that a rank was lost during a dataset step.
pub(crate) fn settle_posted() -> Result<()> {
    reap_posted();
    while !POSTED.with_borrow(Vec::is_empty) {
        advance()?;
        reap_posted();
    }
    Ok(())
}

/// How many worker ranks were lost so far.
pub(crate) fn lost_ranks() -> usize {
    with_queue(|q| q.workers() - q.live_workers()).unwrap_or(0)
}

/// Rank 0 and every worker rank not lost, in rank order.
pub(crate) fn live_ranks() -> Vec<i32> {
    with_queue(|q| q.live_ranks()).unwrap_or_else(|| (0..world::size().max(1)).collect())
}

/// Drops the answers of the posted calls that finished.
fn reap_posted() {
    let posted = POSTED.take();
    if posted.is_empty() {
        return;
    }
    let open: Vec<SubmissionId> = posted
        .into_iter()
        .filter(|&call| matches!(with_queue(|q| q.poll(call)), Some(Ok(None))))
        .collect();
    POSTED.with_borrow_mut(|p| p.extend(open));
}

/// Runs `own` here and `spread` over every worker in a tree, one message from the driver
/// and one answer: the slots of `own`, then those of `spread`. Only where [`can_spread`].
pub(crate) fn spread_here_and_there(
    own: Option<Batch>,
    spread: Batch,
    label: &str,
) -> Result<Vec<Slot>> {
    let outputs = spread.outputs() as usize;
    let call = on_queue(|q| q.submit_spread(spread))?
        .ok_or_else(|| Error::Usage("a spread where a worker was lost".into()))?;
    let mut slots = own.map(|own| run_inline(vec![own])).unwrap_or_default();
    slots.extend(wait_reporting(label, outputs, call)?);
    Ok(slots)
}

pub(crate) fn observe(call: SubmissionId, observer: Observer) {
    with_queue(|q| q.observe(call, observer));
}

fn anywhere(batch: Batch) -> (Placement, Batch) {
    (Placement::AnyWorker, batch)
}

/// Where submitted batches went.
#[derive(Debug)]
pub(crate) enum Submitted {
    /// To the workers, under this call ID.
    Remote(SubmissionId),
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

/// As [`poll`], with what the workers reported of running the call: `(items, µs)`.
pub(crate) fn poll_ran(call: SubmissionId) -> Result<Option<Finished>> {
    on_queue(|q| q.poll_ran(call))
}

/// Forgets `call`: its queued batches never run, its late replies are dropped.
/// Asks the work queue to name `call` when it finishes ([`take_finished`]).
pub(crate) fn notify(call: SubmissionId) {
    with_queue(|q| q.notify(call));
}

/// The calls asked about with [`notify`] that finished and that `mine` claims.
pub(crate) fn take_finished(mine: impl Fn(SubmissionId) -> bool) -> Vec<SubmissionId> {
    with_queue(|q| q.take_finished(mine)).unwrap_or_default()
}

pub(crate) fn cancel(call: SubmissionId) {
    with_queue(|q| q.cancel(call));
}

/// Blocks until one more reply has arrived and been filed.
pub(crate) fn advance() -> Result<()> {
    on_queue(WorkQueue::advance)
}

/// Waits for `call`, showing a progress bar when bars are on.
fn wait_reporting(label: &str, outputs: usize, call: SubmissionId) -> Result<Vec<Slot>> {
    let bar = Progress::start(label, Some(outputs as u64));
    loop {
        let (slots, filled) = on_queue(|q| q.poll(call).map(|r| (r, q.filled(call))))?;
        if let Some(slots) = slots {
            if let Some(bar) = bar {
                bar.finish_with(outputs as u64);
            }
            return Ok(slots);
        }
        if let Some(bar) = &bar {
            bar.set(filled as u64);
        }
        advance()?;
    }
}

/// Runs batches in this process, in order, each failing item up to `BLAZER_RETRIES` more
/// times. The tasks' own primitives are not checkpointed.
pub(crate) fn run_inline(batches: Vec<Batch>) -> Vec<Slot> {
    let rank = world::rank();
    let retries = crate::config::config().retries;
    crate::checkpoint::session::paused(|| {
        batches
            .into_iter()
            .flat_map(|b| run_with_retries(b, retries, exec::run_batch))
            .map(|r| (rank, r))
            .collect()
    })
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
        Plan::Task { .. } | Plan::Const(_) | Plan::Each(_) | Plan::Data(_) => {
            unreachable!("does not fan out")
        }
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
