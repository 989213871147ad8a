//! Recovery within a run: failing items run again (`BLAZER_RETRIES`), and the batches of a
//! rank declared lost (`BLAZER_WORKER_TIMEOUT`) run again on the ranks that survive.
//!
//! The work queue forgets a batch once it has encoded and sent it. To run it again, this
//! module keeps a copy of each batch while it is in flight, and only when it may be needed:
//! when retries are on or a worker time-out is set. The queue tells it each batch it sends
//! ([`Recovery::sent`]), each answer ([`Recovery::answered`], which says what to file and
//! what to run again) and each lost rank ([`Recovery::lost`]).
//!
//! Limits: an item is run at most `1 + BLAZER_RETRIES` times because it failed; a batch is
//! moved off a lost rank at most `max(1, BLAZER_RETRIES)` times (a batch that hangs every rank
//! it is sent to must not take every rank down). A batch placed on one rank on purpose
//! (`on_every_rank`) is never moved, and is retried on the same rank.

use crate::error::TaskFailure;
use crate::wire::message::SubmissionId;
use crate::wire::payload::Payload;
use crate::wire::plan::{Batch, Plan};
use std::collections::{HashMap, VecDeque};

/// One output: the encoded value or the failure.
pub(crate) type Output = Result<Payload, TaskFailure>;

/// A copy of a batch in flight.
#[derive(Debug)]
struct Held {
    call: SubmissionId,
    batch: Batch,
    /// Must run on the rank it was sent to.
    pinned: bool,
}

/// Where a batch to run again goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rerun {
    /// To the least loaded surviving worker, before the batches queued.
    Anywhere,
    /// Back to this rank (a pinned batch).
    On(i32),
}

/// What to do with an answer: outputs to file (each run from its first slot) and batches to
/// run again.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// `(first slot, outputs)` runs to file.
    pub(crate) fill: Vec<(u64, Vec<Output>)>,
    /// Batches to run again, with the call they belong to.
    pub(crate) again: Vec<(Rerun, SubmissionId, Batch)>,
}

/// The batches of a lost rank: those to run again elsewhere, and those that fail.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    /// Batches to run on another worker.
    pub(crate) again: Vec<(SubmissionId, Batch)>,
    /// `(call, first, outputs, why not moved)` of batches that fail.
    pub(crate) failed: Vec<(SubmissionId, u64, u64, &'static str)>,
}

/// The driver's recovery state; see the module docs.
#[derive(Debug)]
pub(crate) struct Recovery {
    retries: u32,
    keep: bool,
    /// Per worker (rank - 1), parallel to the queue's batches in flight: the copies.
    held: Vec<VecDeque<Option<Held>>>,
    /// Ranks on which an item (or a fold batch) failed so far, by `(call, slot)`.
    failed_on: HashMap<(SubmissionId, u64), Vec<i32>>,
    /// Times a batch was moved off a lost rank, by `(call, first slot)`.
    moved: HashMap<(SubmissionId, u64), u32>,
}

impl Recovery {
    /// Recovery for `workers` workers: `retries` more attempts per failing item; `keep`
    /// copies of batches in flight for lost ranks (a worker time-out is set).
    pub(crate) fn new(workers: usize, retries: u32, lost_ranks_possible: bool) -> Recovery {
        Recovery {
            retries,
            keep: retries > 0 || lost_ranks_possible,
            held: (0..workers).map(|_| VecDeque::new()).collect(),
            failed_on: HashMap::new(),
            moved: HashMap::new(),
        }
    }

    /// Bytes kept per worker when nothing is in flight (the driver's memory model).
    pub(crate) fn bytes_per_worker() -> usize {
        std::mem::size_of::<VecDeque<Option<Held>>>()
    }

    /// `batch` of `call` was sent to `rank` (before it is encoded away).
    pub(crate) fn sent(&mut self, rank: i32, call: SubmissionId, batch: &Batch) {
        let copy = self.keep.then(|| Held {
            call,
            batch: batch.clone(),
            pinned: false,
        });
        self.held[rank as usize - 1].push_back(copy);
    }

    /// Something that is no batch of a call was sent to `rank` (a test's raw bytes).
    pub(crate) fn sent_raw(&mut self, rank: i32) {
        self.held[rank as usize - 1].push_back(None);
    }

    /// The batch just sent to `rank` must run there and nowhere else.
    pub(crate) fn pin_last(&mut self, rank: i32) {
        if let Some(Some(held)) = self.held[rank as usize - 1].back_mut() {
            held.pinned = true;
        }
    }

