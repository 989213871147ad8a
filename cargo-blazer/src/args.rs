//! The command line of `cargo blazer`, parsed by hand into a [`Cmd`].

use std::path::PathBuf;
use std::time::Duration;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmd {
    /// `cargo blazer run`.
    Run(Run),
    /// `cargo blazer test`.
    Test(Test),
    /// `cargo blazer new`.
    New(New),
    /// Help: general (`None`) or of one subcommand.
    Help(Option<String>),
    /// `--version`.
    Version,
}

/// `cargo blazer run -n N [cargo build options] [-- program args]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) ranks: usize,
    /// Passed to `cargo build` as they are (`--release`, `--bin X`, `-p P`, ...).
    pub(crate) cargo: Vec<String>,
    /// `--bin NAME` or `--example NAME`, when given: the executable to launch.
    pub(crate) target: Option<Target>,
    /// The program's arguments, after `--`.
    pub(crate) program: Vec<String>,
}

/// The executable `run` launches, by kind and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Bin(String),
    Example(String),
}

/// `cargo blazer test -n N [cargo test options] [FILTER] [-- test harness args]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Test {
    pub(crate) ranks: usize,
    /// Passed to `cargo test --no-run` as they are.
    pub(crate) cargo: Vec<String>,
    /// For the test harness: the filter and what follows `--` (`--ignored`, `--skip X`, ...).
    pub(crate) harness: Vec<String>,
    /// The time limit of each test's run, if any.
    pub(crate) timeout: Option<Duration>,
}

/// `cargo blazer new NAME [--blazer-path PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct New {
    pub(crate) name: String,
    pub(crate) blazer_path: Option<PathBuf>,
}

/// Cargo's options that take a value, so that the value is not taken for a test filter.
const CARGO_VALUE_OPTIONS: &[&str] = &[
    "-p",
    "--package",
    "--bin",
    "--example",
    "--test",
    "--bench",
    "-F",
    "--features",
    "--profile",
    "--manifest-path",
    "--target",
    "--target-dir",
    "-j",
    "--jobs",
    "--exclude",
    "--color",
    "--config",
    "-Z",
];

/// Parses the arguments after the program's name. Cargo runs `cargo-blazer blazer ARGS` for
/// `cargo blazer ARGS`; the leading `blazer` is skipped, so the binary also runs by itself.
pub(crate) fn parse(args: &[String]) -> Result<Cmd, String> {
    let args = match args.first().map(String::as_str) {
        Some("blazer") => &args[1..],
        _ => args,
    };
    let Some((sub, rest)) = args.split_first() else {
        return Ok(Cmd::Help(None));
    };
    match sub.as_str() {
        "-h" | "--help" | "help" => Ok(Cmd::Help(rest.first().cloned())),
        "-V" | "--version" => Ok(Cmd::Version),
        "run" | "test" | "new" if wants_help(rest) => Ok(Cmd::Help(Some(sub.clone()))),
        "run" => parse_run(rest).map(Cmd::Run),
        "test" => parse_test(rest).map(Cmd::Test),
        "new" => parse_new(rest).map(Cmd::New),
        other => Err(format!(
            "unknown subcommand `{other}`: the subcommands are run, test and new (see `cargo \
             blazer --help`)"
        )),
    }
}

/// `-h`/`--help` before any `--`.
fn wants_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help")
}

/// Reads `-n N`, `-nN`, `-n=N`, `--np N`, `--ranks N` (and `=` forms) at `args[*i]`; moves
/// `*i` past what it read. `Ok(None)` when the argument is something else.
fn ranks_at(args: &[String], i: &mut usize) -> Result<Option<usize>, String> {
    let a = &args[*i];
    let value = if a == "-n" || a == "--np" || a == "--ranks" {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("`{a}` needs the number of ranks: `{a} 4`"))?
    } else if let Some(v) = a
        .strip_prefix("--np=")
        .or_else(|| a.strip_prefix("--ranks="))
        .or_else(|| a.strip_prefix("-n="))
    {
        v.to_string()
    } else if let Some(v) = a.strip_prefix("-n").filter(|v| !v.is_empty()) {
        v.to_string()
    } else {
        return Ok(None);
    };
    *i += 1;
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(format!(
            "`{value}` is not a number of ranks: give 1 or more, as in `-n 4`"
        )),
    }
}

const MISSING_RANKS: &str = "missing `-n N`: the number of ranks to run on, as in `-n 4`";

/// The value of the option at `args[*i]` (`--name value` or `--name=value`) if it is `name`.
fn value_of(args: &[String], i: &mut usize, name: &str) -> Result<Option<String>, String> {
    let a = &args[*i];
    if a == name {
        let v = args
            .get(*i + 1)
            .cloned()
            .ok_or_else(|| format!("`{name}` needs a value"))?;
        *i += 2;
        return Ok(Some(v));
    }
    if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
        *i += 1;
        return Ok(Some(v.to_string()));
    }
    Ok(None)
}

