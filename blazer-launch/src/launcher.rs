//! Choosing the launcher and writing its command line.

use crate::mpi::{mpi_of_version, Mpi};
use crate::LAUNCHER_VAR;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the launcher's choice reads from the machine: environment variables, programs on the
/// `PATH` and what a launcher says it is. [`SystemHost`] reads the real machine; tests pass
/// fakes, so that [`choose`] is a pure function of them.
pub trait Host {
    /// The environment variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
    /// Where `program` is: itself when it holds a `/` and exists, else the first match on the
    /// `PATH`.
    fn which(&self, program: &str) -> Option<PathBuf>;
    /// Which MPI the launcher at `path` belongs to, from its `--version`.
    fn mpi_of_launcher(&self, path: &Path) -> Option<Mpi>;
}

/// The real machine: the process's environment, its `PATH`, and launchers run with
/// `--version`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemHost;

impl Host for SystemHost {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn which(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            let path = PathBuf::from(program);
            return path.is_file().then_some(path);
        }
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| is_executable(p))
    }

    fn mpi_of_launcher(&self, path: &Path) -> Option<Mpi> {
        let out = Command::new(path).arg("--version").output().ok()?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        mpi_of_version(&text)
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The kind of launcher, which decides its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Open MPI's `mpirun`: `--oversubscribe`, `--allow-run-as-root`, `--tag-output`, `-x`.
    OpenMpi,
    /// MPICH's Hydra `mpiexec`: oversubscribes and runs as root without being told;
    /// `-prepend-rank`.
    Mpich,
    /// Slurm's `srun`, inside an allocation: `--label`, and `--mpi=pmix` for Open MPI.
    Slurm,
}

/// A launcher found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// What kind of launcher it is.
    pub family: Family,
    /// The program to run.
    pub program: PathBuf,
    /// The MPI the launched program links, when known (srun's flags depend on it).
    pub linked: Option<Mpi>,
}

/// Why no launcher could be chosen; its `Display` names what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError(pub String);

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LaunchError {}

/// The launchers of each MPI, in the order they are tried. Names with the MPI in them are
/// taken as they are; the plain names (`mpirun`, `mpiexec`, which Debian's alternatives may
/// point at either MPI) only when their `--version` says they are that MPI's.
fn candidates(mpi: Mpi) -> &'static [&'static str] {
    match mpi {
        Mpi::OpenMpi => &["mpirun.openmpi", "mpiexec.openmpi", "mpirun", "mpiexec"],
        Mpi::Mpich => &[
            "mpiexec.mpich",
            "mpiexec.hydra",
            "mpirun.mpich",
            "mpiexec",
            "mpirun",
        ],
    }
}

fn is_generic(name: &str) -> bool {
    matches!(name, "mpirun" | "mpiexec")
}

fn family_of(mpi: Mpi) -> Family {
    match mpi {
        Mpi::OpenMpi => Family::OpenMpi,
        Mpi::Mpich => Family::Mpich,
    }
}

