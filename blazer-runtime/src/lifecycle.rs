//! Start-up and shutdown: MPI initialisation, the registry handshake, the driver/worker split.

use crate::config::config;
use crate::driver::dispatch;
use crate::driver::queue::WorkQueue;
use crate::error::{exit_code, Error};
use crate::identity::{build_id, explain_builds};
use crate::registry::{explain_difference, Registry};
use crate::wire::codec::{decode, encode};
use crate::wire::heartbeat;
use crate::wire::link::MpiLink;
use crate::wire::message::TAG_HANDSHAKE;
use crate::worker;
use crate::world;
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Threading;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Duration;

/// What the driver body may return: `()` or `Result<(), E>`, as for `fn main`.
pub trait DriverOutcome {
    /// Reports a failure on stderr and maps the outcome to an exit code.
    fn report(self) -> ExitCode;
}

impl DriverOutcome for () {
    fn report(self) -> ExitCode {
        ExitCode::SUCCESS
    }
}

impl<E: fmt::Debug> DriverOutcome for Result<(), E> {
    fn report(self) -> ExitCode {
        match self {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                crate::report::record::outcome(format!("the driver's body returned {e:?}"));
                ExitCode::FAILURE
            }
        }
    }
}

/// The version of blazer's start-up and wire protocol; ranks must agree on it. Version 5: the
/// start-up checks begin with one reduction (`extremes`) instead of an all-gather; replies
/// report the worker's run time; packed batches (`Plan::Each`) and spreads down a tree.
/// Version 6: dataset steps (`Plan::Data`) and the data communicator they exchange on.
/// Version 7: a packed batch's lengths travel as one block of varints.
const PROTOCOL_VERSION: u64 = 7;

/// Starts MPI, runs `body` on rank 0 while ranks 1..N-1 serve tasks, then shuts every rank
/// down. This is what `#[blazer::main]` expands to.
///
/// Returns the exit code: the body's outcome on rank 0, success on the workers. Works without
/// `mpirun` too: a singleton of size 1 runs its tasks itself.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     blazer_runtime::run(|| println!("hello from rank {}", blazer_runtime::rank()))
/// }
/// ```
pub fn run<R: DriverOutcome>(body: impl FnOnce() -> R) -> ExitCode {
    // Tasks may use MPI from threads of their own, and a worker's heartbeat thread sends
    // while the worker holds work (wire/heartbeat.rs): ask for every thread to be free,
    // unless told that less will do (BLAZER_MPI_THREADS; then no heartbeat).
    let level = match config().mpi_threads() {
        Ok(level) => level,
        Err(why) => {
            eprintln!("blazer: {why}");
            return ExitCode::FAILURE;
        }
    };
    let Some((universe, threads)) = mpi::initialize_with_threading(level) else {
        eprintln!("blazer: MPI is already initialized; call blazer::run once per process");
        return ExitCode::FAILURE;
    };
    if threads < Threading::Funneled {
        eprintln!(
            "blazer: this MPI grants only {threads:?} threads; blazer needs at least \
             MPI_THREAD_FUNNELED"
        );
        return ExitCode::FAILURE;
    }
    run_on(&universe, body)
}

