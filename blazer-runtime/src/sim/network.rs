//! A simulated world of N workers behind the driver's [`Link`]: the driver's own code runs
//! for real, the workers and the network are a discrete-event model on a virtual clock.
//!
//! The clock moves in two ways. Time the driver spends in its own code, between two calls
//! of the link, is measured on the real clock and added (it is the driver's cost, and what
//! makes it a bottleneck when replies come faster than it files them), with the decoding of
//! each reply and a modelled per-message cost of rank 0's MPI calls. Time the driver
//! spends waiting jumps to the next event. The model's own work (the event queue, the
//! workers' state) is not counted.
//!
//! A worker runs its batches one after the other, each item for a time drawn from the
//! scenario's [`TaskTime`](crate::sim::TaskTime); a message takes the latency plus its bytes
//! over the bandwidth, and rank 0's network interface carries one message at a time each
//! way. A worker may be set to die at a given time: from then on it neither answers nor
//! beats.

use crate::error::{Error, Result};
use crate::sim::scenario::{Scenario, Stats};
use crate::wire::codec::decode;
use crate::wire::link::{Incoming, Link};
use crate::wire::message::{Reply, ToDriver, ToWorker};
use crate::wire::payload::Payload;
use crate::wire::plan::{Packed, Plan};
use crate::wire::transport::Encoded;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What happens at a time.
enum What {
    /// A reply reaches rank 0's network interface, where it waits for the replies that
    /// came before it.
    Ready {
        rank: i32,
        reply: Encoded,
        /// Bytes of the batch it answers.
        sent: usize,
    },
    /// A reply reaches the driver.
    Reply {
        rank: i32,
        reply: Encoded,
        /// Bytes of the batch it answers.
        sent: usize,
    },
    /// A heartbeat reaches the driver.
    Beat { rank: i32 },
}

/// An event, ordered by time, then by when it was scheduled.
struct Due {
    at: Duration,
    seq: u64,
    what: What,
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Due) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Due) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One simulated worker.
#[derive(Debug, Clone, Copy, Default)]
struct SimWorker {
    /// When it finishes what it holds.
    free_at: Duration,
    /// When it dies, if it does.
    dies_at: Option<Duration>,
    /// When it started its first batch, if it has had one.
    first: Option<Duration>,
    /// Time it sat idle between batches.
    gaps: Duration,
}

/// The simulated world; see the module's docs.
pub(crate) struct Network {
    scenario: Scenario,
    workers: Vec<SimWorker>,
    events: BinaryHeap<Reverse<Due>>,
    seq: u64,
    /// The virtual clock.
    now: Duration,
    /// When rank 0's network interface is free to send, and to receive.
    out_free: Duration,
    in_free: Duration,
    /// When the driver last left a call of the link, on the real clock.
    left: Instant,
    rng: u64,
    stats: Rc<RefCell<Stats>>,
}

impl Network {
    /// The world of `scenario`, reporting into `stats`.
    pub(crate) fn new(scenario: Scenario, stats: Rc<RefCell<Stats>>) -> Network {
        let mut workers = vec![SimWorker::default(); scenario.workers];
        for &(rank, at) in &scenario.deaths {
            if let Some(w) = workers.get_mut(rank.wrapping_sub(1)) {
                w.dies_at = Some(at);
            }
        }
        Network {
            rng: scenario.seed | 1,
            scenario,
            workers,
            events: BinaryHeap::new(),
            seq: 0,
            now: Duration::ZERO,
            out_free: Duration::ZERO,
            in_free: Duration::ZERO,
            left: Instant::now(),
            stats,
        }
    }

    /// The driver enters the link: the time it spent in its own code since it left counts.
    fn enter(&mut self) {
        let spent = self.left.elapsed();
        self.now += spent;
        self.stats.borrow_mut().driver += spent;
    }

    /// The driver leaves the link.
    fn leave(&mut self) {
        self.left = Instant::now();
    }

