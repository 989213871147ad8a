//! The global task registry: every `#[blazer::task]` submits one [`TaskEntry`] through
//! `inventory`, so each rank of the same binary can find a task by its [`TaskId`].

use crate::error::Error;
use crate::task::{fnv1a, Task, TaskId};
use crate::wire::payload::{ArgsIn, Payload};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Calls a task on its encoded input and returns its encoded output, or an error message.
pub(crate) type Invoke = fn(Payload) -> Result<Payload, String>;

/// One registered task, as collected by `inventory`.
#[derive(Debug)]
pub struct TaskEntry {
    /// Stable ID.
    pub id: TaskId,
    /// Full path of the function.
    pub name: &'static str,
    /// Signature as written.
    pub signature: &'static str,
    /// Type-erased entry point.
    pub(crate) invoke: Invoke,
    /// Where the task is defined, for duplicate reports.
    pub location: &'static str,
}

impl TaskEntry {
    /// The registry entry of task `T`, defined at `location` (`file:line`).
    pub const fn of<T: Task>(location: &'static str) -> TaskEntry {
        TaskEntry {
            id: T::ID,
            name: T::NAME,
            signature: T::SIGNATURE,
            invoke: invoke::<T>,
            location,
        }
    }
}

inventory::collect!(TaskEntry);

/// Decodes the input of `T`, runs it and encodes its output (a plain-data vector as it
/// lies: see [`crate::wire::payload`]).
fn invoke<T: Task>(input: Payload) -> Result<Payload, String> {
    let args: T::Input = T::join_input(&mut ArgsIn::new(input))
        .map_err(|e| format!("cannot decode the arguments of `{}`: {e}", T::NAME))?;
    let out = T::run(args)?;
    Payload::encode_owned(out)
        .map_err(|e| format!("cannot encode the result of `{}`: {e}", T::NAME))
}

/// The registry of this process, indexed by ID and checked for duplicates.
#[derive(Debug)]
pub(crate) struct Registry {
    by_id: HashMap<TaskId, &'static TaskEntry>,
    fingerprint: u64,
}

impl Registry {
    /// Builds the registry from `entries`, rejecting two entries with one ID.
    pub(crate) fn build(
        entries: impl IntoIterator<Item = &'static TaskEntry>,
    ) -> Result<Registry, Error> {
        let mut by_id: HashMap<TaskId, &'static TaskEntry> = HashMap::new();
        for e in entries {
            if let Some(prev) = by_id.insert(e.id, e) {
                return Err(Error::DuplicateTask(format!(
                    "`{}` ({}) and `{}` ({}) share the ID {:#018x}",
                    prev.name, prev.location, e.name, e.location, e.id.0
                )));
            }
        }
        let mut ids: Vec<u64> = by_id.keys().map(|id| id.0).collect();
        ids.sort_unstable();
        let fingerprint = ids
            .iter()
            .fold(0xcbf2_9ce4_8422_2325, |h, id| fnv1a(h, &id.to_le_bytes()));
        Ok(Registry { by_id, fingerprint })
    }

    /// The registry of all tasks linked into this binary (built once).
    pub(crate) fn global() -> Result<&'static Registry, Error> {
        static GLOBAL: OnceLock<Result<Registry, Error>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Registry::build(inventory::iter::<TaskEntry>))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Looks a task up by ID.
    pub(crate) fn get(&self, id: TaskId) -> Option<&'static TaskEntry> {
        self.by_id.get(&id).copied()
    }

    /// A hash of all task IDs: equal on two ranks iff they registered the same tasks.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// `name(signature)` of every task, sorted, to explain a fingerprint mismatch.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_id
            .values()
            .map(|e| format!("{} [{}]", e.name, e.signature))
            .collect();
        v.sort();
        v
    }
}

/// Explains how the task list `other` (run by `ranks`) differs from `ours` (rank 0's).
pub(crate) fn explain_difference(ours: &[String], ranks: &[i32], other: &[String]) -> String {
    let missing: Vec<&String> = ours.iter().filter(|t| !other.contains(t)).collect();
    let extra: Vec<&String> = other.iter().filter(|t| !ours.contains(t)).collect();
    let all: Vec<String> = ranks.iter().map(i32::to_string).collect();
    // Singular or plural verbs: "rank 3 runs", "ranks 1, 2 run".
    let (who, s) = match ranks {
        [_] => (format!("rank {}", all[0]), "s"),
        _ => (format!("ranks {}", all.join(", ")), ""),
    };
    let mut msg = format!("{who} run{s} a different binary than rank 0");
    if !missing.is_empty() {
        msg.push_str(&format!("; {who} lack{s} {}", join(&missing)));
    }
    if !extra.is_empty() {
        msg.push_str(&format!("; {who} add{s} {}", join(&extra)));
    }
    msg
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: Payload) -> Result<Payload, String> {
        Ok(Payload::default())
    }

    static A: TaskEntry = TaskEntry {
        id: TaskId(1),
        name: "a",
        signature: "fn()",
        invoke: ok,
        location: "a.rs:1",
    };
    static B: TaskEntry = TaskEntry {
        id: TaskId(2),
        name: "b",
        signature: "fn()",
        invoke: ok,
        location: "b.rs:2",
    };
    static A2: TaskEntry = TaskEntry {
        id: TaskId(1),
        name: "a2",
        signature: "fn()",
        invoke: ok,
        location: "c.rs:3",
    };

    #[test]
    fn fingerprint_ignores_order_and_duplicates_are_named() {
        let r1 = Registry::build([&A, &B]).unwrap();
        let r2 = Registry::build([&B, &A]).unwrap();
        assert_eq!(r1.fingerprint(), r2.fingerprint());
        assert_ne!(
            r1.fingerprint(),
            Registry::build([&A]).unwrap().fingerprint()
        );
        let err = Registry::build([&A, &B, &A2]).err().unwrap().to_string();
        assert!(err.contains("a.rs:1") && err.contains("c.rs:3"), "{err}");
    }

    #[test]
    fn difference_names_missing_and_extra_tasks() {
        let ours = vec!["x [fn()]".to_string(), "y [fn()]".to_string()];
        let other = vec!["y [fn()]".to_string(), "z [fn()]".to_string()];
        let msg = explain_difference(&ours, &[3], &other);
        assert_eq!(
            msg,
            "rank 3 runs a different binary than rank 0; rank 3 lacks `x [fn()]`; rank 3 adds `z [fn()]`"
        );
        assert!(explain_difference(&ours, &[1, 2], &other)
            .starts_with("ranks 1, 2 run a different binary"));
    }
}
