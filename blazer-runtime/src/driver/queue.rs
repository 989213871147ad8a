//! The driver's pull-based work queue.
//!
//! Every batch carries `(call, first)`; replies fill the result slots of their own call, so
//! nested or interleaved primitives never take each other's results, and results come back in
//! input order whatever order they arrive in. Each worker holds at most `window` batches: a
//! worker that finishes early gets the next batch, so fast ranks take more work.
//!
//! The queue reaches its workers only through a [`Link`] (MPI, or a simulated world), and
//! its cost per batch does not grow with the number of workers: the least loaded worker is
//! found by bucket (`driver/load.rs`), silent workers by a time-ordered queue of notes
//! (`driver/silence.rs`), and counters stand in for scans over every worker.

use crate::config::config;
use crate::driver::load::Loads;
use crate::driver::recovery::{Recovery, Rerun};
use crate::driver::silence::Silence;
use crate::driver::workers::{Worker, WorkerIndex, Workers};
use crate::error::{exit_code, Error, TaskFailure};
use crate::report::record as report;
use crate::sigterm::Ending;
use crate::wire::codec::encode;
use crate::wire::heartbeat;
use crate::wire::link::{Incoming, Link};
use crate::wire::message::{Reply, SubmissionId, ToDriver, ToWorker};
use crate::wire::payload::Payload;
use crate::wire::plan::Batch;
use crate::wire::transport::Encoded;
use crate::world::host_of;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// One result slot: the rank that produced it and the encoded value or the failure.
pub(crate) type Slot = (i32, Result<Payload, TaskFailure>);

/// What the workers reported of running a call's batches: `(items, µs)`.
pub(crate) type Ran = (u64, u64);

/// A finished call: its slots in order, and what running it took.
pub(crate) type Finished = (Vec<Slot>, Ran);

/// Told each run of outputs of a call as it is filed, `(first slot, outputs)`: how the
/// checkpoint records results as they arrive.
pub(crate) type Observer = Box<dyn FnMut(u64, &[Result<Payload, TaskFailure>])>;

/// Where a batch runs: on the least loaded worker, or on a given rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// The least loaded worker with room in its window.
    AnyWorker,
    /// This worker rank, at once.
    Rank(i32),
    /// This worker rank, at once; another one if that rank is lost.
    Prefer(i32),
}

/// The result slots of one call, filled as replies arrive.
#[derive(Debug)]
struct Slots {
    slots: Vec<Option<Slot>>,
    missing: usize,
    /// What the workers reported of running its batches.
    ran: Ran,
    /// Named in `finished` when its last slot is filled.
    notify: bool,
}

/// The driver's listening clock: the time it has spent looking for answers, the only time in
/// which a worker's silence counts against it. While the driver does anything else (computes
/// its own `scatter` block, runs code between primitives, receives one large reply) no
/// answer or heartbeat reaches it, and a batch's sends that need the driver to drive them
/// wait: counting that time would declare healthy ranks lost.
///
/// The clock moves at each look by the time since the previous one, but by at most `step`:
/// a driver that did not run for a while (a machine too busy to schedule it, a stopped
/// process) has not listened either, and what arrived meanwhile is read at its next look.
/// Its readings come from the link's clock (`now`), real or simulated.
#[derive(Debug, Default)]
struct Listening {
    /// Listened so far.
    listened: Duration,
    /// The last look of the current wait, on the link's clock; `None` between waits.
    last: Option<Duration>,
}

impl Listening {
    /// The clock's reading.
    fn now(&self) -> Duration {
        self.listened
    }

    /// A look for answers at `now`: the clock moves by the time since the last one, at most
    /// `step`.
    fn tick(&mut self, now: Duration, step: Duration) {
        if let Some(last) = self.last.replace(now) {
            self.listened += now.saturating_sub(last).min(step);
        }
    }

    /// The wait is over, after a last look at `now`.
    fn stop(&mut self, now: Duration, step: Duration) {
        self.tick(now, step);
        self.last = None;
    }
}

