//! `cargo blazer run` and `cargo blazer test`: build, then launch under the launcher of the
//! MPI the executable links (chosen by `blazer-launch`, as `#[blazer::test]` chooses it).

use crate::args::{Run, Target, Test};
use crate::build::{build, Artifact};
use blazer_launch::output::Piece;
use blazer_launch::test::{report, Verdict};
use blazer_launch::{choose, linked_mpi, supervise, Launcher, Options, SystemHost};
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The executable `run` launches among those cargo built: the one `--bin`/`--example` named,
/// else the only binary.
pub(crate) fn pick<'a>(
    built: &'a [Artifact],
    target: Option<&Target>,
) -> Result<&'a Artifact, String> {
    fn of_kind<'a>(built: &'a [Artifact], kind: &'a str) -> impl Iterator<Item = &'a Artifact> {
        built
            .iter()
            .filter(move |a| !a.test && a.kinds.iter().any(|k| k == kind))
    }
    match target {
        Some(Target::Bin(name)) | Some(Target::Example(name)) => {
            let kind = if matches!(target, Some(Target::Bin(_))) {
                "bin"
            } else {
                "example"
            };
            of_kind(built, kind)
                .find(|a| &a.name == name)
                .ok_or_else(|| format!("cargo built no {kind} named `{name}`"))
        }
        None => {
            let bins: Vec<&Artifact> = of_kind(built, "bin").collect();
            match bins.as_slice() {
                [one] => Ok(one),
                [] => Err("cargo built no binary: pass `--bin NAME` or `--example NAME`".into()),
                many => Err(format!(
                    "cargo built several binaries ({}): pick one with `--bin NAME`",
                    many.iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
}

/// The launcher for `exe`: from the MPI it links. The error names what is missing.
fn launcher_for(exe: &Path) -> Result<Launcher, String> {
    if !exe.is_file() {
        return Err(format!("the executable {} is not there", exe.display()));
    }
    let linked = linked_mpi(exe).unwrap_or_else(|why| {
        eprintln!("cargo-blazer: {why}; looking for any MPI launcher");
        None
    });
    choose(linked, &SystemHost).map_err(|e| e.to_string())
}

/// `cargo blazer run`: builds, prints the launch command on stderr, launches, and returns the
/// launcher's exit code.
pub(crate) fn run(args: &Run) -> i32 {
    let built = match build(&["build"], &args.cargo) {
        Ok(built) => built,
        Err(code) => return code,
    };
    let exe = match pick(&built, args.target.as_ref()) {
        Ok(a) => a.executable.clone(),
        Err(why) => return fail(&why),
    };
    let launcher = match launcher_for(&exe) {
        Ok(l) => l,
        Err(why) => return fail(&why),
    };
    let program: Vec<OsString> = args.program.iter().map(OsString::from).collect();
    let plan = launcher.plan(&Options::here(args.ranks), &relative(&exe), &program);
    eprintln!("cargo-blazer: running `{plan}`");
    match plan.command().status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => fail(&format!("cannot run {}: {e}", plan.program.display())),
    }
}

/// `path` relative to the current directory when it is inside it: shorter to read.
fn relative(path: &Path) -> std::path::PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}

fn fail(why: &str) -> i32 {
    eprintln!("cargo-blazer: error: {why}");
    1
}

/// The tests of a test executable, as its harness lists them with `harness` (filters,
/// `--ignored`, ...): `name: test` lines.
fn list(exe: &Path, dir: &Path, harness: &[String], extra: &[&str]) -> Result<Vec<String>, String> {
    let out = Command::new(exe)
        .current_dir(dir)
        .args(["--list", "--format", "terse"])
        .args(extra)
        .args(harness)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} --list` failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(tests_in_list(&String::from_utf8_lossy(&out.stdout)))
}

/// The test names in a harness's `--list --format terse` output.
pub(crate) fn tests_in_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(String::from)
        .collect()
}

/// Rank 0's text as shown: without the harness's own lines of a one-test run (`running 1
/// test`, `test NAME ... `, `ok`, the summary), which a launcher may cut in pieces. `None` when
/// nothing is left.
pub(crate) fn shown_text<'a>(name: &str, text: &'a str) -> Option<&'a str> {
    let text = text
        .strip_prefix("test ")
        .and_then(|t| t.strip_prefix(name))
        .and_then(|t| t.strip_prefix(" ... "))
        .unwrap_or(text);
    let t = text.trim();
    let noise = t.is_empty()
        || t == "running 1 test"
        || t == "ok"
        || t == "FAILED"
        || t == "ignored"
        || t.starts_with("test result: ")
        || t == "test result:"
        || t.starts_with("ok. ")
        || t.starts_with("FAILED. ");
    (!noise).then_some(text)
}