fn parse_run(args: &[String]) -> Result<Run, String> {
    let (mine, program) = split_dashes(args);
    let mut run = Run {
        ranks: 0,
        cargo: Vec::new(),
        target: None,
        program,
    };
    let mut i = 0;
    while i < mine.len() {
        if let Some(n) = ranks_at(&mine, &mut i)? {
            run.ranks = n;
            continue;
        }
        let bin = value_of(&mine, &mut i, "--bin")?.map(|n| ("--bin", Target::Bin(n)));
        let example = match bin {
            Some(_) => None,
            None => {
                value_of(&mine, &mut i, "--example")?.map(|n| ("--example", Target::Example(n)))
            }
        };
        if let Some((flag, target)) = bin.or(example) {
            if run.target.is_some() {
                return Err("give one of `--bin NAME` and `--example NAME`".into());
            }
            let (Target::Bin(name) | Target::Example(name)) = &target;
            run.cargo.extend([flag.to_string(), name.clone()]);
            run.target = Some(target);
            continue;
        }
        let a = &mine[i];
        if !a.starts_with('-') {
            return Err(format!(
                "unexpected `{a}`: the program's arguments go after `--` (`cargo blazer run -n \
                 4 -- {a}`)"
            ));
        }
        if a == "--message-format" || a.starts_with("--message-format=") {
            return Err("`--message-format` is cargo blazer's own: leave it out".into());
        }
        run.cargo.push(a.clone());
        if CARGO_VALUE_OPTIONS.contains(&a.as_str()) {
            i += 1;
            let v = mine.get(i).ok_or_else(|| format!("`{a}` needs a value"))?;
            run.cargo.push(v.clone());
        }
        i += 1;
    }
    if run.ranks == 0 {
        return Err(MISSING_RANKS.into());
    }
    Ok(run)
}

fn parse_test(args: &[String]) -> Result<Test, String> {
    let (mine, after) = split_dashes(args);
    let mut test = Test {
        ranks: 0,
        cargo: Vec::new(),
        harness: Vec::new(),
        timeout: None,
    };
    let mut filter = None;
    let mut i = 0;
    while i < mine.len() {
        if let Some(n) = ranks_at(&mine, &mut i)? {
            test.ranks = n;
            continue;
        }
        if let Some(t) = value_of(&mine, &mut i, "--timeout")? {
            test.timeout = Some(blazer_launch::parse_duration(&t).ok_or_else(|| {
                format!("`--timeout {t}`: give a duration such as `90s`, `500ms` or `5m`")
            })?);
            continue;
        }
        let a = &mine[i];
        if a == "--message-format" || a.starts_with("--message-format=") || a == "--no-run" {
            return Err(format!("`{a}` is cargo blazer's own: leave it out"));
        }
        if !a.starts_with('-') {
            if filter.is_some() {
                return Err(format!(
                    "unexpected `{a}`: give one test filter (more go after `--`)"
                ));
            }
            filter = Some(a.clone());
            i += 1;
            continue;
        }
        test.cargo.push(a.clone());
        if CARGO_VALUE_OPTIONS.contains(&a.as_str()) {
            i += 1;
            let v = mine.get(i).ok_or_else(|| format!("`{a}` needs a value"))?;
            test.cargo.push(v.clone());
        }
        i += 1;
    }
    if test.ranks == 0 {
        return Err(MISSING_RANKS.into());
    }
    test.harness.extend(filter);
    test.harness.extend(after);
    Ok(test)
}

fn parse_new(args: &[String]) -> Result<New, String> {
    let mut name = None;
    let mut blazer_path = None;
    let mut i = 0;
    while i < args.len() {
        if let Some(p) = value_of(args, &mut i, "--blazer-path")? {
            blazer_path = Some(PathBuf::from(p));
            continue;
        }
        let a = &args[i];
        if a.starts_with('-') {
            return Err(format!(
                "unknown option `{a}` of `cargo blazer new`; its only option is `--blazer-path \
                 PATH`"
            ));
        }
        if name.is_some() {
            return Err(format!(
                "unexpected `{a}`: `cargo blazer new` takes one name"
            ));
        }
        name = Some(a.clone());
        i += 1;
    }
    let name = name.ok_or("missing the project's name: `cargo blazer new NAME`")?;
    check_name(&name)?;
    Ok(New { name, blazer_path })
}

/// A package name cargo accepts and that is a valid crate name once `-` becomes `_`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !ok {
        return Err(format!(
            "`{name}` is not a package name: use letters, digits, `-` and `_`, starting with a \
             letter"
        ));
    }
    if ["blazer", "blazer-hpc", "test", "main", "std", "core"].contains(&name) {
        return Err(format!(
            "`{name}` would clash with a crate of that name: pick another"
        ));
    }
    Ok(())
}

