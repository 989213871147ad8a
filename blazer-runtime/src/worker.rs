//! The serve loop of ranks 1..N-1: receive a batch, run it, send the outputs back; or take
//! a share of a spread, hand the rest down a tree, and answer for the whole subtree.

use crate::dist::part::share_start;
use crate::error::TaskFailure;
use crate::exec::{execute, run_batch};
use crate::wire::heartbeat::Heartbeat;
use crate::wire::link::WorkerLink;
use crate::wire::message::{Reply, SubmissionId, ToDriver, ToWorker};
use crate::wire::payload::Payload;
use crate::wire::plan::Batch;
use mpi::topology::SimpleCommunicator;
use std::time::{Duration, Instant};

/// Serves batches from rank 0 until it says `Shutdown`. With `heartbeat` (the heartbeat
/// communicator and period, only under `MPI_THREAD_MULTIPLE`), tells the driver that it is
/// alive that often while it holds work (wire/heartbeat.rs). Spreads answer up their tree
/// on `tree`.
pub(crate) fn serve(
    world: &SimpleCommunicator,
    tree: &SimpleCommunicator,
    heartbeat: Option<(&SimpleCommunicator, Duration)>,
) {
    std::thread::scope(|scope| {
        let beat = heartbeat.map(|(beats, period)| Heartbeat::start(scope, beats, period));
        serve_batches(WorkerLink::new(world, tree), beat.as_ref());
    });
}

fn serve_batches(mut link: WorkerLink<'_>, beat: Option<&Heartbeat>) {
    loop {
        // Busy from the moment a message is seen: a large batch takes time to arrive, and
        // the driver counts this worker's silence from when it sent the batch.
        let (busy, from, decoded) = link.next(|| beat.map(Heartbeat::busy));
        let reply = match decoded {
            Ok(ToWorker::Shutdown) => {
                drop(busy);
                if !crate::sigterm::finished() {
                    crate::sigterm::wait_for_the_end();
                }
                if crate::trace::enabled() {
                    link.send_trace(&crate::trace::encoded_events());
                }
                return;
            }
            Ok(ToWorker::Run { call, batch }) => {
                let first = batch.first;
                let started = Instant::now();
                let outputs = run_batch(batch);
                ToDriver::Done(Reply {
                    call,
                    first,
                    outputs,
                    busy_us: started.elapsed().as_micros() as u64,
                })
            }
            Ok(ToWorker::Spread { call, batch, ranks }) => spread(&mut link, call, batch, ranks),
            Err(e) => ToDriver::Unanswerable(e.to_string()),
        };
        link.reply(from, reply);
        drop(busy);
    }
}

/// This rank's part of a spread over `lo..hi` (this rank is `lo`): its share of `batch`
/// runs here, the rest goes to two children, and the answer holds every output of the span
/// in order (a fold: one, the fold of the shares in order).
fn spread(
    link: &mut WorkerLink<'_>,
    call: SubmissionId,
    batch: Batch,
    (lo, hi): (i32, i32),
) -> ToDriver {
    let members = (hi - lo).max(1) as usize;
    let Batch {
        first,
        fold,
        plan,
        mut inputs,
    } = batch;
    let n = inputs.len();
    // Children: the first ranks of the two halves of the others.
    let mid = lo + 1 + (hi - lo - 1) / 2;
    let spans = [(lo + 1, mid), (mid, hi)];
    let at = |rank: i32| share_start((rank - lo) as usize, members, n);
    let second = inputs.split_off(at(mid));
    let first_half = inputs.split_off(at(lo + 1));
    let own = inputs;
    let mut handed = Vec::new();
    for (span, items) in spans.into_iter().zip([first_half, second]) {
        if span.0 >= span.1 {
            continue;
        }
        let count = items.len();
        let part = ToWorker::Spread {
            call,
            batch: Batch {
                first: first + at(span.0) as u64,
                fold,
                plan: plan.clone(),
                inputs: items,
            },
            ranks: span,
        };
        let sending = link.hand_down(span.0, part);
        handed.push((span.0, count, sending));
    }
    let started = Instant::now();
    let mut parts: Vec<Vec<Result<Payload, TaskFailure>>> = Vec::new();
    if !own.is_empty() {
        parts.push(run_batch(Batch {
            first,
            fold,
            plan: plan.clone(),
            inputs: own,
        }));
    }
    let busy_us = started.elapsed().as_micros() as u64;
    let limit = crate::config::config().worker_timeout;
    for (child, count, sending) in handed {
        let answer = match sending {
            Ok(sending) => {
                let answer = link.answer_from(child, limit);
                drop(sending);
                answer
            }
            Err(e) => Err(e),
        };
        let failed = |why: String| {
            let f = TaskFailure {
                task: "?".into(),
                rank: child,
                host: crate::world::host_of(child),
                message: why,
            };
            let n = if fold { 1 } else { count };
            (0..n).map(|_| Err(f.clone())).collect()
        };
        parts.push(match answer {
            Ok(ToDriver::Done(reply)) => reply.outputs,
            Ok(ToDriver::Unanswerable(why)) => failed(format!("its part of a spread: {why}")),
            Err(e) => failed(format!("its part of a spread: {e}")),
        });
    }
    let outputs = if fold {
        fold_in_order(&plan, parts.into_iter().flatten())
    } else {
        parts.into_iter().flatten().collect()
    };
    ToDriver::Done(Reply {
        call,
        first,
        outputs,
        busy_us,
    })
}

/// Folds the shares' results left to right (the first failure, if any, is the result).
fn fold_in_order(
    plan: &crate::wire::plan::Plan,
    results: impl Iterator<Item = Result<Payload, TaskFailure>>,
) -> Vec<Result<Payload, TaskFailure>> {
    let mut acc: Option<Payload> = None;
    for result in results {
        let value = match result {
            Ok(value) => value,
            Err(f) => return vec![Err(f)],
        };
        acc = Some(match acc {
            None => value,
            Some(acc) => match execute(plan, acc.then(value)) {
                Ok(v) => v,
                Err(f) => return vec![Err(f)],
            },
        });
    }
    acc.map(|v| vec![Ok(v)]).unwrap_or_default()
}