    /// Charges the driver `cost` of modelled or measured work inside the link.
    fn charge(&mut self, cost: Duration) {
        self.now += cost;
        self.stats.borrow_mut().driver += cost;
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: fast, and the same sequence for the same seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn schedule(&mut self, at: Duration, what: What) {
        self.seq += 1;
        self.events.push(Reverse(Due {
            at,
            seq: self.seq,
            what,
        }));
    }

    fn wire_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.scenario.bandwidth)
    }

    /// Worker `rank` gets a batch (or the root of a spread's tree gets its span's) and,
    /// unless it dies first, answers.
    fn deliver(&mut self, rank: i32, message: &Encoded) {
        let (call, batch, members) = match message.message::<ToWorker>() {
            Some(ToWorker::Run { call, batch }) => (*call, batch, 1),
            Some(ToWorker::Spread {
                call,
                batch,
                ranks: (lo, hi),
            }) => (*call, batch, (hi - lo).max(1) as usize),
            _ => return,
        };
        let bytes = message.len();
        let departs = self.now.max(self.out_free) + self.wire_time(bytes);
        self.out_free = departs;
        let arrives = departs + self.scenario.latency;
        // A packed batch (`Plan::Each`) holds its items in its one input; its output is
        // packed the same way: the echo of its input.
        let items = match (&batch.plan, batch.inputs.first()) {
            (Plan::Each(_), Some(input)) => input
                .clone()
                .decode::<Packed>()
                .map_or(1, |packed| packed.len()),
            // A fold of k inputs runs the task k - 1 times.
            _ if batch.fold => batch.inputs.len().saturating_sub(1).max(1),
            _ => batch.inputs.len(),
        };
        let mut work = Duration::ZERO;
        let mut longest = Duration::ZERO;
        for _ in 0..items {
            let u = self.random();
            let t = self.scenario.task.draw(u);
            longest = longest.max(t);
            work += t;
        }
        {
            let mut stats = self.stats.borrow_mut();
            stats.longest = stats.longest.max(longest);
        }
        let echo = |input: &Payload| match &batch.plan {
            Plan::Task { bound, .. } if !bound.is_empty() => bound.clone().then(input.clone()),
            _ => input.clone(),
        };
        let outputs: Vec<_> = if batch.fold {
            batch.inputs.iter().take(1).map(echo).map(Ok).collect()
        } else {
            batch.inputs.iter().map(echo).map(Ok).collect()
        };
        let reply = Reply {
            call,
            first: batch.first,
            outputs,
            busy_us: work.as_micros() as u64,
        };
        {
            let mut stats = self.stats.borrow_mut();
            stats.work += work;
            stats.bytes_out += bytes as u64;
            stats.messages += 1;
            stats.in_flight += bytes as u64;
            stats.peak_in_flight = stats.peak_in_flight.max(stats.in_flight);
        }
        // A spread: the members run their shares at once, after the span's items went down
        // the tree (a level per halving, each a message's latency, the bytes once over the
        // bandwidth); the answers come up the same levels, a fold folding at each.
        let work = if members > 1 {
            let depth = usize::BITS - (members - 1).leading_zeros();
            let share = work / members as u32;
            let mean = self.scenario.task.mean();
            let per_level =
                self.scenario.latency * 2 + if batch.fold { mean } else { Duration::ZERO };
            self.stats.borrow_mut().rounds += u64::from(depth);
            share + per_level * depth + self.wire_time(bytes)
        } else {
            work
        };
        let w = self.workers[rank as usize - 1];
        let starts = arrives.max(w.free_at);
        let finishes = starts + work;
        let sim = &mut self.workers[rank as usize - 1];
        match sim.first {
            None => sim.first = Some(starts),
            Some(_) => sim.gaps += starts - w.free_at,
        }
        sim.free_at = finishes;
        let alive_until = w.dies_at.unwrap_or(Duration::MAX);
        if let Some(period) = self.scenario.beat {
            let mut beat = starts + period;
            while beat < finishes.min(alive_until) {
                self.schedule(beat + self.scenario.latency, What::Beat { rank });
                beat += period;
            }
        }
        if finishes >= alive_until {
            return;
        }
        let reply = Encoded::new(ToDriver::Done(reply)).expect("a reply encodes");
        let ready = finishes + self.scenario.latency;
        self.schedule(
            ready,
            What::Ready {
                rank,
                reply,
                sent: bytes,
            },
        );
    }

    /// Replies that reached rank 0's interface by `until`, in the order they reached it,
    /// each cross it after the one before: they land then. In time order, and only up to
    /// the first other event, so that a reply sent later but due sooner is not held behind
    /// one due later.
    fn route(&mut self, until: Duration) {
        while let Some(Reverse(Due {
            at,
            what: What::Ready { .. },
            ..
        })) = self.events.peek()
        {
            let at = *at;
            if at > until {
                return;
            }
            let Some(Reverse(Due {
                what: What::Ready { rank, reply, sent },
                ..
            })) = self.events.pop()
            else {
                unreachable!("peeked");
            };
            let lands = at.max(self.in_free) + self.wire_time(reply.len());
            self.in_free = lands;
            self.schedule(lands, What::Reply { rank, reply, sent });
        }
    }

    /// The driver takes the reply `reply` from `rank`: it decodes it (charged) and pays
    /// its receive.
    fn take(&mut self, rank: i32, reply: Encoded, sent: usize) -> Incoming {
        let started = Instant::now();
        let decoded = if reply.blocks().next().is_none() {
            decode::<ToDriver>(reply.header(), rank).ok()
        } else {
            None
        };
        crate::wire::payload::take_due();
        let message = decoded.or_else(|| reply.message::<ToDriver>().cloned());
        let cost = started.elapsed() + self.scenario.receive_cost;
        self.charge(cost);
        {
            let mut stats = self.stats.borrow_mut();
            stats.bytes_in += reply.len() as u64;
            stats.messages += 1;
            stats.in_flight -= sent as u64;
        }
        Incoming {
            rank,
            message: message.ok_or_else(|| Error::Decode {
                rank,
                message: "a simulated reply that does not decode".into(),
            }),
        }
    }

    /// The next event due by `until`, if any; the clock moves to it.
    fn next_by(&mut self, until: Duration) -> Option<What> {
        let at = self.events.peek()?.0.at;
        if at > until {
            return None;
        }
        self.now = self.now.max(at);
        self.events.pop().map(|Reverse(due)| due.what)
    }
}

