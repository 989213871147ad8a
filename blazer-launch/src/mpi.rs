//! Which MPI a program links, or a launcher belongs to.

use std::fmt;
use std::path::Path;
use std::process::Command;

/// The MPI families blazer knows how to launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mpi {
    /// Open MPI (`libmpi.so.40`), launched with `mpirun`.
    OpenMpi,
    /// MPICH and its derivatives (Intel MPI, MVAPICH, Cray MPICH: `libmpich.so`,
    /// `libmpi.so.12`, `libmpi_cray.so`), launched with Hydra's `mpiexec`.
    Mpich,
}

impl fmt::Display for Mpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mpi::OpenMpi => "Open MPI",
            Mpi::Mpich => "MPICH",
        })
    }
}

/// The MPI that `ldd`'s output shows a program links, if any it knows: `libmpi.so.40` is Open
/// MPI; `libmpich.so`, `libmpi.so.12` (Intel MPI, MVAPICH) and `libmpi_cray.so` are MPICH's
/// family.
pub fn mpi_of_ldd(ldd: &str) -> Option<Mpi> {
    for line in ldd.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let name = name.rsplit('/').next().unwrap_or(name);
        if name.starts_with("libmpi.so.40") {
            return Some(Mpi::OpenMpi);
        }
        if name.starts_with("libmpich.so")
            || name.starts_with("libmpi.so.12")
            || name.starts_with("libmpi_cray.so")
        {
            return Some(Mpi::Mpich);
        }
    }
    None
}

/// The MPI a launcher belongs to, from what its `--version` printed: Open MPI's say
/// `Open MPI` (or `OpenRTE`); MPICH's Hydra says `HYDRA`, Intel MPI's `Intel(R) MPI`.
pub fn mpi_of_version(text: &str) -> Option<Mpi> {
    if text.contains("Open MPI") || text.contains("OpenRTE") {
        Some(Mpi::OpenMpi)
    } else if text.contains("HYDRA") || text.contains("Intel(R) MPI") || text.contains("MPICH") {
        Some(Mpi::Mpich)
    } else {
        None
    }
}

/// Runs `ldd` on `exe` and reads which MPI it links: `Ok(None)` when it links none blazer
/// knows (a static build, another MPI), `Err` when `ldd` cannot be run or fails.
pub fn linked_mpi(exe: &Path) -> Result<Option<Mpi>, String> {
    let out = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| format!("cannot run `ldd {}`: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`ldd {}` failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(mpi_of_ldd(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_MPI: &str = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibmpi.so.40 => /lib/x86_64-linux-gnu/libmpi.so.40 (0x00007f1)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n";
    const MPICH: &str = "\tlibmpich.so.12 => /lib/x86_64-linux-gnu/libmpich.so.12 (0x00007f)\n";

    #[test]
    fn ldd_names_the_mpi() {
        assert_eq!(mpi_of_ldd(OPEN_MPI), Some(Mpi::OpenMpi));
        assert_eq!(mpi_of_ldd(MPICH), Some(Mpi::Mpich));
        assert_eq!(
            mpi_of_ldd("\tlibmpi.so.12 => /opt/intel/mpi/lib/libmpi.so.12 (0x1)\n"),
            Some(Mpi::Mpich)
        );
        assert_eq!(
            mpi_of_ldd("\tlibmpi_cray.so.12 => /opt/cray/lib/libmpi_cray.so.12 (0x1)\n"),
            Some(Mpi::Mpich)
        );
        assert_eq!(
            mpi_of_ldd("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n"),
            None
        );
        // A library of another name that merely mentions libmpi in its path is not MPI.
        assert_eq!(
            mpi_of_ldd("\tlibfoo.so => /opt/libmpi.so.40/libfoo.so (0x1)\n"),
            None
        );
    }

    #[test]
    fn version_names_the_mpi() {
        assert_eq!(
            mpi_of_version(
                "mpirun (Open MPI) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/"
            ),
            Some(Mpi::OpenMpi)
        );
        assert_eq!(
            mpi_of_version("HYDRA build details:\n    Version: 4.0.2"),
            Some(Mpi::Mpich)
        );
        assert_eq!(mpi_of_version("slurm 22.05.8"), None);
    }
}
