//! The ledger of skipped checks (`scripts/lib/skips.sh`): `scripts/test.sh` counts what the
//! tests left out, and under `BLAZER_STRICT_SKIPS=1` (CI) a skip of a kind CI must run fails.

use std::path::Path;
use std::process::Command;

/// Runs `skips_report` over a ledger holding `lines`; returns its exit code and output.
fn report(lines: &str, strict: bool) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#". scripts/lib/skips.sh && printf "$LINES" > "$BLAZER_SKIP_LOG" && skips_report; rc=$?; rm -f "$BLAZER_SKIP_LOG"; exit $rc"#)
        .current_dir(root)
        .env("LINES", lines)
        .env("BLAZER_STRICT_SKIPS", if strict { "1" } else { "0" })
        .env_remove("BLAZER_ALLOWED_SKIPS")
        .output()
        .expect("run bash");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_count_of_skipped_checks_is_printed() {
    let (code, text) = report("memory\\ta_test\\tless than 12 GiB\\n", false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("blazer tests: 1 check(s) skipped"), "{text}");
    assert!(text.contains("memory: a_test: less than 12 GiB"), "{text}");
    let (code, text) = report("", true);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("blazer tests: 0 check(s) skipped"), "{text}");
}

#[test]
fn strict_runs_fail_on_a_skip_they_must_not_make() {
    for must_run in [
        "memory",
        "ranks",
        "cluster",
        "multihost",
        "launcher",
        "browser",
    ] {
        let (code, text) = report(&format!("{must_run}\\tt\\twhy\\n"), true);
        assert_eq!(code, 1, "{must_run}: {text}");
        assert!(text.contains("must not skip"), "{text}");
    }
    // No GPU in CI, and MPICH's runs of at most 2 ranks by design.
    let allowed = "gpu\\tt\\tno GPU\\nmpich:ranks\\tt\\t3 ranks\\nmpich:launcher\\tt\\tHydra\\n";
    let (code, text) = report(allowed, true);
    assert_eq!(code, 0, "{text}");
}
