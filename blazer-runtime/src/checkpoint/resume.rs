//! Checkpointed calls (`BLAZER_CHECKPOINT`): each primitive looks its items up in the log
//! first, runs only those it does not find, and records the others' outputs as their batches
//! finish (`checkpoint/log.rs`, keyed as `checkpoint/key.rs` says). Outputs read back are the bytes the tasks produced, so a resumed
//! call returns exactly what an uninterrupted one would.

use crate::checkpoint::key::{call_key, input_hash, inputs_hash, CheckpointKey};
use crate::checkpoint::log;
use crate::driver::dispatch::{self, Submitted};
use crate::driver::queue::{Observer, Placement, Slot};
use crate::error::Result;
use crate::wire::codec::encode;
use crate::wire::message::SubmissionId;
use crate::wire::payload::Payload;
use crate::wire::plan::{Batch, Plan};
use crate::world;
use std::sync::Arc;

/// The rank a restored slot is said to come from: the driver, which read it.
const RESTORED: i32 = 0;

/// The key of a new call of `primitive` running `plan`, when this call is checkpointed: a log
/// is open, this is the driver's main thread, and no task is running here.
pub(crate) fn begin(primitive: &str, plan: &Plan) -> Option<CheckpointKey> {
    let seq = crate::checkpoint::session::next_sequence()?;
    // The build identity the log was opened for (never 0: without one it is not opened).
    let build = log::build()?;
    // A plan that cannot be encoded cannot run either; its call fails without a checkpoint.
    let plan = encode(plan).ok()?;
    Some(call_key(build, primitive, seq, &plan))
}

/// Items of a call split into those the log holds and those to run.
struct Lookup {
    /// Per item: its slot when the log held it.
    slots: Vec<Option<Slot>>,
    /// The inputs to run.
    todo: Vec<Payload>,
    /// For each input to run: its index in the call and its hash.
    keys: Arc<[(u64, u128)]>,
}

fn lookup(key: CheckpointKey, inputs: Vec<Payload>) -> Lookup {
    if !key.has_outputs() {
        // A call the log knows nothing of (a first run): no lookup per item.
        let keys = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (i as u64, input_hash(input)))
            .collect();
        return Lookup {
            slots: vec![None; inputs.len()],
            todo: inputs,
            keys,
        };
    }
    let mut slots = Vec::with_capacity(inputs.len());
    let mut todo = Vec::new();
    let mut keys = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let hash = input_hash(&input);
        match key.restore(i as u64, hash) {
            Some(out) => slots.push(Some((RESTORED, Ok(Payload::from(out))))),
            None => {
                slots.push(None);
                todo.push(input);
                keys.push((i as u64, hash));
            }
        }
    }
    Lookup {
        slots,
        todo,
        keys: keys.into(),
    }
}

/// Records the successful outputs it is told, slot `k` of the call being the item `keys[k]`.
fn recorder(key: CheckpointKey, keys: Arc<[(u64, u128)]>) -> Observer {
    Box::new(move |first, outputs| {
        let done: Vec<(u64, u128, Vec<u8>)> = outputs
            .iter()
            .enumerate()
            .filter_map(|(i, out)| {
                let (index, hash) = keys[first as usize + i];
                out.as_ref()
                    .ok()
                    .map(|payload| (index, hash, payload.to_vec()))
            })
            .collect();
        key.record(done.iter().map(|(i, h, bytes)| (*i, *h, &bytes[..])))
    })
}

/// Puts the slots that ran (in the order of `keys`) among those restored.
fn merge(mut slots: Vec<Option<Slot>>, keys: &[(u64, u128)], ran: Vec<Slot>) -> Vec<Slot> {
    for ((index, _), slot) in keys.iter().zip(ran) {
        slots[*index as usize] = Some(slot);
    }
    slots
        .into_iter()
        .map(|s| s.expect("every item restored or run"))
        .collect()
}

