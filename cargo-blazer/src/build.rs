//! Building with cargo and finding the executables it built, from `--message-format=json`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// An executable cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Artifact {
    /// The target's name (`demo`, `example1`, `integration`).
    pub(crate) name: String,
    /// The target's kinds (`bin`, `example`, `lib`, `test`, ...).
    pub(crate) kinds: Vec<String>,
    /// Whether it is a test harness build (`cargo test`).
    pub(crate) test: bool,
    /// Its path.
    pub(crate) executable: PathBuf,
    /// The directory of its package's `Cargo.toml`: cargo runs tests there.
    pub(crate) package_dir: PathBuf,
}

/// The executables among cargo's JSON messages (one per line; other lines are skipped).
pub(crate) fn artifacts(json_lines: &str) -> Vec<Artifact> {
    let mut found = Vec::new();
    for line in json_lines.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = msg["executable"].as_str() else {
            continue;
        };
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let manifest = PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default());
        found.push(Artifact {
            name: msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kinds: strings(&msg["target"]["kind"]),
            test: msg["profile"]["test"].as_bool().unwrap_or(false),
            executable: PathBuf::from(executable),
            package_dir: manifest.parent().map(PathBuf::from).unwrap_or_default(),
        });
    }
    found
}

/// The program `cargo` (the one that ran us, as `CARGO` says, else `cargo` on the `PATH`).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cargo SUBCOMMAND --message-format=json-render-diagnostics ARGS` (its diagnostics and
/// progress on our stderr) and returns the executables it built, or the exit code to leave
/// with when the build failed.
pub(crate) fn build(subcommand: &[&str], args: &[String]) -> Result<Vec<Artifact>, i32> {
    let mut cmd = cargo();
    cmd.args(subcommand)
        .arg("--message-format=json-render-diagnostics")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("cargo-blazer: cannot run cargo: {e}");
            return Err(1);
        }
    };
    if !out.status.success() {
        return Err(out.status.code().unwrap_or(1));
    }
    Ok(artifacts(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_from_cargo_messages() {
        let lines = r#"{"reason":"compiler-artifact","package_id":"x","manifest_path":"/p/demo/Cargo.toml","target":{"kind":["lib"],"name":"demo"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","manifest_path":"/p/demo/Cargo.toml","target":{"kind":["bin"],"name":"demo"},"profile":{"test":false},"executable":"/p/target/debug/demo"}
{"reason":"compiler-artifact","manifest_path":"/p/demo/Cargo.toml","target":{"kind":["bin"],"name":"demo"},"profile":{"test":true},"executable":"/p/target/debug/deps/demo-1234"}
{"reason":"compiler-message","message":{}}
not json
{"reason":"build-finished","success":true}"#;
        let found = artifacts(lines);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].name, "demo");
        assert_eq!(found[0].kinds, ["bin"]);
        assert!(!found[0].test);
        assert_eq!(found[0].executable, PathBuf::from("/p/target/debug/demo"));
        assert_eq!(found[0].package_dir, PathBuf::from("/p/demo"));
        assert!(found[1].test);
    }
}