/// The arguments before the first `--`, and those after it.
fn split_dashes(args: &[String]) -> (Vec<String>, Vec<String>) {
    match args.iter().position(|a| a == "--") {
        Some(at) => (args[..at].to_vec(), args[at + 1..].to_vec()),
        None => (args.to_vec(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Cmd, String> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn run(line: &str) -> Run {
        match p(line) {
            Ok(Cmd::Run(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn test(line: &str) -> Test {
        match p(line) {
            Ok(Cmd::Test(t)) => t,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn run_arguments() {
        let r = run("blazer run -n 4 --release --example example1 -- --size 10 -n 3");
        assert_eq!(r.ranks, 4);
        assert_eq!(r.cargo, ["--release", "--example", "example1"]);
        assert_eq!(r.target, Some(Target::Example("example1".into())));
        assert_eq!(r.program, ["--size", "10", "-n", "3"]);
        // Without cargo's leading `blazer`, and every spelling of the ranks.
        for line in [
            "run -n 2",
            "run -n2",
            "run -n=2",
            "run --np 2",
            "run --ranks=2",
        ] {
            assert_eq!(run(line).ranks, 2, "{line}");
        }
        let r = run("run --bin=app -p demo --features gpu -n 3");
        assert_eq!(r.target, Some(Target::Bin("app".into())));
        assert_eq!(r.cargo, ["--bin", "app", "-p", "demo", "--features", "gpu"]);
    }

    #[test]
    fn run_errors_say_what_is_wrong() {
        let err = |line: &str| p(line).unwrap_err();
        assert!(err("run --release").contains("missing `-n N`"));
        assert!(err("run -n 0").contains("not a number of ranks"));
        assert!(err("run -n four").contains("not a number of ranks"));
        assert!(err("run -n").contains("needs the number of ranks"));
        assert!(err("run -n 2 --bin a --example b").contains("one of `--bin NAME`"));
        assert!(err("run -n 2 input.txt").contains("after `--`"));
        assert!(err("run -n 2 --message-format json").contains("cargo blazer's own"));
        assert!(err("launch -n 2").contains("unknown subcommand `launch`"));
    }

    #[test]
    fn test_arguments() {
        let t = test("blazer test -n 2 --release adds -p demo --timeout 90s -- --ignored");
        assert_eq!(t.ranks, 2);
        assert_eq!(t.cargo, ["--release", "-p", "demo"]);
        assert_eq!(t.harness, ["adds", "--ignored"]);
        assert_eq!(t.timeout, Some(Duration::from_secs(90)));
        let t = test("test --test integration -n 3");
        assert_eq!(t.cargo, ["--test", "integration"]);
        assert!(t.harness.is_empty());
        assert!(p("test -n 2 a b").unwrap_err().contains("one test filter"));
        assert!(p("test -n 2 --timeout soon")
            .unwrap_err()
            .contains("duration"));
        assert!(p("test -n 2 --no-run")
            .unwrap_err()
            .contains("cargo blazer's own"));
        assert!(p("test").unwrap_err().contains("missing `-n N`"));
    }

    #[test]
    fn new_arguments() {
        assert_eq!(
            p("blazer new demo --blazer-path /src/blazer").unwrap(),
            Cmd::New(New {
                name: "demo".into(),
                blazer_path: Some("/src/blazer".into())
            })
        );
        assert_eq!(
            p("new my-app").unwrap(),
            Cmd::New(New {
                name: "my-app".into(),
                blazer_path: None
            })
        );
        assert!(p("new").unwrap_err().contains("missing the project's name"));
        assert!(p("new 9lives").unwrap_err().contains("not a package name"));
        assert!(p("new a/b").unwrap_err().contains("not a package name"));
        assert!(p("new blazer").unwrap_err().contains("clash"));
        assert!(p("new a b").unwrap_err().contains("takes one name"));
        assert!(p("new a --path x").unwrap_err().contains("unknown option"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p("").unwrap(), Cmd::Help(None));
        assert_eq!(p("blazer").unwrap(), Cmd::Help(None));
        assert_eq!(p("blazer --help").unwrap(), Cmd::Help(None));
        assert_eq!(p("help run").unwrap(), Cmd::Help(Some("run".into())));
        assert_eq!(p("run -n 2 --help").unwrap(), Cmd::Help(Some("run".into())));
        // After `--`, `--help` is the program's.
        assert!(matches!(p("run -n 2 -- --help").unwrap(), Cmd::Run(_)));
        assert_eq!(p("test -h").unwrap(), Cmd::Help(Some("test".into())));
        assert_eq!(p("--version").unwrap(), Cmd::Version);
    }
}