/// Chooses the launcher for a program that links `linked` (`None`: unknown, as for a static
/// build), in this order:
///
/// 1. the program `BLAZER_LAUNCHER` names, if set (its family from its name or `--version`);
/// 2. `srun`, inside a Slurm allocation (`SLURM_JOB_ID` set);
/// 3. the linked MPI's own launcher: for Open MPI `mpirun.openmpi`, `mpiexec.openmpi`, or
///    `mpirun`/`mpiexec` if their `--version` says Open MPI; for MPICH `mpiexec.mpich`,
///    `mpiexec.hydra`, `mpirun.mpich`, or `mpiexec`/`mpirun` if they say MPICH (Hydra);
/// 4. for an unknown MPI, `mpirun` or `mpiexec`, whatever they are.
///
/// The error names what is missing and how to supply it.
pub fn choose(linked: Option<Mpi>, host: &dyn Host) -> Result<Launcher, LaunchError> {
    if let Some(named) = host.var(LAUNCHER_VAR).filter(|v| !v.is_empty()) {
        let Some(program) = host.which(&named) else {
            return Err(LaunchError(format!(
                "{LAUNCHER_VAR}={named}: no such program on the PATH"
            )));
        };
        let file = program
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let family = if file.starts_with("srun") {
            Family::Slurm
        } else {
            match host.mpi_of_launcher(&program).or(linked) {
                Some(mpi) => family_of(mpi),
                None => {
                    return Err(LaunchError(format!(
                        "{LAUNCHER_VAR}={named}: cannot tell which MPI it belongs to (its \
                         --version names neither Open MPI nor MPICH's Hydra)"
                    )))
                }
            }
        };
        return Ok(Launcher {
            family,
            program,
            linked,
        });
    }
    if host.var("SLURM_JOB_ID").is_some() {
        if let Some(program) = host.which("srun") {
            return Ok(Launcher {
                family: Family::Slurm,
                program,
                linked,
            });
        }
    }
    match linked {
        Some(mpi) => {
            let mut seen = Vec::new();
            for name in candidates(mpi) {
                let Some(program) = host.which(name) else {
                    continue;
                };
                let says = host.mpi_of_launcher(&program);
                if !is_generic(name) || says == Some(mpi) {
                    return Ok(Launcher {
                        family: family_of(mpi),
                        program,
                        linked,
                    });
                }
                seen.push(match says {
                    Some(other) => format!("{} ({other}'s)", program.display()),
                    None => format!("{} (of an unknown MPI)", program.display()),
                });
            }
            let found = if seen.is_empty() {
                String::new()
            } else {
                format!("; found only {}", seen.join(", "))
            };
            let install = match mpi {
                Mpi::OpenMpi => "Debian: apt-get install openmpi-bin",
                Mpi::Mpich => "Debian: apt-get install mpich",
            };
            Err(LaunchError(format!(
                "the program links {mpi}, but no {mpi} launcher is on the PATH (looked for {}){found}. \
                 Install it ({install}), load the MPI's module, or name the launcher with \
                 {LAUNCHER_VAR}=PATH",
                candidates(mpi).join(", ")
            )))
        }
        None => {
            for name in ["mpirun", "mpiexec"] {
                if let Some(program) = host.which(name) {
                    if let Some(mpi) = host.mpi_of_launcher(&program) {
                        return Ok(Launcher {
                            family: family_of(mpi),
                            program,
                            linked,
                        });
                    }
                }
            }
            Err(LaunchError(format!(
                "no MPI launcher found: the program links no MPI library known (libmpi.so.40 \
                 for Open MPI, libmpich.so for MPICH), and neither mpirun nor mpiexec on the \
                 PATH says which MPI it is. Name the launcher with {LAUNCHER_VAR}=PATH"
            )))
        }
    }
}

/// How to launch: the world size and what this machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The number of ranks.
    pub ranks: usize,
    /// Whether this process runs as root (Open MPI refuses unless told).
    pub as_root: bool,
    /// The cores Open MPI counts as slots; more ranks than this need `--oversubscribe`.
    pub cores: usize,
    /// Whether each output line is tagged with its rank (split by [`crate::output`]).
    pub tag_output: bool,
    /// Environment variables every rank must get (Open MPI passes them with `-x`; Hydra and
    /// srun pass the whole environment).
    pub export: Vec<String>,
}

impl Options {
    /// `ranks` ranks on this machine: root and cores as they are, no tags, nothing exported.
    pub fn here(ranks: usize) -> Options {
        Options {
            ranks,
            as_root: running_as_root(),
            cores: physical_cores(),
            tag_output: false,
            export: Vec::new(),
        }
    }
}

/// Whether this process's effective user is root.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The cores Open MPI counts as slots by default: physical cores (not hardware threads), as
/// `/proc/cpuinfo` lists them, at most the CPUs this process may use.
pub fn physical_cores() -> usize {
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return usable;
    };
    let physical = cores_in_cpuinfo(&info);
    if physical == 0 {
        usable
    } else {
        physical.min(usable)
    }
}

/// The distinct (physical id, core id) pairs of a `/proc/cpuinfo`.
fn cores_in_cpuinfo(info: &str) -> usize {
    let mut cores = std::collections::BTreeSet::new();
    for block in info.split("\n\n") {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        };
        if let Some(core) = field("core id") {
            cores.insert((field("physical id").unwrap_or_default(), core));
        }
    }
    cores.len()
}

/// A command line to run: program, arguments and the environment variables it adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The launcher.
    pub program: PathBuf,
    /// Its arguments, the launched program and its arguments included.
    pub args: Vec<OsString>,
    /// Variables set for the launcher (and so for the ranks).
    pub env: Vec<(String, String)>,
}

impl Plan {
    /// The plan as a `Command`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// The plan as a shell command line, variables first: what users can type themselves.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(OsStr::new(v))))
            .collect();
        words.push(quote(self.program.as_os_str()));
        words.extend(self.args.iter().map(|a| quote(a)));
        f.write_str(&words.join(" "))
    }
}

