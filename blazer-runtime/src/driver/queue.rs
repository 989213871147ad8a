//! The driver's pull-based work queue.
//!
//! Every batch carries `(call, first)`; replies fill the result slots of their own call, so
//! nested or interleaved primitives never take each other's results, and results come back in
//! input order whatever order they arrive in. Each worker holds at most `window` batches: a
//! worker that finishes early gets the next batch, so fast ranks take more work.

use crate::config::config;
use crate::driver::recovery::{Recovery, Rerun};
use crate::driver::workers::{Worker, WorkerIndex, Workers};
use crate::error::{exit_code, Error, TaskFailure};
use crate::sigterm::Ending;
use crate::wire::codec::encode;
use crate::wire::heartbeat;
use crate::wire::message::{
    blocks_after, receive_message, Reply, SubmissionId, ToDriver, ToWorker, TAG_BLOCK_TO_DRIVER,
    TAG_BLOCK_TO_WORKER, TAG_HEARTBEAT, TAG_TO_DRIVER, TAG_TO_WORKER,
};
use crate::wire::outbox::Outbox;
use crate::wire::payload::Payload;
use crate::wire::plan::Batch;
use crate::wire::transport::{drain, receive_reusing, Encoded};
use crate::world::host_of;
use mpi::point_to_point::Source;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One result slot: the rank that produced it and the encoded value or the failure.
pub(crate) type Slot = (i32, Result<Payload, TaskFailure>);

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
#[derive(Debug, Default)]
struct Listening {
    /// Listened so far.
    listened: Duration,
    /// The last look of the current wait; `None` between waits.
    last: Option<Instant>,
}

impl Listening {
    /// The clock's reading.
    fn now(&self) -> Duration {
        self.listened
    }

    /// A look for answers: the clock moves by the time since the last one, at most `step`.
    fn tick(&mut self, step: Duration) {
        let now = Instant::now();
        if let Some(last) = self.last.replace(now) {
            self.listened += now.saturating_duration_since(last).min(step);
        }
    }

    /// The wait is over, after a last look.
    fn stop(&mut self, step: Duration) {
        self.tick(step);
        self.last = None;
    }
}

/// The work queue that lives on rank 0 while workers serve.
pub(crate) struct WorkQueue {
    world: SimpleCommunicator,
    /// The communicator the workers' heartbeats come on (wire/heartbeat.rs), when they send
    /// them (a time-out under `MPI_THREAD_MULTIPLE`).
    beats: Option<SimpleCommunicator>,
    /// Worker silence is measured on this clock, not on the wall clock.
    listening: Listening,
    outbox: Outbox,
    /// The receive buffer, reused from reply to reply.
    inbox: Vec<u8>,
    /// Per worker: its window, when it was last heard from, whether it is lost.
    workers: Workers,
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
}

impl WorkQueue {
    /// A work queue over `world`, whose ranks 1.. are workers, which send heartbeats on
    /// `beats` when it is given.
    pub(crate) fn new(world: SimpleCommunicator, beats: Option<SimpleCommunicator>) -> WorkQueue {
        let workers = (world.size() - 1).max(0) as usize;
        WorkQueue {
            world,
            beats,
            listening: Listening::default(),
            outbox: Outbox::default(),
            inbox: Vec::new(),
            workers: Workers::new(workers),
            queue: VecDeque::new(),
            calls: HashMap::new(),
            next_call: 1,
            timeout: config().worker_timeout,
            window: 2,
            recovery: Recovery::new(workers, config().retries, config().worker_timeout.is_some()),
            observers: HashMap::new(),
        }
    }

