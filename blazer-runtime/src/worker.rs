//! The serve loop of ranks 1..N-1: receive a batch, run it, send the outputs back.

use crate::exec::execute_request;
use crate::wire::{self, Reply, ToDriver, ToWorker, TAG_TO_DRIVER, TAG_TO_WORKER};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};

/// Serves batches from rank 0 until it says `Shutdown`.
pub fn serve(world: &SimpleCommunicator) {
    let driver = world.process_at_rank(0);
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        wire::receive_reusing(driver.matched_probe_with_tag(TAG_TO_WORKER), &mut buffer);
        let bytes = &buffer[..];
        let reply = match wire::decode::<ToWorker>(bytes, 0) {
            Ok(ToWorker::Shutdown) => {
                if crate::trace::enabled() {
                    crate::trace::send_to_driver(world);
                }
                return;
            }
            Ok(ToWorker::Run(req)) => {
                let outputs = execute_request(&req);
                ToDriver::Done(Reply {
                    call: req.call,
                    first: req.first,
                    outputs,
                })
            }
            Err(e) => ToDriver::Unanswerable(e.to_string()),
        };
        let bytes = match wire::encode(&reply) {
            Ok(b) => b,
            Err(e) => {
                wire::encode(&ToDriver::Unanswerable(e.to_string())).expect("a string encodes")
            }
        };
        driver.send_with_tag(&bytes[..], TAG_TO_DRIVER);
    }
}