/// `word` quoted for a POSIX shell when it needs it.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Launcher {
    /// The command line that runs `exe args...` on `opts.ranks` ranks.
    pub fn plan(&self, opts: &Options, exe: &Path, args: &[OsString]) -> Plan {
        let mut a: Vec<OsString> = Vec::new();
        let mut env = Vec::new();
        let n = opts.ranks.to_string();
        match self.family {
            Family::OpenMpi => {
                a.extend(["-n".into(), n.into()]);
                if opts.ranks > opts.cores {
                    a.push("--oversubscribe".into());
                }
                if opts.as_root {
                    a.push("--allow-run-as-root".into());
                    env.push(("OMPI_ALLOW_RUN_AS_ROOT".into(), "1".into()));
                    env.push(("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM".into(), "1".into()));
                }
                if opts.tag_output {
                    a.push("--tag-output".into());
                }
                for name in &opts.export {
                    a.extend(["-x".into(), name.into()]);
                }
            }
            Family::Mpich => {
                a.extend(["-n".into(), n.into()]);
                if opts.tag_output {
                    a.push("-prepend-rank".into());
                }
            }
            Family::Slurm => {
                a.extend(["-n".into(), n.into()]);
                if self.linked == Some(Mpi::OpenMpi) {
                    // Open MPI 4.1 has no PMI-2 of its own: Slurm must start it through PMIx.
                    a.push("--mpi=pmix".into());
                }
                if opts.tag_output {
                    a.push("--label".into());
                }
            }
        }
        a.push(exe.into());
        a.extend(args.iter().cloned());
        Plan {
            program: self.program.clone(),
            args: a,
            env,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A machine made of a few variables, the programs on its `PATH` (in /usr/bin) and what
    /// each says to `--version`.
    #[derive(Default)]
    struct Fake {
        vars: HashMap<String, String>,
        programs: HashMap<String, Option<Mpi>>,
    }

    impl Fake {
        fn var(mut self, k: &str, v: &str) -> Self {
            self.vars.insert(k.into(), v.into());
            self
        }
        fn program(mut self, name: &str, says: Option<Mpi>) -> Self {
            self.programs.insert(name.into(), says);
            self
        }
    }

    impl Host for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn which(&self, program: &str) -> Option<PathBuf> {
            let name = program.rsplit('/').next().unwrap();
            self.programs
                .contains_key(name)
                .then(|| PathBuf::from("/usr/bin").join(name))
        }
        fn mpi_of_launcher(&self, path: &Path) -> Option<Mpi> {
            let name = path.file_name()?.to_str()?;
            *self.programs.get(name)?
        }
    }

    fn chosen(linked: Option<Mpi>, host: &Fake) -> (Family, String) {
        let l = choose(linked, host).unwrap();
        (l.family, l.program.display().to_string())
    }

    #[test]
    fn open_mpi_programs_get_mpirun() {
        let host = Fake::default().program("mpirun", Some(Mpi::OpenMpi));
        assert_eq!(
            chosen(Some(Mpi::OpenMpi), &host),
            (Family::OpenMpi, "/usr/bin/mpirun".into())
        );
    }

    #[test]
    fn mpich_programs_get_mpich_launcher_beside_open_mpi() {
        // Debian with both: the alternatives keep `mpirun`/`mpiexec` on Open MPI.
        let host = Fake::default()
            .program("mpirun", Some(Mpi::OpenMpi))
            .program("mpiexec", Some(Mpi::OpenMpi))
            .program("mpiexec.mpich", Some(Mpi::Mpich));
        assert_eq!(
            chosen(Some(Mpi::Mpich), &host),
            (Family::Mpich, "/usr/bin/mpiexec.mpich".into())
        );
        assert_eq!(
            chosen(Some(Mpi::OpenMpi), &host),
            (Family::OpenMpi, "/usr/bin/mpirun".into())
        );
    }

    #[test]
    fn plain_mpiexec_counts_only_when_it_is_that_mpi() {
        let hydra = Fake::default().program("mpiexec", Some(Mpi::Mpich));
        assert_eq!(
            chosen(Some(Mpi::Mpich), &hydra),
            (Family::Mpich, "/usr/bin/mpiexec".into())
        );
        let err = choose(Some(Mpi::OpenMpi), &hydra).unwrap_err().0;
        assert!(err.contains("links Open MPI"), "{err}");
        assert!(err.contains("/usr/bin/mpiexec (MPICH's)"), "{err}");
        assert!(err.contains("BLAZER_LAUNCHER"), "{err}");
    }

    #[test]
    fn nothing_on_the_path_names_what_is_missing() {
        let err = choose(Some(Mpi::Mpich), &Fake::default()).unwrap_err().0;
        assert!(err.contains("links MPICH"), "{err}");
        assert!(err.contains("mpiexec.mpich"), "{err}");
        assert!(err.contains("apt-get install mpich"), "{err}");
        let err = choose(None, &Fake::default()).unwrap_err().0;
        assert!(err.contains("no MPI launcher found"), "{err}");
    }

    #[test]
    fn slurm_allocation_gets_srun() {
        let host = Fake::default()
            .var("SLURM_JOB_ID", "42")
            .program("srun", None)
            .program("mpirun", Some(Mpi::OpenMpi));
        assert_eq!(
            chosen(Some(Mpi::OpenMpi), &host),
            (Family::Slurm, "/usr/bin/srun".into())
        );
        // Outside an allocation, srun on the PATH is not used.
        let host = Fake::default()
            .program("srun", None)
            .program("mpirun", Some(Mpi::OpenMpi));
        assert_eq!(chosen(Some(Mpi::OpenMpi), &host).0, Family::OpenMpi);
    }

    #[test]
    fn blazer_launcher_overrides() {
        let host = Fake::default()
            .var("SLURM_JOB_ID", "42")
            .var("BLAZER_LAUNCHER", "mpiexec.hydra")
            .program("srun", None)
            .program("mpiexec.hydra", Some(Mpi::Mpich));
        assert_eq!(
            chosen(Some(Mpi::OpenMpi), &host),
            (Family::Mpich, "/usr/bin/mpiexec.hydra".into())
        );
        let host = Fake::default().var("BLAZER_LAUNCHER", "/nowhere/mpirun");
        let err = choose(Some(Mpi::OpenMpi), &host).unwrap_err().0;
        assert!(err.contains("BLAZER_LAUNCHER=/nowhere/mpirun"), "{err}");
    }

    #[test]
    fn unknown_mpi_takes_whatever_mpirun_is() {
        let host = Fake::default().program("mpiexec", Some(Mpi::Mpich));
        assert_eq!(chosen(None, &host).0, Family::Mpich);
    }

    fn words(plan: &Plan) -> String {
        plan.to_string()
    }

    fn opts(ranks: usize, as_root: bool, cores: usize) -> Options {
        Options {
            ranks,
            as_root,
            cores,
            tag_output: false,
            export: Vec::new(),
        }
    }

    #[test]
    fn open_mpi_flags_for_root_and_oversubscription() {
        let l = Launcher {
            family: Family::OpenMpi,
            program: "/usr/bin/mpirun".into(),
            linked: Some(Mpi::OpenMpi),
        };
        let exe = Path::new("target/debug/app");
        assert_eq!(
            words(&l.plan(&opts(2, false, 4), exe, &[])),
            "/usr/bin/mpirun -n 2 target/debug/app"
        );
        assert_eq!(
            words(&l.plan(&opts(4, true, 2), exe, &["--x".into(), "a b".into()])),
            "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 /usr/bin/mpirun -n 4 \
             --oversubscribe --allow-run-as-root target/debug/app --x 'a b'"
        );
        let mut o = opts(2, false, 2);
        o.tag_output = true;
        o.export = vec!["BLAZER_TEST_CHILD".into()];
        assert_eq!(
            words(&l.plan(&o, exe, &[])),
            "/usr/bin/mpirun -n 2 --tag-output -x BLAZER_TEST_CHILD target/debug/app"
        );
    }

    #[test]
    fn mpich_and_srun_flags() {
        let exe = Path::new("app");
        let mut o = opts(8, true, 2);
        o.tag_output = true;
        let hydra = Launcher {
            family: Family::Mpich,
            program: "mpiexec.mpich".into(),
            linked: Some(Mpi::Mpich),
        };
        assert_eq!(
            words(&hydra.plan(&o, exe, &[])),
            "mpiexec.mpich -n 8 -prepend-rank app"
        );
        let srun = Launcher {
            family: Family::Slurm,
            program: "srun".into(),
            linked: Some(Mpi::OpenMpi),
        };
        assert_eq!(
            words(&srun.plan(&o, exe, &[])),
            "srun -n 8 --mpi=pmix --label app"
        );
    }

    #[test]
    fn cpuinfo_cores_not_threads() {
        let info = "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 1\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 2\nphysical id\t: 0\ncore id\t\t: 1\n\n\
                    processor\t: 3\nphysical id\t: 1\ncore id\t\t: 0\n";
        assert_eq!(cores_in_cpuinfo(info), 3);
        assert_eq!(cores_in_cpuinfo("processor\t: 0\n"), 0);
    }
}
