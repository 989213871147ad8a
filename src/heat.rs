//! The 1-D heat equation (3-point Jacobi stencil) as a dataset step, shared by the `heat`
//! example, the dataset tests and `blazer-dataset-bench`; and the same step serially, to
//! check the distributed field bit for bit.

use blazer::mpi::point_to_point::{Destination, Source};
use blazer::mpi::topology::{Communicator, SimpleCommunicator};
use blazer::Halo;

/// Tags of the halo swap of the hand-written baselines ([`swap_halos`]).
const TAG_TO_LEFT: i32 = 0x4EA1;
const TAG_TO_RIGHT: i32 = 0x4EA2;

/// The diffusion number, dt * alpha / dx^2 (stable up to 0.5).
pub const R: f64 = 0.25;

/// One step of a partition with its two halo cells, in place: each cell's old value is kept
/// in `prev` until its right neighbour has used it. Past an open border the field is 0.
#[blazer::task]
pub fn step(halo: Halo<f64>) -> Vec<f64> {
    let Halo {
        before,
        mut items,
        after,
    } = halo;
    let n = items.len();
    let mut prev = before.last().copied().unwrap_or(0.0);
    for i in 0..n {
        let cur = items[i];
        let next = match items.get(i + 1) {
            Some(&next) => next,
            None => after.first().copied().unwrap_or(0.0),
        };
        items[i] = cur + R * (prev - 2.0 * cur + next);
        prev = cur;
    }
    items
}

/// The same step over a whole field in one process, periodic or with 0 past both ends:
/// the same arithmetic in the same order.
pub fn serial_step(field: &[f64], periodic: bool) -> Vec<f64> {
    let n = field.len();
    (0..n)
        .map(|i| {
            let prev = match i {
                0 if periodic => field[n - 1],
                0 => 0.0,
                _ => field[i - 1],
            };
            let next = match i + 1 {
                j if j == n && periodic => field[0],
                j if j == n => 0.0,
                j => field[j],
            };
            field[i] + R * (prev - 2.0 * field[i] + next)
        })
        .collect()
}

/// One halo swap of the hand-written stencil the benchmarks time blazer against (plain
/// rsmpi on `world`): this rank's `first` cell goes to its left neighbour and its `last` to
/// its right, and theirs come back, `(left, right)`; 0 past either end of the world.
pub fn swap_halos(world: &SimpleCommunicator, first: f64, last: f64) -> (f64, f64) {
    let (rank, size) = (world.rank(), world.size());
    let (mut left_halo, mut right_halo) = (0.0f64, 0.0f64);
    blazer::mpi::request::scope(|scope| {
        let mut sends = Vec::new();
        if rank > 0 {
            let left = world.process_at_rank(rank - 1);
            sends.push(left.immediate_send_with_tag(scope, &first, TAG_TO_LEFT));
        }
        if rank + 1 < size {
            let right = world.process_at_rank(rank + 1);
            sends.push(right.immediate_send_with_tag(scope, &last, TAG_TO_RIGHT));
        }
        if rank > 0 {
            let left = world.process_at_rank(rank - 1);
            left.receive_into_with_tag(&mut left_halo, TAG_TO_RIGHT);
        }
        if rank + 1 < size {
            let right = world.process_at_rank(rank + 1);
            right.receive_into_with_tag(&mut right_halo, TAG_TO_LEFT);
        }
        for send in sends {
            send.wait();
        }
    });
    (left_halo, right_halo)
}