/// `cargo blazer test`: builds the tests, then runs each test of each test executable under
/// the launcher on N ranks, one at a time (`--exact NAME`), showing rank 0's output as it
/// comes and every rank's output for the tests that fail. Returns 0 when all pass.
pub(crate) fn test(args: &Test) -> i32 {
    let built = match build(&["test", "--no-run"], &args.cargo) {
        Ok(built) => built,
        Err(code) => return code,
    };
    let exes: Vec<&Artifact> = built.iter().filter(|a| a.test).collect();
    let asked_ignored = args
        .harness
        .iter()
        .any(|a| a == "--ignored" || a == "--include-ignored");
    let run_flags: Vec<&str> = ["--ignored", "--include-ignored"]
        .into_iter()
        .filter(|f| args.harness.iter().any(|a| a == f))
        .collect();
    let (mut passed, mut failed, mut ignored) = (0usize, Vec::new(), 0usize);
    for exe in exes {
        let launcher = match launcher_for(&exe.executable) {
            Ok(l) => l,
            Err(why) => return fail(&why),
        };
        let listed = list(&exe.executable, &exe.package_dir, &args.harness, &[]);
        let skipped = if asked_ignored {
            Ok(Vec::new())
        } else {
            list(
                &exe.executable,
                &exe.package_dir,
                &args.harness,
                &["--ignored"],
            )
        };
        let (tests, skipped) = match (listed, skipped) {
            (Ok(t), Ok(s)) => (t, s),
            (Err(why), _) | (_, Err(why)) => return fail(&why),
        };
        if tests.is_empty() {
            continue;
        }
        eprintln!(
            "cargo-blazer: {} ({} tests) on {} ranks",
            relative(&exe.executable).display(),
            tests.len(),
            args.ranks
        );
        for name in tests {
            if skipped.contains(&name) {
                println!("test {name} ... ignored");
                ignored += 1;
                continue;
            }
            let mut opts = Options::here(args.ranks);
            opts.tag_output = true;
            let mut harness: Vec<OsString> = ["--exact", &name, "--nocapture", "--test-threads=1"]
                .iter()
                .map(OsString::from)
                .collect();
            harness.extend(run_flags.iter().map(OsString::from));
            let plan = launcher.plan(&opts, &exe.executable, &harness);
            let mut cmd = plan.command();
            cmd.current_dir(&exe.package_dir)
                .env("CARGO_MANIFEST_DIR", &exe.package_dir);
            let shown = |stderr: bool, piece: &Piece| {
                if piece.rank != Some(0) {
                    return;
                }
                match shown_text(&name, &piece.text) {
                    Some(text) if stderr => eprintln!("{text}"),
                    Some(text) => println!("{text}"),
                    None => {}
                }
            };
            let finished = match supervise(cmd, launcher.family, args.timeout, shown) {
                Ok(f) => f,
                Err(e) => return fail(&format!("cannot run `{plan}`: {e}")),
            };
            let verdict = Verdict::of(args.ranks, &finished.output);
            if finished.status.success() && !finished.timed_out && verdict.failed.is_empty() {
                println!("test {name} on {} ranks ... ok", args.ranks);
                passed += 1;
                continue;
            }
            println!("test {name} on {} ranks ... FAILED", args.ranks);
            let how = if finished.timed_out {
                format!("timed out after {:?}", args.timeout.unwrap_or_default())
            } else {
                format!("the launcher exited with {}", finished.status)
            };
            let _ = std::io::stdout().flush();
            eprintln!(
                "{}",
                report(
                    &name,
                    args.ranks,
                    &plan.to_string(),
                    &how,
                    &verdict,
                    &finished.output
                )
                .replacen("blazer::test ", "test ", 1)
                .replacen(
                    &format!("command: {}={name} ", blazer_launch::test::CHILD_VAR),
                    "command: ",
                    1
                )
            );
            failed.push(name);
        }
    }
    let total = passed + failed.len() + ignored;
    if failed.is_empty() {
        println!(
            "\ncargo-blazer: {total} tests on {} ranks: {passed} passed, {ignored} ignored",
            args.ranks
        );
        0
    } else {
        println!(
            "\ncargo-blazer: {total} tests on {} ranks: {passed} passed, {} FAILED ({}), {ignored} ignored",
            args.ranks,
            failed.len(),
            failed.join(", ")
        );
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn artifact(name: &str, kind: &str, test: bool) -> Artifact {
        Artifact {
            name: name.into(),
            kinds: vec![kind.into()],
            test,
            executable: PathBuf::from(format!("/t/{name}")),
            package_dir: PathBuf::from("/p"),
        }
    }

    #[test]
    fn picks_the_executable_to_run() {
        let built = [
            artifact("lib", "lib", true),
            artifact("app", "bin", false),
            artifact("app", "bin", true),
            artifact("example1", "example", false),
        ];
        assert_eq!(pick(&built, None).unwrap().name, "app");
        assert!(!pick(&built, None).unwrap().test);
        assert_eq!(
            pick(&built, Some(&Target::Example("example1".into())))
                .unwrap()
                .name,
            "example1"
        );
        let err = pick(&built, Some(&Target::Bin("example1".into()))).unwrap_err();
        assert!(err.contains("no bin named `example1`"), "{err}");
        let two = [artifact("a", "bin", false), artifact("b", "bin", false)];
        let err = pick(&two, None).unwrap_err();
        assert!(err.contains("several binaries (a, b)"), "{err}");
        let err = pick(&[], None).unwrap_err();
        assert!(err.contains("no binary"), "{err}");
    }

    #[test]
    fn harness_lines_are_not_shown() {
        let shown = |t| shown_text("tests::a", t);
        assert_eq!(shown("running 1 test"), None);
        assert_eq!(shown("test tests::a ... "), None);
        assert_eq!(shown("test tests::a ... hello"), Some("hello"));
        assert_eq!(shown("ok"), None);
        assert_eq!(shown("test result: "), None);
        assert_eq!(shown("ok. 1 passed; 0 failed"), None);
        assert_eq!(shown("[1, 4, 9]"), Some("[1, 4, 9]"));
    }

    #[test]
    fn lists_tests() {
        let text = "tests::adds: test\nbench_x: benchmark\nsquares: test\n";
        assert_eq!(tests_in_list(text), ["tests::adds", "squares"]);
    }
}
