//! Datasets' partitions on every rank: how they are held (`part`), the typed code of each
//! step (`kernel`), bytes rank to rank (`exchange`), and one step run here (`run`). The
//! driver's side, `Dataset<T>`, is `api/dataset.rs`.

pub(crate) mod exchange;
pub(crate) mod kernel;
pub(crate) mod part;
pub(crate) mod run;
