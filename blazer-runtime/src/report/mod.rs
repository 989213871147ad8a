//! `BLAZER_REPORT=path.html`: a self-contained HTML report of the run, written by the driver
//! at the end of the run and at SIGTERM: the task stream per rank, each rank's busy and idle
//! share, each call's progress and duration, the bytes the driver's link moved, memory per
//! rank over time, and the failures the driver saw.
//!
//! [`record`] gathers what only the driver sees (calls, bytes, failures) and every rank's
//! memory samples; the task spans are the trace's (`trace.rs`), gathered at shutdown with
//! the samples. [`html`] draws the page. With `BLAZER_REPORT` unset nothing is recorded:
//! each hook costs one relaxed atomic load.

pub(crate) mod html;
pub(crate) mod record;
