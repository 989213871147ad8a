//! Messages between the driver (rank 0) and the workers, encoded with postcard.

use crate::error::TaskFailure;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};

/// Tag of messages from the driver to a worker.
pub const TAG_TO_WORKER: i32 = 0x0B1A;
/// Tag of messages from a worker to the driver.
pub const TAG_TO_DRIVER: i32 = 0x0B1B;
/// Tag of the start-up registry exchange.
pub const TAG_HANDSHAKE: i32 = 0x0B1C;
/// Tag of the trace events sent to the driver at shutdown.
pub const TAG_TRACE: i32 = 0x0B1D;

/// A batch of work: run `plan` on each input, or fold the inputs with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The primitive call this batch belongs to; replies are matched by it, never by arrival.
    pub call: u64,
    /// Index of the first output slot of the call that this batch fills.
    pub first: u32,
    /// Fold: `acc = inputs[0]; acc = plan(acc ++ x)` for each further input, one output.
    pub fold: bool,
    /// What to run.
    pub plan: Plan,
    /// Encoded inputs.
    pub inputs: Vec<Vec<u8>>,
}

/// Driver → worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Run a batch and reply.
    Run(Request),
    /// Leave the serve loop.
    Shutdown,
}

/// The outputs of one [`Request`], in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Copied from the request.
    pub call: u64,
    /// Copied from the request.
    pub first: u32,
    /// One entry per input (one for a fold).
    pub outputs: Vec<Result<Vec<u8>, TaskFailure>>,
}

/// Worker → driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToDriver {
    /// Outputs of a request.
    Done(Reply),
    /// The worker could not run the oldest request it was sent (undecodable request or
    /// unencodable outputs); the driver fails that batch's slots.
    Unanswerable(String),
}

/// Encodes a message.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, crate::Error> {
    postcard::to_allocvec(msg).map_err(|e| crate::Error::Encode(e.to_string()))
}

/// Decodes a message received from `rank`.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], rank: i32) -> Result<T, crate::Error> {
    postcard::from_bytes(bytes).map_err(|e| crate::Error::Decode {
        rank,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskId;

    #[test]
    fn request_round_trips() {
        let req = ToWorker::Run(Request {
            call: 7,
            first: 3,
            fold: false,
            plan: Plan::Task {
                id: TaskId(9),
                bound: vec![1, 2],
            },
            inputs: vec![vec![5], vec![]],
        });
        let bytes = encode(&req).unwrap();
        assert_eq!(decode::<ToWorker>(&bytes, 0).unwrap(), req);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0xff; 3][..],
            &[0, 1][..],
            &[0, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200][..],
        ] {
            assert!(matches!(
                decode::<ToWorker>(bytes, 4),
                Err(crate::Error::Decode { rank: 4, .. })
            ));
        }
    }
}
