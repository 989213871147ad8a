//! Messages between the driver (rank 0) and the workers, and the MPI tags they travel with.

use crate::error::{Error, Result, TaskFailure};
use crate::wire::codec::decode;
use crate::wire::payload::Payload;
use crate::wire::plan::Batch;
use crate::wire::transport::{chunks, drain, receive_part, MAX_MESSAGES};
use mpi::topology::Process;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The ID of one primitive call on the driver; a batch's reply is filed under it.
pub(crate) type SubmissionId = u64;

/// Tag of messages from the driver to a worker with nothing beside them; a message followed
/// by `n` MPI messages carrying its parts (see [`crate::wire::transport`]) has tag
/// `TAG_TO_WORKER + n`.
pub(crate) const TAG_TO_WORKER: i32 = 10_000;
/// Tag of messages from a worker to the driver, plus the number of messages beside it.
pub(crate) const TAG_TO_DRIVER: i32 = 20_000;
/// Tag of a chunk of a part sent after its message, driver to worker.
pub(crate) const TAG_BLOCK_TO_WORKER: i32 = 30_000;
/// Tag of a chunk of a part sent after its message, worker to driver.
pub(crate) const TAG_BLOCK_TO_DRIVER: i32 = 30_001;
/// Tag of the start-up registry exchange.
pub(crate) const TAG_HANDSHAKE: i32 = 0x0B1C;
/// Tag of the trace events sent to the driver at shutdown.
pub(crate) const TAG_TRACE: i32 = 0x0B1D;
/// Tag of a worker's heartbeat: an empty message, sent while it runs a batch, that says it is
/// alive (see [`crate::wire::heartbeat`]).
pub(crate) const TAG_HEARTBEAT: i32 = 0x0B1E;

/// A spread's answer from a child to its parent in the tree, on the tree communicator
/// (`wire/link.rs`): the reply's tag base there (its blocks follow with
/// [`TAG_BLOCK_TO_DRIVER`]).
pub(crate) const TAG_TREE_UP: i32 = 40_000;

/// Driver → worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Run a batch and reply.
    Run {
        /// The primitive call the batch belongs to; its reply is matched by it, never by
        /// arrival order.
        call: SubmissionId,
        /// The work.
        batch: Batch,
    },
    /// Run a share of a batch on every worker rank of `ranks` (`lo..hi`), spread down a
    /// tree: the first rank of the span keeps its share, hands the rest to two children
    /// (each the first rank of half the others), and answers with its outputs and theirs,
    /// in order (for a fold: its fold and theirs, folded). From the driver, or from a
    /// worker's parent in the tree (`worker.rs`).
    Spread {
        /// As for `Run`.
        call: SubmissionId,
        /// The whole span's items.
        batch: Batch,
        /// The ranks of the span, `lo..hi`; `lo` is the receiver.
        ranks: (i32, i32),
    },
    /// Leave the serve loop.
    Shutdown,
}

/// The outputs of one [`Batch`], in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reply {
    /// Copied from the batch's message.
    pub(crate) call: SubmissionId,
    /// Copied from the batch.
    pub(crate) first: u64,
    /// One entry per input (one for a fold).
    pub(crate) outputs: Vec<std::result::Result<Payload, TaskFailure>>,
    /// How long the worker ran the batch, in µs: the driver sizes later batches by it
    /// (`driver/pace.rs`).
    pub(crate) busy_us: u64,
}

/// Worker → driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ToDriver {
    /// Outputs of a batch.
    Done(Reply),
    /// The worker could not run the oldest batch it was sent (undecodable message or
    /// unencodable outputs); the driver fails that batch's slots.
    Unanswerable(String),
}

/// How many MPI messages follow a message with `tag`, sent with tag base `base`
/// ([`TAG_TO_WORKER`] or [`TAG_TO_DRIVER`]); `None` for a tag outside that range.
pub(crate) fn blocks_after(tag: i32, base: i32) -> Option<usize> {
    let n = tag.checked_sub(base)?;
    (0..=MAX_MESSAGES as i32).contains(&n).then_some(n as usize)
}

/// A message whose payloads may have parts that travel beside it.
pub(crate) trait Carrier {
    /// Every payload of the message, in the order they are encoded.
    fn payloads_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Payload>);
}