impl Drop for Network {
    /// The run is over (the queue that held the network is gone): files where the
    /// workers' idle time went, up to the makespan.
    fn drop(&mut self) {
        let makespan = self.now;
        let mut idle = [Duration::ZERO; 3];
        for w in &self.workers {
            let first = w.first.unwrap_or(makespan);
            idle[0] += first;
            idle[1] += w.gaps;
            idle[2] += makespan.saturating_sub(w.free_at.max(first));
        }
        self.stats.borrow_mut().idle = idle;
    }
}

impl Link for Network {
    fn workers(&self) -> usize {
        self.workers.len()
    }

    fn now(&self) -> Duration {
        self.now + self.left.elapsed()
    }

    fn send(&mut self, rank: i32, message: Encoded) {
        self.enter();
        self.charge(self.scenario.send_cost);
        self.deliver(rank, &message);
        self.leave();
    }

    fn receive(&mut self) -> Result<Incoming> {
        self.enter();
        let incoming = loop {
            self.route(Duration::MAX);
            match self.next_by(Duration::MAX) {
                Some(What::Reply { rank, reply, sent }) => break Ok(self.take(rank, reply, sent)),
                // Heartbeats are read by `beats`, which a queue without a time-out never
                // calls: dropped.
                Some(What::Beat { .. }) => continue,
                // `route` above moved every reply on top through the interface.
                Some(What::Ready { .. }) => unreachable!("a reply left at the interface"),
                None => {
                    break Err(Error::Usage(
                        "the simulated world has nothing left to answer: the driver waits \
                         for a reply that never comes"
                            .into(),
                    ))
                }
            }
        };
        self.leave();
        incoming
    }

    fn poll(&mut self, at_most: Duration) -> Result<Option<Incoming>> {
        self.enter();
        let until = self.now + at_most;
        self.route(until);
        // Beats due before the next reply stay queued for `beats`.
        let incoming = match self
            .events
            .peek()
            .map(|e| (e.0.at, matches!(e.0.what, What::Reply { .. })))
        {
            Some((at, true)) if at <= until => match self.next_by(until) {
                Some(What::Reply { rank, reply, sent }) => Some(self.take(rank, reply, sent)),
                _ => None,
            },
            Some((at, false)) if at <= until => {
                self.now = self.now.max(at);
                None
            }
            _ => {
                self.now = until;
                None
            }
        };
        self.leave();
        Ok(incoming)
    }

    fn beats(&mut self, heard: &mut dyn FnMut(i32)) {
        self.enter();
        self.route(self.now);
        while let Some(e) = self.events.peek() {
            if e.0.at > self.now || !matches!(e.0.what, What::Beat { .. }) {
                break;
            }
            if let Some(Reverse(Due {
                what: What::Beat { rank },
                ..
            })) = self.events.pop()
            {
                self.charge(self.scenario.receive_cost);
                heard(rank);
            }
        }
        self.leave();
    }

    fn flush(&mut self) {}

    fn gather_traces(&mut self) -> Result<Vec<(i32, Vec<u8>)>> {
        Ok(Vec::new())
    }

    fn abort(&mut self, code: i32) -> ! {
        panic!("the simulated job was ended with exit code {code}")
    }
}
