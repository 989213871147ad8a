//! The job side: what a program submitted as a [`crate::Job`] calls to read its input and
//! write its result. The job's batch script sets `BLAZER_JOB_INPUT` and `BLAZER_JOB_OUTPUT`.

use crate::error::{ClusterError, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::PathBuf;

/// Names the file that holds the job's input (JSON).
pub const INPUT_VAR: &str = "BLAZER_JOB_INPUT";
/// Names the file the job writes its result to (JSON).
pub const OUTPUT_VAR: &str = "BLAZER_JOB_OUTPUT";

fn path(var: &str) -> Result<PathBuf> {
    std::env::var_os(var).map(PathBuf::from).ok_or_else(|| {
        ClusterError::Usage(format!(
            "{var} is not set: this program is not running as a blazer cluster job"
        ))
    })
}

/// Whether this process runs as a blazer cluster job (its batch script set
/// `BLAZER_JOB_INPUT`). Lets one binary be both the driver and the remote job.
pub fn is_job() -> bool {
    std::env::var_os(INPUT_VAR).is_some()
}

/// Reads and decodes the job's input.
pub fn input<T: DeserializeOwned>() -> Result<T> {
    let p = path(INPUT_VAR)?;
    let text = std::fs::read(&p)
        .map_err(|e| ClusterError::Io(format!("cannot read the job input {}: {e}", p.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| ClusterError::Serde(format!("job input {}: {e}", p.display())))
}

/// Encodes and writes the job's result, atomically (a partial file is never seen).
pub fn output<T: Serialize>(value: &T) -> Result<()> {
    let p = path(OUTPUT_VAR)?;
    let bytes = serde_json::to_vec(value).map_err(|e| ClusterError::Serde(e.to_string()))?;
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &p))
        .map_err(|e| ClusterError::Io(format!("cannot write the job result {}: {e}", p.display())))
}

/// Reads the input, applies `f`, writes the result: the whole job side of a job.
pub fn serve<I: DeserializeOwned, O: Serialize>(f: impl FnOnce(I) -> O) -> Result<()> {
    output(&f(input()?))
}