impl Carrier for ToWorker {
    fn payloads_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Payload>) {
        if let ToWorker::Run { batch, .. } | ToWorker::Spread { batch, .. } = self {
            batch.payloads_mut(out);
        }
    }
}

impl Carrier for ToDriver {
    fn payloads_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Payload>) {
        if let ToDriver::Done(reply) = self {
            out.extend(reply.outputs.iter_mut().filter_map(|o| o.as_mut().ok()));
        }
    }
}

/// Checks, before anything is allocated, that the parts `payloads` announce fill exactly the
/// `n` messages that the tag says follow (a part of `len` bytes takes [`chunks`]`(len)` of
/// them). Every announced part takes at least one message, so the walk gives up after at
/// most `n + 1` of them, and a message that passes makes a rank allocate at most `n` ×
/// [`CHUNK`](crate::wire::transport::CHUNK) bytes.
fn check_announced(payloads: &[&mut Payload], n: usize, rank: i32) -> Result<()> {
    let mut due = 0usize;
    for len in payloads.iter().flat_map(|p| p.announced()) {
        // No overflow: `due` ≤ `n` before, and one part's chunks are at most 2^34.
        due += chunks(len);
        if due > n {
            return Err(Error::Decode {
                rank,
                message: format!("a message whose parts need more than the {n} messages beside it"),
            });
        }
    }
    if due < n {
        return Err(Error::Decode {
            rank,
            message: format!("a message whose parts need {due} of the {n} messages beside it"),
        });
    }
    Ok(())
}

/// Where the MPI messages that follow a message come from: its sender over MPI, or a list
/// of messages in the tests.
trait PartSource {
    /// The rank the message came from, for errors.
    fn rank(&self) -> i32;
    /// Receives the next part into `buffer`, counting in `received` each message taken.
    fn receive_part(&mut self, buffer: &mut [u8], received: &mut usize) -> Result<()>;
    /// Receives and drops the next `n` messages.
    fn drain(&mut self, n: usize);
}

/// The messages with tag `tag` from `from`.
struct FromMpi<'a, 'b> {
    from: &'a Process<'b>,
    tag: i32,
}

impl PartSource for FromMpi<'_, '_> {
    fn rank(&self) -> i32 {
        self.from.rank()
    }

    fn receive_part(&mut self, buffer: &mut [u8], received: &mut usize) -> Result<()> {
        // BLAZER_REPORT counts the parts of the driver's replies among the bytes moved.
        crate::report::record::received(self.from.rank(), buffer.len(), false);
        receive_part(self.from, self.tag, buffer, received)
    }

    fn drain(&mut self, n: usize) {
        drain(self.from, n, self.tag)
    }
}

/// Decodes a message received from `from`, then receives the `n` MPI messages that follow it
/// (tag `tag`) into its payloads' parts. On any error every one of the `n` messages has
/// been received, so none stays in the way of the next message.
pub(crate) fn receive_message<T: DeserializeOwned + Carrier>(
    bytes: &[u8],
    n: usize,
    from: &Process<'_>,
    tag: i32,
) -> Result<T> {
    receive_from(bytes, n, &mut FromMpi { from, tag })
}

