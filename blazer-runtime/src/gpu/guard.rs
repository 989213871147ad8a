//! Guarded cudarc calls: a call's own error or its panic becomes an [`Error::Gpu`].

use crate::error::{Error, Result};
use crate::exec::panic_message;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a guarded cudarc call failed: its own error, or a panic.
pub(super) enum GuardError<E> {
    /// The call returned this error.
    Call(E),
    /// The call panicked with this message.
    Panic(String),
}

impl<E: fmt::Display> GuardError<E> {
    /// The failure as an [`Error::Gpu`] that reads "cannot `what`: …".
    pub(super) fn into_error(self, what: impl fmt::Display) -> Error {
        match self {
            GuardError::Call(e) => Error::Gpu(format!("cannot {what}: {e}")),
            GuardError::Panic(m) => Error::Gpu(format!("cannot {what}: cudarc panicked: {m}")),
        }
    }
}

/// Runs a cudarc call, turning a panic (a missing symbol in an old driver, say) into an error.
pub(super) fn guarded<T, E>(
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, GuardError<E>> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(GuardError::Call),
        Err(payload) => Err(GuardError::Panic(panic_message(&*payload))),
    }
}

/// A guarded cudarc call whose failure reads "cannot `what`: …".
pub(super) fn cuda<T, E: fmt::Display>(
    what: impl fmt::Display,
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> Result<T> {
    guarded(f).map_err(|e| e.into_error(what))
}

/// An NVRTC compile error as text: NVRTC's result code and its log when it compiled badly.
pub(super) fn describe_compile_error(e: cudarc::nvrtc::CompileError) -> String {
    match e {
        cudarc::nvrtc::CompileError::CompileError { nvrtc, log, .. } => {
            format!("{nvrtc:?}:\n{}", log.to_string_lossy().trim_end())
        }
        other => other.to_string(),
    }
}
