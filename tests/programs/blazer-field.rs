//! A test program for how blazer behaves in the field, beside what users write around it:
//! their own MPI messages on the world communicator, threads inside tasks and beside the
//! driver. `blazer-field MODE`; each mode prints lines that `tests/field.rs` asserts on.

use blazer::mpi::point_to_point::{Destination, Source};
use blazer::mpi::topology::{Communicator, SimpleCommunicator};
use blazer::{call, task};
use std::collections::BTreeSet;

/// The tag of the user's own messages in these tests.
const USER_TAG: i32 = 77;

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

/// On a worker: receives, with any source and any tag, the message the driver's user code
/// sent it before the primitive started, then sends its own rank to rank 0, tag `USER_TAG`,
/// on the world communicator. Returns `(value, tag, source)` of what it received.
#[blazer::task]
fn user_exchange() -> (u64, i32, i32) {
    let world = SimpleCommunicator::world();
    if world.rank() == 0 {
        return (0, 0, 0);
    }
    let (value, status) = world.any_process().receive::<u64>();
    world
        .process_at_rank(0)
        .send_with_tag(&(world.rank() as u64), USER_TAG);
    (value, status.tag(), status.source_rank())
}

/// Spawns threads that read where they are and write to a shared variable; a rayon parallel
/// iterator does the same. Returns `(rank, ranks seen by the threads, ranks seen by rayon)`.
#[blazer::task]
fn threaded() -> (i32, Vec<i32>, Vec<i32>) {
    use rayon::prelude::*;
    let vars = blazer::shared::<String, i32>("field-threads");
    let seen: Vec<i32> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let rank = blazer::rank();
                let vars = blazer::shared::<String, i32>("field-threads");
                vars.insert(format!("{rank}-{i}"), rank).expect("insert");
                // Printing from any thread of any rank must follow the rank, not the thread.
                blazer::root_println!("ROOT PRINT FROM A THREAD OF RANK {rank}");
                rank
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let by_rayon: BTreeSet<i32> = (0..1000).into_par_iter().map(|_| blazer::rank()).collect();
    drop(vars);
    (blazer::rank(), seen, by_rayon.into_iter().collect())
}

fn main() -> std::process::ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    blazer::run(|| run(&mode))
}

fn run(mode: &str) -> blazer::Result<()> {
    match mode {
        "user-mpi" => user_mpi()?,
        "threads" => threads()?,
        other => return Err(blazer::Error::Usage(format!("unknown mode `{other}`"))),
    }
    Ok(())
}

/// The user's own point-to-point messages on the world communicator, around and inside
/// primitives: nothing is taken by blazer, and blazer takes nothing of the user's.
fn user_mpi() -> blazer::Result<()> {
    let level = blazer::mpi::environment::threading_support();
    blazer::root_println!("THREAD LEVEL {level:?}");
    let world = SimpleCommunicator::world();
    let size = world.size();
    // Before any primitive: one message to every worker, which a task receives with any
    // source and any tag.
    for rank in 1..size {
        world
            .process_at_rank(rank)
            .send_with_tag(&(1000 + rank as u64), 88);
    }
    let mut got: Vec<(u64, i32, i32)> =
        blazer::on_every_rank(call::<user_exchange>(()))?.split_off(1);
    got.sort();
    blazer::root_println!("WORKERS RECEIVED {got:?}");
    // A message to itself, pending while blazer runs a primitive; then the workers' messages
    // to rank 0 and the driver's own, received with any source and any tag only after two
    // primitives ran with them pending.
    let seven = 7u64;
    let received = blazer::mpi::request::scope(|scope| {
        let to_self = world
            .this_process()
            .immediate_send_with_tag(scope, &seven, USER_TAG);
        let squares = blazer::map(task::<sqr>(), 0..1000);
        let mut received = Vec::new();
        for _ in 0..size {
            let (value, status) = world.any_process().receive::<u64>();
            received.push((value, status.tag(), status.source_rank()));
        }
        to_self.wait();
        squares.map(|s| (s.iter().sum::<i64>(), received))
    });
    let (sum, mut received) = received?;
    blazer::root_println!("MAP SUM {sum}");
    received.sort();
    blazer::root_println!("DRIVER RECEIVED {received:?}");
    let after = blazer::map(task::<sqr>(), 0..10)?;
    blazer::root_println!("AFTER {after:?}");
    Ok(())
}

/// Threads inside tasks and beside the driver.
fn threads() -> blazer::Result<()> {
    let vars = blazer::shared::<String, i32>("field-threads");
    let ranks = blazer::on_every_rank(call::<threaded>(()))?;
    for (rank, seen, by_rayon) in &ranks {
        blazer::root_println!("RANK {rank} THREADS SAW {seen:?} RAYON SAW {by_rayon:?}");
    }
    vars.sync()?;
    let mut keys: Vec<String> = vars.entries()?.into_iter().map(|(k, _)| k).collect();
    keys.sort();
    blazer::root_println!("SHARED {}", keys.join(" "));
    // A primitive called from another thread of the driver.
    let spawned = std::thread::spawn(|| blazer::map(task::<sqr>(), 1..4))
        .join()
        .expect("thread");
    match spawned {
        Ok(v) => blazer::root_println!("SPAWNED MAP OK {v:?}"),
        Err(e) => blazer::root_println!("SPAWNED MAP ERR {e}"),
    }
    // The driver's own thread still drives.
    blazer::root_println!("MAP {:?}", blazer::map(task::<sqr>(), 1..4)?);
    Ok(())
}