/// [`receive_message`], the `n` messages coming from `source`.
fn receive_from<T: DeserializeOwned + Carrier>(
    bytes: &[u8],
    n: usize,
    source: &mut impl PartSource,
) -> Result<T> {
    crate::wire::payload::take_due();
    let mut message = match decode::<T>(bytes, source.rank()) {
        Ok(m) => m,
        Err(e) => {
            source.drain(n);
            return Err(e);
        }
    };
    if n == 0 && crate::wire::payload::take_due() == 0 {
        // Nothing beside the message, and nothing announced: small values only.
        return Ok(message);
    }
    let mut payloads = Vec::new();
    message.payloads_mut(&mut payloads);
    // Counted before anything is allocated: a forged count or length costs neither memory
    // nor more than one walk.
    if let Err(e) = check_announced(&payloads, n, source.rank()) {
        source.drain(n);
        return Err(e);
    }
    let rank = source.rank();
    let mut received = 0;
    for payload in payloads {
        let result = payload.receive_due(
            |buffer| source.receive_part(buffer, &mut received),
            |len| Error::Decode {
                rank,
                message: format!(
                    "a value of {len} bytes, more memory than this process could allocate"
                ),
            },
        );
        if let Err(e) = result {
            source.drain(n - received);
            return Err(e);
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskId;
    use crate::wire::codec::{decode, encode};
    use crate::wire::payload::PART_MIN;
    use crate::wire::plan::Plan;
    use crate::wire::transport::Encoded;

    #[test]
    fn batch_message_round_trips() {
        let req = ToWorker::Run {
            call: 7,
            batch: Batch {
                first: 3,
                fold: false,
                plan: Plan::Task {
                    id: TaskId(9),
                    bound: vec![1u8, 2].into(),
                },
                inputs: vec![vec![5u8].into(), Payload::default()],
            },
        };
        let bytes = encode(&req).unwrap();
        assert_eq!(decode::<ToWorker>(&bytes, 0).unwrap(), req);
    }

    /// A deterministic fuzz of the decoders: random bytes, and valid messages with bytes
    /// flipped, truncated or extended, must decode or fail, never panic, and never allocate
    /// what a forged length prefix claims.
    #[test]
    fn decoders_survive_random_and_mutated_input() {
        // Slot indices past 2^32, so that mutations also hit long varints.
        let valid = encode(&ToWorker::Run {
            call: 1,
            batch: Batch {
                first: 1 << 40,
                fold: true,
                plan: Plan::Pipeline(vec![
                    Plan::Task {
                        id: TaskId(3),
                        bound: vec![1u8; 40].into(),
                    },
                    Plan::List(vec![]),
                ]),
                inputs: vec![vec![9u8; 100].into(), Payload::default()],
            },
        })
        .unwrap();
        let reply = encode(&ToDriver::Done(Reply {
            call: 1,
            first: 1 << 40,
            busy_us: 7,
            outputs: vec![
                Ok(vec![1u8, 2].into()),
                Err(TaskFailure {
                    task: "t".into(),
                    rank: 1,
                    host: "h".into(),
                    message: "m".into(),
                }),
            ],
        }))
        .unwrap();
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200_000 {
            let mut bytes = match round % 3 {
                0 => valid.clone(),
                1 => reply.clone(),
                _ => (0..rand() % 64).map(|_| rand() as u8).collect(),
            };
            if !bytes.is_empty() && round % 3 != 2 {
                for _ in 0..=rand() % 4 {
                    let i = (rand() as usize) % bytes.len();
                    bytes[i] = rand() as u8;
                }
                match rand() % 3 {
                    0 => bytes.truncate((rand() as usize) % bytes.len()),
                    1 => bytes.extend((0..rand() % 8).map(|_| rand() as u8)),
                    _ => {}
                }
            }
            let _ = decode::<ToWorker>(&bytes, 1);
            let _ = decode::<ToDriver>(&bytes, 1);
        }
        // A forged length of 2^62 inputs fails at once instead of allocating.
        // Run, call 1, first 2^32 (a 64-bit varint of 5 bytes), fold false, Plan::Pipeline
        // with no stage, then the input count.
        let mut forged = vec![0u8, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 1, 0];
        forged.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
        let started = std::time::Instant::now();
        assert!(decode::<ToWorker>(&forged, 1).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // The same prefix with a true count of zero inputs decodes: the forgery was the count.
        let mut zero = forged[..10].to_vec();
        zero.push(0);
        assert!(decode::<ToWorker>(&zero, 1).is_ok());
    }

    /// Slot indices past 2^32 travel both ways (a `map` of more than 4,294,967,295 items).
    #[test]
    fn slot_indices_past_u32_travel() {
        let batch = Batch::map(
            (1usize << 32) + 7,
            Plan::List(vec![]),
            vec![vec![1u8].into()],
        );
        let run = ToWorker::Run { call: 2, batch };
        assert_eq!(decode::<ToWorker>(&encode(&run).unwrap(), 0).unwrap(), run);
        let ToWorker::Run { batch, .. } = run else {
            unreachable!()
        };
        let reply = ToDriver::Done(Reply {
            call: 2,
            first: batch.first,
            outputs: vec![Ok(vec![3u8].into())],
            busy_us: 0,
        });
        assert_eq!(
            decode::<ToDriver>(&encode(&reply).unwrap(), 0).unwrap(),
            reply
        );
        // On the wire, `first` = 2^32 is a 5-byte varint: Run, call 1, first, fold false,
        // Plan::Pipeline with no stage, no input.
        let bytes = [0u8, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 1, 0, 0];
        match decode::<ToWorker>(&bytes, 0) {
            Ok(ToWorker::Run { batch, .. }) => assert_eq!(batch.first, 1 << 32),
            other => panic!("{other:?}"),
        }
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
                Err(crate::error::Error::Decode { rank: 4, .. })
            ));
        }
    }

    /// The messages that follow a message, from a list (what MPI would deliver); taking
    /// more than it holds panics.
    struct Listed {
        queue: std::collections::VecDeque<Vec<u8>>,
        taken: usize,
    }

    impl Listed {
        fn new(messages: Vec<Vec<u8>>) -> Listed {
            Listed {
                queue: messages.into(),
                taken: 0,
            }
        }

        fn next(&mut self) -> Vec<u8> {
            self.taken += 1;
            self.queue.pop_front().expect("no more messages were sent")
        }
    }

    impl PartSource for Listed {
        fn rank(&self) -> i32 {
            3
        }

        fn receive_part(&mut self, buffer: &mut [u8], received: &mut usize) -> Result<()> {
            for chunk in buffer.chunks_mut(crate::wire::transport::CHUNK) {
                let message = self.next();
                *received += 1;
                if message.len() != chunk.len() {
                    return Err(Error::Decode {
                        rank: 3,
                        message: "a chunk of the wrong length".into(),
                    });
                }
                chunk.copy_from_slice(&message);
            }
            Ok(())
        }

        fn drain(&mut self, n: usize) {
            for _ in 0..n {
                self.next();
            }
        }
    }

    /// Decodes `header`, then fills its pending parts from `blocks` in order (what
    /// `receive_message` does with MPI); `None` on an error, or if a block is left over.
    fn decode_with<T: DeserializeOwned + Carrier>(header: &[u8], blocks: &[Vec<u8>]) -> Option<T> {
        let mut source = Listed::new(blocks.to_vec());
        let message = receive_from(header, blocks.len(), &mut source).ok()?;
        source.queue.is_empty().then_some(message)
    }

    /// A `Run` message whose one input is a payload announcing detached parts of `lens`
    /// bytes, each at offset 0 of an empty head: what a corrupt or hostile peer may send.
    fn announcing(lens: &[u64]) -> Vec<u8> {
        /// postcard's form of the wire's `PartRepr::Detached`.
        #[derive(Serialize)]
        enum Repr {
            Detached { len: u64 },
        }
        let mut bytes = encode(&ToWorker::Run {
            call: 1,
            batch: Batch {
                first: 0,
                fold: false,
                plan: Plan::List(vec![]),
                inputs: vec![],
            },
        })
        .unwrap();
        assert_eq!(bytes.pop(), Some(0), "the input count ends the message");
        bytes.push(1);
        let shape = (lens.len() as u64) << 32;
        bytes.extend(encode(&(shape, serde_bytes::Bytes::new(&[]))).unwrap());
        for &len in lens {
            bytes.extend(encode(&(0u64, 1u8, 0u8, Repr::Detached { len })).unwrap());
        }
        bytes
    }

    /// The forged message, with the parts it announces sent as announced, is received whole
    /// (the forgery is the format, not a falsehood).
    #[test]
    fn announced_parts_are_received_when_they_come_as_announced() {
        let message: ToWorker =
            decode_with(&announcing(&[5, 7]), &[vec![1; 5], vec![2; 7]]).unwrap();
        let ToWorker::Run { batch, .. } = message else {
            panic!("{message:?}")
        };
        assert_eq!(
            batch.inputs[0].to_vec(),
            [[1u8; 5].as_slice(), &[2; 7]].concat()
        );
    }

    /// A message whose parts do not fit the messages its tag announces is refused before
    /// any part is allocated, and the messages that follow it are all taken.
    #[test]
    fn announced_parts_are_checked_before_any_is_allocated() {
        let chunk = crate::wire::transport::CHUNK as u64;
        for (lens, n, what) in [
            (vec![1u64; 20_000], 1, "more parts than messages"),
            (
                vec![1u64; 20_000],
                MAX_MESSAGES,
                "more parts than any tag carries",
            ),
            (vec![1 << 50], 1, "a part of 1 PiB in one message"),
            (
                vec![u64::MAX >> 1],
                MAX_MESSAGES,
                "a part past what the tag carries",
            ),
            (vec![3 * chunk], 2, "a part of three chunks in two messages"),
            (vec![100, 100], 0, "parts with no message"),
            (vec![100, 100], 3, "more messages than parts"),
        ] {
            let mut source = Listed::new(vec![vec![0]; n]);
            crate::wire::payload::observe::take_allocations();
            let result = receive_from::<ToWorker>(&announcing(&lens), n, &mut source);
            assert!(
                matches!(result, Err(Error::Decode { rank: 3, .. })),
                "{what}"
            );
            assert_eq!(
                crate::wire::payload::observe::take_allocations(),
                0,
                "{what}: allocated"
            );
            assert_eq!((source.taken, source.queue.len()), (n, 0), "{what}");
        }
    }

    /// Each part is allocated when its turn to be received comes: a message whose first
    /// part arrives wrong costs the allocation of that part alone.
    #[test]
    fn parts_are_allocated_as_they_are_received() {
        let mut source = Listed::new(vec![vec![0; 10], vec![0; 100]]);
        crate::wire::payload::observe::take_allocations();
        let result = receive_from::<ToWorker>(&announcing(&[100, 100]), 2, &mut source);
        assert!(result.is_err());
        assert_eq!(crate::wire::payload::observe::take_allocations(), 1);
        assert_eq!((source.taken, source.queue.len()), (2, 0));
    }

    /// Receiving a message's parts walks them a bounded number of times: the steps grow
    /// with the number of parts, not with its square.
    #[test]
    fn due_parts_are_walked_in_linear_steps() {
        for n in [512, MAX_MESSAGES] {
            let mut source = Listed::new(vec![vec![9]; n]);
            crate::wire::payload::observe::take_steps();
            let message: ToWorker = receive_from(&announcing(&vec![1; n]), n, &mut source).unwrap();
            let steps = crate::wire::payload::observe::take_steps();
            assert!(steps <= 4 * n, "{steps} steps for {n} parts");
            let ToWorker::Run { batch, .. } = message else {
                panic!("{message:?}")
            };
            assert_eq!(batch.inputs[0].to_vec(), vec![9; n]);
        }
    }

    #[test]
    fn large_parts_travel_beside_the_message() {
        let big = vec![7u8; PART_MIN];
        let msg = ToWorker::Run {
            call: 1,
            batch: Batch {
                first: 0,
                fold: false,
                plan: Plan::Task {
                    id: TaskId(1),
                    bound: Payload::encode(&serde_bytes::ByteBuf::from(big.clone())).unwrap(),
                },
                inputs: vec![
                    Payload::encode(&(1u8, 2u8)).unwrap(),
                    Payload::encode_owned(big.clone()).unwrap(),
                ],
            },
        };
        let encoded = Encoded::new(msg.clone()).unwrap();
        assert_eq!(
            encoded.blocks().count(),
            2,
            "the bound part and the large input"
        );
        assert!(
            encoded.header().len() < 64,
            "the message keeps only lengths: {} bytes",
            encoded.header().len()
        );
        let received: Vec<Vec<u8>> = encoded.blocks().map(<[u8]>::to_vec).collect();
        assert_eq!(
            decode_with::<ToWorker>(encoded.header(), &received).unwrap(),
            msg
        );
        // Without its parts, or with one too many, the message does not decode.
        assert!(decode_with::<ToWorker>(encoded.header(), &[]).is_none());
        let mut extra = received.clone();
        extra.push(vec![1]);
        assert!(decode_with::<ToWorker>(encoded.header(), &extra).is_none());
        // Short values stay inline, and a plain decode reads them.
        let reply = ToDriver::Done(Reply {
            call: 1,
            first: 0,
            outputs: vec![Ok(vec![3u8; 10].into())],
            busy_us: 0,
        });
        let encoded = Encoded::new(reply.clone()).unwrap();
        assert_eq!(encoded.blocks().count(), 0);
        assert_eq!(decode::<ToDriver>(encoded.header(), 0).unwrap(), reply);
    }

    #[test]
    fn block_counts_ride_in_the_tag() {
        assert_eq!(blocks_after(TAG_TO_WORKER, TAG_TO_WORKER), Some(0));
        assert_eq!(blocks_after(TAG_TO_DRIVER + 3, TAG_TO_DRIVER), Some(3));
        assert_eq!(blocks_after(77, TAG_TO_DRIVER), None);
        assert_eq!(blocks_after(TAG_TO_WORKER - 1, TAG_TO_WORKER), None);
    }
}
