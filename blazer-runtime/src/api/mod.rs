//! The user API: typed flows and the primitives that run them, streams, shared variables and
//! the local pipe combinators. Everything here is re-exported at the crate root.

pub(crate) mod combinators;
pub(crate) mod dataset;
pub(crate) mod flow;
pub(crate) mod primitives;
pub(crate) mod shared;
pub(crate) mod stream;
