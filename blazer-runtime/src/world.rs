//! Facts about the world: this process's rank, the world size, the hosts and nodes.
//! Outside `blazer::run` the process is a world of one.
//!
//! They are facts about the process, not about a thread: every thread of the process (threads
//! a task spawns, rayon's pool) sees the same rank. Each is written once, at start-up, before
//! any user code runs.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::RwLock;

static RANK: AtomicI32 = AtomicI32::new(0);
static SIZE: AtomicI32 = AtomicI32::new(1);
static LOCAL_RANK: AtomicI32 = AtomicI32::new(0);
static LOCAL_SIZE: AtomicI32 = AtomicI32::new(1);
static NODES: RwLock<Vec<i32>> = RwLock::new(Vec::new());
static HOSTS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static HOST: RwLock<String> = RwLock::new(String::new());

/// Reads a table; a panic while holding the lock cannot leave it half-written (each is
/// replaced whole), so a poisoned lock is read as it is.
fn read<T: Clone>(table: &RwLock<T>) -> T {
    table.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Looks into a table without copying it (a lookup costs the same at 10^5 ranks as at 4).
fn look<T, R>(table: &RwLock<T>, f: impl FnOnce(&T) -> R) -> R {
    f(&table.read().unwrap_or_else(|p| p.into_inner()))
}

fn write<T>(table: &RwLock<T>, value: T) {
    *table.write().unwrap_or_else(|p| p.into_inner()) = value;
}

/// Records this process's place in the world (called once at start-up).
pub(crate) fn init(rank: i32, size: i32, host: String) {
    RANK.store(rank, Ordering::Relaxed);
    SIZE.store(size, Ordering::Relaxed);
    write(&HOST, host);
}

/// Records this rank's place on its node: `(local_rank, local_size)` among the ranks that
/// share its memory (`MPI_Comm_split_type(SHARED)`).
pub(crate) fn init_node(local_rank: i32, local_size: i32) {
    LOCAL_RANK.store(local_rank, Ordering::Relaxed);
    LOCAL_SIZE.store(local_size, Ordering::Relaxed);
}

/// Records the node of every rank: `nodes[r]` is the lowest world rank on rank `r`'s node.
pub(crate) fn init_nodes(nodes: Vec<i32>) {
    write(&NODES, nodes);
}

/// Records the host name of every rank.
pub(crate) fn init_hosts(hosts: Vec<String>) {
    write(&HOSTS, hosts);
}

/// The host name of `rank` (this process's host for unknown ranks).
pub fn host_of(rank: i32) -> String {
    look(&HOSTS, |hosts| hosts.get(rank as usize).cloned()).unwrap_or_else(host)
}

/// The node of `rank`, named by the lowest world rank on it: two ranks share memory (one
/// host) exactly when `node_of` gives the same number. 0 for unknown ranks.
pub fn node_of(rank: i32) -> i32 {
    look(&NODES, |nodes| nodes.get(rank as usize).copied()).unwrap_or(0)
}

/// The ranks of each node, nodes in order of their lowest rank.
///
/// ```
/// assert_eq!(blazer_runtime::nodes(), vec![vec![0]]); // outside an MPI run: one rank
/// ```
pub fn nodes() -> Vec<Vec<i32>> {
    let table = read(&NODES);
    if table.is_empty() {
        return vec![vec![0]];
    }
    let mut out: Vec<(i32, Vec<i32>)> = Vec::new();
    for (rank, node) in table.iter().enumerate() {
        match out.iter_mut().find(|(n, _)| n == node) {
            Some((_, ranks)) => ranks.push(rank as i32),
            None => out.push((*node, vec![rank as i32])),
        }
    }
    out.into_iter().map(|(_, ranks)| ranks).collect()
}

/// This rank's index among the ranks on its node (0 outside an MPI run). Used to give each
/// rank of a node its own GPU.
pub fn local_rank() -> i32 {
    LOCAL_RANK.load(Ordering::Relaxed)
}

/// The number of ranks on this rank's node (1 outside an MPI run).
pub fn local_size() -> i32 {
    LOCAL_SIZE.load(Ordering::Relaxed)
}

/// This process's MPI rank (0 outside an MPI run).
///
/// ```
/// assert_eq!(blazer_runtime::rank(), 0);
/// ```
pub fn rank() -> i32 {
    RANK.load(Ordering::Relaxed)
}

/// The number of ranks in the world (1 outside an MPI run).
pub fn size() -> i32 {
    SIZE.load(Ordering::Relaxed)
}

/// True on rank 0, the driver that runs the body of `#[blazer::main]`.
pub fn is_root() -> bool {
    rank() == 0
}

/// The host name of this rank (MPI's processor name).
pub fn host() -> String {
    let h = read(&HOST);
    if h.is_empty() {
        std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
    } else {
        h
    }
}

/// Prints its arguments like `println!` (with a newline), on rank 0 only: the driver's
/// output, printed once however many ranks run.
///
/// ```
/// blazer_runtime::root_println!("result: {}", 42);
/// ```
#[macro_export]
macro_rules! root_println {
    ($($arg:tt)*) => {
        if $crate::is_root() {
            ::std::println!($($arg)*);
        }
    };
}
