//! The serve loop of ranks 1..N-1: receive a batch, run it, send the outputs back.

use crate::blocks;
use crate::exec::execute_request;
use crate::wire::{
    self, Reply, ToDriver, ToWorker, TAG_BLOCK_TO_DRIVER, TAG_BLOCK_TO_WORKER, TAG_TO_DRIVER,
    TAG_TO_WORKER,
};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};

/// Serves batches from rank 0 until it says `Shutdown`.
pub fn serve(world: &SimpleCommunicator) {
    let driver = world.process_at_rank(0);
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        // Any tag: the tag says how many blocks follow the batch.
        let status = wire::receive_reusing(driver.matched_probe(), &mut buffer);
        let decoded = match wire::blocks_after(status.tag(), TAG_TO_WORKER) {
            Some(n) => {
                let blocks = wire::receive_blocks(&driver, n, TAG_BLOCK_TO_WORKER);
                blocks::decode_parts::<ToWorker>(&buffer, blocks, 0)
            }
            None => Err(crate::Error::Decode {
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
        let (header, parts) = match blocks::encode_parts(&reply) {
            Ok(encoded) => encoded,
            Err(e) => {
                let why =
                    wire::encode(&ToDriver::Unanswerable(e.to_string())).expect("a string encodes");
                (why, Vec::new())
            }
        };
        driver.send_with_tag(&header[..], TAG_TO_DRIVER + parts.len() as i32);
        for (ptr, len) in parts {
            // SAFETY: the blocks point into `reply`, alive and unchanged until this loop ends;
            // the sends are blocking.
            let block = unsafe { std::slice::from_raw_parts(ptr, len) };
            driver.send_with_tag(block, TAG_BLOCK_TO_DRIVER);
        }
    }
}
