//! The CUDA libraries cudarc loads at run time: probing the driver library, finding and
//! loading NVRTC outside the library search path, and their versions for error messages.

use crate::error::Error;
use crate::world;
use cudarc::driver::sys;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Is the CUDA driver library loadable? Checked once: cudarc panics on its first call
/// without it.
pub(super) fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen the driver library and closes it again.
    *PRESENT.get_or_init(|| unsafe { sys::is_culib_present() })
}

/// Is NVRTC loadable? Checked once, for the same reason. When cudarc's lookup by library
/// name fails, NVRTC is looked for in the usual places of a CUDA toolkit or a pip install
/// (see [`nvrtc_search_dirs`]) and loaded from there, so that cudarc's lookup then finds it.
pub(super) fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: as for the driver.
    *PRESENT.get_or_init(|| unsafe { cudarc::nvrtc::sys::is_culib_present() } || preload_nvrtc())
}

/// Where [`nvrtc_search_dirs`] looks, for error messages.
pub(super) const NVRTC_SEARCHED: &str = "$CUDA_HOME/lib64, /usr/local/cuda*/lib64 and \
    nvidia/{cu13,cuda_nvrtc}/lib of Python's site-packages";

/// Directories that may hold NVRTC outside the library search path, most likely first: the
/// toolkit named by `CUDA_HOME` (or `CUDA_PATH`, `CUDA_ROOT`), `/usr/local/cuda`, versioned
/// toolkits `/usr/local/cuda-X.Y` (newest first), and the pip packages `nvidia-cuda-nvrtc`
/// (`nvidia/cu13/lib` for CUDA 13, `nvidia/cuda_nvrtc/lib` for CUDA 12) in the usual Python
/// environments.
fn nvrtc_search_dirs() -> Vec<PathBuf> {
    let arch_dir = format!("targets/{}-linux/lib", std::env::consts::ARCH);
    let arch_dir = if cfg!(target_arch = "aarch64") {
        "targets/sbsa-linux/lib".to_string()
    } else {
        arch_dir
    };
    let toolkit = |root: &Path| [root.join("lib64"), root.join("lib"), root.join(&arch_dir)];
    let mut dirs = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"] {
        if let Some(root) = std::env::var_os(var) {
            dirs.extend(toolkit(Path::new(&root)));
        }
    }
    dirs.extend(toolkit(Path::new("/usr/local/cuda")));
    let mut versioned = children(Path::new("/usr/local"), "cuda-");
    versioned.sort_by(|a, b| b.cmp(a));
    for root in versioned {
        dirs.extend(toolkit(&root));
    }
    let mut prefixes: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(Path::new(&home).join(".local"));
    }
    prefixes.extend(["/usr/local", "/usr", "/opt/conda"].map(PathBuf::from));
    for prefix in &prefixes {
        // conda puts the toolkit's libraries straight into the environment's lib.
        dirs.push(prefix.join("lib"));
        for python in children(&prefix.join("lib"), "python3") {
            for packages in ["site-packages", "dist-packages"] {
                for lib in ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"] {
                    dirs.push(python.join(packages).join(lib));
                }
            }
        }
    }
    dirs
}

/// The entries of `dir` whose names start with `prefix` (none when it cannot be read).
fn children(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The NVRTC library files of `dir` that cudarc's lookup would accept by name
/// (`libnvrtc.so.13`, `libnvrtc.so.12`, ...), newest major version first.
fn nvrtc_files_in(dir: &Path) -> Vec<PathBuf> {
    let accepted = cudarc::get_lib_name_candidates("nvrtc");
    let mut found: Vec<(u32, PathBuf)> = children(dir, "libnvrtc.so.")
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            let major: u32 = name.strip_prefix("libnvrtc.so.")?.parse().ok()?;
            accepted.contains(&name).then_some((major, path))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// Loads NVRTC (and its builtins library, which NVRTC itself loads by name) from the first
/// [`nvrtc_search_dirs`] directory that has it, and keeps it loaded. The dynamic loader then
/// hands the loaded library to cudarc's lookup by its soname (`libnvrtc.so.13`, say).
fn preload_nvrtc() -> bool {
    for dir in nvrtc_search_dirs() {
        for nvrtc in nvrtc_files_in(&dir) {
            for builtins in children(&dir, "libnvrtc-builtins.so") {
                dlopen_forever(&builtins);
            }
            // SAFETY: as for the driver.
            if dlopen_forever(&nvrtc) && unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                return true;
            }
        }
    }
    false
}

/// `dlopen`s `path` and never closes it: whether it loaded.
fn dlopen_forever(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: loads a CUDA library, whose initialisers have no preconditions; the handle is
    // deliberately leaked so that it stays loaded for the process.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    !handle.is_null()
}

/// NVRTC's version `(major, minor)`, if NVRTC is loaded.
pub(super) fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_present() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints.
    let rc = catch_unwind(AssertUnwindSafe(|| unsafe {
        cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor)
    }));
    matches!(rc, Ok(cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS)).then_some((major, minor))
}

/// The newest CUDA version the driver supports, `(major, minor)`.
pub(super) fn driver_cuda_version() -> Option<(i32, i32)> {
    if !driver_present() {
        return None;
    }
    let mut version = 0;
    // SAFETY: writes one int.
    let rc = catch_unwind(AssertUnwindSafe(|| unsafe {
        sys::cuDriverGetVersion(&mut version)
    }));
    matches!(rc, Ok(sys::CUresult::CUDA_SUCCESS)).then_some((version / 1000, version % 1000 / 10))
}

/// A version as `major.minor`, or `?` when unknown.
pub(super) fn show_version(v: Option<(i32, i32)>) -> String {
    v.map_or_else(
        || "?".to_string(),
        |(major, minor)| format!("{major}.{minor}"),
    )
}

/// The error for a missing CUDA driver library, naming this host.
pub(super) fn no_driver() -> Error {
    Error::Gpu(format!(
        "no CUDA driver on {}: libcuda.so cannot be loaded; install the NVIDIA driver or add \
         its directory to LD_LIBRARY_PATH",
        world::host()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::test_support::TempDir;

    /// cudarc looks NVRTC up by name only: the names must cover CUDA 13 and CUDA 12.
    #[test]
    fn nvrtc_lookup_covers_cuda_12_and_13() {
        let names = cudarc::get_lib_name_candidates("nvrtc");
        for name in ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
        let drivers = cudarc::get_lib_name_candidates("cuda");
        assert!(drivers.iter().any(|n| n == "libcuda.so.1"), "{drivers:?}");
    }

    #[test]
    fn nvrtc_is_searched_in_toolkits_and_pip_packages() {
        let dirs = nvrtc_search_dirs();
        let has = |d: &str| dirs.iter().any(|p| p == Path::new(d));
        assert!(has("/usr/local/cuda/lib64"), "{dirs:?}");
        let dir = TempDir::new("nvrtc");
        for name in [
            "libnvrtc.so.12",
            "libnvrtc.so.13",
            "libnvrtc.so.13.0.48",
            "libnvrtc.so",
            "libnvrtc-builtins.so.13.0",
            "libnvrtc.so.x",
        ] {
            std::fs::write(dir.file(name), b"").unwrap();
        }
        assert_eq!(
            nvrtc_files_in(&dir.0),
            [dir.file("libnvrtc.so.13"), dir.file("libnvrtc.so.12")]
        );
        assert!(nvrtc_files_in(&dir.file("missing")).is_empty());
    }
}
