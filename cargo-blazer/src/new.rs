//! `cargo blazer new NAME`: a project that builds and runs at once.

use crate::args::New;
use std::path::{Path, PathBuf};

/// The `blazer` directory (the `blazer-hpc` package) of the checkout this tool was built
/// from; new projects depend on it by path until blazer-hpc is published.
pub(crate) fn default_blazer_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("blazer")
}

/// The files of a new project named `name` depending on blazer-hpc at `blazer`: (path in the
/// project, contents).
pub(crate) fn files(name: &str, blazer: &Path) -> Vec<(&'static str, String)> {
    let krate = name.replace('-', "_");
    let blazer = blazer
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    vec![
        (
            "Cargo.toml",
            CARGO_TOML
                .replace("{name}", name)
                .replace("{blazer}", &blazer),
        ),
        ("src/main.rs", MAIN_RS.to_string()),
        ("job.sbatch", SBATCH.replace("{name}", name)),
        (
            "README.md",
            README.replace("{name}", name).replace("{krate}", &krate),
        ),
        (".gitignore", "/target\n".to_string()),
    ]
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
# blazer's library is named `blazer`: code writes `blazer::map`, `#[blazer::task]`, ...
# From a local checkout until blazer-hpc is published; then `blazer-hpc = "0.1"`.
blazer-hpc = { path = "{blazer}" }
# Your own types as task arguments and results: #[derive(Serialize, Deserialize)].
serde = { version = "1", features = ["derive"] }

# A workspace of its own, so that the project also builds inside another workspace's tree.
[workspace]
"#;

const MAIN_RS: &str = r#"//! A blazer program: tasks are plain functions; `main`'s body runs on rank 0 (the driver) and
//! the other ranks run its tasks. Run it on 4 ranks with `cargo blazer run -n 4`.

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let squares = blazer::map(blazer::task::<sqr>(), vec![1, 2, 3, 4])?;
    blazer::root_println!("{squares:?}"); // [1, 4, 9, 16]
    let total = blazer::reduce(blazer::task::<add>(), squares)?;
    blazer::root_println!("{total}"); // 30
    blazer::root_println!("on {} ranks", blazer::size());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test` relaunches this test on 2 ranks under the MPI launcher; the body runs on
    /// rank 0 and its tasks on the other ranks. `cargo blazer test -n N` runs it on N ranks.
    #[blazer::test(ranks = 2)]
    fn squares_and_sum() -> blazer::Result<()> {
        let squares = blazer::map(blazer::task::<sqr>(), vec![1, 2, 3, 4])?;
        assert_eq!(squares, vec![1, 4, 9, 16]);
        assert_eq!(blazer::reduce(blazer::task::<add>(), squares)?, 30);
        Ok(())
    }

    /// Tasks stay plain functions.
    #[test]
    fn tasks_are_functions() {
        assert_eq!(add(sqr(3), 1), 10);
    }
}
"#;

const SBATCH: &str = r#"#!/bin/bash
# Submit with `sbatch job.sbatch` after `cargo build --release` (on a shared file system, so
# every node sees the same binary). Adjust the nodes, tasks and time to your job.
#SBATCH --job-name={name}
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --time=00:10:00
#SBATCH --output={name}-%j.out

# Load your cluster's MPI here if it uses modules (e.g. `module load openmpi`), the same MPI
# the program was built against. Open MPI 4.1 starts under Slurm through PMIx:
srun --mpi=pmix ./target/release/{name}
# or: cargo blazer run --release -n "$SLURM_NTASKS"   (inside the allocation it uses srun)
"#;

const README: &str = r#"# {name}

A [blazer](https://github.com/radiantone/blazer) program: plain Rust functions run on an MPI
cluster.

```sh
cargo blazer run -n 4              # build, then launch on 4 ranks with your MPI's launcher
cargo blazer run -n 4 --release    # the same, optimised
cargo test                         # the #[blazer::test(ranks = 2)] test relaunches itself on 2 ranks
cargo blazer test -n 2             # every test of the crate on 2 ranks
sbatch job.sbatch                  # on a Slurm cluster, after `cargo build --release`
```

`cargo blazer run` prints the launcher command it runs (`mpirun`, MPICH's `mpiexec`, or
`srun` inside a Slurm allocation), so you can run it yourself. Without a launcher,
`cargo run` runs the program as a world of one, which runs its tasks itself.

- `src/main.rs`: the tasks (`#[blazer::task]`), the driver (`#[blazer::main]`) and the tests.
- `job.sbatch`: a Slurm batch script.

Needs an MPI (Open MPI or MPICH, with `mpicc`) and libclang to build; see blazer's README.
"#;

/// Writes the project into `./NAME`; returns the message to print, or the error.
pub(crate) fn new(args: &New) -> Result<String, String> {
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        return Err(format!(
            "`{}` exists already: pick another name or remove it",
            dir.display()
        ));
    }
    let given = args.blazer_path.clone().unwrap_or_else(default_blazer_path);
    let blazer = given.canonicalize().map_err(|_| {
        format!(
            "blazer's checkout is not at {}: pass `--blazer-path PATH/TO/blazer` (the `blazer` \
             directory of a blazer checkout, which holds the blazer-hpc package)",
            given.display()
        )
    })?;
    let manifest = std::fs::read_to_string(blazer.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"blazer-hpc\"") {
        return Err(format!(
            "{} holds no blazer-hpc package: pass `--blazer-path` the `blazer` directory of a \
             blazer checkout",
            blazer.display()
        ));
    }
    for (path, text) in files(&args.name, &blazer) {
        let to = dir.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&to, text).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    // The versions blazer is tested with: the checkout's lock file, if it has one.
    if let Some(lock) = blazer
        .parent()
        .map(|p| p.join("Cargo.lock"))
        .filter(|p| p.is_file())
    {
        let _ = std::fs::copy(lock, dir.join("Cargo.lock"));
    }
    Ok(format!(
        "cargo-blazer: created `{name}` (blazer-hpc from {blazer})\n\n    cd {name}\n    cargo \
         blazer run -n 4\n    cargo blazer test -n 2\n",
        name = args.name,
        blazer = blazer.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_name_the_project_and_the_checkout() {
        let files = files("my-app", Path::new("/src/blazer"));
        let get = |p: &str| &files.iter().find(|(path, _)| *path == p).unwrap().1;
        let toml = get("Cargo.toml");
        assert!(toml.contains("name = \"my-app\""), "{toml}");
        assert!(
            toml.contains("blazer-hpc = { path = \"/src/blazer\" }"),
            "{toml}"
        );
        assert!(toml.contains("\n[workspace]\n"), "{toml}");
        let main = get("src/main.rs");
        assert!(main.contains("#[blazer::main]") && main.contains("#[blazer::task]"));
        assert!(main.contains("#[blazer::test(ranks = 2)]"));
        assert!(get("job.sbatch").contains("srun --mpi=pmix ./target/release/my-app"));
        assert!(get("README.md").starts_with("# my-app\n"));
    }

    #[test]
    fn the_default_checkout_is_this_one() {
        let manifest = std::fs::read_to_string(default_blazer_path().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"blazer-hpc\""));
    }
}