/// The work queue that lives on rank 0 while workers serve.
pub(crate) struct WorkQueue {
    /// How the queue reaches its workers.
    link: Box<dyn Link>,
    /// Worker silence is measured on this clock, not on the wall clock.
    listening: Listening,
    /// Per worker: its window, when it was last heard from, whether it is lost.
    workers: Workers,
    /// The workers that are not lost, by load.
    loads: Loads,
    /// With a time-out: the workers holding work, by when they were last heard from.
    silence: Silence,
    /// Workers not lost.
    live: usize,
    /// Batches in flight on all workers together.
    in_flight: usize,
    queue: VecDeque<(SubmissionId, Batch)>,
    calls: HashMap<SubmissionId, Slots>,
    next_call: SubmissionId,
    window: usize,
    /// `BLAZER_WORKER_TIMEOUT`: how long a worker holding work may stay silent before it is
    /// declared lost. `None`: wait forever (MPI itself reports dead processes).
    timeout: Option<Duration>,
    /// Copies of batches in flight, to run again (driver/recovery.rs).
    recovery: Recovery,
    /// Per call: told its outputs as they are filed.
    observers: HashMap<SubmissionId, Observer>,
    /// Batches sent, for the driver's cost model.
    sent: u64,
    /// Calls asked to be named when they finish (`notify`) that did, not yet taken.
    finished: Vec<SubmissionId>,
}

impl WorkQueue {
    /// A work queue over `link`, with the settings of `BLAZER_WORKER_TIMEOUT` and
    /// `BLAZER_RETRIES`.
    pub(crate) fn new(link: Box<dyn Link>) -> WorkQueue {
        let c = config();
        WorkQueue::with(link, c.worker_timeout, c.retries)
    }

    /// A work queue over `link` with this time-out and these retries.
    pub(crate) fn with(link: Box<dyn Link>, timeout: Option<Duration>, retries: u32) -> WorkQueue {
        let count = link.workers();
        let workers = Workers::new(count);
        let window = 2;
        let off_node: Vec<bool> = workers.iter().map(|(_, w)| w.off_node).collect();
        WorkQueue {
            link,
            listening: Listening::default(),
            loads: Loads::new(&off_node, window),
            workers,
            silence: Silence::default(),
            live: count,
            in_flight: 0,
            queue: VecDeque::new(),
            calls: HashMap::new(),
            next_call: 1,
            timeout,
            window,
            recovery: Recovery::new(count, retries, timeout.is_some()),
            observers: HashMap::new(),
            sent: 0,
            finished: Vec::new(),
        }
    }

    /// Number of worker ranks.
    pub(crate) fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The link's clock (the simulated one, in a simulation).
    pub(crate) fn link_now(&self) -> Duration {
        self.link.now()
    }

    /// Worker ranks not lost.
    pub(crate) fn live_workers(&self) -> usize {
        self.live
    }

    /// Rank 0 and every worker rank not lost, in rank order.
    pub(crate) fn live_ranks(&self) -> Vec<i32> {
        std::iter::once(0)
            .chain(
                self.workers
                    .iter()
                    .filter(|(_, w)| !w.lost)
                    .map(|(i, _)| i.rank()),
            )
            .collect()
    }

    /// Batches sent so far.
    pub(crate) fn batches_sent(&self) -> u64 {
        self.sent
    }

    /// Bytes the queue keeps per worker, whatever it runs (the driver's memory model): its
    /// record, its place among the loads, its recovery queue.
    pub(crate) fn bytes_per_worker() -> usize {
        std::mem::size_of::<Worker>() + Loads::bytes_per_worker() + Recovery::bytes_per_worker()
    }

