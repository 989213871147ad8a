//! The driver at scale, simulated: the real driver code (the work queue, dispatch,
//! recovery, the stream behind `map`, `reduce`) against an in-process world of N workers.
//!
//! Only the transport is replaced: the driver talks to a network model (`sim/network.rs`)
//! through the same seam as to MPI (`wire/link.rs`). Time spent in the driver's own code is
//! measured and counts on the simulated clock, so a driver that cannot keep up shows as a
//! longer makespan. `scripts/scale-sim.sh` prints the figures for 10 to 100,000 workers.
//!
//! ```
//! use blazer_runtime::sim::{simulate, Scenario, TaskTime, Workload};
//! use std::time::Duration;
//!
//! let report = simulate(&Scenario {
//!     workers: 100,
//!     tasks: 20_000,
//!     task: TaskTime::Fixed(Duration::from_millis(1)),
//!     ..Scenario::default()
//! }, Workload::Map)
//! .unwrap();
//! assert_eq!(report.tasks, 20_000);
//! assert!(report.efficiency > 0.5);
//! ```

mod network;
mod scenario;

use scenario::Stats;
pub use scenario::{Scenario, TaskTime};

use crate::api::flow::task;
use crate::api::stream::Stream;
use crate::driver::dispatch;
use crate::driver::queue::WorkQueue;
use crate::error::{Error, Result};
use crate::registry::TaskEntry;
use crate::task::Task;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the simulated driver runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `map` over `tasks` items (its stream, without keeping the outputs).
    Map,
    /// `reduce` over `tasks` items: small items fold down a tree of the workers.
    Reduce,
    /// `on_every_rank`, `tasks` times: one message down a tree of the workers and one
    /// answer, each time (as each of a shared variable's syncs does twice).
    EveryRank,
}

/// The figures of one simulated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Worker ranks.
    pub workers: usize,
    /// Tasks run.
    pub tasks: u64,
    /// Batches the driver sent.
    pub batches: u64,
    /// The driver's time per batch, in µs: its own code (measured) and its modelled MPI
    /// costs.
    pub driver_us_per_batch: f64,
    /// The driver's time per task, in µs.
    pub driver_us_per_task: f64,
    /// The driver's memory for its workers, in MiB: the per-worker tables of the work
    /// queue, and the batches in flight at their largest.
    pub driver_mib: f64,
    /// The simulated makespan.
    pub makespan: Duration,
    /// The makespan of a perfect schedule: the work divided by the workers, or the longest
    /// task if that is longer.
    pub ideal: Duration,
    /// `ideal / makespan`.
    pub efficiency: f64,
    /// Bytes rank 0 sent and received.
    pub bytes_at_root: u64,
    /// Messages rank 0 sent and received.
    pub messages_at_root: u64,
    /// Levels of spread trees walked, down and up counted once (`reduce`, `on_every_rank`).
    pub tree_levels: u64,
    /// Workers declared lost (silent past the time-out).
    pub lost: usize,
    /// Where the efficiency went, as shares of the workers' time: waiting for a first
    /// batch (the ramp), between batches (a driver that does not keep up), and after their
    /// last batch (the tail).
    pub idle: [f64; 3],
    /// Real time the simulation took.
    pub wall: Duration,
}

impl std::fmt::Display for Report {
    /// The line `scripts/scale-sim.sh` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sim workers={} tasks={} driver_us_per_batch={:.2} driver_us_per_task={:.3} \
             driver_MiB={:.2} efficiency={:.3} batches={} makespan_s={:.3} ideal_s={:.3} \
             root_messages={} root_MiB={:.1} tree_levels={} idle_ramp={:.3} idle_gaps={:.3} \
             idle_tail={:.3} wall_s={:.1}",
            self.workers,
            self.tasks,
            self.driver_us_per_batch,
            self.driver_us_per_task,
            self.driver_mib,
            self.efficiency,
            self.batches,
            self.makespan.as_secs_f64(),
            self.ideal.as_secs_f64(),
            self.messages_at_root,
            (self.bytes_at_root as f64) / (1u64 << 20) as f64,
            self.tree_levels,
            self.idle[0],
            self.idle[1],
            self.idle[2],
            self.wall.as_secs_f64(),
        )
    }
}

/// The task the simulated workers "run": its time comes from the scenario, its output is
/// its input.
struct SimWork;

impl Task for SimWork {
    type Input = u64;
    type Output = u64;
    type Head = ();
    type Last = u64;
    const ARITY: usize = 1;
    const NAME: &'static str = "blazer::sim::work";
    const SIGNATURE: &'static str = "fn(u64) -> u64";
    fn run(x: u64) -> std::result::Result<u64, String> {
        Ok(x)
    }
}

/// The fold the simulated workers "run" for [`Workload::Reduce`].
struct SimFold;

impl Task for SimFold {
    type Input = (u64, u64);
    type Output = u64;
    type Head = u64;
    type Last = u64;
    const ARITY: usize = 2;
    const NAME: &'static str = "blazer::sim::fold";
    const SIGNATURE: &'static str = "fn(u64, u64) -> u64";
    fn run((a, _): (u64, u64)) -> std::result::Result<u64, String> {
        Ok(a)
    }
}

