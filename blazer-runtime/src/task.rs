//! The [`Task`] trait that `#[blazer::task]` implements, and stable task IDs.

use serde::{de::DeserializeOwned, Serialize};

/// A stable identifier of a task: a 64-bit FNV-1a hash of its full path and signature.
///
/// It depends only on the source (not on link order), so it is identical on every rank of the
/// same binary, and it changes when the task's signature changes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TaskId(pub u64);

impl TaskId {
    /// Hashes a task's full name and signature into its ID (usable in `const` context).
    pub const fn of(name: &str, signature: &str) -> TaskId {
        let h = fnv1a(0xcbf2_9ce4_8422_2325, name.as_bytes());
        let h = fnv1a(h, b"|");
        TaskId(fnv1a(h, signature.as_bytes()))
    }
}

/// FNV-1a over `bytes`, continuing from `hash`.
pub(crate) const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// A function that every rank can run by ID. Implemented by `#[blazer::task]` on a marker
/// type that has the same name as the function; you never implement it by hand.
///
/// The arguments travel as one value, [`Task::Input`]: `()` for no argument, the argument itself
/// for one, and a tuple for several. [`Task::Head`] and [`Task::Last`] split the arguments for
/// partial application: everything but the last argument, and the last one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a blazer task",
    label = "not a task",
    note = "annotate the function with `#[blazer::task]` to make it a task"
)]
pub trait Task: 'static {
    /// All arguments as one value (`()`, `A`, or `(A, B, ...)`).
    type Input: Serialize + DeserializeOwned + 'static;
    /// What the task returns (the `T` of a `Result<T, E>` for fallible tasks).
    type Output: Serialize + DeserializeOwned + 'static;
    /// Every argument but the last (`()`, `A` or `(A, B, ...)`), bound by [`crate::partial`].
    type Head: Serialize + 'static;
    /// The last argument, supplied by the stage before in a pipeline.
    type Last: Serialize + DeserializeOwned + 'static;
    /// The number of arguments.
    const ARITY: usize;
    /// The full path of the function, `module::path::name`.
    const NAME: &'static str;
    /// The signature as written, e.g. `fn(i64, i64) -> i64`.
    const SIGNATURE: &'static str;
    /// The stable ID derived from [`Task::NAME`] and [`Task::SIGNATURE`].
    const ID: TaskId = TaskId::of(Self::NAME, Self::SIGNATURE);
    /// Calls the function. `Err` carries a fallible task's error, rendered with `Display`.
    fn run(input: Self::Input) -> Result<Self::Output, String>;

    /// Hands the arguments to `sink` one by one, so that each travels in its own form (a
    /// `Vec<f64>` as its memory, even beside other arguments). The default hands over the
    /// input as one value; `#[blazer::task]` writes one for two arguments or more.
    #[doc(hidden)]
    fn split_input<S: ArgSink>(input: Self::Input, sink: &mut S) -> Result<(), String> {
        sink.arg(input)
    }

    /// Like [`Task::split_input`] for the bound leading arguments ([`Task::Head`]).
    #[doc(hidden)]
    fn split_head<S: ArgSink>(head: Self::Head, sink: &mut S) -> Result<(), String> {
        sink.arg(head)
    }

    /// Takes the arguments back from `source`: one by one when it holds them as separate
    /// pieces (see [`Task::split_input`]), else as one value.
    #[doc(hidden)]
    fn join_input<S: ArgSource>(source: &mut S) -> Result<Self::Input, String> {
        source.whole()
    }
}

/// Where a task's arguments go one by one as they are encoded (see [`Task::split_input`]).
#[doc(hidden)]
pub trait ArgSink {
    /// Encodes the next argument.
    fn arg<A: Serialize + 'static>(&mut self, arg: A) -> Result<(), String>;
}

/// Where a task's arguments come from one by one as they are decoded (see
/// [`Task::join_input`]).
///
/// The pieces only say where to cut the encoded tuple, so an argument must use its piece
/// exactly: one that does not (a cut that does not fit the types) is read, with the arguments
/// after it, from the bytes in sequence, as the whole tuple is. Either way the task gets the
/// tuple that was sent, or an error; never another value.
#[doc(hidden)]
pub trait ArgSource {
    /// How many separate pieces the encoded arguments are in: one per argument when they
    /// travelled apart.
    fn pieces(&self) -> usize;
    /// Decodes the next argument: its piece, all of it (see the trait's docs). Taken as many
    /// times as [`ArgSource::pieces`] says, the last argument ends where the bytes do.
    fn arg<A: DeserializeOwned + 'static>(&mut self) -> Result<A, String>;
    /// Decodes everything left as one value, which must use every byte.
    fn whole<T: DeserializeOwned + 'static>(&mut self) -> Result<T, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_depends_on_name_and_signature() {
        let a = TaskId::of("app::f", "fn(i64) -> i64");
        assert_eq!(a, TaskId::of("app::f", "fn(i64) -> i64"));
        assert_ne!(a, TaskId::of("app::g", "fn(i64) -> i64"));
        assert_ne!(a, TaskId::of("app::f", "fn(i32) -> i64"));
        // Known FNV-1a value of the empty input.
        assert_eq!(fnv1a(0xcbf2_9ce4_8422_2325, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(0xcbf2_9ce4_8422_2325, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
