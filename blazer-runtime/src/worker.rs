//! The serve loop of ranks 1..N-1: receive a batch, run it, send the outputs back.

use crate::exec::run_batch;
use crate::wire::heartbeat::Heartbeat;
use crate::wire::link::WorkerLink;
use crate::wire::message::{Reply, ToDriver, ToWorker};
use mpi::topology::SimpleCommunicator;
use std::time::{Duration, Instant};

/// Serves batches from rank 0 until it says `Shutdown`. With `heartbeat` (the heartbeat
/// communicator and period, only under `MPI_THREAD_MULTIPLE`), tells the driver that it is
/// alive that often while it holds work (wire/heartbeat.rs).
pub(crate) fn serve(
    world: &SimpleCommunicator,
    heartbeat: Option<(&SimpleCommunicator, Duration)>,
) {
    std::thread::scope(|scope| {
        let beat = heartbeat.map(|(beats, period)| Heartbeat::start(scope, beats, period));
        serve_batches(WorkerLink::new(world), beat.as_ref());
    });
}

fn serve_batches(mut link: WorkerLink<'_>, beat: Option<&Heartbeat>) {
    loop {
        // Busy from the moment a message is seen: a large batch takes time to arrive, and
        // the driver counts this worker's silence from when it sent the batch.
        let (busy, decoded) = link.next(|| beat.map(Heartbeat::busy));
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
            Err(e) => ToDriver::Unanswerable(e.to_string()),
        };
        link.reply(reply);
        drop(busy);
    }
}
