//! [`DataOp`]: one step of a dataset (`api/dataset.rs`) as it travels to every rank. Every
//! rank holds partition `rank` of every dataset (rank 0 too), so one op names datasets, not
//! partitions, and reads the same on every rank; what differs per rank (a scattered chunk)
//! is the batch's input. `dist/run.rs` runs it. It holds only small values: its items travel as
//! the batch's input.

use serde::{Deserialize, Serialize};

/// A dataset's ID, the same on every rank; chosen by the driver, never reused in a run.
pub(crate) type DataId = u64;

/// Where a kernel's descriptor lies, as its distance from an anchor in the program image:
/// the same on every rank of one build (the start-up handshake checks the build). Resolved,
/// and checked, by `dist/kernel.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KernelRef(pub(crate) i64);

/// How a partition at the edge of a [`DataOp::Window`] sees past its border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Edge {
    /// The last partition's neighbour is the first, and the other way round.
    Periodic,
    /// Nothing lies past the first and the last partition.
    Open,
}

/// A [`DataOp`] and the ranks that hold the dataset's partitions: partition `i` on rank
/// `members[i]`. `None`: every rank, partition `p` on rank `p` (no rank was lost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DataStep {
    /// The ranks of the partitions, in partition order (rank 0 first), when not every rank.
    pub(crate) members: Option<Vec<i32>>,
    /// The step.
    pub(crate) op: DataOp,
}

/// One step on every rank's partition. `consume`: the driver held the last handle of `src`,
/// so the step takes the partition over instead of copying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DataOp {
    /// The batch's input is this rank's partition of `dst`, encoded as a `Vec`.
    Put {
        /// The new dataset.
        dst: DataId,
        /// Decodes the partition when a typed step needs it.
        kernel: KernelRef,
    },
    /// Partition `rank` of `dst` is the kernel's task over this rank's share of `0..total`.
    Generate {
        /// The new dataset.
        dst: DataId,
        /// `Body::Generate`.
        kernel: KernelRef,
        /// How many items in all.
        total: u64,
    },
    /// `dst`'s partition is the kernel's transform of `src`'s (map, filter, flat_map,
    /// map_partitions).
    Transform {
        /// The dataset read.
        src: DataId,
        /// The new dataset.
        dst: DataId,
        /// Take `src`'s partition over.
        consume: bool,
        /// `Body::Transform`.
        kernel: KernelRef,
    },
    /// As `Transform`, the task also seeing `halo` items of each neighbour partition, sent
    /// rank to rank.
    Window {
        /// The dataset read.
        src: DataId,
        /// The new dataset.
        dst: DataId,
        /// Take `src`'s partition over.
        consume: bool,
        /// `Body::Window`.
        kernel: KernelRef,
        /// Items seen on each side.
        halo: u64,
        /// What lies past the first and last partitions.
        edge: Edge,
    },
    /// Every item moves to the partition its key hashes to, rank to rank (group_by_key,
    /// reduce_by_key).
    Shuffle {
        /// The dataset read.
        src: DataId,
        /// The new dataset.
        dst: DataId,
        /// Take `src`'s partition over.
        consume: bool,
        /// `Body::Shuffle`.
        kernel: KernelRef,
    },
    /// Items move rank to rank so that the partitions' lengths differ by at most one, in
    /// order.
    Rebalance {
        /// The dataset read.
        src: DataId,
        /// The new dataset.
        dst: DataId,
        /// Take `src`'s partition over.
        consume: bool,
        /// Decodes `src`'s partitions.
        kernel: KernelRef,
    },
    /// Folds every partition, then the partitions' results up a binomial tree of the ranks
    /// to rank 0, in partition order. `kernel: None` counts.
    Fold {
        /// The dataset read.
        src: DataId,
        /// `Body::Fold`, or `None` to count the items.
        kernel: Option<KernelRef>,
        /// The fold's first value, encoded (empty for a reduce or a count).
        #[serde(with = "serde_bytes")]
        zero: Vec<u8>,
    },
    /// The first `limit` items of this rank's partition, encoded as a `Vec` (all of them
    /// when `None`).
    Read {
        /// The dataset read.
        src: DataId,
        /// Decodes and encodes `src`'s partition.
        kernel: KernelRef,
        /// How many items at most.
        limit: Option<u64>,
    },
    /// Forget these datasets' partitions.
    Free {
        /// The datasets.
        ids: Vec<DataId>,
    },
}