    /// Opens a call with `outputs` result slots and queues its batches; returns the call ID.
    pub(crate) fn submit(
        &mut self,
        outputs: usize,
        batches: Vec<(Placement, Batch)>,
    ) -> Result<SubmissionId, Error> {
        let call = self.open(outputs);
        for (placement, batch) in batches {
            match placement {
                Placement::Rank(rank) => {
                    self.send(call, batch, rank)?;
                    self.recovery.pin_last(rank);
                }
                Placement::Prefer(rank) if !self.worker(rank).lost => {
                    self.send(call, batch, rank)?
                }
                Placement::AnyWorker | Placement::Prefer(_) => self.queue.push_back((call, batch)),
            }
        }
        self.dispatch()?;
        Ok(call)
    }

    /// Whether a spread can reach every worker: there is one, and none was lost.
    pub(crate) fn can_spread(&self) -> bool {
        self.live == self.workers.len() && self.workers.len() > 0
    }

    /// Opens a call for `batch`, spread down a tree over every worker rank (`worker.rs`):
    /// one message from the driver, one answer. `None` when a worker was lost (the tree
    /// would wait for it): the caller sends its batches one by one instead.
    pub(crate) fn submit_spread(&mut self, batch: Batch) -> Result<Option<SubmissionId>, Error> {
        if !self.can_spread() {
            return Ok(None);
        }
        let call = self.open(batch.outputs() as usize);
        let ranks = (1, self.workers.len() as i32 + 1);
        self.send_as(call, batch, 1, Some(ranks))?;
        self.recovery.pin_last(1);
        Ok(Some(call))
    }

    /// Blocks until every slot of `call` is filled, then returns them in order.
    pub(crate) fn wait(&mut self, call: SubmissionId) -> Result<Vec<Slot>, Error> {
        loop {
            if let Some(slots) = self.poll(call)? {
                return Ok(slots);
            }
            self.advance()?;
        }
    }

    /// The slots of `call` if all are filled (the call is then closed), without blocking.
    pub(crate) fn poll(&mut self, call: SubmissionId) -> Result<Option<Vec<Slot>>, Error> {
        Ok(self.poll_ran(call)?.map(|(slots, _)| slots))
    }

    /// As [`WorkQueue::poll`], with what the workers reported of running the call's
    /// batches: `(items, µs)` (`driver/pace.rs`).
    pub(crate) fn poll_ran(&mut self, call: SubmissionId) -> Result<Option<Finished>, Error> {
        match self.calls.get(&call) {
            None => Err(Error::Usage(format!("unknown call {call}"))),
            Some(c) if c.missing == 0 => {
                let c = self.calls.remove(&call).expect("present");
                self.forget(call);
                Ok(Some((
                    c.slots.into_iter().map(|s| s.expect("filled")).collect(),
                    c.ran,
                )))
            }
            Some(_) => Ok(None),
        }
    }

