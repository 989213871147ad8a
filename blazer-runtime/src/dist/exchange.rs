//! Bytes rank to rank for dataset steps (halos, shuffles, rebalancing, folds up a tree), on
//! blazer's data communicator: a duplicate of its world that only these steps use, so
//! their messages never meet the driver's batches or a spread's answers.
//!
//! Every rank runs the steps in the order the driver issued them, and each step sends one
//! message to each rank it exchanges with; so messages between two ranks match in order
//! on one pair of tags. A message is its length (8 bytes), then its bytes in chunks of at
//! most [`CHUNK`]. Waits are bounded by `BLAZER_WORKER_TIMEOUT` when it is set.

use crate::wire::transport::CHUNK;
use mpi::point_to_point::{Destination, Source};
use mpi::request::WaitGuard;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

/// Tag of a message's length.
const TAG_LENGTH: i32 = 50_000;
/// Tag of a chunk of a message's bytes.
const TAG_CHUNK: i32 = 50_001;

thread_local! {
    /// The data communicator, on the thread that runs the steps. Never freed by the
    /// thread's destructors: MPICH's `MPI_Abort` ends the process through `exit`, which runs
    /// them, and freeing a communicator after the abort fails an assertion that turns the
    /// job's exit code into 1 (`wire/link.rs`, `abort`). [`uninstall`] frees it.
    static DATA: RefCell<Option<ManuallyDrop<SimpleCommunicator>>> = const { RefCell::new(None) };
}

/// Makes `comm` (every rank's duplicate of blazer's world) the data communicator.
pub(crate) fn install(comm: SimpleCommunicator) {
    DATA.set(Some(ManuallyDrop::new(comm)));
}

/// Frees the data communicator (before `MPI_Finalize`).
pub(crate) fn uninstall() {
    if let Some(comm) = DATA.take() {
        drop(ManuallyDrop::into_inner(comm));
    }
}

fn with_data<R>(f: impl FnOnce(&SimpleCommunicator) -> Result<R, String>) -> Result<R, String> {
    DATA.with_borrow(|comm| match comm {
        Some(comm) => f(comm),
        None => Err("no data communicator on this rank (blazer is not running)".into()),
    })
}

/// Sends each `(rank, bytes)` and receives one message from each rank of `from`, in that
/// order; returns what was received. A rank may send to itself: those messages are handed
/// over here, in order, without MPI (a world of one needs no communicator).
pub(crate) fn exchange(sends: &[(i32, Vec<u8>)], from: &[i32]) -> Result<Vec<Vec<u8>>, String> {
    let me = crate::world::rank();
    let mut to_self: std::collections::VecDeque<&Vec<u8>> = sends
        .iter()
        .filter(|(to, _)| *to == me)
        .map(|(_, b)| b)
        .collect();
    let remote: Vec<&(i32, Vec<u8>)> = sends.iter().filter(|(to, _)| *to != me).collect();
    let remote_from: Vec<i32> = from.iter().copied().filter(|&r| r != me).collect();
    let mut received = if remote.is_empty() && remote_from.is_empty() {
        Vec::new()
    } else {
        with_data(|comm| send_and_receive(comm, &remote, &remote_from))?
    }
    .into_iter();
    from.iter()
        .map(|&r| {
            if r == me {
                to_self
                    .pop_front()
                    .cloned()
                    .ok_or_else(|| "a message to itself that this rank did not send".to_string())
            } else {
                Ok(received.next().expect("one message per remote rank"))
            }
        })
        .collect()
}

/// [`exchange`] over MPI, every rank another.
fn send_and_receive(
    comm: &SimpleCommunicator,
    sends: &[&(i32, Vec<u8>)],
    from: &[i32],
) -> Result<Vec<Vec<u8>>, String> {
    let lengths: Vec<[u8; 8]> = sends
        .iter()
        .map(|(_, b)| (b.len() as u64).to_le_bytes())
        .collect();
    mpi::request::scope(|scope| {
        let mut sending = Vec::new();
        for ((to, bytes), length) in sends.iter().map(|s| (&s.0, &s.1)).zip(&lengths) {
            crate::wire::traffic::sent(comm.rank(), *to, 8 + bytes.len());
            let to = comm.process_at_rank(*to);
            sending.push(WaitGuard::from(to.immediate_send_with_tag(
                scope,
                &length[..],
                TAG_LENGTH,
            )));
            for chunk in bytes.chunks(CHUNK) {
                sending.push(WaitGuard::from(
                    to.immediate_send_with_tag(scope, chunk, TAG_CHUNK),
                ));
            }
        }
        let limit = crate::config::config().worker_timeout;
        let received = from
            .iter()
            .map(|&rank| receive(comm, rank, limit))
            .collect::<Result<Vec<_>, _>>();
        // A failed receive still waits for this rank's sends (the guards), which complete
        // once their receivers take them or the job ends.
        drop(sending);
        received
    })
}

/// This rank's `value` from every rank, in rank order.
pub(crate) fn all_gather(value: u64) -> Result<Vec<u64>, String> {
    if crate::world::size() <= 1 {
        return Ok(vec![value]);
    }
    with_data(|comm| {
        let mut all = vec![0u64; comm.size() as usize];
        mpi::collective::CommunicatorCollectives::all_gather_into(comm, &value, &mut all[..]);
        Ok(all)
    })
}

/// One message from `rank`: its length, then its chunks.
fn receive(
    comm: &SimpleCommunicator,
    rank: i32,
    limit: Option<Duration>,
) -> Result<Vec<u8>, String> {
    let from = comm.process_at_rank(rank);
    let deadline = limit.map(|l| Instant::now() + l);
    let mut length = [0u8; 8];
    arrived(&from, TAG_LENGTH, deadline, limit)?;
    from.receive_into_with_tag(&mut length[..], TAG_LENGTH);
    let len = usize::try_from(u64::from_le_bytes(length))
        .map_err(|_| format!("rank {rank} announced more bytes than this rank can address"))?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(len)
        .map_err(|_| format!("{len} bytes from rank {rank}: more than this rank can allocate"))?;
    bytes.resize(len, 0);
    for chunk in bytes.chunks_mut(CHUNK) {
        arrived(&from, TAG_CHUNK, deadline, limit)?;
        from.receive_into_with_tag(chunk, TAG_CHUNK);
    }
    Ok(bytes)
}

/// Returns once a message with `tag` from `from` has arrived, or fails at `deadline`.
fn arrived(
    from: &mpi::topology::Process<'_>,
    tag: i32,
    deadline: Option<Instant>,
    limit: Option<Duration>,
) -> Result<(), String> {
    let Some(deadline) = deadline else {
        return Ok(());
    };
    let mut pause = Duration::from_micros(1);
    while from.immediate_probe_with_tag(tag).is_none() {
        if Instant::now() >= deadline {
            return Err(format!(
                "no data from rank {} within {:.1} s (BLAZER_WORKER_TIMEOUT)",
                from.rank(),
                limit.unwrap_or_default().as_secs_f64()
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_micros(200));
    }
    Ok(())
}