    /// `rank` answered its oldest batch, of `call` from slot `first`, with `outputs`.
    pub(crate) fn answered(
        &mut self,
        rank: i32,
        call: SubmissionId,
        first: u64,
        outputs: Vec<Output>,
    ) -> Settled {
        let held = self.held[rank as usize - 1].pop_front().flatten();
        let all_ok = outputs.iter().all(Result::is_ok);
        // A dataset step is never run again: it exchanges with every other rank, which ran it
        // once (its failure stays in the partition it made).
        let again = |h: &Held| !matches!(h.batch.plan, Plan::Data(_));
        let Some(held) =
            held.filter(|h| !all_ok && h.call == call && h.batch.first == first && again(h))
        else {
            return Settled {
                fill: vec![(first, outputs)],
                again: Vec::new(),
            };
        };
        let rerun = if held.pinned {
            Rerun::On(rank)
        } else {
            Rerun::Anywhere
        };
        let mut settled = Settled::default();
        let batch = &held.batch;
        if batch.fold {
            // A fold has one output and runs again as a whole.
            let out = outputs.into_iter().next().expect("one output");
            match self.after_failure(call, first, out) {
                Ok(()) => settled.again.push((rerun, call, batch.clone())),
                Err(out) => settled.fill.push((first, vec![out])),
            }
            return settled;
        }
        let mut run: Option<(u64, Vec<Output>)> = None;
        for (i, out) in outputs.into_iter().enumerate() {
            let slot = first + i as u64;
            match self.after_failure(call, slot, out) {
                Ok(()) => {
                    settled.fill.extend(run.take());
                    let input = batch.inputs[i].clone();
                    let single = Batch::map(slot as usize, batch.plan.clone(), vec![input]);
                    settled.again.push((rerun, call, single));
                }
                Err(out) => match &mut run {
                    Some((_, outs)) => outs.push(out),
                    None => run = Some((slot, vec![out])),
                },
            }
        }
        settled.fill.extend(run);
        settled
    }

    /// `Ok(())` when the failed output `out` of `(call, slot)` gets another
    /// attempt; else the output to file, its failure naming the earlier attempts.
    fn after_failure(&mut self, call: SubmissionId, slot: u64, out: Output) -> Result<(), Output> {
        let Err(mut failure) = out else {
            return Err(out);
        };
        let earlier = self.failed_on.entry((call, slot)).or_default();
        if (earlier.len() as u32) < self.retries {
            earlier.push(failure.rank);
            return Ok(());
        }
        let earlier = self.failed_on.remove(&(call, slot)).unwrap_or_default();
        if !earlier.is_empty() {
            let ranks: Vec<String> = earlier.iter().map(i32::to_string).collect();
            failure.message = format!(
                "{} (attempt {} of {}; the earlier attempts failed on rank {})",
                failure.message,
                earlier.len() + 1,
                self.retries + 1,
                ranks.join(", ")
            );
        }
        Err(Err(failure))
    }

    /// `rank` was lost: its batches in flight, `(call, first, outputs)` oldest first, are
    /// sorted into those that run again elsewhere and those that fail. `survivors` is false
    /// when no worker is left to run them.
    pub(crate) fn lost(
        &mut self,
        rank: i32,
        pending: Vec<(SubmissionId, u64, u64)>,
        survivors: bool,
    ) -> Orphans {
        let held: Vec<Option<Held>> = self.held[rank as usize - 1].drain(..).collect();
        let mut orphans = Orphans::default();
        let limit = self.retries.max(1);
        for (i, (call, first, n)) in pending.into_iter().enumerate() {
            let copy = held.get(i).and_then(Option::as_ref);
            let why = match copy {
                _ if !survivors => Some("no other worker is left to run its work"),
                None if !self.keep => Some("its work is not kept (no copy)"),
                None => Some("its work cannot run elsewhere"),
                Some(h) if h.pinned => Some("its work had to run on that rank"),
                Some(_) if self.moved.get(&(call, first)).copied().unwrap_or(0) >= limit => {
                    Some("its work was already moved off a lost rank before")
                }
                Some(_) => None,
            };
            match (why, copy) {
                (None, Some(h)) => {
                    *self.moved.entry((call, first)).or_default() += 1;
                    orphans.again.push((call, h.batch.clone()));
                }
                (why, _) => orphans.failed.push((call, first, n, why.unwrap_or("lost"))),
            }
        }
        orphans
    }

    /// Forgets what is known about `call` (it is complete or cancelled).
    pub(crate) fn forget(&mut self, call: SubmissionId) {
        if !self.failed_on.is_empty() {
            self.failed_on.retain(|(c, _), _| *c != call);
        }
        if !self.moved.is_empty() {
            self.moved.retain(|(c, _), _| *c != call);
        }
    }
}