    /// Names `call` in [`WorkQueue::take_finished`] once every slot of it is filled: how an
    /// unordered stream learns which of its calls finished without looking at each.
    pub(crate) fn notify(&mut self, call: SubmissionId) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.notify = true;
            if c.missing == 0 {
                self.finished.push(call);
            }
        }
    }

    /// The finished calls asked about with [`WorkQueue::notify`] that `mine` claims; the
    /// others stay for their owners.
    pub(crate) fn take_finished(
        &mut self,
        mine: impl Fn(SubmissionId) -> bool,
    ) -> Vec<SubmissionId> {
        // Usually one stream waits, and every finished call is its own: no sorting.
        if self.finished.iter().all(|&c| mine(c)) {
            return std::mem::take(&mut self.finished);
        }
        let (taken, kept) = std::mem::take(&mut self.finished)
            .into_iter()
            .partition(|&c| mine(c));
        self.finished = kept;
        taken
    }

    /// Forgets `call`, whose results nobody will read (a stream dropped early): its batches
    /// still queued never run and its slots are freed. Replies of its batches already sent
    /// are still received, which frees their workers' windows, and then dropped.
    pub(crate) fn cancel(&mut self, call: SubmissionId) {
        self.calls.remove(&call);
        self.finished.retain(|&c| c != call);
        self.forget(call);
        self.queue.retain(|(c, _)| *c != call);
    }

    /// Tells `observer` each run of outputs of `call` filed from now on.
    pub(crate) fn observe(&mut self, call: SubmissionId, observer: Observer) {
        self.observers.insert(call, observer);
    }

    fn forget(&mut self, call: SubmissionId) {
        self.observers.remove(&call);
        self.recovery.forget(call);
    }

    /// Slots of `call` filled so far (for progress reports).
    pub(crate) fn filled(&self, call: SubmissionId) -> usize {
        self.calls
            .get(&call)
            .map_or(0, |c| c.slots.len() - c.missing)
    }

    /// Blocks until one reply arrives, files it, and hands out queued work.
    pub(crate) fn advance(&mut self) -> Result<(), Error> {
        self.receive_one()?;
        self.dispatch()
    }

    /// Sends queued batches to the least loaded workers that have room in their window.
    fn dispatch(&mut self) -> Result<(), Error> {
        while !self.queue.is_empty() {
            let Some((idx, load)) = self.loads.least() else {
                return Err(Error::Usage("no worker rank to run tasks on".into()));
            };
            if load >= self.window {
                break;
            }
            let (call, batch) = self.queue.pop_front().expect("non-empty");
            self.send(call, batch, idx.rank())?;
        }
        Ok(())
    }

    /// Opens a submission with `outputs` empty result slots.
    fn open(&mut self, outputs: usize) -> SubmissionId {
        let call = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            call,
            Slots {
                slots: (0..outputs).map(|_| None).collect(),
                missing: outputs,
                ran: (0, 0),
                notify: false,
            },
        );
        call
    }

    fn send(&mut self, call: SubmissionId, batch: Batch, rank: i32) -> Result<(), Error> {
        self.send_as(call, batch, rank, None)
    }

    /// Sends `batch` to `rank` as a `Run`, or with `spread` as the root of a spread over
    /// those ranks.
    fn send_as(
        &mut self,
        call: SubmissionId,
        batch: Batch,
        rank: i32,
        spread: Option<(i32, i32)>,
    ) -> Result<(), Error> {
        let (first, outputs) = (batch.first, batch.outputs());
        if self.worker(rank).lost {
            let failed =
                self.failures(rank, outputs, "the rank was lost earlier in the run".into());
            self.fill(call, first, rank, failed, None);
            return Ok(());
        }
        self.recovery.sent(rank, call, &batch);
        let message = Encoded::new(match spread {
            None => ToWorker::Run { call, batch },
            Some(ranks) => ToWorker::Spread { call, batch, ranks },
        })?;
        self.link.send(rank, message);
        self.sent += 1;
        self.now_holds(rank, (call, first, outputs));
        Ok(())
    }

    /// Worker `rank` was sent a batch: `(call, first, outputs)`.
    fn now_holds(&mut self, rank: i32, batch: (SubmissionId, u64, u64)) {
        let now = self.listening.now();
        let idx = WorkerIndex::of_rank(rank);
        let worker = &mut self.workers[idx];
        let was_idle = worker.in_flight.is_empty();
        if was_idle {
            // Its silence counts from now, not from its last reply.
            worker.heard = now;
        }
        worker.in_flight.push_back(batch);
        let load = worker.in_flight.len();
        self.loads.set(idx, load);
        self.in_flight += 1;
        if was_idle && self.timeout.is_some() {
            self.silence.heard(idx, now, &self.workers);
        }
    }

    /// Worker `idx` was heard from: a reply or a heartbeat.
    fn heard_from(&mut self, idx: WorkerIndex) {
        let now = self.listening.now();
        let worker = &mut self.workers[idx];
        worker.heard = now;
        if self.timeout.is_some() && !worker.in_flight.is_empty() && !worker.lost {
            self.silence.heard(idx, now, &self.workers);
        }
    }

    /// Receives one reply from any worker and files its outputs under their call.
    fn receive_one(&mut self) -> Result<(), Error> {
        let incoming = match self.timeout {
            None => self.link.receive()?,
            // Poll, so that a worker that stopped answering, and SIGTERM, can be noticed; the
            // listening clock runs only here.
            Some(limit) => {
                // A look counts for at most a heartbeat period: four looks at least per
                // time-out, as a worker beats four times.
                let step = heartbeat::period(limit);
                let incoming = loop {
                    self.listening.tick(self.link.now(), step);
                    self.receive_beats();
                    if let Some(incoming) = self.link.poll(step)? {
                        break Some(incoming);
                    }
                    if crate::sigterm::requested() {
                        self.terminate();
                    }
                    let now = self.listening.now();
                    if self.silence.any(now, limit, &self.workers) {
                        break None;
                    }
                };
                self.listening.stop(self.link.now(), step);
                match incoming {
                    Some(incoming) => incoming,
                    None => {
                        let now = self.listening.now();
                        let silent: Vec<i32> = self
                            .silence
                            .silent(now, limit, &self.workers)
                            .into_iter()
                            .map(WorkerIndex::rank)
                            .collect();
                        self.declare_lost(&silent, limit);
                        return Ok(());
                    }
                }
            }
        };
        self.file(incoming)
    }

    /// Files a worker's reply under the batch it answers (its oldest in flight).
    fn file(&mut self, Incoming { rank, message }: Incoming) -> Result<(), Error> {
        let Some(worker) = self.workers.get_mut(rank) else {
            return Err(Error::Decode {
                rank,
                message: "a reply from a rank that is not a worker".into(),
            });
        };
        if worker.lost {
            // A late answer from a rank already given up on: its slots are filled.
            return Ok(());
        }
        let Some(oldest) = worker.in_flight.pop_front() else {
            return Err(Error::Decode {
                rank,
                message: "a reply with no request outstanding".into(),
            });
        };
        let idx = WorkerIndex::of_rank(rank);
        let load = worker.in_flight.len();
        self.loads.set(idx, load);
        self.in_flight -= 1;
        self.heard_from(idx);
        let (call, first, expected) = oldest;
        let (outputs, ran) = match message {
            Ok(ToDriver::Done(Reply {
                call: c,
                first: f,
                outputs,
                busy_us,
            })) if c == call && f == first && outputs.len() == expected as usize => {
                (outputs, Some((expected, busy_us)))
            }
            Ok(ToDriver::Done(_)) => {
                return Err(Error::Decode {
                    rank,
                    message: "a reply that matches no request".into(),
                })
            }
            // The batch cannot be answered: fail its slots so that nothing waits for them.
            Ok(ToDriver::Unanswerable(why)) => (
                self.failures(
                    rank,
                    expected,
                    format!("the worker could not answer its batch: {why}"),
                ),
                None,
            ),
            Err(e) => (
                self.failures(rank, expected, format!("undecodable reply: {e}")),
                None,
            ),
        };
        let settled = self.recovery.answered(rank, call, first, outputs);
        let mut ran = ran;
        for (first, outputs) in settled.fill {
            self.fill(call, first, rank, outputs, ran.take());
        }
        // Run again in their order, before what is queued; not for a cancelled call.
        for (rerun, call, batch) in settled.again.into_iter().rev() {
            if !self.calls.contains_key(&call) {
                continue;
            }
            match rerun {
                Rerun::On(rank) => self.send(call, batch, rank)?,
                Rerun::Anywhere => self.queue.push_front((call, batch)),
            }
        }
        Ok(())
    }

    /// Files `outputs` (from `rank`) into the slots of `call` from `first` on, with what
    /// running them took if known (`(items, µs)`); outputs of a cancelled call are dropped.
    fn fill(
        &mut self,
        call: SubmissionId,
        first: u64,
        rank: i32,
        outputs: Vec<Result<Payload, TaskFailure>>,
        ran: Option<(u64, u64)>,
    ) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some(observe) = self.observers.get_mut(&call) {
                observe(first, &outputs);
            }
            if report::enabled() {
                if let Some((items, us)) = ran {
                    report::batch_ran(rank, items, us);
                }
                for f in outputs.iter().filter_map(|o| o.as_ref().err()) {
                    report::failed(f.rank, &f.task, &f.message);
                }
            }
            if let Some((items, us)) = ran {
                c.ran.0 += items;
                c.ran.1 += us;
            }
            let was_missing = c.missing;
            for (i, out) in outputs.into_iter().enumerate() {
                let slot = &mut c.slots[first as usize + i];
                if slot.is_none() {
                    c.missing -= 1;
                }
                *slot = Some((rank, out));
            }
            if c.notify && c.missing == 0 && was_missing > 0 {
                self.finished.push(call);
            }
        }
    }

    /// Takes every heartbeat that has arrived, marking its sender as heard from.
    fn receive_beats(&mut self) {
        let mut heard = Vec::new();
        self.link.beats(&mut |rank| heard.push(rank));
        for rank in heard {
            // A beat may follow its worker's last reply (another communicator): harmless.
            if rank >= 1 && (rank as usize) <= self.workers.len() {
                self.heard_from(WorkerIndex::of_rank(rank));
            }
        }
    }

    /// Gives up on `ranks`: their outstanding batches fail with a message naming the rank and
    /// host, so the waiting calls return; they get no more work.
    fn declare_lost(&mut self, ranks: &[i32], limit: Duration) {
        let names: Vec<String> = ranks
            .iter()
            .map(|r| format!("{r} ({})", host_of(*r)))
            .collect();
        for &rank in ranks {
            let idx = WorkerIndex::of_rank(rank);
            if !self.workers[idx].lost {
                self.workers[idx].lost = true;
                self.loads.remove(idx);
                self.live -= 1;
            }
        }
        let survivors = self.live > 0;
        let mut moved = 0;
        for &rank in ranks {
            let pending: Vec<(SubmissionId, u64, u64)> =
                self.worker_mut(rank).in_flight.drain(..).collect();
            self.in_flight -= pending.len();
            let orphans = self.recovery.lost(rank, pending, survivors);
            moved += orphans.again.len();
            // Before the batches queued, in their order.
            for (call, batch) in orphans.again.into_iter().rev() {
                self.queue.push_front((call, batch));
            }
            for (call, first, n, not_moved) in orphans.failed {
                let why = format!(
                    "rank {rank} on host {} was lost: no answer for {:.1} s, and {not_moved}",
                    host_of(rank),
                    limit.as_secs_f64()
                );
                let failed = self.failures(rank, n, why);
                self.fill(call, first, rank, failed, None);
            }
        }
        let rerun = if moved > 0 {
            format!("; its {moved} batch(es) in flight run again on the other ranks")
        } else {
            String::new()
        };
        eprintln!(
            "blazer: lost rank(s) {}: no answer for {:.1} s while holding work (BLAZER_WORKER_TIMEOUT){rerun}",
            names.join(", "),
            limit.as_secs_f64()
        );
        if !survivors {
            // Nothing can run what is still queued either: fail it, naming the lost ranks.
            while let Some((call, batch)) = self.queue.pop_front() {
                let why = format!(
                    "every worker was lost (rank(s) {}): no rank is left to run it",
                    names.join(", ")
                );
                let failed = self.failures(ranks[0], batch.outputs(), why);
                self.fill(call, batch.first, ranks[0], failed, None);
            }
        }
    }

    /// SIGTERM: syncs the checkpoint log and ends the job through `MPI_Abort`, which
    /// releases every worker, with [`exit_code::TERMINATED`] (`sigterm.rs`). Returns only
    /// when the run has finished (the driver's body returned; this is its shutdown): the
    /// signal then changes nothing.
    fn terminate(&mut self) {
        match crate::sigterm::begin_ending() {
            Ending::ByCaller => {
                crate::output::drain(Duration::from_secs(2));
                crate::sigterm::aborting();
                self.link.abort(i32::from(exit_code::TERMINATED));
            }
            Ending::ByAnother => crate::sigterm::wait_for_the_end(),
            Ending::NotAtAll => {}
        }
    }

    /// The record of worker rank `rank`.
    fn worker(&self, rank: i32) -> &Worker {
        &self.workers[WorkerIndex::of_rank(rank)]
    }

    /// The record of worker rank `rank`, to change.
    fn worker_mut(&mut self, rank: i32) -> &mut Worker {
        &mut self.workers[WorkerIndex::of_rank(rank)]
    }

    fn failures(&self, rank: i32, n: u64, message: String) -> Vec<Result<Payload, TaskFailure>> {
        let f = TaskFailure {
            task: "?".into(),
            rank,
            host: host_of(rank),
            message,
        };
        (0..n).map(|_| Err(f.clone())).collect()
    }

    /// Sends `bytes` as a batch to `rank` without encoding them, under a new call with one
    /// slot, and waits for the answer. Only for testing how a worker survives a message it
    /// cannot decode.
    pub(crate) fn send_raw_batch(&mut self, rank: i32, bytes: Vec<u8>) -> Result<Vec<Slot>, Error> {
        let call = self.submit(1, Vec::new())?;
        self.link.send(rank, Encoded::raw(bytes));
        self.now_holds(rank, (call, 0, 1));
        self.recovery.sent_raw(rank);
        self.wait(call)
    }

    /// Receives each worker's trace events (`BLAZER_TRACE`), after [`WorkQueue::shutdown`].
    pub(crate) fn gather_traces(&mut self) -> Result<Vec<(i32, Vec<u8>)>, Error> {
        self.link.gather_traces()
    }

    /// Ends the whole job (`MPI_Abort`, exit code `LOST`) when a rank was lost: a lost rank
    /// can neither be released nor finalised with.
    fn abort_if_lost(&mut self) {
        if self.live < self.workers.len() {
            let lost: Vec<String> = self
                .workers
                .iter()
                .filter(|(_, w)| w.lost)
                .map(|(i, _)| i.rank().to_string())
                .collect();
            eprintln!(
                "blazer: ending the job (MPI_Abort): rank(s) {} were lost",
                lost.join(", ")
            );
            // The abort kills this rank too: let the launcher read what was printed first
            // (MPICH's Hydra drops what is still in the pipes).
            crate::output::drain(Duration::from_secs(2));
            self.link.abort(i32::from(exit_code::LOST));
        }
    }

    /// Tells every worker to leave its serve loop.
    pub(crate) fn shutdown(&mut self) {
        self.abort_if_lost();
        // Collect answers nobody waits for any more (a stream dropped early, a dataset's
        // posted steps): a worker blocked sending a large one would never see the shutdown.
        while self.in_flight > 0 {
            if self.receive_one().is_err() {
                break;
            }
        }
        // A rank may be found lost while those answers are awaited.
        self.abort_if_lost();
        // The beats sent while the last replies went (a worker stops once its reply is out):
        // received rather than left behind.
        self.receive_beats();
        let bytes = encode(&ToWorker::Shutdown).expect("shutdown encodes");
        for rank in 1..=self.workers.len() as i32 {
            self.link.send(rank, Encoded::raw(bytes.clone()));
        }
        self.link.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_clock_counts_looks_not_time_away() {
        let ms = Duration::from_millis;
        let step = ms(10);
        let mut clock = Listening::default();
        clock.tick(ms(100), step);
        assert_eq!(
            clock.now(),
            Duration::ZERO,
            "a first look has nothing before it"
        );
        clock.tick(ms(130), step);
        assert_eq!(
            clock.now(),
            step,
            "a long gap between two looks counts one step"
        );
        clock.stop(ms(134), step);
        assert_eq!(clock.now(), ms(14));
        // Between two waits (the driver computing): nothing counts.
        clock.tick(ms(170), step);
        assert_eq!(clock.now(), ms(14));
        clock.tick(ms(173), step);
        assert_eq!(clock.now(), ms(17));
    }
}
