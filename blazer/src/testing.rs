//! The runtime side of `#[blazer::test]`: what its expansion calls. The launcher logic (which
//! launcher, its flags, the time limit, the per-rank report) is in the `blazer-launch` crate,
//! shared with `cargo blazer`.

use blazer_launch::test::{libtest_name, relaunch, role, Role};
use blazer_launch::SystemHost;
use blazer_runtime::DriverOutcome;
use std::process::ExitCode;
use std::time::Duration;

/// Runs the body of the `#[blazer::test]` whose path is `path` (`module_path!()::name`): as a
/// rank of the launched world when this process is one (the body on rank 0 under
/// [`crate::run`], the other ranks serving tasks), else by relaunching the test executable
/// on `ranks` ranks within `timeout`. Panics, failing the test, when the body fails on a rank
/// or the relaunched ranks do (with their report).
pub fn run<R: DriverOutcome>(path: &str, ranks: u32, timeout: Duration, body: impl FnOnce() -> R) {
    let test = libtest_name(path);
    match role(test, &SystemHost) {
        Role::Relaunch => {
            if let Err(report) = relaunch(test, ranks as usize, timeout) {
                panic!("{report}");
            }
        }
        Role::Rank => {
            let code = crate::run(body);
            if code != ExitCode::SUCCESS {
                panic!(
                    "blazer::test `{test}`: the body failed on rank {} of {} (its error or \
                     panic is above)",
                    blazer_runtime::rank(),
                    blazer_runtime::size()
                );
            }
        }
    }
}