/// Runs `batch` in this process with `run`, running each failing item again up to `retries`
/// times (the driver running work itself: a world of one, its own block of a `scatter`).
pub(crate) fn run_with_retries(
    batch: Batch,
    retries: u32,
    run: impl Fn(Batch) -> Vec<Output>,
) -> Vec<Output> {
    if retries == 0 {
        // Nothing to run again: the batch moves into the run, so that its tasks can take
        // over their inputs.
        return run(batch);
    }
    let outputs = run(batch.clone());
    if outputs.iter().all(Result::is_ok) {
        return outputs;
    }
    // The bookkeeping of one worker (index 1) stands for this process; failures carry the
    // real rank.
    let mut recovery = Recovery::new(1, retries, false);
    let mut pending = vec![(batch.clone(), outputs)];
    let mut done: Vec<(u64, Vec<Output>)> = Vec::new();
    while let Some((batch, outputs)) = pending.pop() {
        recovery.sent(1, 0, &batch);
        let settled = recovery.answered(1, 0, batch.first, outputs);
        done.extend(settled.fill);
        for (_, _, again) in settled.again {
            let outputs = run(again.clone());
            pending.push((again, outputs));
        }
    }
    done.sort_by_key(|(first, _)| *first);
    done.into_iter().flat_map(|(_, outputs)| outputs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskId;
    use crate::wire::plan::Plan;

    fn batch(first: usize, n: u8) -> Batch {
        let plan = Plan::Task {
            id: TaskId(1),
            bound: Payload::default(),
        };
        Batch::map(first, plan, (0..n).map(|i| p(&[i])).collect())
    }

    fn p(bytes: &[u8]) -> Payload {
        Payload::from(bytes.to_vec())
    }

    fn fail(rank: i32) -> Output {
        Err(TaskFailure {
            task: "t".into(),
            rank,
            host: "h".into(),
            message: "boom".into(),
        })
    }

    #[test]
    fn without_retries_answers_are_filed_as_they_are() {
        let mut r = Recovery::new(2, 0, false);
        r.sent(1, 7, &batch(0, 2));
        let s = r.answered(1, 7, 0, vec![Ok(p(&[1])), fail(1)]);
        assert_eq!(s.fill.len(), 1);
        assert!(s.again.is_empty());
        assert!(r.held[0].is_empty());
    }

    #[test]
    fn failed_items_run_again_then_fail_naming_the_attempts() {
        let mut r = Recovery::new(2, 2, false);
        r.sent(1, 7, &batch(10, 3));
        let s = r.answered(1, 7, 10, vec![Ok(p(&[0])), fail(1), Ok(p(&[2]))]);
        // The two good outputs are filed, the failed item runs again alone.
        let filled: Vec<u64> = s.fill.iter().map(|(f, _)| *f).collect();
        assert_eq!(filled, [10, 12]);
        assert_eq!(s.again.len(), 1);
        let (rerun, call, again) = &s.again[0];
        assert_eq!(
            (*rerun, *call, again.first, &again.inputs),
            (Rerun::Anywhere, 7, 11, &vec![p(&[1])])
        );
        // Second attempt on rank 2 fails, third on rank 1 fails: final.
        r.sent(2, 7, again);
        let s = r.answered(2, 7, 11, vec![fail(2)]);
        let again = s.again[0].2.clone();
        r.sent(1, 7, &again);
        let s = r.answered(1, 7, 11, vec![fail(1)]);
        assert!(s.again.is_empty());
        let Err(f) = &s.fill[0].1[0] else { panic!() };
        assert_eq!(
            f.message,
            "boom (attempt 3 of 3; the earlier attempts failed on rank 1, 2)"
        );
    }

    #[test]
    fn a_lost_ranks_batches_move_once_unless_pinned() {
        let mut r = Recovery::new(2, 0, true);
        r.sent(1, 1, &batch(0, 2));
        r.sent(1, 2, &batch(0, 1));
        r.pin_last(1);
        let o = r.lost(1, vec![(1, 0, 2), (2, 0, 1)], true);
        assert_eq!(o.again.len(), 1);
        assert_eq!(o.failed, [(2, 0, 1, "its work had to run on that rank")]);
        // Moved once already: lost again, it fails.
        r.sent(2, 1, &o.again[0].1);
        let o = r.lost(2, vec![(1, 0, 2)], true);
        assert!(o.again.is_empty());
        assert!(o.failed[0].3.contains("already moved"));
        // No survivor: nothing moves.
        r.sent(1, 3, &batch(0, 1));
        assert!(r.lost(1, vec![(3, 0, 1)], false).again.is_empty());
    }

    #[test]
    fn inline_retries_keep_the_order() {
        use std::cell::Cell;
        let calls = Cell::new(0);
        let outs = run_with_retries(batch(0, 3), 1, |b| {
            calls.set(calls.get() + 1);
            b.inputs
                .iter()
                .map(|i| {
                    if i.to_vec() == [1] && calls.get() == 1 {
                        fail(0)
                    } else {
                        Ok(i.clone())
                    }
                })
                .collect()
        });
        assert_eq!(outs, vec![Ok(p(&[0])), Ok(p(&[1])), Ok(p(&[2]))]);
        assert_eq!(calls.get(), 2);
    }
}