    /// Number of worker ranks.
    pub(crate) fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Opens a call with `outputs` result slots and queues its batches; returns the call ID.
    pub(crate) fn submit(
        &mut self,
        outputs: usize,
        batches: Vec<(Placement, Batch)>,
    ) -> Result<SubmissionId, Error> {
        let call = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            call,
            Slots {
                slots: (0..outputs).map(|_| None).collect(),
                missing: outputs,
            },
        );
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
        match self.calls.get(&call) {
            None => Err(Error::Usage(format!("unknown call {call}"))),
            Some(c) if c.missing == 0 => {
                let c = self.calls.remove(&call).expect("present");
                self.forget(call);
                Ok(Some(
                    c.slots.into_iter().map(|s| s.expect("filled")).collect(),
                ))
            }
            Some(_) => Ok(None),
        }
    }

    /// Forgets `call`, whose results nobody will read (a stream dropped early): its batches
    /// still queued never run and its slots are freed. Replies of its batches already sent
    /// are still received, which frees their workers' windows, and then dropped.
    pub(crate) fn cancel(&mut self, call: SubmissionId) {
        self.calls.remove(&call);
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
            // The least loaded worker; on a tie, one on the driver's own node (shared memory).
            let Some((idx, load)) = self
                .workers
                .iter()
                .filter(|(_, w)| !w.lost)
                .map(|(i, w)| (i, w.in_flight.len(), w.off_node))
                .min_by_key(|(_, load, off_node)| (*load, *off_node))
                .map(|(i, load, _)| (i, load))
            else {
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

    fn send(&mut self, call: SubmissionId, batch: Batch, rank: i32) -> Result<(), Error> {
        let (first, outputs) = (batch.first, batch.outputs());
        if self.worker(rank).lost {
            let failed =
                self.failures(rank, outputs, "the rank was lost earlier in the run".into());
            self.fill(call, first, rank, failed);
            return Ok(());
        }
        self.recovery.sent(rank, call, &batch);
        let message = Encoded::new(ToWorker::Run { call, batch })?;
        self.outbox.send(
            &self.world,
            rank,
            message,
            (TAG_TO_WORKER, TAG_BLOCK_TO_WORKER),
        );
        let now = self.listening.now();
        let worker = self.worker_mut(rank);
        if worker.in_flight.is_empty() {
            worker.heard = now;
        }
        worker.in_flight.push_back((call, first, outputs));
        Ok(())
    }

    /// Receives one reply from any worker and files its outputs under their call.
    fn receive_one(&mut self) -> Result<(), Error> {
        let probed = match self.timeout {
            // Any tag: the tag says how many blocks follow the reply. (SIGTERM, while the
            // driver blocks here, is handled by its helper thread: sigterm.rs.)
            None => self.world.any_process().matched_probe(),
            // Poll, so that a worker that stopped answering, and SIGTERM, can be noticed; the
            // listening clock runs only here.
            Some(limit) => {
                // A look counts for at most a heartbeat period: four looks at least per
                // time-out, as a worker beats four times.
                let step = heartbeat::period(limit);
                let probed = loop {
                    self.listening.tick(step);
                    self.receive_beats();
                    if let Some(probed) = self.world.any_process().immediate_matched_probe() {
                        break Some(probed);
                    }
                    if crate::sigterm::requested() {
                        self.terminate();
                    }
                    if self.silent_workers(limit).next().is_some() {
                        break None;
                    }
                    std::thread::yield_now();
                };
                self.listening.stop(step);
                match probed {
                    Some(probed) => probed,
                    None => {
                        let silent: Vec<i32> = self.silent_workers(limit).collect();
                        self.declare_lost(&silent, limit);
                        return Ok(());
                    }
                }
            }
        };
        let status = receive_reusing(probed, &mut self.inbox);
        let rank = status.source_rank();
        self.outbox.reap();
        let from = self.world.process_at_rank(rank);
        let Some(n) = blocks_after(status.tag(), TAG_TO_DRIVER) else {
            return Err(Error::Decode {
                rank,
                message: format!("a message with the unexpected tag {}", status.tag()),
            });
        };
        let Some(worker) = self.workers.get_mut(rank) else {
            drain(&from, n, TAG_BLOCK_TO_DRIVER);
            return Err(Error::Decode {
                rank,
                message: "a reply from a rank that is not a worker".into(),
            });
        };
        if worker.lost {
            // A late answer from a rank already given up on: its slots are filled.
            drain(&from, n, TAG_BLOCK_TO_DRIVER);
            return Ok(());
        }
        worker.heard = self.listening.now();
        let Some(oldest) = worker.in_flight.pop_front() else {
            drain(&from, n, TAG_BLOCK_TO_DRIVER);
            return Err(Error::Decode {
                rank,
                message: "a reply with no request outstanding".into(),
            });
        };
        let (call, first, expected) = oldest;
        let outputs = match receive_message::<ToDriver>(&self.inbox, n, &from, TAG_BLOCK_TO_DRIVER)
        {
            Ok(ToDriver::Done(Reply {
                call: c,
                first: f,
                outputs,
            })) if c == call && f == first && outputs.len() == expected as usize => outputs,
            Ok(ToDriver::Done(_)) => {
                return Err(Error::Decode {
                    rank,
                    message: "a reply that matches no request".into(),
                })
            }
            // The batch cannot be answered: fail its slots so that nothing waits for them.
            Ok(ToDriver::Unanswerable(why)) => self.failures(
                rank,
                expected,
                format!("the worker could not answer its batch: {why}"),
            ),
            Err(e) => self.failures(rank, expected, format!("undecodable reply: {e}")),
        };
        let settled = self.recovery.answered(rank, call, first, outputs);
        for (first, outputs) in settled.fill {
            self.fill(call, first, rank, outputs);
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

    /// Files `outputs` (from `rank`) into the slots of `call` from `first` on; outputs of a
    /// cancelled call are dropped.
    fn fill(
        &mut self,
        call: SubmissionId,
        first: u64,
        rank: i32,
        outputs: Vec<Result<Payload, TaskFailure>>,
    ) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some(observe) = self.observers.get_mut(&call) {
                observe(first, &outputs);
            }
            for (i, out) in outputs.into_iter().enumerate() {
                let slot = &mut c.slots[first as usize + i];
                if slot.is_none() {
                    c.missing -= 1;
                }
                *slot = Some((rank, out));
            }
        }
    }

    /// Workers holding work that have been silent for longer than `limit` of the driver's
    /// listening.
    fn silent_workers(&self, limit: Duration) -> impl Iterator<Item = i32> + '_ {
        let now = self.listening.now();
        self.workers
            .iter()
            .filter(move |(_, w)| {
                !w.lost && !w.in_flight.is_empty() && now.saturating_sub(w.heard) > limit
            })
            .map(|(i, _)| i.rank())
    }

    /// Takes every heartbeat that has arrived, marking its sender as heard from.
    fn receive_beats(&mut self) {
        let Some(beats) = &self.beats else {
            return;
        };
        let now = self.listening.now();
        while let Some((message, status)) = beats
            .any_process()
            .immediate_matched_probe_with_tag(TAG_HEARTBEAT)
        {
            message.matched_receive_into(&mut [0u8; 0][..]);
            // A beat may follow its worker's last reply (another communicator): harmless.
            if let Some(worker) = self.workers.get_mut(status.source_rank()) {
                worker.heard = now;
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
            self.worker_mut(rank).lost = true;
        }
        let survivors = self.workers.iter().any(|(_, w)| !w.lost);
        let mut moved = 0;
        for &rank in ranks {
            let pending: Vec<(SubmissionId, u64, u64)> =
                self.worker_mut(rank).in_flight.drain(..).collect();
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
                self.fill(call, first, rank, failed);
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
                self.fill(call, batch.first, ranks[0], failed);
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
                self.leave_to_the_abort();
                self.world.abort(i32::from(exit_code::TERMINATED));
            }
            Ending::ByAnother => crate::sigterm::wait_for_the_end(),
            Ending::NotAtAll => {}
        }
    }

    /// Gives up this queue's MPI objects (its communicators, its sends in progress) before
    /// `MPI_Abort` from the driver's main thread, where the queue is a thread-local: MPICH's
    /// `MPI_Abort` ends the process through `exit`, which runs this thread's thread-local
    /// destructors, and freeing a communicator there, after the abort, fails an assertion
    /// that turns the job's exit code into 1. The process is ending: nothing needs freeing.
    fn leave_to_the_abort(&mut self) {
        std::mem::forget(std::mem::take(&mut self.outbox));
        std::mem::forget(self.beats.take());
        // The world communicator itself is never freed.
        std::mem::forget(std::mem::replace(
            &mut self.world,
            SimpleCommunicator::world(),
        ));
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
        self.outbox.send(
            &self.world,
            rank,
            Encoded::raw(bytes),
            (TAG_TO_WORKER, TAG_BLOCK_TO_WORKER),
        );
        let now = self.listening.now();
        let worker = self.worker_mut(rank);
        if worker.in_flight.is_empty() {
            worker.heard = now;
        }
        worker.in_flight.push_back((call, 0, 1));
        self.recovery.sent_raw(rank);
        self.wait(call)
    }

    /// The world communicator.
    pub(crate) fn world(&self) -> &SimpleCommunicator {
        &self.world
    }

    /// Tells every worker to leave its serve loop.
    pub(crate) fn shutdown(&mut self) {
        let lost: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, w)| w.lost)
            .map(|(i, _)| i.rank().to_string())
            .collect();
        if !lost.is_empty() {
            // A lost rank can neither be released nor finalised with: end the whole job.
            eprintln!(
                "blazer: ending the job (MPI_Abort): rank(s) {} were lost",
                lost.join(", ")
            );
            // The abort kills this rank too: let the launcher read what was printed first
            // (MPICH's Hydra drops what is still in the pipes).
            crate::output::drain(Duration::from_secs(2));
            self.world.abort(i32::from(exit_code::LOST));
        }
        // Collect answers nobody waits for any more (a stream dropped early): a worker blocked
        // sending a large one would never see the shutdown.
        while self.workers.iter().any(|(_, w)| !w.in_flight.is_empty()) {
            if self.receive_one().is_err() {
                break;
            }
        }
        // The beats sent while the last replies went (a worker stops once its reply is out):
        // received rather than left behind.
        self.receive_beats();
        let bytes = encode(&ToWorker::Shutdown).expect("shutdown encodes");
        for rank in 1..self.world.size() {
            self.outbox.send(
                &self.world,
                rank,
                Encoded::raw(bytes.clone()),
                (TAG_TO_WORKER, TAG_BLOCK_TO_WORKER),
            );
        }
        self.outbox.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_clock_counts_looks_not_time_away() {
        let step = Duration::from_millis(10);
        let mut clock = Listening::default();
        clock.tick(step);
        assert_eq!(
            clock.now(),
            Duration::ZERO,
            "a first look has nothing before it"
        );
        std::thread::sleep(Duration::from_millis(30));
        clock.tick(step);
        assert_eq!(
            clock.now(),
            step,
            "a long gap between two looks counts one step"
        );
        clock.stop(step);
        let stopped = clock.now();
        assert!(stopped <= 2 * step);
        // Between two waits (the driver computing): nothing counts.
        std::thread::sleep(Duration::from_millis(30));
        clock.tick(step);
        assert_eq!(clock.now(), stopped);
    }
}