/// The default batch size of a checkpointed `map` over `n` items: smaller batches than
/// without a checkpoint (32 per worker instead of 4), since a killed run loses the batches in
/// flight, at most two per worker.
pub(crate) fn map_batch(n: usize, workers: usize) -> usize {
    n.div_ceil(workers.max(1) * 32).max(1)
}

/// The items one fold of a `reduce` level folds: one block per worker, or with a checkpoint
/// (`checkpointed`) eight per worker, so that a killed run loses less than a whole level.
/// The task is associative, so the shape of the tree does not change the result.
pub(crate) fn reduce_block(n: usize, workers: usize, checkpointed: bool) -> usize {
    let per_worker = if checkpointed { 8 } else { 1 };
    n.div_ceil(workers.max(1) * per_worker).max(2)
}

/// A checkpointed `map` of `plan` over `inputs` in batches of `batch` items: each item the
/// log holds is restored, the others run.
pub(crate) fn map(
    key: CheckpointKey,
    plan: &Plan,
    inputs: Vec<Payload>,
    batch: usize,
) -> Result<Vec<Slot>> {
    let found = lookup(key, inputs);
    if found.todo.is_empty() {
        return Ok(merge(found.slots, &[], Vec::new()));
    }
    let m = found.todo.len();
    let batches = Batch::cut(0, plan, found.todo, batch);
    let ran = dispatch::run_observed("map", m, batches, recorder(key, Arc::clone(&found.keys)))?;
    Ok(merge(found.slots, &found.keys, ran))
}

/// A checkpointed `scatter`: the items the log lacks are split into one block per rank.
pub(crate) fn scatter(key: CheckpointKey, plan: &Plan, inputs: Vec<Payload>) -> Result<Vec<Slot>> {
    let found = lookup(key, inputs);
    if found.todo.is_empty() {
        return Ok(merge(found.slots, &[], Vec::new()));
    }
    let (own, placed, outputs, split) = scatter_blocks(plan, found.todo);
    let ours = recorder(key, Arc::from(&found.keys[..split]));
    let theirs = recorder(key, Arc::from(&found.keys[split..]));
    let ran = dispatch::run_here_and_there_observed(
        own,
        placed,
        outputs,
        "scatter",
        Some((ours, theirs)),
    )?;
    Ok(merge(found.slots, &found.keys, ran))
}

/// One contiguous block of `inputs` per rank, the driver's first: the driver's batch, the
/// others (each on its rank, moved if that rank is lost, in batches of at most about
/// [`crate::wire::plan::BATCH_BYTES`]), how many slots the others fill, and the length of the
/// driver's block.
pub(crate) fn scatter_blocks(
    plan: &Plan,
    inputs: Vec<Payload>,
) -> (Batch, Vec<(Placement, Batch)>, usize, usize) {
    let n = inputs.len();
    let ranks = world::size().max(1) as usize;
    let bounds: Vec<usize> = (0..=ranks).map(|k| k * n / ranks).collect();
    let mut blocks = inputs.into_iter();
    let own = Batch::map(0, plan.clone(), blocks.by_ref().take(bounds[1]).collect());
    let placed = (1..ranks)
        .flat_map(|k| {
            let inputs = blocks.by_ref().take(bounds[k + 1] - bounds[k]).collect();
            Batch::cut(bounds[k] - bounds[1], plan, inputs, usize::MAX)
                .into_iter()
                .map(move |b| (Placement::Prefer(k as i32), b))
        })
        .collect();
    (own, placed, n - bounds[1], bounds[1])
}

