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

/// Serves batches from rank 0 until it says `Shutdown`; with a `heartbeat` period, tells the
/// driver that it is alive that often while a batch runs.
pub(crate) fn serve(world: &SimpleCommunicator, heartbeat: Option<Duration>) {
    std::thread::scope(|scope| {
        let beat = heartbeat.map(|period| Heartbeat::start(scope, world, period));
        serve_batches(world, beat.as_ref());
    });
}

fn serve_batches(world: &SimpleCommunicator, beat: Option<&Heartbeat>) {
    let driver = world.process_at_rank(0);
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        // Any tag: the tag says how many messages follow the batch.
        let status = receive_reusing(driver.matched_probe(), &mut buffer);
        let decoded = match blocks_after(status.tag(), TAG_TO_WORKER) {
            Some(n) => receive_message::<ToWorker>(&buffer, n, &driver, TAG_BLOCK_TO_WORKER),
            None => Err(Error::Decode {
                rank: 0,
                message: format!("a message with the unexpected tag {}", status.tag()),
            }),
        };
        let reply = match decoded {
            Ok(ToWorker::Shutdown) => {
                if crate::trace::enabled() {
                    crate::trace::send_to_driver(world);
                }
                return;
            }
            Ok(ToWorker::Run { call, batch }) => {
                let busy = beat.map(Heartbeat::busy);
                let first = batch.first;
                let outputs = run_batch(batch);
                // No heartbeat is being sent once `busy` is gone: the reply may go.
                drop(busy);
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
        encoded.send_blocking(&driver, TAG_TO_DRIVER, TAG_BLOCK_TO_DRIVER);
    }
}
