//! The serve loop of ranks 1..N-1: receive a batch, run it, send the outputs back.

use crate::error::Error;
use crate::exec::run_batch;
use crate::wire::heartbeat::Heartbeat;
use crate::wire::message::{
    blocks_after, receive_message, Reply, ToDriver, ToWorker, TAG_BLOCK_TO_DRIVER,
    TAG_BLOCK_TO_WORKER, TAG_TO_DRIVER, TAG_TO_WORKER,
};
use crate::wire::transport::{receive_reusing, Encoded};
use mpi::point_to_point::Source;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::time::Duration;

/// Serves batches from rank 0 until it says `Shutdown`. With `heartbeat` (the heartbeat
/// communicator and period, only under `MPI_THREAD_MULTIPLE`), tells the driver that it is
/// alive that often while it holds work (wire/heartbeat.rs).
pub(crate) fn serve(
    world: &SimpleCommunicator,
    heartbeat: Option<(&SimpleCommunicator, Duration)>,
) {
    std::thread::scope(|scope| {
        let beat = heartbeat.map(|(beats, period)| Heartbeat::start(scope, beats, period));
        serve_batches(world, beat.as_ref());
    });
}

fn serve_batches(world: &SimpleCommunicator, beat: Option<&Heartbeat>) {
    let driver = world.process_at_rank(0);
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        // Any tag: the tag says how many messages follow the batch.
        let probed = driver.matched_probe();
        // Work is held from its first message on: receiving its parts may take long (a
        // large batch, or a driver computing instead of driving its sends), and the driver
        // counts this worker as busy from when it sent the batch until the reply is in.
        let busy = beat.map(Heartbeat::busy);
        let status = receive_reusing(probed, &mut buffer);
        let decoded = match blocks_after(status.tag(), TAG_TO_WORKER) {
            Some(n) => receive_message::<ToWorker>(&buffer, n, &driver, TAG_BLOCK_TO_WORKER),
            None => Err(Error::Decode {
                rank: 0,
                message: format!("a message with the unexpected tag {}", status.tag()),
            }),
        };
        let reply = match decoded {
            Ok(ToWorker::Shutdown) => {
                drop(busy);
                // The driver has finished: a SIGTERM from now on changes nothing, unless one
                // already began ending this process (sigterm.rs).
                if !crate::sigterm::finished() {
                    crate::sigterm::wait_for_the_end();
                }
                if crate::trace::enabled() {
                    crate::trace::send_to_driver(world);
                }
                return;
            }
            Ok(ToWorker::Run { call, batch }) => {
                let first = batch.first;
                let outputs = run_batch(batch);
                ToDriver::Done(Reply {
                    call,
                    first,
                    outputs,
                })
            }
            Err(e) => ToDriver::Unanswerable(e.to_string()),
        };
        let encoded = Encoded::new(reply).unwrap_or_else(|e| {
            Encoded::new(ToDriver::Unanswerable(e.to_string())).expect("a string encodes")
        });
        // Still held while the reply goes: a large one waits for the driver to receive it.
        encoded.send_blocking(&driver, TAG_TO_DRIVER, TAG_BLOCK_TO_DRIVER);
        drop(busy);
    }
}