/// The folds of one level of a checkpointed `reduce`: fold `j` of level `level` is item
/// `level << 40 | j` of the call, its input hash that of all the items it folds.
pub(crate) fn folds(key: CheckpointKey, level: u64, folds: Vec<Batch>) -> Result<Vec<Slot>> {
    let mut slots = Vec::with_capacity(folds.len());
    let mut todo = Vec::new();
    let mut keys = Vec::new();
    for (j, mut fold) in folds.into_iter().enumerate() {
        let index = (level << 40) | j as u64;
        let hash = inputs_hash(&fold.inputs);
        match key.restore(index, hash) {
            Some(out) => slots.push(Some((RESTORED, Ok(Payload::from(out))))),
            None => {
                slots.push(None);
                fold.first = todo.len() as u64;
                todo.push(fold);
                keys.push((index, hash));
            }
        }
    }
    if todo.is_empty() {
        return Ok(merge(slots, &[], Vec::new()));
    }
    // The keys' indices say where each output goes back: within this level, fold `j`.
    let level_keys: Vec<(u64, u128)> = keys
        .iter()
        .map(|(i, h)| (i & ((1 << 40) - 1), *h))
        .collect();
    let ran = dispatch::run_observed("reduce", todo.len(), todo, recorder(key, keys.into()))?;
    Ok(merge(slots, &level_keys, ran))
}

/// The checkpoint of a `stream` (or of a `map`, which runs as one): its call key, its
/// primitive, and how many items it has pulled.
#[derive(Debug)]
pub(crate) struct StreamCheckpoint {
    key: CheckpointKey,
    label: &'static str,
    pulled: u64,
}

impl StreamCheckpoint {
    /// The checkpoint of a new stream with key `key`, run by primitive `label`.
    pub(crate) fn new(key: CheckpointKey, label: &'static str) -> StreamCheckpoint {
        StreamCheckpoint {
            key,
            label,
            pulled: 0,
        }
    }

    /// Counts an item that took a place in the output without running (an upstream error).
    pub(crate) fn skip(&mut self) {
        self.pulled += 1;
    }

    /// Runs the next batch of the stream, `inputs` under `plan`: its slots from the log when
    /// it holds every item of it, else the batch as submitted, recorded as it finishes.
    pub(crate) fn submit(&mut self, plan: Plan, inputs: Vec<Payload>) -> Result<Submitted> {
        let first = self.pulled;
        self.pulled += inputs.len() as u64;
        let keys: Vec<(u64, u128)> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (first + i as u64, input_hash(input)))
            .collect();
        let restored: Option<Vec<Slot>> = keys
            .iter()
            .map(|(index, hash)| {
                self.key
                    .restore(*index, *hash)
                    .map(|o| (RESTORED, Ok(Payload::from(o))))
            })
            .collect();
        if let Some(slots) = restored {
            return Ok(Submitted::Inline(slots));
        }
        let n = inputs.len();
        let batch = Batch::map(0, plan, inputs);
        let submitted = dispatch::submit(self.label, n, vec![(Placement::AnyWorker, batch)])?;
        let mut record = recorder(self.key, keys.into());
        match &submitted {
            Submitted::Remote(call) => observe(*call, record),
            Submitted::Inline(slots) => {
                let outputs: Vec<_> = slots.iter().map(|(_, r)| r.clone()).collect();
                record(0, &outputs);
            }
        }
        Ok(submitted)
    }
}

fn observe(call: SubmissionId, observer: Observer) {
    dispatch::observe(call, observer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_slots_keep_the_input_order() {
        let p = |b: u8| Payload::from(vec![b]);
        let slots = vec![Some((0, Ok(p(0)))), None, Some((0, Ok(p(2)))), None];
        let ran = vec![(1, Ok(p(1))), (2, Ok(p(3)))];
        let merged = merge(slots, &[(1, 0), (3, 0)], ran);
        let values: Vec<u8> = merged
            .iter()
            .map(|(_, r)| r.as_ref().unwrap().to_vec()[0])
            .collect();
        assert_eq!(values, [0, 1, 2, 3]);
        assert_eq!(merged[1].0, 1);
    }

    #[test]
    fn a_checkpointed_map_cuts_smaller_batches() {
        assert_eq!(map_batch(10_000, 3), 105);
        assert_eq!(map_batch(5, 4), 1);
        assert_eq!(map_batch(0, 4), 1);
        assert_eq!(reduce_block(10_000, 2, false), 5000);
        assert_eq!(reduce_block(10_000, 2, true), 625);
        assert_eq!(reduce_block(3, 2, true), 2);
    }
}