/// Like [`run`], on an MPI environment the caller initialised (and finalises by dropping
/// `universe` afterwards): for programs that also use MPI directly, such as benchmarks that
/// time a hand-written rsmpi loop before handing the ranks to blazer.
///
/// MPI must have been initialised with a thread level of at least `Funneled`
/// (`mpi::initialize_with_threading`); `mpi::initialize()` asks for `Single`, which some MPIs
/// grant literally.
///
/// blazer sends all its messages on a duplicate of the world communicator, so the program's
/// own messages on `MPI_COMM_WORLD` (any source, any tag) never meet blazer's.
pub fn run_on<R: DriverOutcome>(
    universe: &mpi::environment::Universe,
    body: impl FnOnce() -> R,
) -> ExitCode {
    let granted = mpi::environment::threading_support();
    if granted == Threading::Single {
        eprintln!(
            "blazer: MPI was initialised with thread level {granted:?}; blazer needs at least \
             Funneled: initialise it with mpi::initialize_with_threading(Threading::Multiple) \
             (blazer::run does)"
        );
        return ExitCode::FAILURE;
    }
    // A blocking collective first: Open MPI 4.1 reports ranks it cannot reach (no transport
    // between two hosts) from it and aborts the job, while the non-blocking agreement inside
    // MPI_Comm_dup would wait for them forever.
    universe.world().barrier();
    // blazer's own communicator: the user's world traffic and blazer's never match.
    let world = universe.world().duplicate();
    let (rank, size) = (world.rank(), world.size());
    world::init(
        rank,
        size,
        mpi::environment::processor_name().unwrap_or_default(),
    );
    crate::exec::install_panic_hook();
    crate::sigterm::install(rank == 0);
    // The handshake is the first collective, so ranks of different versions meet there.
    if let Err(e) = handshake(&world) {
        if rank == 0 {
            eprintln!("blazer: {e}");
        }
        return ExitCode::from(exit_code::MISMATCH);
    }
    let node = world.split_shared(rank);
    world::init_node(node.rank(), node.size());
    // Name each node by its lowest world rank, and tell every rank the whole table.
    let mut leader = rank;
    node.process_at_rank(0).broadcast_into(&mut leader);
    // O(N) on every rank, once: 4 B per rank (40 KB at 10^4 ranks).
    let mut table = vec![0i32; size as usize];
    world.all_gather_into(&leader, &mut table[..]);
    world::init_nodes(table);
    // Every rank's host name, for error messages about ranks on other hosts.
    let mut name = [0u8; 64];
    let mine = world::host();
    let len = mine.len().min(name.len());
    name[..len].copy_from_slice(&mine.as_bytes()[..len]);
    // O(N) on every rank, once: 64 B per rank (640 KB at 10^4 ranks).
    let mut names = vec![0u8; 64 * size as usize];
    world.all_gather_into(&name[..], &mut names[..]);
    world::init_hosts(
        names
            .chunks(64)
            .map(|n| {
                String::from_utf8_lossy(n)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .collect(),
    );

    // Rank 0 decides whether to trace (bit 1) and report (bit 2), and tells every rank.
    let trace_path = config().trace.as_deref();
    let report_path = config().report.as_deref();
    let mut tracing = if rank == 0 {
        u8::from(trace_path.is_some()) | (u8::from(report_path.is_some()) << 1)
    } else {
        0
    };
    world.process_at_rank(0).broadcast_into(&mut tracing);
    crate::trace::set_enabled(tracing != 0);
    if tracing & 2 != 0 {
        if rank == 0 {
            crate::report::record::begin((0..size).map(world::host_of).collect());
        }
        crate::report::record::start_sampler(rank);
    }
    let beats = heartbeats(&world);
    // Where a spread's answers travel up its tree (worker.rs): every rank makes it.
    let tree = world.duplicate();
    // Where datasets' steps exchange partitions' items rank to rank (dist/exchange.rs).
    crate::dist::exchange::install(world.duplicate());
    if rank != 0 {
        worker::serve(
            &world,
            &tree,
            beats.as_ref().map(|(comm, period)| (comm, *period)),
        );
        crate::dist::exchange::uninstall();
        return ExitCode::SUCCESS;
    }
    if size > 1 {
        let link = MpiLink::new(world, beats.map(|(comm, _)| comm));
        dispatch::install(WorkQueue::new(Box::new(link)));
    }
    // The checkpoint's build identity covers the task set too (the handshake checked it).
    let tasks = Registry::global().map_or(0, Registry::fingerprint);
    let code = match crate::checkpoint::session::open(tasks) {
        Ok(()) => {
            let outcome = catch_unwind(AssertUnwindSafe(body));
            // What finished is on disk before anything else can end the job.
            crate::checkpoint::session::close();
            // Report first: releasing the workers may have to abort the job (a lost rank).
            match outcome {
                Ok(r) => r.report(),
                Err(_) => {
                    crate::report::record::outcome("the driver's body panicked".into());
                    ExitCode::from(exit_code::PANIC)
                }
            }
        }
        Err(why) => {
            eprintln!("blazer: {why}");
            ExitCode::FAILURE
        }
    };
    // The outcome is decided and on disk: a SIGTERM from now on changes nothing, neither the
    // exit code nor `MPI_Finalize`. One taken before is being acted on: wait for it.
    if !crate::sigterm::finished() {
        crate::sigterm::wait_for_the_end();
    }
    // Always release the workers, whatever the body did, so no rank is left waiting.
    // Each worker sends its trace as it leaves its serve loop (worker.rs).
    let gathered = match dispatch::uninstall() {
        Some(mut queue) => {
            queue.shutdown();
            if tracing != 0 {
                queue.gather_traces()
            } else {
                Ok(Vec::new())
            }
        }
        None => Ok(Vec::new()),
    };
    crate::dist::exchange::uninstall();
    let merged = gathered
        .map_err(|e| e.to_string())
        .and_then(crate::trace::merge);
    if let Some(path) = trace_path {
        if let Err(e) = merged
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|merged| crate::trace::write(merged, path))
        {
            eprintln!("blazer: trace not written: {e}");
        }
    }
    if report_path.is_some() {
        let merged = merged
            .map_err(|e| eprintln!("blazer: the report shows the driver's view of the tasks: {e}"))
            .ok();
        if let Err(e) = crate::trace::write_report(merged) {
            eprintln!("blazer: report not written: {e}");
        }
    }
    code
}

/// Rank 0's heartbeat settings, agreed by every rank (collective): the heartbeat
/// communicator and the period at which workers beat while they hold work, or `None` (no
/// `BLAZER_WORKER_TIMEOUT`, or no heartbeat possible).
///
/// A worker's heartbeat thread calls MPI while the worker's thread, or a task, may be in MPI
/// too, which only `MPI_THREAD_MULTIPLE` allows (wire/heartbeat.rs): below it on any rank
/// there is no heartbeat, the time-out also limits how long one batch may run, and rank 0 says
/// so once. The beats travel on a duplicate of `world` of their own, never mixed with
/// batches, replies or a task's messages.
fn heartbeats(world: &SimpleCommunicator) -> Option<(SimpleCommunicator, Duration)> {
    let rank = world.rank();
    let timeout = config().worker_timeout.filter(|_| rank == 0);
    let mut beat_us = timeout.map_or(0, |t| heartbeat::period(t).as_micros() as u64);
    world.process_at_rank(0).broadcast_into(&mut beat_us);
    if beat_us == 0 {
        return None;
    }
    let level = mpi::environment::threading_support();
    let mut all_multiple = 0u8;
    world.all_reduce_into(
        &u8::from(level == Threading::Multiple),
        &mut all_multiple,
        SystemOperation::min(),
    );
    if all_multiple == 0 {
        if rank == 0 {
            eprintln!(
                "blazer: MPI_THREAD_MULTIPLE is not granted on every rank (rank 0 has \
                 {level:?}; see BLAZER_MPI_THREADS): workers send no heartbeat, so \
                 BLAZER_WORKER_TIMEOUT also limits how long one batch may run"
            );
        }
        return None;
    }
    Some((world.duplicate(), Duration::from_micros(beat_us)))
}

/// What every rank brings to the start-up checks: its protocol version, its registry's
/// fingerprint and its build identity, in the order the checks run.
const CHECKED: usize = 3;

/// The lowest and the highest of each of `mine` over every rank (collective): one
/// `all_reduce` with `min` of the values and of their complements (`!max(x) == min(!x)`), so
/// the common case, every rank alike, costs O(log N) rounds and O(1) data on every rank.
///
/// This is the first collective of the start-up (protocol version 5 on): later versions keep
/// its shape, so that ranks of different versions still meet in it and are told apart.
fn extremes(world: &SimpleCommunicator, mine: [u64; CHECKED]) -> [(u64, u64); CHECKED] {
    let mut send = [0u64; 2 * CHECKED];
    for (i, v) in mine.iter().enumerate() {
        send[2 * i] = *v;
        send[2 * i + 1] = !*v;
    }
    let mut lowest = [0u64; 2 * CHECKED];
    world.all_reduce_into(&send[..], &mut lowest[..], SystemOperation::min());
    from_lowest(lowest)
}

/// The `(min, max)` pairs from the minima of values and complements that [`extremes`] reduces.
fn from_lowest(lowest: [u64; 2 * CHECKED]) -> [(u64, u64); CHECKED] {
    std::array::from_fn(|i| (lowest[2 * i], !lowest[2 * i + 1]))
}

/// Checks that every rank speaks this protocol version, registered the same tasks and runs the
/// same build, in that order; rank 0 explains a difference, the others say "see rank 0".
///
/// When every rank agrees (min == max of each value), that one reduction is all. Only on a
/// difference do the ranks exchange what rank 0 needs to name the ranks that differ (O(N),
/// as before this fast path): the versions and fingerprints first, then the build IDs.
fn handshake(world: &SimpleCommunicator) -> Result<(), Error> {
    let registry = Registry::global();
    let fingerprint = registry.as_ref().map(|r| r.fingerprint()).unwrap_or(0);
    let [version, fingerprints, builds] =
        extremes(world, [PROTOCOL_VERSION, fingerprint, build_id()]);
    if version.0 != version.1 || fingerprints.0 != fingerprints.1 {
        return explain_registries(world, registry, fingerprint);
    }
    registry?;
    if builds.0 == builds.1 || world.size() == 1 {
        return Ok(());
    }
    // Some ranks differ, or only know no identity (0, not compared): rank 0 decides.
    same_build(world)
}

/// Checks that every rank runs the same build (the same tasks with, say, a struct's fields in
/// another order would decode each other's values wrongly); rank 0 names the others. Run
/// after the registry check, and only when the build IDs differ somewhere.
fn same_build(world: &SimpleCommunicator) -> Result<(), Error> {
    let mut ids = vec![0u64; world.size() as usize];
    world.all_gather_into(&build_id(), &mut ids[..]);
    match explain_builds(&ids) {
        None => Ok(()),
        Some(why) if world.rank() == 0 => Err(Error::BuildMismatch(why)),
        Some(_) => Err(Error::BuildMismatch("see rank 0".into())),
    }
}

/// The detailed version and registry check, run when [`extremes`] found a difference in
/// either: every rank's pair gathered, rank 0 explains the difference. The second collective
/// of a start-up that found another version, so later versions keep it too.
fn explain_registries(
    world: &SimpleCommunicator,
    registry: Result<&'static Registry, Error>,
    fingerprint: u64,
) -> Result<(), Error> {
    let mut pairs = vec![0u64; 2 * world.size() as usize];
    world.all_gather_into(&[PROTOCOL_VERSION, fingerprint][..], &mut pairs[..]);
    let rank = world.rank();
    // Ranks of another protocol version cannot take part in the rest of the start-up.
    let versions: Vec<u64> = pairs.iter().step_by(2).copied().collect();
    if let Some(r) = versions.iter().position(|v| *v != PROTOCOL_VERSION) {
        return Err(Error::RegistryMismatch(format!(
            "rank {r} runs blazer protocol version {}, rank {rank} version {PROTOCOL_VERSION}",
            versions[r]
        )));
    }
    let all: Vec<u64> = pairs.iter().skip(1).step_by(2).copied().collect();
    if all.iter().all(|f| *f == all[0]) {
        // Not reached when the reduction saw a difference; kept so the check stands alone.
        registry?;
        return same_build(world);
    }
    let describe = || registry.as_ref().map(|r| r.describe()).unwrap_or_default();
    if rank == 0 {
        let ours = describe();
        // One explanation per distinct foreign binary, naming the ranks that run it.
        let mut groups: Vec<(Vec<i32>, Vec<String>)> = Vec::new();
        for (r, fp) in all.iter().enumerate().skip(1) {
            if *fp != all[0] {
                let (bytes, _) = world
                    .process_at_rank(r as i32)
                    .receive_vec_with_tag::<u8>(TAG_HANDSHAKE);
                let theirs: Vec<String> = decode(&bytes, r as i32)?;
                match groups.iter_mut().find(|(_, t)| *t == theirs) {
                    Some((ranks, _)) => ranks.push(r as i32),
                    None => groups.push((vec![r as i32], theirs)),
                }
            }
        }
        let diffs: Vec<String> = groups
            .iter()
            .map(|(ranks, theirs)| explain_difference(&ours, ranks, theirs))
            .collect();
        Err(Error::RegistryMismatch(diffs.join("; ")))
    } else {
        if all[rank as usize] != all[0] {
            let bytes = encode(&describe())?;
            world
                .process_at_rank(0)
                .send_with_tag(&bytes[..], TAG_HANDSHAKE);
        }
        Err(Error::RegistryMismatch("see rank 0".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `extremes` computes, reduced here by hand over the ranks' values.
    fn reduce(ranks: &[[u64; CHECKED]]) -> [(u64, u64); CHECKED] {
        let mut lowest = [u64::MAX; 2 * CHECKED];
        for mine in ranks {
            for (i, v) in mine.iter().enumerate() {
                lowest[2 * i] = lowest[2 * i].min(*v);
                lowest[2 * i + 1] = lowest[2 * i + 1].min(!*v);
            }
        }
        from_lowest(lowest)
    }

    #[test]
    fn one_min_reduction_gives_both_extremes() {
        assert_eq!(
            reduce(&[[5, 0, u64::MAX]]),
            [(5, 5), (0, 0), (u64::MAX, u64::MAX)]
        );
        let spread = reduce(&[[4, 9, 0], [4, 2, 7], [4, u64::MAX, 3]]);
        assert_eq!(spread, [(4, 4), (2, u64::MAX), (0, 7)]);
    }
}
