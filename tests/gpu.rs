//! The GPU example under `mpirun` and alone: the CPU-checked result where this machine has a
//! GPU, otherwise the clear no-GPU error (no panic, no hang), with a visible "skipped" line
//! for the real-GPU check.
//!
//! Build the example first (`cargo test --test gpu` alone does not):
//! `cargo build --features gpu --example dovectors && cargo test --features gpu --test gpu`.
#![cfg(feature = "gpu")]

mod common;
use common::{alone, example, mpirun, Run};

const ELEMENTS: usize = 5000;

/// Printed past libtest's capture, so the skip shows in a plain `cargo test`.
fn skip(why: &str) {
    common::notice("gpu", why);
}

fn dovectors() -> std::path::PathBuf {
    let exe = example("dovectors");
    assert!(
        exe.exists(),
        "{} is missing: run `cargo build --features gpu --example dovectors` first",
        exe.display()
    );
    exe
}

/// Checks a run of `dovectors ELEMENTS` that computed `blocks` blocks.
fn check(run: Run, blocks: usize) {
    match blazer::gpu_count() {
        Ok(n) if n > 0 => {
            let lines = run.ok_lines();
            let computed = lines.iter().filter(|l| l.starts_with("block of ")).count();
            assert_eq!(computed, blocks, "{lines:#?}");
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("MATCH: {ELEMENTS} elements"))),
                "{lines:#?}"
            );
        }
        no_gpu => {
            run.assert_failed();
            assert_eq!(run.code, Some(1), "a failed body exits 1: {run:#?}");
            let why = match &no_gpu {
                Err(_) => "no CUDA driver on ",
                Ok(_) => "the CUDA driver sees no device on ",
            };
            assert!(
                run.stderr
                    .contains(&format!("this task needs a GPU: GPU error: {why}")),
                "{run:#?}"
            );
            assert!(!run.stderr.contains("panicked"), "{run:#?}");
            skip(&format!(
                "the real-GPU run of dovectors: this machine has no GPU ({no_gpu:?}); \
                 checked the no-GPU error instead"
            ));
        }
    }
}

#[test]
fn dovectors_on_2_and_3_ranks() {
    let exe = dovectors();
    let n = ELEMENTS.to_string();
    check(mpirun(2, &exe, &[&n]), 1);
    check(mpirun(3, &exe, &[&n]), 2);
}

#[test]
fn dovectors_alone() {
    check(alone(&dovectors(), &[&ELEMENTS.to_string()]), 1);
}
