//! A simulated world: its workers, its network, its task times; and what the network
//! model counts.

use std::time::Duration;

/// How long one task runs on a simulated worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TaskTime {
    /// Always this long.
    Fixed(Duration),
    /// Uniform between the two.
    Uniform(Duration, Duration),
    /// Exponential with this mean.
    Exponential(Duration),
    /// Heavy-tailed: Pareto with this minimum and shape `alpha` (> 1; the mean is
    /// `min · alpha / (alpha - 1)`, and the smaller `alpha`, the longer the tail).
    Pareto(Duration, f64),
    /// Skewed: most tasks take the first time, a share (the `f64`, 0 to 1) the second.
    Bimodal(Duration, Duration, f64),
}

impl TaskTime {
    /// The time for a uniform random number `u` in (0, 1).
    pub(crate) fn draw(self, u: f64) -> Duration {
        match self {
            TaskTime::Fixed(d) => d,
            TaskTime::Uniform(lo, hi) => lo + (hi.saturating_sub(lo)).mul_f64(u),
            TaskTime::Exponential(mean) => mean.mul_f64(-(1.0 - u).ln()),
            TaskTime::Pareto(min, alpha) => min.mul_f64((1.0 - u).powf(-1.0 / alpha)),
            TaskTime::Bimodal(fast, slow, share) => {
                if u < share {
                    slow
                } else {
                    fast
                }
            }
        }
    }

    /// The mean time of a task.
    pub fn mean(self) -> Duration {
        match self {
            TaskTime::Fixed(d) => d,
            TaskTime::Uniform(lo, hi) => (lo + hi) / 2,
            TaskTime::Exponential(mean) => mean,
            TaskTime::Pareto(min, alpha) => min.mul_f64(alpha / (alpha - 1.0)),
            TaskTime::Bimodal(fast, slow, share) => fast.mul_f64(1.0 - share) + slow.mul_f64(share),
        }
    }
}

/// A simulated world and its network.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Worker ranks (the world has one more: the driver).
    pub workers: usize,
    /// Tasks to run.
    pub tasks: u64,
    /// How long each task runs.
    pub task: TaskTime,
    /// One-way latency of a message.
    pub latency: Duration,
    /// Bytes a second through rank 0's network interface, each way.
    pub bandwidth: f64,
    /// Rank 0's own cost of sending one message (its MPI call), added to the driver's time.
    pub send_cost: Duration,
    /// Rank 0's own cost of receiving one message, added to the driver's time.
    pub receive_cost: Duration,
    /// Hosts the ranks are spread over, in blocks (the driver shares the first).
    pub hosts: usize,
    /// Workers that die: `(rank, when)`. Only noticed with a `timeout`.
    pub deaths: Vec<(usize, Duration)>,
    /// `BLAZER_WORKER_TIMEOUT` for the queue.
    pub timeout: Option<Duration>,
    /// How often a busy worker beats (with a time-out: a quarter of it, as on real ranks).
    pub beat: Option<Duration>,
    /// `BLAZER_RETRIES` for the queue.
    pub retries: u32,
    /// The random sequence of task times.
    pub seed: u64,
    /// Items per batch, fixed as `Stream::batch` fixes them; `None`: paced, as by default.
    pub batch: Option<usize>,
}

impl Default for Scenario {
    /// 4 workers, 1,000 tasks of 1 ms, 2 µs latency, 10 GB/s, 1 µs per message at rank 0,
    /// three hosts.
    fn default() -> Scenario {
        Scenario {
            workers: 4,
            tasks: 1_000,
            task: TaskTime::Fixed(Duration::from_millis(1)),
            latency: Duration::from_micros(2),
            bandwidth: 10e9,
            send_cost: Duration::from_micros(1),
            receive_cost: Duration::from_micros(1),
            hosts: 3,
            deaths: Vec::new(),
            timeout: None,
            beat: None,
            retries: 0,
            seed: 0x5EED,
            batch: None,
        }
    }
}

/// What the network model counted.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    // Read by the runner (`sim/mod.rs`) once the run is over.
    /// The driver's time: its own code, measured, and its modelled MPI costs.
    pub(crate) driver: Duration,
    /// Work done by the workers.
    pub(crate) work: Duration,
    /// Bytes rank 0 sent and received.
    pub(crate) bytes_out: u64,
    pub(crate) bytes_in: u64,
    /// Messages rank 0 sent and received.
    pub(crate) messages: u64,
    /// Bytes of the batches sent and not answered yet, now and at most.
    pub(crate) in_flight: u64,
    pub(crate) peak_in_flight: u64,
    /// The longest task drawn: no schedule ends before it does.
    pub(crate) longest: Duration,
    /// Levels of spread trees walked down and up.
    pub(crate) rounds: u64,
    /// The workers' idle time, summed over them: before their first batch, between
    /// batches, after their last (filed when the run is over).
    pub(crate) idle: [Duration; 3],
}

#[cfg(test)]
mod tests {
    use super::*;

    // Runs of the simulation are in tests/sim.rs: each stands in for the process's world.

    #[test]
    fn heavy_tails_draw_long_tasks() {
        let ms = Duration::from_millis;
        let t = TaskTime::Pareto(ms(1), 1.5);
        assert_eq!(t.draw(0.0), ms(1));
        assert!(t.draw(0.999) > ms(50));
        assert_eq!(t.mean(), ms(3));
    }
}