// Registered, so that the driver's own share of `on_every_rank` runs them for real.
inventory::submit! { TaskEntry::of::<SimWork>(concat!(file!(), ":", line!())) }
inventory::submit! { TaskEntry::of::<SimFold>(concat!(file!(), ":", line!())) }

/// Runs `workload` on the driver against the simulated world of `scenario`, on this thread.
/// Not inside a blazer program: it takes the place of the work queue of this thread and of
/// the process's world (rank, size, hosts), as an MPI run would.
pub fn simulate(scenario: &Scenario, workload: Workload) -> Result<Report> {
    // One at a time: a simulation stands in for the process's world.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if scenario.workers == 0 {
        return Err(Error::Usage("a simulated world needs a worker".into()));
    }
    if dispatch::with_queue(|_| ()).is_some() {
        return Err(Error::Usage(
            "simulate runs where no work queue is installed (not inside a blazer program)".into(),
        ));
    }
    let size = scenario.workers as i32 + 1;
    let hosts = scenario.hosts.clamp(1, size as usize);
    let per_host = (size as usize).div_ceil(hosts);
    let node = |r: i32| (r as usize / per_host * per_host) as i32;
    crate::world::init(0, size, "sim-host-0".into());
    crate::world::init_nodes((0..size).map(node).collect());
    crate::world::init_hosts(
        (0..size)
            .map(|r| format!("sim-host-{}", r as usize / per_host))
            .collect(),
    );
    let stats = Rc::new(RefCell::new(Stats::default()));
    let mut scenario = scenario.clone();
    if scenario.timeout.is_some() && scenario.beat.is_none() {
        scenario.beat = scenario.timeout.map(crate::wire::heartbeat::period);
    }
    let network = network::Network::new(scenario.clone(), Rc::clone(&stats));
    let queue = WorkQueue::with(Box::new(network), scenario.timeout, scenario.retries);
    dispatch::install(queue);
    let started = Instant::now();
    let ran = run_workload(&scenario, workload);
    let wall = started.elapsed();
    let queue = dispatch::uninstall().expect("installed above");
    crate::world::init(0, 1, String::new());
    crate::world::init_nodes(Vec::new());
    crate::world::init_hosts(Vec::new());
    ran?;
    let makespan = queue.link_now();
    let batches = queue.batches_sent().max(1);
    let (workers, live) = (queue.workers(), queue.live_workers());
    drop(queue); // its network files the idle times
    let stats = stats.borrow();
    let share = |idle: Duration| {
        idle.as_secs_f64() / (makespan.as_secs_f64() * scenario.workers as f64).max(1e-12)
    };
    // No schedule beats the work spread evenly, nor the longest task.
    let ideal = (stats.work / scenario.workers as u32).max(stats.longest);
    let per_worker = WorkQueue::bytes_per_worker() * scenario.workers;
    Ok(Report {
        workers: scenario.workers,
        tasks: scenario.tasks,
        batches,
        driver_us_per_batch: stats.driver.as_secs_f64() * 1e6 / batches as f64,
        driver_us_per_task: stats.driver.as_secs_f64() * 1e6 / scenario.tasks.max(1) as f64,
        driver_mib: (per_worker as u64 + stats.peak_in_flight) as f64 / (1u64 << 20) as f64,
        makespan,
        ideal,
        efficiency: ideal.as_secs_f64() / makespan.as_secs_f64().max(1e-12),
        bytes_at_root: stats.bytes_out + stats.bytes_in,
        messages_at_root: stats.messages,
        tree_levels: stats.rounds,
        lost: workers - live,
        idle: stats.idle.map(share),
        wall,
    })
}

fn run_workload(scenario: &Scenario, workload: Workload) -> Result<()> {
    match workload {
        Workload::Map => {
            let tasks = scenario.tasks;
            let guess = crate::driver::pace::first_batch(tasks as usize, scenario.workers);
            let stream = Stream::new(0..tasks, task::<SimWork>(), "map", Some(tasks), None);
            let stream = match scenario.batch {
                Some(items) => stream.batch(items),
                None => stream.first_batches(guess),
            };
            let mut seen = 0u64;
            for result in stream {
                result?;
                seen += 1;
            }
            if seen != tasks {
                return Err(Error::Usage(format!(
                    "the simulated map gave {seen} results for {tasks} tasks"
                )));
            }
            Ok(())
        }
        Workload::Reduce => {
            crate::api::primitives::reduce(task::<SimFold>(), 0..scenario.tasks).map(|_| ())
        }
        Workload::EveryRank => {
            for i in 0..scenario.tasks {
                let all =
                    crate::api::primitives::on_every_rank(crate::api::flow::call::<SimWork>(i))?;
                if all.len() != scenario.workers + 1 || all.iter().any(|&x| x != i) {
                    return Err(Error::Usage(format!(
                        "on_every_rank gave {} answers, not {} times {i}",
                        all.len(),
                        scenario.workers + 1
                    )));
                }
            }
            Ok(())
        }
    }
}
